"""Events of one streamed job, and Server-Sent Events that end cleanly.

A job runs in the model thread and reports through an `EventChannel`: steps (reading the
request, planning, writing code, ...), the model's tokens, and one result or error. The
HTTP side turns the channel into `text/event-stream`; the last event is always `done`.
When the client disconnects, the job's ticket is cancelled, so the pipeline stops at its
next step or token and the model is free for the next request.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import StreamingResponse

# Event names, in the order a client sees them: queued* started step* token* (result|error)
# done. Clients must ignore names they do not know.
QUEUED, STARTED, STEP, TOKEN, RESULT, ERROR, DONE = (
    "queued", "started", "step", "token", "result", "error", "done")


KEEPALIVE_SECONDS = 15.0


@dataclass
class Event:
    name: str
    data: dict[str, Any]

    def encode(self) -> bytes:
        text = json.dumps(self.data, ensure_ascii=False, separators=(",", ":"))
        return f"event: {self.name}\ndata: {text}\n\n".encode()


class EventChannel:
    """Thread-safe: the job (any thread) puts events, the response (event loop) reads them."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()

    def put(self, name: str, data: dict[str, Any] | None = None) -> None:
        event = Event(name, data or {})
        # A closed loop means nobody is listening any more.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._queue.put_nowait, event)

    def put_now(self, name: str, data: dict[str, Any] | None = None) -> None:
        """Put from the event loop itself."""
        self._queue.put_nowait(Event(name, data or {}))

    def close(self) -> None:
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._queue.put_nowait, None)

    async def get(self, timeout: float) -> Event | None:
        """The next event; None once the channel is closed. Raises TimeoutError when
        nothing came within `timeout` (the channel stays usable: cancelling a queue read
        loses nothing)."""
        return await asyncio.wait_for(self._queue.get(), timeout)


Render = Callable[[Event], tuple[list[bytes], bool]]


def plain_event(event: Event) -> tuple[list[bytes], bool]:
    """Plumb's own stream: each event as it is; `done` ends it."""
    return [event.encode()], event.name == DONE


def sse_response(request: Request, channel: EventChannel, on_disconnect: Callable[[], None],
                 render: Render = plain_event, opening: bytes = b"") -> StreamingResponse:
    """Stream `channel` as SSE, each event through `render` (its bytes, and whether the
    stream ends there). A comment line every KEEPALIVE_SECONDS keeps proxies from closing
    an idle stream; a client that went away cancels the job through `on_disconnect`."""

    async def body() -> AsyncIterator[bytes]:
        try:
            if opening:
                yield opening
            while True:
                try:
                    event = await channel.get(timeout=KEEPALIVE_SECONDS)
                except TimeoutError:
                    if await request.is_disconnected():
                        return
                    yield b": still working\n\n"
                    continue
                if event is None:
                    return
                chunks, last = render(event)
                for chunk in chunks:
                    yield chunk
                if last:
                    return
        finally:
            # Reached on a normal end too; cancelling a finished job is harmless.
            on_disconnect()

    return StreamingResponse(body(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
