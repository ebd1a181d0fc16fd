"""Typed values (`str`, `num`, `json`, `flow`, `jsonata`...) read by runtime.values.evaluate,
the one reader every node uses: first the reader itself, then the nodes outside change and
switch that read typed values (inject, debug, file, trigger, join, sort) in real flows."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any

import pytest

from runtime.engine import FlowRuntime
from runtime.message import Message
from runtime.node import Node
from runtime.values import ValueError_, evaluate
from tests.runtime.conftest import debug_values, node, run_flow, statuses

FLOW = {"f": {"n": 7, "list": [1, 2], "none": None}, "dir": ""}
GLOBAL = {"g": "glob"}
ENV = {"PLUMB_X": "from-env"}


def with_context(rt: FlowRuntime, **flow: Any) -> None:
    for key, value in {**FLOW, **flow}.items():
        rt.context_store.set("flow:tab1", key, value)
    for key, value in GLOBAL.items():
        rt.context_store.set("global", key, value)
    rt.env.update(ENV)


def a_node() -> Node:
    rt = FlowRuntime()
    with_context(rt)
    return Node({"id": "n1", "type": "inject", "z": "tab1"}, rt)


# -- the reader -------------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "kind", "expected"), [
    ("text", "str", "text"),
    (None, "str", ""),
    ("text", "string", "text"),  # older editors spell types out
    ("42", "num", 42),
    ("2.5", "num", 2.5),
    ("1.0", "num", 1),  # Number("1.0") is 1
    ("0x10", "num", 16),
    (" 7 ", "num", 7),
    ("", "num", 0),
    ("TRUE", "bool", True),
    ("yes", "bool", False),
    ('{"a": [1, null]}', "json", {"a": [1, None]}),
    ({"a": 1}, "json", {"a": 1}),  # already parsed (a flow written by a program)
    ("[1, 2, 255]", "bin", b"\x01\x02\xff"),
    ('"hé"', "bin", "hé".encode()),
    ([1, 2], "bin", b"\x01\x02"),
    ("payload.a", "msg", 5),
    ("f", "flow", FLOW["f"]),
    ("f.list[1]", "flow", 2),  # nested keys, as flow.get("f.list[1]")
    ("#:(memory)::f.n", "flow", 7),  # a store prefix is accepted (one store)
    ("f.missing.x", "flow", None),
    ("g", "global", "glob"),
    ("PLUMB_X", "env", "from-env"),
    ("payload.a * 2", "jsonata", 10),
    ("msg.payload.a + 1", "jsonata", 6),  # naming msg: evaluated against {msg: message}
    ("$flowContext('f.list[0]') & $globalContext('g') & $env('PLUMB_X')", "jsonata",
     "1globfrom-env"),
    ("$moment(86400000).utc().format('YYYY-MM-DD')", "jsonata", "1970-01-02"),
    ("nothing", "jsonata", None),
])
def test_evaluate_reads_every_type(value: Any, kind: str, expected: Any) -> None:
    result = evaluate(value, kind, a_node(), {"payload": {"a": 5}})
    assert result == expected
    assert type(result) is type(expected)


def test_evaluate_num_is_javascripts_number() -> None:
    assert math.isnan(evaluate("abc", "num", a_node(), None))
    assert evaluate("1e3", "num", a_node(), None) == 1000


def test_evaluate_date_and_re() -> None:
    assert evaluate("", "date", a_node(), None) > 1_600_000_000_000
    assert evaluate("a+b", "re", a_node(), None).search("xaab")


@pytest.mark.parametrize(("value", "kind", "text"), [
    ("{bad", "json", "invalid JSON"),
    ("[1,", "bin", "invalid JSON"),
    ("[300]", "bin", "cannot make a buffer"),
    ("5", "bin", "cannot make a buffer"),  # not five zero bytes
    ("payload +", "jsonata", "Invalid JSONata"),
    ("$number('x')", "jsonata", "Invalid JSONata"),
    ("x", "nope", "unknown value type"),
])
def test_evaluate_errors(value: Any, kind: str, text: str) -> None:
    with pytest.raises(ValueError_, match=text):
        evaluate(value, kind, a_node(), {})


# -- the nodes that read typed values ---------------------------------------------------------
def inject_flow(props: list[dict[str, Any]], **payload: Any) -> list[dict[str, Any]]:
    """inject "i" (msg.payload from `payload` and `payloadType`, the rest from `props`)."""
    return [node("i", "inject", [["d"]], props=[{"p": "payload"}, *props], **payload),
            node("d", "debug", complete="true"),
            node("c", "catch", [["err"]]), node("err", "debug", complete="error")]


def fire(*node_ids: str, msg: Message | None = None, **flow: Any) -> Any:
    async def act(rt: FlowRuntime) -> None:
        with_context(rt, **flow)
        for node_id in node_ids:
            rt.inject(node_id, dict(msg or {"payload": 1}))
            await asyncio.sleep(0.01)

    return act


def test_inject_reads_nested_context_keys_jsonata_functions_and_numbers() -> None:
    props = [{"p": "g", "v": "#:(memory)::g", "vt": "global"},
             {"p": "nested", "v": "f.n", "vt": "flow"},
             {"p": "fromenv", "v": "$env('PLUMB_X') & '!'", "vt": "jsonata"},
             {"p": "sum", "v": "$flowContext('f').n + $count($flowContext('f.list'))",
              "vt": "jsonata"},
             {"p": "hex", "v": "0x10", "vt": "num"},
             {"p": "bad", "v": "abc", "vt": "num"}]
    rt = run_flow(inject_flow(props, payload="f.list[1]", payloadType="flow"), fire("i"),
                  settle=0.05)
    [msg] = debug_values(rt, "d")
    assert (msg["payload"], msg["g"], msg["nested"]) == (2, "glob", 7)
    assert (msg["fromenv"], msg["sum"], msg["hex"]) == ("from-env!", 9, 16)
    assert math.isnan(msg["bad"])  # Number("abc"): NaN, as Node-RED sends it
    assert debug_values(rt, "err") == []


def test_inject_jsonata_that_fails_goes_to_catch() -> None:
    rt = run_flow(inject_flow([], payload="$number('x')", payloadType="jsonata"), fire("i"),
                  settle=0.05)
    assert debug_values(rt, "d") == []
    [error] = debug_values(rt, "err")
    assert "Invalid JSONata" in error["message"]


def debug_flow(**props: Any) -> list[dict[str, Any]]:
    return [node("in", "link in", [["d"]]), node("d", "debug", **props)]


def test_debug_jsonata_output_and_status_have_node_reds_functions() -> None:
    rt = run_flow(debug_flow(complete="$env('PLUMB_X') & ':' & msg.payload",
                             targetType="jsonata", tostatus=True, statusType="jsonata",
                             statusVal="$flowContext('f.n') & ' units'"),
                  fire("in", msg={"payload": "p", "raw": b"\x00"}), settle=0.05)
    assert debug_values(rt, "d") == ["from-env:p"]
    assert [s.get("text") for s in statuses(rt, "d")] == ["7 units"]


def test_file_name_from_jsonata_with_flow_context(tmp_path: Path) -> None:
    flow = [node("in", "link in", [["f"]]),
            node("f", "file", [["out"]], filename="$flowContext('dir') & '/' & topic & '.txt'",
                 filenameType="jsonata", overwriteFile="true"),
            node("out", "debug", complete="true")]
    rt = run_flow(flow, fire("in", msg={"payload": "hello", "topic": "log"},
                             dir=str(tmp_path)), settle=0.1)
    assert (tmp_path / "log.txt").read_text() == "hello"
    assert len(debug_values(rt, "out")) == 1


def test_trigger_reads_nested_context_keys_and_jsonata() -> None:
    flow = [node("in", "link in", [["t"]]),
            node("t", "trigger", [["d"]], op1="f.list[1]", op1type="flow",
                 op2="$env('PLUMB_X')", op2type="jsonata", duration="20"),
            node("d", "debug", complete="true")]
    rt = run_flow(flow, fire("in"), settle=0.2)
    assert [m["payload"] for m in debug_values(rt, "d")] == [2, "from-env"]


def test_join_reduce_and_sort_key_have_node_reds_functions_and_the_msg_prefix() -> None:
    flow = [node("in", "link in", [["s"]]), node("s", "split", [["o", "j"]]),
            node("o", "sort", [["ds"]], targetType="seq", seqKey="-msg.payload",
                 seqKeyType="jsonata"),
            node("j", "join", [["dj"]], mode="reduce",
                 reduceExp="$A + payload * $flowContext('f').n", reduceInit="0",
                 reduceInitType="num", reduceFixup="$exists(msg) ? $A : -1"),
            node("ds", "debug", complete="true"), node("dj", "debug", complete="true")]
    rt = run_flow(flow, fire("in", msg={"payload": [3, 1, 4, 2]}), settle=0.1)
    assert [m["payload"] for m in debug_values(rt, "ds")] == [4, 3, 2, 1]
    # the fixup runs against {} (so {msg: {}}, where msg exists)
    assert [m["payload"] for m in debug_values(rt, "dj")] == [(3 + 1 + 4 + 2) * 7]
