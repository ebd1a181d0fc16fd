"""Questions an auditor asks of the log: what ran where and when, and the log itself as
JSON Lines or CSV. Answers come from the hash-chained rows only (the `device.snapshot_changed`
events devices cause when they report a new running snapshot), so they are as trustworthy
as `audit.verify` says the chain is."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from runtime.fleet.models import AuditEvent

SNAPSHOT_CHANGED = "device.snapshot_changed"


def snapshot_at(session: Session, device_id: str, moment: dt.datetime) -> str | None:
    """The snapshot device `device_id` ran at `moment` (None: nothing, or not known)."""
    row = session.scalars(
        select(AuditEvent).where(AuditEvent.action == SNAPSHOT_CHANGED,
                                 AuditEvent.target_id == device_id, AuditEvent.at <= moment)
        .order_by(AuditEvent.seq.desc()).limit(1)).first()
    if row is None:
        return None
    to = row.details.get("to")
    return str(to) if to else None


@dataclass(frozen=True)
class Run:
    """A device running one snapshot from `since` until `until` (None: still running)."""

    device_id: str
    since: dt.datetime
    until: dt.datetime | None


def devices_running(session: Session, snapshot_id: str, start: dt.datetime,
                    end: dt.datetime) -> list[Run]:
    """Every device that ran `snapshot_id` at some moment in [start, end], with the
    stretch it ran it for."""
    if end < start:
        raise ValueError("the end of the period is before its start")
    runs: list[Run] = []
    open_runs: dict[str, dt.datetime] = {}
    # Every change is read, those after `end` too: they close the runs open at `end`.
    rows = session.execute(
        select(AuditEvent.target_id, AuditEvent.at, AuditEvent.details)
        .where(AuditEvent.action == SNAPSHOT_CHANGED).order_by(AuditEvent.seq)).all()
    for device_id, moment, details in rows:
        since = open_runs.pop(device_id, None)
        if since is not None and since <= end and moment >= start:
            runs.append(Run(device_id, since, moment))
        if details.get("to") == snapshot_id:
            open_runs[device_id] = moment
    runs += [Run(device_id, since, None) for device_id, since in open_runs.items()
             if since <= end]
    return sorted(runs, key=lambda r: (r.device_id, r.since))


@dataclass(frozen=True)
class Filters:
    actor: str | None = None
    actor_kind: str | None = None
    action: str | None = None  # exact, or a prefix ending in "." ("rollout.")
    target_kind: str | None = None
    target_id: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None

    def apply(self, query: Select[AuditEvent]) -> Select[AuditEvent]:
        if self.actor:
            query = query.where(AuditEvent.actor == self.actor)
        if self.actor_kind:
            query = query.where(AuditEvent.actor_kind == self.actor_kind)
        if self.action:
            query = query.where(AuditEvent.action.startswith(self.action)
                                if self.action.endswith(".")
                                else AuditEvent.action == self.action)
        if self.target_kind:
            query = query.where(AuditEvent.target_kind == self.target_kind)
        if self.target_id:
            query = query.where(AuditEvent.target_id == self.target_id)
        if self.since:
            query = query.where(AuditEvent.at >= self.since)
        if self.until:
            query = query.where(AuditEvent.at <= self.until)
        return query


def as_dict(row: AuditEvent) -> dict[str, Any]:
    return {"seq": row.seq, "at": row.at.isoformat(), "actor_kind": str(row.actor_kind),
            "actor": row.actor, "source": row.source, "action": row.action,
            "target_kind": row.target_kind, "target_id": row.target_id,
            "details": row.details, "prev_hash": row.prev_hash, "hash": row.hash}


def events(session: Session, filters: Filters, after: int = 0,
           limit: int | None = None, before: int | None = None) -> list[AuditEvent]:
    """Events after `after`, oldest first; with `before`, events before it, newest first
    (how a log viewer pages back from the present)."""
    if before is not None:
        query = filters.apply(select(AuditEvent).where(AuditEvent.seq < before)
                              .order_by(AuditEvent.seq.desc()))
    else:
        query = filters.apply(select(AuditEvent).where(AuditEvent.seq > after)
                              .order_by(AuditEvent.seq))
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query).all())


def _batches(session: Session, filters: Filters, batch: int = 2000) -> Iterator[AuditEvent]:
    after = 0
    while True:
        rows = events(session, filters, after, batch)
        if not rows:
            return
        yield from rows
        after = rows[-1].seq
        session.expunge_all()


CSV_COLUMNS = ["seq", "at", "actor_kind", "actor", "source", "action", "target_kind",
               "target_id", "details", "prev_hash", "hash"]


def export_lines(session: Session, filters: Filters, fmt: str) -> Iterator[str]:
    """The matching rows as JSON Lines ("jsonl") or CSV ("csv", with a header; details
    as a JSON text), produced in batches so a large log streams."""
    if fmt not in ("jsonl", "csv"):
        raise ValueError(f"unknown export format {fmt!r} (jsonl or csv)")
    if fmt == "csv":
        yield _csv_line(CSV_COLUMNS)
    for row in _batches(session, filters):
        item = as_dict(row)
        if fmt == "jsonl":
            yield json.dumps(item, ensure_ascii=False, sort_keys=True) + "\n"
        else:
            item["details"] = json.dumps(item["details"], ensure_ascii=False, sort_keys=True)
            yield _csv_line([item[c] for c in CSV_COLUMNS])


def _csv_line(values: list[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(values)
    return buffer.getvalue()


def head_matches(result: dict[str, Any], seq: int, digest: str) -> str | None:
    """Compare a verify result with a head recorded earlier: None when the log still
    holds that row unchanged, else what is wrong."""
    head_seq = result.get("head_seq") or 0
    if seq < 1 or len(digest) != 64:
        return "the expected head is not SEQ:HASH (a row number and a 64-digit sha256)"
    if head_seq < seq:
        return f"the log ends at row {head_seq}, before the expected head {seq}: rows were " \
               "cut off"
    if head_seq == seq and result.get("head_hash") != digest:
        return f"row {seq} is not the row recorded earlier"
    return None
