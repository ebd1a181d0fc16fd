"""A real Node-RED 4.x as an oracle: installed once into a cache, started on a free loopback
port with the admin API on and the editor off, stopped afterwards. The tests and the eval
harness both use it.

Node-RED answers 204 to every deploy, broken or not, and only logs what went wrong, so
`deploy` reads the log written after the request to tell whether the flows started,
which types were missing and which nodes failed to start.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock

NODE_RED_PACKAGES = (
    "node-red@4.1.15",
    "node-red-contrib-modbus@5.23.3",
    "node-red-contrib-opcua@0.2.354",
)


class NodeRedUnavailable(RuntimeError):
    """Node.js/npm is missing or the install failed; the message says which."""


def install_dir() -> Path:
    override = os.environ.get("PLUMB_NODE_RED_HOME")
    if override:
        return Path(override)
    key = hashlib.sha256("\n".join(NODE_RED_PACKAGES).encode()).hexdigest()[:12]
    return Path.home() / ".cache" / "plumb" / f"node-red-{key}"


def ensure_installed() -> Path:
    """Install Node-RED and the contrib packages once; later calls reuse the cache."""
    target = install_dir()
    marker = target / ".plumb-complete"
    if marker.exists():
        return target
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            raise NodeRedUnavailable(f"{tool} is not on PATH; install Node.js 20 and npm")
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock", timeout=900):
        if marker.exists():
            return target
        target.mkdir(parents=True, exist_ok=True)
        (target / "package.json").write_text(
            json.dumps({"name": "plumb-node-red-oracle", "private": True})
        )
        result = subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error", *NODE_RED_PACKAGES],
            cwd=target,
            capture_output=True,
            text=True,
            timeout=900,
        )
        if result.returncode != 0:
            raise NodeRedUnavailable(f"npm install failed:\n{result.stderr[-4000:]}")
        marker.write_text("\n".join(NODE_RED_PACKAGES) + "\n")
    return target


def examples_dir(root: Path | None = None) -> Path:
    return (root or ensure_installed()) / "node_modules" / "@node-red" / "nodes" / "examples"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class DeployResult:
    status: int
    started: bool
    missing_types: list[str] = field(default_factory=list)
    start_errors: list[str] = field(default_factory=list)  # logged while nodes were created
    log: list[str] = field(default_factory=list)


SETTINGS_TEMPLATE = """module.exports = {
    uiHost: "127.0.0.1",
    uiPort: %(port)d,
    disableEditor: true,
    flowFile: "flows.json",
    credentialSecret: false,
    runtimeState: { enabled: true, ui: false },
    telemetry: { enabled: false },
    diagnostics: { enabled: false },
    externalModules: { autoInstall: false, palette: { allowInstall: false } },
    logging: { console: { level: "info", metrics: false, audit: false } },
    functionExternalModules: false,
};
"""


class NodeRed:
    """One running Node-RED process."""

    def __init__(self, root: Path | None = None):
        self.root = root or ensure_installed()
        self.port = free_port()
        self.user_dir = Path(tempfile.mkdtemp(prefix="plumb-nodered-"))
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The Node-RED process's id while it runs (benchmarks read its memory)."""
        return self._process.pid if self._process is not None else None

    def start(self, timeout: float = 60) -> NodeRed:
        (self.user_dir / "node_modules").symlink_to(self.root / "node_modules")
        settings = self.user_dir / "settings.js"
        settings.write_text(SETTINGS_TEMPLATE % {"port": self.port})
        red = self.root / "node_modules" / "node-red" / "red.js"
        guard = Path(__file__).with_name("loopback_only.js")
        self._process = subprocess.Popen(
            [
                "node",
                "--require",
                str(guard),
                str(red),
                "--userDir",
                str(self.user_dir),
                "--settings",
                str(settings),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            env={**os.environ, "NODE_RED_ENABLE_PROJECTS": "false"},
        )
        threading.Thread(target=self._read_log, daemon=True).start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise NodeRedUnavailable(
                    "Node-RED exited during start:\n" + "\n".join(self.lines[-40:])
                )
            if any("Started flows" in line for line in self.snapshot()):
                try:
                    self.request("GET", "/settings")
                    return self
                except OSError:
                    pass
            time.sleep(0.1)
        self.stop()
        raise NodeRedUnavailable("Node-RED did not start in time:\n" + "\n".join(self.lines[-40:]))

    def _read_log(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:
            with self._lock:
                self.lines.append(line.rstrip("\n"))

    def snapshot(self, since: int = 0) -> list[str]:
        with self._lock:
            return self.lines[since:]

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=5)
        shutil.rmtree(self.user_dir, ignore_errors=True)

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={
                "Accept": "application/json",
                "Content-Type": "application/json",
                **(headers or {}),
            },
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as response:
                raw = response.read()
                try:
                    return response.status, json.loads(raw) if raw.strip() else None
                except ValueError:
                    return response.status, raw.decode(errors="replace")
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                return exc.code, json.loads(raw)
            except ValueError:
                return exc.code, raw.decode(errors="replace")

    def installed_types(self) -> set[str]:
        status, modules = self.request("GET", "/nodes")
        assert status == 200, modules
        return {t for module in modules if module.get("enabled", True) for t in module["types"]}

    def state(self) -> str:
        status, body = self.request("GET", "/flows/state")
        return (
            str(body.get("state")) if status == 200 and isinstance(body, dict) else f"HTTP {status}"
        )

    def deploy(self, flow: list[Any], timeout: float = 20, settle: float = 0.3) -> DeployResult:
        """Full deploy; returns what the log says happened."""
        mark = len(self.snapshot())
        status, _ = self.request("POST", "/flows", flow, {"Node-RED-Deployment-Type": "full"})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines = self.snapshot(mark)
            if any("Started flows" in ln or "Waiting for missing types" in ln for ln in lines):
                time.sleep(settle)
                break
            if status >= 400:
                break
            time.sleep(0.05)
        return _interpret(status, self.snapshot(mark))


# A bare "TypeError: ..." line: the runtime itself threw while starting flows.
_RUNTIME_ERROR = re.compile(r"^(?:\w+Error|Error)\b.*:")


def _interpret(status: int, lines: list[str]) -> DeployResult:
    started = any("Started flows" in line for line in lines)
    missing: list[str] = []
    start_errors: list[str] = []
    in_missing = False
    in_start = False
    for line in lines:
        if "Waiting for missing types" in line:
            in_missing = True
            continue
        if in_missing:
            stripped = line.split("] ", 1)[-1].strip() if "] " in line else line.strip()
            if stripped.startswith("- "):
                missing.append(stripped[2:].strip())
                continue
            in_missing = False
        if "Starting flows" in line:
            in_start = True
        elif "Started flows" in line:
            in_start = False
        elif in_start and ("[error]" in line or _RUNTIME_ERROR.match(line)):
            start_errors.append(line)
    return DeployResult(status, started and not missing, missing, start_errors, lines)


def to_loopback(flow: list[Any]) -> list[Any]:
    """A copy of `flow` whose clients point at closed loopback ports and whose file paths
    lie under a scratch folder.

    Flows name plant addresses (192.168.x PLCs, brokers); tests must never send traffic
    there, so every host a node would connect to is rewritten before Node-RED sees it (the
    loopback guard Node-RED runs with refuses anything that slips through).
    """
    from evals.flows.rewrite import Targets, point_at_harness

    closed = free_port()
    scratch = Path(tempfile.mkdtemp(prefix="plumb-loopback-"))
    targets = Targets(closed, closed, f"opc.tcp://127.0.0.1:{closed}", closed, scratch, closed)
    return point_at_harness(flow, targets)
