"""Subflows: each instance gets its own copy, wired between the instance's input and its
outputs, with the instance's env over the subflow's defaults; tab env too."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from runtime.engine import FlowError, FlowRuntime
from runtime.subflows import expand
from tests.runtime.conftest import TAB, debug_values, node, run_flow

SUBFLOW = {"id": "sf", "type": "subflow", "name": "tag it",
           "in": [{"wires": [{"id": "sf-set"}]}],
           "out": [{"wires": [{"id": "sf-set", "port": 0}]}],
           "env": [{"name": "TAG", "value": "default", "type": "str"}]}
INSIDE = {"id": "sf-set", "type": "change", "z": "sf", "wires": [[]],
          "rules": [{"t": "set", "p": "tag", "pt": "msg", "to": "TAG", "tot": "env"}]}


def _instance(id_: str, out: str, tag: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": id_, "type": "subflow:sf", "z": "tab1", "wires": [[out]]}
    if tag is not None:
        entry["env"] = [{"name": "TAG", "value": tag, "type": "str"}]
    return entry


def test_each_instance_runs_its_own_copy_with_its_own_env() -> None:
    flow = [SUBFLOW, INSIDE,
            node("in1", "link in", [["a"]]), _instance("a", "d1", tag="line-1"),
            node("in2", "link in", [["b"]]), _instance("b", "d2"),
            node("d1", "debug", complete="tag"), node("d2", "debug", complete="tag")]

    async def act(rt: FlowRuntime) -> None:
        rt.inject("in1", {"payload": 1})
        rt.inject("in2", {"payload": 2})

    rt = run_flow(flow, act)
    assert debug_values(rt, "d1") == ["line-1"]
    assert debug_values(rt, "d2") == ["default"]
    assert "a-sf-set" in rt.nodes and "b-sf-set" in rt.nodes and "sf-set" not in rt.nodes


def test_tab_env_reaches_the_nodes_on_the_tab() -> None:
    async def main() -> list[Any]:
        rt = FlowRuntime()
        tab = {**TAB, "env": [{"name": "AREA", "value": "hall 3", "type": "str"}]}
        await rt.start([tab, node("in", "link in", [["c"]]),
                        node("c", "change", [["d"]], rules=[
                            {"t": "set", "p": "payload", "pt": "msg", "to": "AREA",
                             "tot": "env"}]),
                        node("d", "debug")])
        rt.inject("in", {"payload": 0})
        await asyncio.sleep(0.1)
        await rt.stop()
        return debug_values(rt, "d")

    assert asyncio.run(main()) == ["hall 3"]


def test_an_instance_of_a_missing_subflow_is_refused() -> None:
    async def main() -> None:
        with pytest.raises(FlowError, match="not in the flow"):
            await FlowRuntime().start([TAB, _instance("x", "y"), node("y", "debug")])

    asyncio.run(main())


def test_expand_leaves_a_flow_without_subflows_alone() -> None:
    flow = [TAB, node("a", "debug")]
    assert expand(flow) is flow


def test_a_function_in_a_subflow_reads_the_instance_env() -> None:
    import runtime.nodes.function  # noqa: F401  (registers the type)

    definition = {**SUBFLOW, "in": [{"wires": [{"id": "sf-fn"}]}],
                  "out": [{"wires": [{"id": "sf-fn", "port": 0}]}]}
    inside = {"id": "sf-fn", "type": "function", "z": "sf", "outputs": 1, "wires": [[]],
              "func": "msg.payload = env.get('TAG'); return msg;"}
    flow = [definition, inside, node("in", "link in", [["a"]]),
            _instance("a", "d", tag="from-instance"), node("d", "debug")]

    async def act(rt: FlowRuntime) -> None:
        rt.inject("in", {"payload": 0})

    rt = run_flow(flow, act, settle=0.5)
    assert debug_values(rt, "d") == ["from-instance"]
