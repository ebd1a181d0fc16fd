"""Read-only questions about a flow: nodes by id, wiring, labels, free places on the canvas."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from typing import Any

from assistant.edit.model import Flow, Node
from flowschema.catalog import Catalog

X_STEP = 200
Y_STEP = 60
_NO_CANVAS = frozenset({"tab", "subflow", "group"})
# Nodes that start a message on their own but carry no process data.
_LABEL_KEYS = ("topic", "url", "filename", "tcpHost", "endpoint", "item")
_NON_DATA_SOURCES = frozenset({"catch", "status", "complete", "comment", "link in", "http in"})


def by_id(flow: Flow) -> dict[str, Node]:
    return {n["id"]: n for n in flow if isinstance(n, dict) and isinstance(n.get("id"), str)}


def is_config(node: Node, catalog: Catalog) -> bool:
    spec = catalog.get(str(node.get("type")))
    return spec is not None and spec.config and node.get("type") not in _NO_CANVAS


def canvas_nodes(flow: Flow, catalog: Catalog) -> list[Node]:
    """Nodes drawn on a tab with ports: not tabs, groups or config nodes."""
    return [
        n
        for n in flow
        if isinstance(n, dict)
        and n.get("type") not in _NO_CANVAS
        and not is_config(n, catalog)
        and "id" in n
    ]


def wires_of(node: Node) -> list[list[str]]:
    wires = node.get("wires")
    if not isinstance(wires, list):
        return []
    return [
        [t for t in port if isinstance(t, str)] if isinstance(port, list) else [] for port in wires
    ]


def successors(node: Node) -> list[tuple[int, str]]:
    return [(port, target) for port, targets in enumerate(wires_of(node)) for target in targets]


def predecessors(flow: Flow, node_id: str) -> list[tuple[str, int]]:
    """(node id, port) of every wire that ends at `node_id`."""
    found = []
    for node in flow:
        for port, target in successors(node):
            if target == node_id:
                found.append((str(node["id"]), port))
    return found


def output_count(node: Node, catalog: Catalog) -> int:
    spec = catalog.get(str(node.get("type")))
    return spec.output_count(node) if spec is not None else len(wires_of(node))


def input_count(node: Node, catalog: Catalog) -> int:
    spec = catalog.get(str(node.get("type")))
    return spec.inputs if spec is not None else 1


def data_sources(flow: Flow, catalog: Catalog) -> list[Node]:
    """Nodes where process data enters: nothing wires into them and they send messages."""
    fed = {target for node in flow for _, target in successors(node)}
    return [
        n
        for n in canvas_nodes(flow, catalog)
        if n["id"] not in fed
        and output_count(n, catalog) > 0
        and n.get("type") not in _NON_DATA_SOURCES
    ]


def downstream(flow: Flow, start: str) -> list[str]:
    """Ids reachable from `start` along wires, breadth first, `start` excluded."""
    index = by_id(flow)
    seen = {start}
    order: list[str] = []
    frontier = [start]
    while frontier:
        nxt: list[str] = []
        for node_id in frontier:
            for _, target in successors(index.get(node_id, {})):
                if target not in seen and target in index:
                    seen.add(target)
                    order.append(target)
                    nxt.append(target)
        frontier = nxt
    return order


def tab_of(flow: Flow, near: Node | None = None) -> str | None:
    if near is not None and isinstance(near.get("z"), str):
        return str(near["z"])
    for node in flow:
        if node.get("type") == "tab" and isinstance(node.get("id"), str):
            return str(node["id"])
    return None


def label(node: Node) -> str:
    """How a person names the node: its name, else what it talks to, else its type."""
    for key in ("name", "label"):
        value = node.get(key)
        if isinstance(value, str) and value.strip() and value != "_DEFAULT_":
            return value.strip()
    keys = ("broker",) if node.get("type") == "mqtt-broker" else _LABEL_KEYS
    for key in keys:
        value = node.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return str(node.get("type", "node"))


def describe(node: Node) -> str:
    """`mqtt out 'historian'`."""
    return f"{node.get('type')} '{label(node)}'"


# --- ids ------------------------------------------------------------------------------------------


class IdMaker:
    """Deterministic fresh ids: 16 hex digits, derived from the flow and the instruction, so
    the same edit of the same flow gives the same ids."""

    def __init__(self, flow: Flow, salt: str = ""):
        self._taken = set(by_id(flow))
        ids = ",".join(sorted(self._taken))
        self._seed = hashlib.sha256(f"{salt}|{ids}".encode()).hexdigest()
        self._count = 0

    def __call__(self) -> str:
        while True:
            self._count += 1
            candidate = hashlib.sha256(f"{self._seed}:{self._count}".encode()).hexdigest()[:16]
            if candidate not in self._taken:
                self._taken.add(candidate)
                return candidate


# --- layout ---------------------------------------------------------------------------------------


def _position(node: Node) -> tuple[float, float] | None:
    x, y = node.get("x"), node.get("y")
    if isinstance(x, (int, float)) and isinstance(y, (int, float)):
        return float(x), float(y)
    return None


def occupied(flow: Flow, z: str | None, x: float, y: float, ignore: Iterable[str] = ()) -> bool:
    skip = set(ignore)
    for node in flow:
        if node.get("id") in skip or node.get("z") != z:
            continue
        pos = _position(node)
        if pos is not None and abs(pos[0] - x) < 160 and abs(pos[1] - y) < 40:
            return True
    return False


def free_lane(flow: Flow, z: str | None, xs: list[float], y: float) -> float:
    """The first y at or below `y` where every x of `xs` is free."""
    while any(occupied(flow, z, x, y) for x in xs):
        y += Y_STEP
    return y


def position_of(node: Node) -> tuple[float, float]:
    return _position(node) or (150.0, 60.0)


def bottom(flow: Flow, z: str | None) -> float:
    ys = [p[1] for n in flow if n.get("z") == z and (p := _position(n)) is not None]
    return max(ys) if ys else 0.0


def left(flow: Flow, z: str | None) -> float:
    xs = [p[0] for n in flow if n.get("z") == z and (p := _position(n)) is not None]
    return min(xs) if xs else 150.0


def string_values(value: Any) -> Iterator[str]:
    """Every string inside a property value (rules, props lists, ...)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from string_values(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from string_values(item)


_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def interval_seconds(node: Node) -> float | None:
    """How often a node fires by itself, in seconds (inject repeat, modbus-read rate,
    OpcUa-Client time); None when it does not."""
    kind = node.get("type")
    if kind == "inject":
        value, unit = node.get("repeat"), "s"
    elif kind == "modbus-read":
        value, unit = node.get("rate"), str(node.get("rateUnit") or "s")
    elif kind == "OpcUa-Client":
        value, unit = node.get("time"), str(node.get("timeUnit") or "s")
    else:
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number * _UNIT_SECONDS[unit] if unit in _UNIT_SECONDS else None
