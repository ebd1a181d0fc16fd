"""Eval cases: loading and checking the case files (format in evals/cases/FORMAT.md)."""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CASES_DIR = Path(__file__).resolve().parent.parent / "cases"
CATEGORIES = (
    "core",
    "http",
    "mqtt",
    "modbus",
    "opcua",
    "files",
    "errors",
    "onnx",
    "plant",
    "edit",
    "clarify",
    "refuse",
)
OUTCOMES = ("flow", "clarify", "refuse")
STEP_KINDS = (
    "modbus_set",
    "opcua_set",
    "mqtt_publish",
    "http",
    "inject",
    "wait_s",
    "expect_mqtt",
    "expect_no_mqtt",
    "expect_modbus",
    "expect_opcua",
    "expect_file",
    "expect_http_request",
)


class CaseError(ValueError):
    pass


@dataclass(frozen=True)
class Case:
    id: str
    category: str
    request: str
    outcome: str
    path: Path
    nodes: dict[str, Any] = field(default_factory=dict)
    paths: list[list[str]] = field(default_factory=list)
    behaviour: list[dict[str, Any]] = field(default_factory=list)
    reference: list[dict[str, Any]] | None = None
    base_flow: list[dict[str, Any]] | None = None
    runtime: str = "node-red"
    reason: str = ""


def parse_case(path: Path) -> Case:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CaseError(f"{path}: unreadable ({exc})") from None
    where = path.name
    for key in ("id", "category", "request", "outcome"):
        if key not in data:
            raise CaseError(f"{where}: missing {key!r}")
    if data["id"] != path.stem:
        raise CaseError(f"{where}: id {data['id']!r} differs from the file name")
    if data["category"] not in CATEGORIES:
        raise CaseError(f"{where}: unknown category {data['category']!r}")
    if data["outcome"] not in OUTCOMES:
        raise CaseError(f"{where}: outcome must be one of {OUTCOMES}")
    case = Case(
        id=data["id"],
        category=data["category"],
        request=data["request"],
        outcome=data["outcome"],
        path=path,
        nodes=data.get("nodes", {}),
        paths=data.get("paths", []),
        behaviour=data.get("behaviour", []),
        reference=data.get("reference"),
        base_flow=data.get("base_flow"),
        runtime=data.get("runtime", "node-red"),
        reason=data.get("reason", ""),
    )
    if case.outcome == "flow":
        if not case.reference:
            raise CaseError(f"{where}: a flow case needs a reference flow")
        if not case.nodes or not case.paths:
            raise CaseError(f"{where}: a flow case needs node matchers and at least one path")
        for chain in case.paths:
            unknown = [name for name in chain if name not in case.nodes]
            if unknown or len(chain) < 2:
                raise CaseError(f"{where}: path {chain} names unknown matchers {unknown}")
        for scenario in case.behaviour:
            for step in scenario.get("steps", []):
                kinds = [k for k in step if k in STEP_KINDS]
                if len(kinds) != 1:
                    raise CaseError(f"{where}: step {step} must have exactly one of {STEP_KINDS}")
                if step.get("within_s", 0) > 10:
                    raise CaseError(f"{where}: within_s is at most 10")
    if case.category == "edit" and not case.base_flow:
        raise CaseError(f"{where}: an edit case needs a base_flow")
    return case


def load_cases(pattern: str | None = None, folder: Path = CASES_DIR) -> list[Case]:
    """All cases, or those whose id or category matches the glob `pattern`
    (comma-separated patterns allowed)."""
    cases = [parse_case(p) for p in sorted(folder.glob("*/*.json"))]
    seen: set[str] = set()
    for case in cases:
        if case.id in seen:
            raise CaseError(f"duplicate case id {case.id}")
        seen.add(case.id)
    if not pattern:
        return cases
    patterns = [p.strip() for p in pattern.split(",") if p.strip()]
    return [c for c in cases if any(fnmatch.fnmatch(c.id, p) or c.category == p for p in patterns)]
