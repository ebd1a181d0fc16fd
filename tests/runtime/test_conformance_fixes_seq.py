"""Regressions found by the Node-RED conformance run (tests/nodered): the switch node's
sequence repair, and the conformance driver's handling of timers and sequence ids."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from runtime.engine import FlowRuntime
from runtime.message import Message
from runtime.nodes import batching, logic  # noqa: F401  (register split, join; switch)
from tests.nodered.conformance import label_sequence_ids, timing
from tests.runtime.conftest import debug_values, node, run_flow


def _switch_flow(rules: list[dict[str, Any]], **props: Any) -> list[dict[str, Any]]:
    """link in -> switch "s" (one output per rule) -> debug "d0", "d1", ..."""
    outs = [f"d{i}" for i in range(len(rules))]
    return [node("in", "link in", [["s"]]),
            node("s", "switch", [[d] for d in outs], property="payload", rules=rules,
                 checkall="true", outputs=len(rules), **props),
            *(node(d, "debug", complete="true") for d in outs)]


def _feed(*msgs: Message) -> Any:
    async def act(rt: FlowRuntime) -> None:
        for msg in msgs:
            rt.inject("in", msg)

    return act


def _sequence(*values: Any, group: str = "g", counted: bool = True) -> list[Message]:
    """A sequence's messages; without `counted`, only the last one carries parts.count."""
    return [{"payload": v, "parts": {"id": group, "index": i,
                                     **({"count": len(values)}
                                        if counted or i == len(values) - 1 else {})}}
            for i, v in enumerate(values)]


POSITIVE_ELSE = [{"t": "gt", "v": "0", "vt": "str"}, {"t": "else"}]


def test_switch_repair_makes_each_output_a_sequence_of_its_own() -> None:
    rt = run_flow(_switch_flow(POSITIVE_ELSE, repair=True),
                  _feed(*_sequence(3, -2, -1, 1, -3, 2)), settle=0.05)
    pos, neg = debug_values(rt, "d0"), debug_values(rt, "d1")
    assert [m["payload"] for m in pos] == [3, 1, 2]  # 3 > "0" compares as numbers
    assert [m["payload"] for m in neg] == [-2, -1, -3]
    for out in (pos, neg):
        assert [(m["parts"]["index"], m["parts"]["count"]) for m in out] == [(0, 3), (1, 3),
                                                                             (2, 3)]
        assert len({m["parts"]["id"] for m in out}) == 1
    assert len({pos[0]["parts"]["id"], neg[0]["parts"]["id"], "g"}) == 3


def test_switch_repair_then_join_puts_each_output_back_together() -> None:
    flow = [node("in", "link in", [["sp"]]), node("sp", "split", [["s"]]),
            node("s", "switch", [["j0"], ["j1"]], property="payload", rules=POSITIVE_ELSE,
                 checkall="true", repair=True, outputs=2),
            node("j0", "join", [["d0"]], mode="auto"), node("j1", "join", [["d1"]], mode="auto"),
            node("d0", "debug"), node("d1", "debug")]
    rt = run_flow(flow, _feed({"payload": [3, -2, -1, 1, -3, 2]}), settle=0.1)
    assert debug_values(rt, "d0") == [[3, 1, 2]]
    assert debug_values(rt, "d1") == [[-2, -1, -3]]


def test_switch_repair_waits_for_the_whole_sequence_and_fills_in_its_count() -> None:
    held: list[Any] = []

    async def act(rt: FlowRuntime) -> None:
        first, second, last = _sequence("a", "b", "c", counted=False)
        for msg in (first, second):
            rt.inject("in", msg)
        await asyncio.sleep(0.05)
        held.extend(debug_values(rt))
        rt.inject("in", last)

    rules = [{"t": "eq", "v": "b", "vt": "str"}, {"t": "else"}]
    rt = run_flow(_switch_flow(rules, repair=True), act, settle=0.05)
    assert held == []
    assert [(m["payload"], m["parts"]["count"]) for m in debug_values(rt, "d1")] == [
        ("a", 2), ("c", 2)]
    assert [(m["payload"], m["parts"]["count"]) for m in debug_values(rt, "d0")] == [("b", 1)]


def test_switch_tail_rule_holds_the_sequence_but_keeps_its_parts() -> None:
    rules = [{"t": "tail", "v": "2", "vt": "num"}]
    rt = run_flow(_switch_flow(rules), _feed(*_sequence(1, 2, 3, counted=False)), settle=0.05)
    out = debug_values(rt, "d0")
    assert [m["payload"] for m in out] == [2, 3]
    assert [m["parts"] for m in out] == [{"id": "g", "index": 1, "count": 3},
                                         {"id": "g", "index": 2, "count": 3}]


def test_switch_without_repair_routes_sequence_messages_at_once() -> None:
    first = {"payload": 1, "parts": {"id": "g", "index": 0}}  # its count is still unknown
    rt = run_flow(_switch_flow(POSITIVE_ELSE), _feed(first), settle=0.05)
    assert [m["parts"] for m in debug_values(rt, "d0")] == [{"id": "g", "index": 0}]


# -- the conformance driver -------------------------------------------------------------------
def _n(type_: str, **props: Any) -> dict[str, Any]:
    return {"id": type_, "type": type_, **props}


@pytest.mark.parametrize(("flow", "expected"), [
    ([_n("inject"), _n("debug")], (0.0, 4.0, 0.8)),
    ([_n("join", mode="custom", timeout="2")], (0.0, 32.4, 2.7)),
    ([_n("join", mode="auto", timeout="2")], (0.0, 4.0, 0.8)),  # auto mode has no timeout
    ([_n("batch", mode="interval", interval="5"),
      _n("delay", pauseType="rate", rate="1", nbRateUnits="1", rateUnits="second")],
     (0.25, 68.4, 5.7)),
    ([_n("delay", pauseType="timed", rate="1", nbRateUnits="2", rateUnits="second")],
     (0.25, 32.4, 2.7)),
    ([_n("trigger", duration="250", units="ms")], (0.0, 11.4, 0.95)),
    ([_n("delay", pauseType="delay", timeout="1", timeoutUnits="minutes")], (0.0, 4.0, 0.8)),
    ([_n("trigger", duration="2", units="s"), _n("inject", repeat="5")], (0.0, 4.0, 0.8)),
    ([_n("trigger", duration="2", units="s"), {**_n("trigger", duration="-2", units="s"),
                                               "id": "loop"}], (0.0, 4.0, 0.8)),
    ([_n("trigger", duration="3", units="s", d=True)], (0.0, 4.0, 0.8)),
])
def test_driver_waits_past_the_longest_timer(flow: list[dict[str, Any]],
                                             expected: tuple[float, float, float]) -> None:
    assert timing(flow, 4.0, 0.8) == pytest.approx(expected)


def test_driver_labels_sequence_ids_by_first_appearance() -> None:
    shown = [{"payload": {"id": "keep"}, "parts": {"id": "x9", "index": 0}},
             {"parts": {"id": "y7", "index": 0, "parts": {"id": "x9"}}},
             "text", {"parts": {"id": "x9", "index": 1}}]
    assert label_sequence_ids(shown) == [
        {"payload": {"id": "keep"}, "parts": {"id": "<sequence 1>", "index": 0}},
        {"parts": {"id": "<sequence 2>", "index": 0, "parts": {"id": "<sequence 1>"}}},
        "text", {"parts": {"id": "<sequence 1>", "index": 1}}]
