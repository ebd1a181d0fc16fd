"""The VS Code extension (editors/vscode) builds, lints, type-checks, passes its tests and
packages as a .vsix.

Its tests are TypeScript run by Node's test runner: unit tests of the extension's logic
against a stub of the `vscode` module, and integration tests of its API client against a
real `ask serve --model fake` (this environment's `ask`, passed as PLUMB_ASK). Node
packages come from the npm registry (`npm ci`, only when node_modules is missing or older
than package-lock.json).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXTENSION = REPO / "editors" / "vscode"
VSIX = EXTENSION / "plumb-vscode.vsix"
NPM = shutil.which("npm")
NODE = shutil.which("node")


def _node_major() -> int:
    if NODE is None:
        return 0
    result = subprocess.run([NODE, "--version"], capture_output=True, text=True, timeout=30)
    try:
        return int(result.stdout.strip().lstrip("v").split(".")[0])
    except ValueError:
        return 0


if NPM is None or NODE is None:
    pytest.skip("the VS Code extension's build needs Node.js 20+ and npm (not found on PATH)",
                allow_module_level=True)
if _node_major() < 20:
    pytest.skip("the VS Code extension's build needs Node.js 20 or newer",
                allow_module_level=True)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    ask = Path(sys.executable).parent / "ask"
    if ask.exists():
        env["PLUMB_ASK"] = str(ask)
        env["PLUMB_REQUIRE_ASK"] = "1"
    env.update({"CI": "1", "npm_config_fund": "false", "npm_config_audit": "false",
                "npm_config_update_notifier": "false"})
    return env


def npm(*args: str, timeout: float = 300) -> str:
    """Run npm in the extension's folder; on failure, fail with npm's output."""
    assert NPM is not None
    try:
        result = subprocess.run([NPM, *args], cwd=EXTENSION, env=_env(), capture_output=True,
                                text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        output = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else exc.stdout
        pytest.fail(f"npm {' '.join(args)} ran past {timeout:.0f} s:\n{output or ''}")
    output = result.stdout + result.stderr
    if result.returncode != 0:
        pytest.fail(f"npm {' '.join(args)} failed ({result.returncode}):\n{output[-20000:]}")
    return output


@pytest.fixture(scope="module")
def installed() -> Path:
    """node_modules as package-lock.json says (npm ci), reused while it is current."""
    marker = EXTENSION / "node_modules" / ".package-lock.json"
    lock = EXTENSION / "package-lock.json"
    if not marker.exists() or lock.stat().st_mtime > marker.stat().st_mtime:
        npm("ci", "--no-audit", "--no-fund", timeout=480)
    return EXTENSION


def test_lint(installed: Path) -> None:
    npm("run", "lint")


def test_typecheck(installed: Path) -> None:
    npm("run", "typecheck")


def test_unit_and_integration_tests(installed: Path) -> None:
    # npm fails when a test fails; with PLUMB_ASK set, the integration tests fail rather
    # than skip when they cannot start the server (PLUMB_REQUIRE_ASK).
    output = npm("test", timeout=420)
    assert "the API client against ask serve" in output, output[-5000:]


def test_vsix_packages(installed: Path) -> None:
    VSIX.unlink(missing_ok=True)
    npm("run", "package")
    assert VSIX.exists()
    with zipfile.ZipFile(VSIX) as archive:
        names = set(archive.namelist())
    assert "extension/package.json" in names
    assert "extension/out/src/extension.js" in names
    assert "extension/readme.md" in {n.lower() for n in names}
    assert not any(n.startswith("extension/out/test/") for n in names), "tests are not shipped"
    assert not any("/node_modules/" in n for n in names)
