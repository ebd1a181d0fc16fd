"""The model `--model fake` serves: no weights, instant, deterministic.

It answers every prompt with pass-through code in a fenced block, streamed a few words at a
time, so the API, the web UI and the editor extension can be exercised end to end (queue,
streaming, cancelling) on a machine without a model. It is never the default.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from assistant.models.base import Completion, Message, TokenCallback

ANSWER = "```javascript\n// pass the message on unchanged\nreturn msg;\n```"


class PassThroughModel:
    name = "fake"
    supports_grammar = False

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay  # seconds per streamed piece: lets tests see a job running
        self.calls = 0
        self._lock = threading.Lock()

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
            self.calls += 1
            pieces = ANSWER.split(" ")
            for number, piece in enumerate(pieces):
                if self.delay:
                    time.sleep(self.delay)
                if on_token is not None:
                    on_token(piece if number == len(pieces) - 1 else piece + " ")
            return Completion(ANSWER, prompt_tokens=sum(len(m["content"].split())
                                                        for m in messages),
                              completion_tokens=len(pieces),
                              seconds=time.monotonic() - started)
