"""The agent against a real, stock Node-RED 4.x (editor channel on, so node statuses and
errors reach the agent): a good snapshot runs (its debug output shows in Node-RED's log),
one whose function node fails at start is rolled back, one with a node type Node-RED does
not have is refused before anything is deployed, and node modules are installed offline
from a folder of tarballs."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import evals.nodered as nodered
from evals.nodered import NodeRed
from runtime.agent.agent import Agent
from runtime.agent.targets import DeployFailed, NodeRedTarget, tarball_name
from tests.agent.conftest import good_flow, make_agent, missing_type_flow, throwing_flow
from tests.agent.fake_server import FakeFleet

pytestmark = pytest.mark.nodered


class EditorNodeRed(NodeRed):
    """Node-RED as the harness starts it, with the editor (and so /comms) on."""

    def start(self, timeout: float = 60) -> NodeRed:
        original = nodered.SETTINGS_TEMPLATE
        nodered.SETTINGS_TEMPLATE = original.replace("disableEditor: true",
                                                     "disableEditor: false")
        try:
            return super().start(timeout)
        finally:
            nodered.SETTINGS_TEMPLATE = original


@pytest.fixture(scope="module")
def red(node_red_root: Path) -> Iterator[NodeRed]:
    server = EditorNodeRed(node_red_root).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def red_agent(fleet: FakeFleet, red: NodeRed, tmp_path: Path) -> Iterator[Agent]:
    agent = make_agent(fleet, NodeRedTarget(red.url), tmp_path / "state", soak=1.5)
    try:
        yield agent
    finally:
        agent.stop()
        agent.close()


def running_tag(red: NodeRed) -> str | None:
    status, flows = red.request("GET", "/flows")
    assert status == 200
    return next((str(n.get("label")) for n in flows if n.get("type") == "tab"), None)


def wait_debug(red: NodeRed, tag: str, since: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if running_tag(red) == tag and any(f"[debug:{tag}]" in line
                                           for line in red.snapshot(since)):
            return
        time.sleep(0.1)
    raise AssertionError(f"no debug output of {tag!r}; running {running_tag(red)!r}")


def test_good_snapshot_runs_on_node_red(fleet: FakeFleet, red_agent: Agent,
                                        red: NodeRed) -> None:
    mark = len(red.snapshot())
    snapshot = fleet.snapshot(good_flow("red-good"))
    fleet.set_target(snapshot)
    assert red_agent.run(once=True) == 0
    wait_debug(red, "red-good", mark)
    report = fleet.last_check_in()
    result = report["last_result"]
    assert (result["snapshot"], result["ok"], result["reason"]) == (
        snapshot, True, "healthy for 1.5 s")
    assert report["runtime_version"].startswith("node-red 4.")
    assert report["health"]["flows_started"] and report["health"]["node_errors"] == 0


def test_node_failing_at_start_is_rolled_back_on_node_red(
        fleet: FakeFleet, red_agent: Agent, red: NodeRed) -> None:
    good = fleet.snapshot(good_flow("red-base"))
    fleet.set_target(good)
    assert red_agent.run(once=True) == 0
    bad = fleet.snapshot(throwing_flow("red-bad"))
    fleet.set_target(bad)
    mark = len(red.snapshot())
    assert red_agent.run(once=True) == 1
    wait_debug(red, "red-base", mark)
    result = fleet.results()[-1]
    assert result["snapshot"] == bad and result["ok"] is False
    assert "boom at start" in result["reason"], result


def test_missing_node_type_is_refused_before_deploying(
        fleet: FakeFleet, red_agent: Agent, red: NodeRed) -> None:
    good = fleet.snapshot(good_flow("red-keep"))
    fleet.set_target(good)
    assert red_agent.run(once=True) == 0
    _, before = red.request("GET", "/flows", headers={"Node-RED-API-Version": "v2"})
    bad = fleet.snapshot(missing_type_flow("red-missing"))
    fleet.set_target(bad)
    assert red_agent.run(once=True) == 1
    result = fleet.results()[-1]
    assert result["ok"] is False and "no-such-node-type" in result["reason"]
    _, after = red.request("GET", "/flows", headers={"Node-RED-API-Version": "v2"})
    assert after["rev"] == before["rev"]  # never deployed
    assert red.state() == "start"


def _pack_module(folder: Path, name: str, version: str) -> Path:
    """A tiny node module (one node type), packed with npm pack as a vendor would ship it."""
    source = folder / "src"
    source.mkdir()
    (source / "package.json").write_text(json.dumps({
        "name": name, "version": version, "node-red": {"nodes": {"plumb-probe": "probe.js"}}}))
    (source / "probe.js").write_text(
        "module.exports = function (RED) {\n"
        "  function Probe(config) { RED.nodes.createNode(this, config); }\n"
        "  RED.nodes.registerType('plumb-probe', Probe);\n};\n")
    (source / "probe.html").write_text("<script>/* no editor UI */</script>\n")
    out = folder / "modules"
    out.mkdir()
    subprocess.run(["npm", "pack", "--silent", "--pack-destination", str(out), str(source)],
                   check=True, capture_output=True, timeout=120)
    path = out / tarball_name(name, version)
    assert path.exists(), list(out.iterdir())
    return out


@pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed")
def test_modules_are_installed_offline_from_the_local_folder(tmp_path: Path,
                                                             red: NodeRed) -> None:
    modules = _pack_module(tmp_path, "node-red-contrib-plumb-probe", "1.0.0")
    user_dir = tmp_path / "userdir"
    user_dir.mkdir()
    bundle = {"flows": [], "modules": {"node-red-contrib-plumb-probe": "1.0.0"}}

    bare = NodeRedTarget(red.url, watch_comms=False)
    with pytest.raises(DeployFailed, match="--modules-dir"):
        bare.install(bundle)
    bare.close()

    target = NodeRedTarget(red.url, modules_dir=modules, user_dir=user_dir,
                           watch_comms=False)
    with pytest.raises(DeployFailed, match="not in"):
        target.install({"modules": {"node-red-contrib-plumb-probe": "2.0.0"}})
    # installed, but the running Node-RED loads modules only when it starts
    with pytest.raises(DeployFailed, match="--restart-command"):
        target.install(bundle)
    target.close()
    installed = user_dir / "node_modules" / "node-red-contrib-plumb-probe" / "package.json"
    assert json.loads(installed.read_text())["version"] == "1.0.0"
    saved = json.loads((user_dir / "package.json").read_text())
    assert "node-red-contrib-plumb-probe" in saved["dependencies"]
