"""Ingesting the help of installed node packages, against the real Node-RED install."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from corpus.nodehelp import NodeHelpError, find_node_modules, help_passages, html_to_text

pytestmark = pytest.mark.nodered


def test_help_of_real_packages(node_red_root: Path) -> None:
    origin, passages, packages = help_passages(node_red_root)
    versions = {p.name: p.version for p in packages}
    assert versions["node-red-contrib-modbus"] == "5.23.3"
    assert versions["node-red-contrib-opcua"] == "0.2.354"
    assert versions["@node-red/nodes"] == "4.1.15"
    by_type = {p.node_type: p for p in passages}
    assert by_type["modbus-read"].source == "node-red-contrib-modbus@5.23.3"
    assert by_type["mqtt out"].source == "@node-red/nodes@4.1.15"
    # Types Plumb never catalogued become known through their help.
    assert {"modbus-flex-sequencer", "OpcUa-Server", "OpcUa-Method"} <= set(by_type)
    assert all(p.kind == "help" and p.origin == origin for p in passages)
    assert "<" not in by_type["inject"].text.split("help:", 1)[1][:200]


def test_user_directory_or_node_modules(node_red_root: Path, tmp_path: Path) -> None:
    assert find_node_modules(node_red_root) == (node_red_root / "node_modules").resolve()
    assert find_node_modules(node_red_root / "node_modules").name == "node_modules"
    with pytest.raises(NodeHelpError, match="does not exist"):
        find_node_modules(tmp_path / "missing")
    with pytest.raises(NodeHelpError, match="no node_modules"):
        find_node_modules(tmp_path)


def test_locale_help_preferred_and_broken_packages_skipped(tmp_path: Path) -> None:
    pkg = tmp_path / "node_modules" / "node-red-contrib-gizmo"
    (pkg / "locales" / "en-US").mkdir(parents=True)
    (pkg / "locales" / "de").mkdir(parents=True)
    (pkg / "package.json").write_text(
        json.dumps(
            {"name": "node-red-contrib-gizmo", "version": "2.0.1", "node-red": {"nodes": {}}}
        )
    )
    (pkg / "gizmo.html").write_text(
        '<script type="text/html" data-help-name="gizmo"><p>old inline help</p></script>'
    )
    (pkg / "locales" / "en-US" / "gizmo.html").write_text(
        '<script type="text/html" data-help-name="gizmo"><p>Counts <b>widgets</b>.</p>'
        "<ul><li>fast</li><li>cheap</li></ul></script>"
    )
    (pkg / "locales" / "de" / "gizmo.html").write_text(
        '<script type="text/html" data-help-name="gizmo"><p>Zählt Dinge.</p></script>'
    )
    broken = tmp_path / "node_modules" / "node-red-contrib-broken"
    broken.mkdir()
    (broken / "package.json").write_text("{not json")
    _, passages, packages = help_passages(tmp_path)
    assert [p.name for p in packages] == ["node-red-contrib-gizmo"]
    assert len(passages) == 1
    assert "Counts widgets." in passages[0].text and "- fast" in passages[0].text
    assert passages[0].source == "node-red-contrib-gizmo@2.0.1"


def test_html_to_text() -> None:
    assert (
        html_to_text("<h3>Inputs</h3><dl><dt>payload</dt><dd>a number</dd></dl>")
        == "Inputs\npayload: a number"
    )
