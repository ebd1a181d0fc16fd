"""Plain-text rendering of an Explanation: summary, walk-through, endpoints, risks,
validation, and the flow's own notes (quoted, marked as data)."""

from __future__ import annotations

import textwrap

from assistant.explain.facts import Explanation
from assistant.explain.paths import Step, Walk
from assistant.explain.text import label, plural, quote

WIDTH = 88


def _head(step: Step) -> str:
    return label({"type": step.type, "name": step.name})


def _run(step: Step, indent: str, bullet: str, lines: list[str]) -> None:
    via = f"[{step.via}] " if step.via else ""
    text = (
        f"{indent}{bullet}{via}{step.description}"
        if step.ref
        else (f"{indent}{bullet}{via}{_head(step)}: {step.description}")
    )
    if step.end and not step.ref:
        text += f"  [{step.end}]"
    lines.append(text)
    follow = indent if bullet == "-> " else indent + " " * len(bullet)
    if len(step.next) == 1:
        _run(step.next[0], follow, "-> ", lines)
    elif step.next:
        for number, child in enumerate(step.next):
            _run(child, follow + "   ", f"{_letter(number)}) ", lines)


def _letter(number: int) -> str:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return letters[number] if number < len(letters) else str(number + 1)


def _walk(walk: Walk, lines: list[str]) -> None:
    where = ""
    if walk.where:
        where = (
            f" (in subflow {quote(walk.where, 40)})"
            if walk.in_subflow
            else (f" (tab {quote(walk.where, 40)})")
        )
    off = " [disabled]" if walk.disabled else ""
    lines.append(f"  {walk.number}. {_head(walk.source)}{where}{off}")
    lines.append(f"     starts on: {walk.trigger.description}")
    if walk.source.end:
        lines.append(f"     ({walk.source.end})")
    for number, child in enumerate(walk.source.next):
        if len(walk.source.next) == 1:
            _run(child, "     ", "-> ", lines)
        else:
            _run(child, "     ", f"{_letter(number)}) ", lines)


def render_text(explanation: Explanation, summary: str | None = None) -> str:
    """The report a person reads. `summary` replaces the deterministic paragraph (e.g. the
    model's phrasing, already checked by `phrase_summary`)."""
    lines = ["Summary"]
    paragraph = summary if summary is not None else explanation.summary
    lines.extend(textwrap.wrap(paragraph, WIDTH, initial_indent="  ", subsequent_indent="  "))

    lines += ["", f"Paths ({len(explanation.paths)})"]
    if not explanation.paths:
        lines.append("  (none: no node in this flow starts messages)")
    for walk in explanation.paths:
        _walk(walk, lines)
    if explanation.omitted_sources:
        lines.append(
            f"  ... and {plural(explanation.omitted_sources, 'more path')} not shown (limit)"
        )
    if explanation.unreached:
        names = [label(n) for n in explanation.unreached[:8]]
        more = len(explanation.unreached) - len(names)
        lines.append(
            "  Not on any path: " + ", ".join(names) + (f" and {more} more" if more > 0 else "")
        )

    lines += ["", "Talks to"]
    if not explanation.endpoints:
        lines.append("  (nothing outside Node-RED)")
    for endpoint in explanation.endpoints:
        detail = f", {endpoint.detail}" if endpoint.detail else ""
        name = f" ({quote(endpoint.name, 40)})" if endpoint.name else ""
        users = [label(u) for u in endpoint.used_by[:4]]
        extra = len(endpoint.used_by) - len(users)
        used = (
            (", ".join(users) + (f" and {extra} more" if extra > 0 else ""))
            if users
            else ("no node uses it")
        )
        lines.append(f"  - {endpoint.title} {endpoint.address}{detail}{name}: {used}")

    lines += ["", f"Risks ({len(explanation.risks)})"]
    if not explanation.risks:
        lines.append("  (none found)")
    for risk in explanation.risks:
        lines.append(f"  - {risk.severity:<6} [{risk.code}] {risk.message}")
        lines.append(f"           fix: {risk.hint}")

    findings = explanation.findings
    verdict = "valid" if findings.valid else "invalid"
    lines += [
        "",
        f"Validation: {verdict}, {plural(findings.errors, 'error')}, "
        f"{plural(findings.warnings, 'warning')}"
        if findings.failure is None
        else f"Validation: the validator failed ({findings.failure})",
    ]
    lines.extend(f"  {line}" for line in findings.lines)
    hidden = len(findings.items) - len(findings.lines)
    if hidden > 0:
        lines.append(f"  ... {plural(hidden, 'more finding')} (see `ask validate`)")

    if explanation.notes:
        lines += ["", "Notes written in the flow (quoted as data, not instructions)"]
        for note in explanation.notes:
            lines.append(f"  - {note.source} {note.field}: {quote(note.text, 200)}")
    return "\n".join(lines) + "\n"
