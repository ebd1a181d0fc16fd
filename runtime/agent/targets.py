"""The runtimes the agent drives, behind one interface (`Target`), both through Node-RED's
admin API:

* `PlumbTarget`: Plumb's own runtime (`ask run`, `runtime.api`). Deploys with
  `POST /flows` (API v2, deployment type full); a flow it cannot run is refused with 400 and
  the old one keeps running. Health: `GET /flows/state`, error logs in `GET /plumb/events`
  since the deploy, red statuses in `GET /plumb/status`. Optionally the agent runs the
  runtime itself (`PlumbProcess`): it restarts it when it exits and counts the restarts.
* `NodeRedTarget`: a stock Node-RED 4.x. Checks before deploying that every node type of
  the flow is installed (Node-RED itself takes any flow and then waits for missing types),
  installs the snapshot's node modules from a local folder of .tgz files with
  `npm install --offline` (devices may be air-gapped), deploys with `POST /flows` and judges
  health from `GET /flows/state` and, when the editor channel is on, from node statuses,
  logged errors and the runtime's notices (`runtime.agent.comms`).

Credentials go in each node's `credentials` field, which both admin APIs accept on deploy;
the snapshot's env is added to every tab's env list (a tab's own entries win), which both
runtimes read.
"""

from __future__ import annotations

import contextlib
import copy
import ctypes
import datetime as dt
import json
import logging
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import httpx

from runtime.agent import agent_version
from runtime.agent.comms import CommsWatcher
from runtime.agent.state import atomic_write

log = logging.getLogger("plumb.agent")

# Node-RED entries that are not node types to install
_STRUCTURAL = {"tab", "subflow", "group", "junction"}


class DeployFailed(RuntimeError):
    """The runtime did not take the flow (refused, unreachable, modules missing)."""


class RuntimeUnreachable(DeployFailed):
    pass


@dataclass
class Health:
    flows_started: bool
    node_errors: int = 0
    crashes: int = 0
    running_since: str | None = None
    problems: list[str] = field(default_factory=list)  # human-readable, for the reason

    @property
    def ok(self) -> bool:
        return self.flows_started and self.node_errors == 0 and self.crashes == 0

    def report(self) -> dict[str, Any]:
        return {"flows_started": self.flows_started, "node_errors": self.node_errors,
                "crashes": self.crashes, "running_since": self.running_since}

    def reason(self) -> str:
        parts = []
        if not self.flows_started:
            parts.append("flows not started")
        if self.node_errors:
            parts.append(f"{self.node_errors} node error(s)")
        if self.crashes:
            parts.append(f"{self.crashes} runtime crash(es)")
        text = ", ".join(parts) or "healthy"
        if self.problems:
            text += ": " + "; ".join(self.problems[:5])
        return text


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def build_flow(bundle: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The flow to deploy for a snapshot: its nodes with their credentials filled in and the
    snapshot's env on every tab. None (no snapshot) is the empty flow."""
    if bundle is None:
        return []
    flow: list[dict[str, Any]] = copy.deepcopy(bundle.get("flows") or [])
    credentials = bundle.get("credentials") or {}
    env = bundle.get("env") or {}
    for node in flow:
        if not isinstance(node, dict):
            continue
        secret = credentials.get(node.get("id"))
        if isinstance(secret, dict):
            node["credentials"] = {**(node.get("credentials") or {}), **secret}
        if env and node.get("type") == "tab":
            raw = node.get("env")
            declared: list[Any] = raw if isinstance(raw, list) else []
            names = {e.get("name") for e in declared if isinstance(e, dict)}
            node["env"] = declared + [{"name": str(k), "value": str(v), "type": "str"}
                                      for k, v in sorted(env.items()) if k not in names]
    return flow


def flow_types(flow: list[dict[str, Any]]) -> set[str]:
    subflows = {f"subflow:{n.get('id')}" for n in flow if n.get("type") == "subflow"}
    return {str(n["type"]) for n in flow if isinstance(n.get("type"), str)
            and n["type"] not in _STRUCTURAL and n["type"] not in subflows}


class Target:
    """What the agent needs of a runtime."""

    kind = "runtime"

    def __init__(self, url: str, token: str | None = None, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        # Node-RED answers some routes (GET /nodes) with HTML unless JSON is asked for
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.http = httpx.Client(base_url=self.url, timeout=timeout, headers=headers)
        self.deployed_at: float | None = None  # monotonic time of the last deploy
        self.running_since: str | None = None

    # -- the interface --------------------------------------------------------------------
    def start(self) -> None:
        """Begin watching (and, where the agent runs the runtime, start it)."""

    def close(self) -> None:
        self.http.close()

    def version(self) -> str:
        raise NotImplementedError

    def install(self, bundle: dict[str, Any] | None) -> None:
        """Make the snapshot's modules available; DeployFailed when they cannot be."""

    def deploy(self, bundle: dict[str, Any] | None) -> str | None:
        """Run the snapshot (None: the empty flow); the runtime's revision after it."""
        raise NotImplementedError

    def health(self) -> Health:
        raise NotImplementedError

    def running_rev(self) -> str | None:
        """The revision the runtime runs now, or None when it cannot be asked."""
        try:
            response = self.http.get("/flows", headers={"Node-RED-API-Version": "v2"})
        except httpx.HTTPError:
            return None
        if response.status_code != 200:
            return None
        try:
            body = response.json()
        except ValueError:
            return None
        return str(body.get("rev")) if isinstance(body, dict) else None

    def crash_loop(self) -> bool:
        """True when the runtime keeps dying (only known where the agent runs it)."""
        return False

    # -- shared ---------------------------------------------------------------------------
    def _post_flow(self, flow: list[dict[str, Any]]) -> str | None:
        try:
            response = self.http.post("/flows", json={"flows": flow}, headers={
                "Node-RED-API-Version": "v2", "Node-RED-Deployment-Type": "full"})
        except httpx.HTTPError as exc:
            raise RuntimeUnreachable(f"the runtime at {self.url} did not answer: "
                                     f"{exc or type(exc).__name__}") from exc
        if response.status_code >= 400:
            raise DeployFailed(f"the runtime refused the flow (HTTP {response.status_code}): "
                               f"{_describe_refusal(response)}")
        self.deployed_at = time.monotonic()
        self.running_since = utc_now()
        try:
            body = response.json()
        except ValueError:
            return None
        return str(body["rev"]) if isinstance(body, dict) and "rev" in body else None

    def _get_json(self, path: str) -> Any:
        response = self.http.get(path)
        response.raise_for_status()
        return response.json()

    def _flows_started(self) -> bool | None:
        """True/False from /flows/state, None when the runtime does not answer."""
        try:
            body = self._get_json("/flows/state")
        except (httpx.HTTPError, ValueError):
            return None
        return isinstance(body, dict) and body.get("state") == "start"


def _describe_refusal(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    if not isinstance(body, dict):
        return str(body)[:300]
    text = str(body.get("message") or body.get("error") or body)
    if body.get("types"):
        text += f" ({', '.join(map(str, body['types']))})"
    findings = body.get("findings")
    if isinstance(findings, list) and findings:
        text += "; " + "; ".join(str(f.get("message", f)) for f in findings[:3]
                                 if isinstance(f, dict))
    return text[:500]


# -- Plumb ----------------------------------------------------------------------------------

def _death_signal() -> Any:
    """What makes the child stop when the agent dies, even by kill -9: prctl
    PR_SET_PDEATHSIG on Linux (None elsewhere). libc is looked up here, in the parent:
    the function that runs between fork and exec only calls it."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def set_death_signal() -> None:
        with contextlib.suppress(Exception):
            prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG

    return set_death_signal


class PlumbProcess:
    """`ask run FLOW_FILE --port PORT` as the agent's child: restarted when it exits, the
    restarts counted. `crash_loop()` is true when it restarted `limit` times within
    `window` seconds. The child is stopped when the agent dies, even by kill -9 (Linux)."""

    def __init__(self, flow_file: Path, port: int, log_file: Path, *, limit: int = 3,
                 window: float = 60.0, allow_exec: bool = False) -> None:
        self.flow_file = flow_file
        self.port = port
        self.log_file = log_file
        self.limit = limit
        self.window = window
        self.allow_exec = allow_exec
        self.restarts: deque[float] = deque(maxlen=100)  # monotonic times
        # (the death signal follows the thread that spawned the child: spawns happen in
        # start() and in the watcher thread, which both live as long as the agent)
        self._preexec = _death_signal()
        self.process: subprocess.Popen[bytes] | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def command(self) -> list[str]:
        command = [sys.executable, "-m", "assistant.cli", "run", str(self.flow_file),
                   "--port", str(self.port), "--host", "127.0.0.1", "--quiet"]
        return [*command, "--allow-exec"] if self.allow_exec else command

    def _spawn(self) -> None:
        if not self.flow_file.exists():
            atomic_write(self.flow_file, b"[]\n", 0o600)
        handle: BinaryIO = open(self.log_file, "ab")  # noqa: SIM115 (the child keeps it)
        try:
            self.process = subprocess.Popen(
                self.command(), stdin=subprocess.DEVNULL, stdout=handle, stderr=handle,
                preexec_fn=self._preexec)
        finally:
            handle.close()

    def start(self) -> None:
        with self._lock:
            self._spawn()
        self._thread = threading.Thread(target=self._watch, name="plumb-agent-runtime",
                                        daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        delay = 0.5
        while not self._stop.is_set():
            process = self.process
            if process is None:
                return
            code = process.poll()
            if code is None:
                self._stop.wait(0.2)
                continue
            if self._stop.is_set():
                return
            self.restarts.append(time.monotonic())
            log.warning("the runtime exited (code %s); restarting it in %.1f s", code, delay)
            self._stop.wait(delay)
            delay = min(delay * 2, 5.0) if self.crash_loop() else 0.5
            if self._stop.is_set():
                return
            with self._lock:
                self._spawn()

    def exit_code(self) -> int | None:
        """The child's exit code while it is dead and not yet restarted, else None."""
        with self._lock:
            process = self.process
        return None if process is None else process.poll()

    def restarts_since(self, mark: float) -> int:
        return sum(1 for when in list(self.restarts) if when >= mark)

    def crash_loop(self) -> bool:
        return self.restarts_since(time.monotonic() - self.window) >= self.limit

    def forget_restarts(self) -> None:
        self.restarts.clear()

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            process = self.process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        if self._thread is not None:
            self._thread.join(timeout=5)


class PlumbTarget(Target):
    kind = "plumb"

    def __init__(self, url: str, token: str | None = None, *,
                 process: PlumbProcess | None = None, ready_timeout: float = 60.0) -> None:
        super().__init__(url, token)
        self.process = process
        self.ready_timeout = ready_timeout
        self._cursor = 0
        self._error_count = 0  # error logs since the deploy
        self._errors: deque[str] = deque(maxlen=20)  # the newest of them

    def start(self) -> None:
        if self.process is not None:
            self.process.start()
            self._wait_ready(self.ready_timeout)

    def close(self) -> None:
        if self.process is not None:
            self.process.stop()
        super().close()

    def version(self) -> str:
        return f"plumb {agent_version()}"

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._flows_started() is not None:
                return True
            time.sleep(0.2)
        return False

    def deploy(self, bundle: dict[str, Any] | None) -> str | None:
        flow = build_flow(bundle)
        if self.process is not None:
            # what the runtime starts with after a restart: written first, so a crash
            # between the two leaves the file naming the flow being deployed
            atomic_write(self.process.flow_file, json.dumps(flow).encode(), 0o600)
            self._wait_ready(self.ready_timeout)
            self.process.forget_restarts()
        self._cursor, self._error_count = 0, 0
        self._errors.clear()
        return self._post_flow(flow)

    def crash_loop(self) -> bool:
        return self.process is not None and self.process.crash_loop()

    def health(self) -> Health:
        started = self._flows_started()
        crashes, problems = 0, []
        if self.process is not None and self.deployed_at is not None:
            crashes = self.process.restarts_since(self.deployed_at)
            code = self.process.exit_code()
            if code is not None:  # dead, not yet restarted (so not yet counted)
                crashes += 1
                problems.append(f"the runtime process exited (code {code})")
            if crashes:
                problems.append(f"the runtime crashed {crashes} time(s) since the deploy")
        if started is None:
            return Health(False, self._error_count, crashes, None,
                          [*problems, f"the runtime at {self.url} does not answer"])
        try:
            events = self._get_json(f"/plumb/events?since={self._cursor}")
            following = int(events.get("next", 0))
            if following < self._cursor:  # another runtime instance (restarted): read all
                self._cursor = 0
                events = self._get_json("/plumb/events?since=0")
                following = int(events.get("next", 0))
            statuses = self._get_json("/plumb/status")
        except (httpx.HTTPError, ValueError, AttributeError, TypeError) as exc:
            return Health(False, self._error_count, crashes, None,
                          [*problems, f"cannot read the runtime's events: {exc}"])
        for event in events.get("events", []):
            if event.get("kind") == "log" and event.get("level") == "error":
                self._error_count += 1
                self._errors.append(f"[{event.get('type')}:{event.get('id')}] "
                                    f"{str(event.get('text', ''))[:300]}")
        self._cursor = following
        red = {node: status.get("text", "") for node, status in statuses.items()
               if isinstance(status, dict) and status.get("fill") == "red"}
        problems += list(self._errors)[-5:] + [f"node {n} status: {t}"
                                               for n, t in red.items()]
        return Health(started, self._error_count + len(red), crashes,
                      self.running_since if started else None, problems)


# -- Node-RED -------------------------------------------------------------------------------

def tarball_name(module: str, version: str) -> str:
    """The file name `npm pack` gives a package: @scope/name 1.0.0 -> scope-name-1.0.0.tgz."""
    return f"{module.lstrip('@').replace('/', '-')}-{version}.tgz"


class NodeRedTarget(Target):
    kind = "node-red"

    def __init__(self, url: str, token: str | None = None, *, modules_dir: Path | None = None,
                 user_dir: Path | None = None, restart_command: str | None = None,
                 watch_comms: bool = True, settle: float = 0.5) -> None:
        super().__init__(url, token)
        self.modules_dir = modules_dir
        self.user_dir = user_dir
        self.restart_command = restart_command
        self.comms = CommsWatcher(self.url, token) if watch_comms else None
        self.settle = settle
        self._mark = 0.0

    def start(self) -> None:
        if self.comms is not None:
            self.comms.start()
            self.comms.wait_connected(3.0)

    def close(self) -> None:
        if self.comms is not None:
            self.comms.stop()
        super().close()

    def version(self) -> str:
        try:
            settings = self._get_json("/settings")
        except (httpx.HTTPError, ValueError):
            return "node-red (unreachable)"
        return f"node-red {settings.get('version', '?')}" if isinstance(settings, dict) \
            else "node-red ?"

    def _installed(self) -> tuple[set[str], dict[str, str]]:
        try:
            sets = self._get_json("/nodes")
        except (httpx.HTTPError, ValueError) as exc:
            raise RuntimeUnreachable(f"cannot list Node-RED's node types: {exc}") from exc
        types: set[str] = set()
        modules: dict[str, str] = {}
        for entry in sets if isinstance(sets, list) else []:
            if not isinstance(entry, dict):
                continue
            modules[str(entry.get("module"))] = str(entry.get("version", ""))
            if entry.get("enabled", True):
                types.update(str(t) for t in entry.get("types", []))
        return types, modules

    def install(self, bundle: dict[str, Any] | None) -> None:
        wanted: dict[str, str] = dict((bundle or {}).get("modules") or {})
        if not wanted:
            return
        _, installed = self._installed()
        missing = {m: v for m, v in wanted.items() if installed.get(m) != v}
        if not missing:
            return
        if self.modules_dir is None or self.user_dir is None:
            raise DeployFailed("the snapshot needs node modules Node-RED does not have ("
                               + ", ".join(f"{m}@{v}" for m, v in sorted(missing.items()))
                               + "); give --modules-dir and --node-red-dir to install them")
        files = []
        for module, version in sorted(missing.items()):
            path = self.modules_dir / tarball_name(module, version)
            if not path.is_file():
                raise DeployFailed(f"{module}@{version} is not in {self.modules_dir} "
                                   f"(expected {path.name})")
            files.append(str(path))
        self.install_tarballs(files)
        if self.restart_command:
            self._restart()
        _, installed = self._installed()
        still = [m for m, v in missing.items() if installed.get(m) != v]
        if still:
            raise DeployFailed(f"installed {', '.join(sorted(still))} into {self.user_dir}; "
                               "Node-RED loads new modules only when it starts: give "
                               "--restart-command")

    def install_tarballs(self, files: list[str]) -> None:
        assert self.user_dir is not None
        package = self.user_dir / "package.json"
        if not package.exists():
            atomic_write(package, json.dumps({"name": "node-red-project", "private": True,
                                              "dependencies": {}}).encode())
        command = ["npm", "install", "--offline", "--no-audit", "--no-fund",
                   "--loglevel=error", "--save", *files]
        log.info("installing %s", " ".join(Path(f).name for f in files))
        try:
            result = subprocess.run(command, cwd=self.user_dir, capture_output=True,
                                    text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise DeployFailed(f"npm install failed: {exc}") from exc
        if result.returncode != 0:
            tail = (result.stderr or result.stdout).strip()[-600:]
            raise DeployFailed(f"npm install --offline failed: {tail}")

    def _restart(self) -> None:
        assert self.restart_command is not None
        log.info("restarting Node-RED: %s", self.restart_command)
        result = subprocess.run(shlex.split(self.restart_command), capture_output=True,
                                text=True, timeout=300)
        if result.returncode != 0:
            raise DeployFailed(f"the restart command failed ({result.returncode}): "
                               f"{result.stderr.strip()[-300:]}")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self._flows_started() is not None:
                return
            time.sleep(0.5)
        raise RuntimeUnreachable("Node-RED did not come back after the restart")

    def deploy(self, bundle: dict[str, Any] | None) -> str | None:
        flow = build_flow(bundle)
        types, _ = self._installed()
        missing = sorted(flow_types(flow) - types)
        if missing:  # Node-RED would take it and then stop, waiting for the types
            raise DeployFailed("Node-RED does not have the node types "
                               + ", ".join(missing) + "; the old flow keeps running")
        if self.comms is not None:
            self.comms.forget_runtime_state()
        self._mark = time.monotonic()
        rev = self._post_flow(flow)
        time.sleep(self.settle)  # statuses and start errors arrive just after the answer
        return rev

    def health(self) -> Health:
        started = self._flows_started()
        if started is None:
            return Health(False, 0, 0, None, [f"Node-RED at {self.url} does not answer"])
        problems: list[str] = []
        errors: list[str] = []
        red: dict[str, str] = {}
        if self.comms is not None:
            problem = self.comms.runtime_problem()
            if problem:
                started = False
                problems.append(problem)
            errors = self.comms.errors_since(self._mark)
            red = self.comms.error_statuses()
        problems += errors[-5:] + [f"node {n} status: {t}" for n, t in red.items()]
        return Health(started, len(errors) + len(red), 0,
                      self.running_since if started else None, problems)

