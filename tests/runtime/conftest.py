"""Helpers for runtime tests: run a flow on an event loop and read what it produced."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from runtime.engine import FlowRuntime

TAB = {"id": "tab1", "type": "tab", "label": "test"}


def node(id_: str, type_: str, wires: list[list[str]] | None = None, **props: Any) -> dict[str, Any]:
    return {"id": id_, "type": type_, "z": "tab1", "wires": wires or [], **props}


def run_flow(flow: list[dict[str, Any]],
             actions: Callable[[FlowRuntime], Awaitable[None]] | None = None,
             settle: float = 0.2) -> FlowRuntime:
    """Start `flow` (a tab is added), run `actions`, wait `settle` s, stop; return the
    runtime so a test can read `events`."""

    async def main() -> FlowRuntime:
        runtime = FlowRuntime()
        await runtime.start([TAB, *flow])
        try:
            if actions is not None:
                await actions(runtime)
            await asyncio.sleep(settle)
        finally:
            await runtime.stop()
        return runtime

    return asyncio.run(main())


def debug_values(runtime: FlowRuntime, node_id: str | None = None) -> list[Any]:
    return [e["value"] for e in runtime.events
            if e["kind"] == "debug" and (node_id is None or e["id"] == node_id)]


async def until(check: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    """Poll `check` until it returns something truthy (returned), or fail after `timeout`
    seconds: waits that hold on a busy 2-core machine without fixed sleeps."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def statuses(runtime: FlowRuntime, node_id: str) -> list[dict[str, Any]]:
    return [e["status"] for e in runtime.events
            if e["kind"] == "status" and e["id"] == node_id]
