"""The agent's state directory, written so that a kill -9 at any moment leaves it readable.

Layout (default `$PLUMB_DATA_DIR/agent`):

    identity.json        {"device_id", "server", "name", "registered_at"}
    credential           the device credential (mode 0600)
    server-key.pem       the pinned public key of the server (snapshots must be signed by it)
    snapshots/<id>.json  verified bundles, as the server sent them
    current              id of the snapshot that should run (absent: none yet)
    last_good            id of the newest snapshot that passed its soak
    previous             the last_good before that (a crash loop after a commit goes back here)
    staged               id of a bundle verified and stored, not yet applied
    journal.json         {"snapshot", "previous", "last_good", "previous_good", "step",
                         "started_at"} while an apply runs
    result.json          the last_result not yet reported to the server
    failed.json          {id: unix time} of snapshots that failed here (not retried at once)
    deployed.json        {"snapshot", "rev"}: what the agent last deployed to the runtime

Every file is replaced atomically: written to a temporary file in the same folder, fsynced,
renamed over the old one with os.replace, then the folder is fsynced so the rename itself
survives a power cut. A reader therefore sees the old or the new content, never a torn one.

The journal is what makes an apply crash-safe. It is written (naming the snapshot being
applied and the one that ran before) before anything is deployed, and removed only after
`current` and `last_good` name the new snapshot: removing it is the commit. An agent that
starts and finds a journal knows an apply was cut short, deploys the previous snapshot
again and reports the attempt as failed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

POINTERS = ("current", "last_good", "previous", "staged")
_SNAPSHOT_ID = re.compile(r"^[0-9a-f]{64}$")


def default_state_dir() -> Path:
    base = os.environ.get("PLUMB_DATA_DIR")
    root = Path(base) if base else Path.home() / ".local" / "share" / "plumb"
    return root / "agent"


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # some platforms cannot open a folder; the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Replace `path` with `data` so that a crash leaves either the old or the new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def atomic_remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        return
    _fsync_dir(path.parent)


def check_snapshot_id(value: str) -> str:
    if not _SNAPSHOT_ID.match(value):
        raise ValueError(f"{value!r} is not a snapshot id (64 lowercase hex digits)")
    return value


@dataclass(frozen=True)
class Identity:
    device_id: str
    credential: str
    public_key_pem: str
    server: str = ""
    name: str = ""


class StateError(RuntimeError):
    """The state directory cannot be used (unreadable, or written by something else)."""


class AgentState:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.snapshots = root / "snapshots"

    def ensure(self) -> None:
        self.snapshots.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            os.chmod(self.root, 0o700)  # holds the credential and clear-text snapshot secrets
        for stale in self.root.glob(".*.tmp"):  # left by a crash in the middle of a write
            with contextlib.suppress(OSError):
                stale.unlink()
        for stale in self.snapshots.glob(".*.tmp"):
            with contextlib.suppress(OSError):
                stale.unlink()

    # -- small JSON files -----------------------------------------------------------------
    def _read_json(self, name: str) -> Any:
        path = self.root / name
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise StateError(f"cannot read {path}: {exc}") from exc

    def _write_json(self, name: str, value: Any, mode: int = 0o600) -> None:
        atomic_write(self.root / name, json.dumps(value, indent=1, sort_keys=True).encode(),
                     mode)

    # -- identity -------------------------------------------------------------------------
    def identity(self) -> Identity | None:
        info = self._read_json("identity.json")
        if info is None:
            return None
        try:
            credential = (self.root / "credential").read_text(encoding="utf-8").strip()
            pem = (self.root / "server-key.pem").read_text(encoding="utf-8")
        except OSError as exc:
            raise StateError(f"{self.root} has identity.json but not the credential or the "
                             f"server key: {exc}") from exc
        return Identity(device_id=str(info["device_id"]), credential=credential,
                        public_key_pem=pem, server=str(info.get("server", "")),
                        name=str(info.get("name", "")))

    def save_identity(self, identity: Identity) -> None:
        atomic_write(self.root / "credential", identity.credential.encode() + b"\n", 0o600)
        atomic_write(self.root / "server-key.pem", identity.public_key_pem.encode(), 0o644)
        # identity.json last: its presence means the other two are complete
        self._write_json("identity.json", {
            "device_id": identity.device_id, "server": identity.server,
            "name": identity.name, "registered_at": time.time()}, 0o644)

    # -- snapshots and pointers -----------------------------------------------------------
    def snapshot_path(self, snapshot_id: str) -> Path:
        return self.snapshots / f"{check_snapshot_id(snapshot_id)}.json"

    def save_snapshot(self, bundle: dict[str, Any]) -> None:
        atomic_write(self.snapshot_path(str(bundle["id"])),
                     json.dumps(bundle, ensure_ascii=False).encode(), 0o600)

    def load_snapshot(self, snapshot_id: str) -> dict[str, Any] | None:
        try:
            data = json.loads(self.snapshot_path(snapshot_id).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise StateError(f"snapshot {snapshot_id[:12]} is unreadable: {exc}") from exc
        return data if isinstance(data, dict) else None

    def pointer(self, name: str) -> str | None:
        if name not in POINTERS:
            raise KeyError(name)
        try:
            value = (self.root / name).read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return None
        return check_snapshot_id(value) if value else None

    def set_pointer(self, name: str, snapshot_id: str | None) -> None:
        if name not in POINTERS:
            raise KeyError(name)
        if snapshot_id is None:
            atomic_remove(self.root / name)
        else:
            atomic_write(self.root / name, check_snapshot_id(snapshot_id).encode() + b"\n")

    def prune(self) -> None:
        """Drop stored bundles that no pointer or journal names any more."""
        keep = {self.pointer(name) for name in POINTERS}
        journal = self.journal()
        if journal:
            keep |= {journal.get("snapshot"), journal.get("previous")}
        for path in self.snapshots.glob("*.json"):
            if path.stem not in keep:
                with contextlib.suppress(OSError):
                    path.unlink()

    # -- the apply journal ----------------------------------------------------------------
    def journal(self) -> dict[str, Any] | None:
        value = self._read_json("journal.json")
        return value if isinstance(value, dict) else None

    def begin_apply(self, snapshot_id: str, previous: str | None, last_good: str | None,
                    previous_good: str | None) -> None:
        """Before anything is deployed: what is applied, and the pointers to restore."""
        self._write_json("journal.json", {
            "snapshot": snapshot_id, "previous": previous, "last_good": last_good,
            "previous_good": previous_good, "step": "begun", "started_at": time.time()})

    def journal_step(self, step: str) -> None:
        journal = self.journal()
        if journal is not None:
            journal["step"] = step
            self._write_json("journal.json", journal)

    def end_apply(self) -> None:
        atomic_remove(self.root / "journal.json")

    # -- results, failures, what was deployed --------------------------------------------
    def pending_result(self) -> dict[str, Any] | None:
        value = self._read_json("result.json")
        return value if isinstance(value, dict) else None

    def set_pending_result(self, result: dict[str, Any] | None) -> None:
        if result is None:
            atomic_remove(self.root / "result.json")
        else:
            self._write_json("result.json", result)

    def failed(self) -> dict[str, float]:
        value = self._read_json("failed.json")
        return {str(k): float(v) for k, v in value.items()} if isinstance(value, dict) else {}

    def mark_failed(self, snapshot_id: str) -> None:
        failed = self.failed()
        failed[snapshot_id] = time.time()
        # a short memory: the newest 50 are plenty to stop a retry loop
        newest = dict(sorted(failed.items(), key=lambda kv: kv[1])[-50:])
        self._write_json("failed.json", newest)

    def deployed(self) -> dict[str, Any] | None:
        value = self._read_json("deployed.json")
        return value if isinstance(value, dict) else None

    def set_deployed(self, snapshot_id: str | None, rev: str | None) -> None:
        self._write_json("deployed.json", {"snapshot": snapshot_id, "rev": rev})
