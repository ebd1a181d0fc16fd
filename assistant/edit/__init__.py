"""Editing an existing Node-RED flow from a plain-language instruction.

`apply_edit(flow, instruction)` maps the instruction to primitive operations (`ops`), applies
them, validates the result and summarises the difference. When the instruction cannot be
mapped, or the result would not validate, nothing changes and `unresolved` says why.
"""

from __future__ import annotations

import copy

from assistant.edit.diff import diff_summary
from assistant.edit.interpret import interpret
from assistant.edit.model import EditResult, Flow, Op, OpError, Plan, Unresolved
from assistant.edit.ops import OPERATIONS, apply_op, apply_ops
from flowschema.catalog import Catalog, default_catalog
from flowschema.validator import validate_flow


def apply_edit(flow: Flow, instruction: str, *, catalog: Catalog | None = None) -> EditResult:
    """Edit `flow` as `instruction` says. The input flow is never modified."""
    catalog = catalog or default_catalog()
    original = copy.deepcopy(flow)
    if not isinstance(flow, list) or not all(isinstance(n, dict) for n in flow):
        return EditResult(original, [], [], "the flow is not a JSON array of node objects")
    try:
        plan = interpret(flow, instruction, catalog)
        edited = apply_ops(flow, plan.ops, catalog)
    except Unresolved as exc:
        return EditResult(original, [], [], str(exc))
    except OpError as exc:
        return EditResult(original, [], [], f"the edit could not be applied: {exc}")
    broken = _new_errors(flow, edited, catalog)
    if broken:
        reason = "the edit would make the flow invalid: " + "; ".join(broken)
        return EditResult(original, [], [], reason)
    return EditResult(edited, diff_summary(flow, edited) + plan.notes, plan.ops)


def _new_errors(before: Flow, after: Flow, catalog: Catalog) -> list[str]:
    def errors(flow: Flow) -> set[str]:
        report = validate_flow(flow, catalog)
        return {f"{f.code} {f.node.id if f.node else ''}: {f.message}" for f in report.errors}

    return sorted(errors(after) - errors(before))[:5]


__all__ = [
    "OPERATIONS",
    "EditResult",
    "Op",
    "OpError",
    "Plan",
    "Unresolved",
    "apply_edit",
    "apply_op",
    "apply_ops",
    "diff_summary",
    "interpret",
]
