"""Delay, trigger, filter (rbe), split, join, batch and sort, run in real flows: messages go
into a link in node wired to the node under test, and come out at debug nodes.

Timing tests use short waits with generous margins: they check lower bounds (nothing
arrives early) and eventual results, never exact elapsed times.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import runtime.nodes.batching  # noqa: F401  (registers the node types under test)
from runtime.engine import FlowRuntime
from runtime.message import Message
from tests.runtime.conftest import debug_values, node, run_flow

Step = tuple[float, Message]
Action = Callable[[FlowRuntime], Awaitable[None]]


def _flow(type_: str, ports: int = 1, **props: Any) -> list[dict[str, Any]]:
    """link in "in" -> node "n" -> debug "d1" (and "d2" on a second output)."""
    wires = [["d1"], ["d2"]][:ports]
    return [node("in", "link in", [["n"]]), node("n", type_, wires, **props),
            node("d1", "debug", complete="true"), node("d2", "debug", complete="true")]


def _steps(*steps: Step | Message) -> Action:
    """Inject messages in order; a (seconds, msg) pair waits that long first."""

    async def act(rt: FlowRuntime) -> None:
        for step in steps:
            pause, msg = step if isinstance(step, tuple) else (0.0, step)
            if pause:
                await asyncio.sleep(pause)
            rt.inject("in", msg)

    return act


def _run(type_: str, steps: list[Step | Message], ports: int = 1, settle: float = 0.05,
         **props: Any) -> FlowRuntime:
    return run_flow(_flow(type_, ports, **props), _steps(*steps), settle=settle)


def _out(rt: FlowRuntime, node_id: str = "d1", key: str = "payload") -> list[Any]:
    return [value.get(key) for value in debug_values(rt, node_id)]


class _Clock:
    """Records when each debug message arrived, in seconds since `start`."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[float, str, Any]] = []
        self.t0 = 0.0

    def start(self, rt: FlowRuntime) -> None:
        loop = asyncio.get_running_loop()
        self.t0 = loop.time()

        def heard(event: dict[str, Any]) -> None:
            if event["kind"] == "debug":
                self.arrivals.append((loop.time() - self.t0, event["id"],
                                      event["value"].get("payload")))

        rt.listen(heard)

    def now(self) -> float:
        return asyncio.get_running_loop().time() - self.t0


def _p(*values: Any) -> list[Message]:
    """Messages with these payloads."""
    return [{"payload": v} for v in values]


def _logs(rt: FlowRuntime, level: str) -> list[str]:
    return [e["text"] for e in rt.events if e["kind"] == "log" and e["level"] == level]


# -- delay ------------------------------------------------------------------------------------
def test_delay_holds_each_message_for_the_timeout() -> None:
    clock = _Clock()
    seen_early: list[Any] = []

    async def act(rt: FlowRuntime) -> None:
        clock.start(rt)
        rt.inject("in", {"payload": "a"})
        await asyncio.sleep(0.03)
        seen_early.extend(debug_values(rt))

    rt = run_flow(_flow("delay", pauseType="delay", timeout="80", timeoutUnits="milliseconds"),
                  act, settle=0.3)
    assert seen_early == []
    assert _out(rt) == ["a"]
    assert clock.arrivals[0][0] >= 0.07


def test_delay_variable_takes_msg_delay_in_ms() -> None:
    rt = _run("delay", [{"payload": "slow", "delay": 150}, {"payload": "fast", "delay": "10"},
                        {"payload": "default"}],
              settle=0.35, pauseType="delayv", timeout="60", timeoutUnits="milliseconds")
    assert _out(rt) == ["fast", "default", "slow"]


def test_delay_random_waits_between_first_and_last() -> None:
    clock = _Clock()

    async def act(rt: FlowRuntime) -> None:
        clock.start(rt)
        for i in range(4):
            rt.inject("in", {"payload": i})

    rt = run_flow(_flow("delay", pauseType="random", randomFirst="20", randomLast="40",
                        randomUnits="milliseconds"), act, settle=0.3)
    assert sorted(_out(rt)) == [0, 1, 2, 3]
    assert min(t for t, _, _ in clock.arrivals) >= 0.015


def test_delay_reset_drops_what_is_waiting() -> None:
    rt = _run("delay", [{"payload": 1}, {"payload": 2}, (0.02, {"reset": True}),
                        (0.05, {"payload": 3})],
              settle=0.45, pauseType="delay", timeout="300", timeoutUnits="milliseconds")
    assert _out(rt) == [3]


def test_delay_flush_sends_the_first_n_or_all_now() -> None:
    seen: list[list[Any]] = []

    async def act(rt: FlowRuntime) -> None:
        for i in (1, 2, 3, 4):
            rt.inject("in", {"payload": i})
        await asyncio.sleep(0.02)
        rt.inject("in", {"flush": 2})
        await asyncio.sleep(0.03)
        seen.append(_out(rt))
        rt.inject("in", {"flush": True})

    rt = run_flow(_flow("delay", pauseType="delay", timeout="5", timeoutUnits="seconds"),
                  act, settle=0.05)
    assert seen == [[1, 2]]
    assert _out(rt) == [1, 2, 3, 4]


def test_delay_rate_queues_extra_messages_in_order() -> None:
    clock = _Clock()
    early: list[Any] = []

    async def act(rt: FlowRuntime) -> None:
        clock.start(rt)
        for i in (1, 2, 3):
            rt.inject("in", {"payload": i})
        await asyncio.sleep(0.04)
        early.extend(_out(rt))

    rt = run_flow(_flow("delay", pauseType="rate", rate="10", nbRateUnits="1",
                        rateUnits="second", drop=False), act, settle=0.6)
    assert early == [1]
    assert _out(rt) == [1, 2, 3]
    times = [t for t, _, _ in clock.arrivals]
    assert times[1] - times[0] >= 0.08 and times[2] - times[1] >= 0.08


def test_delay_rate_nb_units_stretches_the_interval() -> None:
    early: list[Any] = []

    async def act(rt: FlowRuntime) -> None:
        rt.inject("in", {"payload": 1})
        rt.inject("in", {"payload": 2})
        await asyncio.sleep(0.12)
        early.extend(_out(rt))

    # 2 messages per 0.4 s would be one every 200 ms.
    rt = run_flow(_flow("delay", pauseType="rate", rate="2", nbRateUnits="0.4",
                        rateUnits="second"), act, settle=0.35)
    assert early == [1]
    assert _out(rt) == [1, 2]


def test_delay_rate_drop_discards_or_sends_to_the_second_output() -> None:
    steps: list[Step | Message] = [{"payload": i} for i in range(1, 5)]
    steps.append((0.2, {"payload": 5}))
    dropped = _run("delay", steps, settle=0.05, pauseType="rate", rate="10",
                   rateUnits="second", drop=True)
    assert _out(dropped) == [1, 5]
    two = _run("delay", steps, ports=2, settle=0.05, pauseType="rate", rate="10",
               rateUnits="second", drop=True, outputs=2)
    assert _out(two) == [1, 5] and _out(two, "d2") == [2, 3, 4]


def test_delay_rate_reset_empties_the_queue_and_flush_sends_it() -> None:
    reset = _run("delay", [{"payload": 1}, {"payload": 2}, {"payload": 3}, (0.02, {"reset": 1}),
                           (0.3, {"payload": 4})],
                 settle=0.05, pauseType="rate", rate="5", rateUnits="second")
    assert _out(reset) == [1, 4]
    flushed = _run("delay", [{"payload": 1}, {"payload": 2}, {"payload": 3},
                             (0.02, {"flush": True})],
                   settle=0.05, pauseType="rate", rate="1", rateUnits="second")
    assert _out(flushed) == [1, 2, 3]


def test_delay_timed_sends_the_latest_per_topic_each_interval() -> None:
    rt = _run("delay", [{"topic": "a", "payload": 1}, {"topic": "b", "payload": 1},
                        {"topic": "a", "payload": 2}, {"payload": "none"}],
              settle=0.35, pauseType="timed", rate="10", rateUnits="second")
    got = [(v["topic"], v["payload"]) for v in debug_values(rt, "d1")]
    assert got == [("a", 2), ("b", 1), ("_none_", "none")]


def test_delay_queue_releases_one_topic_per_interval() -> None:
    clock = _Clock()

    async def act(rt: FlowRuntime) -> None:
        clock.start(rt)
        rt.inject("in", {"topic": "a", "payload": 1})
        rt.inject("in", {"topic": "b", "payload": 2})
        rt.inject("in", {"topic": "a", "payload": 3})

    rt = run_flow(_flow("delay", pauseType="queue", rate="10", rateUnits="second"), act,
                  settle=0.5)
    assert [(v["topic"], v["payload"]) for v in debug_values(rt, "d1")] == [("a", 3), ("b", 2)]
    assert clock.arrivals[1][0] - clock.arrivals[0][0] >= 0.06


# -- trigger ----------------------------------------------------------------------------------
def test_trigger_sends_op1_then_op2_and_blocks_meanwhile() -> None:
    rt = _run("trigger", [{"payload": "x", "topic": "t"}, {"payload": "y"}, {"payload": "z"}],
              settle=0.25, op1="1", op2="0", op1type="str", op2type="str", duration="60")
    assert _out(rt) == ["1", "0"]
    assert _out(rt, key="topic") == ["t", "t"]


def test_trigger_legacy_val_types_and_defaults() -> None:
    rt = _run("trigger", [{"payload": "x"}], settle=0.2, op1="true", op2="null",
              op1type="val", op2type="val", duration="30")
    assert _out(rt) == [True, None]
    plain = _run("trigger", [{"payload": "x"}], settle=0.4)  # "1", then "0" after 250 ms
    assert _out(plain) == ["1", "0"]


@pytest.mark.parametrize(("op1", "op1type", "op2", "op2type", "expected"), [
    ("5", "num", '{"a": [1]}', "json", [5, {"a": [1]}]),
    ("", "pay", "", "pay", ["orig", "orig"]),
    ("", "pay", "", "nul", ["orig"]),
    ("", "nul", "done", "str", ["done"]),
    ("{{topic}}-on", "str", "{{payload}}-off", "str", ["t1-on", "orig-off"]),
])
def test_trigger_value_types(op1: str, op1type: str, op2: str, op2type: str,
                             expected: list[Any]) -> None:
    rt = _run("trigger", [{"payload": "orig", "topic": "t1"}], settle=0.2, op1=op1,
              op1type=op1type, op2=op2, op2type=op2type, duration="30")
    assert _out(rt) == expected


def test_trigger_date_and_context_values() -> None:
    async def act(rt: FlowRuntime) -> None:
        rt.nodes["n"].context.flow().set("level", 7)
        rt.inject("in", {"payload": 1})
        await asyncio.sleep(0.01)
        rt.nodes["n"].context.flow().set("level", 9)

    rt = run_flow(_flow("trigger", op1="1", op1type="date", op2="level", op2type="flow",
                        duration="40"), act, settle=0.2)
    first, second = _out(rt)
    assert isinstance(first, int) and first > 1_600_000_000_000
    assert second == 9  # flow values are read when the time is up


def test_trigger_extend_restarts_the_wait() -> None:
    clock = _Clock()
    last: list[float] = []

    async def act(rt: FlowRuntime) -> None:
        clock.start(rt)
        for i in range(3):
            rt.inject("in", {"payload": i})
            last[:] = [clock.now()]
            await asyncio.sleep(0.02)

    rt = run_flow(_flow("trigger", op1="on", op2="off", op1type="str", op2type="str",
                        duration="250", extend=True), act, settle=0.45)
    assert _out(rt) == ["on", "off"]
    off_at = next(t for t, _, p in clock.arrivals if p == "off")
    assert off_at - last[0] >= 0.23


def test_trigger_duration_zero_waits_for_a_reset() -> None:
    rt = _run("trigger", [{"payload": "a"}, {"payload": "b"}, (0.05, {"reset": True}),
                          {"payload": "c"}, {"payload": "d"}],
              settle=0.1, op1="", op1type="pay", op2="0", op2type="str", duration="0")
    assert _out(rt) == ["a", "c"]


def test_trigger_reset_by_payload_value_stops_op2() -> None:
    rt = _run("trigger", [{"payload": "go"}, (0.02, {"payload": "stop"})], settle=0.2,
              op1="1", op2="0", op1type="str", op2type="str", duration="150", reset="stop")
    assert _out(rt) == ["1"]


def test_trigger_by_topic_and_second_output() -> None:
    rt = _run("trigger", [{"topic": "a", "payload": 1}, {"topic": "b", "payload": 2},
                          {"topic": "a", "payload": 3}],
              ports=2, settle=0.2, op1="", op1type="pay", op2="", op2type="payl",
              duration="40", bytopic="topic", topic="topic", outputs=2)
    assert sorted(_out(rt)) == [1, 2]
    assert sorted(zip(_out(rt, "d2", "topic"), _out(rt, "d2"), strict=True)) == [("a", 3),
                                                                                   ("b", 2)]


def test_trigger_latest_message_is_sent_whole_with_payl() -> None:
    rt = _run("trigger", [{"payload": 1, "first": True}, {"payload": 2, "second": True}],
              settle=0.2, op1="1", op1type="str", op2="", op2type="payl", duration="40")
    first, last = debug_values(rt, "d1")
    assert first["payload"] == "1" and first["first"] is True
    assert last["payload"] == 2 and last["second"] is True and "first" not in last


def test_trigger_units_and_override_delay() -> None:
    clock = _Clock()

    async def act(rt: FlowRuntime) -> None:
        clock.start(rt)
        rt.inject("in", {"payload": 1, "delay": 40})

    rt = run_flow(_flow("trigger", op1="1", op2="0", op1type="str", op2type="str",
                        duration="1", units="hr", overrideDelay=True), act, settle=0.25)
    assert _out(rt) == ["1", "0"]
    assert clock.arrivals[1][0] >= 0.035
    seconds = _run("trigger", [{"payload": 1}], settle=0.25, op1="1", op2="0",
                   op1type="str", op2type="str", duration="0.05", units="s")
    assert _out(seconds) == ["1", "0"]


def test_trigger_negative_duration_repeats_until_reset() -> None:
    counts: list[int] = []

    async def act(rt: FlowRuntime) -> None:
        rt.inject("in", {"payload": 1})
        await asyncio.sleep(0.2)
        rt.inject("in", {"reset": True})
        await asyncio.sleep(0.02)
        counts.append(len(debug_values(rt)))

    rt = run_flow(_flow("trigger", op1="tick", op1type="str", op2="0", op2type="str",
                        duration="-30"), act, settle=0.15)
    assert counts[0] >= 3
    assert len(debug_values(rt)) == counts[0]
    assert set(_out(rt)) == {"tick"}


def test_trigger_bad_json_goes_to_catch() -> None:
    flow = [*_flow("trigger", op1="{bad", op1type="json", op2="0", op2type="str",
                   duration="20"),
            node("c", "catch", [["err"]], scope=None), node("err", "debug", complete="error")]
    rt = run_flow(flow, _steps({"payload": 1}), settle=0.1)
    [error] = debug_values(rt, "err")
    assert "invalid JSON" in error["message"] and error["source"]["id"] == "n"
    assert debug_values(rt, "d1") == []


# -- filter (rbe) -----------------------------------------------------------------------------
def _rbe(messages: list[Message], **props: Any) -> list[Any]:
    return _out(_run("rbe", list(messages), **props))


@pytest.mark.parametrize(("props", "values", "expected"), [
    ({"func": "rbe"}, [1, 1, 2, 2, "2", 1, True, True], [1, 2, "2", 1, True]),
    ({"func": "rbei"}, [1, 1, 2, 2, 3], [2, 3]),
    ({"func": "rbe"}, [{"a": 1}, {"a": 1}, {"a": 2}, [1], [1]], [{"a": 1}, {"a": 2}, [1]]),
    ({"func": "deadband", "gap": "5"}, [10, 12, 16, 14, 22], [10, 16, 22]),
    ({"func": "deadband", "gap": "5", "inout": "in"}, [10, 12, 16, 14, 22], [10, 22]),
    ({"func": "deadbandEq", "gap": "5"}, [10, 15, 19, 20], [10, 15, 20]),
    ({"func": "deadband", "gap": "10%"}, [100, 105, 111, 120], [100, 111]),
    ({"func": "narrowband", "gap": "5"}, [10, 12, 30, 13], [10, 12, 13]),
    ({"func": "narrowbandEq", "gap": "5", "start": "20"}, [10, 24, 30], [24]),
    ({"func": "deadband", "gap": "2"}, ["10 kW", "11.5", "13"], ["10 kW", "13"]),
])
def test_rbe_modes(props: dict[str, Any], values: list[Any], expected: list[Any]) -> None:
    assert _rbe(_p(*values), **props) == expected


def test_rbe_keeps_a_history_per_topic_unless_told_not_to() -> None:
    values = [{"topic": "a", "payload": 1}, {"topic": "b", "payload": 1},
              {"topic": "a", "payload": 1}, {"topic": "b", "payload": 2}]
    assert _rbe(values) == [1, 1, 2]
    assert _rbe(values, septopics=False) == [1, 2]


def test_rbe_reset_forgets_the_topic_read_from_topi() -> None:
    values = [{"name": "a", "payload": 1}, {"name": "b", "payload": 1},
              {"name": "a", "reset": True}, {"name": "a", "payload": 1},
              {"name": "b", "payload": 1}]
    assert _rbe(values, topi="name") == [1, 1, 1]


def test_rbe_reset_property_and_no_number_warning() -> None:
    assert _rbe([{"payload": 1}, {"reset": True, "payload": 1}, {"payload": 1}]) == [1, 1]
    assert _rbe([{"payload": {"v": 1}}, {"payload": {"v": 1, "w": 2}}, {"other": 1}],
                property="payload.v") == [{"v": 1}]
    rt = _run("rbe", [{"payload": "abc"}], func="deadband", gap="1")
    assert _out(rt) == [] and _logs(rt, "warn") == ["no number found in payload"]


# -- split ------------------------------------------------------------------------------------
def _parts(rt: FlowRuntime) -> list[dict[str, Any]]:
    return [v["parts"] for v in debug_values(rt, "d1")]


def test_split_a_string_at_newlines_by_default() -> None:
    rt = _run("split", [{"payload": "a\nb\nc", "topic": "t"}])
    assert _out(rt) == ["a", "b", "c"] and _out(rt, key="topic") == ["t", "t", "t"]
    parts = _parts(rt)
    assert len({p["id"] for p in parts}) == 1
    assert [(p["index"], p["count"], p["type"], p["ch"]) for p in parts] == [
        (0, 3, "string", "\n"), (1, 3, "string", "\n"), (2, 3, "string", "\n")]
    assert len({v["_msgid"] for v in debug_values(rt)}) == 3


@pytest.mark.parametrize(("props", "payload", "expected", "extra"), [
    ({"splt": ","}, "1,2,,3", ["1", "2", "", "3"], {"ch": ","}),
    ({"spltType": "len", "splt": "3"}, "abcdefg", ["abc", "def", "g"], {"ch": "", "len": 3}),
    ({"spltType": "bin", "splt": "[44]"}, b"a,b", [b"a", b"b"], {"ch": [44], "type": "buffer"}),
    ({"splt": "\\t"}, "x\ty", ["x", "y"], {"ch": "\t"}),
    ({"arraySplt": 2}, [1, 2, 3, 4, 5], [[1, 2], [3, 4], [5]], {"len": 2, "type": "array"}),
    ({}, [7, 8], [7, 8], {"len": 1, "type": "array", "count": 2}),
])
def test_split_modes(props: dict[str, Any], payload: Any, expected: list[Any],
                     extra: dict[str, Any]) -> None:
    rt = _run("split", [{"payload": payload}], **props)
    assert _out(rt) == expected
    for index, parts in enumerate(_parts(rt)):
        assert parts["index"] == index and parts["count"] == len(expected)
        assert {k: parts[k] for k in extra} == extra


def test_split_an_object_into_key_value_messages() -> None:
    rt = _run("split", [{"payload": {"a": 1, "b": {"c": 2}}}], addname="topic")
    assert _out(rt) == [1, {"c": 2}] and _out(rt, key="topic") == ["a", "b"]
    assert [(p["key"], p["index"], p["count"], p["type"]) for p in _parts(rt)] == [
        ("a", 0, 2, "object"), ("b", 1, 2, "object")]


def test_split_stream_keeps_the_tail_for_the_next_message() -> None:
    rt = _run("split", [{"payload": "a\nb"}, {"payload": "c\nd\n"}], stream=True)
    assert _out(rt) == ["a", "bc", "d"]
    assert [p["index"] for p in _parts(rt)] == [0, 1, 2]
    assert all("count" not in p for p in _parts(rt))


def test_split_other_property_and_nested_parts() -> None:
    rt = _run("split", [{"data": "x y", "parts": {"id": "outer", "index": 4, "count": 9}}],
              property="data", splt=" ")
    assert _out(rt, key="data") == ["x", "y"]
    for parts in _parts(rt):
        assert parts["property"] == "data"
        assert parts["parts"] == {"id": "outer", "index": 4, "count": 9}


# -- join -------------------------------------------------------------------------------------
def _split_join(payload: Any, split: dict[str, Any], join: dict[str, Any] | None = None
                ) -> list[Message]:
    flow = [node("in", "link in", [["s"]]), node("s", "split", [["j"]], **split),
            node("j", "join", [["d1"]], **(join or {"mode": "auto"})),
            node("d1", "debug", complete="true")]
    return debug_values(run_flow(flow, _steps({"payload": payload, "topic": "t"}),
                                 settle=0.05), "d1")


@pytest.mark.parametrize(("payload", "split"), [
    ("a\nb\nc", {}),
    ("a, b, c", {"splt": ", "}),
    ("abcdefgh", {"spltType": "len", "splt": "3"}),
    ([1, 2, 3, 4, 5], {"arraySplt": 2}),
    ([1, [2], {"x": 3}], {}),
    ({"a": 1, "b": [2]}, {}),
    (b"ab\ncd", {}),
    (b"ab;cd", {"spltType": "bin", "splt": "[59]"}),
])
def test_split_then_join_auto_gives_back_the_original(payload: Any,
                                                      split: dict[str, Any]) -> None:
    [joined] = _split_join(payload, split)
    assert joined["payload"] == payload
    assert joined["topic"] == "t" and "parts" not in joined


def test_nested_split_joins_back_in_two_steps() -> None:
    flow = [node("in", "link in", [["s1"]]), node("s1", "split", [["s2"]]),
            node("s2", "split", [["j1"]], splt=","), node("j1", "join", [["j2"]]),
            node("j2", "join", [["d1"]]), node("d1", "debug", complete="true")]
    rt = run_flow(flow, _steps({"payload": ["a,b", "c"]}), settle=0.05)
    assert _out(rt) == [["a,b", "c"]]


def test_join_auto_without_parts_warns() -> None:
    rt = _run("join", [{"payload": 1}], mode="auto")
    assert _out(rt) == []
    assert _logs(rt, "warn") == ["Message missing msg.parts property - cannot join in "
                                 "'auto' mode"]


@pytest.mark.parametrize(("props", "messages", "expected"), [
    ({"build": "string", "joiner": ",", "count": "3"}, _p(1, "b", True, 4), ["1,b,true"]),
    ({"build": "string", "joiner": "\\n", "count": "2"}, _p("x", "y"), ["x\ny"]),
    # numbers print as JavaScript prints them (not 1e-06)
    ({"build": "string", "joiner": ",", "count": "2"}, _p(0.000001, 1e21), ["0.000001,1e+21"]),
    ({"build": "array", "count": "2"}, _p(1, [2], 3, 4), [[1, [2]], [3, 4]]),
    ({"build": "buffer", "count": "2", "joiner": "[45]", "joinerType": "bin"},
     _p(b"ab", "cd"), [b"ab-cd"]),
    ({"build": "object", "count": "2"}, [{"topic": "x", "payload": 1},
                                         {"topic": "y", "payload": 2}], [{"x": 1, "y": 2}]),
    ({"build": "object", "count": "2", "key": "name"},
     [{"name": "x", "payload": 1}, {"name": "x", "payload": 3}, {"name": "z", "payload": 2}],
     [{"x": 3, "z": 2}]),
    # merged counts the keys of the object built so far
    ({"build": "merged", "count": "2"}, _p({"a": 1}, {"a": 0, "b": 2}, {"c": 1, "d": 1}),
     [{"a": 0, "b": 2}, {"c": 1, "d": 1}]),
])
def test_join_custom_builds(props: dict[str, Any], messages: list[Message],
                            expected: list[Any]) -> None:
    rt = _run("join", list(messages), mode="custom", **props)
    assert _out(rt) == expected


def test_join_custom_reads_another_property() -> None:
    rt = _run("join", [{"value": 1}, {"other": 0}, {"value": 2}], mode="custom",
              build="array", count="2", property="value")
    assert _out(rt, key="value") == [[1, 2]]


def test_join_custom_completes_on_msg_complete_and_on_timeout() -> None:
    rt = _run("join", [{"payload": 1}, {"payload": 2}, {"payload": 3, "complete": True},
                       {"payload": 4}, {"complete": True}],
              mode="custom", build="array", count="")
    assert _out(rt) == [[1, 2, 3], [4]]
    assert all("complete" not in v for v in debug_values(rt))
    early: list[Any] = []

    async def act(rt: FlowRuntime) -> None:
        rt.inject("in", {"payload": "a"})
        rt.inject("in", {"payload": "b"})
        await asyncio.sleep(0.02)
        early.extend(debug_values(rt))

    timed = run_flow(_flow("join", mode="custom", build="array", count="", timeout="0.08"),
                     act, settle=0.25)
    assert early == [] and _out(timed) == [["a", "b"]]


def test_join_accumulate_reset_and_whole_messages() -> None:
    acc = _run("join", [{"payload": i} for i in (1, 2, 3)], mode="custom", build="array",
               count="2", accumulate=True)
    assert _out(acc) == [[1, 2], [1, 2, 3]]
    reset = _run("join", [{"payload": 1}, {"reset": True}, {"payload": 2}, {"payload": 3}],
                 mode="custom", build="array", count="2")
    assert _out(reset) == [[2, 3]]
    whole = _run("join", [{"payload": 1, "topic": "a"}, {"payload": 2, "topic": "b"}],
                 mode="custom", build="array", count="2", propertyType="full")
    [joined] = _out(whole)
    assert [(m["topic"], m["payload"]) for m in joined] == [("a", 1), ("b", 2)]


def test_join_custom_can_use_the_parts_count() -> None:
    joined = _split_join([1, 2, 3], {}, {"mode": "custom", "build": "array", "count": "",
                                         "useparts": True})
    assert [m["payload"] for m in joined] == [[1, 2, 3]]
    ignored = _split_join([1, 2, 3], {}, {"mode": "custom", "build": "array", "count": "",
                                          "useparts": False})
    assert ignored == []  # no count, and the parts are ignored: nothing completes


@pytest.mark.parametrize(("join", "expected"), [
    ({"reduceExp": "$A + payload", "reduceInit": "0", "reduceInitType": "num"}, 10),
    ({"reduceExp": "$A + payload", "reduceInit": "0", "reduceInitType": "num",
      "reduceFixup": "$A / $N"}, 2.5),
    ({"reduceExp": "$append($A, payload * $I)", "reduceInit": "[]",
      "reduceInitType": "json", "reduceRight": True}, [12, 6, 2, 0]),
])
def test_join_reduce_folds_a_sequence(join: dict[str, Any], expected: Any) -> None:
    [reduced] = _split_join([1, 2, 3, 4], {}, {"mode": "reduce", **join})
    assert reduced["payload"] == expected


# -- batch ------------------------------------------------------------------------------------
def test_batch_by_count_makes_sequences() -> None:
    rt = _run("batch", [{"payload": i} for i in range(1, 8)], mode="count", count="3")
    assert _out(rt) == [1, 2, 3, 4, 5, 6]
    parts = _parts(rt)
    assert [(p["index"], p["count"]) for p in parts] == [(0, 3), (1, 3), (2, 3)] * 2
    assert parts[0]["id"] == parts[2]["id"] != parts[3]["id"]


def test_batch_overlap_repeats_the_tail() -> None:
    rt = _run("batch", [{"payload": i} for i in range(1, 6)], mode="count", count="3",
              overlap="1")
    assert _out(rt) == [1, 2, 3, 3, 4, 5]


def test_batch_then_join_and_reset() -> None:
    flow = [node("in", "link in", [["b"]]), node("b", "batch", [["j"]], count="2"),
            node("j", "join", [["d1"]]), node("d1", "debug", complete="true")]
    steps = _steps({"payload": 1}, {"reset": True}, {"payload": 2}, {"payload": 3},
                   {"payload": 4}, {"payload": 5})
    assert _out(run_flow(flow, steps, settle=0.05)) == [[2, 3], [4, 5]]


def test_batch_by_interval_and_empty_sequences() -> None:
    early: list[Any] = []

    async def act(rt: FlowRuntime) -> None:
        for i in (1, 2, 3):
            rt.inject("in", {"payload": i})
        await asyncio.sleep(0.03)
        early.extend(debug_values(rt))

    rt = run_flow(_flow("batch", mode="interval", interval="0.1", allowEmptySequence=True),
                  act, settle=0.4)
    assert early == []
    values = debug_values(rt)
    assert [v["payload"] for v in values[:3]] == [1, 2, 3]
    assert [v["parts"]["count"] for v in values[:3]] == [3, 3, 3]
    assert len(values) >= 4
    assert all(v["payload"] is None and v["parts"]["count"] == 1 for v in values[3:])


def test_batch_refuses_an_overlap_as_large_as_the_count() -> None:
    rt = _run("batch", [{"payload": 1}], mode="count", count="2", overlap="2")
    assert _out(rt) == [] and "Invalid count and overlap" in _logs(rt, "error")


def _seq(topic: str, group: str, *values: Any) -> list[Message]:
    """A finished sequence of `values` under msg.topic `topic`."""
    return [{"topic": topic, "payload": v, "parts": {"id": group, "index": i,
                                                     "count": len(values)}}
            for i, v in enumerate(values)]


def test_batch_concat_sends_one_sequence_per_topic_in_the_listed_order() -> None:
    steps: list[Step | Message] = [*_seq("POS", "p1", 1, 7), *_seq("NEG", "n1", -6, -8),
                                   {"topic": "X", "payload": 0},
                                   *_seq("NEG", "n2", -1)]  # waits for a second POS one
    rt = _run("batch", steps, mode="concat", topics=[{"topic": "NEG"}, {"topic": "POS"}])
    assert _out(rt) == [-6, -8, 1, 7]
    parts = _parts(rt)
    assert [(p["index"], p["count"]) for p in parts] == [(0, 4), (1, 4), (2, 4), (3, 4)]
    assert len({p["id"] for p in parts}) == 1


def test_batch_concat_waits_for_complete_sequences_and_a_topic_listed_twice() -> None:
    flow = [node("in", "link in", [["b"]]),
            node("b", "batch", [["j"]], mode="concat", topics=[{"topic": "S"}, {"topic": "S"}]),
            node("j", "join", [["d1"]], mode="auto"), node("d1", "debug", complete="true")]
    seq = _seq("S", "s1", 1, 2, 3)
    for msg in seq:
        msg["parts"]["type"] = "array"
    early = _seq("S", "s0", 9, 9)[:1]  # never completed: holds the others back
    rt = run_flow(flow, _steps(*seq), settle=0.05)
    assert _out(rt) == [[1, 2, 3, 1, 2, 3]]
    blocked = run_flow(flow, _steps(*early, *seq), settle=0.05)
    assert _out(blocked) == []


def test_batch_concat_needs_parts() -> None:
    flow = [*_flow("batch", mode="concat", topics=[{"topic": "T"}]),
            node("c", "catch", [["d2"]])]
    rt = run_flow(flow, _steps({"topic": "T", "payload": 1}), settle=0.05)
    assert _out(rt) == []
    assert [e["error"]["message"] for e in debug_values(rt, "d2")] == [
        "no parts property in message"]


# -- sort -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("props", "payload", "expected"), [
    ({}, [3, 1, 2], [1, 2, 3]),
    ({"order": "descending"}, [3, 1, 2], [3, 2, 1]),
    ({}, ["10", "9", "100"], ["10", "100", "9"]),
    ({"as_num": True}, ["10", "9", "100"], ["9", "10", "100"]),
    ({"as_num": True}, ["0x20", "0x10", "17"], ["0x10", "17", "0x20"]),  # Number("0x10") is 16
    ({"msgKey": "v", "msgKeyType": "jsonata"}, [{"v": 2}, {"v": 1}], [{"v": 1}, {"v": 2}]),
    ({"msgKey": "$length(n)", "msgKeyType": "jsonata", "order": "descending"},
     [{"n": "a"}, {"n": "ccc"}, {"n": "bb"}], [{"n": "ccc"}, {"n": "bb"}, {"n": "a"}]),
])
def test_sort_an_array_property(props: dict[str, Any], payload: list[Any],
                                expected: list[Any]) -> None:
    rt = _run("sort", [{"payload": payload}], target="payload", targetType="msg", **props)
    assert _out(rt) == [expected]


def test_sort_ignores_a_message_without_an_array() -> None:
    rt = _run("sort", [{"payload": "not a list"}], target="payload", targetType="msg")
    assert _out(rt) == []


@pytest.mark.parametrize(("props", "expected"), [
    ({}, [1, 2, 3, 5]),
    ({"order": "descending"}, [5, 3, 2, 1]),
    ({"seqKey": "-payload", "seqKeyType": "jsonata"}, [5, 3, 2, 1]),
])
def test_sort_a_sequence(props: dict[str, Any], expected: list[Any]) -> None:
    flow = [node("in", "link in", [["s"]]), node("s", "split", [["o"]]),
            node("o", "sort", [["d1", "j"]], targetType="seq", **props),
            node("j", "join", [["d2"]]), node("d1", "debug", complete="true"),
            node("d2", "debug", complete="true")]
    rt = run_flow(flow, _steps({"payload": [3, 1, 5, 2]}), settle=0.05)
    assert _out(rt) == expected
    assert [p["index"] for p in _parts(rt)] == [0, 1, 2, 3]
    assert _out(rt, "d2") == [expected]
