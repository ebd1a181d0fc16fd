"""The fleet server: its routers under /api/v1, one database, the server's keys, and the
rollout controller running beside the API.

`create_fleet_app(settings)` is what `ask fleet serve` runs and what Plumb's main app
mounts; tests build it on a throwaway database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import Engine

from runtime.fleet.db import make_engine, migrate, session_factory
from runtime.fleet.errors import install_handlers
from runtime.fleet.keys import load_keys
from runtime.fleet.routers import (
    agent,
    audit,
    devices,
    pipelines,
    rollouts,
    snapshots,
    users,
)
from runtime.fleet.settings import FleetSettings

API = "/api/v1"


def create_fleet_app(settings: FleetSettings | None = None, *, engine: Engine | None = None,
                     run_controller: bool = True) -> FastAPI:
    """The fleet API. The schema is migrated before the first request; with
    `run_controller` the rollout controller moves rollouts on every `tick_seconds`."""
    settings = settings or FleetSettings()
    engine = engine or make_engine(settings.url())
    migrate(engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        controller = None
        if run_controller:
            from runtime.fleet.controller import RolloutController

            controller = RolloutController(app.state.sessions, settings)
            controller.start()
        app.state.controller = controller
        try:
            yield
        finally:
            if controller is not None:
                await controller.stop()

    app = FastAPI(title="Plumb fleet", version="1", lifespan=lifespan)
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = session_factory(engine)
    app.state.keys = load_keys(settings)
    install_handlers(app)
    for module in (users, devices, agent, snapshots, pipelines, rollouts, audit):
        app.include_router(module.router, prefix=API)
    return app
