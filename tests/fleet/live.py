"""A live fleet server for tests that need real HTTP (agents, the CLI)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import uvicorn
from sqlalchemy import Engine

from runtime.fleet.app import create_fleet_app
from runtime.fleet.settings import FleetSettings
from tests.agent.conftest import free_port


class Server:
    """The fleet app under uvicorn in a thread, on a free loopback port."""

    def __init__(self, settings: FleetSettings, db: Engine) -> None:
        self.port = free_port()
        app = create_fleet_app(settings, engine=db)
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                     log_level="warning"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the fleet server did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=20)

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def until(check: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def finished(api: httpx.Client, rollout_id: int) -> dict[str, Any] | None:
    """The rollout once no device in it moves any more (None before)."""
    rollout: dict[str, Any] = api.get(f"/rollouts/{rollout_id}").json()
    return rollout if rollout.get("finished_at") else None


