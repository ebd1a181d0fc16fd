"""What the message hot path's shortcuts must not change: a function node's sandbox keeps
its copy of context between messages (and must notice writes made elsewhere), a body
without `await` runs as a plain function, function output is not copied needlessly but
fan-out still is, and cached catch/status lookups follow deploys."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from runtime.context import ContextStore
from runtime.engine import FlowRuntime
from runtime.message import new_id
from tests.runtime.conftest import TAB, debug_values, node, run_flow, until


def _feed(*payloads: Any, gap: float = 0.02) -> Any:
    async def act(rt: FlowRuntime) -> None:
        for payload in payloads:
            rt.inject("in", {"payload": payload})
            await asyncio.sleep(gap)

    return act


def test_the_sandbox_sees_context_written_outside_it_between_messages() -> None:
    # The function reads flow.k and global.g; Python writes both between messages.
    flow = [node("in", "link in", [["fn"]]),
            node("fn", "function", [["out"]],
                 func="msg.payload = [flow.get('k'), global.get('g')]; return msg;"),
            node("out", "debug")]

    async def act(rt: FlowRuntime) -> None:
        rt.inject("in", {"payload": 0})
        await until(lambda: debug_values(rt, "out"), "first output")
        rt.context_store.set("flow:tab1", "k", "one")
        rt.context_store.set("global", "g", {"n": 1})
        rt.inject("in", {"payload": 0})
        await until(lambda: len(debug_values(rt, "out")) == 2, "second output")
        rt.context_store.set("flow:tab1", "k", None)
        rt.inject("in", {"payload": 0})

    rt = run_flow(flow, act)
    assert debug_values(rt, "out") == [[None, None], ["one", {"n": 1}], [None, {"n": 1}]]


def test_two_function_nodes_share_flow_context_in_both_directions() -> None:
    writer = "flow.set('count', (flow.get('count') || 0) + 1); return msg;"
    reader = "msg.payload = flow.get('count'); flow.set('seen', msg.payload); return msg;"
    flow = [node("in", "link in", [["w"]]),
            node("w", "function", [["r"]], func=writer),
            node("r", "function", [["out"]], func=reader),
            node("out", "debug")]
    rt = run_flow(flow, _feed(1, 2, 3))
    assert debug_values(rt, "out") == [1, 2, 3]
    assert rt.context_store.scope("flow:tab1") == {"count": 3, "seen": 3}


def test_an_object_kept_from_an_earlier_message_and_changed_later_is_synced() -> None:
    # The body holds on to the object it got in the first call and changes it in place in
    # later calls without calling set again: the store must still follow.
    func = ("if (!this.kept) { this.kept = context.get('o') || {n: 0};"
            " context.set('o', this.kept); }\n"
            "this.kept.n += 1; return null;")
    rt = run_flow([node("in", "link in", [["fn"]]), node("fn", "function", func=func)],
                  _feed(1, 2, 3))
    assert rt.context_store.get("node:fn", "o") == {"n": 3}


def test_a_body_with_await_and_one_without_give_the_same_results() -> None:
    plain = "msg.payload = msg.payload * 2; return msg;"
    awaiting = ("await new Promise(function (r) { setTimeout(r, 1); });\n"
                "msg.payload = msg.payload * 2; return msg;")
    promise = "return Promise.resolve(msg).then(function (m) { m.payload *= 2; return m; });"
    throwing = "if (msg.payload === 2) throw new Error('two'); return msg;"
    flow = [node("in", "link in", [["a", "b", "c", "d"]]),
            node("a", "function", [["oa"]], func=plain), node("oa", "debug"),
            node("b", "function", [["ob"]], func=awaiting), node("ob", "debug"),
            node("c", "function", [["oc"]], func=promise), node("oc", "debug"),
            node("d", "function", [["od"]], func=throwing), node("od", "debug"),
            node("catch", "catch", [["caught"]]), node("caught", "debug", complete="true")]
    rt = run_flow(flow, _feed(1, 2), settle=0.4)
    for out in ("oa", "ob", "oc"):
        assert debug_values(rt, out) == [2, 4], out
    assert debug_values(rt, "od") == [1]
    assert [v["error"]["message"] for v in debug_values(rt, "caught")] == ["Error: two"]


def test_a_body_without_node_still_gets_errors_and_sends_right() -> None:
    # No `node` in the body: no node object is made, but the result still goes out with
    # the input's _msgid, and a body that names node still can use it.
    flow = [node("in", "link in", [["a", "b"]]),
            node("a", "function", [["oa"]], func="return [msg, {payload: 'x'}];", outputs=2),
            node("oa", "debug", complete="true"),
            node("b", "function", func="node.send({payload: 'sent'}); return null;",
                 wires=[["ob"]]),
            node("ob", "debug")]

    async def act(rt: FlowRuntime) -> None:
        rt.inject("in", {"payload": 1, "_msgid": "abc"})

    rt = run_flow(flow, act)
    assert debug_values(rt, "oa") == [{"payload": 1, "_msgid": "abc"}]
    assert debug_values(rt, "ob") == ["sent"]


def test_function_output_to_two_wires_is_still_two_copies() -> None:
    # The second wire's message is a copy: the first change node's edit does not leak.
    flow = [node("in", "link in", [["fn"]]),
            node("fn", "function", [["set", "keep"]],
                 func="msg.payload = {v: 1}; return msg;"),
            node("set", "change", [["o1"]], rules=[
                {"t": "set", "p": "payload.v", "pt": "msg", "to": "2", "tot": "num"}]),
            node("keep", "delay", [["o2"]], pauseType="delay", timeout="50",
                 timeoutUnits="milliseconds"),
            node("o1", "debug"), node("o2", "debug")]
    rt = run_flow(flow, _feed(0), settle=0.4)
    assert debug_values(rt, "o1") == [{"v": 2}]
    assert debug_values(rt, "o2") == [{"v": 1}]


def test_a_catch_node_added_by_a_nodes_deploy_hears_errors() -> None:
    thrower = node("fn", "function", func="throw new Error('boom');")
    base = [TAB, node("in", "link in", [["fn"]]), thrower]
    with_catch = [*base, node("catch", "catch", [["caught"]]),
                  node("caught", "debug", complete="true")]

    async def main() -> list[Any]:
        rt = FlowRuntime()
        await rt.start(base)
        rt.inject("in", {"payload": 1})
        await until(lambda: [e for e in rt.events if e["kind"] == "log"], "the error log")
        await rt.update(with_catch, "nodes")
        rt.inject("in", {"payload": 2})
        await until(lambda: debug_values(rt, "caught"), "the caught error")
        await rt.update(base, "nodes")
        rt.inject("in", {"payload": 3})
        await asyncio.sleep(0.2)
        values = debug_values(rt, "caught")
        await rt.stop()
        return values

    caught = asyncio.run(main())
    assert [v["payload"] for v in caught] == [2]


def test_message_ids_are_node_red_shaped_and_distinct() -> None:
    ids = {new_id() for _ in range(10_000)}
    assert len(ids) == 10_000
    assert all(re.fullmatch(r"[0-9a-f]{16}", i) for i in ids)


def test_context_versions_move_on_every_write() -> None:
    store = ContextStore()
    seen = [store.version("s")]
    store.set("s", "a", 1)
    seen.append(store.version("s"))
    store.update("s", {"a": None, "b": 2})
    seen.append(store.version("s"))
    store.clear("s")
    seen.append(store.version("s"))
    assert len(set(seen)) == 4
    assert store.version("other") == 0
