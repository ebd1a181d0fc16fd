"""POST /generate and /edit: a request in, a validated flow (or a question, or a refusal)
out, as one JSON answer or as a stream of events."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from assistant.server import work
from assistant.server.auth import AssistantUser
from assistant.server.deps import ServiceDep
from assistant.server.schemas import EditCreate, GenerateCreate, OutcomePublic

router = APIRouter(tags=["assistant"])

STREAM_DOC: dict[int | str, dict[str, Any]] = {
    200: {"description": "The outcome; with `stream: true`, Server-Sent Events "
          "(queued, started, step, token, result or error, done).",
          "content": {"text/event-stream": {}}},
    429: {"description": "Too many requests are waiting for the model."}}

@router.post("/generate", response_model=OutcomePublic, responses=STREAM_DOC)
async def generate(body: GenerateCreate, request: Request, service: ServiceDep,
                   _caller: AssistantUser) -> Any:
    """Turn a plain-language request into a validated Node-RED flow."""

    def job(ticket: Any, emit: Any) -> dict[str, Any]:
        return work.run_turn(body.request, None, service.model(), ticket, emit)

    if body.stream:
        return service.stream(request, job)
    return JSONResponse(await service.run(job))

@router.post("/edit", response_model=OutcomePublic, responses=STREAM_DOC)
async def edit(body: EditCreate, request: Request, service: ServiceDep,
               _caller: AssistantUser) -> Any:
    """Change a flow as the request says; untouched nodes keep their ids and positions."""

    def job(ticket: Any, emit: Any) -> dict[str, Any]:
        return work.run_turn(body.request, body.flow, service.model(), ticket, emit)

    if body.stream:
        return service.stream(request, job)
    return JSONResponse(await service.run(job))
