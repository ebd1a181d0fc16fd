"""/v1: an OpenAI-compatible face on the assistant, for chat clients and SDKs that speak the
Chat Completions API (Open WebUI, LibreChat, editors, the `openai` Python package, ...).

- GET /v1/models lists the serving model and the alias "plumb"; any model name is accepted
  in a request (Plumb answers with the one model it serves).
- POST /v1/chat/completions: the last user message is the request. A flow in a ```json
  fenced block in that message, beside an instruction, is edited as it says; a flow alone
  is explained. Otherwise the latest earlier message holding a flow in a ```json block (an
  earlier answer, or a flow the user pasted) is the flow to change, so a chat continues
  from its last flow; with none, a new flow is built. System messages are ignored: Plumb
  takes no instructions beyond the request. Sampling settings (temperature,
  max_tokens, ...) are accepted and ignored: the pipeline's own settings hold.
- The answer's content is the explanation, the changes and notes as lists, validator
  findings if any, and the flow as a ```json block (the next turn edits it); for a question
  the question and its choices; for a refusal the reason.
- Streaming: the first chunk carries the role; while the job waits and runs, its progress
  (queue position and pipeline steps such as "planning") streams as `reasoning_content`
  deltas, which clients that know the field show as the model's thinking and others
  ignore. The model's own tokens are code for function nodes, not the answer, and are not
  streamed. After the result, the answer streams as `content` in pieces (the same text as
  without streaming), then a chunk with finish_reason "stop", then `data: [DONE]`. A client
  that disconnects stops the job, as on the REST API.
- Model jobs share the REST API's queue: beyond its limit a request gets 429.
- Errors use OpenAI's shape `{"error": {"message", "type", "param", "code"}}`.
- Auth: as the REST API, except that in local mode an API key that is not a Plumb user
  token is ignored (chat clients always send some key); in token mode the key must be a
  fleet user's token.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import anyio.to_thread
from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from assistant.models.base import ModelError
from assistant.server import work
from assistant.server.auth import AssistantCaller, client_caller
from assistant.server.deps import ServiceDep
from assistant.server.events import (
    DONE,
    ERROR,
    QUEUED,
    RESULT,
    STARTED,
    STEP,
    Event,
    sse_response,
)
from assistant.server.queue import QueueFull
from assistant.server.service import MODEL_UNAVAILABLE, AssistantService
from runtime.fleet.errors import FleetError

log = logging.getLogger("plumb.server")

ALIAS = "plumb"
MAX_FLOW_NODES = 20000
ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
# A fenced block whose fences start lines: a ``` inside a JSON string (a node's markdown
# `info`, say) never starts a line, since JSON escapes the newlines in strings.
_FENCE = re.compile(r"^[ \t]{0,3}```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)\n[ \t]{0,3}```[ \t]*$",
                    re.DOTALL | re.MULTILINE)

# --- errors -------------------------------------------------------------------------------

_TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 403: "permission_error",
          404: "invalid_request_error", 405: "invalid_request_error",
          413: "invalid_request_error", 422: "invalid_request_error",
          429: "rate_limit_error", 503: "server_error"}


class OpenAIError(Exception):
    """A refusal on /v1, answered in OpenAI's error shape."""

    def __init__(self, status: int, message: str, code: str | None = None,
                 param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param


def error_body(status: int, message: str, code: str | None = None,
               param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": _TYPES.get(status, "server_error"),
                      "param": param, "code": code}}


def error_response(status: int, message: str, code: str | None = None,
                   param: str | None = None) -> JSONResponse:
    headers = {}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if status == 429:
        headers["Retry-After"] = "5"
    return JSONResponse(error_body(status, message, code, param), status_code=status,
                        headers=headers)


class OpenAIRoute(APIRoute):
    """Every failure of a /v1 route (a bad body, auth, a full queue, a bug) in OpenAI's
    error shape: clients of this API parse that, not the fleet's envelope."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except OpenAIError as exc:
                return error_response(exc.status, exc.message, exc.code, exc.param)
            except FleetError as exc:
                code = "invalid_api_key" if exc.status == 401 else exc.code
                return error_response(exc.status, exc.message, code)
            except RequestValidationError as exc:
                return _invalid(exc)
            except QueueFull as exc:
                return error_response(429, str(exc), "rate_limit_exceeded")
            except HTTPException as exc:
                return error_response(exc.status_code, str(exc.detail))
            except ModelError as exc:
                return error_response(503, f"the model is unavailable: {exc}",
                                      "model_unavailable")
            except Exception as exc:
                from assistant.server.app import BodyTooLarge

                if isinstance(exc, BodyTooLarge):  # the middleware answers 413
                    raise
                log.exception("unhandled error on %s", request.url.path)
                return error_response(500, f"{type(exc).__name__}: {exc}", "internal_error")

        return route


def _invalid(exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    if not errors:
        return error_response(400, "invalid request body", "invalid_request")
    first = errors[0]
    where = [str(p) for p in first.get("loc", ()) if p != "body"]
    param = ".".join(where) or None
    message = str(first.get("msg", "invalid value"))
    if param:
        message = f"{param}: {message}"
    return error_response(400, message, "invalid_request", param)


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorBody(BaseModel):
    """OpenAI's error shape, used by every /v1 route."""

    error: ErrorDetail


_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text} for status, text in (
        (400, "A bad body: no user message, an unknown role, non-text content."),
        (401, "Token mode: no valid user token."),
        (403, "The token's role may not use the assistant."),
        (404, "No such model or route."),
        (413, "The body is too large."),
        (429, "Too many requests are waiting for the model."),
        (500, "A bug; the message says what failed."),
        (503, "The model could not be loaded."))}

router = APIRouter(tags=["openai"], route_class=OpenAIRoute, responses=_ERRORS)

# --- who is calling -----------------------------------------------------------------------


OpenAIUser = Annotated[AssistantCaller, Depends(client_caller)]

# --- bodies -------------------------------------------------------------------------------


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str
    content: str | list[ContentPart] | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ChatCompletionCreate(BaseModel):
    """OpenAI's request body. Unknown fields are allowed and ignored; so are sampling
    settings, which mean nothing to Plumb's pipeline."""

    model_config = ConfigDict(extra="allow")

    model: str | None = Field(default=None, description="Any name: Plumb answers with the "
                              "model it serves (see GET /v1/models).")
    messages: list[ChatMessage] = Field(min_length=1, max_length=1000)
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    n: int | None = Field(default=None, ge=1, le=1, description="Only 1 is supported.")
    temperature: float | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    top_p: float | None = None
    user: str | None = None


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class AssistantMessage(BaseModel):
    role: Literal["assistant"]
    content: str


class Choice(BaseModel):
    index: int
    message: AssistantMessage
    finish_reason: str


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage


# --- models -------------------------------------------------------------------------------


def _cards(service: AssistantService) -> list[dict[str, Any]]:
    created = int(service.started_at)
    names = [service.serving_name()]
    if ALIAS not in names:
        names.append(ALIAS)
    return [{"id": n, "object": "model", "created": created, "owned_by": "plumb"}
            for n in names]


@router.get("/models", response_model=ModelList)
def list_models(service: ServiceDep, _caller: OpenAIUser) -> JSONResponse:
    """The model this server answers with, and the alias "plumb" for it."""
    return JSONResponse({"object": "list", "data": _cards(service)})


@router.get("/models/{model_id}", response_model=ModelCard)
def get_model(model_id: str, service: ServiceDep, _caller: OpenAIUser) -> JSONResponse:
    """One model of the list."""
    for card in _cards(service):
        if card["id"] == model_id:
            return JSONResponse(card)
    raise OpenAIError(404, f"the model {model_id!r} does not exist", "model_not_found",
                      "model")


# --- reading the conversation -------------------------------------------------------------


def message_text(message: ChatMessage, index: int, strict: bool) -> str:
    """The text of a message. Only text parts are understood: others are refused in the
    request itself (`strict`) and skipped in the history."""
    content = message.content
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    pieces = []
    for part in content:
        if part.type not in ("text", "input_text"):
            if not strict:
                continue
            raise OpenAIError(400, f"messages[{index}].content: Plumb reads text only, not "
                              f"{part.type!r} parts", "unsupported_content",
                              f"messages[{index}].content")
        pieces.append(part.text or "")
    return "\n".join(pieces)


def is_flow(value: Any) -> bool:
    """A Node-RED flow: a non-empty JSON array of node objects."""
    return (isinstance(value, list) and 0 < len(value) <= MAX_FLOW_NODES
            and all(isinstance(node, dict) for node in value))


def find_flow(text: str) -> tuple[list[dict[str, Any]] | None, str]:
    """The last fenced JSON block of `text` that holds a flow, and the text without it."""
    found: list[dict[str, Any]] | None = None
    span: tuple[int, int] | None = None
    for match in _FENCE.finditer(text):
        if match.group(1).lower() not in ("", "json", "jsonc", "json5"):
            continue
        try:
            value = json.loads(match.group(2))
        except ValueError:
            continue
        if is_flow(value):
            found, span = value, match.span()
    if found is None or span is None:
        return None, text
    return found, (text[:span[0]] + text[span[1]:]).strip()


@dataclass
class Turn:
    """What a chat request asks: a new flow, a change of `base`, or (a flow alone) to
    explain `base`."""

    text: str
    base: list[dict[str, Any]] | None = None
    explain_only: bool = False
    prompt_chars: int = 0


def read_turn(body: ChatCompletionCreate) -> Turn:
    last_user = -1
    for index, message in enumerate(body.messages):
        if message.role not in ROLES:
            raise OpenAIError(400, f"messages[{index}].role: {message.role!r} is not one of "
                              "system, developer, user, assistant, tool",
                              "invalid_role", f"messages[{index}].role")
        if message.role == "user":
            last_user = index
    if last_user < 0:
        raise OpenAIError(400, "messages: there is no user message to answer",
                          "missing_user_message", "messages")
    texts = [message_text(m, i, strict=i == last_user) for i, m in enumerate(body.messages)]
    prompt_chars = sum(len(t) for t in texts)
    flow, instruction = find_flow(texts[last_user])
    if flow is not None:
        return Turn(text=instruction, base=flow, explain_only=not instruction,
                    prompt_chars=prompt_chars)
    if not instruction.strip():
        raise OpenAIError(400, f"messages[{last_user}].content: the request is empty",
                          "empty_request", f"messages[{last_user}].content")
    for index in range(last_user - 1, -1, -1):
        if body.messages[index].role in ("assistant", "user"):
            earlier, _rest = find_flow(texts[index])
            if earlier is not None:
                return Turn(text=instruction, base=earlier, prompt_chars=prompt_chars)
    return Turn(text=instruction, prompt_chars=prompt_chars)


# --- writing the answer -------------------------------------------------------------------


def render_outcome(result: dict[str, Any]) -> str:
    """The chat answer for an outcome dict (see work.outcome_dict)."""
    kind = result.get("outcome")
    message = str(result.get("message") or "")
    if kind == "clarify":
        lines = [message]
        choices = result.get("choices") or []
        if choices:
            lines += ["", "Choices:"] + [f"- {c}" for c in choices]
        lines += ["", "_Answer by restating the request with the missing detail._"]
        return "\n".join(lines)
    if kind != "flow" or result.get("flow") is None:
        return message
    lines = [message]
    for title, key in (("Changes", "changes"), ("Notes", "notes")):
        items = result.get(key) or []
        if items:
            lines += ["", f"{title}:"] + [f"- {item}" for item in items]
    findings = [f for f in result.get("findings") or []
                if f.get("severity") in ("error", "warning")]
    if findings:
        lines += ["", "Validator:"]
        for finding in findings[:10]:
            where = f" (node {finding['node_id']})" if finding.get("node_id") else ""
            lines.append(f"- {finding['severity']}: {finding['message']}{where}")
        if len(findings) > 10:
            lines.append(f"- ... and {len(findings) - 10} more")
    lines += ["", "```json", json.dumps(result["flow"], indent=2), "```"]
    return "\n".join(lines)


def explanation_text(flow: list[dict[str, Any]]) -> str:
    """The answer to a flow sent alone: what it does, and what the validator says."""
    text = str(work.explain(flow, None)["text"])
    findings = [f for f in work.findings_of(flow) if f["severity"] in ("error", "warning")]
    if findings:
        text += "\n\nValidator:\n" + "\n".join(
            f"- {f['severity']}: {f['message']}" for f in findings[:10])
    return text


def _tokens(chars: int) -> int:
    return math.ceil(chars / 4)


def usage_of(turn: Turn, result: dict[str, Any]) -> dict[str, int]:
    """Plumb's prompts are its own, so prompt_tokens is an estimate from the messages
    (4 characters a token); completion_tokens counts the model's generated tokens (0 when
    the recipes built the flow without the model)."""
    prompt = _tokens(turn.prompt_chars)
    completion = int(result.get("tokens") or 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion}


def pieces_of(content: str, size: int = 160) -> list[str]:
    """The answer in pieces for streaming: whole lines, long lines cut at `size`."""
    out: list[str] = []
    for line in content.splitlines(keepends=True):
        while len(line) > size:
            out.append(line[:size])
            line = line[size:]
        if line:
            out.append(line)
    return out or [""]


# --- the route ----------------------------------------------------------------------------

@router.post("/chat/completions", response_model=ChatCompletion, responses={
    200: {"description": "The answer; with `stream: true`, Server-Sent Events of "
          "chat.completion.chunk objects ending with `data: [DONE]`.",
          "content": {"text/event-stream": {}}}})
async def chat_completions(body: ChatCompletionCreate, request: Request, service: ServiceDep,
                           _caller: OpenAIUser) -> Any:
    """Chat with Plumb: the last user message is the request; a flow in the conversation
    (in a ```json block) is the flow it changes."""
    turn = read_turn(body)
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    model = service.serving_name()

    if turn.explain_only:
        assert turn.base is not None
        content = await anyio.to_thread.run_sync(explanation_text, turn.base)
        usage = usage_of(turn, {})
        if body.stream:
            return _stream_now(completion_id, created, model, content, usage,
                               _wants_usage(body))
        return JSONResponse(_completion(completion_id, created, model, content, usage))

    def job(ticket: Any, emit: Any) -> dict[str, Any]:
        return work.run_turn(turn.text, turn.base, service.model(), ticket, emit)

    if body.stream:
        return _stream_job(request, service, job, turn, completion_id, created, model,
                           _wants_usage(body))
    result = await service.run(job)
    content = render_outcome(result)
    return JSONResponse(_completion(completion_id, created, model, content,
                                    usage_of(turn, result)))


def _wants_usage(body: ChatCompletionCreate) -> bool:
    return body.stream_options is not None and body.stream_options.include_usage


def _completion(completion_id: str, created: int, model: str, content: str,
                usage: dict[str, int]) -> dict[str, Any]:
    return {"id": completion_id, "object": "chat.completion", "created": created,
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                         "finish_reason": "stop"}],
            "usage": usage}


class _Chunks:
    """Encodes chat.completion.chunk events of one answer."""

    def __init__(self, completion_id: str, created: int, model: str, usage: bool) -> None:
        self.head = {"id": completion_id, "object": "chat.completion.chunk",
                     "created": created, "model": model}
        self.usage = usage

    def chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        data: dict[str, Any] = {**self.head, "choices": [
            {"index": 0, "delta": delta, "finish_reason": finish}]}
        if self.usage:
            data["usage"] = None
        return _sse(data)

    def answer(self, content: str, usage: dict[str, int]) -> list[bytes]:
        out = [self.chunk({"content": piece}) for piece in pieces_of(content)]
        out.append(self.chunk({}, "stop"))
        if self.usage:
            out.append(_sse({**self.head, "choices": [], "usage": usage}))
        out.append(b"data: [DONE]\n\n")
        return out


def _sse(data: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()


def _stream_now(completion_id: str, created: int, model: str, content: str,
                usage: dict[str, int], include_usage: bool) -> StreamingResponse:
    chunks = _Chunks(completion_id, created, model, include_usage)

    async def body() -> AsyncIterator[bytes]:
        yield chunks.chunk({"role": "assistant", "content": ""})
        for piece in chunks.answer(content, usage):
            yield piece

    return StreamingResponse(body(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _stream_job(request: Request, service: AssistantService,
                job: Callable[[Any, Callable[[str, dict[str, Any]], None]], dict[str, Any]],
                turn: Turn, completion_id: str, created: int, model: str,
                include_usage: bool) -> StreamingResponse:
    """Run `job` in the queue (service.start) and stream it as chat.completion.chunk
    events. Raises QueueFull before anything is sent (the route answers 429)."""
    channel, cancel = service.start(job)
    chunks = _Chunks(completion_id, created, model, include_usage)

    def render(event: Event) -> tuple[list[bytes], bool]:
        if event.name == QUEUED:
            position = event.data.get("position", 0)
            return [chunks.chunk({"reasoning_content":
                                  f"waiting for the model ({position} in line)\n"})], False
        if event.name == STARTED:
            return [chunks.chunk({"reasoning_content": "started\n"})], False
        if event.name == STEP:
            return [chunks.chunk({"reasoning_content": f"{event.data.get('name')}\n"})], False
        if event.name == RESULT:
            return chunks.answer(render_outcome(event.data), usage_of(turn, event.data)), True
        if event.name == ERROR:
            status = 503 if event.data.get("error") == MODEL_UNAVAILABLE else 500
            body = error_body(status, str(event.data.get("message", "")),
                              str(event.data.get("error", "internal_error")))
            return [_sse(body), b"data: [DONE]\n\n"], True
        return [], event.name == DONE  # tokens are the model's internal code: not shown

    return sse_response(request, channel, cancel, render,
                        opening=chunks.chunk({"role": "assistant", "content": ""}))


@router.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                  include_in_schema=False)
def not_found(path: str) -> JSONResponse:
    """Anything else under /v1: OpenAI's 404, not the fleet's."""
    return error_response(404, f"Plumb does not serve /v1/{path}; it serves /v1/models "
                          "and /v1/chat/completions", "not_found")
