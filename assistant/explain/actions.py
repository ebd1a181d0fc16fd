"""What a step does to the world (publish, write, answer, ...), for the summary sentence."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assistant.explain.graph import FlowGraph

# Kinds that change something outside the flow; "read"/"subscribe" fetch, "show" is debug.
EFFECT_KINDS = frozenset({"publish", "write", "answer", "send", "file", "model", "command"})


@dataclass(frozen=True)
class Action:
    """A summary verb phrase: `verb` may hold "{obj}" (what the message carries)."""

    kind: str
    verb: str
    target: str = ""  # e.g. "MQTT topic"
    value: str = ""  # e.g. "plant/line1/temp"
    place: str = ""  # e.g. "on broker 10.0.0.5:1883"
    targets: str = ""  # plural of target, e.g. "MQTT topics"; set where values may merge

    def phrase(self, obj: str, condition: str | None = None) -> str:
        parts = ["otherwise" if condition == "otherwise" else "", self.verb.replace("{obj}", obj)]
        if self.target or self.value:
            parts.append(f"{self.target} {self.value}".strip())
        if self.place:
            parts.append(self.place)
        if condition and condition != "otherwise":
            parts.append(condition)
        return " ".join(p for p in parts if p)

    def group_key(self) -> tuple[str, str, str, str] | None:
        """Actions that differ only in their value merge: "topics A and B on broker X"."""
        return (self.kind, self.verb, self.target, self.place) if self.targets else None


@dataclass(frozen=True)
class Context:
    """What upstream nodes are known to have put on the message (for OPC UA clients)."""

    topic: str | None = None


@dataclass(frozen=True)
class Description:
    text: str
    action: Action | None = None
    context: Context | None = None  # None: unchanged


Describer = Callable[["FlowGraph", dict[str, Any], Context], Description]
