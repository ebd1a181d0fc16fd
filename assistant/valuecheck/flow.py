"""The generated flow, indexed for the checks, and the Mismatch record they return."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Node = Mapping[str, Any]


@dataclass(frozen=True)
class Mismatch:
    """A stated value the flow does not carry (or carries differently)."""

    kind: str  # topic, broker, modbus_device, unit_id, register, opcua_endpoint, node_id, ...
    expected: str
    found: list[str]
    message: str
    node_ids: list[str] = field(default_factory=list)
    severity: str = "error"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "expected": self.expected, "found": list(self.found),
                "message": self.message, "node_ids": list(self.node_ids),
                "severity": self.severity}


# --- the flow, indexed ------------------------------------------------------------------

_SKIP_KEYS = {
    "id", "type", "z", "wires", "x", "y", "name", "info", "label", "g", "links", "server",
    "broker", "endpoint", "tls", "d"
}
UNIT_S = {
    "ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "milliseconds": 0.001, "second": 1.0,
    "seconds": 1.0, "minute": 60.0, "minutes": 60.0, "hour": 3600.0, "hours": 3600.0,
    "day": 86400.0, "days": 86400.0, "min": 60.0, "hr": 3600.0, "sec": 1.0
}


def strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            if k not in _SKIP_KEYS:
                yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)


def num(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def num_eq(a: float | None, b: float | None) -> bool:
    return a is not None and b is not None and abs(a - b) <= 1e-9 * max(1.0, abs(b))


class Flow:
    def __init__(self, flow: list[dict[str, Any]]) -> None:
        self.nodes: list[Node] = [n for n in flow if isinstance(n, Mapping) and "id" in n]
        self.by_id = {str(n["id"]): n for n in self.nodes}
        self.preds: dict[str, set[str]] = {}
        for n in self.nodes:
            targets: set[str] = set()
            for port in n.get("wires") or []:
                if isinstance(port, list):
                    targets.update(t for t in port if isinstance(t, str))
            if n.get("type") in ("link out", "link call") and isinstance(n.get("links"), list):
                targets.update(t for t in n["links"] if isinstance(t, str))
            for t in targets:
                self.preds.setdefault(t, set()).add(str(n["id"]))
        self.texts = {
            str(n["id"]): "\n".join(strings(n)) for n in self.nodes if n.get("type") != "comment"
        }

    def of(self, *types: str) -> list[Node]:
        return [n for n in self.nodes if n.get("type") in types]

    def upstream(self, node_id: str) -> set[str]:
        seen, queue = {node_id}, deque([node_id])
        while queue:
            for p in self.preds.get(queue.popleft(), ()):
                if p not in seen:
                    seen.add(p)
                    queue.append(p)
        return seen

    def text_of(self, ids: Iterable[str]) -> str:
        return "\n".join(self.texts.get(i, "") for i in ids)

    def all_text(self) -> str:
        return "\n".join(self.texts.values())

    def code_text(self) -> str:
        """What nodes that set message properties say: inject, change, function, template."""
        return self.text_of(id_list(self.of("inject", "change", "function", "template")))


def has(text: str, literal: str) -> bool:
    """`literal` occurs in `text` as a whole value, not as part of a longer name or path."""
    return re.search(rf"(?<![\w/.-]){re.escape(literal)}(?![\w/.-])", text) is not None


def id_list(nodes: Iterable[Node]) -> list[str]:
    return [str(n["id"]) for n in nodes]


def quote(items: Iterable[str]) -> str:
    listed = sorted({i for i in items if i != ""})
    return ", ".join(listed) if listed else "none"

def covers(pattern: str, topic: str) -> bool:
    """Whether MQTT filter `pattern` matches every topic `topic` (itself maybe a filter) can be."""
    p, t = pattern.split("/"), topic.split("/")
    for i, level in enumerate(p):
        if level == "#":
            return True
        if i >= len(t) or (level != "+" and level != t[i]) or (level != "#" and t[i] == "#"):
            return False
    return len(p) == len(t)

def host_port(value: str) -> tuple[str, int | None]:
    m = re.match(r"^(?:[\w.+-]+://)?\[?([^/\]:]+)\]?(?::(\d+))?", value.strip())
    if not m:
        return value.strip().lower(), None
    return m.group(1).lower(), int(m.group(2)) if m.group(2) else None

def norm_url(url: str) -> str:
    url = re.sub(
        r"\{\{\{?\s*[\w.]+\s*\}?\}\}|<[^>]+>|\$\{[^}]+\}|:(?=[A-Za-z_])\w+|\{\w+\}", "{}", url
    )
    m = re.match(r"^(\w[\w.+-]*://)?([^/]*)(.*)$", url.strip())
    if not m:
        return url.strip()
    scheme, host, path = (m.group(1) or "").lower(), m.group(2).lower(), m.group(3)
    return scheme + host + (path.rstrip("/") if path != "/" else "")

