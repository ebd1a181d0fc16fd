"""What every instruction family works with: the flow, the instruction and its facts, a
node factory and an id maker, plus the questions families share (where the value is, which
nodes are meant)."""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from assistant.edit import graph, locate
from assistant.edit.model import Flow, Node, Op, Unresolved
from assistant.edit.nodes import make_node
from assistant.edit.parse import Facts
from flowschema.catalog import Catalog

# Sinks that publish the processed value, best first; their feeder holds "the value".
PUBLISHING = (
    "mqtt out",
    "websocket out",
    "http response",
    "modbus-write",
    "modbus-flex-write",
    "tcp out",
    "udp out",
    "OpcUa-Client",
)
READERS = (
    "modbus-getter",
    "modbus-flex-getter",
    "http request",
    "OpcUa-Client",
    "file in",
    "exec",
    "tcp request",
)
OUTPUTS = (
    "mqtt out",
    "http request",
    "file",
    "websocket out",
    "modbus-write",
    "modbus-flex-write",
    "tcp out",
    "udp out",
    "http response",
    "OpcUa-Client",
)
_RAW = re.compile(
    r"\b(?:raw|as it comes in|as it arrives|as received|unchanged|untouched|original|incoming"
    r"|exactly as|as is|straight from the source)\b",
    re.I,
)


@dataclass
class Context:
    flow: Flow
    text: str
    catalog: Catalog
    facts: Facts
    new_id: graph.IdMaker
    notes: list[str] = field(default_factory=list)

    @property
    def low(self) -> str:
        return self.text.lower()

    def has(self, pattern: str) -> bool:
        return re.search(pattern, self.text, re.I) is not None

    def make(self, node_type: str, near: Node | None = None, **props: Any) -> Node:
        return make_node(
            node_type, self.catalog, self.new_id, graph.tab_of(self.flow, near), **props
        )

    def nodes(self, *types: str) -> list[Node]:
        return [n for n in graph.canvas_nodes(self.flow, self.catalog) if n.get("type") in types]

    def node(self, node_id: str) -> Node:
        return graph.by_id(self.flow)[node_id]

    def flow_topics(self) -> set[str]:
        return {
            str(n["topic"]) for n in self.flow if isinstance(n.get("topic"), str) and n["topic"]
        }

    # --- which nodes are meant ---------------------------------------------------------

    def target(self) -> list[Node] | None:
        """The nodes named after "after"/"behind"/"before"/"on the" ...; None when the
        instruction names none. Raises Unresolved when a strong phrase names nothing."""
        phrase, strong = locate.target_phrase(self.text)
        if phrase is None:
            return None
        full, phrase = phrase, locate.phrase_text(phrase) or phrase
        found = locate.find(self.flow, phrase, self.catalog) or locate.find(
            self.flow, full, self.catalog
        )
        if found:
            return found
        if re.match(r"(?:\w+ing|it goes|it is sent|it leaves)\b", phrase):
            return None  # "before publishing": the outputs, which families default to
        if strong:
            if locate.names_type_word(phrase):
                raise Unresolved(f"the flow has no node like '{phrase}'")
            raise Unresolved(f"no node matches '{phrase}' (the flow has: {self.inventory()})")
        return None

    def mentioned(self) -> list[Node]:
        """Nodes the instruction names anywhere (id, name, topic/URL/path)."""
        return (
            locate.by_id(self.flow, self.text)
            or locate.by_name(self.flow, self.text, self.catalog)
            or locate.by_value(self.flow, self.text, self.catalog)
        )

    def pick(self, candidates: list[Node], what: str) -> list[Node]:
        """Narrow `candidates` with what the instruction mentions; Unresolved when several
        remain and nothing tells them apart."""
        if len(candidates) <= 1:
            return candidates
        named = [n for n in candidates if n in self.mentioned()]
        if len(named) >= 1:
            return named
        best = self.best_by_words(candidates)
        if best is not None:
            return [best]
        raise Unresolved(
            f"several {what} could be meant: {', '.join(graph.describe(n) for n in candidates)};"
            " name the one to change"
        )

    def best_by_words(self, candidates: list[Node]) -> Node | None:
        """The one candidate sharing the most words (name, topic levels) with the text."""
        words = set(re.findall(r"[a-z0-9]{3,}", self.low))
        scores = []
        for node in candidates:
            own = set(
                re.findall(
                    r"[a-z0-9]{3,}", f"{node.get('name', '')} {node.get('topic', '')}".lower()
                )
            )
            scores.append(len(own & words))
        top = max(scores)
        return candidates[scores.index(top)] if top > 0 and scores.count(top) == 1 else None

    def inventory(self) -> str:
        nodes = graph.canvas_nodes(self.flow, self.catalog)
        return ", ".join(graph.describe(n) for n in nodes[:12]) or "no nodes"

    # --- where the value is --------------------------------------------------------------

    def raw_wanted(self) -> bool:
        return _RAW.search(self.text) is not None

    def origin(self, node: Node) -> Node:
        """Where data is produced: a reader triggered by an inject, else the node itself."""
        if node.get("type") == "inject":
            index = graph.by_id(self.flow)
            nxt = [index[t] for _, t in graph.successors(node) if t in index]
            readers = [n for n in nxt if n.get("type") in READERS]
            if len(readers) == 1:
                return readers[0]
        return node

    def value_points(self, starts: list[Node] | None = None) -> list[tuple[str, int]]:
        """(node id, port) where the processed value flows: the feeder of the first
        publishing output downstream of each start, else the data origin itself."""
        if starts is None:
            starts = graph.data_sources(self.flow, self.catalog) or self.request_sources()
        raw = self.raw_wanted()
        points: list[tuple[str, int]] = []
        for start in starts:
            point = None if raw else self._feeder_of_publisher(start)
            if point is None:
                point = (str(self.origin(start)["id"]), 0)
            if point not in points:
                points.append(point)
        if len(points) > 1:
            points = self._narrow(points)
        return points

    def request_sources(self) -> list[Node]:
        """Where requests enter a flow that has no process data source (http in, link in)."""
        fed = {t for n in self.flow for _, t in graph.successors(n)}
        return [n for n in self.nodes("http in", "link in", "websocket in") if n["id"] not in fed]

    def _feeder_of_publisher(self, start: Node) -> tuple[str, int] | None:
        index = graph.by_id(self.flow)
        parent: dict[str, tuple[str, int]] = {}
        queue = deque([str(start["id"])])
        seen = {str(start["id"])}
        found: list[str] = []
        while queue:
            current = queue.popleft()
            for port, target in graph.successors(index.get(current, {})):
                if target in seen or target not in index:
                    continue
                seen.add(target)
                parent[target] = (current, port)
                if index[target].get("type") in PUBLISHING:
                    found.append(target)
                queue.append(target)
        if not found:
            return None
        found.sort(key=lambda i: PUBLISHING.index(str(index[i].get("type"))))
        return parent[found[0]]

    def _narrow(self, points: list[tuple[str, int]]) -> list[tuple[str, int]]:
        """Several chains: keep those the instruction mentions (a node upstream or
        downstream of the point), else all of them."""
        mentioned = {str(n["id"]) for n in self.mentioned()}
        chains = [
            {node_id, *graph.downstream(self.flow, node_id), *self._upstream(node_id)}
            for node_id, _ in points
        ]
        if mentioned:
            kept = [p for p, chain in zip(points, chains, strict=True) if chain & mentioned]
            return kept or points
        # Nothing named: the chains sharing the most words with the instruction.
        index = graph.by_id(self.flow)
        words = set(re.findall(r"[a-z0-9]{3,}", self.low))
        scores = [
            len(words & {w for i in chain for w in _words(index.get(i, {}))}) for chain in chains
        ]
        top = max(scores)
        if top == 0 or scores.count(top) == len(scores):
            return points
        return [p for p, score in zip(points, scores, strict=True) if score == top]

    def _upstream(self, node_id: str) -> set[str]:
        seen: set[str] = set()
        todo = [node_id]
        while todo:
            for pred, _ in graph.predecessors(self.flow, todo.pop()):
                if pred not in seen:
                    seen.add(pred)
                    todo.append(pred)
        return seen

    def outputs(self) -> list[Node]:
        """Output nodes (not debug) that end the data path."""
        return [
            n
            for n in self.nodes(*OUTPUTS)
            if n.get("type") != "OpcUa-Client" or n.get("action") == "write"
        ]


def _words(node: Node) -> set[str]:
    text = f"{node.get('name', '')} {node.get('topic', '')}".lower()
    return set(re.findall(r"[a-z0-9]{3,}", text))


def op(name: str, **args: Any) -> Op:
    return Op(name, args)
