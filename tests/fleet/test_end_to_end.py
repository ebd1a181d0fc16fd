"""The whole fleet for real: the fleet server (uvicorn, its rollout controller ticking) on
each database, two devices each made of a real agent and a real Plumb runtime (`ask run`),
driven only through the API. A good snapshot rolls out in waves and passes the health gate;
a bad one fails on the canary, stops, and every device is back on the good one; the audit
log answers what ran where, and verifies; a decommissioned device is refused at once."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from runtime.agent.agent import Agent, AgentConfig
from runtime.agent.client import ServerRefused
from runtime.agent.state import AgentState
from runtime.agent.targets import PlumbTarget
from runtime.fleet.models import Role
from runtime.fleet.settings import FleetSettings
from tests.agent.conftest import PlumbRuntime, good_flow, throwing_flow
from tests.fleet.conftest import make_user
from tests.fleet.live import Server, finished, until


@pytest.fixture
def server(tmp_path: Path, db: Engine) -> Iterator[Server]:
    settings = FleetSettings(data_dir=tmp_path / "fleet", database_url=str(db.url),
                             check_in_seconds=0.5, active_check_in_seconds=0.2,
                             tick_seconds=0.1)
    with Server(settings, db) as running:
        yield running


@pytest.fixture
def runtimes(tmp_path: Path) -> Iterator[list[PlumbRuntime]]:
    made = [PlumbRuntime(tmp_path / f"rt{i}") for i in range(2)]
    for runtime in made:
        runtime.folder.mkdir()
        runtime.start()
    try:
        yield made
    finally:
        for runtime in made:
            runtime.stop()


def test_rollout_rollback_audit_and_decommission(server: Server, db: Engine,
                                                 runtimes: list[PlumbRuntime],
                                                 tmp_path: Path) -> None:
    owner = make_user(db, "olivia", Role.owner)
    api = httpx.Client(base_url=server.url + "/api/v1", headers=owner, timeout=30)
    group = api.post("/groups", json={"name": "line-3"}).json()
    token = api.post("/provisioning-tokens", json={"name": "line 3 boxes",
                                                   "group_id": group["id"], "uses": 2}).json()
    secret = token.get("secret") or token.get("token")
    assert isinstance(secret, str) and secret.startswith("plumb_p_"), token

    agents: list[Agent] = []
    threads: list[threading.Thread] = []
    for i, runtime in enumerate(runtimes):
        config = AgentConfig(server=server.url, provision_token=secret, name=f"box-{i}",
                             soak=0.6, max_backoff=1.0, check_in_seconds=0.5)
        agent = Agent(config, AgentState(tmp_path / f"agent{i}"), PlumbTarget(runtime.url))
        agents.append(agent)
        threads.append(threading.Thread(target=agent.run, daemon=True))
    try:
        for thread in threads:
            thread.start()
        devices = until(lambda: [d for d in api.get("/devices").json()["data"]
                                 if d["group_id"] == group["id"]] if len(
            api.get("/devices").json()["data"]) == 2 else None, "both devices to register")
        assert {d["name"] for d in devices} == {"box-0", "box-1"}

        # A good snapshot: canary first, then everyone; the health gate passes.
        good = api.post("/snapshots", json={"name": "good", "flows": good_flow("good")}).json()
        rollout = api.post("/rollouts", json={
            "snapshot_id": good["id"], "group_id": group["id"],
            "waves": [{"devices": 1}, {"percent": 100}], "soak_seconds": 0.5,
            "deploy_timeout_seconds": 30}).json()
        done = until(lambda: finished(api, rollout["id"]), "the good rollout to finish",
                     timeout=90)
        assert done["status"] == "succeeded", done
        for runtime in runtimes:
            runtime.wait_debug("good")
        between = dt.datetime.now(dt.UTC)

        # A bad one: its function node fails while starting. The canary's agent goes back
        # by itself; the rollout stops before the second device is touched.
        bad = api.post("/snapshots", json={"name": "bad",
                                           "flows": throwing_flow("bad")}).json()
        rollout = api.post("/rollouts", json={
            "snapshot_id": bad["id"], "group_id": group["id"],
            "waves": [{"devices": 1}, {"percent": 100}], "soak_seconds": 0.5,
            "abort_percent": 1, "abort_min_devices": 1, "deploy_timeout_seconds": 30}).json()
        failed = until(lambda: finished(api, rollout["id"]), "the bad rollout to stop",
                       timeout=90)
        assert failed["status"] == "failed", failed
        states = sorted(d["state"] for d in failed["devices"]["data"])
        assert states == ["aborted", "failed"], states
        for runtime in runtimes:
            runtime.wait_debug("good")  # both run the good snapshot again

        # The audit log: what ran on each device, and the chain holds.
        for device in devices:
            ran = api.get(f"/audit/devices/{device['id']}/snapshot-at",
                          params={"at": between.isoformat()}).json()
            assert ran["snapshot_id"] == good["id"]
        on_bad = api.get(f"/audit/snapshots/{bad['id']}/devices",
                         params={"start": between.isoformat(),
                                 "end": dt.datetime.now(dt.UTC).isoformat()}).json()
        assert len(on_bad) <= 1  # at most the canary, for its soak
        assert api.get("/audit/verify").json()["ok"]

        # Decommissioning: the device's next request is refused; it keeps running.
        gone = devices[0]["id"]
        assert api.post(f"/devices/{gone}/decommission").status_code == 200
        agent = next(a for a in agents if a.identity and a.identity.device_id == gone)
        with pytest.raises(ServerRefused):
            agent.check_in()
        assert api.get(f"/devices/{gone}").json()["status"] == "decommissioned"
    finally:
        for agent in agents:
            agent.stop()
        for thread in threads:
            thread.join(timeout=20)
        for agent in agents:
            agent.close()
        api.close()
