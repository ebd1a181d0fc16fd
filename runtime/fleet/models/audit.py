"""The audit log: append-only rows chained by hashes (see `runtime.fleet.audit`)."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, BigInteger, Enum, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from runtime.fleet.db import Base, UtcDateTime


class ActorKind(enum.StrEnum):
    user = "user"
    device = "device"
    system = "system"
    assistant = "assistant"


class AuditEvent(Base):
    __tablename__ = "audit_events"

    # The chain's order: 1, 2, 3... with no gaps (a gap is a deleted row).
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                     primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    actor_kind: Mapped[ActorKind] = mapped_column(Enum(ActorKind, native_enum=False,
                                                       length=20))
    actor: Mapped[str] = mapped_column(String(100))  # user name, device id, "controller"
    source: Mapped[str] = mapped_column(String(100), default="")  # client address
    action: Mapped[str] = mapped_column(String(100), index=True)  # "snapshot.created"
    target_kind: Mapped[str] = mapped_column(String(50), default="")
    target_id: Mapped[str] = mapped_column(String(100), default="", index=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
