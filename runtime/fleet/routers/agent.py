"""The device-facing routes (docs/fleet.md, "Device protocol"): register with a
provisioning token, check in with the device's credential, fetch a snapshot bundle."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from sqlalchemy.orm.exc import StaleDataError

from runtime.fleet import health, rollouts
from runtime.fleet.auth import DeviceDep, SessionDep, SettingsDep, bearer, client_address
from runtime.fleet.devices import register_device
from runtime.fleet.errors import FleetError, not_found
from runtime.fleet.health import CheckIn
from runtime.fleet.keys import ServerKeys
from runtime.fleet.snapshots import bundle_for_device

router = APIRouter(prefix="/agent", tags=["agent"])

NowDep = Annotated[dt.datetime, Depends(rollouts.clock)]
CHECK_IN_TRIES = 3


def _keys(request: Request) -> ServerKeys:
    keys: ServerKeys = request.app.state.keys
    return keys


KeysDep = Annotated[ServerKeys, Depends(_keys)]


class RegisterRequest(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    tags: list[str] = Field(default_factory=list)
    agent_version: str = ""
    runtime_version: str = ""


class Registered(BaseModel):
    device_id: str
    credential: str
    public_key: str
    check_in_seconds: float


class Target(BaseModel):
    snapshot: str
    url: str


class CheckInAnswer(BaseModel):
    target: Target | None
    check_in_seconds: float


@router.post("/register", status_code=201, response_model=Registered)
def register(body: RegisterRequest, request: Request, session: SessionDep,
             settings: SettingsDep, keys: KeysDep) -> Registered:
    """A device registers itself with a provisioning token; its credential is shown once."""
    secret = bearer(request)
    device, credential = register_device(session, secret, body.name, body.tags,
                                          body.agent_version, body.runtime_version,
                                          source=client_address(request))
    session.commit()
    return Registered(device_id=device.id, credential=credential, public_key=keys.public_pem,
                      check_in_seconds=settings.check_in_seconds)


@router.post("/check-in", response_model=CheckInAnswer)
def check_in(report: CheckIn, device: DeviceDep, request: Request, session: SessionDep,
             settings: SettingsDep, now: NowDep) -> CheckInAnswer:
    """Record what the device runs and how it is, move its rollout's health gate on, and
    answer what it should run and when to check in again."""
    source = client_address(request)
    for attempt in range(CHECK_IN_TRIES):
        try:
            answer = health.check_in(session, device, report, settings, now, source)
            session.commit()
            break
        except StaleDataError:
            # The controller moved this device's deployment on meanwhile: take it again
            # from what is stored now.
            session.rollback()
            if attempt == CHECK_IN_TRIES - 1:
                raise FleetError(503, "busy", "the server is busy with this device; "
                                 "check in again") from None
    target = (Target(snapshot=answer.target, url=f"/api/v1/agent/snapshots/{answer.target}")
              if answer.target else None)
    return CheckInAnswer(target=target, check_in_seconds=answer.check_in_seconds)


@router.get("/snapshots/{snapshot_id}")
def snapshot_bundle(snapshot_id: str, device: DeviceDep, session: SessionDep,
                    keys: KeysDep) -> dict[str, Any]:
    """The signed bundle of the device's target or running snapshot (any other: 404,
    so a device cannot read other devices' snapshots, credentials and all)."""
    if snapshot_id not in {device.target_snapshot_id, device.running_snapshot_id} - {None}:
        raise not_found("snapshot", snapshot_id)
    return bundle_for_device(session, keys, snapshot_id)
