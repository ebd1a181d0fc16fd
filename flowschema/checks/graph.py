"""Wiring and references: wires, config nodes, tabs, links, subflow ports, groups, and
whether messages can reach each node at all."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Any, TypeGuard

from flowschema.findings import Finding
from flowschema.model import FlowIndex, node_ref

_LINK_PARTNERS = {"link in": "link out", "link out": "link in", "link call": "link in"}


def check_wires(index: FlowIndex) -> Iterator[Finding]:
    for node in index.nodes:
        spec = index.spec_of(node)
        if spec is None or spec.config or node["type"] == "group":
            continue
        wires = node.get("wires")
        if wires is not None and not _is_wire_lists(wires):
            continue  # reported by the shape check
        outputs = spec.output_count(node)
        lists: list[list[str]] = wires if wires is not None else []
        if len(lists) != outputs and not (wires is None and outputs == 0):
            yield Finding(
                "wires-length",
                f"has {outputs} output{'s' if outputs != 1 else ''} but "
                + ("no wires property" if wires is None else f"{len(lists)} wire lists"),
                node=node_ref(node),
                property="wires",
                expected=outputs,
                found=len(lists),
                hint="write exactly one list of target ids per output; [] for an unwired output",
            )
        for port, targets in enumerate(lists):
            for target_id in targets:
                yield from _check_wire_target(index, node, port, target_id)


def _check_wire_target(
    index: FlowIndex, node: dict[str, Any], port: int, target_id: str
) -> Iterator[Finding]:
    target = index.by_id.get(target_id)
    ref = node_ref(node)
    if target is None:
        yield Finding(
            "wire-target-missing",
            f"output {port + 1} is wired to {target_id!r}, which no node has",
            node=ref,
            property="wires",
            found=target_id,
            hint="remove the wire or add the missing node",
        )
        return
    target_spec = index.spec_of(target)
    if target_spec is not None and (target_spec.inputs == 0 or target_spec.config):
        yield Finding(
            "wire-target-invalid",
            f"output {port + 1} is wired to {target['type']} {target_id!r}, which has no input",
            node=ref,
            property="wires",
            found=target_id,
            hint=f"a {target['type']} node cannot receive messages; wire to a node with an input",
        )
    elif node.get("z") != target.get("z"):
        yield Finding(
            "wire-cross-tab",
            f"output {port + 1} is wired to {target_id!r} on another tab "
            f"({target.get('z')!r} instead of {node.get('z')!r})",
            node=ref,
            property="wires",
            found=target_id,
            hint="Node-RED drops wires between tabs; use a link out / link in pair",
        )


def check_config_refs(index: FlowIndex) -> Iterator[Finding]:
    for node in index.nodes:
        spec = index.spec_of(node)
        if spec is None:
            continue
        for name, prop in spec.properties.items():
            if prop.type != "ref":
                continue
            value = node.get(name)
            if not isinstance(value, str) or value in ("", "_ADD_"):
                continue
            target = index.by_id.get(value)
            if target is None:
                yield Finding(
                    "config-missing",
                    f"{name} names config node {value!r}, which is not in the flow",
                    node=node_ref(node),
                    property=name,
                    expected=f"a {prop.ref} node",
                    found=value,
                    hint=f"add a {prop.ref} node with id {value!r} or point {name} at one",
                )
            elif target["type"] != prop.ref:
                yield Finding(
                    "config-wrong-type",
                    f"{name} names {value!r}, a {target['type']} node, "
                    f"where a {prop.ref} is needed",
                    node=node_ref(node),
                    property=name,
                    expected=prop.ref,
                    found=target["type"],
                    hint=f"point {name} at a {prop.ref} node",
                )


def check_containers(index: FlowIndex) -> Iterator[Finding]:
    """`z` must name a tab or subflow; `g` must name a group, and groups their members."""
    for node in index.nodes:
        z = node.get("z")
        if isinstance(z, str) and z and z not in index.containers:
            yield Finding(
                "tab-missing",
                f"z names {z!r}, which is no tab or subflow in the flow",
                node=node_ref(node),
                property="z",
                found=z,
                hint="add a tab node with that id, or set z to an existing tab",
            )
        g = node.get("g")
        if isinstance(g, str) and g:
            group = index.by_id.get(g)
            if group is None or group["type"] != "group":
                yield Finding(
                    "group-missing",
                    f"g names {g!r}, which is no group in the flow",
                    node=node_ref(node),
                    property="g",
                    found=g,
                    hint="remove g or add the group",
                )
        if node["type"] == "group" and isinstance(node.get("nodes"), list):
            for member in node["nodes"]:
                if not isinstance(member, str) or member not in index.by_id:
                    yield Finding(
                        "group-member-missing",
                        f"lists member {member!r}, which does not exist",
                        node=node_ref(node),
                        property="nodes",
                        found=member,
                        hint="remove the id from the group's nodes",
                    )


def check_links(index: FlowIndex) -> Iterator[Finding]:
    for node in index.nodes:
        partner_type = _LINK_PARTNERS.get(node["type"])
        if partner_type is None or not isinstance(node.get("links"), list):
            continue
        if node["type"] == "link out" and node.get("mode") == "return":
            continue  # returns to whichever link call invoked it; names no partner
        for partner_id in node["links"]:
            if not isinstance(partner_id, str):
                continue
            partner = index.by_id.get(partner_id)
            if partner is None:
                yield Finding(
                    "link-target-missing",
                    f"links to {partner_id!r}, which does not exist",
                    node=node_ref(node),
                    property="links",
                    found=partner_id,
                    hint=f"link to an existing {partner_type} node",
                )
            elif partner["type"] != partner_type:
                yield Finding(
                    "link-target-type",
                    f"links to {partner['type']} {partner_id!r}; it must be a {partner_type}",
                    node=node_ref(node),
                    property="links",
                    expected=partner_type,
                    found=partner["type"],
                    hint=f"link to a {partner_type} node",
                )
            elif node["type"] != "link call" and not _lists_id(partner.get("links"), node["id"]):
                yield Finding(
                    "link-unpaired",
                    f"links to {partner_id!r}, which does not list {node['id']!r} back",
                    node=node_ref(node),
                    property="links",
                    found=partner_id,
                    hint="list each other's ids in both link nodes' links",
                )


def check_subflow_ports(index: FlowIndex) -> Iterator[Finding]:
    for subflow in index.subflows.values():
        for side in ("in", "out"):
            for number, wire in port_wires(subflow, side):
                problem = _subflow_wire_problem(index, subflow, side, wire)
                if problem:
                    yield Finding(
                        "subflow-port-invalid",
                        f"{side} port {number + 1}: {problem}",
                        node=node_ref(subflow),
                        property=side,
                        hint="port wires must name nodes inside the subflow",
                    )


def _subflow_wire_problem(
    index: FlowIndex, subflow: dict[str, Any], side: str, wire: dict[str, Any]
) -> str | None:
    target_id = wire.get("id")
    if not isinstance(target_id, str):
        return f"wire {wire!r} has no node id"
    if target_id == subflow["id"]:
        return None  # an input wired straight through to an output
    target = index.by_id.get(target_id)
    if target is None:
        return f"wired to {target_id!r}, which does not exist"
    if target.get("z") != subflow["id"]:
        return f"wired to {target_id!r}, which is not inside this subflow"
    spec = index.spec_of(target)
    if side == "out" and spec is not None:
        port = wire.get("port", 0)
        if not isinstance(port, int) or not 0 <= port < spec.output_count(target):
            return f"wired from output {port!r} of {target_id!r}, which it does not have"
    return None


def check_reachability(index: FlowIndex) -> Iterator[Finding]:
    """Warn about nodes with no wires at all, and nodes no message source can reach."""
    successors: dict[str, list[str]] = {n["id"]: [] for n in index.nodes}
    has_incoming: set[str] = set()
    has_outgoing: set[str] = set()
    for node in index.nodes:
        node_id = node["id"]
        wires = node.get("wires")
        if _is_wire_lists(wires):
            for targets in wires:
                for target in targets:
                    if target in successors:
                        successors[node_id].append(target)
                        has_outgoing.add(node_id)
                        has_incoming.add(target)
        if node["type"] in ("link out", "link call") and isinstance(node.get("links"), list):
            for target in node["links"]:
                if isinstance(target, str) and target in successors:
                    successors[node_id].append(target)
                    has_outgoing.add(node_id)
                    has_incoming.add(target)
        if node["type"] == "link out" and node.get("mode") == "return":
            has_outgoing.add(node_id)
    for subflow in index.subflows.values():
        for _, wire in port_wires(subflow, "in"):
            if _is_known_id(wire.get("id"), successors):
                has_incoming.add(wire["id"])
        for _, wire in port_wires(subflow, "out"):
            if _is_known_id(wire.get("id"), successors):
                has_outgoing.add(wire["id"])

    flow_nodes = [n for n in index.nodes if index.is_flow_node(n)]
    dynamic_link_call = any(
        n["type"] == "link call" and n.get("linkType") == "dynamic" for n in flow_nodes
    )
    sources: list[str] = []
    for node in flow_nodes:
        spec = index.spec_of(node)
        assert spec is not None
        if node["type"] == "link in":
            if dynamic_link_call:
                sources.append(node["id"])
        elif spec.inputs == 0 or (node["id"] in has_incoming and _fed_from_outside(index, node)):
            sources.append(node["id"])
        elif node["type"] == "function" and str(node.get("initialize") or "").strip():
            sources.append(node["id"])  # setup code may send messages on its own
    reached = set(sources)
    queue = deque(sources)
    while queue:
        for target in successors.get(queue.popleft(), ()):
            if target not in reached:
                reached.add(target)
                queue.append(target)

    for node in flow_nodes:
        spec = index.spec_of(node)
        assert spec is not None
        if spec.inputs == 0 and spec.output_count(node) == 0 and node["type"] != "link in":
            continue  # comments and other standalone nodes
        node_id = node["id"]
        if node_id not in has_incoming and node_id not in has_outgoing:
            yield Finding(
                "node-unconnected",
                "is not wired to anything",
                node=node_ref(node),
                hint="wire it into the flow or delete it",
            )
        elif spec.inputs > 0 and node_id not in reached:
            yield Finding(
                "node-unreachable",
                "no message source can reach its input",
                node=node_ref(node),
                hint="wire a source (inject, mqtt in, http in, ...) to it, directly or via links",
            )


def _fed_from_outside(index: FlowIndex, node: dict[str, Any]) -> bool:
    """Nodes fed by a subflow's input port count as reachable: instances supply messages."""
    z = node.get("z")
    subflow = index.subflows.get(z) if isinstance(z, str) else None
    if subflow is None:
        return False
    return any(wire.get("id") == node["id"] for _, wire in port_wires(subflow, "in"))


def port_wires(subflow: dict[str, Any], side: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(port number, wire) for each well-formed wire of a subflow's "in" or "out" ports."""
    ports = subflow.get(side)
    for number, port in enumerate(ports if isinstance(ports, list) else []):
        wires = port.get("wires") if isinstance(port, dict) else None
        for wire in wires if isinstance(wires, list) else []:
            if isinstance(wire, dict):
                yield number, wire


def _lists_id(links: Any, node_id: str) -> bool:
    return isinstance(links, list) and node_id in links


def _is_known_id(value: Any, ids: dict[str, Any]) -> bool:
    return isinstance(value, str) and value in ids


def _is_wire_lists(wires: Any) -> TypeGuard[list[list[str]]]:
    return isinstance(wires, list) and all(
        isinstance(t, list) and all(isinstance(i, str) for i in t) for t in wires
    )
