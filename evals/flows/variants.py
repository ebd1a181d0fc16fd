"""Broken variants of a reference answer, to prove the checks can fail.

Each variant breaks one thing a careless generator might get wrong. A variant that does not
apply to a case (no MQTT topic to change, say) is skipped.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from evals.flows.cases import Case
from evals.flows.matching import matching_ids, successors

Flow = list[dict[str, Any]]


def _topic_nodes(case: Case, flow: Flow) -> list[dict[str, Any]]:
    """MQTT nodes whose topic the case's matchers pin down."""
    pinned = [m for m in case.nodes.values() if "topic" in (m.get("props") or {})]
    ids = {i for m in pinned for i in matching_ids(flow, m)}
    return [n for n in flow if n.get("id") in ids and n.get("type") in ("mqtt out", "mqtt in")]


def wrong_topic(case: Case, flow: Flow) -> Flow | None:
    nodes = _topic_nodes(case, flow)
    if not nodes:
        return None
    broken = copy.deepcopy(flow)
    for node in broken:
        if node["id"] in {n["id"] for n in nodes}:
            node["topic"] = str(node["topic"]).rstrip("/#+") + "/wrong"
    return broken


def wrong_register(case: Case, flow: Flow) -> Flow | None:
    pinned = [m for m in case.nodes.values() if "adr" in (m.get("props") or {})]
    ids = {i for m in pinned for i in matching_ids(flow, m)}
    if not ids:
        return None
    broken = copy.deepcopy(flow)
    for node in broken:
        if node.get("id") in ids:
            node["adr"] = str(int(float(node["adr"])) + 1)
    return broken


def unknown_type(case: Case, flow: Flow) -> Flow | None:
    first = case.paths[0][0] if case.paths else None
    ids = matching_ids(flow, case.nodes[first]) if first else []
    if not ids:
        return None
    broken = copy.deepcopy(flow)
    for node in broken:
        if node.get("id") == ids[0]:
            node["type"] = f"{node['type']}-typo"
    return broken


def missing_wire(case: Case, flow: Flow) -> Flow | None:
    """Cut the wires leaving the first path's source nodes, so nothing flows on."""
    if not case.paths:
        return None
    sources = set(matching_ids(flow, case.nodes[case.paths[0][0]]))
    graph = successors(flow)
    if not any(graph.get(s) for s in sources):
        return None
    broken = copy.deepcopy(flow)
    for node in broken:
        if node.get("id") in sources:
            if isinstance(node.get("wires"), list):
                node["wires"] = [[] for _ in node["wires"]]
            if node.get("type") in ("link out", "link call"):
                node["links"] = []
    return broken


VARIANTS: dict[str, Callable[[Case, Flow], Flow | None]] = {
    "wrong_topic": wrong_topic,
    "wrong_register": wrong_register,
    "unknown_type": unknown_type,
    "missing_wire": missing_wire,
}
