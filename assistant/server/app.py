"""`create_app(settings)`: the assistant, the fleet, the OpenAI-compatible routes, MCP and
the web UI in one FastAPI app."""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistant.models.base import Model
from assistant.server.auth import ensure_local_user, local_or_token_user
from assistant.server.queue import QueueFull
from assistant.server.routers import docs, flows, generate, models, sessions
from assistant.server.service import AssistantService
from assistant.server.settings import ServerSettings
from assistant.server.store import SessionStore
from runtime.fleet.app import API, FleetParts, InFlightLimit
from runtime.fleet.auth import current_user
from runtime.fleet.errors import envelope, install_handlers

log = logging.getLogger("plumb.server")
STATIC = Path(__file__).parent / "static"


def create_app(settings: ServerSettings | None = None, *, model: Model | None = None
               ) -> FastAPI:
    """The whole server. `model` replaces loading one (tests hand in a fake)."""
    settings = settings or ServerSettings()
    settings.check()
    fleet = FleetParts(settings.fleet, run_controller=settings.run_controller)
    service = AssistantService(settings, model)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            await stack.enter_async_context(fleet.running(app))
            mcp_session = getattr(app.state, "mcp_lifespan", None)
            if mcp_session is not None:
                await stack.enter_async_context(mcp_session())
            if settings.preload_model:
                # In the background: the server answers at once; model jobs queue behind
                # the load and /status shows its progress.
                import asyncio

                app.state.preload = asyncio.get_running_loop().create_task(service.preload())
            try:
                yield
            finally:
                service.shutdown()
                app.state.chat_sessions.close()

    app = FastAPI(
        title="Plumb", version="1", lifespan=lifespan,
        description="Plain language to validated Node-RED flows, and the fleet that runs "
                    "them. Errors are always {\"error\": code, \"message\": text, ...}.")
    app.state.server_settings = settings
    app.state.assistant = service
    app.state.chat_sessions = SessionStore(settings.sessions_path())
    install_handlers(app)

    fleet_http_error = app.exception_handlers[HTTPException]

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        # The fleet's envelope, keeping the exception's headers: a 405 must say `Allow`,
        # and list every method of the path (Starlette names only the first route's).
        response: Response = await fleet_http_error(request, exc)  # type: ignore[misc]
        for name, value in (exc.headers or {}).items():
            response.headers.setdefault(name, value)
        if exc.status_code == 405:
            allowed = _allowed_methods(app, request.scope)
            if allowed:
                response.headers["Allow"] = ", ".join(allowed)
        return response

    @app.exception_handler(QueueFull)
    async def queue_full(_request: Request, exc: QueueFull) -> JSONResponse:
        response = envelope(429, "busy", str(exc), limit=exc.limit)
        response.headers["Retry-After"] = "5"
        return response

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return envelope(500, "internal_error", f"{type(exc).__name__}: {exc}")

    fleet.attach(app)
    app.state.server_settings = settings
    if settings.auth == "local":
        ensure_local_user(app.state.sessions)
        app.dependency_overrides[current_user] = local_or_token_user
    for module in (generate, flows, docs, sessions, models):
        app.include_router(module.router, prefix=API)
    _mount_extras(app, service)
    _mount_ui(app)
    _document_errors(app)
    app.add_middleware(InFlightLimit, limit=settings.fleet.max_in_flight_requests)
    app.add_middleware(BodyLimit, limit=settings.max_request_bytes)
    return app


def _mount_extras(app: FastAPI, service: AssistantService) -> None:
    """The OpenAI-compatible routes and MCP, when their modules are present."""
    try:
        from assistant.server.routers import openai
    except ImportError:
        openai = None  # type: ignore[assignment]
    if openai is not None:
        app.include_router(openai.router, prefix="/v1")
    try:
        from assistant.server import mcp_server
    except ImportError:
        return
    mcp_server.mount(app, service)


ERROR_SCHEMA = {
    "type": "object", "title": "Error", "required": ["error", "message"],
    "properties": {"error": {"type": "string", "description": "A stable code, e.g. "
                             "invalid_request, not_found, busy."},
                   "message": {"type": "string", "description": "What went wrong, for people."}},
    "additionalProperties": True,
    "description": "Every error of /api/v1; some errors add details beside the two keys."}
# Errors any operation of /api/v1 may answer, beyond what its router declares.
ANY_BODY = {"400": "The body is not JSON text (e.g. not UTF-8).",
            "413": "The body is larger than max_request_bytes."}
ANY_PATH_PARAMETER = {"404": "Nothing has this id."}
ANY_CALLER = {"401": "No valid token (token mode).",
              "403": "The token's role may not do this."}


def _allowed_methods(app: FastAPI, scope: Scope) -> list[str]:
    """Every method the OpenAPI document gives the request's path (empty when the path
    is not documented: then Starlette's own `Allow` stands)."""
    table: list[tuple[re.Pattern[str], set[str]]] | None = getattr(
        app.state, "allowed_methods", None)
    if table is None:
        table = []
        for template, operations in app.openapi().get("paths", {}).items():
            pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
            table.append((re.compile(pattern + "$"),
                          {method.upper() for method in operations if method != "parameters"}))
        app.state.allowed_methods = table
    path = str(scope.get("path", ""))
    return sorted(set().union(*(methods for pattern, methods in table
                                if pattern.match(path))))


def _document_errors(app: FastAPI) -> None:
    """Put the one error shape into the OpenAPI document: every 4xx of /api/v1 is
    `Error` (FastAPI would document its own `HTTPValidationError` for 422, which the
    handlers never send), and the errors the middleware, the JSON parser and the auth
    give every operation are listed with the operation."""
    plain_openapi = app.openapi
    done: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        if done:
            return done[0]
        document = plain_openapi()
        document.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
        for path, operations in document.get("paths", {}).items():
            if not path.startswith(API + "/"):
                continue  # the OpenAI-compatible routes answer in OpenAI's error shape
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                extra: dict[str, str] = {}
                if "requestBody" in operation:
                    extra.update(ANY_BODY)
                if "{" in path:
                    extra.update(ANY_PATH_PARAMETER)
                if path != f"{API}/status":
                    extra.update(ANY_CALLER)
                for code, description in extra.items():
                    responses.setdefault(code, {"description": description})
                for code, response in responses.items():
                    if code.startswith("4"):
                        response["content"] = {"application/json": {"schema": {
                            "$ref": "#/components/schemas/Error"}}}
        schemas = document["components"]["schemas"]
        for unused in ("HTTPValidationError", "ValidationError"):
            if f'/{unused}"' not in json.dumps(document):
                schemas.pop(unused, None)
        app.openapi_schema = document
        done.append(document)
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _mount_ui(app: FastAPI) -> None:
    if not (STATIC / "index.html").exists():
        return
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


class BodyLimit:
    """Refuse request bodies over `limit` bytes with 413 before reading them whole."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except BodyTooLarge:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = envelope(413, "too_large",
                            f"the request body is larger than {self.limit:,} bytes")
        await response(scope, receive, send)


class BodyTooLarge(Exception):
    pass
