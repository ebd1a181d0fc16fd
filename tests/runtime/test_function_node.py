"""The function node: Node-RED's JavaScript node on QuickJS - outputs, async sends, context,
env, initialize/finalize, logs and status, and failures that stay with one message."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from runtime.engine import FlowRuntime
from runtime.message import Message
from runtime.node import Done, Node, Send
from runtime.nodes import function as function_node  # registers "function"
from runtime.nodes.core import LinkIn
from runtime.registry import NodeRegistry
from tests.runtime.conftest import TAB, debug_values, node, run_flow


class Sink(Node):
    """Keeps the messages it gets as Python objects (debug output drops req/res); registered
    only in a test registry, so the runtime's own list of types stays as it is."""

    def __init__(self, config: dict[str, Any], runtime: FlowRuntime) -> None:
        super().__init__(config, runtime)
        self.captured: list[Message] = []

    def on_input(self, msg: Message, send: Send, done: Done) -> None:
        self.captured.append(msg)
        done()


def fn_flow(func: str, wires: list[list[str]] | None = None, **props: Any) -> list[dict[str, Any]]:
    """in -> fn -> out, and a catch node for the tab wired to `caught`."""
    return [node("in", "link in", [["fn"]]),
            node("fn", "function", wires or [["out"]], func=func, **props),
            node("out", "debug", complete="true"),
            node("c", "catch", [["caught"]]),
            node("caught", "debug", complete="true")]


def inject_all(*payloads: Any, gap: float = 0.02) -> Any:
    async def act(rt: FlowRuntime) -> None:
        for payload in payloads:
            rt.inject("in", {"payload": payload})
            await asyncio.sleep(gap)

    return act


def errors(rt: FlowRuntime) -> list[str]:
    return [v["error"]["message"] for v in debug_values(rt, "caught")]


def logs(rt: FlowRuntime, level: str) -> list[str]:
    return [e["text"] for e in rt.events if e["kind"] == "log" and e["level"] == level]


# -- outputs --------------------------------------------------------------------------------
def test_single_output_returns_the_changed_message_with_its_msgid() -> None:
    async def act(rt: FlowRuntime) -> None:
        rt.inject("in", {"_msgid": "m1", "payload": 21, "topic": "t"})

    rt = run_flow(fn_flow("msg.payload = msg.payload * 2; return msg;"), act)
    assert debug_values(rt, "out") == [{"_msgid": "m1", "payload": 42, "topic": "t"}]


def test_multiple_outputs_one_entry_per_output() -> None:
    flow = fn_flow("return [msg, null, {payload: 'third'}];", [["a"], ["b"], ["c3"]], outputs=3)
    flow += [node(i, "debug", complete="true") for i in ("a", "b", "c3")]

    async def act(rt: FlowRuntime) -> None:
        rt.inject("in", {"_msgid": "m2", "payload": "first"})

    rt = run_flow(flow, act)
    assert debug_values(rt, "a") == [{"_msgid": "m2", "payload": "first"}]
    assert debug_values(rt, "b") == []
    assert debug_values(rt, "c3") == [{"_msgid": "m2", "payload": "third"}]


def test_an_output_entry_may_be_an_array_of_messages() -> None:
    flow = fn_flow("return [[{payload: 1}, {payload: 2}], {payload: 3}];", [["a"], ["b"]],
                   outputs=2)
    flow += [node("a", "debug"), node("b", "debug")]
    rt = run_flow(flow, inject_all("x"))
    assert debug_values(rt, "a") == [1, 2]
    assert debug_values(rt, "b") == [3]


def test_returning_null_sends_nothing_but_completes_the_message() -> None:
    flow = [*fn_flow("return null;"), node("done", "complete", [["fin"]], scope=["fn"]),
            node("fin", "debug")]
    rt = run_flow(flow, inject_all("quiet"))
    assert debug_values(rt, "out") == []
    assert debug_values(rt, "fin") == ["quiet"]


def test_returning_a_non_message_is_reported() -> None:
    rt = run_flow(fn_flow("return 5;"), inject_all(1))
    assert debug_values(rt, "out") == []
    assert logs(rt, "error") == ["the function tried to send a number, not a message object"]


# -- async: timers, await, node.done --------------------------------------------------------
def test_node_send_from_set_timeout_keeps_the_msgid_and_done_waits_for_node_done() -> None:
    func = ("setTimeout(function () { node.send({payload: 'later'}); node.done(); }, 50);\n"
            "return null;")
    flow = [*fn_flow(func), node("done", "complete", [["fin"]], scope=["fn"]),
            node("fin", "debug")]

    async def act(rt: FlowRuntime) -> None:
        rt.inject("in", {"_msgid": "m3", "payload": "now"})
        await asyncio.sleep(0.02)
        assert debug_values(rt, "out") == [] and debug_values(rt, "fin") == []

    rt = run_flow(flow, act)
    assert debug_values(rt, "out") == [{"_msgid": "m3", "payload": "later"}]
    assert debug_values(rt, "fin") == ["now"]


def test_await_on_a_timer_promise() -> None:
    func = ("await new Promise(function (r) { setTimeout(r, 30); });\n"
            "msg.payload = 'awaited ' + msg.payload; return msg;")
    rt = run_flow(fn_flow(func), inject_all("x"))
    assert debug_values(rt, "out")[0]["payload"] == "awaited x"


def test_clear_timeout_and_set_interval() -> None:
    func = ("var t = setTimeout(function () { node.send({payload: 'never'}); }, 20);\n"
            "clearTimeout(t);\n"
            "var n = 0;\n"
            "var h = setInterval(function () { n++; node.send({payload: n});"
            " if (n === 3) clearInterval(h); }, 10);\n"
            "return null;")
    rt = run_flow(fn_flow(func), inject_all("go"), settle=0.3)
    assert [v["payload"] for v in debug_values(rt, "out")] == [1, 2, 3]


def test_a_throw_in_a_timer_callback_reaches_catch() -> None:
    func = "setTimeout(function () { throw new TypeError('late'); }, 10);\nreturn null;"
    rt = run_flow(fn_flow(func), inject_all(1))
    assert errors(rt) == ["TypeError: late"]


# -- context and env ------------------------------------------------------------------------
def test_context_flow_and_global_persist_and_reach_the_python_store() -> None:
    func = ("var n = (context.get('n') || 0) + 1;\n"
            "context.set('n', n);\n"
            "flow.set('last', msg.payload);\n"
            "global.set('g', {n: n, preset: global.get('preset')});\n"
            "msg.payload = n; return msg;")
    flow = [*fn_flow(func),
            node("show", "inject", [["shown"]], payload="last", payloadType="flow"),
            node("shown", "debug")]

    async def act(rt: FlowRuntime) -> None:
        rt.context_store.set("global", "preset", 5)
        await inject_all("a", "b")(rt)
        rt.inject("show", {})

    rt = run_flow(flow, act)
    assert [v["payload"] for v in debug_values(rt, "out")] == [1, 2]
    assert rt.context_store.scope("node:fn") == {"n": 2}
    assert rt.context_store.get("flow:tab1", "last") == "b"
    assert rt.context_store.get("global", "g") == {"n": 2, "preset": 5}
    assert debug_values(rt, "shown") == ["b"]


def test_context_values_changed_in_place_and_deleted_are_synced() -> None:
    func = ("var a = context.get('arr') || [];\n"
            "a.push(msg.payload);\n"
            "if (a.length === 1) context.set('arr', a);\n"
            "context.set('gone', a.length === 1 ? 'here' : undefined);\n"
            "context.set('deep.path', a.length);\n"
            "return null;")
    rt = run_flow(fn_flow(func), inject_all(1, 2))
    assert rt.context_store.scope("node:fn") == {"arr": [1, 2], "deep": {"path": 2}}


def test_env_get_reads_the_runtime_env_os_environ_and_node_values(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLUMB_FN_TEST_OS", "from-os")
    monkeypatch.setenv("PLUMB_FN_TEST_BOTH", "os-loses")
    func = ("msg.payload = [env.get('PLUMB_FN_TEST_OS'), env.get('PLUMB_FN_TEST_BOTH'),"
            " env.get('NR_NODE_ID'), env.get('PLUMB_FN_TEST_NOPE') === undefined];\n"
            "return msg;")

    async def main() -> FlowRuntime:
        rt = FlowRuntime(env={"PLUMB_FN_TEST_BOTH": "runtime-wins"})
        await rt.start([TAB, *fn_flow(func)])
        rt.inject("in", {"payload": None})
        await asyncio.sleep(0.1)
        await rt.stop()
        return rt

    rt = asyncio.run(main())
    assert debug_values(rt, "out")[0]["payload"] == ["from-os", "runtime-wins", "fn", True]


def test_initialize_runs_first_and_finalize_at_close() -> None:
    init = ("await new Promise(function (r) { setTimeout(r, 50); });\n"
            "context.set('count', 100);\n"
            "node.on('close', function () { global.set('onclose', 'ran'); });")
    func = "var c = context.get('count') + 1; context.set('count', c); msg.payload = c; return msg;"
    fin = "global.set('closed', context.get('count'));"
    # The message arrives while initialize still waits: it is held until that is over.
    rt = run_flow(fn_flow(func, initialize=init, finalize=fin), inject_all("a", "b"))
    assert [v["payload"] for v in debug_values(rt, "out")] == [101, 102]
    assert rt.context_store.get("global", "closed") == 102
    assert rt.context_store.get("global", "onclose") == "ran"


def test_context_callbacks_keys_and_red_util() -> None:
    func = ("context.set(['a', 'b'], [1, 2]);\n"
            "var out = {};\n"
            "context.get(['a', 'b'], function (err, a, b) { out.cb = [err, a, b]; });\n"
            "out.keys = context.keys();\n"
            "var copy = RED.util.cloneMessage(msg); copy.payload = 'changed';\n"
            "out.prop = RED.util.getMessageProperty(msg, 'msg.deep.x');\n"
            "RED.util.setMessageProperty(msg, 'deep.y', 5);\n"
            "msg.out = out; return [copy, msg];")
    flow = [*fn_flow(func, [["a"], ["b"]], outputs=2), node("a", "debug"),
            node("b", "debug", complete="true")]

    async def act(rt: FlowRuntime) -> None:
        rt.inject("in", {"_msgid": "u1", "payload": "p", "deep": {"x": 9}})

    rt = run_flow(flow, act)
    assert debug_values(rt, "a") == ["changed"]
    assert debug_values(rt, "b") == [{"_msgid": "u1", "payload": "p", "deep": {"x": 9, "y": 5},
                                      "out": {"cb": [None, 1, 2], "keys": ["a", "b"], "prop": 9}}]


# -- logs and status ------------------------------------------------------------------------
def test_node_warn_log_and_error_reach_the_runtime_events() -> None:
    func = "node.warn('careful ' + msg.payload); node.log({a: 1}); node.error('bad'); return null;"
    rt = run_flow(fn_flow(func), inject_all(7))
    assert logs(rt, "warn") == ["careful 7"]
    assert logs(rt, "info") == ['{"a":1}']
    assert logs(rt, "error") == ["bad"]
    assert debug_values(rt, "caught") == []  # no msg given: logged only


def test_node_error_with_a_message_goes_to_catch() -> None:
    rt = run_flow(fn_flow("node.error('refused', msg); return null;"), inject_all("p"))
    assert errors(rt) == ["refused"]
    assert debug_values(rt, "caught")[0]["payload"] == "p"


def test_node_status_reaches_the_runtime_events() -> None:
    rt = run_flow(fn_flow("node.status({fill: 'green', shape: 'dot', text: 'ok ' + msg.payload});"
                          " node.status('plain'); console.log('c', {z: 1}); return null;"),
                  inject_all(3))
    assert [e["status"] for e in rt.events if e["kind"] == "status"] == [
        {"fill": "green", "shape": "dot", "text": "ok 3"}, {"text": "plain"}]
    assert logs(rt, "info") == ['c {"z":1}']


# -- messages crossing the boundary -----------------------------------------------------------
def test_req_and_res_stay_in_python_and_bytes_cross_as_buffers() -> None:
    registry = NodeRegistry()
    for name, cls in (("link in", LinkIn), ("function", function_node.FunctionNode),
                      ("function-test-sink", Sink)):
        registry.register(name)(cls)
    req, res = object(), object()
    func = ("msg.seen = [msg.req === undefined, msg.res === undefined];\n"
            "msg.payload.data.push(3);\n"
            "node.send({payload: 'extra'});\n"
            "return msg;")
    flow = [node("in", "link in", [["fn"]]),
            node("fn", "function", [["sink"]], func=func),
            node("sink", "function-test-sink")]

    async def main() -> list[Message]:
        rt = FlowRuntime(registry=registry)
        await rt.start([TAB, *flow])
        rt.inject("in", {"_msgid": "h1", "payload": b"\x01\x02", "req": req, "res": res})
        await asyncio.sleep(0.1)
        await rt.stop()
        sink = rt.nodes["sink"]
        assert isinstance(sink, Sink)
        return sink.captured

    captured = asyncio.run(main())
    assert [m["payload"] for m in captured] == ["extra", b"\x01\x02\x03"]
    assert captured[1]["seen"] == [True, True]
    assert all(m["req"] is req and m["res"] is res and m["_msgid"] == "h1" for m in captured)


# -- failures ------------------------------------------------------------------------------
def test_a_throw_reaches_catch_with_the_source() -> None:
    func = "if (msg.payload === 'bad') {\n  throw new Error('bad thing');\n}\nreturn msg;"
    rt = run_flow(fn_flow(func, name="thrower"), inject_all("bad", "good"))
    caught = debug_values(rt, "caught")
    assert [c["error"] for c in caught] == [{
        "message": "Error: bad thing",
        "source": {"id": "fn", "type": "function", "name": "thrower", "count": 1}}]
    assert caught[0]["payload"] == "bad"
    assert [v["payload"] for v in debug_values(rt, "out")] == ["good"]


def test_an_endless_loop_fails_that_message_and_the_next_one_works() -> None:
    func = ("var n = (context.get('n') || 0) + 1; context.set('n', n);\n"
            "if (msg.payload === 'loop') { while (true) {} }\n"
            "msg.payload = n; return msg;")
    rt = run_flow(fn_flow(func, timeout=0.3), inject_all("loop", "next"))
    assert errors(rt) == ["the function ran longer than 0.3 s and was stopped (line 2)"]
    assert [v["payload"] for v in debug_values(rt, "out")] == [2]


def test_the_hard_cap_applies_when_timeout_is_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(function_node, "MAX_CALL_SECONDS", 0.3)
    rt = run_flow(fn_flow("while (true) {}", timeout=0), inject_all("x"))
    assert errors(rt) == ["the function ran longer than 0.3 s and was stopped (line 1)"]


def test_a_timeout_above_the_cap_is_capped_with_a_warning(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(function_node, "MAX_CALL_SECONDS", 0.3)
    rt = run_flow(fn_flow("while (true) {}", timeout=60), inject_all("x"))
    assert logs(rt, "warn") == ["timeout 60 s is above the runtime's cap; using 0.3 s"]
    assert errors(rt) == ["the function ran longer than 0.3 s and was stopped (line 1)"]


def test_endless_promise_jobs_reset_the_sandbox_and_context_survives() -> None:
    func = ("var n = (context.get('n') || 0) + 1; context.set('n', n);\n"
            "if (msg.payload === 'spin') { while (true) { await null; } }\n"
            "msg.payload = n; return msg;")
    rt = run_flow(fn_flow(func, timeout=0.3), inject_all("spin", "next"))
    assert errors(rt) == ["the function ran longer than 0.3 s and was stopped"]
    assert logs(rt, "warn") == ["the function ran longer than 0.3 s and was stopped; "
                                "the sandbox was reset"]
    assert [v["payload"] for v in debug_values(rt, "out")] == [2]


@pytest.mark.parametrize(("bomb", "expected"), [
    ("var a = [];\nfor (;;) a.push(new ArrayBuffer(4 << 20));",
     "the function ran out of memory (limit 64 MiB) and was stopped (line 3)"),
    ("var s = 'x';\nwhile (true) s = s + s + Math.random();",
     "the function ran out of memory (limit 64 MiB) and was stopped (line 3)"),
    ("function f(n) { return f(n + 1) + 1; }\nf(0);",
     "the function overflowed its stack (endless recursion?) and was stopped (line 3)"),
])
def test_memory_and_stack_bombs_fail_that_message_only(bomb: str, expected: str) -> None:
    func = f"if (msg.payload === 'bomb') {{\n{bomb}\n}}\nmsg.payload = 'fine'; return msg;"
    rt = run_flow(fn_flow(func), inject_all("bomb", "next"))
    assert errors(rt) == [expected]
    assert [v["payload"] for v in debug_values(rt, "out")] == ["fine"]


def test_a_throw_of_null_is_explained() -> None:
    rt = run_flow(fn_flow("throw null;"), inject_all(1))
    assert errors(rt) == ["the function stopped without an error value (a throw of null, or it "
                          "ran out of memory: the limit is 64 MiB)"]


def test_a_syntax_error_is_reported_at_start_and_fails_every_message() -> None:
    rt = run_flow(fn_flow("var a = 1;\nreturn msg +;"), inject_all("x", "y"))
    text = ("the function has an error and cannot run: "
            "SyntaxError: unexpected token in expression: ';' (line 2)")
    assert logs(rt, "error")[0] == text
    assert [e["status"] for e in rt.events if e["kind"] == "status"] == [
        {"fill": "red", "shape": "dot", "text": "error"}]
    assert errors(rt) == [text, text]
    assert debug_values(rt, "out") == []


def test_external_modules_are_refused() -> None:
    rt = run_flow(fn_flow("return msg;", libs=[{"var": "fs", "module": "fs"}]), inject_all(1))
    assert errors(rt) == ["the function uses modules this runtime cannot load: fs"]
