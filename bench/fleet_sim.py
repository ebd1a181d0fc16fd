"""The fleet under load: many simulated devices against a real fleet server.

    python -m bench.fleet_sim [--devices 1000] [--database URL] [--scenarios ...]
                              [--load-devices 1000,10000] [--json out.json]

The server is the real one (`runtime.fleet.app` under uvicorn, its rollout controller
ticking) in a process of its own on a loopback port, with a real Mosquitto beside it for
"update now" notices. The devices are simulated in this process: each one registers with a
provisioning token, checks in over HTTP as the agent does (docs/fleet.md), fetches and
verifies the signed bundle of its target, "applies" it, and reports; one paho client
hears every device's update topic and wakes that device. A device can be told to fail a
snapshot (it reports the failure and stays on its snapshot, as the agent rolls back by
itself), or to go offline for a while.

Scenarios:
* rollout: a 4-wave rollout (1 device, 10%, 50%, 100%) with a health gate: time to full.
* bad: a snapshot that fails on 30% of the devices it reaches: the abort threshold stops it
  and the devices already updated go back: the time from the first failure report to every
  affected device running the old snapshot again.
* restart: the server is killed (SIGKILL) in the middle of a rollout and started again on
  the same database: the rollout must finish, and the audit chain must verify.
* offline: 5% of the devices stop checking in during a rollout and come back.
* load: N devices checking in every 60 s (with jitter) and no rollout: the server's CPU and
  resident memory.

Nothing here asserts a time; tests/fleet/test_fleet_sim.py runs the scenarios small.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
GOOD_HEALTH = {"flows_started": True, "node_errors": 0, "crashes": 0}

SERVER = """
import faulthandler, signal, sys, uvicorn
faulthandler.register(signal.SIGUSR1)  # a stack dump of every thread, for a stuck server
from runtime.fleet.app import create_fleet_app
uvicorn.run(create_fleet_app(), host="127.0.0.1", port=int(sys.argv[1]),
            log_level="warning", access_log=False)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def flow(tag: str) -> list[dict[str, Any]]:
    return [{"id": "tab1", "type": "tab", "label": tag},
            {"id": "inj", "type": "inject", "z": "tab1", "payload": tag, "payloadType": "str",
             "repeat": "", "once": False, "topic": "", "wires": [["dbg"]]},
            {"id": "dbg", "type": "debug", "z": "tab1", "active": True, "tosidebar": True,
             "complete": "payload", "wires": []}]


# --------------------------------------------------------------------------- processes


class Mosquitto:
    def __init__(self) -> None:
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="plumb-sim-mqtt-"))
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Mosquitto:
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        conf = self.folder / "mosquitto.conf"
        conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
                        "persistence false\nmax_queued_messages 100000\n")
        self.proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        _wait_port(self.port, "mosquitto")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        shutil.rmtree(self.folder, ignore_errors=True)


def _wait_port(port: int, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not start")


class FleetServer:
    """The fleet server in its own process; kill() and start() again keep its database."""

    def __init__(self, data_dir: Path, database_url: str, broker: str,
                 active_check_in: float, tick: float, check_in: float) -> None:
        self.port = free_port()
        self.env = {**os.environ, "PLUMB_FLEET_DATA_DIR": str(data_dir),
                    "PLUMB_FLEET_DATABASE_URL": database_url,
                    "PLUMB_FLEET_MQTT_BROKER": broker,
                    "PLUMB_FLEET_ACTIVE_CHECK_IN_SECONDS": str(active_check_in),
                    "PLUMB_FLEET_CHECK_IN_SECONDS": str(check_in),
                    "PLUMB_FLEET_TICK_SECONDS": str(tick)}
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FleetServer:
        self.proc = subprocess.Popen([sys.executable, "-c", SERVER, str(self.port)], cwd=ROOT,
                                     env=self.env)
        _wait_port(self.port, "the fleet server", timeout=60)
        return self

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def cpu_seconds(self) -> float:
        assert self.proc is not None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mb(self) -> float:
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
        return 0.0


# --------------------------------------------------------------------------- devices


@dataclass
class SimDevice:
    name: str
    id: str = ""
    secret: str = ""
    running: str | None = None
    fails: set[str] = field(default_factory=set)  # snapshots it cannot run
    offline_until: float = 0.0
    last_result: dict[str, Any] | None = None
    failed_at: float | None = None  # when it first failed to run a target
    interval: float = 60.0
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    changes: list[tuple[float, str | None]] = field(default_factory=list)  # (time, running)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret}"}


class Fleet:
    """The simulated devices, the admin's API client and the MQTT listener."""

    def __init__(self, server: FleetServer, broker_port: int, admin_token: str) -> None:
        self.server = server
        self.broker_port = broker_port
        self.admin = httpx.Client(base_url=server.url + "/api/v1",
                                  headers={"Authorization": f"Bearer {admin_token}"},
                                  timeout=60)
        self.devices: dict[str, SimDevice] = {}
        self.errors = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._mqtt: Any = None
        self.public_key: str = ""

    # -- admin ---------------------------------------------------------------------------
    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.admin.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text}")
        return response.json() if response.content else None

    def snapshot(self, tag: str) -> str:
        return str(self.call("POST", "/snapshots", json={"name": tag, "flows": flow(tag)})["id"])

    def rollout(self, snapshot: str, group: int, **params: Any) -> int:
        body = {"snapshot_id": snapshot, "group_id": group, **params}
        return int(self.call("POST", "/rollouts", json=body)["id"])

    def rollout_state(self, rollout_id: int) -> dict[str, Any]:
        return dict(self.call("GET", f"/rollouts/{rollout_id}", params={"limit": 1}))

    # -- devices -------------------------------------------------------------------------
    async def register(self, http: httpx.AsyncClient, token: str, count: int,
                       concurrency: int = 16) -> None:
        queue = [SimDevice(name=f"sim-{i:05d}") for i in range(count)]
        gate = asyncio.Semaphore(concurrency)

        async def one(device: SimDevice) -> None:
            async with gate:
                response = await http.post("/agent/register", json={
                    "name": device.name, "tags": ["sim"], "agent_version": "sim",
                    "runtime_version": "sim"}, headers={"Authorization": f"Bearer {token}"})
                response.raise_for_status()
                body = response.json()
                device.id, device.secret = body["device_id"], body["credential"]
                self.public_key = body["public_key"]
                self.devices[device.id] = device

        await asyncio.gather(*(one(d) for d in queue))

    def listen_mqtt(self, loop: asyncio.AbstractEventLoop) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self._loop = loop
        ready = threading.Event()
        client = mqtt.Client(CallbackAPIVersion.VERSION2)

        def on_connect(c: Any, _u: Any, _f: Any, _r: Any, _p: Any) -> None:
            c.subscribe("plumb/devices/+/update", qos=1)

        def on_message(_c: Any, _u: Any, message: Any) -> None:
            device = self.devices.get(message.topic.split("/")[2])
            if device is not None:
                loop.call_soon_threadsafe(device.wake.set)

        client.on_connect = on_connect
        client.on_message = on_message
        client.on_subscribe = lambda *_a: ready.set()
        client.connect("127.0.0.1", self.broker_port)
        client.loop_start()
        ready.wait(10)
        self._mqtt = client

    def stop_mqtt(self) -> None:
        if self._mqtt is not None:
            self._mqtt.loop_stop()
            self._mqtt.disconnect()

    async def run_device(self, http: httpx.AsyncClient, device: SimDevice,
                         stop: asyncio.Event) -> None:
        from runtime.fleet.bundle import verify_bundle

        # Spread the first check-ins over one interval, as jittered agents do.
        await _sleep_or(device.wake, random.uniform(0, min(device.interval, 5.0)), stop)
        while not stop.is_set():
            if time.monotonic() < device.offline_until:
                await _sleep_or(None, device.offline_until - time.monotonic(), stop)
                continue
            body: dict[str, Any] = {
                "running_snapshot": device.running, "state": "idle",
                "health": {**GOOD_HEALTH, "running_since": utc_now()},
                "agent_version": "sim", "runtime_version": "sim"}
            if device.last_result is not None:
                body["last_result"] = device.last_result
            try:
                response = await http.post("/agent/check-in", json=body,
                                           headers=device.headers)
                response.raise_for_status()
                answer = response.json()
            except httpx.HTTPError:
                self.errors += 1
                await _sleep_or(device.wake, random.uniform(0.5, 1.5), stop)
                continue
            device.interval = float(answer["check_in_seconds"])
            target = (answer.get("target") or {}).get("snapshot")
            if target and target != device.running:
                try:
                    fetched = await http.get(answer["target"]["url"].removeprefix("/api/v1"),
                                             headers=device.headers)
                    fetched.raise_for_status()
                    verify_bundle(fetched.json(), self.public_key)
                except httpx.HTTPError:
                    self.errors += 1
                    continue
                if target in device.fails:
                    device.failed_at = device.failed_at or time.monotonic()
                    device.last_result = {"snapshot": target, "ok": False, "at": utc_now(),
                                          "reason": "simulated: flows did not start"}
                else:
                    device.running = target
                    device.changes.append((time.monotonic(), target))
                    device.last_result = {"snapshot": target, "ok": True, "at": utc_now()}
                continue  # report at once, as the agent does
            await _sleep_or(device.wake, device.interval * random.uniform(0.9, 1.1), stop)


async def _sleep_or(event: asyncio.Event | None, seconds: float, stop: asyncio.Event) -> None:
    waits = [asyncio.ensure_future(stop.wait())]
    if event is not None:
        waits.append(asyncio.ensure_future(event.wait()))
    _done, pending = await asyncio.wait(waits, timeout=max(0.0, seconds),
                                       return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    if event is not None:
        event.clear()


# --------------------------------------------------------------------------- scenarios


WAVES = [{"devices": 1}, {"percent": 10}, {"percent": 50}, {"percent": 100}]


async def _until(check: Any, what: str, timeout: float, every: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await asyncio.to_thread(check)
        if value:
            return value
        await asyncio.sleep(every)
    raise RuntimeError(f"timed out after {timeout:g} s waiting for {what}")


def _finished(fleet: Fleet, rollout_id: int) -> dict[str, Any] | None:
    state = fleet.rollout_state(rollout_id)
    return state if state.get("finished_at") else None


async def scenario_rollout(fleet: Fleet, group: int, soak: float,
                           timeout: float) -> dict[str, Any]:
    snapshot = await asyncio.to_thread(fleet.snapshot, f"good-{time.time()}")
    started = time.monotonic()
    rollout_id = await asyncio.to_thread(fleet.rollout, snapshot, group, waves=WAVES,
                                         soak_seconds=soak, deploy_timeout_seconds=120,
                                         abort_percent=5, abort_min_devices=5)
    final = await _until(lambda: _finished(fleet, rollout_id), "the rollout to finish", timeout)
    return {"rollout": rollout_id, "status": final["status"], "counts": final["counts"],
            "seconds": round(time.monotonic() - started, 2), "snapshot": snapshot}


async def scenario_bad(fleet: Fleet, group: int, good: str, soak: float,
                       timeout: float) -> dict[str, Any]:
    bad = await asyncio.to_thread(fleet.snapshot, f"bad-{time.time()}")
    rng = random.Random(7)
    for device in fleet.devices.values():
        device.failed_at = None
        if rng.random() < 0.3:
            device.fails.add(bad)
    first_canaries = max(10, len(fleet.devices) // 100)
    rollout_id = await asyncio.to_thread(
        fleet.rollout, bad, group, waves=[{"devices": first_canaries}, {"percent": 10},
                                          {"percent": 50}, {"percent": 100}],
        soak_seconds=soak, deploy_timeout_seconds=120, abort_percent=20, abort_min_devices=5)
    final = await _until(lambda: _finished(fleet, rollout_id), "the bad rollout to stop",
                         timeout)
    affected = [d for d in fleet.devices.values() if any(s == bad for _, s in d.changes)]
    failures = [d for d in fleet.devices.values() if d.last_result
                and d.last_result.get("snapshot") == bad and not d.last_result.get("ok")]
    back = await _until(lambda: all(d.running == good for d in affected) or None,
                        "the updated devices to go back", timeout)
    first_failure = min((d.failed_at for d in failures if d.failed_at), default=None)
    last_back = max((t for d in affected for t, s in d.changes if s == good), default=None)
    return {"rollout": rollout_id, "status": final["status"], "counts": final["counts"],
            "updated_then_rolled_back": len(affected), "failed": len(failures),
            "all_back": bool(back),
            "failure_to_all_back_s": round(last_back - first_failure, 2)
            if affected and first_failure and last_back else 0.0}


async def scenario_restart(fleet: Fleet, group: int, soak: float,
                           timeout: float) -> dict[str, Any]:
    snapshot = await asyncio.to_thread(fleet.snapshot, f"restart-{time.time()}")
    rollout_id = await asyncio.to_thread(fleet.rollout, snapshot, group, waves=WAVES,
                                         soak_seconds=soak, deploy_timeout_seconds=120,
                                         abort_percent=50, abort_min_devices=10)
    await _until(lambda: fleet.rollout_state(rollout_id)["opened_waves"] >= 3,
                 "the third wave", timeout)
    await asyncio.to_thread(fleet.server.kill)
    down = time.monotonic()
    await asyncio.sleep(2.0)
    await asyncio.to_thread(fleet.server.start)
    restarted = time.monotonic() - down
    final = await _until(lambda: _finished(fleet, rollout_id), "the rollout after a restart",
                         timeout)
    verify = await asyncio.to_thread(fleet.call, "GET", "/audit/verify")
    return {"rollout": rollout_id, "status": final["status"], "counts": final["counts"],
            "down_s": round(restarted, 2), "audit_ok": verify["ok"],
            "audit_rows": verify["rows"]}


async def scenario_offline(fleet: Fleet, group: int, soak: float,
                           timeout: float) -> dict[str, Any]:
    snapshot = await asyncio.to_thread(fleet.snapshot, f"offline-{time.time()}")
    devices = sorted(fleet.devices.values(), key=lambda d: d.id)
    gone = devices[-max(1, len(devices) // 20):]  # in the last wave
    for device in gone:
        device.offline_until = time.monotonic() + 15.0
    rollout_id = await asyncio.to_thread(fleet.rollout, snapshot, group, waves=WAVES,
                                         soak_seconds=soak, deploy_timeout_seconds=120,
                                         abort_percent=50, abort_min_devices=10)
    final = await _until(lambda: _finished(fleet, rollout_id), "the rollout with offline "
                         "devices", timeout)
    return {"rollout": rollout_id, "status": final["status"], "counts": final["counts"],
            "offline_devices": len(gone),
            "offline_now_running_it": sum(1 for d in gone if d.running == snapshot)}


async def scenario_load(fleet: Fleet, seconds: float) -> dict[str, Any]:
    server = fleet.server
    errors = fleet.errors
    cpu0, t0 = server.cpu_seconds(), time.monotonic()
    peak = server.rss_mb()
    while time.monotonic() - t0 < seconds:
        await asyncio.sleep(1.0)
        peak = max(peak, server.rss_mb())
    cpu = server.cpu_seconds() - cpu0
    wall = time.monotonic() - t0
    return {"devices": len(fleet.devices), "seconds": round(wall, 1),
            "check_ins_per_s": round(len(fleet.devices) / 60.0, 1),
            "server_cpu_percent": round(100 * cpu / wall, 1), "server_rss_mb": peak,
            "errors": fleet.errors - errors}


# --------------------------------------------------------------------------- driver


@dataclass
class Options:
    devices: int = 1000
    database_url: str = ""
    scenarios: tuple[str, ...] = ("rollout", "bad", "restart", "offline")
    soak: float = 5.0
    active_check_in: float = 2.0
    tick: float = 0.5
    timeout: float = 600.0
    load_seconds: float = 120.0
    check_in: float = 60.0


async def simulate(options: Options, workdir: Path) -> dict[str, Any]:
    """Run the scenarios on one fresh server and fleet; the results by scenario."""
    from runtime.fleet import accounts
    from runtime.fleet.audit import SYSTEM
    from runtime.fleet.db import make_engine, migrate, session_factory, transaction
    from runtime.fleet.models import Role

    database = options.database_url or f"sqlite:///{workdir / 'fleet.db'}"
    engine = make_engine(database)
    migrate(engine)
    with transaction(session_factory(engine)) as session:
        user = accounts.create_user(session, SYSTEM, f"sim-{os.getpid()}-{time.time_ns()}",
                                    "simulation password", Role.owner)
        _token, admin_token = accounts.issue_token(session, SYSTEM, user, "sim")
    engine.dispose()
    broker = Mosquitto().start()
    server = FleetServer(workdir / "data", database, f"127.0.0.1:{broker.port}",
                         options.active_check_in, options.tick, options.check_in).start()
    fleet = Fleet(server, broker.port, admin_token)
    results: dict[str, Any] = {"devices": options.devices, "database": database.split(":")[0]}
    stop = asyncio.Event()
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    try:
        group = fleet.call("POST", "/groups", json={"name": f"sim-{time.time_ns()}"})["id"]
        token = fleet.call("POST", "/provisioning-tokens", json={
            "name": "sim", "group_id": group, "uses": None})["secret"]
        async with httpx.AsyncClient(base_url=server.url + "/api/v1", timeout=60,
                                     limits=limits) as http:
            started = time.monotonic()
            await fleet.register(http, token, options.devices)
            results["register_s"] = round(time.monotonic() - started, 2)
            fleet.listen_mqtt(asyncio.get_running_loop())
            for device in fleet.devices.values():
                device.interval = options.check_in
            tasks = [asyncio.create_task(fleet.run_device(http, d, stop))
                     for d in fleet.devices.values()]
            good = None
            for name in options.scenarios:
                print(f"[fleet-sim] {name} ...", file=sys.stderr)
                if name == "rollout":
                    results[name] = await scenario_rollout(fleet, group, options.soak,
                                                           options.timeout)
                    good = results[name]["snapshot"]
                elif name == "bad":
                    if good is None:
                        good = (await scenario_rollout(fleet, group, options.soak,
                                                       options.timeout))["snapshot"]
                    results[name] = await scenario_bad(fleet, group, good, options.soak,
                                                       options.timeout)
                elif name == "restart":
                    results[name] = await scenario_restart(fleet, group, options.soak,
                                                           options.timeout)
                elif name == "offline":
                    results[name] = await scenario_offline(fleet, group, options.soak,
                                                           options.timeout)
                elif name == "load":
                    results[name] = await scenario_load(fleet, options.load_seconds)
                else:
                    raise ValueError(f"unknown scenario {name!r}")
            results["check_in_errors"] = fleet.errors
            stop.set()
            await asyncio.gather(*tasks)
    finally:
        stop.set()
        fleet.stop_mqtt()
        fleet.admin.close()
        server.stop()
        broker.stop()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--devices", type=int, default=1000,
                        help="Simulated devices for the rollout scenarios.")
    parser.add_argument("--database", default="",
                        help="SQLAlchemy URL (default: a fresh SQLite file).")
    parser.add_argument("--scenarios", default="rollout,bad,restart,offline",
                        help="Comma-separated: rollout, bad, restart, offline.")
    parser.add_argument("--soak", type=float, default=5.0,
                        help="Health-gate soak per device, seconds.")
    parser.add_argument("--load-devices", default="1000,10000",
                        help="Fleet sizes for the load figure (devices checking in every "
                             "60 s); empty to skip.")
    parser.add_argument("--load-seconds", type=float, default=120.0,
                        help="How long each load figure is measured.")
    parser.add_argument("--json", dest="json_out", help="Also write the results here.")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="plumb-fleet-sim-") as folder:
        options = Options(devices=args.devices, database_url=args.database,
                          scenarios=tuple(s for s in args.scenarios.split(",") if s),
                          soak=args.soak, load_seconds=args.load_seconds)
        if options.scenarios:
            results["scenarios"] = asyncio.run(simulate(options, Path(folder) / "main"))
        results["load"] = []
        for size in (int(s) for s in args.load_devices.split(",") if s.strip()):
            print(f"[fleet-sim] load with {size} devices ...", file=sys.stderr)
            load = Options(devices=size, database_url=args.database, scenarios=("load",),
                           load_seconds=args.load_seconds)
            outcome = asyncio.run(simulate(load, Path(folder) / f"load-{size}"))
            results["load"].append({**outcome["load"], "register_s": outcome["register_s"]})
    print(json.dumps(results, indent=2))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
