"""Faults the runtime must survive: a 10 MB payload, a flow of 1,000 nodes, a node that
throws on every message while the rest of the flow goes on."""

from __future__ import annotations

from typing import Any

from runtime.engine import FlowRuntime
from tests.runtime.conftest import debug_values, node, run_flow


def test_a_10_mb_payload_goes_through_change_function_and_json() -> None:
    big = "x" * (10 * 1024 * 1024)

    async def act(rt: FlowRuntime) -> None:
        rt.inject("in", {"payload": big})

    flow = [node("in", "link in", [["ch"]]),
            node("ch", "change", [["fn"]], rules=[{"t": "set", "p": "size", "pt": "msg",
                                                  "to": "$length(payload)", "tot": "jsonata"}]),
            node("fn", "function", [["d"]], outputs=1,
                 func="msg.payload = msg.payload.length + msg.size; return msg;"),
            node("d", "debug")]
    rt = run_flow(flow, act, settle=2.0)
    assert debug_values(rt, "d") == [2 * len(big)]


def test_a_flow_of_1000_nodes_starts_carries_a_message_and_stops() -> None:
    chain: list[dict[str, Any]] = []
    for i in range(998):
        chain.append(node(f"n{i}", "change", [[f"n{i + 1}" if i < 997 else "d"]], rules=[
            {"t": "set", "p": "payload", "pt": "msg", "to": "payload + 1", "tot": "jsonata"}]))

    async def act(rt: FlowRuntime) -> None:
        assert len(rt.nodes) == 1000
        rt.inject("in", {"payload": 0})

    rt = run_flow([node("in", "link in", [["n0"]]), *chain, node("d", "debug")], act,
                  settle=3.0)
    assert debug_values(rt, "d") == [998]


def test_a_node_that_always_throws_does_not_stop_the_others() -> None:
    async def act(rt: FlowRuntime) -> None:
        for i in range(20):
            rt.inject("in", {"payload": i})

    flow = [node("in", "link in", [["bad", "good"]]),
            node("bad", "function", [[]], outputs=1, func="throw new Error('broken ' + msg.payload);"),
            node("good", "debug"),
            node("c", "catch", [["errs"]], scope=["bad"]), node("errs", "debug", complete="error")]
    rt = run_flow(flow, act, settle=1.0)
    assert debug_values(rt, "good") == list(range(20))
    errors = debug_values(rt, "errs")
    assert len(errors) == 20 and errors[0]["message"].startswith("Error: broken 0")
