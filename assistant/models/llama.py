"""A GGUF model run in-process by llama.cpp (through llama-cpp-python).

llama_cpp is imported only when a model is loaded, so the CLI starts fast and the rest of
Plumb works without it. One `Llama` object holds the weights and the KV cache; a lock lets one
inference run at a time (llama.cpp contexts are not thread-safe), and a repeated prompt prefix
is served from the cache llama-cpp-python keeps between calls.
"""

from __future__ import annotations

import importlib
import json
import threading
import time
from pathlib import Path
from typing import Any

from assistant.models.base import Completion, Message, ModelError, TokenCallback
from assistant.models.registry import ModelSpec

SEED = 1234  # fixed: the same request gives the same answer, also at temperature > 0
PROMPT_CACHE_BYTES = 600 * 1024 * 1024
N_BATCH = 512  # prompt tokens evaluated per step: llama.cpp's default, fine on 2 cores


def import_llama_cpp() -> Any:
    """The llama_cpp module, or a ModelError saying how to install it."""
    try:
        return importlib.import_module("llama_cpp")
    except ImportError as exc:
        raise ModelError(
            f"local models need llama-cpp-python ({exc}); install it with "
            "`pip install 'plumb[llm]'`"
        ) from None


class LlamaModel:
    """A local GGUF model. `complete` follows `base.Model`."""

    supports_grammar = True

    def __init__(
        self,
        path: Path,
        *,
        name: str,
        n_ctx: int = 4096,
        n_threads: int = 2,
        chat_format: str | None = None,
        seed: int = SEED,
        prompt_cache: Path | None = None,
    ) -> None:
        llama_cpp = import_llama_cpp()
        self.name = name
        self.path = path
        self._seed = seed
        self._module = llama_cpp
        self._lock = threading.Lock()
        # GBNF text -> a checked LlamaGrammar; JSON schemas are converted once (in Python,
        # which is not free) and then cached under their canonical text like any grammar.
        self._grammars: dict[str, Any] = {}
        try:
            self._llm = llama_cpp.Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_threads=n_threads,
                n_threads_batch=n_threads,
                n_batch=min(N_BATCH, n_ctx),
                seed=seed,
                chat_format=chat_format,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelError(f"llama.cpp could not load {path}: {exc}") from None
        if prompt_cache is not None:
            # The KV state of earlier prompts, on disk: a new process (one `ask generate`)
            # starts from the cached system prompt instead of evaluating it again, which
            # is most of the time on a 2-core CPU. Keyed by tokens, so a changed prompt
            # simply misses.
            try:
                prompt_cache.mkdir(parents=True, exist_ok=True)
                self._llm.set_cache(_quiet_disk_cache(llama_cpp, prompt_cache))
            except OSError:
                pass  # a read-only data dir only costs speed

    @classmethod
    def from_spec(cls, spec: ModelSpec, path: Path) -> LlamaModel:
        return cls(
            path,
            name=spec.name,
            n_ctx=spec.n_ctx,
            n_threads=spec.n_threads,
            chat_format=spec.chat_format,
            prompt_cache=prompt_cache_dir(spec.name),
        )

    @property
    def n_ctx(self) -> int:
        return int(self._llm.n_ctx())

    def count_tokens(self, text: str) -> int:
        """Tokens `text` takes (no BOS), e.g. to check a prompt fits the context."""
        with self._lock:
            return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def grammar(self, gbnf: str | None = None, json_schema: dict[str, Any] | None = None) -> Any:
        """The compiled grammar for GBNF text or a JSON schema (None for neither), cached.

        llama.cpp rejects a bad grammar by returning no sampler, which llama-cpp-python does
        not check (the process then crashes while sampling), so each new grammar is tried
        once here and refused with a ModelError."""
        if gbnf is not None and json_schema is not None:
            raise ModelError("pass a grammar or a JSON schema, not both")
        if json_schema is not None:
            key = "schema:" + json.dumps(json_schema, sort_keys=True)
        elif gbnf is not None:
            key = gbnf
        else:
            return None
        cached = self._grammars.get(key)
        if cached is not None:
            return cached
        grammar_module = importlib.import_module("llama_cpp.llama_grammar")
        try:
            if json_schema is not None:
                gbnf = grammar_module.json_schema_to_gbnf(json.dumps(json_schema))
        except Exception as exc:  # the converter raises plain Exceptions and more
            raise ModelError(
                f"llama.cpp cannot turn this JSON schema into a grammar: {exc}"
            ) from None
        assert gbnf is not None
        self._check_grammar(gbnf)
        compiled = grammar_module.LlamaGrammar.from_string(gbnf, verbose=False)
        self._grammars[key] = compiled
        return compiled

    def _check_grammar(self, gbnf: str) -> None:
        llama_cpp = self._module
        vocab = llama_cpp.llama_model_get_vocab(self._llm.model)
        sampler = llama_cpp.llama_sampler_init_grammar(vocab, gbnf.encode("utf-8"), b"root")
        if not sampler:
            raise ModelError(
                "llama.cpp rejected the grammar (a syntax error, an undefined rule, or no "
                "'root' rule):\n" + gbnf[:2000]
            )
        llama_cpp.llama_sampler_free(sampler)

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
        """See `base.Model.complete`. Token counts are exact without `on_token`; when
        streaming, llama-cpp-python reports no usage and they are counted from the stream
        (within a token or two). An exception raised by `on_token` stops the generation."""
        with self._lock:
            compiled = self.grammar(grammar, json_schema)
            arguments: dict[str, Any] = {
                "messages": messages,
                "max_tokens": max_tokens,
                "temperature": temperature,
                "stop": stop or [],
                "grammar": compiled,
                "seed": self._seed,
            }
            started = time.perf_counter()
            try:
                if on_token is None:
                    completion = self._complete(arguments)
                else:
                    completion = self._stream(arguments, on_token)
            except (ValueError, RuntimeError) as exc:
                # e.g. "Requested tokens (5000) exceed context window of 4096"
                raise ModelError(f"{self.name}: {exc}") from None
            completion.seconds = time.perf_counter() - started
            return completion

    def _complete(self, arguments: dict[str, Any]) -> Completion:
        result = self._llm.create_chat_completion(**arguments, stream=False)
        choice = result["choices"][0]
        usage = result.get("usage") or {}
        return Completion(
            text=choice["message"].get("content") or "",
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
            finish_reason=_finish(choice.get("finish_reason")),
        )

    def _stream(self, arguments: dict[str, Any], on_token: TokenCallback) -> Completion:
        pieces: list[str] = []
        finish = "stop"
        chunks = self._llm.create_chat_completion(**arguments, stream=True)
        try:
            for chunk in chunks:
                choice = chunk["choices"][0]
                piece = choice.get("delta", {}).get("content")
                if piece:
                    pieces.append(piece)
                    on_token(piece)
                if choice.get("finish_reason"):
                    finish = _finish(choice["finish_reason"])
        finally:
            chunks.close()
        # After a run, the context holds the prompt and every generated token but the last.
        generated = len(pieces)
        prompt = max(0, int(self._llm.n_tokens) - generated + (1 if finish == "length" else 0))
        return Completion(
            text="".join(pieces),
            prompt_tokens=prompt,
            completion_tokens=generated,
            finish_reason=finish,
        )


def prompt_cache_dir(name: str) -> Path | None:
    """$PLUMB_DATA_DIR/prompt-cache/NAME; None when PLUMB_PROMPT_CACHE=0 turns it off."""
    import os

    from corpus.datadir import data_dir

    if os.environ.get("PLUMB_PROMPT_CACHE", "1") == "0":
        return None
    return data_dir() / "prompt-cache" / name


def _quiet_disk_cache(llama_cpp: Any, directory: Path) -> Any:
    """llama-cpp-python's disk cache, minus the debug lines its `__setitem__` prints."""

    class QuietDiskCache(llama_cpp.LlamaDiskCache):  # type: ignore[misc]
        def __setitem__(self, key: Any, value: Any) -> None:
            key = tuple(key)
            if key in self.cache:
                del self.cache[key]
            self.cache[key] = value
            while self.cache_size > self.capacity_bytes and len(self.cache) > 0:
                del self.cache[next(iter(self.cache))]

    return QuietDiskCache(cache_dir=str(directory), capacity_bytes=PROMPT_CACHE_BYTES)


def _finish(reason: Any) -> str:
    return "length" if reason == "length" else "stop"
