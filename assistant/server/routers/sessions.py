"""/sessions: chat conversations kept on the server. The first message builds a flow, each
later one edits the session's current flow."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import JSONResponse, Response

from assistant.server import work
from assistant.server.auth import AssistantUser
from assistant.server.deps import ServiceDep, StoreDep
from assistant.server.schemas import (
    MessageCreate,
    SessionCreate,
    SessionPublic,
    SessionSummary,
    SessionUpdate,
    TurnPublic,
)
from assistant.server.store import SessionNotFound, SessionStore
from runtime.fleet.errors import FleetError

router = APIRouter(prefix="/sessions", tags=["sessions"])


def _get(store: SessionStore, owner: str, session_id: str) -> Any:
    try:
        return store.get(owner, session_id)
    except SessionNotFound:
        raise FleetError(404, "not_found", f"no chat session {session_id!r}") from None


@router.post("", response_model=SessionPublic, status_code=status.HTTP_201_CREATED)
def create_session(body: SessionCreate, store: StoreDep, caller: AssistantUser
                   ) -> JSONResponse:
    """Start a conversation, empty or from a flow."""
    session = store.create(caller.name, body.title, body.flow)
    return JSONResponse(session.to_dict(), status_code=201)


@router.get("", response_model=list[SessionSummary])
def list_sessions(
    store: StoreDep, caller: AssistantUser,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    # Bounded by what SQLite can take (a larger one was a 500: OverflowError).
    offset: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
) -> JSONResponse:
    """Your conversations, the most recent first."""
    return JSONResponse([s.summary() for s in store.recent(caller.name, limit, offset)])


@router.get("/{session_id}", response_model=SessionPublic)
def get_session(session_id: str, store: StoreDep, caller: AssistantUser) -> JSONResponse:
    """One conversation with its messages and current flow."""
    return JSONResponse(_get(store, caller.name, session_id).to_dict())


@router.patch("/{session_id}", response_model=SessionPublic)
def update_session(session_id: str, body: SessionUpdate, store: StoreDep,
                   caller: AssistantUser) -> JSONResponse:
    """Replace the current flow (e.g. after editing it by hand)."""
    try:
        store.set_flow(caller.name, session_id, body.flow)
    except SessionNotFound:
        raise FleetError(404, "not_found", f"no chat session {session_id!r}") from None
    return JSONResponse(_get(store, caller.name, session_id).to_dict())


@router.delete("/{session_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_session(session_id: str, store: StoreDep, caller: AssistantUser) -> Response:
    """Forget a conversation."""
    try:
        store.delete(caller.name, session_id)
    except SessionNotFound:
        raise FleetError(404, "not_found", f"no chat session {session_id!r}") from None
    return Response(status_code=204)


@router.post("/{session_id}/messages", response_model=TurnPublic,
             responses={200: {"content": {"text/event-stream": {}},
                              "description": "The turn; with `stream: true`, Server-Sent "
                              "Events whose result carries the stored messages."},
                        429: {"description": "Too many requests are waiting."}})
async def send_message(session_id: str, body: MessageCreate, request: Request,
                       service: ServiceDep, store: StoreDep, caller: AssistantUser) -> Any:
    """Continue a conversation: builds a flow, or edits the current one."""
    owner = caller.name
    session = _get(store, owner, session_id)
    # Refuse before storing anything when the line is full.
    service.queue.check_room()
    question = store.add_message(owner, session_id, "user", body.content)
    base = session.flow

    def job(ticket: Any, emit: Any) -> dict[str, Any]:
        outcome = work.run_turn(body.content, base, service.model(), ticket, emit)
        answer = store.add_message(owner, session_id, "assistant", outcome["message"],
                                   outcome)
        return {"session_id": session_id, "user_message": question.to_dict(),
                "assistant_message": answer.to_dict()}

    if body.stream:
        return service.stream(request, job)
    return JSONResponse(await service.run(job))
