"""Conformance: the example flows shipped inside the installed node-red package that use
only node types Plumb supports show the same debug output in Plumb's runtime and in a
real Node-RED 4.x.

The examples are read from node_modules at test time (never copied). Each one is run in
both at once: every inject node is pressed once, in flow order, and the debug output of
every debug node is compared (as a sequence, `_msgid` and timestamps normalised).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from evals.nodered import NodeRed, NodeRedUnavailable, examples_dir, install_dir
from runtime.registry import load_builtin_nodes
from tests.nodered.conformance import STRUCTURAL, DebugFeed, run_both, start_with_comms

pytestmark = pytest.mark.nodered

# Node types that reach outside the test: files, HTTP to Node-RED's default port.
EXTERNAL = {"http request", "http in", "file", "file in", "watch", "exec"}

# Examples that cannot be compared (relative path -> why): in both runtimes no debug node
# shows anything, so an agreement would prove nothing.
NOTHING_TO_COMPARE: dict[str, str] = {
    "function/function/08 - Using external modules.json": (
        "reads Node's os module from global context (global.get('os')), which exists only "
        "when settings.js sets functionGlobalContext.os = require('os'); the oracle's "
        "settings do not, and Plumb's sandbox cannot hold Node.js modules, so both throw a "
        "TypeError at os.hostname() and no debug node shows anything"),
    "function/switch/09 - Route message based on context value.json": (
        "its only message source, the 'Inject' node, comes first in flow order, before any "
        "'Set state N' inject has set flow.state, so the switch matches no rule and no debug "
        "node shows anything in either runtime (with flow.state set first, both route and "
        "show the same)"),
}

# Examples whose output may differ for a reason outside Plumb (relative path -> reason).
# The marks are not strict: a run where they agree passes.
KNOWN_DIFFERENCES: dict[str, str] = {
    "sequence/join/02 - Manual join mode.json": (
        "Node-RED races with itself: the custom join's 2 s timeout and the rate-limiting "
        "delay's second 1 s tick (both started by the first message) fall due in the same "
        "millisecond, so whether 'Banana' makes the first group varies between Node-RED runs "
        "(mostly 'Apple,Orange' then 'Banana,Kiwi', which Plumb shows)"),
}


def _examples_root() -> Path | None:
    """The examples folder when Node-RED is already installed (collection never installs)."""
    folder = examples_dir(install_dir())
    return folder if folder.is_dir() else None


def _uses_external_modules(flow: list[dict[str, Any]]) -> bool:
    return any(n.get("type") == "function" and n.get("libs") for n in flow)


def runnable_examples() -> list[Any]:
    root = _examples_root()
    if root is None:
        return [pytest.param(None, id="node-red-not-installed")]
    supported = set(load_builtin_nodes().types())
    params = []
    for path in sorted(root.rglob("*.json")):
        flow = json.loads(path.read_text(encoding="utf-8"))
        types = {str(n.get("type")) for n in flow} - STRUCTURAL
        if not types <= supported or types & EXTERNAL or _uses_external_modules(flow):
            continue
        if "inject" not in types or "debug" not in types:
            continue
        name = path.relative_to(root).as_posix()
        marks = []
        if name in NOTHING_TO_COMPARE:
            marks.append(pytest.mark.skip(reason=NOTHING_TO_COMPARE[name]))
        if name in KNOWN_DIFFERENCES:
            marks.append(pytest.mark.xfail(reason=KNOWN_DIFFERENCES[name], strict=False))
        params.append(pytest.param(name, id=name.removesuffix(".json"), marks=marks))
    return params


@pytest.fixture(scope="module")
def node_red_comms(node_red_root: Path) -> Iterator[NodeRed]:
    """A Node-RED of its own with the editor's `/comms` websocket on (the shared one has
    the editor, and with it the debug feed, switched off)."""
    server = start_with_comms(node_red_root)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def debug_feed(node_red_comms: NodeRed) -> Iterator[DebugFeed]:
    feed = DebugFeed(node_red_comms)
    try:
        yield feed
    finally:
        feed.close()


@pytest.mark.parametrize("example", runnable_examples())
def test_example_matches_node_red(example: str | None, node_red_root: Path,
                                  node_red_comms: NodeRed, debug_feed: DebugFeed) -> None:
    if example is None:
        raise NodeRedUnavailable("the examples were not found at collection time; "
                                 "rerun now that Node-RED is installed")
    flow = json.loads((examples_dir(node_red_root) / example).read_text(encoding="utf-8"))
    plumb, node_red_out = run_both(node_red_comms, debug_feed, flow)
    assert node_red_out, "Node-RED showed no debug output; the driver is broken"
    differing = {node_id: {"plumb": plumb.get(node_id), "node-red": node_red_out.get(node_id)}
                 for node_id in set(plumb) | set(node_red_out)
                 if plumb.get(node_id) != node_red_out.get(node_id)}
    assert not differing, "debug output differs:\n" + json.dumps(differing, indent=1)
