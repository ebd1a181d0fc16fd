"""The state directory on its own (atomic files, pointers, the journal, pruning), the flow
built from a bundle, the bundle check against the fake server's signatures, and the
`ask agent` command line (usage errors, clean failures, exit codes)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from runtime.agent.agent import verified
from runtime.agent.state import AgentState, Identity, atomic_write
from runtime.agent.targets import build_flow, flow_types, tarball_name
from runtime.fleet.bundle import BundleError
from tests.agent.conftest import REPO, PlumbRuntime, agent_command, good_flow
from tests.agent.fake_server import FakeFleet, public_pem

ID_A, ID_B = "a" * 64, "b" * 64


def test_atomic_write_replaces_whole_files_and_leaves_no_temporaries(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "file"
    atomic_write(path, b"one", 0o600)
    atomic_write(path, b"two", 0o600)
    assert path.read_bytes() == b"two"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["file"]


def test_pointers_journal_and_prune(tmp_path: Path) -> None:
    state = AgentState(tmp_path)
    state.ensure()
    (tmp_path / ".current.x.tmp").write_text("torn")  # a write cut short by a crash
    state.ensure()
    assert not (tmp_path / ".current.x.tmp").exists()
    assert state.pointer("current") is None
    state.set_pointer("current", ID_A)
    assert state.pointer("current") == ID_A
    with pytest.raises(ValueError):
        state.set_pointer("current", "../../etc/passwd")
    with pytest.raises(KeyError):
        state.pointer("other")
    state.begin_apply(ID_B, ID_A, ID_A, None)
    state.journal_step("deployed")
    journal = state.journal()
    assert journal is not None and journal["step"] == "deployed"
    assert (journal["snapshot"], journal["last_good"]) == (ID_B, ID_A)
    for snapshot in (ID_A, ID_B, "c" * 64):
        state.save_snapshot({"id": snapshot, "flows": []})
    state.prune()  # the journal keeps B alive, the pointer A
    assert sorted(p.stem for p in state.snapshots.iterdir()) == [ID_A, ID_B]
    state.end_apply()
    state.prune()
    assert [p.stem for p in state.snapshots.iterdir()] == [ID_A]
    state.set_pointer("current", None)
    assert state.pointer("current") is None


def test_identity_round_trip_and_credential_mode(tmp_path: Path) -> None:
    state = AgentState(tmp_path)
    state.ensure()
    assert state.identity() is None
    state.save_identity(Identity("dev", "plumb_d_x", "PEM", "http://s", "n"))
    assert state.identity() == Identity("dev", "plumb_d_x", "PEM", "http://s", "n")
    assert stat.S_IMODE(os.stat(tmp_path / "credential").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path).st_mode) == 0o700


def test_build_flow_fills_credentials_and_tab_env_without_changing_the_bundle() -> None:
    flows: list[dict[str, Any]] = [{"id": "t", "type": "tab", "env": [{"name": "A", "value": "tab", "type": "str"}]},
             {"id": "n", "type": "mqtt-broker", "z": "t"},
             {"id": "s", "type": "subflow"}, {"id": "i", "type": "subflow:s", "z": "t"}]
    bundle = {"flows": flows, "credentials": {"n": {"user": "u", "password": "p"}},
              "env": {"A": "snapshot", "B": "b"}}
    built = build_flow(bundle)
    assert built[1]["credentials"] == {"user": "u", "password": "p"}
    assert built[0]["env"] == [{"name": "A", "value": "tab", "type": "str"},
                               {"name": "B", "value": "b", "type": "str"}]
    assert "credentials" not in flows[1] and len(flows[0]["env"]) == 1
    assert flow_types(built) == {"mqtt-broker"}
    assert build_flow(None) == []
    assert tarball_name("@acme/node-red-thing", "1.2.3") == "acme-node-red-thing-1.2.3.tgz"


def test_bundles_are_checked_with_the_servers_code(fleet: FakeFleet) -> None:
    snapshot = fleet.snapshot(good_flow("v"), credentials={"dbg": {"k": "é"}})
    pem = public_pem(fleet.key)
    bundle = fleet.bundles[snapshot]
    assert verified(bundle, pem, snapshot)["id"] == snapshot
    with pytest.raises(BundleError, match="asked for"):
        verified(bundle, pem, "0" * 64)
    altered = {**bundle, "env": {"X": "1"}}
    with pytest.raises(BundleError, match="does not match"):
        verified(altered, pem, snapshot)
    with pytest.raises(BundleError):
        verified({**bundle, "signature": "zz"}, pem, snapshot)


def ask(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "assistant.cli", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


def test_cli_usage_errors_exit_2() -> None:
    assert ask("agent", "--help").returncode == 0
    for args, message in [
            ((), "--server"),
            (("--server", "http://x", "--mqtt", "nohost"), "host:port"),
            (("--server", "ftp://x"), "--server"),
            (("--server", "http://x", "--target", "node-red", "--run-plumb"), "--run-plumb"),
            (("--server", "http://x", "--restart-command", "true"), "--target node-red")]:
        result = ask("agent", *args)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr, (args, result.stderr)


def test_cli_without_identity_or_token_fails_cleanly(tmp_path: Path) -> None:
    result = ask("agent", "--server", "http://127.0.0.1:9", "--state-dir", str(tmp_path),
                 "--once")
    assert result.returncode == 1
    assert "error: this device is not registered" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_once_reports_an_unreachable_server_with_exit_1(
        fleet: FakeFleet, plumb_runtime: PlumbRuntime, tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    assert agent_command(fleet, plumb_runtime.url, state_dir).returncode == 0  # registered
    fleet.stop()
    result = agent_command(fleet, plumb_runtime.url, state_dir)
    assert result.returncode == 1
    assert "server unreachable" in result.stderr and "Traceback" not in result.stderr
