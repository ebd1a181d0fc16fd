"""Context stores: node, flow (per tab) and global, in memory or persisted to a file.

A persisted store writes the whole scope to a JSON file atomically (write to a temporary
file, then rename) so a crash never leaves half a file; it is read back at start, which is
how context survives a restart.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any


class ContextStore:
    """Values by scope ("global", a tab id, a node id) and key."""

    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._data: dict[str, dict[str, Any]] = {}
        # Bumped on every write to a scope, so a reader that keeps its own copy (a function
        # node's sandbox) knows when the copy is stale without comparing values.
        self._versions: dict[str, int] = {}
        if path is not None and path.exists():
            try:
                loaded = json.loads(path.read_text())
            except (OSError, ValueError) as exc:
                raise ValueError(f"context file {path} is unreadable: {exc}") from exc
            if isinstance(loaded, dict):
                self._data = {str(k): dict(v) for k, v in loaded.items() if isinstance(v, dict)}

    def get(self, scope: str, key: str, default: Any = None) -> Any:
        with self._lock:
            return self._data.get(scope, {}).get(key, default)

    def set(self, scope: str, key: str, value: Any) -> None:
        with self._lock:
            if value is None:
                self._data.get(scope, {}).pop(key, None)
            else:
                self._data.setdefault(scope, {})[key] = value
            self._bump(scope)
            self._save()

    def keys(self, scope: str) -> list[str]:
        with self._lock:
            return sorted(self._data.get(scope, {}))

    def scope(self, scope: str) -> dict[str, Any]:
        with self._lock:
            return dict(self._data.get(scope, {}))

    def update(self, scope: str, changes: dict[str, Any]) -> None:
        """Set several keys at once (None removes one): one lock, one write to disk."""
        with self._lock:
            values = self._data.setdefault(scope, {})
            for key, value in changes.items():
                if value is None:
                    values.pop(key, None)
                else:
                    values[key] = value
            self._bump(scope)
            self._save()

    def clear(self, scope: str) -> None:
        with self._lock:
            self._data.pop(scope, None)
            self._bump(scope)
            self._save()

    def version(self, scope: str) -> int:
        """A number that changes whenever the scope is written."""
        return self._versions.get(scope, 0)

    def _bump(self, scope: str) -> None:
        self._versions[scope] = self._versions.get(scope, 0) + 1

    def _save(self) -> None:
        if self._path is None:
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_suffix(self._path.suffix + ".tmp")
        tmp.write_text(json.dumps(self._data, default=str))
        os.replace(tmp, self._path)


class Context:
    """What a node sees: its own scope, its tab's and the global one."""

    def __init__(self, store: ContextStore, node_id: str, tab_id: str) -> None:
        self.store = store
        self.node_id = node_id
        self.tab_id = tab_id

    def node(self) -> _Scoped:
        return _Scoped(self.store, f"node:{self.node_id}")

    def flow(self) -> _Scoped:
        return _Scoped(self.store, f"flow:{self.tab_id}")

    def global_(self) -> _Scoped:
        return _Scoped(self.store, "global")


class _Scoped:
    def __init__(self, store: ContextStore, scope: str) -> None:
        self.store = store
        self.name = scope

    def get(self, key: str, default: Any = None) -> Any:
        return self.store.get(self.name, key, default)

    def set(self, key: str, value: Any) -> None:
        self.store.set(self.name, key, value)

    def keys(self) -> list[str]:
        return self.store.keys(self.name)

    def all(self) -> dict[str, Any]:
        return self.store.scope(self.name)

    def update(self, changes: dict[str, Any]) -> None:
        self.store.update(self.name, changes)

    def version(self) -> int:
        return self.store.version(self.name)
