"""Where answers come from: the hand-written references, or any command."""

from __future__ import annotations

import json
import shlex
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evals.flows.cases import Case
from evals.flows.scoring import Answer

Generator = Callable[[Case], Answer]
EITHER = "clarify-or-refuse"  # exit 3 without saying which


def references(case: Case) -> Answer:
    """The case's own reference: the benchmark scored against itself."""
    if case.outcome != "flow":
        return Answer(case.outcome)
    return Answer("flow", case.reference)


def command(template: str, timeout: float = 600) -> Generator:
    """Run `template` per case. Placeholders: {request}, {out} (write the flow JSON there),
    {base} (the flow to edit, for edit cases; empty otherwise). Exit 0 = a flow in {out};
    exit 3 = a question or refusal (stdout may hold JSON with "outcome" and "message")."""

    def generate(case: Case) -> Answer:
        with tempfile.TemporaryDirectory(prefix="plumb-gen-") as scratch:
            out = Path(scratch) / "flow.json"
            base = ""
            if case.base_flow:
                base_path = Path(scratch) / "base.json"
                base_path.write_text(json.dumps(case.base_flow))
                base = str(base_path)
            # Plain replacement, not str.format: a command may hold braces of its own.
            cmd = (
                template.replace("{request}", shlex.quote(case.request))
                .replace("{out}", shlex.quote(str(out)))
                .replace("{base}", shlex.quote(base))
            )
            started = time.monotonic()
            try:
                done = subprocess.run(
                    ["bash", "-c", cmd], capture_output=True, text=True, timeout=timeout
                )
            except subprocess.TimeoutExpired:
                return Answer(
                    "error",
                    message=f"timed out after {timeout:g} s",
                    seconds=time.monotonic() - started,
                )
            seconds = time.monotonic() - started
            info = _json_of(done.stdout)
            tokens = info.get("tokens") if isinstance(info.get("tokens"), int) else None
            if done.returncode == 0:
                try:
                    flow = json.loads(out.read_text())
                except (OSError, ValueError) as exc:
                    return Answer(
                        "error",
                        message=f"exit 0 but no readable flow: {exc}",
                        seconds=seconds,
                        tokens=tokens,
                    )
                return Answer("flow", flow, seconds=seconds, tokens=tokens)
            if done.returncode == 3:
                outcome = (
                    info.get("outcome") if info.get("outcome") in ("clarify", "refuse") else EITHER
                )
                return Answer(
                    str(outcome),
                    message=str(info.get("message", ""))[:300],
                    seconds=seconds,
                    tokens=tokens,
                )
            return Answer(
                "error",
                message=(done.stderr or done.stdout).strip()[-300:],
                seconds=seconds,
                tokens=tokens,
            )

    return generate


def _json_of(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def in_process(model: Any, save_dir: Path | None = None) -> Generator:
    """Generate with Plumb's own pipeline and `model` in this process (edits for edit
    cases). The model's lock serialises inference when cases run side by side. With
    `save_dir`, each outcome (flow, notes, timings) is kept there as <case id>.json."""
    from assistant.generate.editing import edit
    from assistant.generate.pipeline import GenerationError, generate

    def run_case(case: Case) -> Answer:
        started = time.monotonic()
        try:
            if case.base_flow:
                outcome = edit(case.base_flow, case.request, model)
            else:
                outcome = generate(case.request, model)
        except GenerationError as exc:
            return Answer("error", message=str(exc)[:300], seconds=time.monotonic() - started)
        seconds = time.monotonic() - started
        if save_dir is not None:
            save_dir.mkdir(parents=True, exist_ok=True)
            (save_dir / f"{case.id}.json").write_text(json.dumps(outcome.to_dict(), indent=1))
        if outcome.kind == "flow":
            return Answer("flow", outcome.flow, seconds=seconds, tokens=outcome.tokens)
        return Answer(outcome.kind, message=outcome.message[:300], seconds=seconds,
                      tokens=outcome.tokens)

    return run_case
