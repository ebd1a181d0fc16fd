"""What `generate` returns: always exactly one of a flow, a question or a refusal."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

OutcomeKind = Literal["flow", "clarify", "refuse"]


@dataclass
class Stage:
    name: str  # retrieving, planning, writing code, compiling, validating, repairing
    seconds: float


@dataclass
class Outcome:
    kind: OutcomeKind
    message: str  # the explanation, the question or the reason for refusing
    flow: list[dict[str, Any]] | None = None
    choices: list[str] = field(default_factory=list)  # for a question: what to pick from
    notes: list[str] = field(default_factory=list)  # placeholders, assumptions, repairs
    understood: list[str] = field(default_factory=list)  # the values read from the request
    changes: list[str] = field(default_factory=list)  # edits: the diff summary
    stages: list[Stage] = field(default_factory=list)
    tokens: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.kind,
            "message": self.message,
            "flow": self.flow,
            "choices": self.choices,
            "notes": self.notes,
            "understood": self.understood,
            "changes": self.changes,
            "stages": [{"name": s.name, "seconds": round(s.seconds, 3)} for s in self.stages],
            "tokens": self.tokens,
            "seconds": round(self.seconds, 3),
        }
