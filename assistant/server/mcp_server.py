"""Plumb as an MCP server, for coding agents: tools to generate, edit, explain and validate
Node-RED flows and to search the node documentation.

Two ways in:
- `ask serve` serves it over Streamable HTTP at /mcp (see `mount`), stateless: every call
  is one POST, answered as JSON or as SSE carrying progress notifications. The auth rule
  is the REST API's: in token mode a request needs a fleet user's token (401 without);
  in local mode none is needed (a key that is not a Plumb user token is ignored, a Plumb
  token is checked). In local mode the Host and Origin headers must be loopback ones, so
  a web page cannot reach the tools through DNS rebinding.
- `ask mcp` serves it over stdio for an agent that starts it as a subprocess (see
  `run_stdio`).

Tools answer with the same JSON as the REST API (see work.py). The model-bound ones
(generate_flow, edit_flow) wait in the server's model queue like every other model job;
while they wait and run, the queue position and pipeline steps go out as progress
notifications when the client asked for them. A full queue, a bad flow or a missing
index is a tool error (isError) with a message saying what to do.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, Literal, TypeVar

import anyio
import anyio.to_thread
from fastapi import FastAPI
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types import ToolAnnotations
from pydantic import Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from assistant.generate.pipeline import MAX_REQUEST_CHARS
from assistant.models.base import ModelError
from assistant.server import work
from assistant.server.auth import client_caller
from assistant.server.events import STEP
from assistant.server.queue import QueueFull, Ticket
from assistant.server.service import AssistantService
from assistant.server.settings import ServerSettings
from runtime.fleet.errors import FleetError, envelope

log = logging.getLogger("plumb.server")

PATH = "/mcp"

INSTRUCTIONS = """\
Plumb turns plain-language requests into validated Node-RED flow JSON (an array of node
objects, as Node-RED imports and exports them). Typical use: generate_flow with what the
flow should do (devices, addresses, topics, intervals); edit_flow to change a flow you
have; validate_flow before deploying a flow you wrote or changed yourself; explain_flow to
understand an existing flow; search_node_docs to look up what a node type does and its
properties. generate_flow and edit_flow may answer with a clarifying question (outcome
"clarify": ask the user, then call again with the answer included in the request) or a
refusal (outcome "refuse"). They run one at a time on a local model and may take a while.
"""

FlowArg = Annotated[list[dict[str, Any]], Field(
    description="Node-RED flow JSON: the array of node objects (as exported by Node-RED).",
    max_length=20000)]
RequestArg = Annotated[str, Field(
    min_length=1, max_length=MAX_REQUEST_CHARS,
    description="What the flow should do, in plain words: devices and their addresses, "
                "registers or nodes, topics, intervals, thresholds.")]
EditArg = Annotated[str, Field(
    min_length=1, max_length=MAX_REQUEST_CHARS,
    description="The change, in plain words, e.g. 'poll every 2 s instead' or 'also "
                "write the value to a file'.")]
NodeIdsArg = Annotated[list[str] | None, Field(
    default=None, max_length=20000,
    description="Explain only these nodes (by id) and the wires between them; omit for "
                "the whole flow.")]
AnyFlowArg = Annotated[Any, Field(
    description="The flow JSON to check: normally an array of node objects. Anything is "
                "accepted; what is wrong with it is reported as findings.")]
QueryArg = Annotated[str, Field(min_length=1, max_length=500,
                                description="The question, e.g. 'modbus read holding "
                                            "register' or 'mqtt out retain'.")]
KArg = Annotated[int, Field(ge=1, le=20, description="How many passages to return.")]
KindArg = Annotated[Literal["doc", "example", "help"] | None, Field(
    description="Only this kind of passage: 'doc' (node reference), 'example' (example "
                "flows) or 'help' (Node-RED's own node help); omit for all.")]

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True,
                            open_world_hint=False)
MODEL_TOOL = ToolAnnotations(read_only_hint=True, destructive_hint=False,
                             idempotent_hint=False, open_world_hint=False)

Job = Callable[[Ticket, Callable[[str, dict[str, Any]], None]], dict[str, Any]]
ToolFn = TypeVar("ToolFn", bound=Callable[..., Any])


def build_server(service: AssistantService, settings: ServerSettings) -> MCPServer[Any]:
    """The MCP server with Plumb's tools, bound to `service` (its model and queue)."""
    from importlib.metadata import version

    # The SDK calls logging.basicConfig when it makes a server; the app's logging is
    # `ask serve`'s to set up, so the root logger is put back as it was.
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    server: MCPServer[Any] = MCPServer(
        "plumb", title="Plumb", instructions=INSTRUCTIONS, version=version("plumb"),
        description="Plain language to validated Node-RED flows.", log_level="WARNING")
    root.handlers[:] = handlers
    root.setLevel(level)

    def tool(annotations: ToolAnnotations) -> Callable[[ToolFn], ToolFn]:
        """Register a tool; its docstring, dedented, is the description agents read."""

        def register(fn: ToolFn) -> ToolFn:
            server.add_tool(fn, description=inspect.cleandoc(fn.__doc__ or ""),
                            annotations=annotations)
            return fn

        return register

    @tool(MODEL_TOOL)
    async def generate_flow(request: RequestArg, ctx: Context) -> dict[str, Any]:
        """Build a new Node-RED flow from a plain-language request.

        Returns {"outcome": "flow" | "clarify" | "refuse", "message", "flow", "choices",
        "notes", "understood", "changes", "stages", "tokens", "seconds", "findings"}. With
        outcome "flow", `flow` is validated Node-RED flow JSON ready to import, `message`
        explains it and `notes` lists assumptions and placeholders to fill in. With
        "clarify", `message` is a question (and `choices` possible answers): ask the user
        and call again with the answer added to the request. With "refuse", `message` says
        why (unsafe, or not something a flow can do). Waits for the local model when other
        requests are ahead."""

        def job(ticket: Ticket, emit: Callable[[str, dict[str, Any]], None]
                ) -> dict[str, Any]:
            return work.run_turn(request, None, service.model(), ticket, emit)

        return await run_model_job(service, job, ctx)

    @tool(MODEL_TOOL)
    async def edit_flow(flow: FlowArg, request: EditArg, ctx: Context) -> dict[str, Any]:
        """Change an existing Node-RED flow as the request says.

        Untouched nodes keep their ids and positions. Returns the same object as
        generate_flow, with `changes` listing what was added, removed or changed and `flow`
        the whole new flow (not a diff)."""

        def job(ticket: Ticket, emit: Callable[[str, dict[str, Any]], None]
                ) -> dict[str, Any]:
            return work.run_turn(request, flow, service.model(), ticket, emit)

        return await run_model_job(service, job, ctx)

    @tool(READ_ONLY)
    async def explain_flow(flow: FlowArg, node_ids: NodeIdsArg = None) -> dict[str, Any]:
        """Explain what a Node-RED flow (or some of its nodes) does, from the graph itself.

        Returns `summary` (one paragraph), `text` (the whole explanation, readable), and
        the facts behind it: the paths from inputs to outputs, the devices and services it
        talks to, and risks. Deterministic and quick; needs no model."""
        chosen = flow
        if node_ids is not None:
            try:
                chosen = work.select_nodes(flow, node_ids)
            except KeyError as exc:
                raise ToolError(str(exc.args[0])) from None
        result: dict[str, Any] = await anyio.to_thread.run_sync(work.explain, chosen, None)
        return result

    @tool(READ_ONLY)
    async def validate_flow(flow: AnyFlowArg) -> dict[str, Any]:
        """Check Node-RED flow JSON against the node catalog and Node-RED's rules.

        Returns {"valid", "nodes", "errors", "warnings", "findings"}; each finding has
        severity (error, warning, info), code, message, hint and the node_id it concerns.
        Use it on any flow before deploying it. Quick; needs no model."""
        result: dict[str, Any] = await anyio.to_thread.run_sync(work.validate, flow)
        return result

    @tool(READ_ONLY)
    async def search_node_docs(query: QueryArg, k: KArg = 5, kind: KindArg = None
                               ) -> dict[str, Any]:
        """Search the Node-RED node documentation and example flows Plumb knows.

        Returns {"query", "hits"}; each hit has id, kind, title, node_type, package,
        source, score and the passage `text`. The first search on a new installation
        builds the index, which takes a minute."""
        from assistant.server.routers.docs import _index
        from corpus.index import CorpusIndexError, QueryError

        def search() -> list[dict[str, Any]]:
            hits = _index(settings).search(query, k, kind=kind, node_type=None,
                                           mode="hybrid")
            return [h.to_dict() for h in hits]

        try:
            hits = await anyio.to_thread.run_sync(search)
        except QueryError as exc:
            raise ToolError(str(exc)) from None
        except CorpusIndexError as exc:
            raise ToolError(f"the docs index is unavailable: {exc}") from None
        return {"query": query, "hits": hits}

    return server


async def run_model_job(service: AssistantService, job: Job, ctx: Context | None
                        ) -> dict[str, Any]:
    """Run `job` in the model queue; its queue position and steps become progress
    notifications. A cancelled call (the client went away) stops the job."""
    loop = asyncio.get_running_loop()
    progress: asyncio.Queue[str | None] = asyncio.Queue()

    def emit(name: str, data: dict[str, Any]) -> None:  # in the model thread
        if name == STEP:
            with contextlib.suppress(RuntimeError):  # the loop is closed
                loop.call_soon_threadsafe(progress.put_nowait, str(data.get("name", "")))

    def waiting(position: int) -> None:
        progress.put_nowait(f"waiting for the model ({position} in line)")

    async def report() -> None:
        count = 0
        while (message := await progress.get()) is not None:
            count += 1
            if ctx is not None:
                try:
                    await ctx.report_progress(count, None, message)
                except Exception:  # progress is a courtesy; never fail the call for it
                    log.debug("progress notification failed", exc_info=True)

    reporter = loop.create_task(report())
    try:
        return await service.queue.submit(lambda ticket: job(ticket, emit), waiting)
    except QueueFull as exc:
        raise ToolError(str(exc)) from None
    except ModelError as exc:
        raise ToolError(f"the model is unavailable: {exc}") from None
    finally:
        # After the steps the model thread scheduled: callbacks run in order.
        loop.call_soon(progress.put_nowait, None)
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(asyncio.shield(reporter), timeout=5)
        reporter.cancel()


# --- HTTP -------------------------------------------------------------------------------


class _Endpoint:
    """/mcp: the auth rule, then the SDK's session manager (made anew each time the app
    starts, since a manager runs only once)."""

    def __init__(self) -> None:
        self.manager: StreamableHTTPSessionManager | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        refusal = await anyio.to_thread.run_sync(check_caller, request)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        if self.manager is None:
            await JSONResponse({"error": "unavailable", "message": "MCP is not running"},
                               status_code=503)(scope, receive, send)
            return
        await self.manager.handle_request(scope, receive, send)


def check_caller(request: Request) -> Response | None:
    """None when the caller may use the tools, else the refusal (401 or 403, in the REST
    API's error shape). The rule is the chat clients' (auth.client_caller). Runs in a
    worker thread: it may read the database."""
    try:
        client_caller(request)
    except FleetError as exc:
        return envelope(exc.status, exc.code, exc.message, **exc.details)
    return None


def transport_security(settings: ServerSettings) -> TransportSecuritySettings:
    """In local mode only loopback Host and Origin headers are let in (no DNS rebinding
    into an unauthenticated server); in token mode the token is the protection."""
    if settings.auth != "local":
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    hosts = ["127.0.0.1", "localhost", "[::1]"]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=hosts + [f"{h}:*" for h in hosts],
        allowed_origins=[f"{scheme}://{h}{port}" for scheme in ("http", "https")
                         for h in hosts for port in ("", ":*")])


def mount(app: FastAPI, service: AssistantService) -> None:
    """Serve MCP over Streamable HTTP at /mcp in `app`; app.state.mcp_lifespan runs it."""
    settings: ServerSettings = app.state.server_settings
    server = build_server(service, settings)
    endpoint = _Endpoint()
    for path in (PATH, PATH + "/"):
        app.router.routes.append(Route(path, endpoint=endpoint, include_in_schema=False))

    @contextlib.asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        server.streamable_http_app(
            streamable_http_path=PATH, stateless_http=True,
            transport_security=transport_security(settings),
            max_request_body_size=settings.max_request_bytes)
        manager = server.session_manager
        async with manager.run():
            endpoint.manager = manager
            try:
                yield
            finally:
                endpoint.manager = None

    app.state.mcp_server = server
    app.state.mcp_lifespan = lifespan


# --- stdio ------------------------------------------------------------------------------


def run_stdio(settings: ServerSettings) -> None:
    """Serve the tools over stdin/stdout until the client closes them (`ask mcp`)."""
    service = AssistantService(settings)
    server = build_server(service, settings)

    async def main() -> None:
        preload = None
        if settings.preload_model:
            preload = asyncio.get_running_loop().create_task(service.preload())
        try:
            await server.run_stdio_async()
        finally:
            if preload is not None and not preload.done():
                preload.cancel()
            service.shutdown()

    anyio.run(main)


__all__ = ["build_server", "mount", "run_stdio"]
