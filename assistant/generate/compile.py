"""Compile a plan into Node-RED flow JSON: ids, a tab, config nodes, catalog defaults, wires
and a left-to-right layout that reads like a hand-drawn flow."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from typing import Any

from assistant.generate.plan import Plan
from flowschema.catalog import Catalog, default_catalog

COLUMN_WIDTH = 220
ROW_HEIGHT = 80
LEFT = 140
TOP = 60


def _node_id(seed: str, key: str) -> str:
    return hashlib.sha256(f"{seed}\0{key}".encode()).hexdigest()[:16]


def compile_plan(
    plan: Plan, *, catalog: Catalog | None = None, seed: str = ""
) -> list[dict[str, Any]]:
    """Turn `plan` into a flow. `seed` makes ids stable for the same request."""
    catalog = catalog or default_catalog()
    seed = seed or plan.name
    tab_id = _node_id(seed, "\0tab")
    ids = {node.key: _node_id(seed, node.key) for node in plan.nodes}
    config_ids = {config.key: _node_id(seed, "\0config:" + config.key) for config in plan.configs}

    flow: list[dict[str, Any]] = [
        {"id": tab_id, "type": "tab", "label": plan.name[:60] or "Plumb flow",
         "disabled": False, "info": "", "env": []}
    ]
    for config in plan.configs:
        spec = catalog.get(config.type)
        config_node: dict[str, Any] = {"id": config_ids[config.key], "type": config.type}
        config_node.update(spec.defaults() if spec else {})
        config_node.update(config.props)
        flow.append(config_node)

    outgoing: dict[str, dict[int, list[str]]] = defaultdict(lambda: defaultdict(list))
    for source, port, target in plan.wires:
        if source not in ids or target not in ids:
            raise ValueError(f"plan wire {source}->{target} names an unknown node")
        outgoing[source][port].append(ids[target])

    positions = _layout(plan)
    for node_plan in plan.nodes:
        spec = catalog.get(node_plan.type)
        node: dict[str, Any] = {"id": ids[node_plan.key], "type": node_plan.type, "z": tab_id}
        node.update(spec.defaults() if spec else {})
        if node.get("name") == "_DEFAULT_":
            node["name"] = ""
        node.update(node_plan.props)
        if isinstance(node.get("scope"), list):  # catch/status/complete name plan keys
            node["scope"] = [ids.get(key, key) for key in node["scope"]]
        for prop, config_key in node_plan.configs.items():
            node[prop] = config_ids[config_key]
        x, y = positions[node_plan.key]
        node["x"], node["y"] = x, y
        port_count = spec.output_count(node) if spec else 1
        ports = outgoing.get(node_plan.key, {})
        port_count = max([port_count, *(p + 1 for p in ports)]) if ports else port_count
        node["wires"] = [list(ports.get(port, [])) for port in range(port_count)]
        flow.append(node)
    return flow


def _layout(plan: Plan) -> dict[str, tuple[int, int]]:
    """Column = longest path from a source; row = order of first appearance per column,
    with each chain kept on its own lane where it can."""
    incoming: dict[str, list[str]] = defaultdict(list)
    for source, _port, target in plan.wires:
        incoming[target].append(source)
    column: dict[str, int] = {}

    def depth(key: str, seen: frozenset[str]) -> int:
        if key in column:
            return column[key]
        parents = [p for p in incoming.get(key, []) if p not in seen]
        value = 0 if not parents else 1 + max(depth(p, seen | {key}) for p in parents)
        column[key] = value
        return value

    for node in plan.nodes:
        depth(node.key, frozenset())
    rows: dict[int, int] = defaultdict(int)
    lane: dict[str, int] = {}
    positions: dict[str, tuple[int, int]] = {}
    for node in plan.nodes:
        col = column[node.key]
        parents = incoming.get(node.key, [])
        preferred = min((lane[p] for p in parents if p in lane), default=rows[col])
        row = max(preferred, rows[col])
        lane[node.key] = row
        rows[col] = row + 1
        positions[node.key] = (LEFT + col * COLUMN_WIDTH, TOP + row * ROW_HEIGHT)
    return positions
