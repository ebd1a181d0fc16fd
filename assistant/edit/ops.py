"""Primitive flow operations. Each is pure: it returns a new flow and leaves its input alone.
Untouched nodes keep their ids, properties and positions; new nodes are placed right of the
node they hang off, in the first free lane below when that spot is taken."""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from assistant.edit import graph
from assistant.edit.model import Flow, Node, Op, OpError
from flowschema.catalog import Catalog, default_catalog

_STRUCTURAL = frozenset({"id", "type", "z", "wires", "x", "y", "g"})
Attach = str | tuple[str, int] | list[Any]


def _node(flow: Flow, node_id: str) -> Node:
    for node in flow:
        if node.get("id") == node_id:
            return node
    raise OpError(f"no node with id {node_id!r}")


def _check_new(flow: Flow, nodes: Sequence[Node]) -> None:
    taken = set(graph.by_id(flow))
    for node in nodes:
        node_id = node.get("id")
        if not isinstance(node_id, str) or not node_id:
            raise OpError("a new node needs a string id")
        if node_id in taken:
            raise OpError(f"id {node_id!r} is already used")
        taken.add(node_id)


def _ensure_ports(node: Node, catalog: Catalog, port: int) -> list[list[str]]:
    count = graph.output_count(node, catalog)
    if port >= count:
        raise OpError(f"{graph.describe(node)} has no output {port + 1}")
    wires = graph.wires_of(node)
    wires += [[] for _ in range(count - len(wires))]
    node["wires"] = wires
    return wires


def _connect(source: Node, target_id: str, port: int, catalog: Catalog) -> None:
    wires = _ensure_ports(source, catalog, port)
    if target_id not in wires[port]:
        wires[port].append(target_id)


def _fresh(node: Node, catalog: Catalog, z: str | None) -> Node:
    new = copy.deepcopy(node)
    if graph.is_config(new, catalog):
        return new
    if z is not None and "z" not in new:
        new["z"] = z
    count = graph.output_count(new, catalog)
    new["wires"] = graph.wires_of(new)[:count] + [
        [] for _ in range(count - len(graph.wires_of(new)))
    ]
    return new


def _attach_points(after: Attach | Sequence[Attach] | None, port: int) -> list[tuple[str, int]]:
    if after is None:
        return []
    if isinstance(after, str):
        return [(after, port)]
    if isinstance(after, tuple) or (
        isinstance(after, list) and len(after) == 2 and isinstance(after[1], int)
    ):
        return [(str(after[0]), int(after[1]))]
    points: list[tuple[str, int]] = []
    for item in after:
        points.extend(_attach_points(item, port))
    return points


# --- operations -----------------------------------------------------------------------------------


def set_property(
    flow: Flow, node_id: str, prop: str, value: Any, *, catalog: Catalog | None = None
) -> Flow:
    """Set one property of one node (not its id, type or wires)."""
    if prop in ("id", "type", "wires"):
        raise OpError(f"set_property cannot change {prop!r}")
    new = copy.deepcopy(flow)
    _node(new, node_id)[prop] = copy.deepcopy(value)
    return new


def add_node(
    flow: Flow,
    node: Node,
    after: str | None = None,
    port: int = 0,
    *,
    catalog: Catalog | None = None,
) -> Flow:
    """Add `node`; with `after`, wire after's output `port` to it and place it right of after.
    Config nodes are simply added."""
    return add_branch(flow, [node], after, port, catalog=catalog)


def add_branch(
    flow: Flow,
    nodes: Sequence[Node],
    after: Attach | Sequence[Attach] | None = None,
    port: int = 0,
    *,
    catalog: Catalog | None = None,
) -> Flow:
    """Hang a chain of new nodes (wired first to last on output 1) off one or more outputs:
    `after` is a node id, an (id, port) pair or a list of them. Without `after` the chain
    starts a new lane below the tab's nodes. Config nodes in `nodes` are added unwired."""
    catalog = catalog or default_catalog()
    _check_new(flow, nodes)
    new = copy.deepcopy(flow)
    points = _attach_points(after, port)
    sources = [(_node(new, node_id), p) for node_id, p in points]
    own_tab = next((n["z"] for n in nodes if isinstance(n.get("z"), str)), None)
    z = graph.tab_of(new, sources[0][0]) if sources else own_tab or graph.tab_of(new)
    configs = [_fresh(n, catalog, z) for n in nodes if graph.is_config(n, catalog)]
    chain = [_fresh(n, catalog, z) for n in nodes if not graph.is_config(n, catalog)]
    for source, p in sources:
        if chain:
            _connect(source, chain[0]["id"], p, catalog)
    for first, second in itertools.pairwise(chain):
        _connect(first, second["id"], 0, catalog)
    _place_chain(new, chain, [s for s, _ in sources], z)
    return new + configs + chain


def _place_chain(flow: Flow, chain: list[Node], sources: list[Node], z: str | None) -> None:
    unplaced = [n for n in chain if "x" not in n or "y" not in n]
    if not unplaced:
        return
    if sources:
        x0, y0 = graph.position_of(min(sources, key=lambda s: graph.position_of(s)[1]))
        x0 += graph.X_STEP
    else:
        x0, y0 = graph.left(flow, z), graph.bottom(flow, z) + graph.Y_STEP
    xs = [x0 + i * graph.X_STEP for i in range(len(unplaced))]
    y = graph.free_lane(flow, z, xs, y0)
    for node, x in zip(unplaced, xs, strict=True):
        node["x"], node["y"] = int(x), int(y)


def insert_between(
    flow: Flow, a: str, b: str, node: Node, *, catalog: Catalog | None = None
) -> Flow:
    """Put `node` on the wire a -> b (every port of a that feeds b): a -> node -> b."""
    catalog = catalog or default_catalog()
    _check_new(flow, [node])
    new = copy.deepcopy(flow)
    source, target = _node(new, a), _node(new, b)
    ports = [p for p, t in graph.successors(source) if t == b]
    if not ports:
        raise OpError(f"{graph.describe(source)} is not wired to {graph.describe(target)}")
    inserted = _fresh(node, catalog, graph.tab_of(new, source))
    for p in ports:
        source["wires"][p] = [inserted["id"] if t == b else t for t in source["wires"][p]]
    _connect(inserted, b, 0, catalog)
    _place_between(new, inserted, [source], target)
    return [*new, inserted]


def insert_before(flow: Flow, target: str, node: Node, *, catalog: Catalog | None = None) -> Flow:
    """Put `node` in front of `target`: every wire into target now ends at node, and node
    feeds target."""
    catalog = catalog or default_catalog()
    _check_new(flow, [node])
    new = copy.deepcopy(flow)
    goal = _node(new, target)
    inserted = _fresh(node, catalog, graph.tab_of(new, goal))
    feeders = []
    for other in new:
        wires = graph.wires_of(other)
        if any(target in port for port in wires):
            other["wires"] = [[inserted["id"] if t == target else t for t in p] for p in wires]
            feeders.append(other)
    _connect(inserted, target, 0, catalog)
    _place_between(new, inserted, feeders, goal)
    return [*new, inserted]


def insert_after(
    flow: Flow, node_id: str, node: Node, port: int = 0, *, catalog: Catalog | None = None
) -> Flow:
    """Put `node` right behind output `port` of `node_id`: it takes over everything that
    output fed, and the output now feeds only it."""
    catalog = catalog or default_catalog()
    _check_new(flow, [node])
    new = copy.deepcopy(flow)
    source = _node(new, node_id)
    wires = _ensure_ports(source, catalog, port)
    inserted = _fresh(node, catalog, graph.tab_of(new, source))
    targets, wires[port] = wires[port], [inserted["id"]]
    inserted["wires"][0] = list(targets)
    goal = graph.by_id(new).get(targets[0]) if targets else None
    if goal is not None:
        _place_between(new, inserted, [source], goal)
    else:
        _place_chain(new, [inserted], [source], inserted.get("z"))
    return [*new, inserted]


def _place_between(flow: Flow, node: Node, sources: list[Node], target: Node) -> None:
    if "x" in node and "y" in node:
        return
    tx, ty = graph.position_of(target)
    sx = max((graph.position_of(s)[0] for s in sources), default=tx - graph.X_STEP)
    x = (sx + tx) / 2 if tx - sx >= 2 * graph.X_STEP else tx - graph.X_STEP / 2
    if tx - sx >= 2 * graph.X_STEP and not graph.occupied(flow, node.get("z"), x, ty):
        node["x"], node["y"] = int(x), int(ty)
        return
    node["x"], node["y"] = int(x), int(graph.free_lane(flow, node.get("z"), [x], ty + graph.Y_STEP))


def replace_source(flow: Flow, old_id: str, node: Node, *, catalog: Catalog | None = None) -> Flow:
    """Swap node `old_id` for `node` in place: the new node takes its position, its outgoing
    wires (port by port) and, when it has an input, its incoming wires."""
    catalog = catalog or default_catalog()
    _check_new(flow, [node])
    new = copy.deepcopy(flow)
    old = _node(new, old_id)
    fresh = _fresh(node, catalog, graph.tab_of(new, old))
    for p, targets in enumerate(graph.wires_of(old)):
        if p < len(fresh["wires"]):
            fresh["wires"][p] = list(targets)
    if "x" not in node and "x" in old:
        fresh["x"], fresh["y"] = old["x"], old.get("y", 0)
    keep_inputs = graph.input_count(fresh, catalog) > 0
    for other in new:
        if other is old:
            continue
        wires = graph.wires_of(other)
        if any(old_id in p for p in wires):
            other["wires"] = [
                [fresh["id"] for t in p if t == old_id and keep_inputs]
                + [t for t in p if t != old_id]
                for p in wires
            ]
    return [fresh if n is old else n for n in new]


def remove_node(flow: Flow, node_id: str, *, catalog: Catalog | None = None) -> Flow:
    """Delete a node. When it had one output, its feeders are wired to its successors."""
    catalog = catalog or default_catalog()
    new = copy.deepcopy(flow)
    gone = _node(new, node_id)
    outs = graph.wires_of(gone)
    bridge = outs[0] if len(outs) == 1 else []
    for other in new:
        wires = graph.wires_of(other)
        if any(node_id in p for p in wires):
            other["wires"] = [
                _dedupe(
                    [u for t in p for u in (bridge if t == node_id else [t]) if u != other["id"]]
                )
                for p in wires
            ]
        for key in ("links", "nodes", "scope"):
            if isinstance(other.get(key), list) and node_id in other[key]:
                other[key] = [i for i in other[key] if i != node_id]
    return [n for n in new if n is not gone]


def _dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def wire(
    flow: Flow, source: str, target: str, port: int = 0, *, catalog: Catalog | None = None
) -> Flow:
    """Add one wire source(port) -> target."""
    catalog = catalog or default_catalog()
    new = copy.deepcopy(flow)
    _node(new, target)
    _connect(_node(new, source), target, port, catalog)
    return new


def unwire(flow: Flow, source: str, target: str, *, catalog: Catalog | None = None) -> Flow:
    """Remove every wire source -> target."""
    new = copy.deepcopy(flow)
    node = _node(new, source)
    node["wires"] = [[t for t in p if t != target] for p in graph.wires_of(node)]
    return new


def substitute(value: Any, substitutions: Mapping[str, str], keep: set[str] | None = None) -> Any:
    """Replace whole-token occurrences of each key (m1 but not m10 or cm1) in every string."""
    if isinstance(value, str):
        if keep is not None and value in keep:
            return value
        for old, replacement in substitutions.items():
            pattern = r"(?<![A-Za-z0-9])" + re.escape(old) + r"(?![0-9])"
            value = re.sub(pattern, replacement.replace("\\", r"\\"), value)
        return value
    if isinstance(value, list):
        return [substitute(v, substitutions, keep) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, substitutions, keep) for k, v in value.items()}
    return value


def duplicate_chain(
    flow: Flow,
    node_ids: Sequence[str],
    substitutions: Mapping[str, str],
    new_ids: Mapping[str, str] | None = None,
    *,
    catalog: Catalog | None = None,
) -> Flow:
    """Copy the nodes `node_ids` with fresh ids (`new_ids` old -> new, made up when absent),
    replacing text per `substitutions` in their string properties. Wires inside the set
    are copied onto the copies; wires from outside into the set also feed the copies, and
    wires leaving the set leave the copies too (shared sources and sinks stay shared).
    The copies are laid out below everything on the tab."""
    catalog = catalog or default_catalog()
    index = graph.by_id(flow)
    chosen = [i for i in dict.fromkeys(node_ids)]
    for node_id in chosen:
        if node_id not in index:
            raise OpError(f"no node with id {node_id!r}")
    make = graph.IdMaker(
        flow, "duplicate:" + ",".join(chosen) + repr(sorted(substitutions.items()))
    )
    mapping = {i: (new_ids or {}).get(i) or make() for i in chosen}
    _check_new(flow, [{"id": i} for i in mapping.values()])
    keep = set(index)  # references to config nodes and others stay as they are
    new = copy.deepcopy(flow)
    members = [index[i] for i in chosen]
    z = graph.tab_of(flow, members[0])
    top = min(graph.position_of(n)[1] for n in members)
    dy = graph.bottom(flow, z) + graph.Y_STEP - top
    copies = []
    for original in members:
        twin = {
            k: (v if k in _STRUCTURAL else substitute(v, substitutions, keep))
            for k, v in copy.deepcopy(original).items()
        }
        twin["id"] = mapping[original["id"]]
        twin.pop("g", None)
        if "wires" in twin:
            twin["wires"] = [[mapping.get(t, t) for t in p] for p in graph.wires_of(original)]
        if isinstance(twin.get("links"), list):
            twin["links"] = [mapping.get(t, t) for t in twin["links"]]
        if "y" in original:
            twin["y"] = int(graph.position_of(original)[1] + dy)
        copies.append(twin)
    for other in new:
        if other.get("id") in mapping:
            continue
        wires = graph.wires_of(other)
        if any(t in mapping for p in wires for t in p):
            other["wires"] = [_dedupe(p + [mapping[t] for t in p if t in mapping]) for p in wires]
    return new + copies


Operation = Callable[..., Flow]
OPERATIONS: dict[str, Operation] = {
    "set_property": set_property,
    "add_node": add_node,
    "add_branch": add_branch,
    "insert_between": insert_between,
    "insert_before": insert_before,
    "insert_after": insert_after,
    "replace_source": replace_source,
    "remove_node": remove_node,
    "duplicate_chain": duplicate_chain,
    "wire": wire,
    "unwire": unwire,
}


def apply_op(flow: Flow, op: Op, catalog: Catalog | None = None) -> Flow:
    operation = OPERATIONS.get(op.name)
    if operation is None:
        raise OpError(f"unknown operation {op.name!r}")
    return operation(flow, **dict(op.args), catalog=catalog)


def apply_ops(flow: Flow, ops: Sequence[Op], catalog: Catalog | None = None) -> Flow:
    for op in ops:
        flow = apply_op(flow, op, catalog)
    return flow
