"""The change, switch, range and template nodes, run in real flows: a message goes into a
link in node wired to the node under test, whose outputs go to debug nodes; a catch node
reports errors."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

import runtime.nodes.logic  # noqa: F401  (registers the types until runtime.nodes imports it)
from runtime.engine import FlowRuntime
from runtime.message import Message
from tests.runtime.conftest import debug_values, node, run_flow

Setup = Callable[[FlowRuntime], None]


def run(type_: str, msgs: list[Message], outputs: int = 1, setup: Setup | None = None,
        **props: Any) -> FlowRuntime:
    """Run one node of `type_` with `props`, feeding it `msgs` in order."""
    flow = [node("in", "link in", [["n"]]),
            node("n", type_, [[f"out{i}"] for i in range(outputs)], **props),
            *[node(f"out{i}", "debug", complete="true") for i in range(outputs)],
            node("c", "catch", [["err"]]), node("err", "debug", complete="error")]

    async def act(rt: FlowRuntime) -> None:
        if setup is not None:
            setup(rt)
        for msg in msgs:
            rt.inject("in", msg)

    return run_flow(flow, act, settle=0.05)


def out(rt: FlowRuntime, port: int = 0) -> list[Any]:
    return [m.get("payload") for m in debug_values(rt, f"out{port}")]


def errors(rt: FlowRuntime) -> list[str]:
    return [e["message"] for e in debug_values(rt, "err")]


def context(rt: FlowRuntime, scope: str, key: str) -> Any:
    return rt.context_store.get("global" if scope == "global" else "flow:tab1", key)


def with_context(rt: FlowRuntime) -> None:
    rt.context_store.set("flow:tab1", "f", {"n": 7, "list": [1, 2]})
    rt.context_store.set("global", "g", "glob")
    rt.env["PLUMB_X"] = "from-env"


# -- change ---------------------------------------------------------------------------------
def change(rules: list[dict[str, Any]], *msgs: Message, setup: Setup | None = with_context
           ) -> FlowRuntime:
    return run("change", list(msgs), setup=setup, rules=rules)


@pytest.mark.parametrize(("to", "tot", "expected"), [
    ("hello", "str", "hello"),
    ("42", "num", 42),
    ("2.5", "num", 2.5),
    ("TRUE", "bool", True),
    ("yes", "bool", False),
    ('{"a": [1, null]}', "json", {"a": [1, None]}),
    ("null", "json", None),
    ("topic", "msg", "the-topic"),
    ("f.n", "flow", 7),
    ("f.list[1]", "flow", 2),
    ("g", "global", "glob"),
    ("PLUMB_X", "env", "from-env"),
    ("payload * 2 + $flowContext('f').n", "jsonata", 3 * 2 + 7),
    ("$globalContext('g') & '/' & $env('PLUMB_X')", "jsonata", "glob/from-env"),
    ("[1, 2, 255]", "bin", b"\x01\x02\xff"),
    ('"hi"', "bin", b"hi"),
    ("null", "jsonata", None),  # a null result sets null (undefined deletes: below)
    ("msg.topic & '!'", "jsonata", "the-topic!"),  # naming msg: evaluated against {msg}
    ("$flowContext('f', 'memory').n", "jsonata", 7),  # the store argument is accepted
    ("$moment(0).utc().format('YYYY-MM-DD')", "jsonata", "1970-01-01"),
    ("0x10", "num", 16),  # Number(), as in Node-RED
    ("1.0", "num", 1),
])
def test_change_set_reads_every_value_type(to: str, tot: str, expected: Any) -> None:
    rt = change([{"t": "set", "p": "payload", "pt": "msg", "to": to, "tot": tot}],
                {"payload": 3, "topic": "the-topic"})
    [msg] = debug_values(rt, "out0")
    assert "payload" in msg and msg["payload"] == expected
    assert type(msg["payload"]) is type(expected)


def test_change_set_date_is_milliseconds_now() -> None:
    before = int(time.time() * 1000)
    rt = change([{"t": "set", "p": "payload", "to": "", "tot": "date"}], {"payload": 0})
    [stamp] = out(rt)
    assert before <= stamp <= int(time.time() * 1000)


def test_change_set_from_a_missing_property_deletes_the_target() -> None:
    rt = change([{"t": "set", "p": "payload", "to": "nothing", "tot": "msg"}], {"payload": 1})
    assert "payload" not in debug_values(rt, "out0")[0]


def test_change_set_from_an_undefined_jsonata_result_deletes_the_target() -> None:
    rt = change([{"t": "set", "p": "payload", "to": "nothing", "tot": "jsonata"},
                 {"t": "set", "p": "none", "to": "payload.n", "tot": "jsonata"}],
                {"payload": {"n": None}})
    [msg] = debug_values(rt, "out0")
    assert "payload" not in msg and "none" not in msg  # payload went first, so undefined


def test_change_jsonata_reads_null_members_and_ignores_bytes_elsewhere() -> None:
    rules = [{"t": "set", "p": "types", "to": "$map(values, function($v) { $type($v) })",
              "tot": "jsonata"},
             {"t": "set", "p": "n", "to": "values[1]", "tot": "jsonata"}]
    rt = change(rules, {"payload": b"\x01", "values": [1, None]})
    [msg] = debug_values(rt, "out0")
    assert msg["types"] == ["number", "null"]
    assert "n" in msg and msg["n"] is None
    assert msg["payload"] == b"\x01" and errors(rt) == []


def test_change_copies_values_instead_of_sharing_them() -> None:
    rules = [{"t": "set", "p": "copy", "pt": "msg", "to": "payload", "tot": "msg"},
             {"t": "set", "p": "kept", "pt": "flow", "to": "payload", "tot": "msg"},
             {"t": "set", "p": "fromflow", "pt": "msg", "to": "f", "tot": "flow"},
             {"t": "set", "p": "payload.a", "pt": "msg", "to": "2", "tot": "num"},
             {"t": "set", "p": "fromflow.n", "pt": "msg", "to": "0", "tot": "num"}]
    rt = change(rules, {"payload": {"a": 1}})
    [msg] = debug_values(rt, "out0")
    assert msg["payload"] == {"a": 2} and msg["copy"] == {"a": 1}
    assert context(rt, "flow", "kept") == {"a": 1}
    assert msg["fromflow"] == {"n": 0, "list": [1, 2]}
    assert context(rt, "flow", "f") == {"n": 7, "list": [1, 2]}


def test_change_sets_and_deletes_flow_and_global_context_with_nested_keys() -> None:
    rules = [{"t": "set", "p": "f.extra.deep", "pt": "flow", "to": "x", "tot": "str"},
             {"t": "set", "p": "count", "pt": "global", "to": "payload", "tot": "msg"},
             {"t": "delete", "p": "f.n", "pt": "flow"},
             {"t": "delete", "p": "g", "pt": "global"}]
    rt = change(rules, {"payload": 5})
    assert context(rt, "flow", "f") == {"list": [1, 2], "extra": {"deep": "x"}}
    assert context(rt, "global", "count") == 5
    assert context(rt, "global", "g") is None
    assert out(rt) == [5]


@pytest.mark.parametrize(("payload", "rule", "expected"), [
    ("a.b.a", {"from": "a", "fromt": "str", "to": "X", "tot": "str"}, "X.b.X"),
    ("a.b.a", {"from": ".", "fromt": "str", "to": "-", "tot": "str"}, "a-b-a"),
    ("5", {"from": "5", "fromt": "num", "to": "true", "tot": "bool"}, True),
    ("15", {"from": "5", "fromt": "num", "to": "6", "tot": "num"}, "16"),
    (5, {"from": "5", "fromt": "num", "to": "five", "tot": "str"}, "five"),
    (6, {"from": "5", "fromt": "num", "to": "five", "tot": "str"}, 6),
    (True, {"from": "true", "fromt": "bool", "to": "on", "tot": "str"}, "on"),
    (True, {"from": "true", "fromt": "str", "to": "on", "tot": "str"}, True),
    ("2024-05-06", {"from": r"(\d+)-(\d+)-(\d+)", "fromt": "re", "to": "$3/$2/$1",
                    "tot": "str"}, "06/05/2024"),
    ("Hello hello", {"from": "hello", "fromt": "re", "to": "[$&]", "tot": "str"},
     "Hello [hello]"),
    ("a-b", {"from": "(?<x>a)", "fromt": "re", "to": "$<x>$<x>", "tot": "str"}, "aa-b"),
    ("cost: N", {"from": "N", "fromt": "str", "to": "topic", "tot": "msg"}, "cost: 12"),
    ("x-y-x", {"from": "sep", "fromt": "msg", "to": "+", "tot": "str"}, "x+y+x"),
])
def test_change_replaces_within_strings_and_whole_values(payload: Any, rule: dict[str, Any],
                                                         expected: Any) -> None:
    rt = change([{"t": "change", "p": "payload", "pt": "msg", **rule}],
                {"payload": payload, "topic": 12, "sep": "-"})
    assert out(rt) == [expected]
    assert type(out(rt)[0]) is type(expected)


def test_change_replaces_in_flow_context() -> None:
    def setup(rt: FlowRuntime) -> None:
        rt.context_store.set("flow:tab1", "word", "cat cat")

    rt = change([{"t": "change", "p": "word", "pt": "flow", "from": "cat", "fromt": "str",
                  "to": "dog", "tot": "str"}], {"payload": 1}, setup=setup)
    assert context(rt, "flow", "word") == "dog dog"


@pytest.mark.parametrize(("rule", "expected"), [
    ({"p": "payload", "pt": "msg", "to": "moved", "tot": "msg"},
     {"moved": {"a": {"b": 1}, "c": 2}}),
    ({"p": "payload.a", "pt": "msg", "to": "payload", "tot": "msg"}, {"payload": {"b": 1}}),
    ({"p": "payload.c", "pt": "msg", "to": "payload.c", "tot": "msg"},
     {"payload": {"a": {"b": 1}, "c": 2}}),
])
def test_change_move(rule: dict[str, Any], expected: dict[str, Any]) -> None:
    rt = change([{"t": "move", **rule}], {"payload": {"a": {"b": 1}, "c": 2}})
    [msg] = debug_values(rt, "out0")
    assert {k: v for k, v in msg.items() if k != "_msgid"} == expected


def test_change_move_between_message_and_context() -> None:
    rules = [{"t": "move", "p": "payload", "pt": "msg", "to": "stash", "tot": "flow"},
             {"t": "move", "p": "g", "pt": "global", "to": "topic", "tot": "msg"}]
    rt = change(rules, {"payload": [1, 2]})
    [msg] = debug_values(rt, "out0")
    assert "payload" not in msg and msg["topic"] == "glob"
    assert context(rt, "flow", "stash") == [1, 2] and context(rt, "global", "g") is None


def test_change_delete_and_rules_apply_in_order() -> None:
    rules = [{"t": "set", "p": "a", "to": "1", "tot": "num"},
             {"t": "set", "p": "b", "to": "a + 1", "tot": "jsonata"},
             {"t": "delete", "p": "payload.secret"}]
    rt = change(rules, {"payload": {"secret": "x", "keep": True}})
    [msg] = debug_values(rt, "out0")
    assert msg["payload"] == {"keep": True} and (msg["a"], msg["b"]) == (1, 2)


def test_change_will_not_set_beneath_a_string_and_warns() -> None:
    rt = change([{"t": "set", "p": "payload.x", "to": "1", "tot": "str"}], {"payload": "text"})
    assert out(rt) == ["text"]
    assert any(e["kind"] == "log" and e["level"] == "warn" and "payload.x" in e["text"]
               for e in rt.events)


def test_change_legacy_single_rule_config() -> None:
    rt = run("change", [{"payload": "a-b"}], action="change", property="payload", **{
        "from": "-", "to": "+", "reg": False})
    assert out(rt) == ["a+b"]


@pytest.mark.parametrize(("rule", "text"), [
    ({"t": "set", "p": "payload", "to": "{not json", "tot": "json"}, "Invalid JSON"),
    ({"t": "set", "p": "payload", "to": "[1,", "tot": "bin"}, "Invalid JSON"),
    ({"t": "change", "p": "payload", "from": "(", "fromt": "re", "to": "", "tot": "str"},
     "Invalid regular expression"),
    ({"t": "set", "p": "payload", "to": "payload +", "tot": "jsonata"}, "Invalid JSONata"),
    ({"t": "set", "p": "payload", "to": "$number('x')", "tot": "jsonata"}, "Invalid JSONata"),
    ({"t": "change", "p": "payload", "from": "nothing", "fromt": "msg", "to": "",
      "tot": "str"}, "unsupported type: undefined"),
])
def test_change_errors_reach_the_catch_node(rule: dict[str, Any], text: str) -> None:
    rt = change([rule], {"payload": "abc"})
    assert out(rt) == []
    [message] = errors(rt)
    assert text in message


# -- switch ---------------------------------------------------------------------------------
def switch(rules: list[dict[str, Any]], *msgs: Message, setup: Setup | None = with_context,
           **props: Any) -> FlowRuntime:
    return run("switch", list(msgs), outputs=len(rules), setup=setup, rules=rules, **props)


def matches(rule: dict[str, Any], payload: Any, **msg: Any) -> bool:
    """Whether `rule` matched; an else rule after it must say the opposite."""
    rt = switch([rule, {"t": "else"}], {"payload": payload, **msg})
    first, second = len(out(rt, 0)), len(out(rt, 1))
    assert first + second == 1, (first, second, errors(rt))
    return first == 1


@pytest.mark.parametrize(("rule", "payload", "expected"), [
    ({"t": "eq", "v": "5", "vt": "num"}, 5, True),
    ({"t": "eq", "v": "5", "vt": "num"}, "5", True),   # JavaScript ==
    ({"t": "eq", "v": "5", "vt": "str"}, 5, True),
    ({"t": "eq", "v": "1", "vt": "num"}, True, True),
    ({"t": "eq", "v": "a", "vt": "str"}, "b", False),
    ({"t": "eq", "v": "5"}, 5.0, True),                # no vt: a number
    ({"t": "neq", "v": "5", "vt": "num"}, 6, True),
    ({"t": "neq", "v": "5", "vt": "num"}, "5", False),
    ({"t": "lt", "v": "10", "vt": "num"}, 9, True),
    ({"t": "lt", "v": "9", "vt": "str"}, "10", True),   # strings compare as strings
    ({"t": "lt", "v": "9", "vt": "num"}, "10", False),  # one number: numeric
    ({"t": "lt", "v": "5", "vt": "num"}, "abc", False),
    ({"t": "lte", "v": "5", "vt": "num"}, 5, True),
    ({"t": "gt", "v": "5", "vt": "num"}, 5, False),
    ({"t": "gt", "v": "5", "vt": "num"}, 5.5, True),
    ({"t": "gte", "v": "5", "vt": "num"}, 5, True),
    ({"t": "gte", "v": "5", "vt": "num"}, None, False),
    ({"t": "btwn", "v": "1", "vt": "num", "v2": "10", "v2t": "num"}, 10, True),
    ({"t": "btwn", "v": "10", "vt": "num", "v2": "1", "v2t": "num"}, 3, True),
    ({"t": "btwn", "v": "1", "vt": "num", "v2": "10", "v2t": "num"}, 11, False),
    ({"t": "cont", "v": "ell", "vt": "str"}, "hello", True),
    ({"t": "cont", "v": "2", "vt": "str"}, [1, 2], True),
    ({"t": "cont", "v": "x", "vt": "str"}, "hello", False),
    ({"t": "regex", "v": "^HE", "vt": "str", "case": True}, "hello", True),
    ({"t": "regex", "v": "^HE", "vt": "str", "case": False}, "hello", False),
    ({"t": "regex", "v": r"^\d+$", "vt": "str"}, 123, True),
    ({"t": "true"}, True, True),
    ({"t": "true"}, "true", False),
    ({"t": "false"}, False, True),
    ({"t": "false"}, 0, False),
    ({"t": "null"}, None, True),
    ({"t": "null"}, 0, False),
    ({"t": "nnull"}, 0, True),
    ({"t": "empty"}, "", True),
    ({"t": "empty"}, [], True),
    ({"t": "empty"}, {}, True),
    ({"t": "empty"}, 0, False),
    ({"t": "nempty"}, [0], True),
    ({"t": "nempty"}, 5, False),
    ({"t": "istype", "v": "string", "vt": "string"}, "x", True),
    ({"t": "istype", "v": "number", "vt": "number"}, 1.5, True),
    ({"t": "istype", "v": "number", "vt": "number"}, True, False),
    ({"t": "istype", "v": "boolean", "vt": "boolean"}, False, True),
    ({"t": "istype", "v": "array", "vt": "array"}, [1], True),
    ({"t": "istype", "v": "object", "vt": "object"}, {"a": 1}, True),
    ({"t": "istype", "v": "object", "vt": "object"}, [1], False),
    ({"t": "istype", "v": "buffer", "vt": "buffer"}, b"ab", True),
    ({"t": "istype", "v": "json", "vt": "json"}, '{"a": 1}', True),
    ({"t": "istype", "v": "json", "vt": "json"}, "{a: 1}", False),
    ({"t": "istype", "v": "null", "vt": "null"}, None, True),
    ({"t": "istype", "v": "undefined", "vt": "undefined"}, "x", False),
    ({"t": "hask", "v": "a", "vt": "str"}, {"a": None}, True),
    ({"t": "hask", "v": "b", "vt": "str"}, {"a": 1}, False),
    ({"t": "hask", "v": "1", "vt": "num"}, [5, 6], True),
    ({"t": "jsonata_exp", "v": "payload.a > 1 and $flowContext('f').n = 7", "vt": "jsonata"},
     {"a": 2}, True),
    ({"t": "jsonata_exp", "v": "payload.a > 1", "vt": "jsonata"}, {"a": 1}, False),
])
def test_switch_rules(rule: dict[str, Any], payload: Any, expected: bool) -> None:
    assert matches(rule, payload) is expected


@pytest.mark.parametrize(("rule", "expected"), [
    ({"t": "eq", "v": "limit", "vt": "msg"}, True),
    ({"t": "eq", "v": "f.n", "vt": "flow"}, True),
    ({"t": "eq", "v": "g", "vt": "global"}, False),
    ({"t": "eq", "v": "PLUMB_SEVEN", "vt": "env"}, True),
    ({"t": "eq", "v": "limit + 0", "vt": "jsonata"}, True),
    ({"t": "eq", "v": "7", "vt": "str"}, True),
    ({"t": "lt", "v": "$flowContext('f').n + 1", "vt": "jsonata"}, True),
    ({"t": "btwn", "v": "f.n", "vt": "flow", "v2": "limit", "v2t": "msg"}, True),
])
def test_switch_value_types(rule: dict[str, Any], expected: bool) -> None:
    def setup(rt: FlowRuntime) -> None:
        with_context(rt)
        rt.env["PLUMB_SEVEN"] = "7"

    rt = switch([rule, {"t": "else"}], {"payload": 7, "limit": 7}, setup=setup)
    assert (len(out(rt, 0)), len(out(rt, 1))) == ((1, 0) if expected else (0, 1))


@pytest.mark.parametrize(("prop", "ptype", "value"), [
    ("f.n", "flow", 7), ("g", "global", "glob"), ("PLUMB_X", "env", "from-env"),
    ("payload.a * 2", "jsonata", 4), ("topic", "msg", "t"),
    ("msg.payload.a & msg.topic", "jsonata", "2t"), ("f.list[0]", "flow", 1),
])
def test_switch_property_types(prop: str, ptype: str, value: Any) -> None:
    rt = switch([{"t": "eq", "v": str(value), "vt": "str"}, {"t": "else"}],
                {"payload": {"a": 2}, "topic": "t"}, property=prop, propertyType=ptype)
    assert len(out(rt, 0)) == 1 and out(rt, 1) == []


def test_switch_checkall_sends_to_every_match_or_the_first() -> None:
    rules = [{"t": "gt", "v": "1", "vt": "num"}, {"t": "lt", "v": "0", "vt": "num"},
             {"t": "gt", "v": "2", "vt": "num"}, {"t": "else"}]
    every = switch(rules, {"payload": 5}, checkall="true")
    assert [out(every, i) for i in range(4)] == [[5], [], [5], []]
    first = switch(rules, {"payload": 5}, checkall="false")
    assert [out(first, i) for i in range(4)] == [[5], [], [], []]
    neither = switch(rules, {"payload": 1}, checkall="false")
    assert [out(neither, i) for i in range(4)] == [[], [], [], [1]]


def test_switch_else_only_follows_rules_since_the_previous_else() -> None:
    """A matching else counts as a match for the next else, as in Node-RED."""
    rules = [{"t": "eq", "v": "a", "vt": "str"}, {"t": "else"},
             {"t": "eq", "v": "b", "vt": "str"}, {"t": "else"}]
    rt = switch(rules, {"payload": "a"}, {"payload": "b"}, {"payload": "c"})
    assert [out(rt, i) for i in range(4)] == [["a"], ["b", "c"], ["b"], ["a"]]


def test_switch_prev_compares_with_the_previous_value() -> None:
    rt = switch([{"t": "neq", "v": "", "vt": "prev"}],
                {"payload": 1}, {"payload": 1}, {"payload": 2})
    assert out(rt) == [1, 2]


def test_switch_head_and_index_read_msg_parts() -> None:
    msgs = [{"payload": i, "parts": {"id": "x", "index": i, "count": 4}} for i in range(4)]
    rt = switch([{"t": "head", "v": "1", "vt": "num"},
                 {"t": "index", "v": "1", "vt": "num", "v2": "2", "v2t": "num"},
                 {"t": "tail", "v": "1", "vt": "num"}], *msgs)
    assert [out(rt, i) for i in range(3)] == [[0], [1, 2], [3]]


@pytest.mark.parametrize("rule", [
    {"t": "regex", "v": "([", "vt": "str"},
    {"t": "eq", "v": "payload +", "vt": "jsonata"},
    {"t": "no-such-rule"},
])
def test_switch_rule_errors_reach_the_catch_node(rule: dict[str, Any]) -> None:
    rt = switch([rule], {"payload": "x"})
    assert out(rt) == [] and len(errors(rt)) == 1


def test_switch_failing_property_expression_only_warns() -> None:
    rt = switch([{"t": "else"}], {"payload": 1}, property="payload +", propertyType="jsonata")
    assert out(rt) == [] and errors(rt) == []
    assert any(e["kind"] == "log" and e["level"] == "warn" for e in rt.events)


def test_switch_sends_copies_to_several_outputs() -> None:
    rt = switch([{"t": "nnull"}, {"t": "nnull"}], {"payload": {"a": 1}})
    first, second = debug_values(rt, "out0")[0], debug_values(rt, "out1")[0]
    assert first == second and first is not second


# -- range ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("action", "value", "expected"), [
    ("scale", 5, 50), ("scale", 15, 150), ("scale", "2.5", 25), ("scale", -1, -10),
    ("clamp", 15, 100), ("clamp", -3, 0), ("clamp", 5, 50),
    ("roll", 12, 20), ("roll", -1, 90), ("roll", 10, 0),
])
def test_range_actions(action: str, value: Any, expected: Any) -> None:
    rt = run("range", [{"payload": value}], action=action, minin="0", maxin="10", minout="0",
             maxout="100")
    assert out(rt) == [expected] and type(out(rt)[0]) is int


@pytest.mark.parametrize(("value", "expected"), [(0.25, 3), (-0.25, -2), (0.24, 2)])
def test_range_rounds_halves_up_like_math_round(value: float, expected: int) -> None:
    rt = run("range", [{"payload": value}], action="scale", round=True, minin="0", maxin="1",
             minout="0", maxout="10")
    assert out(rt) == [expected]


def test_range_scales_to_fractions_and_drops_outside() -> None:
    rt = run("range", [{"payload": 1}], action="scale", minin="0", maxin="3", minout="0",
             maxout="1")
    assert out(rt) == [pytest.approx(1 / 3)]
    dropped = run("range", [{"payload": 11}, {"payload": 4}], action="drop", minin="0",
                  maxin="10", minout="0", maxout="1")
    assert out(dropped) == [0.4]


def test_range_other_property_and_missing_value() -> None:
    rt = run("range", [{"payload": "x", "reading": {"v": 0.5}}, {"payload": "y"}],
             property="reading.v", action="scale", minin="0", maxin="1", minout="10",
             maxout="20")
    [first, second] = debug_values(rt, "out0")
    assert first["reading"] == {"v": 15} and first["payload"] == "x"
    assert second["payload"] == "y" and "reading" not in second


def test_range_on_a_string_reaches_the_catch_node() -> None:
    rt = run("range", [{"payload": "warm"}], action="scale", minin="0", maxin="1",
             minout="0", maxout="1")
    assert out(rt) == []
    assert errors(rt) == ["Not a number: warm"]


# -- template -------------------------------------------------------------------------------
def template(text: str, *msgs: Message, setup: Setup | None = with_context,
             **props: Any) -> FlowRuntime:
    return run("template", list(msgs), setup=setup, template=text, **props)


@pytest.mark.parametrize(("text", "expected"), [
    ("Hi {{payload.name}}, {{topic}}!", "Hi &lt;Ann &amp; Bo&gt;, 3!"),
    ("{{{payload.name}}}|{{&payload.name}}", "<Ann & Bo>|<Ann & Bo>"),
    ("{{payload.quote}}", "&quot;a&#x2F;b&#39; &#x60;x&#x3D;y&#x60;"),
    ("[{{missing}}][{{payload.none}}][{{payload.missing.deep}}]", "[][][]"),
    ("{{payload.list}} {{payload.obj}} {{payload.flag}} {{payload.half}}",
     "1,2,3 [object Object] true 0.5"),
    ("{{payload.list.length}} {{payload.list.1}} {{payload.name.length}}", "3 2 10"),
    ("{{#payload.items}}<{{n}}:{{topic}}>{{/payload.items}}", "<a:3><b:3>"),
    ("{{#payload.obj}}{{k}}{{/payload.obj}}", "v"),
    ("{{#payload.zero}}shown{{/payload.zero}}{{^payload.zero}}zero{{/payload.zero}}", "zero"),
    ("{{^payload.empty}}none{{/payload.empty}}{{#payload.empty}}x{{/payload.empty}}", "none"),
    ("{{#payload.flag}}yes {{topic}}{{/payload.flag}}", "yes 3"),
    ("{{#payload.list}}{{.}};{{/payload.list}}", "1;2;3;"),
    ("{{! a comment }}a{{=<% %>=}}<% topic %>{{topic}}", "a3{{topic}}"),
    ("{{#payload.items}}\n  - {{n}}\n{{/payload.items}}\nend", "  - a\n  - b\nend"),
    ("{{flow.f.n}} {{global.g}} {{env.PLUMB_X}} {{flow.nothing}}.", "7 glob from-env ."),
    ("{{#flow.f.list}}{{.}}{{/flow.f.list}}", "12"),
])
def test_template_mustache(text: str, expected: str) -> None:
    payload = {"name": "<Ann & Bo>", "quote": "\"a/b' `x=y`", "none": None, "list": [1, 2, 3],
               "obj": {"k": "v"}, "flag": True, "half": 0.5, "zero": 0, "empty": [],
               "items": [{"n": "a"}, {"n": "b"}]}
    rt = template(text, {"payload": payload, "topic": 3})
    assert out(rt) == [expected]


def test_template_json_output_escapes_strings_and_parses() -> None:
    rt = template('{"text": "{{{payload}}}", "n": {{topic}}}', {"payload": "a\nb\\c", "topic": 2},
                  output="json")
    assert out(rt) == [{"text": "a\nb\\c", "n": 2}]


def test_template_yaml_output() -> None:
    pytest.importorskip("yaml")
    rt = template("name: {{topic}}\nitems:\n  - 1\n  - two\n", {"topic": "x"}, output="yaml")
    assert out(rt) == [{"name": "x", "items": [1, "two"]}]


def test_template_plain_syntax_field_and_msg_template() -> None:
    plain = template("{{payload}} stays", {"payload": 1}, syntax="plain", field="text")
    [msg] = debug_values(plain, "out0")
    assert msg["text"] == "{{payload}} stays" and msg["payload"] == 1
    given = template("", {"payload": 4, "template": "n={{payload}}"})
    assert out(given) == ["n=4"]


def test_template_writes_to_flow_context() -> None:
    rt = template("v{{payload}}", {"payload": 9}, field="rendered", fieldType="flow")
    assert context(rt, "flow", "rendered") == "v9"
    assert out(rt) == [9]


@pytest.mark.parametrize(("text", "props", "message"), [
    ("{not json {{payload}}", {"output": "json"}, "Expecting property name"),
    ("{{#payload}}open", {}, 'Unclosed section "payload"'),
    ("{{/payload}}", {}, 'Unopened section "payload"'),
])
def test_template_errors_reach_the_catch_node(text: str, props: dict[str, Any],
                                              message: str) -> None:
    rt = template(text, {"payload": 1}, **props)
    assert out(rt) == []
    [error] = errors(rt)
    assert message in error
