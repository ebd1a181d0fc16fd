"""The model's queue: one job at a time, first come first served, positions shown, a
limit answered with 429, and a client that goes away stops its job."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import httpx
import pytest

from assistant.server.app import create_app
from assistant.server.fake_model import PassThroughModel
from assistant.server.queue import Cancelled, ModelQueue, QueueFull
from tests.server.conftest import MODEL_REQUEST, REQUEST, Uvicorn, free_port, make_settings
from tests.server.test_api import events_of

API = "/api/v1"


def test_jobs_run_one_at_a_time_in_arrival_order() -> None:
    async def scenario() -> tuple[list[str], list[list[int]], int]:
        queue = ModelQueue(limit=10)
        order: list[str] = []
        inside = 0
        most_inside = 0
        lock = threading.Lock()
        positions: list[list[int]] = [[] for _ in range(4)]

        def work(name: str) -> str:
            nonlocal inside, most_inside
            with lock:
                inside += 1
                most_inside = max(most_inside, inside)
            time.sleep(0.05)
            order.append(name)
            with lock:
                inside -= 1
            return name

        jobs = [queue.submit(lambda _t, n=str(i): work(n), positions[i].append)
                for i in range(4)]
        results = await asyncio.gather(*jobs)
        assert results == ["0", "1", "2", "3"]
        return order, positions, most_inside

    order, positions, most_inside = asyncio.run(scenario())
    assert order == ["0", "1", "2", "3"]
    assert most_inside == 1
    # The last job saw itself move up the line.
    assert positions[3] == sorted(positions[3], reverse=True) and positions[3] == [3, 2, 1]


def test_limit_refuses_at_once_and_waiting_job_can_leave() -> None:
    async def scenario() -> None:
        queue = ModelQueue(limit=2)
        release = threading.Event()
        first = asyncio.ensure_future(queue.submit(lambda _t: release.wait(5)))
        await asyncio.sleep(0.05)
        second_ticket = queue.enter()
        with pytest.raises(QueueFull):
            queue.enter()
        second_ticket.cancel.set()
        with pytest.raises(Cancelled):
            await queue.turn(second_ticket)
        assert queue.waiting == 0
        queue.enter()  # a place is free again
        release.set()
        assert await first is True

    asyncio.run(scenario())


def _live(tmp_path: Path, model: PassThroughModel, **settings: object) -> tuple[Uvicorn, str]:
    app = create_app(make_settings(tmp_path, **settings), model=model)
    port = free_port()
    return Uvicorn(app, port), f"http://127.0.0.1:{port}"


def test_full_queue_answers_429_with_retry_after(tmp_path: Path) -> None:
    model = PassThroughModel(delay=0.15)
    server, url = _live(tmp_path, model, queue_limit=1)
    with server, httpx.Client(base_url=url, timeout=30) as http:
        done: list[int] = []
        slow = threading.Thread(target=lambda: done.append(http.post(
            f"{API}/generate", json={"request": MODEL_REQUEST}).status_code))
        slow.start()
        deadline = time.monotonic() + 10
        while not http.get(f"{API}/status").json()["queue"]["running"]:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        refused = http.post(f"{API}/generate", json={"request": REQUEST})
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "5"
        assert refused.json()["error"] == "busy"
        slow.join()
        assert done == [200]
        assert http.post(f"{API}/generate", json={"request": REQUEST}).status_code == 200


def test_waiting_stream_sees_its_position_then_runs(tmp_path: Path) -> None:
    model = PassThroughModel(delay=0.1)
    server, url = _live(tmp_path, model)
    with server, httpx.Client(base_url=url, timeout=30) as http:
        first = threading.Thread(target=lambda: http.post(
            f"{API}/generate", json={"request": MODEL_REQUEST}))
        first.start()
        deadline = time.monotonic() + 10
        while not http.get(f"{API}/status").json()["queue"]["running"]:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        answer = http.post(f"{API}/generate", json={"request": REQUEST, "stream": True})
        first.join()
    names = [name for name, _ in events_of(answer.text)]
    assert names[0] == "queued" and events_of(answer.text)[0][1] == {"position": 1}
    assert names.index("started") > 0 and names[-1] == "done"


def test_client_that_disconnects_stops_its_job(tmp_path: Path) -> None:
    model = PassThroughModel(delay=0.5)  # ~4 s per answer if nobody stops it
    server, url = _live(tmp_path, model)
    with server, httpx.Client(base_url=url, timeout=30) as http:
        with http.stream("POST", f"{API}/generate",
                         json={"request": MODEL_REQUEST, "stream": True}) as stream:
            for line in stream.iter_lines():
                if line == "event: token":
                    break
        # The connection is closed; the job stops at its next token.
        started = time.monotonic()
        while http.get(f"{API}/status").json()["queue"]["running"]:
            assert time.monotonic() - started < 3, "the job went on after the client left"
            time.sleep(0.05)
        status = http.get(f"{API}/status").json()
        assert status["queue"]["completed"] == 1 and status["queue"]["waiting"] == 0
        # The model is free for the next request at once.
        assert http.post(f"{API}/generate", json={"request": REQUEST}).status_code == 200


def test_a_silent_job_keeps_its_stream_open_until_done(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from assistant.server import events

    monkeypatch.setattr(events, "KEEPALIVE_SECONDS", 0.1)
    model = PassThroughModel(delay=0.3)  # longer than the keep-alive between tokens
    server, url = _live(tmp_path, model)
    with server, httpx.Client(base_url=url, timeout=30) as http:
        answer = http.post(f"{API}/generate", json={"request": MODEL_REQUEST, "stream": True})
    assert ": still working" in answer.text
    names = [name for name, _ in events_of(answer.text)]
    assert names[-2:] == ["result", "done"]
