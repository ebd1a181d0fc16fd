"""Walks: from each message source along wires, links and subflow ports, as a tree.

One walk per source. Fan-out becomes branches rather than separate paths, and a node is
described once per walk: meeting it again (a cycle, or two branches merging) leaves a
pointer instead of repeating it, so a walk never has more steps than the flow has nodes.
Hard limits on walks and steps keep huge flows bounded; `truncated` says when they bit.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from assistant.explain.actions import Action, Context
from assistant.explain.describe import describe_step, port_label, stores_context
from assistant.explain.graph import FlowGraph, Node, optional_output
from assistant.explain.text import label, node_name
from assistant.explain.triggers import Trigger, describe_trigger, inject_timing

MAX_WALKS = 100
MAX_STEPS_PER_WALK = 120
MAX_TOTAL_STEPS = 2000


@dataclass
class Step:
    id: str
    type: str
    name: str | None
    description: str
    via: str | None = None  # which output led here, when the previous node has several
    next: list[Step] = field(default_factory=list)
    end: str | None = None  # why the walk stops (or also leaves) here
    ref: str | None = None  # "cycle" / "merge": a pointer to a node described earlier
    action: Action | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "type": self.type,
            "name": self.name,
            "description": self.description,
        }
        if self.via:
            out["via"] = self.via
        if self.ref:
            out["ref"] = self.ref
        if self.end:
            out["end"] = self.end
        if self.next:
            out["next"] = [s.to_dict() for s in self.next]
        return out

    def walk(self, ancestors: tuple[Step, ...] = ()) -> Iterator[tuple[Step, tuple[Step, ...]]]:
        """Every step below and including this one, with the steps above it (preorder)."""
        yield self, ancestors
        for child in self.next:
            yield from child.walk((*ancestors, self))


@dataclass
class Walk:
    number: int
    trigger: Trigger
    source: Step
    where: str | None  # tab label or subflow name
    in_subflow: bool = False
    disabled: bool = False
    truncated: bool = False

    def steps(self) -> Iterator[Step]:
        """The source, then every step in walk order (depth first)."""
        return (step for step, _ in self.source.walk())

    def ends(self) -> list[Step]:
        return [s for s in self.steps() if not s.next]

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "where": self.where,
            "in_subflow": self.in_subflow,
            "disabled": self.disabled,
            "trigger": self.trigger.to_dict(),
            "source": {"id": self.source.id, "type": self.source.type, "name": self.source.name},
            "steps": [s.to_dict() for s in self.source.next],
            "ends": [
                {"id": s.id, "type": s.type, "name": s.name, "end": s.end}
                for s in self.ends()
                if s is not self.source or s.end
            ],
            "truncated": self.truncated,
        }


@dataclass(frozen=True)
class Edge:
    target: Node
    via: str | None


class _Budget:
    def __init__(self) -> None:
        self.total = 0


def _resolve(graph: FlowGraph, target_id: str, via: str | None, seen: set[str]) -> list[Edge]:
    """Junctions and link in nodes (reached through a link) are hops, not steps."""
    target = graph.get(target_id)
    if target is None or target_id in seen:
        return []
    if target["type"] not in ("junction", "link in") or graph.is_disabled(target):
        return [Edge(target, via)]
    seen.add(target_id)
    return [e for port in graph.wires(target) for t in port for e in _resolve(graph, t, via, seen)]


def edges(graph: FlowGraph, node: Node) -> tuple[list[Edge], list[str]]:
    """Where a message goes from `node`, and notes on where it leaves the graph."""
    found: list[Edge] = []
    notes: list[str] = []
    node_type = node["type"]
    if node_type == "subflow":
        for target in graph.subflow_in.get(node["id"], []):
            found.extend(_resolve(graph, target, None, set()))
        return found, notes
    if node_type == "link out":
        if node.get("mode") == "return":
            notes.append("returns to the link call that called it")
        for target in graph.link_targets(node):
            found.extend(_resolve(graph, target, None, set()))
        return found, notes
    if node_type == "link call":
        for target in graph.link_targets(node)[:1]:
            found.extend(_resolve(graph, target, "called part", set()))
    wired_ports = sum(1 for port in graph.wires(node) if port)
    multi = node_type == "switch" or wired_ports > 1
    for port, targets in enumerate(graph.wires(node)):
        via = port_label(graph, node, port) if multi else None
        if node_type == "link call":
            via = "after the called part returns"
        for target in targets:
            found.extend(_resolve(graph, target, via, set()))
    for port in range(max(graph.output_count(node), 1)):
        for number in graph.subflow_out.get((node["id"], port), []):
            notes.append(f"leaves the subflow through its output {number + 1}")
    return found, notes


class _WalkBuilder:
    def __init__(self, graph: FlowGraph, budget: _Budget):
        self.graph = graph
        self.budget = budget
        self.described: dict[str, Step] = {}
        self.count = 0
        self.truncated = False

    def make(self, node: Node, via: str | None, ctx: Context) -> tuple[Step, Context]:
        desc = describe_step(self.graph, node, ctx)
        text = desc.text
        if self.graph.is_disabled(node):
            text = f"(disabled) {text}"
        step = Step(node["id"], node["type"], node_name(node), text, via, action=desc.action)
        return step, desc.context or ctx

    def expand(self, step: Step, node: Node, ctx: Context, ancestors: frozenset[str]) -> None:
        graph = self.graph
        if graph.is_disabled(node) and node["type"] != "subflow":
            step.end = "disabled: Node-RED drops messages here"
            return
        found, notes = edges(graph, node)
        if notes:
            step.end = "; ".join(notes)
        elif not found:
            step.end = _leaf_reason(graph, node)
        for edge in found:
            target = edge.target
            if self.count >= MAX_STEPS_PER_WALK or self.budget.total >= MAX_TOTAL_STEPS:
                self.truncated = True
                step.end = "more steps follow (not shown: the step limit was reached)"
                return
            self.count += 1
            self.budget.total += 1
            if target["id"] in ancestors or target["id"] in self.described:
                kind = "cycle" if target["id"] in ancestors else "merge"
                reason = (
                    "loops back to this earlier step (a cycle)"
                    if kind == "cycle"
                    else "described above (the walk continues there)"
                )
                step.next.append(
                    Step(
                        target["id"],
                        target["type"],
                        node_name(target),
                        f"{label(target)}: {reason}",
                        edge.via,
                        end=reason,
                        ref=kind,
                    )
                )
                continue
            child, child_ctx = self.make(target, edge.via, ctx)
            self.described[target["id"]] = child
            step.next.append(child)
            self.expand(child, target, child_ctx, ancestors | {target["id"]})


def _leaf_reason(graph: FlowGraph, node: Node) -> str | None:
    if node["type"] == "link out":
        return "its links are empty, so the message goes nowhere"
    if node["type"] == "subflow":
        return "the subflow's input is wired to nothing"
    if graph.output_count(node) == 0 or optional_output(node) or stores_context(node):
        return None  # a natural end: mqtt out, debug, http response, file, ...
    return "nothing is wired to its output"


def _where(graph: FlowGraph, node: Node) -> tuple[str | None, bool]:
    if node["type"] == "subflow":
        return node_name(node) or node["id"], True
    container = graph.container_of(node)
    if container is None:
        return None, False
    return node_name(container) or container["id"], container["type"] == "subflow"


def build_walks(graph: FlowGraph) -> tuple[list[Walk], int]:
    """The walks, and how many sources were left out by MAX_WALKS."""
    sources: list[Node] = graph.sources()
    sources += [s for s in graph.subflows if graph.subflow_in.get(s["id"])]
    sources.sort(key=lambda n: n["type"] == "subflow" or graph.in_subflow(n) is not None)
    budget = _Budget()
    walks = []
    for number, source in enumerate(sources[:MAX_WALKS], start=1):
        builder = _WalkBuilder(graph, budget)
        trigger = describe_trigger(graph, source)
        root = Step(source["id"], source["type"], node_name(source), trigger.description)
        builder.described[source["id"]] = root
        disabled = source["type"] != "subflow" and graph.is_disabled(source)
        if disabled:
            root.end = "disabled: this source never sends anything"
        else:
            builder.expand(root, source, Context(), frozenset({source["id"]}))
        where, in_subflow = _where(graph, source)
        walk = Walk(number, trigger, root, where, in_subflow, disabled, builder.truncated)
        walk.trigger = _subscription_trigger(walk, source)
        walks.append(walk)
    return walks, max(len(sources) - MAX_WALKS, 0)


def _subscription_trigger(walk: Walk, source: Node) -> Trigger:
    """An inject that fires once into an OPC UA subscribe is really a subscription."""
    if walk.trigger.kind != "once":
        return walk.trigger
    for step in walk.steps():
        if step.action is not None and step.action.kind == "subscribe":
            _, timing = inject_timing(source)
            return Trigger("opcua-subscription", f"{step.description}; set up {timing}")
        if step.action is not None:
            break
    return walk.trigger
