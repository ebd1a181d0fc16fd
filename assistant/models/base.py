"""What every model backend offers the assistant, and a queue-driven fake for tests.

The pipeline never talks to llama.cpp or an HTTP server directly: it calls `Model.complete`
with chat messages and, where it wants a constrained answer, a GBNF grammar or a JSON
schema. A backend that cannot honour a grammar says so through `supports_grammar`, and the
caller falls back to parsing and checking the text itself.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

Message = dict[str, str]  # {"role": "system"|"user"|"assistant", "content": "..."}
TokenCallback = Callable[[str], None]


class ModelError(RuntimeError):
    """A model could not be loaded or failed while answering; the message says why."""


@dataclass
class Completion:
    """One answer: the text, and what it cost."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    finish_reason: str = "stop"  # "stop" or "length" (cut off by max_tokens)


class Model(Protocol):
    """A chat model. Implementations serialise calls themselves (one inference at a time)."""

    name: str
    supports_grammar: bool

    def complete(
        self,
        messages: list[Message],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        grammar: str | None = None,
        json_schema: dict[str, Any] | None = None,
        stop: list[str] | None = None,
        on_token: TokenCallback | None = None,
    ) -> Completion:
        """Answer the conversation. `grammar` is GBNF text, `json_schema` a JSON Schema the
        answer must follow; pass at most one. `on_token` receives text as it is produced."""
        ...


@dataclass
class FakeCall:
    messages: list[Message]
    grammar: str | None
    json_schema: dict[str, Any] | None
    max_tokens: int


@dataclass
class FakeModel:
    """Answers from a queue, in order, and records every call: the pipeline's test double.

    An entry may be a string (the answer) or an exception instance (raised instead). When the
    queue is empty the fake raises ModelError, so a test that expects fewer calls fails.
    """

    responses: deque[str | BaseException] = field(default_factory=deque)
    name: str = "fake"
    supports_grammar: bool = True
    calls: list[FakeCall] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def of(cls, *responses: str | BaseException, supports_grammar: bool = True) -> FakeModel:
        return cls(deque(responses), supports_grammar=supports_grammar)

    def queue(self, items: Iterable[str | BaseException]) -> None:
        self.responses.extend(items)

    def complete(
        self,
        messages: list[Message],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        grammar: str | None = None,
        json_schema: dict[str, Any] | None = None,
        stop: list[str] | None = None,
        on_token: TokenCallback | None = None,
    ) -> Completion:
        with self._lock:
            started = time.monotonic()
            self.calls.append(FakeCall(list(messages), grammar, json_schema, max_tokens))
            if not self.responses:
                raise ModelError("the fake model has no queued answer left")
            item = self.responses.popleft()
            if isinstance(item, BaseException):
                raise item
            if on_token is not None:
                on_token(item)
            words = len(item.split())
            return Completion(
                item,
                prompt_tokens=sum(len(m["content"].split()) for m in messages),
                completion_tokens=words,
                seconds=time.monotonic() - started,
            )
