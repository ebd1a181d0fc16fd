"""Rollouts as people start, watch and steer them: members start rollouts to groups and
stages (one to a protected stage waits for an owner's approval) and pause, resume or abort
them; owners approve or reject, never their own. Everyone may read them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from runtime.fleet import rollouts as service
from runtime.fleet.auth import Caller, Permission, SessionDep, SettingsDep, require
from runtime.fleet.controller import publish_updates
from runtime.fleet.errors import FleetError
from runtime.fleet.models import (
    Approval,
    DeploymentState,
    Device,
    DeviceDeployment,
    Rollout,
    RolloutControl,
    User,
)
from runtime.fleet.rollouts import RolloutStatus
from runtime.fleet.routers import RowId
from runtime.fleet.settings import FleetSettings
from runtime.fleet.waves import RolloutParams

router = APIRouter(prefix="/rollouts", tags=["rollouts"])

Reader = Annotated[Caller, require(Permission.read)]
Starter = Annotated[Caller, require(Permission.start_rollout)]
Controller = Annotated[Caller, require(Permission.control_rollout)]
Approver = Annotated[Caller, require(Permission.approve_rollout)]
NowDep = Annotated[dt.datetime, Depends(service.clock)]


# --- schemas -----------------------------------------------------------------------------

class RolloutCreate(RolloutParams):
    """A rollout of a snapshot to a group or to a pipeline stage. Knobs left out come from
    the stage's defaults, then the server's."""

    model_config = ConfigDict(extra="forbid")
    snapshot_id: str = Field(min_length=1, max_length=64)
    group_id: int | None = None
    stage_id: int | None = None
    name: str = Field(default="", max_length=200)

    def params(self) -> RolloutParams:
        return RolloutParams.model_validate(
            self.model_dump(include=set(RolloutParams.model_fields), exclude_unset=True))


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    comment: str = Field(default="", max_length=2000)


class AbortRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(default="", max_length=2000)


class RolloutPublic(BaseModel):
    id: int
    name: str
    snapshot_id: str
    group_id: int
    stage_id: int | None
    status: RolloutStatus = Field(description="Derived from the devices' states and the "
                                  "decisions taken; never set by hand.")
    control: RolloutControl
    needs_approval: bool
    waves: list[dict[str, Any]] = Field(description="The wave spec as asked.")
    wave_sizes: list[int] = Field(description="Devices per wave, fixed at start.")
    opened_waves: int
    soak_seconds: float
    deploy_timeout_seconds: float
    abort_percent: float
    abort_min_devices: int
    created_by: int | None
    created_at: dt.datetime
    finished_at: dt.datetime | None
    reason: str
    counts: dict[str, int] = Field(description="Devices per deployment state.")


class RolloutsPublic(BaseModel):
    data: list[RolloutPublic]
    count: int


class WavePublic(BaseModel):
    index: int
    size: int
    opened: bool
    counts: dict[str, int]


class ApprovalPublic(BaseModel):
    user_id: int
    user: str | None
    approved: bool
    comment: str
    decided_at: dt.datetime


class DeploymentPublic(BaseModel):
    device_id: str | None
    device_name: str | None
    wave: int
    state: DeploymentState
    reason: str
    previous_snapshot_id: str | None
    state_since: dt.datetime


class DeploymentsPublic(BaseModel):
    data: list[DeploymentPublic]
    count: int = Field(description="Devices matching the filter, before limit/offset.")


class RolloutDetail(RolloutPublic):
    wave_progress: list[WavePublic]
    approvals: list[ApprovalPublic]
    devices: DeploymentsPublic


# --- rows to answers ---------------------------------------------------------------------

def rollout_public(rollout: Rollout, counts: service.Progress, decision: service.Decision
                   ) -> RolloutPublic:
    return RolloutPublic(
        id=rollout.id, name=rollout.name, snapshot_id=rollout.snapshot_id,
        group_id=rollout.group_id, stage_id=rollout.stage_id,
        status=service.derive_status(rollout.needs_approval, decision, rollout.control,
                                     counts),
        control=rollout.control, needs_approval=rollout.needs_approval, waves=rollout.waves,
        wave_sizes=rollout.wave_sizes, opened_waves=rollout.opened_waves,
        soak_seconds=rollout.soak_seconds,
        deploy_timeout_seconds=rollout.deploy_timeout_seconds,
        abort_percent=rollout.abort_percent, abort_min_devices=rollout.abort_min_devices,
        created_by=rollout.created_by, created_at=rollout.created_at,
        finished_at=rollout.finished_at, reason=rollout.reason, counts=counts.as_json())


def public_of(session: Session, rollout: Rollout) -> RolloutPublic:
    return rollout_public(rollout, service.progress(session, rollout),
                          service.decisions_of(session, [rollout])[rollout.id])


def _detail(session: Session, rollout: Rollout, state: DeploymentState | None, offset: int,
            limit: int) -> RolloutDetail:
    counts = service.progress(session, rollout)
    base = rollout_public(rollout, counts, service.decisions_of(session, [rollout])[rollout.id])
    waves = [WavePublic(index=i, size=size, opened=i < rollout.opened_waves, counts=wave)
             for i, (size, wave) in enumerate(zip(rollout.wave_sizes, counts.waves_json(),
                                                  strict=False))]
    approvals = [ApprovalPublic(user_id=a.user_id, user=name, approved=a.approved,
                                comment=a.comment, decided_at=a.decided_at)
                 for a, name in session.execute(
                     select(Approval, User.name).join(User, User.id == Approval.user_id,
                                                      isouter=True)
                     .where(Approval.rollout_id == rollout.id).order_by(Approval.id))]
    where = [DeviceDeployment.rollout_id == rollout.id]
    if state is not None:
        where.append(DeviceDeployment.state == state)
    total = session.scalar(select(func.count()).select_from(DeviceDeployment)
                           .where(*where)) or 0
    rows = session.execute(
        select(DeviceDeployment, Device.name)
        .join(Device, Device.id == DeviceDeployment.device_id, isouter=True).where(*where)
        .order_by(DeviceDeployment.wave, DeviceDeployment.id).offset(offset).limit(limit))
    devices = [DeploymentPublic(device_id=d.device_id, device_name=name, wave=d.wave,
                                state=d.state, reason=d.reason,
                                previous_snapshot_id=d.previous_snapshot_id,
                                state_since=d.state_since) for d, name in rows]
    return RolloutDetail(**base.model_dump(), wave_progress=waves, approvals=approvals,
                         devices=DeploymentsPublic(data=devices, count=total))


@contextmanager
def _one_writer() -> Iterator[None]:
    """The controller moved the same rollout on while this request ran (the version
    check caught it): refuse with 409 rather than overwrite what it did."""
    try:
        yield
    except StaleDataError as exc:
        raise FleetError(409, "conflict", "the rollout changed while this request ran; "
                         "look at it again and retry") from exc


def _notify(tasks: BackgroundTasks, settings: FleetSettings, device_ids: list[str]) -> None:
    if device_ids and settings.mqtt_broker:
        tasks.add_task(publish_updates, settings.mqtt_broker, device_ids)


# --- routes ------------------------------------------------------------------------------

@router.post("", status_code=201)
def start_rollout(body: RolloutCreate, caller: Starter, session: SessionDep,
                  now: NowDep) -> RolloutPublic:
    """Start a rollout. The controller opens its first wave at once, or after approval
    when it goes to a protected stage (or to a group a protected stage deploys to)."""
    rollout = service.create_rollout(
        session, caller.actor, snapshot_id=body.snapshot_id, group_id=body.group_id,
        stage_id=body.stage_id, params=body.params(), name=body.name,
        created_by=caller.user.id, now=now)
    session.commit()
    return public_of(session, rollout)


@router.get("")
def list_rollouts(caller: Reader, session: SessionDep,
                  status: RolloutStatus | None = None, group_id: int | None = None,
                  stage_id: int | None = None, offset: Annotated[int, Query(ge=0)] = 0,
                  limit: Annotated[int, Query(ge=1, le=500)] = 50) -> RolloutsPublic:
    """Rollouts, newest first."""
    query = select(Rollout).order_by(Rollout.created_at.desc(), Rollout.id.desc())
    if group_id is not None:
        query = query.where(Rollout.group_id == group_id)
    if stage_id is not None:
        query = query.where(Rollout.stage_id == stage_id)
    rows = list(session.scalars(query))
    counts = service.progress_of(session, rows)
    decisions = service.decisions_of(session, rows)
    found = [rollout_public(r, counts[r.id], decisions[r.id]) for r in rows]
    if status is not None:
        found = [r for r in found if r.status is status]
    return RolloutsPublic(data=found[offset:offset + limit], count=len(found))


@router.get("/{rollout_id}")
def get_rollout(rollout_id: RowId, caller: Reader, session: SessionDep,
                state: DeploymentState | None = None,
                offset: Annotated[int, Query(ge=0)] = 0,
                limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> RolloutDetail:
    """A rollout with its counts in all and per wave, its approvals, and a page of its
    devices (in wave order; `state` filters them)."""
    return _detail(session, service.get_rollout(session, rollout_id), state, offset, limit)


@router.post("/{rollout_id}/pause")
def pause_rollout(rollout_id: RowId, caller: Controller, session: SessionDep,
                  now: NowDep) -> RolloutPublic:
    """No new wave opens; devices already deploying go on through their health gate."""
    rollout = service.get_rollout(session, rollout_id)
    with _one_writer():
        service.pause(session, caller.actor, rollout, now)
        session.commit()
    return public_of(session, rollout)


@router.post("/{rollout_id}/resume")
def resume_rollout(rollout_id: RowId, caller: Controller, session: SessionDep,
                   now: NowDep) -> RolloutPublic:
    rollout = service.get_rollout(session, rollout_id)
    with _one_writer():
        service.resume(session, caller.actor, rollout, now)
        session.commit()
    return public_of(session, rollout)


@router.post("/{rollout_id}/abort")
def abort_rollout(rollout_id: RowId, caller: Controller, session: SessionDep,
                  settings: SettingsDep, tasks: BackgroundTasks, now: NowDep,
                  body: AbortRequest | None = None) -> RolloutPublic:
    """Stop: devices not yet started are aborted, updated ones sent back to the snapshot
    they ran before."""
    rollout = service.get_rollout(session, rollout_id)
    with _one_writer():
        told = service.abort(session, caller.actor, rollout, body.reason if body else "",
                             now)
        session.commit()
    _notify(tasks, settings, told)
    return public_of(session, rollout)


@router.post("/{rollout_id}/approve")
def approve_rollout(rollout_id: RowId, caller: Approver, session: SessionDep, now: NowDep,
                    body: Decision | None = None) -> RolloutPublic:
    """Let a rollout to a protected stage start (not one's own: 403)."""
    rollout = service.get_rollout(session, rollout_id)
    with _one_writer():
        service.decide(session, caller.actor, rollout, caller.user, True,
                       body.comment if body else "", now)
        session.commit()
    return public_of(session, rollout)


@router.post("/{rollout_id}/reject")
def reject_rollout(rollout_id: RowId, caller: Approver, session: SessionDep, now: NowDep,
                   body: Decision | None = None) -> RolloutPublic:
    """Turn a rollout to a protected stage down (not one's own: 403); none of its devices
    ever starts."""
    rollout = service.get_rollout(session, rollout_id)
    with _one_writer():
        service.decide(session, caller.actor, rollout, caller.user, False,
                       body.comment if body else "", now)
        session.commit()
    return public_of(session, rollout)
