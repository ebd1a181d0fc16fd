"""A model behind an OpenAI-compatible HTTP server (llama.cpp's llama-server, vLLM, Ollama,
or a hosted API), over urllib: no extra dependency.

Constraints: a JSON schema goes out as the standard `response_format` of type
"json_schema", which these servers honour to varying degrees. GBNF has no place in the
standard API; llama-server accepts it as an extra "grammar" field, so it is sent only for a
model added with --server-grammar (others reject unknown fields, or ignore them). Only then
is `supports_grammar` True, i.e. only then may the pipeline count on constrained output;
otherwise it checks the text itself, as the protocol says.

Answers are fetched whole (no streaming): `on_token` receives the full text once.
"""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
import urllib.error
import urllib.request
from typing import Any

from assistant.models.base import Completion, Message, ModelError, TokenCallback
from assistant.models.registry import ModelSpec

DEFAULT_TIMEOUT = 300.0  # seconds; a small server on an edge box can be slow


class OpenAIModel:
    """A chat model served at `base_url` (the part before /chat/completions)."""

    def __init__(
        self,
        base_url: str,
        remote_model: str,
        *,
        name: str,
        api_key: str | None = None,
        server_grammar: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.remote_model = remote_model
        self.supports_grammar = server_grammar
        self._api_key = api_key
        self._timeout = timeout
        self._lock = threading.Lock()  # one request at a time, like the local backend

    @classmethod
    def from_spec(cls, spec: ModelSpec, *, timeout: float = DEFAULT_TIMEOUT) -> OpenAIModel:
        assert spec.base_url is not None and spec.remote_model is not None
        api_key = None
        if spec.api_key_env:
            api_key = os.environ.get(spec.api_key_env)
            if not api_key:
                raise ModelError(
                    f"model {spec.name!r} reads its API key from ${spec.api_key_env}, "
                    "which is not set"
                )
        return cls(
            spec.base_url,
            spec.remote_model,
            name=spec.name,
            api_key=api_key,
            server_grammar=spec.server_grammar,
            timeout=timeout,
        )

    def request_body(
        self,
        messages: list[Message],
        *,
        max_tokens: int,
        temperature: float,
        grammar: str | None,
        json_schema: dict[str, Any] | None,
        stop: list[str] | None,
    ) -> dict[str, Any]:
        if grammar is not None and json_schema is not None:
            raise ModelError("pass a grammar or a JSON schema, not both")
        body: dict[str, Any] = {
            "model": self.remote_model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stream": False,
        }
        if stop:
            body["stop"] = stop
        if json_schema is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "answer", "strict": True, "schema": json_schema},
            }
        if grammar is not None and self.supports_grammar:
            body["grammar"] = grammar
        return body

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
        """See `base.Model.complete` and the module doc for what constraints reach the
        server."""
        body = self.request_body(
            messages,
            max_tokens=max_tokens,
            temperature=temperature,
            grammar=grammar,
            json_schema=json_schema,
            stop=stop,
        )
        with self._lock:
            started = time.perf_counter()
            answer = self._post("/chat/completions", body)
            completion = _parse(answer, self.base_url)
            completion.seconds = time.perf_counter() - started
        if on_token is not None and completion.text:
            on_token(completion.text)
        return completion

    def _post(self, route: str, body: dict[str, Any]) -> Any:
        url = self.base_url + route
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        request = urllib.request.Request(
            url, data=json.dumps(body).encode("utf-8"), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise ModelError(_http_error(url, exc)) from None
        except urllib.error.URLError as exc:
            raise ModelError(_unreachable(url, exc.reason, self._timeout)) from None
        except (TimeoutError, ConnectionError, http.client.HTTPException) as exc:
            raise ModelError(_unreachable(url, exc, self._timeout)) from None
        try:
            return json.loads(raw)
        except ValueError:
            raise ModelError(
                f"{url} answered something that is not JSON: {_excerpt(raw)}"
            ) from None


def _parse(answer: Any, base_url: str) -> Completion:
    try:
        choice = answer["choices"][0]
        text = choice["message"].get("content") or ""
        if not isinstance(text, str):
            raise TypeError("content is not text")
    except (KeyError, IndexError, TypeError, AttributeError):
        raise ModelError(
            f"{base_url}/chat/completions answered JSON that is not a chat completion: "
            f"{_excerpt(json.dumps(answer).encode())}"
        ) from None
    usage = answer.get("usage") or {}
    return Completion(
        text=text,
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
        finish_reason="length" if choice.get("finish_reason") == "length" else "stop",
    )


def _excerpt(raw: bytes, limit: int = 300) -> str:
    text = raw.decode("utf-8", "replace").strip()
    return repr(text[:limit] + (" ..." if len(text) > limit else ""))


def _http_error(url: str, exc: urllib.error.HTTPError) -> str:
    raw = exc.read() if exc.fp is not None else b""
    detail = _excerpt(raw)
    try:
        message = json.loads(raw)["error"]
        detail = message["message"] if isinstance(message, dict) else str(message)
    except (ValueError, KeyError, TypeError):
        pass
    hint = ""
    if exc.code in (401, 403):
        hint = " (check the API key: `ask models add ... --api-key-env VAR`)"
    elif exc.code == 404:
        hint = " (is the base URL right? it usually ends in /v1)"
    return f"{url} answered HTTP {exc.code} {exc.reason}: {detail}{hint}"


def _unreachable(url: str, reason: Any, timeout: float) -> str:
    if isinstance(reason, TimeoutError):
        return f"no answer from {url} within {timeout:g} s"
    if isinstance(reason, ConnectionRefusedError):
        return f"cannot connect to {url}: connection refused (is the server running?)"
    return f"cannot reach {url}: {reason}"
