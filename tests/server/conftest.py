"""Fixtures for the server's tests: the app on a throwaway data folder with the fake model
(no weights), in-process (`client`) or listening on a loopback port (`live_server`)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from assistant.server.app import create_app
from assistant.server.fake_model import PassThroughModel
from assistant.server.settings import ServerSettings
from runtime.fleet.settings import FleetSettings

REQUEST = ("every 5 s read holding register 100 from the PLC at 192.168.1.10 and publish it "
           "to MQTT plant/line1/temp")
# Needs code the recipes do not write, so the model is asked (and its tokens stream).
MODEL_REQUEST = ("on MQTT plant/in, reverse the words of the payload text and publish to "
                 "plant/out")


def make_settings(tmp_path: Path, **overrides: Any) -> ServerSettings:
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "model": "fake",
        "preload_model": False,
        "run_controller": False,
        "fleet": FleetSettings(data_dir=tmp_path / "fleet", tick_seconds=0.2),
    }
    values.update(overrides)
    return ServerSettings(**values)


@pytest.fixture
def settings(tmp_path: Path) -> ServerSettings:
    return make_settings(tmp_path)


@pytest.fixture
def fake_model() -> PassThroughModel:
    return PassThroughModel()


@pytest.fixture
def app(settings: ServerSettings, fake_model: PassThroughModel) -> FastAPI:
    return create_app(settings, model=fake_model)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    app: FastAPI
    settings: ServerSettings


class Uvicorn:
    """uvicorn in a thread on a loopback port; a context manager that waits for it."""

    def __init__(self, app: FastAPI, port: int) -> None:
        import uvicorn

        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Uvicorn:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


@pytest.fixture
def live_server(tmp_path: Path, fake_model: PassThroughModel) -> Iterator[LiveServer]:
    settings = make_settings(tmp_path, run_controller=True)
    app = create_app(settings, model=fake_model)
    port = free_port()
    with Uvicorn(app, port):
        yield LiveServer(f"http://127.0.0.1:{port}", app, settings)
