"""Rollouts: a snapshot taken to a group's devices in waves, each device through the
health gate, the whole stopped and rolled back when too many fail.

What a rollout *is* right now (running, paused, failed...) is never stored: `status_of`
derives it from its devices' deployment states, the approvals, and what people asked
(`Rollout.control`). Deployment states change in one place only, `transition`, which
refuses any change out of a terminal state and writes a `deployment.state_changed` audit
row for every change. The controller (`runtime.fleet.controller.tick`) moves rollouts on;
devices' check-ins feed the health gate (`runtime.fleet.health`).

Nothing here commits: the caller owns the transaction, so a change and its audit rows
land together or not at all.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from runtime.fleet import audit
from runtime.fleet.audit import Actor
from runtime.fleet.db import utcnow
from runtime.fleet.errors import FleetError, not_found
from runtime.fleet.models import (
    Approval,
    DeploymentState,
    Device,
    DeviceDeployment,
    DeviceGroup,
    DeviceStatus,
    Rollout,
    RolloutControl,
    Snapshot,
    Stage,
    User,
)
from runtime.fleet.models.rollouts import TERMINAL
from runtime.fleet.waves import RolloutParams, expand_waves, resolve, stored_waves

S = DeploymentState

# --- the states ----------------------------------------------------------------------

# Every change a deployment may make. Terminal states have no entry: nothing leaves them.
ALLOWED: dict[DeploymentState, frozenset[DeploymentState]] = {
    S.pending: frozenset({S.deploying, S.aborted, S.skipped}),
    S.deploying: frozenset({S.soaking, S.failed, S.rolling_back, S.rollback_failed,
                            S.skipped}),
    S.soaking: frozenset({S.healthy, S.failed, S.rolling_back, S.rollback_failed,
                          S.skipped}),
    S.healthy: frozenset({S.succeeded, S.rolling_back, S.rollback_failed, S.skipped}),
    S.rolling_back: frozenset({S.rolled_back, S.rollback_failed, S.skipped}),
}
# Told to run the rollout's snapshot (or, rolling back, its previous one).
UPDATED = frozenset({S.deploying, S.soaking, S.healthy})
# Still moving: the rollout waits for these.
MOVING = frozenset({S.pending, S.deploying, S.soaking, S.rolling_back})
ACTIVE = frozenset(DeploymentState) - TERMINAL
# Devices whose gate has given its verdict (what the abort threshold counts).
FINISHED = frozenset({S.healthy, S.succeeded, S.failed})


class TransitionError(FleetError):
    """A deployment state change `ALLOWED` does not have (any change out of a terminal
    state among them): a programming error, never something a device can cause."""

    def __init__(self, deployment: DeviceDeployment, new: DeploymentState) -> None:
        old = deployment.state
        why = "it is terminal" if old.terminal else "that is not a step it can take"
        super().__init__(409, "invalid_transition",
                         f"deployment {deployment.id} cannot go from {old.value} to "
                         f"{new.value}: {why}", state=old.value, to=new.value)


def transition(session: Session, deployment: DeviceDeployment, new: DeploymentState,
               reason: str, actor: Actor, now: dt.datetime | None = None) -> None:
    """The one place a deployment's state changes: checked against `ALLOWED` (nothing
    leaves a terminal state) and audited as `deployment.state_changed`."""
    old = deployment.state
    if new not in ALLOWED.get(old, frozenset()):
        raise TransitionError(deployment, new)
    now = now or utcnow()
    deployment.state = new
    deployment.reason = reason
    deployment.state_since = deployment.updated_at = now
    session.flush()
    audit.record(session, actor, "deployment.state_changed", "device",
                 deployment.device_id or "",
                 {"rollout": deployment.rollout_id, "wave": deployment.wave,
                  "from": old.value, "to": new.value, "reason": reason}, at=now)


def clock() -> dt.datetime:
    """The moment rollout logic acts at. Routers take it as a dependency, so tests can
    set the time (`app.dependency_overrides[rollouts.clock]`) and never sleep."""
    return utcnow()


# --- progress and status ----------------------------------------------------------------

class RolloutStatus(enum.StrEnum):
    awaiting_approval = "awaiting_approval"
    rejected = "rejected"
    running = "running"
    paused = "paused"
    succeeded = "succeeded"
    failed = "failed"      # the abort threshold tripped (updated devices rolled back)
    aborted = "aborted"    # stopped by hand (updated devices rolled back)


Decision = Literal["approved", "rejected"] | None


@dataclass
class Progress:
    """How many of a rollout's devices are in each state, in all and per wave."""

    wave_sizes: list[int]
    states: dict[DeploymentState, int] = field(default_factory=dict)
    waves: list[dict[DeploymentState, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.waves:
            self.waves = [{} for _ in self.wave_sizes]

    def add(self, wave: int, state: DeploymentState, count: int) -> None:
        self.states[state] = self.states.get(state, 0) + count
        while wave >= len(self.waves):
            self.waves.append({})
        self.waves[wave][state] = self.waves[wave].get(state, 0) + count

    def count(self, *states: DeploymentState) -> int:
        return sum(self.states.get(state, 0) for state in states)

    def wave_count(self, wave: int, states: Iterable[DeploymentState]) -> int:
        return sum(self.waves[wave].get(state, 0) for state in states)

    @property
    def total(self) -> int:
        return sum(self.states.values())

    def as_json(self) -> dict[str, int]:
        return {state.value: self.states.get(state, 0) for state in DeploymentState}

    def waves_json(self) -> list[dict[str, int]]:
        return [{state.value: wave.get(state, 0) for state in DeploymentState}
                for wave in self.waves]


def progress_of(session: Session, rollouts: Sequence[Rollout]) -> dict[int, Progress]:
    """Counts per state and wave for each of `rollouts`, in one query."""
    result = {r.id: Progress(list(r.wave_sizes)) for r in rollouts}
    if not result:
        return result
    rows = session.execute(
        select(DeviceDeployment.rollout_id, DeviceDeployment.wave, DeviceDeployment.state,
               func.count())
        .where(DeviceDeployment.rollout_id.in_(list(result)))
        .group_by(DeviceDeployment.rollout_id, DeviceDeployment.wave, DeviceDeployment.state))
    for rollout_id, wave, state, count in rows:
        result[rollout_id].add(wave, DeploymentState(state), count)
    return result


def progress(session: Session, rollout: Rollout) -> Progress:
    return progress_of(session, [rollout])[rollout.id]


def decisions_of(session: Session, rollouts: Sequence[Rollout]) -> dict[int, Decision]:
    """Each rollout's approval decision (a rejection outweighs an approval)."""
    result: dict[int, Decision] = {r.id: None for r in rollouts}
    if not result:
        return result
    for rollout_id, approved in session.execute(
            select(Approval.rollout_id, Approval.approved)
            .where(Approval.rollout_id.in_(list(result)))):
        if not approved:
            result[rollout_id] = "rejected"
        elif result[rollout_id] is None:
            result[rollout_id] = "approved"
    return result


def sent_back(counts: Progress) -> bool:
    """Whether devices were aborted or sent back: the rollout was stopped."""
    return bool(counts.count(S.rolling_back, S.rolled_back, S.rollback_failed, S.aborted))


def derive_status(needs_approval: bool, decision: Decision, control: RolloutControl,
                  counts: Progress) -> RolloutStatus:
    """A rollout's status from what people decided and where its devices are. Only a
    tripped abort threshold (or a rollout in which nothing succeeded) sends devices back
    or aborts them without `control` being abort, so those states mean failure."""
    if decision == "rejected":
        return RolloutStatus.rejected
    if control is RolloutControl.abort:
        return RolloutStatus.aborted
    if needs_approval and decision != "approved":
        return RolloutStatus.awaiting_approval
    if sent_back(counts):
        return RolloutStatus.failed
    if counts.count(*(ACTIVE - {S.rolling_back})):
        return (RolloutStatus.paused if control is RolloutControl.pause
                else RolloutStatus.running)
    if counts.count(S.failed) and not counts.count(S.succeeded):
        return RolloutStatus.failed
    return RolloutStatus.succeeded


def status_of(session: Session, rollout: Rollout) -> RolloutStatus:
    return derive_status(rollout.needs_approval, decisions_of(session, [rollout])[rollout.id],
                         rollout.control, progress(session, rollout))


def threshold_reason(rollout: Rollout, counts: Progress) -> str | None:
    """Why the abort threshold trips now (None: it does not): at least
    `abort_min_devices` devices have finished the gate and at least `abort_percent` of
    them failed. Skipped devices count neither way."""
    finished = counts.count(*FINISHED)
    failed = counts.count(S.failed)
    if not failed or finished < rollout.abort_min_devices:
        return None
    share = 100.0 * failed / finished
    if share + 1e-9 < rollout.abort_percent:
        return None
    return (f"abort threshold: {failed} of {finished} finished devices failed "
            f"({share:.0f}% >= {rollout.abort_percent:g}%)")


# --- starting ---------------------------------------------------------------------------

def get_rollout(session: Session, rollout_id: int) -> Rollout:
    rollout = session.get(Rollout, rollout_id)
    if rollout is None:
        raise not_found("rollout", rollout_id)
    return rollout


def group_devices(session: Session, group_id: int) -> list[Device]:
    """A group's active devices in rollout order (by id: a restart gives the same waves)."""
    return list(session.scalars(select(Device).where(
        Device.group_id == group_id, Device.status == DeviceStatus.active
    ).order_by(Device.id)))


def group_is_protected(session: Session, group_id: int) -> bool:
    """Whether a protected stage deploys to the group (a rollout straight to the group
    then needs approval too: the protection is not side-stepped by naming the group)."""
    return session.scalars(select(Stage.id).where(
        Stage.group_id == group_id, Stage.protected.is_(True)).limit(1)).first() is not None


def create_rollout(session: Session, actor: Actor, *, snapshot_id: str,
                   group_id: int | None = None, stage_id: int | None = None,
                   params: RolloutParams | None = None, name: str = "",
                   created_by: int | None = None, now: dt.datetime | None = None,
                   details: dict[str, Any] | None = None) -> Rollout:
    """A rollout of `snapshot_id` to a group, or to a stage (its group, with the stage's
    defaults under `params`). The group's active devices are fixed now and split into
    waves; the controller opens the first one on its next tick, or after approval when a
    protected stage deploys to the group. Refused (409) while any of the devices is still
    in another rollout that has not finished with it."""
    if (group_id is None) == (stage_id is None):
        raise FleetError(422, "invalid_request", "a rollout goes to a group or to a stage")
    if session.get(Snapshot, snapshot_id) is None:
        raise not_found("snapshot", snapshot_id)
    stage = None
    if stage_id is not None:
        stage = session.get(Stage, stage_id)
        if stage is None:
            raise not_found("stage", stage_id)
        group_id = stage.group_id
    assert group_id is not None
    group = session.get(DeviceGroup, group_id)
    if group is None:
        raise not_found("group", group_id)
    resolved = resolve(stage.rollout_defaults if stage else None, params)
    devices = group_devices(session, group.id)
    if not devices:
        raise FleetError(409, "empty_group", f"group {group.name!r} has no active devices")
    busy = list(session.scalars(select(DeviceDeployment.device_id).where(
        DeviceDeployment.device_id.in_([d.id for d in devices]),
        DeviceDeployment.state.in_(ACTIVE))))
    if busy:
        raise FleetError(409, "devices_busy",
                         f"{len(busy)} device(s) of group {group.name!r} are still in "
                         "another rollout; wait for it to finish or abort it",
                         devices=sorted(d for d in busy if d)[:20])
    assert resolved.waves is not None
    sizes = expand_waves(resolved.waves, len(devices))
    now = now or utcnow()
    rollout = Rollout(
        name=name.strip(), snapshot_id=snapshot_id, group_id=group.id,
        stage_id=stage.id if stage else None, waves=stored_waves(resolved.waves),
        wave_sizes=sizes, soak_seconds=resolved.soak_seconds,
        deploy_timeout_seconds=resolved.deploy_timeout_seconds,
        abort_percent=resolved.abort_percent, abort_min_devices=resolved.abort_min_devices,
        control=RolloutControl.run,
        needs_approval=group_is_protected(session, group.id),
        opened_waves=0, created_by=created_by, created_at=now)
    session.add(rollout)
    session.flush()
    waves = [wave for wave, size in enumerate(sizes) for _ in range(size)]
    session.add_all(DeviceDeployment(
        rollout_id=rollout.id, device_id=device.id, wave=wave, state=S.pending,
        previous_snapshot_id=device.running_snapshot_id, updated_at=now, state_since=now)
        for device, wave in zip(devices, waves, strict=True))
    session.flush()
    audit.record(session, actor, "rollout.created", "rollout", rollout.id,
                 {**_about(session, rollout), "devices": len(devices), "waves": sizes,
                  "needs_approval": rollout.needs_approval, **(details or {})}, at=now)
    return rollout


def _about(session: Session, rollout: Rollout) -> dict[str, Any]:
    group = session.get(DeviceGroup, rollout.group_id)
    stage = session.get(Stage, rollout.stage_id) if rollout.stage_id else None
    return {"snapshot": rollout.snapshot_id, "group": group.name if group else None,
            "stage": stage.name if stage else None}


# --- what people decide -----------------------------------------------------------------

def _refuse(rollout: Rollout, status: RolloutStatus, what: str) -> FleetError:
    return FleetError(409, "conflict", f"rollout {rollout.id} is {status.value}: it cannot "
                      f"be {what}", rollout_status=status.value)


def pause(session: Session, actor: Actor, rollout: Rollout,
          now: dt.datetime | None = None) -> None:
    """No new wave opens; devices already deploying go on through their gate."""
    status = status_of(session, rollout)
    if status is not RolloutStatus.running:
        raise _refuse(rollout, status, "paused")
    rollout.control = RolloutControl.pause
    session.flush()
    audit.record(session, actor, "rollout.paused", "rollout", rollout.id,
                 _about(session, rollout), at=now)


def resume(session: Session, actor: Actor, rollout: Rollout,
           now: dt.datetime | None = None) -> None:
    status = status_of(session, rollout)
    if status is not RolloutStatus.paused:
        raise _refuse(rollout, status, "resumed")
    rollout.control = RolloutControl.run
    session.flush()
    audit.record(session, actor, "rollout.resumed", "rollout", rollout.id,
                 _about(session, rollout), at=now)


def abort(session: Session, actor: Actor, rollout: Rollout, reason: str = "",
          now: dt.datetime | None = None) -> list[str]:
    """Stop by hand, as a failure would: devices not started are aborted, updated ones
    sent back to their previous snapshot. Returns the devices whose target changed."""
    status = status_of(session, rollout)
    if status not in (RolloutStatus.running, RolloutStatus.paused,
                      RolloutStatus.awaiting_approval):
        raise _refuse(rollout, status, "aborted")
    now = now or utcnow()
    rollout.control = RolloutControl.abort
    rollout.reason = reason.strip() or f"aborted by {actor.name}"
    session.flush()
    audit.record(session, actor, "rollout.aborted", "rollout", rollout.id,
                 {**_about(session, rollout), "reason": rollout.reason}, at=now)
    return stop_devices(session, rollout, actor, "the rollout was aborted", now)


def decide(session: Session, actor: Actor, rollout: Rollout, user: User, approved: bool,
           comment: str = "", now: dt.datetime | None = None) -> Approval:
    """Approve or reject a rollout awaiting approval: by someone other than its author.
    A rejection aborts every device (none has started)."""
    status = status_of(session, rollout)
    if status is not RolloutStatus.awaiting_approval:
        raise _refuse(rollout, status, "approved" if approved else "rejected")
    if rollout.created_by is not None and rollout.created_by == user.id:
        raise FleetError(403, "forbidden", "a rollout is approved or rejected by a "
                         "different user than the one who started it")
    now = now or utcnow()
    approval = Approval(rollout_id=rollout.id, user_id=user.id, approved=approved,
                        comment=comment.strip(), decided_at=now)
    session.add(approval)
    session.flush()
    audit.record(session, actor, "rollout.approved" if approved else "rollout.rejected",
                 "rollout", rollout.id, {**_about(session, rollout),
                                         "comment": approval.comment}, at=now)
    if not approved:
        rollout.reason = f"rejected by {user.name}"
        stop_devices(session, rollout, actor, "the rollout was rejected", now)
        rollout.finished_at = now
        session.flush()
    return approval


# --- what the controller does -------------------------------------------------------------

def deployments(session: Session, rollout: Rollout,
                states: Iterable[DeploymentState] | None = None,
                wave: int | None = None) -> list[DeviceDeployment]:
    query = select(DeviceDeployment).where(DeviceDeployment.rollout_id == rollout.id)
    if states is not None:
        query = query.where(DeviceDeployment.state.in_(list(states)))
    if wave is not None:
        query = query.where(DeviceDeployment.wave == wave)
    return list(session.scalars(query.order_by(DeviceDeployment.wave, DeviceDeployment.id)))


def send_back(session: Session, deployment: DeviceDeployment, actor: Actor, reason: str,
              now: dt.datetime) -> str | None:
    """Roll an updated device back: its target becomes its previous snapshot. One that ran
    nothing before cannot go back (rollback_failed). Returns the device id when its target
    changed."""
    device = session.get(Device, deployment.device_id) if deployment.device_id else None
    if device is None or device.status is not DeviceStatus.active:
        transition(session, deployment, S.skipped, "device decommissioned or deleted",
                   actor, now)
        return None
    if deployment.previous_snapshot_id is None:
        transition(session, deployment, S.rollback_failed,
                   f"{reason}; the device ran no snapshot before, so it cannot go back",
                   actor, now)
        return None
    transition(session, deployment, S.rolling_back, reason, actor, now)
    if device.target_snapshot_id != deployment.previous_snapshot_id:
        device.target_snapshot_id = deployment.previous_snapshot_id
        return device.id
    return None


def stop_devices(session: Session, rollout: Rollout, actor: Actor, reason: str,
                 now: dt.datetime) -> list[str]:
    """Abort every device not started and send every updated one back."""
    changed = []
    for deployment in deployments(session, rollout, {S.pending} | UPDATED):
        if deployment.state is S.pending:
            transition(session, deployment, S.aborted, reason, actor, now)
        elif (device_id := send_back(session, deployment, actor, reason, now)) is not None:
            changed.append(device_id)
    return changed


def fail(session: Session, actor: Actor, rollout: Rollout, reason: str,
         now: dt.datetime) -> list[str]:
    """The rollout failed (the abort threshold tripped): stop it and roll back."""
    rollout.reason = reason
    changed = stop_devices(session, rollout, actor, reason, now)
    audit.record(session, actor, "rollout.failed", "rollout", rollout.id,
                 {**_about(session, rollout), "reason": reason,
                  "counts": progress(session, rollout).as_json()}, at=now)
    return changed


def complete(session: Session, actor: Actor, rollout: Rollout, now: dt.datetime) -> None:
    """Every wave is open and no device is moving: the healthy ones have succeeded. A
    stage rollout that succeeded becomes the stage's snapshot."""
    for deployment in deployments(session, rollout, [S.healthy]):
        transition(session, deployment, S.succeeded, "the rollout completed", actor, now)
    rollout.finished_at = now
    counts = progress(session, rollout)
    status = derive_status(rollout.needs_approval, "approved", rollout.control, counts)
    if status is RolloutStatus.succeeded:
        if rollout.stage_id is not None and counts.count(S.succeeded):
            stage = session.get(Stage, rollout.stage_id)
            if stage is not None:
                stage.snapshot_id = rollout.snapshot_id
        session.flush()
        audit.record(session, actor, "rollout.completed", "rollout", rollout.id,
                     {**_about(session, rollout), "counts": counts.as_json()}, at=now)
    else:
        rollout.reason = "no device got through the health gate"
        session.flush()
        audit.record(session, actor, "rollout.failed", "rollout", rollout.id,
                     {**_about(session, rollout), "reason": rollout.reason,
                      "counts": counts.as_json()}, at=now)
