"""Devices, the groups rollouts target, and the tokens that let a device register."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from runtime.fleet.db import Base, UtcDateTime, utcnow


class DeviceStatus(enum.StrEnum):
    active = "active"
    decommissioned = "decommissioned"  # credential revoked; kept for the audit trail


class DeviceGroup(Base):
    __tablename__ = "device_groups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class Device(Base):
    __tablename__ = "devices"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # a uuid4
    name: Mapped[str] = mapped_column(String(100))
    group_id: Mapped[int | None] = mapped_column(
        ForeignKey("device_groups.id", ondelete="SET NULL"), nullable=True, index=True)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    # sha256 of the device's credential; None once decommissioned.
    credential_hash: Mapped[str | None] = mapped_column(String(64), unique=True,
                                                        nullable=True)
    status: Mapped[DeviceStatus] = mapped_column(
        Enum(DeviceStatus, native_enum=False, length=20), default=DeviceStatus.active)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    decommissioned_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_seen_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # What the agent last reported: the snapshot running, its health, versions.
    running_snapshot_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    target_snapshot_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    agent_version: Mapped[str] = mapped_column(String(50), default="")
    runtime_version: Mapped[str] = mapped_column(String(100), default="")
    health: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ProvisioningToken(Base):
    """Lets devices register themselves into a group: single-use or limited."""

    __tablename__ = "provisioning_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    group_id: Mapped[int | None] = mapped_column(
        ForeignKey("device_groups.id", ondelete="SET NULL"), nullable=True)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    uses_left: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: no limit
    expires_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"),
                                                   nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
