"""Snapshots: create (members), list, read, export the flows, and compare (viewers).

Snapshots are immutable: there is no PUT, PATCH or DELETE; those methods answer 405. No
response here carries a credential value: users see node ids and field names. Devices
fetch bundles, credentials included, through the agent router
(`runtime.fleet.snapshots.bundle_for_device`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.types import Message

from runtime.fleet import snapshots
from runtime.fleet.auth import Caller, Permission, SessionDep, require
from runtime.fleet.errors import FleetError, envelope
from runtime.fleet.models import Snapshot, User

# Real flows are kilobytes to a few megabytes; the cap keeps one request from holding
# the server's memory (bodies are read whole before they are parsed).
MAX_BODY_BYTES = 10 * 1024 * 1024


def _too_large() -> FleetError:
    return FleetError(413, "too_large",
                      f"a request body is at most {MAX_BODY_BYTES // (1024 * 1024)} MiB",
                      limit_bytes=MAX_BODY_BYTES)


async def _capped(request: Request) -> Request:
    """The request with its body read, refused with 413 past MAX_BODY_BYTES: at once when
    Content-Length says so, else as soon as the streamed (chunked) body passes it."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _too_large()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _too_large()
        chunks.append(chunk)
    body = b"".join(chunks)
    replayed = False
    upstream = request.receive

    async def replay() -> Message:
        # FastAPI reads the body again from `receive`: hand it what was read, once.
        nonlocal replayed
        if replayed:
            return await upstream()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(request.scope, replay)


class _CappedBodyRoute(APIRoute):
    """A route whose body is capped before FastAPI reads and parses it. (Newer FastAPI
    has `max_body_size`; this works with every version the project allows.)"""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def capped(request: Request) -> Response:
            return await handler(await _capped(request))

        return capped


router = APIRouter(prefix="/snapshots", tags=["snapshots"], route_class=_CappedBodyRoute)

Reader = Annotated[Caller, require(Permission.read)]
Creator = Annotated[Caller, require(Permission.create_snapshot)]


# -- schemas -------------------------------------------------------------------------------

class SnapshotCreate(BaseModel):
    # Stripped before the length checks, so a name of spaces is no name.
    model_config = ConfigDict(str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=10_000)
    flows: list[dict[str, Any]] = Field(description="The Node-RED flows (an export).")
    credentials: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Per node id, its credential fields in clear (as in flows_cred.json). "
                    "Stored encrypted; never shown again, only sent to devices.")
    settings: dict[str, Any] = Field(default_factory=dict)
    env: dict[str, str] = Field(default_factory=dict)
    modules: dict[str, str] = Field(default_factory=dict,
                                    description="Node modules to install: name -> version.")
    parent: str | None = Field(default=None, description="The snapshot this one follows.")

    @field_validator("name", "description")
    @classmethod
    def _printable(cls, value: str) -> str:
        # PostgreSQL text cannot hold NUL; refuse it here rather than as a database error.
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value


class SnapshotSummary(BaseModel):
    id: str
    name: str
    description: str
    parent: str | None
    created_by: str | None  # the user's name
    created_at: dt.datetime
    nodes: int


class SnapshotPublic(SnapshotSummary):
    flows: list[dict[str, Any]]
    credentials: dict[str, list[str]] = Field(
        description="Node ids with credentials and their field names (never values).")
    settings: dict[str, Any]
    env: dict[str, str]
    modules: dict[str, str]
    signature: str


class SnapshotsPublic(BaseModel):
    data: list[SnapshotSummary]
    count: int


ChangeKind = Literal["added", "removed", "changed"]


class PropertyChange(BaseModel):
    property: str  # e.g. rules[0].v
    path: list[str | int]
    kind: ChangeKind
    old: Any
    new: Any


class NodeRef(BaseModel):
    id: str
    type: Any
    name: str
    z: Any


class NodeChange(NodeRef):
    changes: list[PropertyChange]


class NodeChanges(BaseModel):
    added: list[NodeRef]
    removed: list[NodeRef]
    changed: list[NodeChange]
    reordered: bool


class CredentialChange(BaseModel):
    node: str
    field: str
    kind: ChangeKind


class SnapshotDiff(BaseModel):
    from_id: str
    to_id: str
    identical: bool
    nodes: NodeChanges
    settings: list[PropertyChange]
    env: list[PropertyChange]
    modules: list[PropertyChange]
    credentials: list[CredentialChange] = Field(
        description="Credential fields added, removed or changed (names only).")


def _summary_fields(snapshot: Snapshot, author: str | None) -> dict[str, Any]:
    return {"id": snapshot.id, "name": snapshot.name, "description": snapshot.description,
            "parent": snapshot.parent_id, "created_by": author,
            "created_at": snapshot.created_at, "nodes": len(snapshot.flows)}


def _public(session: Session, snapshot: Snapshot) -> SnapshotPublic:
    author = session.get(User, snapshot.created_by) if snapshot.created_by else None
    return SnapshotPublic(**_summary_fields(snapshot, author.name if author else None),
                          flows=snapshot.flows, credentials=snapshot.credential_fields,
                          settings=snapshot.settings, env=snapshot.env,
                          modules=snapshot.modules, signature=snapshot.signature)


# -- endpoints -----------------------------------------------------------------------------

@router.post("", response_model=SnapshotPublic, status_code=201,
             responses={200: {"model": SnapshotPublic,
                              "description": "The same content exists: that snapshot."},
                        413: {"description": "The body is over 10 MiB."},
                        422: {"description": "Invalid body, or flows with validator "
                                             "errors (`invalid_flow`, with `findings`)."}})
def create_snapshot(body: SnapshotCreate, caller: Creator, session: SessionDep,
                    request: Request, response: Response) -> SnapshotPublic:
    snapshot, created = snapshots.create_snapshot(
        session, request.app.state.keys, caller.actor, name=body.name,
        description=body.description, flows=body.flows, credentials=body.credentials,
        settings=body.settings, env=body.env, modules=body.modules, parent_id=body.parent,
        created_by=caller.user.id)
    session.commit()
    if not created:
        response.status_code = 200
    return _public(session, snapshot)


@router.get("", response_model=SnapshotsPublic)
def list_snapshots(_caller: Reader, session: SessionDep,
                   limit: Annotated[int, Query(ge=1, le=500)] = 50,
                   offset: Annotated[int, Query(ge=0)] = 0) -> SnapshotsPublic:
    page, count = snapshots.list_snapshots(session, limit, offset)
    ids = {s.created_by for s in page if s.created_by is not None}
    names = {user_id: name for user_id, name in session.execute(
        select(User.id, User.name).where(User.id.in_(ids)))} if ids else {}
    return SnapshotsPublic(
        data=[SnapshotSummary(**_summary_fields(s, names.get(s.created_by or 0)))
              for s in page], count=count)


@router.get("/{snapshot_id}", response_model=SnapshotPublic)
def read_snapshot(snapshot_id: str, _caller: Reader, session: SessionDep) -> SnapshotPublic:
    return _public(session, snapshots.get_snapshot(session, snapshot_id))


@router.get("/{snapshot_id}/flows", response_class=JSONResponse,
            responses={200: {"description": "The flows, as Node-RED's import takes them."}})
def read_flows(snapshot_id: str, _caller: Reader, session: SessionDep) -> JSONResponse:
    return JSONResponse(snapshots.get_snapshot(session, snapshot_id).flows)


@router.get("/{from_id}/diff/{to_id}", response_model=SnapshotDiff)
def diff_snapshots(from_id: str, to_id: str, _caller: Reader, session: SessionDep,
                   request: Request) -> SnapshotDiff:
    return SnapshotDiff.model_validate(
        snapshots.diff(session, request.app.state.keys, from_id, to_id))


@router.api_route("/{snapshot_id}", methods=["PUT", "PATCH", "DELETE"],
                  include_in_schema=False)
def immutable(snapshot_id: str) -> JSONResponse:
    # Without this, the 405 would say only "Method Not Allowed": say why, and what to do.
    refused = envelope(405, "method_not_allowed", "snapshots are immutable: create a new "
                       "snapshot (with this one as its parent) instead", snapshot=snapshot_id)
    refused.headers["Allow"] = "GET"
    return refused
