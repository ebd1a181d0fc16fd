"""The fleet server's settings: one class, read from PLUMB_FLEET_* environment variables
(and from arguments where `ask fleet serve` passes them)."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    base = os.environ.get("PLUMB_DATA_DIR")
    return Path(base) if base else Path.home() / ".local" / "share" / "plumb"


class FleetSettings(BaseSettings):
    """Where the fleet keeps its data and how it treats devices and users."""

    model_config = SettingsConfigDict(env_prefix="PLUMB_FLEET_", extra="ignore")

    data_dir: Path = Field(
        default_factory=lambda: default_data_dir() / "fleet",
        description="Folder for the SQLite database (when no database URL is given) and "
                    "the server's keys.")
    database_url: str = Field(
        default="",
        description="SQLAlchemy URL of the database, e.g. postgresql+psycopg://user@host/db; "
                    "empty means SQLite in data_dir/fleet.db.")
    signing_key_path: Path | None = Field(
        default=None,
        description="Ed25519 private key (PEM) that signs snapshots; made on first start in "
                    "data_dir when not given.")
    secret_key_path: Path | None = Field(
        default=None,
        description="Key that encrypts snapshot credentials at rest; made on first start in "
                    "data_dir when not given.")
    check_in_seconds: float = Field(
        default=60.0, gt=0,
        description="How often agents are told to check in (they add up to 20% jitter).")
    active_check_in_seconds: float = Field(
        default=5.0, gt=0,
        description="How often a device taking part in an active rollout is told to check "
                    "in, so its health gate is seen soon.")
    offline_after_seconds: float = Field(
        default=180.0, gt=0,
        description="A device that has not checked in for this long is shown as offline.")
    tick_seconds: float = Field(
        default=1.0, gt=0,
        description="How often the rollout controller moves running rollouts on.")
    max_in_flight_requests: int = Field(
        default=32, ge=1, le=200,
        description="Requests handled at once; more wait their turn. Kept below the worker "
                    "threads, so a request holding SQLite's one writer slot always finds a "
                    "thread to finish on.")
    password_min_length: int = Field(
        default=10, ge=8, description="Shortest password accepted for a user.")
    mqtt_broker: str = Field(
        default="",
        description="host:port of an MQTT broker; when set, the server publishes "
                    "plumb/devices/<id>/update when a device's target changes.")

    def url(self) -> str:
        """The database URL, SQLite in data_dir when none was set."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'fleet.db'}"
