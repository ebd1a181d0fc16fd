"""`ask explain` through click's runner: text, JSON, stdin, errors, and the model path."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from assistant.cli import cli
from assistant.models.base import FakeModel, ModelError

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = str(REPO / "examples" / "modbus-to-mqtt.json")
SUMMARY_START = "This flow polls holding register 100 on the Modbus device 192.168.1.10:502"


def run(*args: str, stdin: str | bytes | None = None) -> Any:
    return CliRunner().invoke(cli, ["explain", *args], input=stdin)


def test_text_report_without_a_model() -> None:
    result = run(EXAMPLE, "--no-model")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("Summary\n  " + SUMMARY_START)
    for section in ("Paths (1)", "Talks to", "Risks (1)", "Validation: valid"):
        assert section in out
    assert "[no-catch]" in out
    assert result.stderr == ""


def test_json_report() -> None:
    result = run(EXAMPLE, "--json", "--no-model")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["file"] == EXAMPLE
    assert data["summary"].startswith(SUMMARY_START)
    assert data["summary_source"] == "deterministic"
    assert set(data) >= {"facts", "paths", "endpoints", "risks", "validation", "notes"}
    [path] = data["paths"]
    assert path["trigger"]["kind"] == "modbus-poll"
    assert path["steps"][0]["type"] == "change"
    assert [s["type"] for s in path["steps"][0]["next"]] == ["mqtt out", "debug"]


def test_stdin_and_quiet() -> None:
    text = Path(EXAMPLE).read_text(encoding="utf-8")
    result = run("-", "--no-model", "--quiet", stdin=text)
    assert result.exit_code == 0
    assert result.stdout.startswith(SUMMARY_START) and "Paths" not in result.stdout


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('[{"id": "a",\n  "type": }]', "not valid JSON: Expecting value at line 2, column 11"),
        ('{"id": "a"}', "is not a flow: expected a JSON array of nodes, found an object"),
        ("", "is empty"),
    ],
)
def test_unreadable_flows_exit_1(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "flow.json"
    path.write_text(content, encoding="utf-8")
    result = run(str(path), "--no-model")
    assert result.exit_code == 1
    assert message in result.stderr and result.stdout == ""
    as_json = run(str(path), "--no-model", "--json")
    assert as_json.exit_code == 1
    assert message in json.loads(as_json.stdout)["load_error"]


def test_missing_and_oversized_files_exit_1(tmp_path: Path) -> None:
    missing = run(str(tmp_path / "nope.json"), "--no-model")
    assert missing.exit_code == 1 and "does not exist" in missing.stderr
    big = run(EXAMPLE, "--no-model", "--max-size", "1k")
    assert big.exit_code == 1 and "larger than" in big.stderr


def test_usage_errors_exit_2() -> None:
    assert run(EXAMPLE, "--no-model", "--model", "x").exit_code == 2
    assert run().exit_code == 2
    assert run(EXAMPLE, "--bogus").exit_code == 2


def test_help_documents_every_option() -> None:
    result = run("--help")
    assert result.exit_code == 0
    for option in ("--json", "--no-model", "--model", "--quiet", "--max-size", "standard input"):
        assert option in result.stdout


def test_a_model_phrases_the_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    import assistant.models.loading as loading

    answer = (
        "Every 5 seconds this flow reads holding register 100 from the Modbus device "
        "192.168.1.10:502 and publishes it to MQTT topic plant/line1/temp."
    )
    model = FakeModel.of(answer)
    seen: list[str | None] = []

    def fake_load(name: str | None = None, **kwargs: Any) -> FakeModel:
        seen.append(name)
        return model

    monkeypatch.setattr(loading, "load_model", fake_load)
    result = run(EXAMPLE, "--model", "tiny", "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert (data["summary"], data["summary_source"]) == (answer, "model")
    assert seen == ["tiny"]
    assert "loading model tiny" in result.stderr


def test_a_hallucinating_model_is_overruled(monkeypatch: pytest.MonkeyPatch) -> None:
    import assistant.models.loading as loading

    model = FakeModel.of("This flow publishes to 10.9.9.9 every 7 s.")
    monkeypatch.setattr(loading, "load_model", lambda name=None, **kw: model)
    result = run(EXAMPLE)
    assert result.exit_code == 0
    assert SUMMARY_START in result.stdout
    assert "the model's summary was not used" in result.stderr


def test_no_model_installed_is_a_note_not_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    import assistant.models.loading as loading

    def missing(name: str | None = None, **kwargs: Any) -> Any:
        raise ModelError("model 'x' is not installed; install it with `ask models install x`")

    monkeypatch.setattr(loading, "load_model", missing)
    result = run(EXAMPLE)
    assert result.exit_code == 0
    assert result.stdout.startswith("Summary\n  " + SUMMARY_START)
    notes = result.stderr.strip().splitlines()
    assert notes[0].startswith("loading model")
    assert notes[-1].startswith("note: no model (model 'x' is not installed")
    quiet = run(EXAMPLE, "--quiet")
    assert quiet.stderr == "" and quiet.stdout.startswith(SUMMARY_START)


def test_without_model_support_the_command_still_works(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "assistant.models.loading", None)  # import fails
    result = run(EXAMPLE)
    assert result.exit_code == 0
    assert "no model support installed" in result.stderr
    assert SUMMARY_START in result.stdout


def test_docs_show_the_real_output_and_every_risk_code(monkeypatch: pytest.MonkeyPatch) -> None:
    import re

    monkeypatch.chdir(REPO)
    from assistant.explain.risks import RISK_CODES

    docs = (REPO / "docs" / "explain.md").read_text(encoding="utf-8")
    sample = docs.split("```text\n", 1)[1].split("```", 1)[0]
    command, _, shown = sample.partition("\n")
    assert command == "$ ask explain examples/modbus-to-mqtt.json --no-model"
    result = CliRunner().invoke(cli, ["explain", "examples/modbus-to-mqtt.json", "--no-model"])
    assert result.stdout == shown
    assert re.findall(r"^\| `([a-z-]+)` \|", docs, re.MULTILINE) == list(RISK_CODES)
