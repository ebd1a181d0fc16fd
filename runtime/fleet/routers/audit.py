"""The audit log: list with filters, verify the chain, export, and the two questions
auditors ask (what ran on a device at a moment; which devices ran a snapshot)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from runtime.fleet import audit, audit_queries
from runtime.fleet.audit_queries import Filters
from runtime.fleet.auth import Caller, Permission, SessionDep, require
from runtime.fleet.errors import FleetError

router = APIRouter(prefix="/audit", tags=["audit"])

Reader = Annotated[Caller, require(Permission.read)]
Exporter = Annotated[Caller, require(Permission.export_audit)]


class AuditEventPublic(BaseModel):
    seq: int
    at: dt.datetime
    actor_kind: str
    actor: str
    source: str
    action: str
    target_kind: str
    target_id: str
    details: dict[str, Any]
    prev_hash: str
    hash: str


class AuditPage(BaseModel):
    events: list[AuditEventPublic]
    next_after: int | None  # pass as `after` for the next page; None: no more
    next_before: int | None = None  # with `before`: pass as `before` for older events


class VerifyResult(BaseModel):
    ok: bool
    rows: int
    head_seq: int | None
    head_hash: str | None
    problems: list[dict[str, Any]]


class SnapshotAt(BaseModel):
    device_id: str
    at: dt.datetime
    snapshot_id: str | None


class RunPublic(BaseModel):
    device_id: str
    since: dt.datetime
    until: dt.datetime | None


def _aware(moment: dt.datetime | None, name: str) -> dt.datetime | None:
    if moment is not None and moment.tzinfo is None:
        raise FleetError(422, "invalid_request", f"{name} needs a time zone (e.g. ...Z)")
    return moment


class FilterParams(BaseModel):
    actor: str | None = None
    actor_kind: Literal["user", "device", "system", "assistant"] | None = None
    action: str | None = None
    target_kind: str | None = None
    target_id: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None

    def filters(self) -> Filters:
        return Filters(actor=self.actor, actor_kind=self.actor_kind, action=self.action,
                       target_kind=self.target_kind, target_id=self.target_id,
                       since=_aware(self.since, "since"), until=_aware(self.until, "until"))


@router.get("", response_model=AuditPage)
def list_events(_caller: Reader, session: SessionDep,
                params: Annotated[FilterParams, Query()],
                after: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
                before: Annotated[int | None, Query(
                    ge=1, le=2**63 - 1,
                    description="Newest first: events before this sequence number "
                    "(a large number starts at the newest).")] = None,
                limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> AuditPage:
    """Events in the order they were written, filtered (`action` may be a prefix ending in
    a dot, e.g. `rollout.`); with `before`, newest first."""
    rows = audit_queries.events(session, params.filters(), after, limit + 1, before)
    more = len(rows) > limit
    rows = rows[:limit]
    events = [AuditEventPublic(**audit_queries.as_dict(r)) for r in rows]
    if before is not None:
        return AuditPage(events=events, next_after=None,
                         next_before=rows[-1].seq if more and rows else None)
    return AuditPage(events=events, next_after=rows[-1].seq if more and rows else None)


@router.get("/verify", response_model=VerifyResult)
def verify_chain(_caller: Exporter, session: SessionDep) -> VerifyResult:
    """Check every row's hash and link. Deleting the newest rows leaves a shorter chain
    that still verifies: compare `head_seq`/`head_hash` with a head recorded earlier."""
    rows, problems = audit.verify(session)
    head = audit.head(session)
    return VerifyResult(ok=not problems, rows=rows, head_seq=head[0] if head else None,
                        head_hash=head[1] if head else None,
                        problems=[{"seq": p.seq, "problem": p.problem} for p in problems])


@router.get("/export")
def export(_caller: Exporter, session: SessionDep, request: Request,
           params: Annotated[FilterParams, Query()],
           format: Annotated[Literal["jsonl", "csv"], Query()] = "jsonl") -> StreamingResponse:
    """The matching events as JSON Lines or CSV, streamed."""
    filters = params.filters()
    factory = request.app.state.sessions
    session.commit()  # end this request's transaction: on SQLite it holds the write lock

    def lines() -> Iterator[str]:
        # Its own session: the stream outlives the request's dependencies.
        with factory() as session:
            yield from audit_queries.export_lines(session, filters, format)

    media = "application/x-ndjson" if format == "jsonl" else "text/csv"
    return StreamingResponse(lines(), media_type=media, headers={
        "Content-Disposition": f'attachment; filename="plumb-audit.{format}"'})


@router.get("/devices/{device_id}/snapshot-at", response_model=SnapshotAt)
def device_snapshot_at(_caller: Reader, session: SessionDep, device_id: str,
                       at: Annotated[dt.datetime, Query()]) -> SnapshotAt:
    """Which snapshot the device ran at `at`."""
    moment = _aware(at, "at")
    assert moment is not None
    return SnapshotAt(device_id=device_id, at=moment,
                      snapshot_id=audit_queries.snapshot_at(session, device_id, moment))


@router.get("/snapshots/{snapshot_id}/devices", response_model=list[RunPublic])
def snapshot_devices(_caller: Reader, session: SessionDep, snapshot_id: str,
                     start: Annotated[dt.datetime, Query()],
                     end: Annotated[dt.datetime, Query()]) -> list[RunPublic]:
    """Devices that ran the snapshot at some moment between `start` and `end`."""
    first, last = _aware(start, "start"), _aware(end, "end")
    assert first is not None and last is not None
    if last < first:
        raise FleetError(422, "invalid_request", "end is before start")
    runs = audit_queries.devices_running(session, snapshot_id, first, last)
    return [RunPublic(device_id=r.device_id, since=r.since, until=r.until) for r in runs]
