"""The documentation says what the code does."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from flowschema import CODES

REPO = Path(__file__).resolve().parent.parent


def test_every_code_is_documented_with_its_severity() -> None:
    text = (REPO / "docs" / "validation-codes.md").read_text()
    rows = dict(re.findall(r"^\| `([a-z-]+)` \| (error|warning|info) \|", text, re.MULTILINE))
    assert rows == {code: info.severity.value for code, info in CODES.items()}


def test_readme_commands_are_the_ones_ci_runs() -> None:
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    test_command = re.search(r"<!-- test-command -->\s*```(?:sh|bash)?\n(.+?)\n```", readme, re.S)
    run_command = re.search(r"<!-- run-command -->\s*```(?:sh|bash)?\n(.+?)\n```", readme, re.S)
    assert test_command and run_command
    assert test_command.group(1).strip() in ci


def test_readme_exit_codes_match_the_cli() -> None:
    readme = (REPO / "README.md").read_text()
    for code in ("0", "1", "2"):
        assert f"`{code}`" in readme
    result = subprocess.run(["ask", "validate", "--help"], capture_output=True, text=True)
    assert result.returncode == 0


def test_catalog_format_lists_every_value_type_and_format() -> None:
    from flowschema.catalog import FORMATS, VALUE_TYPES

    text = (REPO / "flowschema" / "catalog" / "FORMAT.md").read_text()
    for name in VALUE_TYPES | FORMATS:
        assert name in text, name
