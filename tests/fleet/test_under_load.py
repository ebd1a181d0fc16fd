"""Many devices at once against a live server: every check-in is answered, none waits
forever. (On SQLite a transaction holds the one writer slot; with more requests in flight
than worker threads, the holder could wait for a thread behind requests waiting for it.
The server lets in fewer requests than it has threads, so that cannot happen.)"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import Engine

from runtime.fleet import devices
from runtime.fleet.audit import SYSTEM
from runtime.fleet.db import session_factory, transaction
from tests.fleet.live import Server

DEVICES = 60
ROUNDS = 5


def _credentials(db: Engine) -> list[str]:
    with transaction(session_factory(db)) as session:
        group = devices.create_group(session, SYSTEM, "load")
        _token, secret = devices.create_provisioning_token(
            session, SYSTEM, name="load", group_id=group.id, uses=None)
        return [devices.register_device(session, secret, f"d{i}", [], "0.1", "sim")[1]
                for i in range(DEVICES)]


def test_hundreds_of_check_ins_at_once_are_all_answered(live: Server, db: Engine) -> None:
    secrets = _credentials(db)

    async def storm() -> list[int]:
        limits = httpx.Limits(max_connections=DEVICES * 2)
        async with httpx.AsyncClient(base_url=live.url + "/api/v1", timeout=120,
                                     limits=limits) as http:
            async def one(secret: str) -> int:
                body: dict[str, Any] = {"running_snapshot": None, "state": "idle",
                                        "health": {"flows_started": True, "node_errors": 0,
                                                   "crashes": 0}}
                response = await http.post("/agent/check-in", json=body,
                                           headers={"Authorization": f"Bearer {secret}"})
                return response.status_code

            calls = [one(s) for s in secrets for _ in range(ROUNDS)]
            return await asyncio.gather(*calls)

    statuses = asyncio.run(storm())
    assert statuses == [200] * (DEVICES * ROUNDS)
