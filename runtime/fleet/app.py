"""The fleet server: its routers under /api/v1, one database, the server's keys, and the
rollout controller running beside the API.

`create_fleet_app(settings)` is what `ask fleet serve` runs and what Plumb's main app
mounts; tests build it on a throwaway database.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI
from sqlalchemy import Engine
from starlette.types import ASGIApp, Receive, Scope, Send

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
    """The fleet API on its own. The schema is migrated before the first request; with
    `run_controller` the rollout controller moves rollouts on every `tick_seconds`."""
    settings = settings or FleetSettings()
    fleet = FleetParts(settings, engine, run_controller)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with fleet.running(app):
            yield

    app = FastAPI(title="Plumb fleet", version="1", lifespan=lifespan)
    install_handlers(app)
    fleet.attach(app)
    app.add_middleware(InFlightLimit, limit=settings.max_in_flight_requests)
    return app


class FleetParts:
    """What the fleet adds to an app: its state (settings, database, keys), its routers
    and, while the app runs, the rollout controller. Plumb's main app (`ask serve`) and the
    fleet's own app (`ask fleet serve`) are built from the same parts."""

    def __init__(self, settings: FleetSettings, engine: Engine | None = None,
                 run_controller: bool = True) -> None:
        self.settings = settings
        self.engine = engine or make_engine(settings.url())
        self.run_controller = run_controller
        migrate(self.engine)

    def attach(self, app: FastAPI) -> None:
        app.state.settings = self.settings
        app.state.engine = self.engine
        app.state.sessions = session_factory(self.engine)
        app.state.keys = load_keys(self.settings)
        for module in (users, devices, agent, snapshots, pipelines, rollouts, audit):
            app.include_router(module.router, prefix=API)

    @asynccontextmanager
    async def running(self, app: FastAPI) -> AsyncIterator[None]:
        # Threads for the sync endpoints: more than the requests let in at once (see
        # InFlightLimit), so a request that holds a database transaction never waits for a
        # thread behind requests that wait for that transaction.
        limiter = anyio.to_thread.current_default_thread_limiter()
        limiter.total_tokens = max(limiter.total_tokens,
                                   self.settings.max_in_flight_requests + 8)
        controller = None
        if self.run_controller:
            from runtime.fleet.controller import RolloutController

            controller = RolloutController(app.state.sessions, self.settings)
            controller.start()
        app.state.controller = controller
        try:
            yield
        finally:
            if controller is not None:
                await controller.stop()


class InFlightLimit:
    """At most `limit` HTTP requests inside the app at once; the rest wait on the event
    loop (holding no thread and no database connection) for their turn."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.slots = asyncio.Semaphore(limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        async with self.slots:
            await self.app(scope, receive, send)
