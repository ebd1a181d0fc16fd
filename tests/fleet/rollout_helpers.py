"""A small fleet to drive rollouts with: groups, snapshots and devices made in the
database, devices simulated by calling the check-in endpoint with their credential, the
controller driven by `tick` at times the test chooses (the API's clock follows them)."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from runtime.fleet import devices, rollouts
from runtime.fleet.audit import SYSTEM
from runtime.fleet.controller import TickReport, tick
from runtime.fleet.db import session_factory, transaction, utcnow
from runtime.fleet.models import AuditEvent, DeviceDeployment, Snapshot
from runtime.fleet.settings import FleetSettings

GOOD = {"flows_started": True, "node_errors": 0, "crashes": 0}


def snapshot_id(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


@dataclass
class SimDevice:
    id: str
    secret: str
    running: str | None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret}"}


@dataclass
class Fleet:
    app: FastAPI
    client: TestClient
    db: Engine
    settings: FleetSettings
    now: dt.datetime = field(default_factory=lambda: utcnow().replace(microsecond=0))

    def __post_init__(self) -> None:
        self.app.dependency_overrides[rollouts.clock] = lambda: self.now

    # -- time -------------------------------------------------------------------------
    def advance(self, seconds: float) -> dt.datetime:
        self.now += dt.timedelta(seconds=seconds)
        return self.now

    def tick(self, after: float = 0) -> TickReport:
        self.advance(after)
        return tick(session_factory(self.db), self.settings, self.now)

    # -- things -----------------------------------------------------------------------
    def group(self, name: str) -> int:
        with transaction(session_factory(self.db)) as session:
            return devices.create_group(session, SYSTEM, name).id

    def snapshot(self, name: str) -> str:
        sid = snapshot_id(name)
        with transaction(session_factory(self.db)) as session:
            session.add(Snapshot(id=sid, name=name, flows=[], signature="00"))
        return sid

    def devices(self, group_id: int, count: int, running: str | None = None,
                prefix: str = "dev") -> list[SimDevice]:
        """`count` registered devices in the group, running `running`, in rollout order
        (by id)."""
        made = []
        with transaction(session_factory(self.db)) as session:
            _token, secret = devices.create_provisioning_token(
                session, SYSTEM, name=f"{prefix}-token", group_id=group_id, uses=None)
            for i in range(count):
                device, credential = devices.register_device(
                    session, secret, f"{prefix}-{i}", [], "0.1", "plumb 0.1")
                device.running_snapshot_id = running
                made.append(SimDevice(device.id, credential, running))
        return sorted(made, key=lambda d: d.id)

    # -- the device side --------------------------------------------------------------
    def check_in(self, device: SimDevice, running: str | bool | None = True,
                 after: float = 0, expect: int = 200, **extra: Any) -> dict[str, Any]:
        """One check-in reporting `running` (True: what the device runs now) with good
        health unless `health` says otherwise."""
        self.advance(after)
        if running is not True:
            device.running = running if isinstance(running, str) else None
        body = {"running_snapshot": device.running, "state": "idle",
                "health": {**GOOD, "running_since": None}, "agent_version": "0.1",
                "runtime_version": "plumb 0.1", **extra}
        response = self.client.post("/api/v1/agent/check-in", json=body,
                                    headers=device.headers)
        assert response.status_code == expect, response.text
        answer: dict[str, Any] = response.json()
        return answer

    # -- the people side --------------------------------------------------------------
    def start(self, headers: dict[str, str], expect: int = 201, **body: Any
              ) -> dict[str, Any]:
        response = self.client.post("/api/v1/rollouts", json=body, headers=headers)
        assert response.status_code == expect, response.text
        result: dict[str, Any] = response.json()
        return result

    def rollout(self, rollout_id: int, headers: dict[str, str], **params: Any
                ) -> dict[str, Any]:
        response = self.client.get(f"/api/v1/rollouts/{rollout_id}", headers=headers,
                                   params=params)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def states(self, rollout_id: int) -> dict[str | None, str]:
        """Device id -> deployment state."""
        with session_factory(self.db)() as session:
            return {d.device_id: d.state.value for d in session.scalars(
                select(DeviceDeployment).where(DeviceDeployment.rollout_id == rollout_id))}

    def events(self, action: str) -> list[AuditEvent]:
        with session_factory(self.db)() as session:
            return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                                        .order_by(AuditEvent.seq)))


def prepare(fleet: Fleet, count: int) -> tuple[int, str, str, list[SimDevice]]:
    """A group of `count` devices running `old`; a snapshot `new` to roll out."""
    group = fleet.group("line-1")
    old, new = fleet.snapshot("old"), fleet.snapshot("new")
    return group, old, new, fleet.devices(group, count, running=old)
