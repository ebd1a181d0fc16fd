"""A device's check-in: what it reports, what the server records (and audits), and the
health gate its report feeds (docs/fleet.md, "Health gate").

A deployment is `soaking` from the first check-in that reports the rollout's snapshot
running with good health, and `healthy` once such reports have gone on for
`soak_seconds`. Bad health while running the target, a `last_result` that says applying
the target failed, or leaving the target while soaking makes it `failed`, and the device
is told to go back to its previous snapshot. A check-in in the agent's `applying` state is
judged by its `last_result` only (its flows may be half started). A device rolling back is
`rolled_back` when it reports its previous snapshot running. Timeouts (a device that never
reports) are the controller's (`runtime.fleet.controller`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from runtime.fleet import audit
from runtime.fleet.audit import Actor
from runtime.fleet.models import (
    ActorKind,
    DeploymentState,
    Device,
    DeviceDeployment,
    Rollout,
)
from runtime.fleet.rollouts import ACTIVE, transition
from runtime.fleet.settings import FleetSettings

S = DeploymentState
SNAPSHOT_ID = r"^[0-9a-f]{64}$"
# A device in one of these is watched by the gate (or may be sent back soon): it is told
# to check in every `active_check_in_seconds`. A pending one has nothing to do yet.
WATCHED = frozenset({S.deploying, S.soaking, S.healthy, S.rolling_back})


class Health(BaseModel):
    flows_started: bool = False
    node_errors: int = Field(default=0, ge=0)
    crashes: int = Field(default=0, ge=0)
    running_since: str | None = Field(default=None, max_length=64)  # ISO 8601, as sent


class LastResult(BaseModel):
    """The outcome of the agent's last apply. Extra fields (a time, an attempt number)
    are kept: they tell two equal-looking results apart."""

    model_config = ConfigDict(extra="allow")
    snapshot: str = Field(pattern=SNAPSHOT_ID)
    ok: bool
    reason: str = Field(default="", max_length=2000)


class CheckIn(BaseModel):
    """What an agent reports (docs/fleet.md, device protocol)."""

    running_snapshot: str | None = Field(default=None, pattern=SNAPSHOT_ID)
    state: Literal["idle", "applying", "rolled_back"] = "idle"
    health: Health = Field(default_factory=Health)
    last_result: LastResult | None = None
    agent_version: str = Field(default="", max_length=50)
    runtime_version: str = Field(default="", max_length=100)


@dataclass(frozen=True)
class CheckInAnswer:
    target: str | None          # the snapshot to run, when not the one reported
    check_in_seconds: float


def health_problem(health: Health) -> str | None:
    """What is wrong with a report of the target running (None: nothing)."""
    problems = []
    if not health.flows_started:
        problems.append("flows not started")
    if health.node_errors:
        problems.append(f"{health.node_errors} node error(s)")
    if health.crashes:
        problems.append(f"{health.crashes} crash(es)")
    return ", ".join(problems) or None


def _fail(session: Session, deployment: DeviceDeployment, device: Device, reason: str,
          actor: Actor, now: dt.datetime) -> None:
    transition(session, deployment, S.failed, reason, actor, now)
    # Tell it to go back (the agent usually has, by itself).
    device.target_snapshot_id = deployment.previous_snapshot_id


def evaluate(session: Session, deployment: DeviceDeployment, rollout: Rollout,
             device: Device, report: CheckIn, actor: Actor, now: dt.datetime,
             result: LastResult | None = None) -> None:
    """Move one deployment on through the health gate from one check-in. `result` is the
    report's `last_result` when it is news (not the one the device sent last time)."""
    target = rollout.snapshot_id
    running = report.running_snapshot
    if deployment.state in (S.deploying, S.soaking):
        if result is not None and result.snapshot == target and not result.ok:
            _fail(session, deployment, device, "the agent could not run the snapshot: "
                  + (result.reason or "no reason given"), actor, now)
        elif report.state == "applying":
            return  # mid-apply: health says nothing yet
        elif running == target:
            problem = health_problem(report.health)
            if problem is not None:
                _fail(session, deployment, device, f"bad health: {problem}", actor, now)
                return
            if deployment.state is S.deploying:
                transition(session, deployment, S.soaking, "reports the snapshot running",
                           actor, now)
            soaked = (now - deployment.state_since).total_seconds()
            if soaked >= rollout.soak_seconds:
                transition(session, deployment, S.healthy,
                           f"healthy for {soaked:.0f}s (soak {rollout.soak_seconds:g}s)",
                           actor, now)
        elif deployment.state is S.soaking:
            _fail(session, deployment, device, "stopped running the snapshot while soaking "
                  f"(now runs {running[:12] if running else 'nothing'})", actor, now)
    elif deployment.state is S.rolling_back:
        previous = deployment.previous_snapshot_id
        if running is not None and running == previous:
            transition(session, deployment, S.rolled_back, "runs its previous snapshot again",
                       actor, now)
        elif result is not None and result.snapshot == previous and not result.ok:
            transition(session, deployment, S.rollback_failed,
                       "the agent could not go back: " + (result.reason or "no reason given"),
                       actor, now)


def check_in(session: Session, device: Device, report: CheckIn, settings: FleetSettings,
             now: dt.datetime, source: str = "") -> CheckInAnswer:
    """Record a device's check-in (audited `device.snapshot_changed` when its running
    snapshot changed), feed the health gate of the rollout it is in, and answer what it
    should run and when to come back. The caller commits."""
    actor = Actor(ActorKind.device, device.id, source)
    device.last_seen_at = now
    if report.agent_version:
        device.agent_version = report.agent_version
    if report.runtime_version:
        device.runtime_version = report.runtime_version
    health = report.health.model_dump(mode="json")
    health["agent_state"] = report.state
    result = None
    if report.last_result is not None:
        health["last_result"] = report.last_result.model_dump(mode="json")
        # An agent may repeat its last result on every check-in: only a new one counts
        # (a failure left over from an earlier rollout must not fail this one).
        if (device.health or {}).get("last_result") != health["last_result"]:
            result = report.last_result
    device.health = health
    if report.running_snapshot != device.running_snapshot_id:
        audit.record(session, actor, "device.snapshot_changed", "device", device.id,
                     {"from": device.running_snapshot_id, "to": report.running_snapshot},
                     at=now)
        device.running_snapshot_id = report.running_snapshot
    watched = False
    rows = session.execute(
        select(DeviceDeployment, Rollout).join(Rollout)
        .where(DeviceDeployment.device_id == device.id, DeviceDeployment.state.in_(ACTIVE))
        .order_by(DeviceDeployment.id)).all()
    for deployment, rollout in rows:
        evaluate(session, deployment, rollout, device, report, actor, now, result)
        watched = watched or deployment.state in WATCHED
    session.flush()
    target = device.target_snapshot_id
    return CheckInAnswer(
        target=target if target is not None and target != report.running_snapshot else None,
        check_in_seconds=(settings.active_check_in_seconds if watched
                          else settings.check_in_seconds))
