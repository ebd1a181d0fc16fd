"""Where Plumb keeps its local state (the index, later models and fleet data)."""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    """$PLUMB_DATA_DIR, else $XDG_DATA_HOME/plumb, else ~/.local/share/plumb."""
    explicit = os.environ.get("PLUMB_DATA_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "plumb"
