"""Snapshots: immutable, content-addressed bundles of what a device runs."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from runtime.fleet.db import Base, UtcDateTime, utcnow


class Snapshot(Base):
    __tablename__ = "snapshots"

    # sha256 (hex) of the snapshot's canonical form: the same content is the same snapshot.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    flows: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    # Credentials by node id, encrypted with the server's secret key (never sent in clear
    # to users; agents get them over their authenticated channel).
    credentials_encrypted: Mapped[str] = mapped_column(Text, default="")
    # Which nodes have credentials and the names of their fields, in clear: what users are
    # shown, so reading a snapshot never needs the secret key.
    credential_fields: Mapped[dict[str, list[str]]] = mapped_column(JSON, default=dict)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    env: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    modules: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)  # name -> version
    signature: Mapped[str] = mapped_column(String(200))  # Ed25519 over the id, hex
    parent_id: Mapped[str | None] = mapped_column(
        ForeignKey("snapshots.id", ondelete="SET NULL"), nullable=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"),
                                                   nullable=True)
    # Indexed: listings are newest first.
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
