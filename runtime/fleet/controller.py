"""The rollout controller: every `tick_seconds` it moves each unfinished rollout on.

One tick, per rollout, in its own transaction: skip devices decommissioned or deleted;
fail devices that timed out (no report of the target within `deploy_timeout_seconds`, a
soaking device that stopped checking in for as long, a rollback never confirmed); trip
the abort threshold; open the next wave once the open ones are all healthy or finished;
complete the rollout when the last wave is through; mark it finished when no device is
left moving. Everything is in the database, so a restarted server goes on where the last
one stopped. `tick` is a plain function (tests drive it with their own `now`);
`RolloutController` runs it in a worker thread so the event loop never waits on the
database.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from runtime.fleet import audit, rollouts
from runtime.fleet.audit import SYSTEM
from runtime.fleet.db import transaction, utcnow
from runtime.fleet.models import (
    DeploymentState,
    Device,
    DeviceStatus,
    Rollout,
    RolloutControl,
)
from runtime.fleet.rollouts import MOVING, RolloutStatus, transition
from runtime.fleet.settings import FleetSettings

S = DeploymentState
log = logging.getLogger(__name__)
UPDATE_TOPIC = "plumb/devices/{}/update"


@dataclass
class TickReport:
    """What one tick did: rollouts looked at, devices told of a new target, rollouts
    left for the next tick (a concurrent change or an error)."""

    rollouts: int = 0
    notified: list[str] = field(default_factory=list)
    retry: list[int] = field(default_factory=list)


def publish_updates(broker: str, device_ids: Iterable[str]) -> None:
    """One short-lived MQTT connection publishing an empty message to each device's
    update topic. A broker that cannot be reached is logged, never fatal: devices still
    learn their target at their next check-in."""
    from paho.mqtt import publish

    host, _, port = broker.rpartition(":") if ":" in broker else (broker, "", "1883")
    messages: list[publish.MessageDict | publish.MessageTuple] = [
        (UPDATE_TOPIC.format(device_id), b"", 1, False) for device_id in device_ids]
    if not messages:
        return
    try:
        publish.multiple(messages, hostname=host or "localhost", port=int(port or 1883),
                         client_id="")
    except (OSError, ValueError) as exc:
        log.warning("could not publish %d update(s) to %s: %s", len(messages), broker, exc)


def _timeouts(session: Session, rollout: Rollout, now: dt.datetime) -> None:
    limit = dt.timedelta(seconds=rollout.deploy_timeout_seconds)
    for deployment in rollouts.deployments(session, rollout, MOVING - {S.pending}):
        device = session.get(Device, deployment.device_id) if deployment.device_id else None
        if device is None or device.status is not DeviceStatus.active:
            transition(session, deployment, S.skipped, "device decommissioned or deleted",
                       SYSTEM, now)
        elif deployment.state is S.deploying and now - deployment.state_since >= limit:
            transition(session, deployment, S.failed, "no report of the snapshot running "
                       f"within {rollout.deploy_timeout_seconds:g}s", SYSTEM, now)
            device.target_snapshot_id = deployment.previous_snapshot_id
        elif deployment.state is S.soaking and (
                device.last_seen_at is None or now - device.last_seen_at >= limit):
            transition(session, deployment, S.failed, "stopped checking in while soaking "
                       f"(silent for {rollout.deploy_timeout_seconds:g}s)", SYSTEM, now)
            device.target_snapshot_id = deployment.previous_snapshot_id
        elif deployment.state is S.rolling_back and now - deployment.state_since >= limit:
            transition(session, deployment, S.rollback_failed, "no report of the previous "
                       f"snapshot within {rollout.deploy_timeout_seconds:g}s", SYSTEM, now)


def _skip_gone(session: Session, rollout: Rollout, now: dt.datetime) -> None:
    """Pending devices decommissioned or deleted since the start never get their turn."""
    for deployment in rollouts.deployments(session, rollout, [S.pending]):
        device = session.get(Device, deployment.device_id) if deployment.device_id else None
        if device is None or device.status is not DeviceStatus.active:
            transition(session, deployment, S.skipped, "device decommissioned or deleted",
                       SYSTEM, now)


def _wave_done(counts: rollouts.Progress, wave: int) -> bool:
    return counts.wave_count(wave, MOVING) == 0


def open_wave(session: Session, rollout: Rollout, now: dt.datetime) -> list[str]:
    """Open the next wave: each of its devices is told to run the snapshot. Returns them."""
    wave = rollout.opened_waves
    told = []
    for deployment in rollouts.deployments(session, rollout, [S.pending], wave=wave):
        device = session.get(Device, deployment.device_id) if deployment.device_id else None
        if device is None or device.status is not DeviceStatus.active:
            transition(session, deployment, S.skipped, "device decommissioned or deleted",
                       SYSTEM, now)
            continue
        if device.running_snapshot_id != rollout.snapshot_id:
            deployment.previous_snapshot_id = device.running_snapshot_id
        device.target_snapshot_id = rollout.snapshot_id
        transition(session, deployment, S.deploying, f"wave {wave} opened", SYSTEM, now)
        told.append(device.id)
    rollout.opened_waves = wave + 1
    session.flush()
    audit.record(session, SYSTEM, "rollout.wave_opened", "rollout", rollout.id,
                 {"wave": wave, "devices": len(told),
                  "of": rollout.wave_sizes[wave] if wave < len(rollout.wave_sizes) else 0},
                 at=now)
    return told


def advance(session: Session, rollout: Rollout, now: dt.datetime) -> list[str]:
    """One controller step for one rollout. Returns the devices whose target changed."""
    status = rollouts.status_of(session, rollout)
    if status is RolloutStatus.awaiting_approval:
        return []
    told: list[str] = []
    _skip_gone(session, rollout, now)
    _timeouts(session, rollout, now)
    counts = rollouts.progress(session, rollout)
    if rollout.control is not RolloutControl.abort and not rollouts.sent_back(counts):
        reason = rollouts.threshold_reason(rollout, counts)
        if reason is not None:
            told += rollouts.fail(session, SYSTEM, rollout, reason, now)
        while reason is None and rollout.control is RolloutControl.run:
            opened = rollout.opened_waves
            if opened < len(rollout.wave_sizes):
                if opened and not _wave_done(counts, opened - 1):
                    break
                told += open_wave(session, rollout, now)
                counts = rollouts.progress(session, rollout)
                continue
            if all(_wave_done(counts, wave) for wave in range(opened)):
                rollouts.complete(session, SYSTEM, rollout, now)
            break
    if rollout.finished_at is None and not rollouts.progress(session, rollout).count(
            *rollouts.ACTIVE):
        rollout.finished_at = now
    session.flush()
    return told


def tick(sessions: sessionmaker[Session], settings: FleetSettings,
         now: dt.datetime | None = None) -> TickReport:
    """Move every unfinished rollout on, each in its own transaction (one that meets a
    concurrent change is simply taken again next tick), then tell the devices whose
    target changed over MQTT when a broker is set."""
    now = now or utcnow()
    report = TickReport()
    with sessions() as session:
        ids = list(session.scalars(select(Rollout.id).where(Rollout.finished_at.is_(None))
                                   .order_by(Rollout.id)))
    report.rollouts = len(ids)
    for rollout_id in ids:
        try:
            with transaction(sessions) as session:
                rollout = session.get(Rollout, rollout_id)
                if rollout is not None and rollout.finished_at is None:
                    report.notified += advance(session, rollout, now)
        except StaleDataError:
            log.debug("rollout %s changed under the controller; next tick", rollout_id)
            report.retry.append(rollout_id)
        except Exception:
            log.exception("the controller could not move rollout %s on", rollout_id)
            report.retry.append(rollout_id)
    if report.notified and settings.mqtt_broker:
        publish_updates(settings.mqtt_broker, report.notified)
    return report


class RolloutController:
    """Runs `tick` every `settings.tick_seconds` beside the API, in a worker thread."""

    def __init__(self, sessions: sessionmaker[Session], settings: FleetSettings) -> None:
        self.sessions = sessions
        self.settings = settings
        self._task: asyncio.Task[None] | None = None
        self._stopping: asyncio.Event | None = None

    def start(self) -> None:
        """Start ticking on the running event loop."""
        if self._task is not None:
            return
        self._stopping = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run(self._stopping),
                                                            name="rollout-controller")

    async def _run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                await asyncio.to_thread(tick, self.sessions, self.settings)
            except Exception:
                log.exception("rollout controller tick failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=self.settings.tick_seconds)

    async def stop(self) -> None:
        """Stop ticking (a tick under way finishes first)."""
        if self._task is None or self._stopping is None:
            return
        self._stopping.set()
        try:
            await self._task
        finally:
            self._task = self._stopping = None
