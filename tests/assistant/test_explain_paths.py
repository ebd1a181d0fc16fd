"""Walk enumeration: fan-out as branches, merges and cycles as pointers, links, junctions,
subflows, disabled nodes, hard limits on huge flows, and odd input that must not crash."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

from hypothesis import HealthCheck, given, settings

from assistant.explain import explain_flow, render_text
from assistant.explain.paths import MAX_STEPS_PER_WALK, MAX_WALKS
from tests.flowschema.test_fuzz import mutated_flows

TAB = {"id": "t1", "type": "tab", "label": "Main"}


def node(node_id: str, node_type: str, *wires: list[str], **props: Any) -> dict[str, Any]:
    return {"id": node_id, "type": node_type, "z": "t1", "wires": list(wires), **props}


def inject(node_id: str, *targets: str, repeat: str = "5") -> dict[str, Any]:
    return node(node_id, "inject", list(targets), repeat=repeat, payloadType="date")


def debug(node_id: str) -> dict[str, Any]:
    return node(node_id, "debug", complete="payload")


def test_fan_out_and_merge_describe_each_node_once() -> None:
    flow = [
        TAB,
        inject("i", "a", "b", "c"),
        *(node(x, "change", ["m"], rules=[]) for x in "abc"),
        node("m", "change", ["d"], rules=[]),
        debug("d"),
    ]
    [walk] = explain_flow(flow).paths
    assert [s.type for s in walk.source.next] == ["change"] * 3
    steps = list(walk.steps())
    assert [s.id for s in steps if not s.ref] == ["i", "a", "m", "d", "b", "c"]
    assert [s.ref for s in steps if s.ref] == ["merge", "merge"]


def test_cycles_end_in_a_pointer() -> None:
    flow = [
        TAB,
        inject("i", "f"),
        node("f", "function", ["w"], ["d"], func="return [msg, null];", outputs=2, timeout=5),
        node("w", "delay", ["f"], pauseType="delay", timeout="10", timeoutUnits="seconds"),
        debug("d"),
    ]
    explanation = explain_flow(flow)
    [walk] = explanation.paths
    loop = walk.source.next[0].next[0].next[0]
    assert (loop.id, loop.ref) == ("f", "cycle")
    assert "loops back" in (loop.end or "")
    assert walk.source.next[0].next[0].description == "delays each message by 10 s"
    assert "loops back to this earlier step (a cycle)" in render_text(explanation)


def test_diamond_ladder_does_not_explode() -> None:
    """25 stages of fan-out-and-merge: 2**25 distinct paths, one tree of ~100 steps."""
    stages = 25
    flow: list[dict[str, Any]] = [TAB, inject("i", "s0")]
    for stage in range(stages):
        nxt = f"s{stage + 1}"
        flow.append(node(f"s{stage}", "change", [f"l{stage}", f"r{stage}"], rules=[]))
        flow.append(node(f"l{stage}", "change", [nxt], rules=[]))
        flow.append(node(f"r{stage}", "change", [nxt], rules=[]))
    flow.append(debug(f"s{stages}"))
    started = time.monotonic()
    [walk] = explain_flow(flow).paths
    assert time.monotonic() - started < 5
    steps = list(walk.steps())
    assert not walk.truncated
    assert len(steps) == 4 * stages + 2  # 3 nodes and 1 merge pointer per stage
    assert len({s.id for s in steps if not s.ref}) == len([s for s in steps if not s.ref])


def test_links_are_followed_across_tabs_and_unlinked_link_in_is_a_source() -> None:
    flow = [
        TAB,
        {"id": "t2", "type": "tab", "label": "Other"},
        inject("i", "lo"),
        node("lo", "link out", mode="link", links=["li"], name="to other"),
        {**node("li", "link in", ["d"], links=["lo"], name="from main"), "z": "t2"},
        {**debug("d"), "z": "t2"},
        node("orphan", "link in", ["d2"], links=[]),
        debug("d2"),
    ]
    walks = explain_flow(flow).paths
    assert [w.source.id for w in walks] == ["i", "orphan"]
    first = walks[0].source.next[0]
    assert first.id == "lo"
    assert first.description == 'passes the message to link in "from main" on "Other"'
    assert [s.id for s in first.next] == ["d"]  # the link in is a hop, not a step
    assert walks[1].trigger.kind == "link"


def test_link_call_walks_the_called_part_then_continues() -> None:
    flow = [
        TAB,
        inject("i", "call"),
        node("call", "link call", ["after"], links=["sub"], linkType="static", timeout="30"),
        node("sub", "link in", ["work"], links=[]),
        node("work", "change", ["ret"], rules=[]),
        node("ret", "link out", mode="return", links=[]),
        debug("after"),
    ]
    [walk] = explain_flow(flow).paths
    call = walk.source.next[0]
    assert "waits up to 30 s" in call.description
    assert [(c.id, c.via) for c in call.next] == [
        ("work", "called part"),
        ("after", "after the called part returns"),
    ]
    assert call.next[0].next[0].end == "returns to the link call that called it"


def test_junctions_are_transparent_and_disabled_nodes_stop_the_walk() -> None:
    flow = [
        TAB,
        inject("i", "j"),
        node("j", "junction", ["a", "b"]),
        {**node("a", "change", ["d"], rules=[]), "d": True},
        debug("b"),
        debug("d"),
    ]
    explanation = explain_flow(flow)
    [walk] = explanation.paths
    assert [s.id for s in walk.source.next] == ["a", "b"]
    disabled = walk.source.next[0]
    assert disabled.description.startswith("(disabled) ")
    assert disabled.end == "disabled: Node-RED drops messages here" and not disabled.next
    assert "disabled-nodes" in {r.code for r in explanation.risks}


def test_disabled_tab_sources_do_not_run() -> None:
    flow = [{**TAB, "disabled": True}, inject("i", "d"), debug("d")]
    explanation = explain_flow(flow)
    [walk] = explanation.paths
    assert walk.disabled and not walk.source.next
    assert explanation.summary == "No node in this flow starts messages, so nothing in it runs."


def test_huge_chain_is_cut_at_the_step_limit() -> None:
    count = 1500
    flow = [TAB, inject("i", "n0")]
    flow += [node(f"n{k}", "change", [f"n{k + 1}"], rules=[]) for k in range(count)]
    flow.append(debug(f"n{count}"))
    started = time.monotonic()
    explanation = explain_flow(flow)
    assert time.monotonic() - started < 10
    [walk] = explanation.paths
    assert walk.truncated and explanation.truncated
    assert len(list(walk.steps())) == MAX_STEPS_PER_WALK + 1
    assert "step limit" in render_text(explanation)


def test_many_sources_are_capped() -> None:
    flow = [TAB] + [inject(f"i{k}", "d") for k in range(MAX_WALKS + 5)] + [debug("d")]
    explanation = explain_flow(flow)
    assert len(explanation.paths) == MAX_WALKS
    assert explanation.omitted_sources == 5
    assert "5 more message sources are not walked" in explanation.summary
    assert "5 more paths not shown" in render_text(explanation)


def test_nodes_no_source_reaches_are_listed() -> None:
    flow = [TAB, inject("i", "d"), debug("d"), node("lonely", "change", ["d"], rules=[])]
    explanation = explain_flow(flow)
    assert [n["id"] for n in explanation.unreached] == ["lonely"]
    assert "Not on any path: change" in render_text(explanation)


def test_odd_input_is_explained_without_crashing() -> None:
    flows: list[Any] = [
        [],
        [1, "x", None, {"id": 5}, {"type": "inject"}],
        [{"id": "a", "type": "inject", "wires": "nope"}, {"id": "b", "type": "mystery"}],
        [{"id": "a", "type": "inject", "wires": [[1, None, "zz"]], "repeat": {"x": 1}}],
        [{"id": "s", "type": "switch", "rules": "no", "wires": [["s"]]}, inject("i", "s")],
        [{"id": "sf", "type": "subflow", "in": [{"wires": [{"id": "missing"}]}], "out": 3}],
        [{"id": "x", "type": "subflow:nowhere", "wires": [[]]}],
    ]
    for flow in flows:
        explanation = explain_flow(flow)
        json.dumps(explanation.to_dict())
        render_text(explanation)
    assert explain_flow([]).summary == "This flow has no nodes, so it does nothing."


def test_absurd_property_values_stay_bounded() -> None:
    """JSON allows Infinity and huge numbers; ports and cron ranges must not loop on them."""
    flow = [
        TAB,
        inject("i", "f"),
        node("f", "function", ["d"], func="return msg;", outputs=10**30, timeout=5),
        node("c", "inject", ["d"], crontab="0 6 * * 1-99999999999"),
        debug("d"),
    ]
    started = time.monotonic()
    explanation = explain_flow(flow)
    assert time.monotonic() - started < 5
    assert (
        'on the cron schedule "0 6 * * 1-99999999999"' in explanation.paths[1].trigger.description
    )
    broken = explain_flow([TAB, inject("i", "f"), {**flow[2], "outputs": float("inf")}])
    # The validator raises on this one (an int() of infinity); explaining carries on.
    assert broken.findings.failure is None or "OverflowError" in broken.findings.failure
    assert "Validation:" in render_text(broken)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_flows())
def test_mutated_flows_never_crash(flow: list[Any]) -> None:
    explanation = explain_flow(copy.deepcopy(flow))
    json.dumps(explanation.to_dict())
    assert render_text(explanation).startswith("Summary\n")
