"""The flow as a graph: usable nodes, their specs, wires, links, subflow ports, sources.

Everything here tolerates malformed input (wires that are not lists, ids that point
nowhere, non-object elements): the validator reports those; explaining just skips them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from assistant.explain.text import number, text_of, truthy
from flowschema.catalog import SUBFLOW_PREFIX, Catalog, NodeSpec
from flowschema.model import FlowIndex

Node = dict[str, Any]

# Nodes that start a walk by themselves although their type has an input port.
SOURCE_TYPES_WITH_INPUT = frozenset({"mqtt in"})
ERROR_SOURCES = frozenset({"catch", "status", "complete"})
STANDALONE = frozenset({"comment", "group", "tab", "subflow"})
# Nodes whose work is done when the message arrives; wiring their output is optional.
OPTIONAL_OUTPUT = frozenset(
    {"file", "modbus-write", "modbus-flex-write", "exec", "modbus-flex-connector", "http request"}
)
MAX_OUTPUTS = 500  # the function node's editor limit
OPCUA_WRITES = frozenset({"write", "writemultiple", "writefile"})


def optional_output(node: Mapping[str, Any]) -> bool:
    node_type = node.get("type")
    if node_type == "http request":
        return str(node.get("method") or "GET").upper() not in ("GET", "HEAD")
    if node_type == "OpcUa-Client":
        return text_of(node.get("action")) in OPCUA_WRITES
    return node_type in OPTIONAL_OUTPUT


def usable_nodes(flow: Any) -> list[Node]:
    if not isinstance(flow, list):
        return []
    return [
        n
        for n in flow
        if isinstance(n, dict)
        and isinstance(n.get("id"), str)
        and n["id"]
        and isinstance(n.get("type"), str)
        and n["type"]
    ]


class FlowGraph:
    def __init__(self, flow: Any, catalog: Catalog):
        self.catalog = catalog
        self.nodes = usable_nodes(flow)
        self.index = FlowIndex.build(self.nodes, catalog)
        self.by_id: dict[str, Node] = self.index.by_id
        self.order = {id(n): i for i, n in enumerate(self.nodes)}
        self.tabs = [n for n in self.nodes if n["type"] == "tab"]
        self.subflows = list(self.index.subflows.values())
        self.incoming: dict[str, set[str]] = {}
        self.linked_ins: set[str] = set()  # link in nodes some link out / link call names
        self.subflow_out: dict[tuple[str, int], list[int]] = {}
        self.subflow_in: dict[str, list[str]] = {}
        self.instances: dict[str, list[Node]] = {}
        self._build()

    def _build(self) -> None:
        for node in self.nodes:
            for targets in self.wires(node):
                for target in targets:
                    self.incoming.setdefault(target, set()).add(node["id"])
            if node["type"] in ("link out", "link call"):
                for target in self.link_targets(node):
                    self.linked_ins.add(target)
                    self.incoming.setdefault(target, set()).add(node["id"])
            if node["type"].startswith(SUBFLOW_PREFIX):
                self.instances.setdefault(node["type"][len(SUBFLOW_PREFIX) :], []).append(node)
        for subflow in self.subflows:
            for side in ("in", "out"):
                for number_, wire in _port_wires(subflow, side):
                    inner = wire.get("id")
                    if not isinstance(inner, str) or inner not in self.by_id:
                        continue
                    if side == "in":
                        self.subflow_in.setdefault(subflow["id"], []).append(inner)
                        self.incoming.setdefault(inner, set()).add(subflow["id"])
                    else:
                        port = wire.get("port", 0)
                        port = port if isinstance(port, int) else 0
                        self.subflow_out.setdefault((inner, port), []).append(number_)

    # -- lookups ---------------------------------------------------------------------

    def spec(self, node: Mapping[str, Any]) -> NodeSpec | None:
        return self.index.spec_of(node)

    def get(self, node_id: Any) -> Node | None:
        return self.by_id.get(node_id) if isinstance(node_id, str) else None

    def config(self, node: Mapping[str, Any], prop: str) -> Node | None:
        """The config node a reference property names, if it exists."""
        return self.get(node.get(prop))

    def wires(self, node: Mapping[str, Any]) -> list[list[str]]:
        wires = node.get("wires")
        if not isinstance(wires, list):
            return []
        return [
            [t for t in port if isinstance(t, str) and t in self.by_id]
            if isinstance(port, list)
            else []
            for port in wires
        ]

    def output_count(self, node: Mapping[str, Any]) -> int:
        """The node's number of outputs, kept within Node-RED's own bounds (0..MAX_OUTPUTS)
        so that a corrupt `outputs` value cannot make a loop over ports run forever."""
        spec = self.spec(node)
        if spec is None:
            return min(len(self.wires(node)), MAX_OUTPUTS)
        try:
            count = spec.output_count(node)
        except (OverflowError, ValueError, TypeError):
            count = 1
        return max(0, min(count, MAX_OUTPUTS))

    def link_targets(self, node: Mapping[str, Any]) -> list[str]:
        links = node.get("links")
        if not isinstance(links, list):
            return []
        if node.get("type") == "link out" and node.get("mode") == "return":
            return []
        return [
            t for t in links if isinstance(t, str) and (self.get(t) or {}).get("type") == "link in"
        ]

    def container_of(self, node: Mapping[str, Any]) -> Node | None:
        return self.get(node.get("z"))

    def in_subflow(self, node: Mapping[str, Any]) -> Node | None:
        container = self.container_of(node)
        return container if container is not None and container["type"] == "subflow" else None

    def is_disabled(self, node: Mapping[str, Any]) -> bool:
        if truthy(node.get("d")):
            return True
        container = self.container_of(node)
        return bool(
            container is not None
            and container["type"] == "tab"
            and truthy(container.get("disabled"))
        )

    def is_flow_node(self, node: Mapping[str, Any]) -> bool:
        """Drawn on a canvas with a purpose in message handling (not config, not a comment)."""
        if str(node.get("type")) in STANDALONE:
            return False
        spec = self.spec(node)
        if spec is None:
            return "wires" in node or ("z" in node and "x" in node)
        return not spec.config

    def flow_nodes(self) -> Iterator[Node]:
        return (n for n in self.nodes if self.is_flow_node(n))

    def config_nodes(self) -> Iterator[Node]:
        for node in self.nodes:
            spec = self.spec(node)
            if spec is not None and spec.config and node["type"] not in STANDALONE:
                yield node

    def users_of(self, config_id: str) -> list[Node]:
        """Flow nodes with any top-level property naming this config node's id."""
        return [
            n
            for n in self.flow_nodes()
            if any(v == config_id for k, v in n.items() if k not in ("id", "z", "g", "wires"))
        ]

    def has_incoming(self, node_id: str) -> bool:
        return bool(self.incoming.get(node_id))

    def position(self, node: Mapping[str, Any]) -> tuple[float, float, int]:
        y = number(node.get("y"))
        x = number(node.get("x"))
        return (y if y is not None else 0.0, x if x is not None else 0.0, self.order[id(node)])

    # -- sources ---------------------------------------------------------------------

    def source_rank(self, node: Mapping[str, Any]) -> int | None:
        """None when the node does not start a walk; else a rank (0 plain, 1 link in,
        2 error and status handlers, 3 nodes that start only through setup code)."""
        node_type = node["type"]
        if not self.is_flow_node(node):
            return None
        spec = self.spec(node)
        if node_type == "link in":
            return None if node["id"] in self.linked_ins else 1
        if node_type in ERROR_SOURCES:
            return 2
        if node_type in SOURCE_TYPES_WITH_INPUT:
            return 0
        incoming = self.has_incoming(node["id"])
        if spec is None:  # unknown type: a source when it only sends
            return 0 if not incoming and any(self.wires(node)) else None
        if spec.inputs == 0:
            return 0 if self.output_count(node) > 0 or self.wires(node) else None
        if node_type == "function" and not incoming and str(node.get("initialize") or "").strip():
            return 3
        return None

    def sources(self) -> list[Node]:
        containers = {n["id"]: i for i, n in enumerate(self.tabs + self.subflows)}
        ranked = []
        for node in self.nodes:
            rank = self.source_rank(node)
            if rank is None:
                continue
            where = containers.get(node.get("z") if isinstance(node.get("z"), str) else "", -1)
            in_sub = self.in_subflow(node) is not None
            ranked.append(((in_sub, where, rank, *self.position(node)), node))
        ranked.sort(key=lambda item: item[0])
        return [node for _, node in ranked]


def _port_wires(subflow: Mapping[str, Any], side: str) -> Iterator[tuple[int, dict[str, Any]]]:
    ports = subflow.get(side)
    for number_, port in enumerate(ports if isinstance(ports, list) else []):
        wires = port.get("wires") if isinstance(port, dict) else None
        for wire in wires if isinstance(wires, list) else []:
            if isinstance(wire, dict):
                yield number_, wire
