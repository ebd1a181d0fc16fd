"""What the API does, as plain functions: the same pipeline `ask generate`, `ask explain`
and `ask validate` run, plus what a client needs to draw the result (validator findings
keyed by node). The model-bound ones run in the model thread (see queue.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from assistant.generate.result import Outcome
from assistant.models.base import Model
from assistant.server.queue import Ticket

Emit = Callable[[str, dict[str, Any]], None]
Flow = list[dict[str, Any]]


def findings_of(flow: Flow) -> list[dict[str, Any]]:
    """The validator's findings, each naming the node it concerns (or none)."""
    from flowschema.validator import validate_flow

    return [finding_dict(f) for f in validate_flow(flow).findings]


def finding_dict(finding: Any) -> dict[str, Any]:
    node = finding.node
    return {
        "severity": finding.severity.value,
        "code": finding.code,
        "message": finding.message,
        "hint": finding.hint,
        "node_id": node.id if node is not None else None,
        "property": finding.property,
    }


def run_turn(text: str, base: Flow | None, model: Model | None, ticket: Ticket,
             emit: Emit) -> dict[str, Any]:
    """One request: a new flow, or an edit of `base`. Steps and tokens go to `emit`; the
    ticket stops the work between steps and tokens when the client has gone."""
    from assistant.generate.pipeline import GenerationError, Options, generate

    def progress(stage: str) -> None:
        ticket.check()
        emit("step", {"name": stage})

    def token(piece: str) -> None:
        ticket.check()
        emit("token", {"text": piece})

    options = Options(progress=progress, on_token=token)
    ticket.check()
    try:
        if base is not None:
            from assistant.generate.editing import edit

            outcome = edit(base, text, model, options)
        else:
            outcome = generate(text, model, options)
    except GenerationError as exc:
        outcome = Outcome("refuse", f"Plumb could not build this flow: {exc}")
    return outcome_dict(outcome)


def outcome_dict(outcome: Outcome) -> dict[str, Any]:
    data = outcome.to_dict()
    data["findings"] = findings_of(outcome.flow) if outcome.flow is not None else []
    return data


def explain(flow: Flow, model: Model | None) -> dict[str, Any]:
    """Facts from the graph; with a model, its summary paragraph when it passes checks."""
    from assistant.explain import explain_flow, render_text, try_phrase

    started = time.monotonic()
    explanation = explain_flow(flow)
    summary = explanation.summary
    summary_by = "deterministic"
    reason = None
    if model is not None:
        phrased = try_phrase(explanation, model)
        summary, summary_by, reason = phrased.text, phrased.source, phrased.reason
    return {
        **explanation.to_dict(),
        "summary": summary,
        "summary_by": summary_by,
        "summary_note": reason,
        "text": render_text(explanation, summary if summary_by == "model" else None),
        "seconds": round(time.monotonic() - started, 3),
    }


def validate(flow: Any) -> dict[str, Any]:
    from flowschema.validator import validate_flow

    report = validate_flow(flow)
    data = report.to_dict()
    data["findings"] = [finding_dict(f) for f in report.findings]
    return data


def select_nodes(flow: Flow, node_ids: list[str]) -> Flow:
    """The chosen nodes with the config nodes and tabs they refer to; wires that leave
    the selection are cut, so the explanation covers exactly what was picked."""
    chosen = set(node_ids)
    by_id = {n.get("id"): n for n in flow if isinstance(n, dict)}
    missing = [i for i in node_ids if i not in by_id]
    if missing:
        raise KeyError(f"no node with id {missing[0]!r} in the flow")
    keep: set[Any] = set(chosen)
    for node_id in chosen:
        node = by_id[node_id]
        for key, value in node.items():
            if key in ("id", "wires") or not isinstance(value, str):
                continue
            if value in by_id and value not in chosen:
                keep.add(value)  # a config node or the tab (`z`)
    out: Flow = []
    for node in flow:
        if not isinstance(node, dict) or node.get("id") not in keep:
            continue
        copy = dict(node)
        if isinstance(copy.get("wires"), list):
            copy["wires"] = [[t for t in port if t in chosen] if isinstance(port, list) else port
                             for port in copy["wires"]]
        out.append(copy)
    return out
