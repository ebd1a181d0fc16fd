"""The model's owner: one job at a time, first come first served, a bounded queue.

llama.cpp holds one context; two requests decoding at once would interleave or crash. So
every job that may call the model (generate, edit, a chat turn, a phrased explanation)
waits here for its turn. Waiting costs nothing but a slot: jobs wait on the event loop, and
each runs in the one worker thread. A waiting job sees its position; beyond `limit` jobs a
new one is refused at once (the API answers 429). A job whose client went away is taken out
of the line, or, when already running, told to stop at its next step or token.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


class QueueFull(RuntimeError):
    """More jobs than the configured limit are waiting or running."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the assistant is busy: {limit} requests are already waiting or "
                         "running; try again shortly")
        self.limit = limit


class Cancelled(Exception):
    """Raised inside a job when its client went away; the pipeline stops there."""


@dataclass
class Ticket:
    """One job's place in line. `position` is 0 while it runs, 1 when it is next."""

    position: int = 0
    cancel: threading.Event = field(default_factory=threading.Event)
    moved: asyncio.Event = field(default_factory=asyncio.Event)

    def check(self) -> None:
        """Stop the job (raise Cancelled) when its client has gone."""
        if self.cancel.is_set():
            raise Cancelled("the client disconnected")


class ModelQueue:
    """Runs jobs one at a time in a dedicated thread, in arrival order."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._line: list[Ticket] = []
        self._running: Ticket | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="plumb-model")
        self.completed = 0

    @property
    def waiting(self) -> int:
        return len(self._line)

    @property
    def busy(self) -> bool:
        return self._running is not None

    def check_room(self) -> None:
        """Raise QueueFull when no job could enter now."""
        if len(self._line) + (1 if self._running else 0) >= self.limit:
            raise QueueFull(self.limit)

    def enter(self) -> Ticket:
        """Take a place in line, or raise QueueFull."""
        self.check_room()
        ticket = Ticket(position=len(self._line) + 1)
        self._line.append(ticket)
        return ticket

    async def turn(self, ticket: Ticket, on_position: Callable[[int], Any] | None = None) -> None:
        """Wait until `ticket` is first and nothing runs; report each change of position."""
        last = -1
        while True:
            if ticket.cancel.is_set():
                self.leave(ticket)
                raise Cancelled("the client disconnected while waiting")
            if self._running is None and self._line and self._line[0] is ticket:
                self._line.pop(0)
                self._running = ticket
                ticket.position = 0
                self._renumber()
                return
            if ticket.position != last and on_position is not None:
                last = ticket.position
                result = on_position(ticket.position)
                if asyncio.iscoroutine(result):
                    await result
            ticket.moved.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ticket.moved.wait(), timeout=1.0)

    async def run(self, ticket: Ticket, work: Callable[[], T]) -> T:
        """Run `work` in the model thread; the ticket must hold the turn."""
        if self._running is not ticket:
            raise RuntimeError("run() without the turn")
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, work)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            # The client went away: tell the job to stop, and keep the turn until the
            # thread is really free, so the next job never starts beside this one.
            ticket.cancel.set()
            with contextlib.suppress(BaseException):
                await future
            raise
        finally:
            self._running = None
            self.completed += 1
            self._renumber()

    async def submit(self, work: Callable[[Ticket], T],
                     on_position: Callable[[int], Any] | None = None) -> T:
        """Enter, wait for the turn and run: the whole life of one job."""
        ticket = self.enter()
        try:
            await self.turn(ticket, on_position)
        except BaseException:
            self.leave(ticket)
            raise
        return await self.run(ticket, lambda: work(ticket))

    def leave(self, ticket: Ticket) -> None:
        """Take a job out of line (its client went away before its turn)."""
        if ticket in self._line:
            self._line.remove(ticket)
            self._renumber()

    def _renumber(self) -> None:
        for number, ticket in enumerate(self._line, start=1):
            ticket.position = number
            ticket.moved.set()

    def shutdown(self) -> None:
        for ticket in self._line:
            ticket.cancel.set()
        if self._running is not None:
            self._running.cancel.set()
        self._executor.shutdown(wait=False, cancel_futures=True)
