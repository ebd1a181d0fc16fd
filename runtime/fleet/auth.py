"""Who is calling, and may they: users (password login, API tokens), devices (their
credential), and the permission table.

Roles are ordered viewer < member < owner < admin; each permission names the lowest role
that holds it. A token acts as its user but never above the role it was made with, and a
disabled user's tokens stop working at once. Secrets are stored as sha256 digests;
passwords with argon2id (argon2-cffi).
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from runtime.fleet.audit import Actor
from runtime.fleet.db import utcnow
from runtime.fleet.errors import FleetError
from runtime.fleet.models import ActorKind, ApiToken, Device, DeviceStatus, Role, User
from runtime.fleet.settings import FleetSettings
from runtime.fleet.tokens import DEVICE_CREDENTIAL, USER_TOKEN, digest

_hasher = PasswordHasher()


class Permission(enum.StrEnum):
    read = "read"                          # everything but secrets
    manage_own_tokens = "manage_own_tokens"
    create_snapshot = "create_snapshot"
    start_rollout = "start_rollout"        # to groups and unprotected stages
    control_rollout = "control_rollout"    # pause, resume, abort
    approve_rollout = "approve_rollout"    # protected stages
    manage_devices = "manage_devices"      # groups, tags, provisioning, decommissioning
    manage_pipelines = "manage_pipelines"
    export_audit = "export_audit"
    manage_users = "manage_users"


# The permission table (documented in README, pinned by tests): the lowest role allowed.
PERMISSIONS: dict[Permission, Role] = {
    Permission.read: Role.viewer,
    Permission.manage_own_tokens: Role.viewer,
    Permission.create_snapshot: Role.member,
    Permission.start_rollout: Role.member,
    Permission.control_rollout: Role.member,
    Permission.approve_rollout: Role.owner,
    Permission.manage_devices: Role.owner,
    Permission.manage_pipelines: Role.owner,
    Permission.export_audit: Role.owner,
    Permission.manage_users: Role.admin,
}


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


@dataclass
class Caller:
    """An authenticated user (through a token) with the role in force for this call."""

    user: User
    role: Role
    token: ApiToken
    source: str

    def may(self, permission: Permission) -> bool:
        return self.role.at_least(PERMISSIONS[permission])

    @property
    def actor(self) -> Actor:
        return Actor(ActorKind.user, self.user.name, self.source)


def bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise FleetError(401, "unauthorized", "send an Authorization: Bearer token")
    return value.strip()


def client_address(request: Request) -> str:
    return request.client.host if request.client else ""


async def session_dep(request: Request) -> AsyncIterator[Session]:
    """A database session for one request. Endpoints commit what they change (and the
    audit rows with it); anything left uncommitted is rolled back when the request ends.

    An async dependency on purpose: its closing runs on the event loop, not in the thread
    pool. On SQLite a transaction holds the one writer slot until it ends; were the
    closing queued behind requests that wait for that slot in every pool thread, nothing
    would move again."""
    factory: sessionmaker[Session] = request.app.state.sessions
    session = factory()
    try:
        yield session
    finally:
        session.close()


def user_caller(session: Session, secret: str, source: str) -> Caller:
    if not secret.startswith(USER_TOKEN):
        raise FleetError(401, "unauthorized", "not a user token")
    token = session.scalars(select(ApiToken).where(ApiToken.token_hash == digest(secret))
                            ).first()
    now = utcnow()
    if token is None or token.revoked_at is not None:
        raise FleetError(401, "unauthorized", "unknown or revoked token")
    if token.expires_at is not None and token.expires_at <= now:
        raise FleetError(401, "unauthorized", "the token has expired")
    user = token.user
    if user.disabled:
        raise FleetError(401, "unauthorized", "the user is disabled")
    # Touch last_used at most once a minute: a read-mostly API should not write per call.
    if token.last_used_at is None or now - token.last_used_at > dt.timedelta(minutes=1):
        token.last_used_at = now
    role = token.role if not token.role.at_least(user.role) else user.role
    return Caller(user=user, role=role, token=token, source=source)


def device_caller(session: Session, secret: str) -> Device:
    if not secret.startswith(DEVICE_CREDENTIAL):
        raise FleetError(401, "unauthorized", "not a device credential")
    device = session.scalars(select(Device).where(Device.credential_hash == digest(secret))
                             ).first()
    if device is None or device.status is not DeviceStatus.active:
        raise FleetError(401, "unauthorized", "unknown or revoked device credential")
    return device


SessionDep = Annotated[Session, Depends(session_dep)]


def fleet_settings(request: Request) -> FleetSettings:
    settings: FleetSettings = request.app.state.settings
    return settings


SettingsDep = Annotated[FleetSettings, Depends(fleet_settings)]


def current_user(request: Request, session: SessionDep) -> Caller:
    caller = user_caller(session, bearer(request), client_address(request))
    # user_caller may have touched the token's last_used_at; read-only endpoints never
    # commit, so commit the touch here or a token used only for reads would look unused.
    if session.dirty:
        session.commit()
    return caller


def current_device(request: Request, session: SessionDep) -> Device:
    return device_caller(session, bearer(request))


CallerDep = Annotated[Caller, Depends(current_user)]
DeviceDep = Annotated[Device, Depends(current_device)]


def require(permission: Permission) -> Any:
    """A dependency that refuses (403, naming the role needed) callers without it."""

    def check(caller: CallerDep) -> Caller:
        if not caller.may(permission):
            needed = PERMISSIONS[permission]
            raise FleetError(403, "forbidden", f"{permission.value} needs the {needed.value} "
                             f"role or higher; you act as {caller.role.value}",
                             permission=permission.value, role_needed=needed.value)
        return caller

    return Depends(check)
