"""The audit trail: every change, who made it (a user, a device, the system or the
assistant), from where, and when, in an append-only log whose rows are chained by sha256.

Row N's hash covers its own fields and row N-1's hash, so editing a row breaks its hash and
deleting one leaves a gap in `seq` or a broken link: `verify` finds both. Appends are
serialised (an advisory lock on PostgreSQL; SQLite has one writer at a time) so two
writers never chain to the same row.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from runtime.fleet.db import utcnow
from runtime.fleet.models.audit import ActorKind, AuditEvent

GENESIS = "0" * 64
_LOCK_KEY = 0x706C756D62  # "plumb": the advisory lock the appends take on PostgreSQL


@dataclass(frozen=True)
class Actor:
    """Who did something, and from where."""

    kind: ActorKind
    name: str
    source: str = ""


SYSTEM = Actor(ActorKind.system, "controller")


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str)


def row_hash(seq: int, at: dt.datetime, actor_kind: str, actor: str, source: str,
             action: str, target_kind: str, target_id: str, details: dict[str, Any],
             prev_hash: str) -> str:
    body = _canonical({"seq": seq, "at": at.astimezone(dt.UTC).isoformat(),
                       "actor_kind": str(actor_kind), "actor": actor, "source": source,
                       "action": action, "target_kind": target_kind, "target_id": target_id,
                       "details": details, "prev": prev_hash})
    return hashlib.sha256(body.encode()).hexdigest()


def record(session: Session, actor: Actor, action: str, target_kind: str = "",
           target_id: str | int = "", details: dict[str, Any] | None = None,
           at: dt.datetime | None = None) -> AuditEvent:
    """Append one event in `session`'s transaction (it lands only if the change does)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    last = session.execute(select(AuditEvent.seq, AuditEvent.hash)
                           .order_by(AuditEvent.seq.desc()).limit(1)).first()
    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
    # Round-trip the details through JSON now, so the hash covers exactly what is stored.
    clean = json.loads(_canonical(details or {}))
    moment = at or utcnow()
    event = AuditEvent(seq=seq, at=moment, actor_kind=actor.kind, actor=actor.name,
                       source=actor.source, action=action, target_kind=target_kind,
                       target_id=str(target_id), details=clean, prev_hash=prev)
    event.hash = row_hash(seq, moment, actor.kind, actor.name, actor.source, action,
                          target_kind, str(target_id), clean, prev)
    session.add(event)
    session.flush()
    return event


# -- verifying ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    """Where the chain breaks: the row, and what is wrong with it."""

    seq: int
    problem: str


def verify(session: Session, batch: int = 5000) -> tuple[int, list[Problem]]:
    """Walk the whole chain in order: every row must hash to its stored hash, point at the
    row before it, and follow it without a gap. Returns (rows checked, problems)."""
    problems: list[Problem] = []
    expected_seq, prev = 1, GENESIS
    checked = 0
    after = 0
    while True:
        rows = session.scalars(select(AuditEvent).where(AuditEvent.seq > after)
                               .order_by(AuditEvent.seq).limit(batch)).all()
        if not rows:
            break
        for row in rows:
            checked += 1
            if row.seq != expected_seq:
                problems.append(Problem(row.seq, f"rows {expected_seq}..{row.seq - 1} are "
                                        "missing (deleted)"))
            if row.prev_hash != prev:
                problems.append(Problem(row.seq, "does not link to the row before it"))
            actual = row_hash(row.seq, row.at, row.actor_kind, row.actor, row.source,
                              row.action, row.target_kind, row.target_id, row.details,
                              row.prev_hash)
            if actual != row.hash:
                problems.append(Problem(row.seq, "its content was changed after it was "
                                        "written (hash mismatch)"))
            expected_seq, prev = row.seq + 1, row.hash
        after = rows[-1].seq
        session.expunge_all()  # a long log must not pile up in the session
    return checked, problems


def head(session: Session) -> tuple[int, str] | None:
    """The newest row's (seq, hash): record it somewhere else to detect a cut-off tail."""
    row = session.execute(select(AuditEvent.seq, AuditEvent.hash)
                          .order_by(AuditEvent.seq.desc()).limit(1)).first()
    return (int(row[0]), str(row[1])) if row else None
