"""The node_modules folders a user has indexed, remembered beside the index so that
`ask index` refreshes them and `ask index --rebuild` brings them back."""

from __future__ import annotations

import json
from pathlib import Path


class SourceRegistry:
    def __init__(self, path: Path):
        self.path = path

    def load(self) -> list[Path]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return []
        except (OSError, ValueError):
            return []  # a damaged list only costs the user a re-run with --node-modules
        return [Path(p) for p in data.get("node_modules", []) if isinstance(p, str)]

    def add(self, folder: Path) -> None:
        folders = self.load()
        if folder not in folders:
            folders.append(folder)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps({"node_modules": [str(f) for f in folders]}, indent=2))
            tmp.replace(self.path)
