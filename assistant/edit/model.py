"""The data an edit passes around: flows, operations, results."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

Node = dict[str, Any]
Flow = list[Node]


@dataclass(frozen=True)
class Op:
    """One primitive operation, as data: `name` is a function of `ops.OPERATIONS`, `args` its
    keyword arguments. New nodes travel inside `args` with their ids already chosen, so a
    list of ops replays to the same flow every time."""

    name: str
    args: Mapping[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        parts = []
        for key, value in self.args.items():
            if isinstance(value, dict) and "type" in value:
                value = f"<{value['type']} {value.get('id', '')}>"
            elif isinstance(value, list) and value and isinstance(value[0], dict):
                value = "[" + ", ".join(f"<{v.get('type')} {v.get('id', '')}>" for v in value) + "]"
            text = value if isinstance(value, str) else json.dumps(value, default=str)
            parts.append(f"{key}={text}")
        return f"{self.name}({', '.join(parts)})"


@dataclass
class EditResult:
    """What an edit did. With `unresolved` set nothing was changed and `flow` is the input."""

    flow: Flow
    summary: list[str]
    ops: list[Op]
    unresolved: str | None = None

    @property
    def changed(self) -> bool:
        return self.unresolved is None and bool(self.ops)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the flow, the summary lines, the ops as {name, args}, the reason."""
        return {
            "flow": self.flow,
            "summary": list(self.summary),
            "ops": [{"name": o.name, "args": dict(o.args)} for o in self.ops],
            "unresolved": self.unresolved,
        }


@dataclass
class Plan:
    """An instruction mapped to operations, plus notes on what was assumed."""

    ops: list[Op]
    notes: list[str] = field(default_factory=list)


class Unresolved(Exception):
    """The instruction cannot be mapped to an edit; the message says precisely why."""


class OpError(ValueError):
    """An operation's arguments do not fit the flow (unknown id, id taken, ...)."""
