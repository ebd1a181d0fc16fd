"""Edits: change an existing flow as a request says, and summarise what changed.

The edit operations themselves live in `assistant.edit`; this module wraps them in the same
outcome contract as `generate` (a flow, a question or a refusal) and validates the result.
Text inside the base flow (comments, names) is data: it never reaches the rules as an
instruction, only the request does.
"""

from __future__ import annotations

import time
from typing import Any

from assistant.generate.pipeline import (
    MAX_REQUEST_CHARS,
    Options,
    explain_text,
    require_valid,
)
from assistant.generate.result import Outcome, Stage
from assistant.generate.safety import check_request
from assistant.models.base import Model


def edit(base: list[dict[str, Any]], request: str, model: Model | None,
         options: Options | None = None) -> Outcome:
    """Apply `request` to `base`. Untouched nodes keep their ids and positions."""
    from assistant.edit import apply_edit

    options = options or Options()
    started = time.monotonic()
    text = request.strip()
    if not text:
        return Outcome("clarify", "The request is empty. What should change in the flow?")
    if len(text) > MAX_REQUEST_CHARS:
        return Outcome("clarify", f"The request is {len(text):,} characters long; Plumb reads "
                       f"at most {MAX_REQUEST_CHARS:,}. Describe the change in a few sentences.")
    refusal = check_request(text)
    if refusal is not None:
        return Outcome("refuse", refusal.reason)
    options.progress("planning the edit")
    t0 = time.monotonic()
    result = apply_edit(base, text)
    stages = [Stage("editing", time.monotonic() - t0)]
    if result.unresolved:
        return Outcome("clarify", f"I could not work out this change: {result.unresolved}",
                       seconds=time.monotonic() - started, stages=stages)
    options.progress("validating")
    require_valid(result.flow, "the edited flow")
    changes = [line for line in result.summary if not line.startswith("note: ")]
    notes = [line.removeprefix("note: ") for line in result.summary if line.startswith("note: ")]
    return Outcome("flow", explain_text(result.flow), flow=result.flow, changes=changes,
                   notes=notes, stages=stages, seconds=time.monotonic() - started)
