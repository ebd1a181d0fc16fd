"""The server's settings: one class, read (highest first) from `ask serve` flags, PLUMB_*
environment variables, a TOML config file, and the defaults below."""

from __future__ import annotations

import ipaddress
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from runtime.fleet.settings import FleetSettings, default_data_dir

CONFIG_ENV = "PLUMB_CONFIG"


def default_config_file() -> Path:
    return default_data_dir() / "plumb.toml"


class ServerSettings(BaseSettings):
    """Everything `ask serve` can be told. The [fleet] table of the config file (or
    PLUMB_FLEET_* variables) sets the fleet's own settings."""

    model_config = SettingsConfigDict(env_prefix="PLUMB_", extra="forbid")

    host: str = Field(
        default="127.0.0.1",
        description="Address to listen on. Anything but a loopback address needs "
                    "auth = \"token\".")
    port: int = Field(default=8700, ge=0, le=65535,
                      description="TCP port to listen on (0 picks a free one).")
    auth: Literal["local", "token"] = Field(
        default="local",
        description="\"local\": one user on this machine, no login (loopback only). "
                    "\"token\": every request carries a fleet user's token and acts with "
                    "that user's role.")
    model: str = Field(
        default="",
        description="Model that writes code and phrases explanations (see `ask models`); "
                    "empty means $PLUMB_MODEL or the built-in default. \"fake\" answers "
                    "every prompt with pass-through code without loading weights (tests, "
                    "demos).")
    preload_model: bool = Field(
        default=True,
        description="Load the model when the server starts, so the first request does not "
                    "wait for it.")
    queue_limit: int = Field(
        default=32, ge=1, le=1000,
        description="Model jobs waiting or running at once; more are refused with 429.")
    max_request_bytes: int = Field(
        default=5 * 1024 * 1024, ge=1024,
        description="Largest request body accepted (a flow to edit or validate included); "
                    "bigger ones get 413.")
    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Folder for chat sessions (sessions.db), the docs index and the fleet "
                    "(unless the fleet settings say otherwise).")
    docs_index_dir: Path | None = Field(
        default=None,
        description="Docs search index folder; default data_dir/index (built on first "
                    "search when missing).")
    fleet: FleetSettings = Field(
        default_factory=FleetSettings,
        description="The fleet's settings (see docs/fleet.md): the [fleet] table of the "
                    "config file, or PLUMB_FLEET_* variables.")
    run_controller: bool = Field(
        default=True, description="Run the rollout controller inside this server.")

    @model_validator(mode="after")
    def _fleet_follows_data_dir(self) -> ServerSettings:
        # A data_dir given to the server moves the fleet's data with it, unless the fleet's
        # own folder was set.
        fleet_dir_set = ("data_dir" in self.fleet.model_fields_set
                         or "PLUMB_FLEET_DATA_DIR" in os.environ)
        if "data_dir" in self.model_fields_set and not fleet_dir_set:
            self.fleet = self.fleet.model_copy(update={"data_dir": self.data_dir / "fleet"})
        return self

    @field_validator("host")
    @classmethod
    def _host_not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("host must not be empty")
        return value.strip()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlFile(settings_cls))

    def is_loopback(self) -> bool:
        return is_loopback(self.host)

    def check(self) -> None:
        """Refuse what must not start: the single-user mode on a reachable address."""
        if self.auth == "local" and not self.is_loopback():
            raise SettingsError(
                f"refusing to listen on {self.host} without authentication: the local "
                "single-user mode is for loopback only. Use --auth token (users log in "
                "with their fleet accounts) or --host 127.0.0.1.")

    def sessions_path(self) -> Path:
        return self.data_dir / "sessions.db"

    def index_dir(self) -> Path:
        return self.docs_index_dir or self.data_dir / "index"


class SettingsError(ValueError):
    """Settings that cannot work together; the message says what to change."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class TomlFile(PydanticBaseSettingsSource):
    """The config file: $PLUMB_CONFIG, else data_dir/plumb.toml when it exists."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        named = os.environ.get(CONFIG_ENV)
        path = Path(named) if named else default_config_file()
        if not path.exists():
            if named:
                raise SettingsError(f"config file {path} (from ${CONFIG_ENV}) does not exist")
            return {}
        try:
            data = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(f"cannot read config file {path}: {exc}") from exc
        if isinstance(data.get("fleet"), dict):
            data["fleet"] = FleetSettings(**data["fleet"])
        return data
