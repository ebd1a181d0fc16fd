"""The runner: generators, scoring of bad answers, and `ask eval` end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from evals.flows.cases import load_cases
from evals.flows.generators import command
from evals.flows.scoring import score

FLOW_CASE = next(c for c in load_cases("http") if c.outcome == "flow")
CLARIFY_CASE = load_cases("clarify")[0]
REFUSE_CASE = load_cases("refuse")[0]


def test_command_generator_reads_the_flow_it_wrote(tmp_path: Path) -> None:
    ref = tmp_path / "ref.json"
    ref.write_text(json.dumps(FLOW_CASE.reference))
    answer = command(f"cp {ref} {{out}}")(FLOW_CASE)
    assert answer.outcome == "flow" and answer.flow == FLOW_CASE.reference
    assert score(FLOW_CASE, answer, None).passed


def test_command_generator_outcomes() -> None:
    assert command("echo '[]' > {out}")(FLOW_CASE).flow == []
    empty = score(FLOW_CASE, command("echo '[]' > {out}")(FLOW_CASE), None)
    assert not empty.passed and empty.failed_stage == "structure"
    asked = command("""echo '{"outcome": "clarify", "message": "which PLC?"}'; exit 3""")
    assert asked(CLARIFY_CASE).outcome == "clarify"
    assert score(CLARIFY_CASE, asked(CLARIFY_CASE), None).passed
    assert not score(REFUSE_CASE, asked(REFUSE_CASE), None).passed
    vague = command("exit 3")(REFUSE_CASE)
    assert vague.outcome == "clarify-or-refuse" and score(REFUSE_CASE, vague, None).passed
    broken = command("echo boom >&2; exit 1")(FLOW_CASE)
    assert broken.outcome == "error" and "boom" in broken.message
    garbage = command("echo 'not json' > {out}")(FLOW_CASE)
    assert garbage.outcome == "error" and "no readable flow" in garbage.message
    slow = command("sleep 5", timeout=1)(FLOW_CASE)
    assert slow.outcome == "error" and "timed out" in slow.message


def test_request_is_passed_safely_quoted(tmp_path: Path) -> None:
    out = tmp_path / "seen.txt"
    command(f"printf '%s' {{request}} > {out}; exit 3")(FLOW_CASE)
    assert out.read_text() == FLOW_CASE.request


@pytest.mark.nodered
def test_ask_eval_end_to_end(tmp_path: Path) -> None:
    cases = f"{FLOW_CASE.id},{CLARIFY_CASE.id}"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "assistant.cli",
            "eval",
            "--references",
            "--cases",
            cases,
            "--jobs",
            "1",
            "-o",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ,
    )
    assert result.returncode == 0, result.stderr
    assert "2/2 passed (100%)" in result.stdout
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["summary"]["pass_rate"] == 1.0
    assert {c["id"] for c in data["cases"]} == {FLOW_CASE.id, CLARIFY_CASE.id}
    report = (tmp_path / "report.md").read_text()
    assert "| http | 1 | 1 | 100% |" in report
    assert (tmp_path / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_ask_eval_usage_errors(tmp_path: Path) -> None:
    def ask(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "assistant.cli", "eval", *args],
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert ask().returncode == 2
    assert ask("--references", "--cmd", "x").returncode == 2
    assert ask("--references", "--cases", "no-such-case").returncode == 2
    # An unknown model is refused before any harness starts, naming the close matches.
    model = ask("--model", "qwen")
    assert model.returncode == 1 and "qwen" in model.stderr
