"""Node-RED's admin API, so tools that deploy to Node-RED deploy to Plumb unchanged.

`GET/POST /flows` (API v1: a bare array; v2, chosen by the `Node-RED-API-Version: v2`
header: `{"flows": [...], "rev": "..."}` with a 409 when the `rev` sent is stale),
`Node-RED-Deployment-Type` full/flows/nodes/reload, `GET/POST /flows/state`, `GET /nodes`
and `POST /inject/{id}` (the editor's inject button). Plumb adds `GET /plumb/events` (debug
output, logs and statuses) and `GET /plumb/status`. Every other path goes to the running
flow's `http in` endpoints (`runtime.http`), as Node-RED serves both on one port; the admin
routes take precedence. A deploy that cannot run is answered
400 with the reasons, and the running flow keeps running. Every error is one JSON envelope:
`{"error": code, "message": text, ...details}`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Body, FastAPI, Header, Request
from fastapi.responses import JSONResponse, Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from runtime.http import DEFAULT_TIMEOUT, dispatch
from runtime.manager import DeployRefused, RuntimeManager


def _error(status: int, code: str, message: str, **details: Any) -> JSONResponse:
    return JSONResponse({"error": code, "message": message, **details}, status_code=status)


def create_app(manager: RuntimeManager | None = None,
               initial_flow: list[dict[str, Any]] | None = None,
               on_started: Callable[[RuntimeManager], None] | None = None, *,
               http_timeout: float = DEFAULT_TIMEOUT) -> FastAPI:
    """The API over `manager`; `initial_flow` is deployed when the server starts. A request
    to an http in endpoint that no http response node answers within `http_timeout`
    seconds is answered 504."""
    manager = manager or RuntimeManager()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if initial_flow is not None:
            await manager.deploy(initial_flow)
        if on_started is not None:
            on_started(manager)
        yield
        await manager.shutdown()  # the flow stops with the server

    app = FastAPI(title="Plumb runtime", docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.manager = manager

    @app.exception_handler(DeployRefused)
    async def refused(_request: Request, exc: DeployRefused) -> JSONResponse:
        details = {k: v for k, v in exc.reasons.items() if k != "error"}
        return _error(400, str(exc.reasons.get("error", "invalid_flow")), str(exc), **details)

    @app.get("/flows")
    async def get_flows(api_version: Annotated[str | None, Header(
            alias="Node-RED-API-Version")] = None) -> Any:
        if api_version == "v2":
            return {"flows": manager.flow, "rev": manager.rev}
        return manager.flow

    @app.post("/flows")
    async def post_flows(
        body: Annotated[Any, Body()],
        api_version: Annotated[str | None, Header(alias="Node-RED-API-Version")] = None,
        deployment_type: Annotated[str, Header(alias="Node-RED-Deployment-Type")] = "full",
    ) -> Any:
        if api_version == "v2":
            if not isinstance(body, dict) or "flows" not in body:
                return _error(400, "invalid_request", 'v2 expects {"flows": [...], "rev": ...}')
            sent_rev = body.get("rev")
            if sent_rev and sent_rev != manager.rev:
                return _error(409, "version_mismatch", "the flows changed since you read "
                              "them", rev=manager.rev)
            rev = await manager.deploy(body["flows"], deployment_type)
            return {"rev": rev}
        await manager.deploy(body, deployment_type)
        return Response(status_code=204)

    @app.get("/flows/state")
    async def get_state() -> dict[str, str]:
        return {"state": "start" if manager.started else "stop"}

    @app.post("/flows/state")
    async def post_state(body: Annotated[dict[str, Any], Body()]) -> Any:
        state = body.get("state")
        if state not in ("start", "stop"):
            return _error(400, "invalid_request", 'state must be "start" or "stop"')
        await manager.set_state(state)
        return {"state": state}

    @app.get("/nodes")
    async def get_nodes() -> list[dict[str, Any]]:
        return [{"id": f"plumb/{t}", "name": t, "types": [t], "enabled": True,
                 "module": "plumb", "local": False} for t in manager.registry.types()]

    @app.post("/inject/{node_id}")
    async def inject(node_id: str) -> Any:
        runtime = manager.runtime
        node = runtime.nodes.get(node_id) if runtime else None
        if node is None or node.type != "inject":
            return _error(404, "not_found", f"no running inject node {node_id!r}")
        node.fire()  # type: ignore[attr-defined]
        return Response(status_code=200)

    @app.get("/plumb/events")
    async def events(since: int = 0) -> dict[str, Any]:
        runtime = manager.runtime
        if runtime is None:
            return {"events": [], "next": 0}
        items, following = runtime.events_since(since)
        return {"events": items, "next": following}

    @app.get("/plumb/status")
    async def status() -> dict[str, Any]:
        runtime = manager.runtime
        nodes = runtime.nodes.values() if runtime else []
        return {n.id: n.current_status for n in nodes if n.current_status}

    app.add_middleware(FlowEndpoints, manager=manager, admin=app.router.routes,
                       timeout=http_timeout)
    return app


class FlowEndpoints:
    """Every request that no admin route takes goes straight to the running flow's http
    in endpoints, past FastAPI's routing and parameter machinery (a request per message
    is the hot path of an http flow)."""

    def __init__(self, app: ASGIApp, manager: RuntimeManager, admin: list[BaseRoute],
                 timeout: float) -> None:
        self.app = app
        self.manager = manager
        self.admin = admin  # read per request: routes added after this still count
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._is_admin(scope["path"]):
            await self.app(scope, receive, send)
            return
        response = await dispatch(self.manager.runtime, Request(scope, receive), self.timeout)
        await response(scope, receive, send)

    def _is_admin(self, path: str) -> bool:
        for route in self.admin:
            pattern = getattr(route, "path_regex", None)
            if pattern is not None and pattern.match(path):
                return True
        return False
