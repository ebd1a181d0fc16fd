"""The one object that owns the model: loads it, queues the jobs that use it, and turns a
job into a JSON answer or an SSE stream."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import StreamingResponse

from assistant.models.base import Completion, Message, Model, ModelError, TokenCallback
from assistant.server.events import DONE, ERROR, QUEUED, RESULT, STARTED, EventChannel, sse_response
from assistant.server.queue import Cancelled, ModelQueue, QueueFull, Ticket
from assistant.server.settings import ServerSettings

log = logging.getLogger("plumb.server")
MODEL_UNAVAILABLE = "model_unavailable"  # the error code of a job the model could not run

Job = Callable[[Ticket, Callable[[str, dict[str, Any]], None]], dict[str, Any]]


class Unavailable:
    """Stands in for a model that could not be loaded: every use raises the load error,
    so requests that need no model still work and the others say what to install."""

    supports_grammar = False

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason

    def complete(self, messages: list[Message], *, max_tokens: int = 256,
                 temperature: float = 0.0, grammar: str | None = None,
                 json_schema: dict[str, Any] | None = None, stop: list[str] | None = None,
                 on_token: TokenCallback | None = None) -> Completion:
        raise ModelError(self.reason)


class AssistantService:
    def __init__(self, settings: ServerSettings, model: Model | None = None) -> None:
        self.settings = settings
        self.queue = ModelQueue(settings.queue_limit)
        self._model = model
        self.model_state = "loaded" if model is not None else "not loaded"
        self.model_error: str | None = None
        self._load_lock = threading.Lock()
        self.started_at = time.time()
        self._tasks: set[asyncio.Task[None]] = set()

    # --- the model ------------------------------------------------------------------

    @property
    def model_name(self) -> str:
        if self._model is not None:
            return self._model.name
        return self.settings.model or "default"

    def model(self) -> Model:
        """The model, loaded on first use (in the model thread, under the queue's turn)."""
        with self._load_lock:
            if self._model is None:
                self._model = self._load()
            return self._model

    def _load(self) -> Model:
        if self.settings.model == "fake":
            from assistant.server.fake_model import PassThroughModel

            self.model_state = "loaded"
            return PassThroughModel()
        from assistant.models.loading import load_model

        self.model_state = "loading"
        try:
            model = load_model(self.settings.model or None, progress=log.info)
        except ModelError as exc:
            self.model_state = "unavailable"
            self.model_error = str(exc)
            log.warning("model unavailable: %s", exc)
            return Unavailable(self.settings.model or "default", str(exc))
        self.model_state = "loaded"
        return model

    async def preload(self) -> None:
        """Load the model as the first job, so requests queue behind the load."""
        await self.queue.submit(lambda _ticket: self.model())

    # --- jobs -----------------------------------------------------------------------

    async def run(self, job: Job) -> dict[str, Any]:
        """Run a job and return its result (no streaming). Raises QueueFull."""
        return await self.queue.submit(lambda ticket: job(ticket, lambda _n, _d: None))

    def start(self, job: Job) -> tuple[EventChannel, Callable[[], None]]:
        """Queue a job and run it in the background; its events arrive on the channel
        (queued*, started, step*, token*, result or error, done). Returns the channel and
        the function that cancels the job (its client went away). Raises QueueFull before
        anything starts."""
        ticket = self.queue.enter()
        channel = EventChannel()

        async def drive() -> None:
            try:
                await self.queue.turn(
                    ticket, lambda position: channel.put_now(QUEUED, {"position": position}))
                channel.put_now(STARTED, {"model": self.model_name})
                result = await self.queue.run(ticket, lambda: job(ticket, channel.put))
                channel.put_now(RESULT, result)
            except Cancelled:
                log.info("job cancelled: the client went away")
            except asyncio.CancelledError:
                raise
            except ModelError as exc:
                channel.put_now(ERROR, {"error": MODEL_UNAVAILABLE,
                                        "message": f"the model is unavailable: {exc}"})
            except Exception as exc:  # reported to the client, never a dead stream
                log.exception("job failed")
                channel.put_now(ERROR, {"error": "internal_error",
                                        "message": f"{type(exc).__name__}: {exc}"})
            finally:
                self.queue.leave(ticket)
                channel.put_now(DONE, {})
                channel.close()

        task = asyncio.get_running_loop().create_task(drive())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

        def cancel() -> None:
            ticket.cancel.set()
            ticket.moved.set()

        return channel, cancel

    def stream(self, request: Request, job: Job) -> StreamingResponse:
        """Run a job and stream its events as Plumb's SSE. Raises QueueFull before
        anything is sent."""
        channel, cancel = self.start(job)
        return sse_response(request, channel, cancel)

    def serving_name(self) -> str:
        """The model this server answers with, by its registry name."""
        name = str(self.model_name)
        if name == "default":
            from assistant.models.registry import default_model_name

            return default_model_name()
        return name

    def status(self) -> dict[str, Any]:
        return {
            "model": self.model_name,
            "model_state": self.model_state,
            "model_error": self.model_error,
            "queue": {"running": self.queue.busy, "waiting": self.queue.waiting,
                      "limit": self.queue.limit, "completed": self.queue.completed},
            "uptime_seconds": round(time.time() - self.started_at, 1),
        }

    def shutdown(self) -> None:
        self.queue.shutdown()


__all__ = ["AssistantService", "QueueFull"]
