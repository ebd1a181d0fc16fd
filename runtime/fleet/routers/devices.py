"""Groups, devices and provisioning tokens, as people see and manage them (devices
themselves talk to the agent router).

Everyone may read groups and devices; owners change them. Provisioning tokens are owners'
alone: even listed without their secrets, they say how devices get in.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy.orm import Session

from runtime.fleet import devices as service
from runtime.fleet.auth import Caller, Permission, SessionDep, SettingsDep, require
from runtime.fleet.db import utcnow
from runtime.fleet.models import Device, DeviceGroup, DeviceStatus, ProvisioningToken
from runtime.fleet.routers import RowId

router = APIRouter()

Reader = Annotated[Caller, require(Permission.read)]
DeviceManager = Annotated[Caller, require(Permission.manage_devices)]

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                        max_length=service.NAME_LENGTH)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                       max_length=service.TAG_LENGTH)]
Tags = Annotated[list[Tag], Field(max_length=service.MAX_TAGS)]


# --- schemas -----------------------------------------------------------------------------

class GroupCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    description: Annotated[str, Field(max_length=500)] = ""


class GroupUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    description: Annotated[str, Field(max_length=500)] | None = None


class GroupPublic(BaseModel):
    id: int
    name: str
    description: str
    created_at: dt.datetime
    device_count: int = Field(description="Active devices in the group.")


class GroupsPublic(BaseModel):
    data: list[GroupPublic]
    count: int


class DeviceUpdate(BaseModel):
    """Fields left out stay as they are; `group_id: null` takes the device out of its
    group."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    group_id: int | None = None
    tags: Tags | None = None


class DevicePublic(BaseModel):
    id: str
    name: str
    group_id: int | None
    group: str | None
    tags: list[str]
    status: DeviceStatus
    online: bool
    created_at: dt.datetime
    decommissioned_at: dt.datetime | None
    last_seen_at: dt.datetime | None
    running_snapshot_id: str | None
    target_snapshot_id: str | None
    agent_version: str
    runtime_version: str
    health: dict[str, Any]


class DevicesPublic(BaseModel):
    data: list[DevicePublic]
    count: int = Field(description="Devices matching the filters, before limit/offset.")


class ProvisioningTokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    group_id: int | None = None
    tags: Tags = []
    uses: int | None = Field(default=1, ge=1,
                             description="1: single use (the default); N; null: no limit.")
    expires_in_seconds: float | None = Field(default=None, gt=0, le=10 * 365 * 86400,
                                             description="null: never expires.")


class ProvisioningTokenPublic(BaseModel):
    id: int
    name: str
    group_id: int | None
    group: str | None
    tags: list[str]
    uses_left: int | None
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    created_by: int | None
    created_at: dt.datetime
    state: str = Field(description="usable, revoked, expired or used_up.")


class ProvisioningTokensPublic(BaseModel):
    data: list[ProvisioningTokenPublic]
    count: int


class ProvisioningTokenCreated(BaseModel):
    token: ProvisioningTokenPublic
    secret: str = Field(description="Shown this once; the server keeps only its sha256.")


# --- rows to answers ---------------------------------------------------------------------

def _group_names(session: Session) -> dict[int, str]:
    return {g.id: g.name for g in service.list_groups(session)}


def _group_public(group: DeviceGroup, counts: dict[int, int]) -> GroupPublic:
    return GroupPublic(id=group.id, name=group.name, description=group.description,
                       created_at=group.created_at, device_count=counts.get(group.id, 0))


def _device_public(device: Device, names: dict[int, str], offline_after: float,
                   now: dt.datetime) -> DevicePublic:
    return DevicePublic(
        id=device.id, name=device.name, group_id=device.group_id,
        group=names.get(device.group_id) if device.group_id else None, tags=device.tags,
        status=device.status, online=service.is_online(device, offline_after, now),
        created_at=device.created_at, decommissioned_at=device.decommissioned_at,
        last_seen_at=device.last_seen_at, running_snapshot_id=device.running_snapshot_id,
        target_snapshot_id=device.target_snapshot_id, agent_version=device.agent_version,
        runtime_version=device.runtime_version, health=device.health)


def _token_public(token: ProvisioningToken, names: dict[int, str]) -> ProvisioningTokenPublic:
    return ProvisioningTokenPublic(
        id=token.id, name=token.name, group_id=token.group_id,
        group=names.get(token.group_id) if token.group_id else None, tags=token.tags,
        uses_left=token.uses_left, expires_at=token.expires_at, revoked_at=token.revoked_at,
        created_by=token.created_by, created_at=token.created_at,
        state=service.provisioning_state(token))


# --- groups ------------------------------------------------------------------------------

@router.post("/groups", status_code=status.HTTP_201_CREATED, tags=["groups"])
def create_group(body: GroupCreate, caller: DeviceManager, session: SessionDep
                 ) -> GroupPublic:
    group = service.create_group(session, caller.actor, body.name, body.description)
    session.commit()
    return _group_public(group, {})


@router.get("/groups", tags=["groups"])
def list_groups(caller: Reader, session: SessionDep) -> GroupsPublic:
    counts = service.active_device_counts(session)
    groups = [_group_public(g, counts) for g in service.list_groups(session)]
    return GroupsPublic(data=groups, count=len(groups))


@router.get("/groups/{group_id}", tags=["groups"])
def get_group(group_id: RowId, caller: Reader, session: SessionDep) -> GroupPublic:
    return _group_public(service.get_group(session, group_id),
                         service.active_device_counts(session))


@router.patch("/groups/{group_id}", tags=["groups"])
def update_group(group_id: RowId, body: GroupUpdate, caller: DeviceManager,
                 session: SessionDep) -> GroupPublic:
    group = service.update_group(session, caller.actor, service.get_group(session, group_id),
                                 name=body.name, description=body.description)
    session.commit()
    return _group_public(group, service.active_device_counts(session))


@router.delete("/groups/{group_id}", status_code=status.HTTP_204_NO_CONTENT,
               tags=["groups"])
def delete_group(group_id: RowId, caller: DeviceManager, session: SessionDep) -> None:
    """Refused (409, with the reasons) while anything still needs the group."""
    service.delete_group(session, caller.actor, service.get_group(session, group_id))
    session.commit()


# --- devices -----------------------------------------------------------------------------

@router.get("/devices", tags=["devices"])
def list_devices(
    caller: Reader, session: SessionDep, settings: SettingsDep,
    group: Annotated[str | None, Query(description="A group's id or name.")] = None,
    tag: Annotated[list[str], Query(description="Repeatable: devices with every tag.")] = [],  # noqa: B006 (FastAPI copies query defaults)
    status: DeviceStatus | None = None,
    online: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> DevicesPublic:
    group_id = service.find_group(session, group).id if group is not None else None
    found = service.list_devices(session, group_id=group_id, tags=tag, status=status,
                                 online=online,
                                 offline_after_seconds=settings.offline_after_seconds)
    names, now = _group_names(session), utcnow()
    page = [_device_public(d, names, settings.offline_after_seconds, now)
            for d in found[offset:offset + limit]]
    return DevicesPublic(data=page, count=len(found))


@router.get("/devices/{device_id}", tags=["devices"])
def get_device(device_id: str, caller: Reader, session: SessionDep, settings: SettingsDep
               ) -> DevicePublic:
    return _device_public(service.get_device(session, device_id), _group_names(session),
                          settings.offline_after_seconds, utcnow())


@router.patch("/devices/{device_id}", tags=["devices"])
def update_device(device_id: str, body: DeviceUpdate, caller: DeviceManager,
                  session: SessionDep, settings: SettingsDep) -> DevicePublic:
    """Rename, regroup or retag a device."""
    device = service.update_device(
        session, caller.actor, service.get_device(session, device_id), name=body.name,
        # Only a group_id that was sent changes the group (null included).
        group_id=body.group_id if "group_id" in body.model_fields_set else service.KEEP,
        tags=body.tags)
    session.commit()
    return _device_public(device, _group_names(session), settings.offline_after_seconds,
                          utcnow())


@router.post("/devices/{device_id}/decommission", tags=["devices"])
def decommission_device(device_id: str, caller: DeviceManager, session: SessionDep,
                        settings: SettingsDep) -> DevicePublic:
    """Revoke the device's credential for good (its next request gets 401) and skip its
    part in unfinished rollouts. The device stays listed, for the record."""
    device = service.get_device(session, device_id)
    service.decommission_device(session, caller.actor, device)
    session.commit()
    return _device_public(device, _group_names(session), settings.offline_after_seconds,
                          utcnow())


# --- provisioning tokens -----------------------------------------------------------------

@router.post("/provisioning-tokens", status_code=status.HTTP_201_CREATED,
             tags=["provisioning"])
def create_provisioning_token(body: ProvisioningTokenCreate, caller: DeviceManager,
                              session: SessionDep) -> ProvisioningTokenCreated:
    expires_in = (dt.timedelta(seconds=body.expires_in_seconds)
                  if body.expires_in_seconds is not None else None)
    token, secret = service.create_provisioning_token(
        session, caller.actor, name=body.name, group_id=body.group_id, tags=body.tags,
        uses=body.uses, expires_in=expires_in, created_by=caller.user)
    session.commit()
    return ProvisioningTokenCreated(token=_token_public(token, _group_names(session)),
                                    secret=secret)


@router.get("/provisioning-tokens", tags=["provisioning"])
def list_provisioning_tokens(caller: DeviceManager, session: SessionDep
                             ) -> ProvisioningTokensPublic:
    names = _group_names(session)
    tokens = [_token_public(t, names) for t in service.list_provisioning_tokens(session)]
    return ProvisioningTokensPublic(data=tokens, count=len(tokens))


@router.delete("/provisioning-tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT,
               tags=["provisioning"])
def revoke_provisioning_token(token_id: RowId, caller: DeviceManager, session: SessionDep
                              ) -> None:
    """No device can register with it from now on; devices it registered are kept."""
    service.revoke_provisioning_token(session, caller.actor,
                                      service.get_provisioning_token(session, token_id))
    session.commit()
