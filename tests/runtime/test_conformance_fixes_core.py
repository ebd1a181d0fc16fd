"""Regressions found by the Node-RED conformance test (tests/nodered): what a debug node
shows besides its debug output (its status, its log line), the error count Catch nodes
see, and the error text of a function that throws."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from runtime.engine import FlowRuntime
from runtime.nodes.core import inspect_js
from tests.runtime.conftest import debug_values, node, run_flow, statuses


def feed(*payloads: Any, gap: float = 0.02) -> Any:
    async def act(rt: FlowRuntime) -> None:
        for payload in payloads:
            rt.inject("in", payload if isinstance(payload, dict) else {"payload": payload})
            await asyncio.sleep(gap)

    return act


def debug_flow(**props: Any) -> list[dict[str, Any]]:
    return [node("in", "link in", [["d"]]), node("d", "debug", **props)]


def infos(rt: FlowRuntime, node_id: str) -> list[str]:
    return [e["text"] for e in rt.events
            if e["kind"] == "log" and e["level"] == "info" and e["id"] == node_id]


# -- debug: status ---------------------------------------------------------------------------
def test_debug_to_status_shows_the_value_and_sets_it_only_when_it_changes() -> None:
    rt = run_flow(debug_flow(tostatus=True, tosidebar=False),
                  feed("Hello, World!", "Hello, World!", 42, "x" * 40))
    assert statuses(rt, "d") == [
        {"fill": "grey", "shape": "dot", "text": "Hello, World!"},
        {"fill": "grey", "shape": "dot", "text": "42"},
        {"fill": "grey", "shape": "dot", "text": "x" * 32 + "..."}]
    assert debug_values(rt, "d") == []  # tosidebar false: nothing in the debug output


def test_debug_status_follows_errors_statuses_and_status_like_values() -> None:
    msgs: list[dict[str, Any]] = [{"payload": 1, "error": {"message": "it broke"}},
                                  {"payload": 2, "status": {"text": "from a status node"}},
                                  {"payload": {"fill": "green", "shape": "ring", "text": "ok"}}]
    rt = run_flow(debug_flow(tostatus=True, complete="true", targetType="full"), feed(*msgs))
    assert statuses(rt, "d") == [
        {"fill": "red", "shape": "dot", "text": "it broke"},
        {"fill": "grey", "shape": "ring", "text": "from a status node"},
        {"fill": "green", "shape": "ring", "text": "ok"}]
    assert [v["payload"] for v in debug_values(rt, "d")] == [1, 2, msgs[2]["payload"]]


def test_debug_status_of_another_property_and_the_counter() -> None:
    rt = run_flow(debug_flow(tostatus=True, statusType="msg", statusVal="topic"),
                  feed({"payload": 1, "topic": "t1"}))
    assert statuses(rt, "d") == [{"fill": "grey", "shape": "dot", "text": "t1"}]

    async def spaced(rt: FlowRuntime) -> None:
        for n in (1, 2, 3):
            await asyncio.sleep(0.15)
            rt.inject("in", {"payload": n})

    rt = run_flow(debug_flow(tostatus=True, statusType="counter"), spaced)
    assert [s["text"] for s in statuses(rt, "d")] == ["1", "2", "3"]
    assert statuses(rt, "d")[0] == {"fill": "blue", "shape": "ring", "text": "1"}
    # a burst right after the start: its count shows 0.2 s after its last message
    burst = run_flow(debug_flow(tostatus=True, statusType="counter"), feed(1, 2, 3, gap=0),
                     settle=0.4)
    assert [s["text"] for s in statuses(burst, "d")] == ["3"]


def test_a_status_node_hears_the_debug_status_and_a_debug_ignores_its_own() -> None:
    flow = [node("in", "link in", [["d"]]),
            node("d", "debug", tostatus=True),
            node("s", "status", [["d", "whole"]], scope=["d"]),
            node("whole", "debug", complete="true", targetType="full")]
    rt = run_flow(flow, feed("hi"))
    assert [v["status"] for v in debug_values(rt, "whole")] == [
        {"fill": "grey", "shape": "dot", "text": "hi",
         "source": {"id": "d", "type": "debug", "name": ""}}]
    assert debug_values(rt, "d") == ["hi"]  # its own status, wired back, is not shown
    assert statuses(rt, "d") == [{"fill": "grey", "shape": "dot", "text": "hi"}]


def test_an_inactive_debug_still_sets_its_status_and_logs() -> None:
    rt = run_flow(debug_flow(active=False, tostatus=True, console=True), feed("x"))
    assert debug_values(rt, "d") == []
    assert statuses(rt, "d") == [{"fill": "grey", "shape": "dot", "text": "x"}]
    assert infos(rt, "d") == ["x"]


# -- debug: console --------------------------------------------------------------------------
def test_debug_to_console_logs_the_value_as_node_red_prints_it() -> None:
    rt = run_flow(debug_flow(console=True, tosidebar=False),
                  feed("Hello, World!", "two\nlines", 1.5, True, {"payload": {"a": [1, "x"]}}))
    assert infos(rt, "d") == ["Hello, World!", "\ntwo\nlines", "1.5", "true",
                              "\n{ a: [ 1, 'x' ] }"]


@pytest.mark.parametrize(("value", "expected"), [
    (None, "undefined"), ("text", "text"), (3.0, "3"), (1e21, "1e+21"), (False, "false"),
    ([], "[]"), ({}, "{}"), (b"\x01\xff", "<Buffer 01 ff>"),
    ({"a": None, "b-c": "it's", "d": "x\ny"}, "{ a: null, 'b-c': \"it's\", d: 'x\\ny' }"),
    ({"a": {"b": {"c": {"d": 1}}}}, "{ a: { b: { c: [Object] } } }"),
    ([[[[1]]]], "[ [ [ [Array] ] ] ]"),
    ({"key": "v" * 40, "other": "w" * 30},
     "{\n  key: '" + "v" * 40 + "',\n  other: '" + "w" * 30 + "'\n}"),
])
def test_inspect_js_prints_like_node_util_inspect(value: Any, expected: str) -> None:
    assert inspect_js(value) == expected


# -- catch: the error count ------------------------------------------------------------------
def test_the_first_error_of_a_message_at_a_node_counts_1() -> None:
    flow = [node("in", "link in", [["parse"]]), node("parse", "json"),
            node("c", "catch", [["err"]], scope=["parse"]),
            node("err", "debug", complete="error")]
    rt = run_flow(flow, feed("{bad"))
    assert [e["source"]["count"] for e in debug_values(rt, "err")] == [1]


def test_a_message_failing_again_at_the_same_node_counts_up_and_stops_at_10() -> None:
    # the catch sends the failed message back into the same json node: count 1, 2, ... 9;
    # the 10th failure is dropped as a loop, as in Node-RED
    flow = [node("in", "link in", [["parse"]]), node("parse", "json"),
            node("c", "catch", [["parse", "err"]], scope=["parse"]),
            node("err", "debug", complete="error")]
    rt = run_flow(flow, feed("{bad"), settle=0.5)
    assert [e["source"]["count"] for e in debug_values(rt, "err")] == list(range(1, 10))
    assert any("message loop" in e.get("text", "") for e in rt.events if e["kind"] == "log")


# -- function: the text of a thrown error ----------------------------------------------------
def _thrower(func: str) -> list[dict[str, Any]]:
    return [node("in", "link in", [["fn"]]), node("fn", "function", func=func, outputs=0),
            node("c", "catch", [["caught"]], scope=["fn"]),
            node("caught", "debug", complete="error")]


@pytest.mark.parametrize(("func", "message"), [
    ('throw new Error("Error Occured!")', "Error: Error Occured!"),
    ("var a = 1;\nnull.x;", "TypeError: cannot read property 'x' of null"),
    ("var a = 1;\nreturn nosuch;", "ReferenceError: 'nosuch' is not defined (line 2)"),
    ('node.error("Oh no", msg);', "Oh no"),
])
def test_a_function_error_is_named_like_node_red_does(func: str, message: str) -> None:
    rt = run_flow(_thrower(func), feed("x"))
    assert [(e["message"], e["source"]["count"]) for e in debug_values(rt, "caught")] == [
        (message, 1)]


# -- the conformance driver's reading of statuses and log lines -----------------------------
def test_the_driver_compares_statuses_as_the_editor_gets_them() -> None:
    from tests.nodered.conformance import LOG_MARK, node_red_console, status_sequence

    # a blank status shows only where it clears one; unset fields are left out
    assert status_sequence([{"fill": "", "shape": "", "text": ""},
                            {"fill": "grey", "shape": "dot", "text": "a", "x": 1},
                            {}, {}, {"text": "b"}]) == [
        {"fill": "grey", "shape": "dot", "text": "a"}, {}, {"text": "b"}]
    lines = ["27 Nov 08:02:47 - [info] [debug:d1] hi", "08:02:47.727Z other module",
             LOG_MARK + '{"level":40,"type":"debug","id":"d1","msg":"\\n{ a: 1 }"}',
             LOG_MARK + '{"level":30,"type":"debug","id":"d1","msg":"a warning"}',
             LOG_MARK + '{"level":40,"type":"debug","id":"d2","msg":"not watched"}']
    assert node_red_console(lines, {"d1"}) == {"d1": ["\n{ a: 1 }"]}
