"""MCP: the tools through the SDK's own client, over Streamable HTTP at /mcp of the live
server and over stdio from `ask mcp`, plus the auth rule and the queue."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import TextContent

from assistant.server.app import create_app
from assistant.server.fake_model import PassThroughModel
from flowschema.validator import validate_flow
from tests.server.conftest import (
    MODEL_REQUEST,
    REQUEST,
    LiveServer,
    Uvicorn,
    free_port,
    make_settings,
)

ROOT = Path(__file__).resolve().parents[2]
TOOLS = {"generate_flow", "edit_flow", "explain_flow", "validate_flow", "search_node_docs"}
BROKEN = [{"id": "a", "type": "inject", "z": "nowhere", "wires": [["missing"]]},
          {"id": "a", "type": "no-such-node"}]


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    anyio.run(scenario)


def text_of(result: Any) -> str:
    block = result.content[0]
    assert isinstance(block, TextContent)
    return block.text


def structured(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content
    data = result.structured_content
    assert isinstance(data, dict)
    # The text content carries the same JSON, for clients that read only text.
    assert json.loads(text_of(result)) == data
    return data


async def exercise(client: Client) -> None:
    """What every transport must do: list the tools, build, check, explain, edit."""
    tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == TOOLS
    for tool in tools.values():
        assert tool.description and len(tool.description) > 80
        assert "\n    " not in tool.description  # dedented docstrings
    assert "request" in tools["generate_flow"].input_schema["properties"]

    made = structured(await client.call_tool("generate_flow", {"request": REQUEST}))
    assert made["outcome"] == "flow", made
    flow = made["flow"]
    assert not validate_flow(flow).errors

    checked = structured(await client.call_tool("validate_flow", {"flow": flow}))
    assert checked["valid"] is True and checked["errors"] == 0

    broken = structured(await client.call_tool("validate_flow", {"flow": BROKEN}))
    assert broken["valid"] is False and broken["errors"] > 0
    assert {f["severity"] for f in broken["findings"]} >= {"error"}
    assert structured(await client.call_tool("validate_flow", {"flow": {"not": "a list"}})
                      )["valid"] is False

    explained = structured(await client.call_tool("explain_flow", {"flow": flow}))
    assert explained["summary"] and explained["text"]
    one = flow[-1]["id"]
    part = structured(await client.call_tool("explain_flow", {"flow": flow,
                                                              "node_ids": [one]}))
    assert part["text"]
    missing = await client.call_tool("explain_flow", {"flow": flow, "node_ids": ["nope"]})
    assert missing.is_error and "nope" in text_of(missing)

    edited = structured(await client.call_tool(
        "edit_flow", {"flow": flow, "request": "poll every 10 s instead"}))
    assert edited["outcome"] == "flow" and edited["changes"]
    assert {n["id"] for n in flow} & {n["id"] for n in edited["flow"]}

    bad_args = await client.call_tool("generate_flow", {"request": ""})
    assert bad_args.is_error


def test_streamable_http_tools(live_server: LiveServer) -> None:
    async def scenario() -> None:
        async with Client(f"{live_server.url}/mcp") as client:
            await exercise(client)

    run(scenario)


def test_progress_notifications_show_the_steps(live_server: LiveServer) -> None:
    seen: list[str] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(message or "")

    async def scenario() -> None:
        async with Client(f"{live_server.url}/mcp") as client:
            result = await client.call_tool("generate_flow", {"request": MODEL_REQUEST},
                                            progress_callback=on_progress)
            assert structured(result)["outcome"] in ("flow", "clarify", "refuse")

    run(scenario)
    assert "reading the request" in seen and "writing code" in seen


def test_stdio_from_ask_mcp(tmp_path: Path) -> None:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "assistant.cli", "mcp", "--model", "fake", "--data-dir", str(tmp_path)],
        cwd=str(ROOT))

    async def scenario() -> None:
        with tempfile.TemporaryFile("w+") as errors:
            try:
                async with Client(stdio_client(params, errlog=errors)) as client:
                    await exercise(client)
            finally:
                errors.seek(0)
                log = errors.read()
            assert "Traceback" not in log, log

    run(scenario)


def test_ask_mcp_help_documents_its_options() -> None:
    shown = subprocess.run([sys.executable, "-m", "assistant.cli", "mcp", "--help"],
                           capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert shown.returncode == 0, shown.stderr
    assert "stdio" in shown.stdout and "--model" in shown.stdout
    assert "--data-dir" in shown.stdout


def _initialize() -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"}}}


MCP_HEADERS = {"Accept": "application/json, text/event-stream",
               "Content-Type": "application/json"}


def test_token_mode_needs_a_user_token(tmp_path: Path) -> None:
    from runtime.fleet import accounts
    from runtime.fleet.audit import SYSTEM
    from runtime.fleet.models import Role

    app = create_app(make_settings(tmp_path, auth="token"), model=PassThroughModel())
    port = free_port()
    url = f"http://127.0.0.1:{port}/mcp"
    with Uvicorn(app, port):
        with httpx.Client(timeout=30) as http:
            refused = http.post(url, json=_initialize(), headers=MCP_HEADERS)
            assert refused.status_code == 401
            assert refused.json()["error"] == "unauthorized"
            assert refused.headers["www-authenticate"] == "Bearer"
            bogus = http.post(url, json=_initialize(), headers={
                **MCP_HEADERS, "Authorization": "Bearer plumb_u_not-a-token"})
            assert bogus.status_code == 401
        with app.state.sessions() as db:
            viewer = accounts.create_user(db, SYSTEM, "vic", "a long password 1", Role.viewer)
            _token, secret = accounts.issue_token(db, SYSTEM, viewer, "agent")
            db.commit()

        async def scenario() -> None:
            headers = {"Authorization": f"Bearer {secret}"}
            async with (httpx2.AsyncClient(headers=headers, timeout=30) as http2,
                        Client(streamable_http_client(url, http_client=http2)) as client):
                assert {t.name for t in (await client.list_tools()).tools} == TOOLS
                made = structured(await client.call_tool("generate_flow",
                                                         {"request": REQUEST}))
                assert made["outcome"] == "flow"

        run(scenario)


def test_local_mode_refuses_foreign_hosts_and_checks_plumb_tokens(
        live_server: LiveServer) -> None:
    url = f"{live_server.url}/mcp"
    with httpx.Client(timeout=30) as http:
        ok = http.post(url, json=_initialize(), headers=MCP_HEADERS)
        assert ok.status_code == 200, ok.text
        # Any key but a Plumb one is ignored in local mode; a Plumb one must be valid.
        assert http.post(url, json=_initialize(), headers={
            **MCP_HEADERS, "Authorization": "Bearer sk-whatever"}).status_code == 200
        assert http.post(url, json=_initialize(), headers={
            **MCP_HEADERS, "Authorization": "Bearer plumb_u_nope"}).status_code == 401
        # DNS rebinding: a page served from another name cannot reach the tools.
        rebound = http.post(url, json=_initialize(),
                            headers={**MCP_HEADERS, "Host": "evil.example:8700"})
        assert rebound.status_code == 421
        foreign = http.post(url, json=_initialize(),
                            headers={**MCP_HEADERS, "Origin": "http://evil.example"})
        assert foreign.status_code == 403


def test_full_queue_is_a_tool_error(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path, queue_limit=1),
                     model=PassThroughModel(delay=0.2))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with Uvicorn(app, port), httpx.Client(base_url=base, timeout=30) as http:
        done: list[int] = []
        slow = threading.Thread(target=lambda: done.append(http.post(
            "/api/v1/generate", json={"request": MODEL_REQUEST}).status_code))
        slow.start()
        deadline = time.monotonic() + 10
        while not http.get("/api/v1/status").json()["queue"]["running"]:
            assert time.monotonic() < deadline
            time.sleep(0.02)

        async def scenario() -> None:
            async with Client(f"{base}/mcp") as client:
                busy = await client.call_tool("generate_flow", {"request": REQUEST})
                assert busy.is_error and "busy" in text_of(busy)
                # Tools that need no model still answer.
                assert structured(await client.call_tool(
                    "validate_flow", {"flow": BROKEN}))["valid"] is False

        run(scenario)
        slow.join()
        assert done == [200]


class _Hit:
    def __init__(self, text: str) -> None:
        self.text = text

    def to_dict(self) -> dict[str, Any]:
        return {"id": "doc:modbus-read", "kind": "doc", "title": "modbus-read",
                "node_type": "modbus-read", "package": "node-red-contrib-modbus",
                "source": "corpus", "score": 0.9, "text": self.text}


class _StubIndex:
    """Stands in for the docs index (building the real one embeds every passage)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, str | None]] = []

    def search(self, query: str, k: int, *, kind: str | None, node_type: str | None,
               mode: str) -> list[_Hit]:
        from corpus.index import QueryError

        if query == "bad":
            raise QueryError("the query has no words")
        self.calls.append((query, k, kind))
        return [_Hit(f"passage {i} about {query}") for i in range(k)]


def test_search_node_docs_reads_the_docs_index(live_server: LiveServer,
                                               monkeypatch: Any) -> None:
    from assistant.server.routers import docs

    stub = _StubIndex()
    monkeypatch.setitem(docs._indexes, str(live_server.settings.index_dir()), stub)

    async def scenario() -> None:
        async with Client(f"{live_server.url}/mcp") as client:
            found = structured(await client.call_tool(
                "search_node_docs", {"query": "modbus read", "k": 2, "kind": "doc"}))
            assert found["query"] == "modbus read" and len(found["hits"]) == 2
            assert found["hits"][0]["node_type"] == "modbus-read"
            bad = await client.call_tool("search_node_docs", {"query": "bad"})
            assert bad.is_error and "no words" in text_of(bad)
            wrong = await client.call_tool("search_node_docs", {"query": "x", "k": 99})
            assert wrong.is_error

    run(scenario)
    assert stub.calls == [("modbus read", 2, "doc")]
