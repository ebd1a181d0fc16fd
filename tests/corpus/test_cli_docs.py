"""`ask index` and `ask docs` as a user runs them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def ask(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PLUMB_DATA_DIR": str(data_dir)}
    result = subprocess.run(
        [sys.executable, "-m", "assistant.cli", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("plumb-cli-data")
    result = ask("index", data_dir=folder)
    assert result.returncode == 0, result.stderr
    assert "embedding" in result.stderr and "passages" in result.stderr  # progress shown
    assert "added" in result.stdout
    return folder


def test_docs_prints_passages_with_sources(data_dir: Path) -> None:
    result = ask("docs", "how do I read a coil over modbus", data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    assert "modbus-read" in result.stdout
    assert "corpus/docs/modbus-read.md" in result.stdout or "corpus/examples/" in result.stdout


def test_docs_json(data_dir: Path) -> None:
    result = ask("docs", "publish to mqtt with retain", "--json", "-k", "3", data_dir=data_dir)
    assert result.returncode == 0
    data = json.loads(result.stdout)
    assert len(data["hits"]) == 3
    assert {"id", "kind", "node_type", "source", "score", "text"} <= set(data["hits"][0])


def test_second_index_run_embeds_nothing(data_dir: Path) -> None:
    result = ask("index", data_dir=data_dir)
    assert result.returncode == 0
    assert "all up to date" in result.stderr
    assert " 0 added, 0 updated, 0 removed" in result.stdout


@pytest.mark.parametrize("query", ["", "   "])
def test_empty_query_is_a_usage_error(data_dir: Path, query: str) -> None:
    result = ask("docs", query, data_dir=data_dir)
    assert result.returncode == 2 and "query is empty" in result.stderr


def test_huge_query_is_refused(data_dir: Path) -> None:
    result = ask("docs", "modbus " * 15000, data_dir=data_dir)
    assert result.returncode == 2 and "keep it under" in result.stderr


def copy_of(data_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(data_dir, target)
    return target


def test_corrupt_index_then_rebuild(data_dir: Path, tmp_path: Path) -> None:
    tmp_path = copy_of(data_dir, tmp_path)
    (tmp_path / "index" / "manifest.json").write_text("garbage")
    broken = ask("docs", "modbus", data_dir=tmp_path)
    assert broken.returncode == 1
    assert "ask index --rebuild" in broken.stderr
    fixed = ask("index", "--rebuild", data_dir=tmp_path)
    assert fixed.returncode == 0, fixed.stderr
    assert ask("docs", "modbus", data_dir=tmp_path).returncode == 0


@pytest.mark.nodered
def test_index_node_modules_adds_installed_help(
    node_red_root: Path, data_dir: Path, tmp_path: Path
) -> None:
    tmp_path = copy_of(data_dir, tmp_path)
    result = ask("index", "--node-modules", str(node_red_root), data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "node-red-contrib-modbus@5.23.3" in result.stderr
    hits = json.loads(
        ask("docs", "modbus flex sequencer", "--kind", "help", "--json", data_dir=tmp_path).stdout
    )["hits"]
    assert hits and hits[0]["source"].startswith("node-red-contrib-modbus@")
    # remembered: a plain refresh revisits the folder without naming it again
    again = ask("index", data_dir=tmp_path)
    assert again.returncode == 0 and str(node_red_root / "node_modules") in again.stderr
    assert " 0 added, 0 updated, 0 removed" in again.stdout
    hits = json.loads(
        ask("docs", "OpcUa-Server", "--kind", "help", "--json", data_dir=tmp_path).stdout
    )["hits"]
    assert hits and hits[0]["package"] == "node-red-contrib-opcua"


def test_node_modules_must_exist(tmp_path: Path) -> None:
    result = ask("index", "--node-modules", str(tmp_path / "nope"), data_dir=tmp_path)
    assert result.returncode == 2 and "does not exist" in result.stderr
