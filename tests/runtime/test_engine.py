"""The engine: message delivery and cloning, errors to Catch nodes, status and complete,
missing types, disabled nodes, context, the loop guard."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from runtime.context import ContextStore
from runtime.engine import FlowError, FlowRuntime, MissingTypesError
from runtime.message import Message
from runtime.node import Done, Node, Send
from runtime.registry import NodeRegistry, RegistryError
from tests.runtime.conftest import TAB, debug_values, node, run_flow


def test_fan_out_clones_for_every_wire_after_the_first() -> None:
    async def act(rt: FlowRuntime) -> None:
        rt.inject("in", {"payload": {"n": 1}})

    rt = run_flow([node("in", "link in", [["a", "b"]]), node("a", "debug", complete="true"),
                   node("b", "debug", complete="true")], act)
    first, second = debug_values(rt, "a")[0], debug_values(rt, "b")[0]
    assert first["payload"] == second["payload"] == {"n": 1}
    assert first["_msgid"] == second["_msgid"]


def test_missing_types_refuse_to_start_with_the_list() -> None:
    async def main() -> None:
        with pytest.raises(MissingTypesError) as info:
            await FlowRuntime().start([TAB, node("a", "no-such"), node("b", "nor-this"),
                                       node("c", "debug")])
        assert info.value.types == ["no-such", "nor-this"]
        assert info.value.as_dict() == {"error": "missing_types",
                                        "types": ["no-such", "nor-this"]}

    asyncio.run(main())


@pytest.mark.parametrize("flow", [{"not": "a list"}, [{"type": "debug"}],
                                  [{"id": "a", "type": "debug"}, {"id": "a", "type": "debug"}]])
def test_malformed_flows_are_refused(flow: Any) -> None:
    async def main() -> None:
        with pytest.raises(FlowError):
            await FlowRuntime().start(flow)

    asyncio.run(main())


def test_a_type_cannot_be_registered_twice() -> None:
    reg = NodeRegistry()

    @reg.register("thing")
    class One(Node):
        pass

    with pytest.raises(RegistryError, match="already registered"):
        @reg.register("thing")
        class Two(Node):
            pass


def test_disabled_nodes_and_tabs_do_not_run() -> None:
    flow = [node("i", "inject", [["d"]], once=True, onceDelay=0.01, payload="x",
                 payloadType="str"),
            node("d", "debug", d=True),
            {"id": "tab2", "type": "tab", "disabled": True},
            {"id": "j", "type": "inject", "z": "tab2", "once": True, "onceDelay": 0.01,
             "wires": [["e"]]},
            {"id": "e", "type": "debug", "z": "tab2", "wires": []}]
    rt = run_flow(flow)
    assert debug_values(rt) == []
    assert set(rt.nodes) == {"i"}


def _json_error_flow(**catch: Any) -> list[dict[str, Any]]:
    return [node("in", "link in", [["parse"]]), node("parse", "json", [["ok"]]),
            node("ok", "debug"), node("c", "catch", [["err"]], **catch),
            node("err", "debug", complete="error")]


def test_errors_reach_catch_nodes_with_the_source() -> None:
    async def act(rt: FlowRuntime) -> None:
        rt.inject("in", {"payload": "{bad json"})

    rt = run_flow(_json_error_flow(scope=None), act)
    [error] = debug_values(rt, "err")
    assert error["source"] == {"id": "parse", "type": "json", "name": "", "count": 1}
    assert "invalid JSON" in error["message"]
    assert debug_values(rt, "ok") == []


def test_scoped_catch_ignores_other_nodes_and_uncaught_only_hears_the_rest() -> None:
    async def act(rt: FlowRuntime) -> None:
        rt.inject("in", {"payload": "{bad"})

    scoped = run_flow(_json_error_flow(scope=["someone-else"]), act)
    assert debug_values(scoped, "err") == []
    assert any(e["kind"] == "log" and e["level"] == "error" for e in scoped.events)
    flow = [*_json_error_flow(scope=None), node("u", "catch", [["uerr"]], uncaught=True),
            node("uerr", "debug", complete="error")]
    both = run_flow(flow, act)
    assert len(debug_values(both, "err")) == 1 and debug_values(both, "uerr") == []


class _Failing(Node):
    def on_input(self, msg: Message, send: Send, done: Done) -> None:
        raise RuntimeError("always fails")


def test_a_message_loop_through_catch_is_stopped() -> None:
    from runtime.registry import registry

    if registry.get("test-failing") is None:
        registry.register("test-failing")(_Failing)
    flow = [node("f", "test-failing"), node("c", "catch", [["f"]], scope=["f"])]

    async def act(rt: FlowRuntime) -> None:
        rt.inject("f", {"payload": 1})

    rt = run_flow(flow, act, settle=0.3)
    assert any("message loop" in e.get("text", "") for e in rt.events if e["kind"] == "log")


def test_status_and_complete_nodes_hear_the_nodes_they_cover() -> None:
    flow = [node("in", "link in", [["j"]]), node("j", "json", [["end"]]), node("end", "debug"),
            node("done", "complete", [["heard"]], scope=["j"]),
            node("heard", "debug", complete="payload"),
            node("st", "status", [["stat"]], scope=None),
            node("stat", "debug", complete="status")]

    async def act(rt: FlowRuntime) -> None:
        rt.inject("in", {"payload": '{"a": 1}'})
        await asyncio.sleep(0.05)
        rt.nodes["end"].status(fill="green", shape="dot", text="ok")

    rt = run_flow(flow, act)
    assert debug_values(rt, "heard") == [{"a": 1}]
    [status] = debug_values(rt, "stat")
    assert status["text"] == "ok" and status["source"]["id"] == "end"


def test_persistent_context_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "context.json"
    store = ContextStore(path)
    store.set("flow:tab1", "count", 3)
    again = ContextStore(path)
    assert again.get("flow:tab1", "count") == 3
    path.write_text("{broken")
    with pytest.raises(ValueError, match="unreadable"):
        ContextStore(path)


def test_inject_types_and_a_repeat() -> None:
    flow = [node("i", "inject", [["d"]], repeat="0.05", payload='{"a": [1, 2]}',
                 payloadType="json", topic="t1"), node("d", "debug", complete="true")]
    rt = run_flow(flow, settle=0.18)
    values = debug_values(rt, "d")
    assert 2 <= len(values) <= 4
    assert values[0]["payload"] == {"a": [1, 2]} and values[0]["topic"] == "t1"


def test_debug_reads_old_editor_settings_and_jsonata() -> None:
    async def act(rt: FlowRuntime) -> None:
        rt.inject("in", {"payload": "Hello", "topic": "Sample"})

    flow = [node("in", "link in", [["old", "expr"]]), node("old", "debug", complete="false"),
            node("expr", "debug", complete='"[" & topic & "] " & payload',
                 targetType="jsonata"),
            node("i", "inject", [["s"]], once=True, onceDelay=0.01,
                 props=[{"p": "label", "v": "text", "vt": "string"}]),
            node("s", "debug", complete="label")]
    rt = run_flow(flow, act)
    assert debug_values(rt, "old") == ["Hello"]
    assert debug_values(rt, "expr") == ["[Sample] Hello"]
    assert debug_values(rt, "s") == ["text"]  # "string" is the older spelling of "str"
