"""Devices, their groups, and the provisioning tokens devices register with: the operations
the devices router, the agent router and tests share.

Nothing here commits: the caller owns the transaction, so a change and its audit rows land
together or not at all.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from runtime.fleet import audit
from runtime.fleet.audit import Actor
from runtime.fleet.db import utcnow
from runtime.fleet.errors import FleetError, not_found
from runtime.fleet.models import (
    ActorKind,
    DeploymentState,
    Device,
    DeviceDeployment,
    DeviceGroup,
    DeviceStatus,
    ProvisioningToken,
    Rollout,
    Stage,
    User,
)
from runtime.fleet.rollouts import transition
from runtime.fleet.tokens import DEVICE_CREDENTIAL, PROVISIONING_TOKEN, digest, new_secret

# The widths of the columns these land in (PostgreSQL refuses longer; SQLite would not).
NAME_LENGTH = 100
TAG_LENGTH = 50
MAX_TAGS = 50
AGENT_VERSION_LENGTH = 50
RUNTIME_VERSION_LENGTH = 100


class Keep(enum.Enum):
    """'Leave as it is' for an update argument where None is a real value (no group)."""

    keep = "keep"


KEEP = Keep.keep


# --- values ------------------------------------------------------------------------------

def clean_name(name: str, what: str = "name") -> str:
    name = name.strip()
    if not name or len(name) > NAME_LENGTH:
        raise FleetError(422, "invalid_request",
                         f"a {what} has 1 to {NAME_LENGTH} characters")
    return name


def clean_tags(tags: Iterable[str]) -> list[str]:
    """Tags stripped, without blanks or repeats, in the order given."""
    seen: list[str] = []
    for raw in tags:
        tag = raw.strip()
        if len(tag) > TAG_LENGTH:
            raise FleetError(422, "invalid_request",
                             f"a tag has at most {TAG_LENGTH} characters: {tag[:20]!r}...")
        if tag and tag not in seen:
            seen.append(tag)
    if len(seen) > MAX_TAGS:
        raise FleetError(422, "invalid_request", f"a device has at most {MAX_TAGS} tags")
    return seen


def is_online(device: Device, offline_after_seconds: float,
              now: dt.datetime | None = None) -> bool:
    """Active and heard from within `offline_after_seconds`."""
    if device.status is not DeviceStatus.active or device.last_seen_at is None:
        return False
    now = now or utcnow()
    return (now - device.last_seen_at).total_seconds() <= offline_after_seconds


def _device_details(session: Session, device: Device) -> dict[str, Any]:
    group = session.get(DeviceGroup, device.group_id) if device.group_id else None
    return {"name": device.name, "group": group.name if group else None,
            "tags": list(device.tags)}


# --- groups ------------------------------------------------------------------------------

def get_group(session: Session, group_id: int) -> DeviceGroup:
    group = session.get(DeviceGroup, group_id)
    if group is None:
        raise not_found("group", group_id)
    return group


def find_group(session: Session, key: str) -> DeviceGroup:
    """A group by id (all digits) or by name (group names always hold a non-digit)."""
    group = (session.get(DeviceGroup, int(key)) if key.isdigit() else
             session.scalars(select(DeviceGroup).where(DeviceGroup.name == key)).first())
    if group is None:
        raise not_found("group", key)
    return group


def list_groups(session: Session) -> list[DeviceGroup]:
    return list(session.scalars(select(DeviceGroup).order_by(DeviceGroup.name)))


def active_device_counts(session: Session) -> dict[int, int]:
    """Active devices per group id."""
    rows = session.execute(select(Device.group_id, func.count()).where(
        Device.status == DeviceStatus.active, Device.group_id.is_not(None)
    ).group_by(Device.group_id))
    return {group_id: count for group_id, count in rows if group_id is not None}


def _group_name(session: Session, name: str, group: DeviceGroup | None = None) -> str:
    name = clean_name(name, "group name")
    if name.isdigit():
        # Lets `?group=` take an id or a name without ambiguity.
        raise FleetError(422, "invalid_request", "a group name needs a non-digit")
    clash = session.scalars(select(DeviceGroup).where(DeviceGroup.name == name)).first()
    if clash is not None and clash is not group:
        raise FleetError(409, "conflict", f"a group named {name!r} exists")
    return name


def create_group(session: Session, actor: Actor, name: str, description: str = ""
                 ) -> DeviceGroup:
    group = DeviceGroup(name=_group_name(session, name), description=description.strip())
    session.add(group)
    session.flush()
    audit.record(session, actor, "group.created", "group", group.id, {"name": group.name})
    return group


def update_group(session: Session, actor: Actor, group: DeviceGroup, *,
                 name: str | None = None, description: str | None = None) -> DeviceGroup:
    changes: dict[str, Any] = {}
    if name is not None and name.strip() != group.name:
        new = _group_name(session, name, group)
        changes["name"] = {"from": group.name, "to": new}
        group.name = new
    if description is not None and description.strip() != group.description:
        changes["description"] = {"from": group.description, "to": description.strip()}
        group.description = description.strip()
    if changes:
        session.flush()
        audit.record(session, actor, "group.updated", "group", group.id,
                     {"name": group.name, "changes": changes})
    return group


def delete_group(session: Session, actor: Actor, group: DeviceGroup) -> None:
    """Delete an empty group nothing refers to. Refused (409) while active devices are in
    it, any rollout or pipeline stage targets it (rollouts keep their group for the
    record), or a usable provisioning token would register devices into it."""
    blockers: list[str] = []
    devices = session.scalar(select(func.count()).select_from(Device).where(
        Device.group_id == group.id, Device.status == DeviceStatus.active)) or 0
    if devices:
        blockers.append(f"{devices} active device(s) are in it")
    rollouts = list(session.scalars(select(Rollout.id).where(Rollout.group_id == group.id)
                                    .order_by(Rollout.id)))
    if rollouts:
        blockers.append(f"rollout(s) {', '.join(map(str, rollouts))} target it")
    stages = list(session.scalars(select(Stage.name).where(Stage.group_id == group.id)))
    if stages:
        blockers.append(f"pipeline stage(s) {', '.join(stages)} deploy to it")
    tokens = [t.name for t in session.scalars(select(ProvisioningToken).where(
        ProvisioningToken.group_id == group.id)) if provisioning_state(t) == "usable"]
    if tokens:
        blockers.append(f"provisioning token(s) {', '.join(tokens)} register into it")
    if blockers:
        raise FleetError(409, "conflict", f"group {group.name!r} cannot be deleted: "
                         + "; ".join(blockers), blockers=blockers)
    audit.record(session, actor, "group.deleted", "group", group.id, {"name": group.name})
    # Decommissioned devices and spent tokens in it lose their group (ON DELETE SET NULL).
    session.delete(group)
    session.flush()


# --- devices -----------------------------------------------------------------------------

def get_device(session: Session, device_id: str) -> Device:
    device = session.get(Device, device_id)
    if device is None:
        raise not_found("device", device_id)
    return device


def list_devices(session: Session, *, group_id: int | None = None,
                 tags: Iterable[str] = (), status: DeviceStatus | None = None,
                 online: bool | None = None, offline_after_seconds: float = 180.0
                 ) -> list[Device]:
    """Devices by name, in `group_id`, holding every tag of `tags`, in `status`, and
    online or offline (see `is_online`)."""
    query = select(Device)
    if group_id is not None:
        query = query.where(Device.group_id == group_id)
    if status is not None:
        query = query.where(Device.status == status)
    if online is not None:
        since = utcnow() - dt.timedelta(seconds=offline_after_seconds)
        seen = (Device.status == DeviceStatus.active) & (Device.last_seen_at >= since)
        query = query.where(seen if online else ~seen | Device.last_seen_at.is_(None))
    devices = session.scalars(query.order_by(Device.name, Device.id))
    # Tags live in a JSON array, which SQLite and PostgreSQL query differently; filtering
    # here keeps one code path (the other filters have already narrowed the rows).
    wanted = set(tags)
    return [d for d in devices if wanted <= set(d.tags)]


def update_device(session: Session, actor: Actor, device: Device, *,
                  name: str | None = None, group_id: int | Keep | None = KEEP,
                  tags: list[str] | None = None) -> Device:
    """Rename, regroup (None: no group) or retag an active device."""
    if device.status is not DeviceStatus.active:
        raise FleetError(409, "conflict", f"device {device.id} is decommissioned")
    changes: dict[str, Any] = {}
    if name is not None and clean_name(name) != device.name:
        changes["name"] = {"from": device.name, "to": clean_name(name)}
        device.name = clean_name(name)
    if not isinstance(group_id, Keep) and group_id != device.group_id:
        new_group = get_group(session, group_id).name if group_id is not None else None
        old = session.get(DeviceGroup, device.group_id) if device.group_id else None
        changes["group"] = {"from": old.name if old else None, "to": new_group}
        device.group_id = group_id
    if tags is not None and clean_tags(tags) != device.tags:
        changes["tags"] = {"from": list(device.tags), "to": clean_tags(tags)}
        device.tags = clean_tags(tags)
    if changes:
        session.flush()
        audit.record(session, actor, "device.updated", "device", device.id,
                     {**_device_details(session, device), "changes": changes})
    return device


def decommission_device(session: Session, actor: Actor, device: Device
                        ) -> list[DeviceDeployment]:
    """Revoke the device's credential (its next request gets 401), clear its target, and
    skip its part in every rollout it has not finished. Returns the deployments skipped."""
    if device.status is DeviceStatus.decommissioned:
        raise FleetError(409, "conflict", f"device {device.id} is already decommissioned")
    now = utcnow()
    device.credential_hash = None
    device.status = DeviceStatus.decommissioned
    device.decommissioned_at = now
    device.target_snapshot_id = None
    # Lock the rows (PostgreSQL) so the rollout controller cannot move one of them on
    # between our read and our write.
    deployments = session.scalars(select(DeviceDeployment).where(
        DeviceDeployment.device_id == device.id).order_by(DeviceDeployment.id)
        .with_for_update())
    skipped = []
    for deployment in deployments:
        if deployment.state.terminal:  # finished parts are history: never rewritten
            continue
        # The one transition function (it checks the step and writes the audit row).
        transition(session, deployment, DeploymentState.skipped, "device decommissioned",
                   actor, now)
        skipped.append(deployment)
    session.flush()
    audit.record(session, actor, "device.decommissioned", "device", device.id,
                 {**_device_details(session, device),
                  "skipped_rollouts": [d.rollout_id for d in skipped]})
    return skipped


# --- provisioning ------------------------------------------------------------------------

def provisioning_state(token: ProvisioningToken, now: dt.datetime | None = None) -> str:
    """usable, revoked, expired or used_up."""
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= (now or utcnow()):
        return "expired"
    if token.uses_left is not None and token.uses_left <= 0:
        return "used_up"
    return "usable"


def get_provisioning_token(session: Session, token_id: int) -> ProvisioningToken:
    token = session.get(ProvisioningToken, token_id)
    if token is None:
        raise not_found("provisioning token", token_id)
    return token


def list_provisioning_tokens(session: Session) -> list[ProvisioningToken]:
    return list(session.scalars(select(ProvisioningToken).order_by(
        ProvisioningToken.created_at.desc(), ProvisioningToken.id.desc())))


def create_provisioning_token(session: Session, actor: Actor, *, name: str,
                              group_id: int | None = None, tags: Iterable[str] = (),
                              uses: int | None = 1, expires_in: dt.timedelta | None = None,
                              created_by: User | None = None
                              ) -> tuple[ProvisioningToken, str]:
    """A token devices register with: `uses` 1 (single use), N, or None (no limit).
    Returns the row and the secret, which is never stored and cannot be shown again."""
    if uses is not None and uses < 1:
        raise FleetError(422, "invalid_request", "uses is 1 or more, or null for no limit")
    group = get_group(session, group_id) if group_id is not None else None
    secret = new_secret(PROVISIONING_TOKEN)
    token = ProvisioningToken(
        name=clean_name(name), token_hash=digest(secret), group_id=group_id,
        tags=clean_tags(tags), uses_left=uses,
        expires_at=utcnow() + expires_in if expires_in else None,
        created_by=created_by.id if created_by else None)
    session.add(token)
    session.flush()
    audit.record(session, actor, "provisioning_token.created", "provisioning_token",
                 token.id, {"name": token.name, "group": group.name if group else None,
                            "uses": uses, "tags": token.tags,
                            "expires_at": token.expires_at})
    return token, secret


def revoke_provisioning_token(session: Session, actor: Actor, token: ProvisioningToken
                              ) -> ProvisioningToken:
    """No device can register with it any more (those that did keep their credential)."""
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        group = session.get(DeviceGroup, token.group_id) if token.group_id else None
        audit.record(session, actor, "provisioning_token.revoked", "provisioning_token",
                     token.id, {"name": token.name, "group": group.name if group else None,
                                "uses": token.uses_left})
        session.flush()
    return token


_REFUSALS = {"revoked": "the provisioning token was revoked",
             "expired": "the provisioning token has expired",
             "used_up": "the provisioning token has been used up"}


def register_device(session: Session, provisioning_secret: str, name: str,
                    tags: Iterable[str], agent_version: str, runtime_version: str, *,
                    source: str = "") -> tuple[Device, str]:
    """A new device, registered with a provisioning token, in the token's group and with
    its tags plus `tags`. Returns the device and its credential secret (shown once).

    Refuses (401, saying why) an unknown, revoked, expired or used-up token. Taking a use
    is atomic: on PostgreSQL the token's row is locked (SELECT ... FOR UPDATE) until the
    transaction ends, so a second registration waits and then sees the use taken; the
    decrement is also conditional (`uses_left > 0`), which is what keeps SQLite (one writer
    at a time) from handing out a use twice. The caller commits."""
    if not provisioning_secret.startswith(PROVISIONING_TOKEN):
        raise FleetError(401, "unauthorized", "not a provisioning token")
    token = session.scalars(select(ProvisioningToken).where(
        ProvisioningToken.token_hash == digest(provisioning_secret)).with_for_update()
    ).first()
    if token is None:
        raise FleetError(401, "unauthorized", "unknown provisioning token")
    state = provisioning_state(token)
    if state != "usable":
        raise FleetError(401, "unauthorized", _REFUSALS[state])
    if len(agent_version) > AGENT_VERSION_LENGTH or len(runtime_version) > RUNTIME_VERSION_LENGTH:
        raise FleetError(422, "invalid_request", "agent_version has at most "
                         f"{AGENT_VERSION_LENGTH} characters, runtime_version at most "
                         f"{RUNTIME_VERSION_LENGTH}")
    name, tags = clean_name(name, "device name"), clean_tags([*token.tags, *tags])
    if token.uses_left is not None:
        taken = session.execute(
            update(ProvisioningToken)
            .where(ProvisioningToken.id == token.id, ProvisioningToken.uses_left > 0)
            .values(uses_left=ProvisioningToken.uses_left - 1)
            .execution_options(synchronize_session=False))
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            raise FleetError(401, "unauthorized", _REFUSALS["used_up"])
        session.refresh(token, ["uses_left"])
    secret = new_secret(DEVICE_CREDENTIAL)
    now = utcnow()
    device = Device(id=str(uuid.uuid4()), name=name, group_id=token.group_id, tags=tags,
                    credential_hash=digest(secret), status=DeviceStatus.active,
                    created_at=now, last_seen_at=now, agent_version=agent_version,
                    runtime_version=runtime_version, health={})
    session.add(device)
    session.flush()
    audit.record(session, Actor(ActorKind.device, device.id, source), "device.registered",
                 "device", device.id, {**_device_details(session, device),
                                       "provisioning_token": token.id,
                                       "agent_version": agent_version,
                                       "runtime_version": runtime_version})
    return device, secret
