"""Filling the index: the shipped corpus, and the help of installed node packages."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from corpus.index import CorpusIndex, RefreshStats
from corpus.nodehelp import Package, help_passages
from corpus.passages import BUILTIN_ORIGIN, builtin_passages

Progress = Callable[[int, int], Callable[[int], None] | None]
"""Called with (total passages, passages to embed); may return a callback fed with the size
of each embedded batch."""


def index_builtin(index: CorpusIndex, progress: Progress | None = None) -> RefreshStats:
    """Index the node documents and example flows shipped with Plumb."""
    return index.refresh(builtin_passages(), BUILTIN_ORIGIN, progress)


def index_node_modules(
    index: CorpusIndex, path: Path, progress: Progress | None = None
) -> tuple[RefreshStats, list[Package]]:
    """Index the help of every node package installed under a Node-RED user directory."""
    origin, passages, packages = help_passages(path)
    return index.refresh(passages, origin, progress), packages
