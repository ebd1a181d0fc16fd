"""`ask validate` as a user runs it: exit codes, messages, JSON output, hostile input."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES

EXAMPLE = EXAMPLES / "modbus-to-mqtt.json"


def ask(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "assistant.cli", *args],
        input=stdin.decode() if stdin else None,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    return result


def test_console_script_is_installed() -> None:
    script = shutil.which("ask")
    assert script, "the `ask` console script is not on PATH (pip install -e .)"
    result = subprocess.run([script, "validate", str(EXAMPLE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "valid - 7 nodes, 0 errors, 0 warnings" in result.stdout


def test_valid_flow_exits_0() -> None:
    assert ask("validate", str(EXAMPLE)).returncode == 0


def test_invalid_flow_exits_1_and_names_the_node(tmp_path: Path) -> None:
    flow = json.loads(EXAMPLE.read_text())
    flow[1]["dataType"] = "Holding"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(flow))
    result = ask("validate", str(path))
    assert result.returncode == 1
    assert "[property-enum] modbus-read a1b2c3d4e5f60002 ('Read HR 100') .dataType" in result.stdout
    assert "did you mean 'HoldingRegister'" in result.stdout
    assert "invalid - 7 nodes, 1 error" in result.stdout


def test_json_output(tmp_path: Path) -> None:
    flow = json.loads(EXAMPLE.read_text())
    flow[3]["type"] = "mqtt-out"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(flow))
    result = ask("validate", "--json", str(path))
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["valid"] is False and report["errors"] >= 1
    first = report["findings"][0]
    assert first["code"] == "unknown-type"
    assert first["node"] == {
        "id": "a1b2c3d4e5f60004",
        "type": "mqtt-out",
        "name": "plant/line1/temp",
    }
    assert set(first) >= {"severity", "code", "node", "property", "message", "hint"}


def test_stdin() -> None:
    assert ask("validate", "-", stdin=EXAMPLE.read_bytes()).returncode == 0
    result = ask("validate", "-", stdin=b'[{"id": "x", "type": "nope"}]')
    assert result.returncode == 1 and "unknown node type 'nope'" in result.stdout


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'[{"id": "a",\n  "type": }]', "not valid JSON: Expecting value at line 2, column 11"),
        (b"", "is empty"),
        (b"   \n", "is empty"),
        (b"\xff\xfe[]", "not UTF-8"),
        (b"[" * 100000 + b"]" * 100000, "nests JSON too deeply"),
    ],
    ids=["malformed", "empty", "blank", "not-utf8", "deep"],
)
def test_unreadable_input_gets_a_clear_message(
    tmp_path: Path, content: bytes, expected: str
) -> None:
    path = tmp_path / "flow.json"
    path.write_bytes(content)
    result = ask("validate", str(path))
    assert result.returncode == 1
    assert expected in result.stderr


def test_non_array(tmp_path: Path) -> None:
    path = tmp_path / "flow.json"
    path.write_text('{"id": "a", "type": "inject"}')
    result = ask("validate", str(path))
    assert result.returncode == 1
    assert (
        "[flow-not-array]" in result.stdout
        and "expected a JSON array of nodes, found object" in result.stdout
    )


def test_directory_and_missing_file(tmp_path: Path) -> None:
    result = ask("validate", str(tmp_path))
    assert result.returncode == 1 and "is a directory" in result.stderr
    result = ask("validate", str(tmp_path / "nope.json"))
    assert result.returncode == 1 and "does not exist" in result.stderr


def test_fifty_megabyte_file_is_refused_quickly(tmp_path: Path) -> None:
    path = tmp_path / "huge.json"
    with path.open("wb") as handle:
        handle.truncate(50 * 1024 * 1024)
    result = ask("validate", str(path))
    assert result.returncode == 1
    assert "is 50.0 MB, larger than the 16.0 MB limit (raise it with --max-size)" in result.stderr


def test_max_size_can_be_raised_and_lowered(tmp_path: Path) -> None:
    result = ask("validate", "--max-size", "1k", str(EXAMPLE))
    assert result.returncode == 1 and "limit" in result.stderr
    assert ask("validate", "--max-size", "64M", str(EXAMPLE)).returncode == 0


def test_huge_stdin_is_refused() -> None:
    result = ask("validate", "--max-size", "10k", "-", stdin=b"[" + b" " * 20000 + b"]")
    assert result.returncode == 1 and "standard input is larger than" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["validate"],
        ["validate", "--bogus", "x"],
        ["validate", "--max-size", "lots", "x"],
        ["frobnicate"],
    ],
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    result = ask(*args)
    assert result.returncode == 2
    if args:
        assert "Usage:" in result.stderr


def test_help_explains_every_option() -> None:
    result = ask("validate", "--help")
    assert result.returncode == 0
    for option in ("--json", "--max-size", "--quiet"):
        assert option in result.stdout
    assert "Exits 0 when the flow is valid" in result.stdout


def test_schema_command_writes_schema(tmp_path: Path) -> None:
    out = tmp_path / "schema.json"
    assert ask("schema", "-o", str(out)).returncode == 0
    assert json.loads(out.read_text())["$schema"].endswith("2020-12/schema")


def test_catalog_command() -> None:
    listing = ask("catalog")
    assert listing.returncode == 0 and "modbus-read" in listing.stdout
    detail = ask("catalog", "mqtt out")
    assert detail.returncode == 0 and "qos" in detail.stdout
    unknown = ask("catalog", "mqtt-out")
    assert unknown.returncode == 1 and "did you mean 'mqtt out'" in unknown.stderr
