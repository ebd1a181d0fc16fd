"""`ask models`: list, add, remove, path, verify with a temporary data dir."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from assistant.cli import cli

GGUF = b"GGUF" + bytes(range(256)) * 4
SHA = hashlib.sha256(GGUF).hexdigest()


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PLUMB_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("PLUMB_MODEL", raising=False)
    return tmp_path / "data"


@pytest.fixture
def gguf(tmp_path: Path) -> Path:
    path = tmp_path / "mine.gguf"
    path.write_bytes(GGUF)
    return path


def ask(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["models", *args])
    return result.exit_code, result.stdout, result.stderr


def test_list_is_the_default_and_marks_the_default_model(data: Path) -> None:
    code, out, _ = ask()
    assert code == 0
    assert ask("list")[1] == out
    lines = out.splitlines()
    assert len(lines) == 3
    assert lines[1].startswith("* qwen2.5-coder-0.5b") and "491 MB" in lines[1]
    assert lines[2].startswith("  qwen2.5-coder-1.5b") and "1,117 MB" in lines[2]


def test_list_json(data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLUMB_MODEL", "smollm2-135m")
    code, out, _ = ask("list", "--json")
    assert code == 0
    listing = json.loads(out)
    assert listing["default"] == "smollm2-135m" and listing["error"] is None
    rows = {row["name"]: row for row in listing["models"]}
    assert rows["smollm2-135m"]["default"] and not rows["qwen2.5-coder-0.5b"]["default"]
    assert rows["qwen2.5-coder-1.5b"]["size"] == 1_117_320_768
    assert rows["qwen2.5-coder-1.5b"]["state"] in ("not installed", "some packages missing", "packages installed, not assembled", "installed")


def test_add_gguf_list_path_verify_remove(data: Path, gguf: Path) -> None:
    code, out, _ = ask("add", "mine", "--gguf", str(gguf), "--chat-format", "chatml", "--ctx", "2048", "--description", "my model")
    assert code == 0 and "added mine" in out and "PLUMB_MODEL=mine" in out
    entry = json.loads((data / "models.json").read_text())["models"][0]
    assert entry == {"name": "mine", "backend": "llama", "description": "my model", "path": str(gguf), "sha256": SHA, "size": len(GGUF), "chat_format": "chatml", "n_ctx": 2048}
    listing = ask("list")[1]
    assert "mine" in listing and "installed" in listing and "my model" in listing
    assert ask("path", "mine")[:2] == (0, f"{gguf}\n")
    code, out, _ = ask("verify", "mine")
    assert code == 0 and SHA in out
    code, _, err = ask("add", "mine", "--gguf", str(gguf))
    assert code == 1 and "already exists" in err
    gguf.write_bytes(GGUF[:-1] + b"!")
    code, _, err = ask("verify", "mine")
    assert code == 1 and "sha256 mismatch" in err and SHA in err
    code, out, _ = ask("remove", "mine")
    assert code == 0 and f"{gguf} is left in place" in out and gguf.exists()
    assert json.loads((data / "models.json").read_text()) == {"models": []}


def test_add_checks_the_given_sha256_and_the_file_kind(data: Path, gguf: Path, tmp_path: Path) -> None:
    code, _, err = ask("add", "mine", "--gguf", str(gguf), "--sha256", "0" * 64)
    assert code == 1 and "does not match --sha256" in err and SHA in err and "0" * 64 in err
    assert ask("add", "mine", "--gguf", str(gguf), "--sha256", f"sha256:{SHA.upper()}")[0] == 0
    code, _, err = ask("add", "mine2", "--gguf", str(gguf), "--sha256", "xyz")
    assert code == 2 and "64 hexadecimal digits" in err
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    code, _, err = ask("add", "notes", "--gguf", str(text))
    assert code == 1 and "is not a GGUF file" in err
    code, _, err = ask("add", "bad name", "--gguf", str(gguf))
    assert code == 1 and "not a usable model name" in err


def test_add_openai(data: Path) -> None:
    code, _, _ = ask("add", "lab", "--openai", "http://10.0.0.5:8080/v1/", "--remote-model", "qwen", "--api-key-env", "LAB_KEY", "--server-grammar")
    assert code == 0
    entry = json.loads((data / "models.json").read_text())["models"][0]
    assert entry["base_url"] == "http://10.0.0.5:8080/v1" and entry["server_grammar"] is True
    assert "remote" in ask("list")[1]
    code, _, err = ask("path", "lab")
    assert code == 1 and "has no local file" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["x"], "exactly one of --gguf PATH or --openai URL"),
        (["x", "--openai", "http://h"], "--openai needs --remote-model"),
        (["x", "--openai", "h:80", "--remote-model", "m"], "must start with http"),
        (["x", "--openai", "http://h", "--remote-model", "m", "--chat-format", "chatml"], "--chat-format only apply to --gguf"),
        (["x", "--gguf", "/no/such/file.gguf"], "does not exist"),
    ],
)
def test_add_usage_errors_exit_2(data: Path, args: list[str], message: str) -> None:
    code, _, err = ask("add", *args)
    assert code == 2 and message in err


def test_clean_errors_exit_1(data: Path) -> None:
    code, _, err = ask("remove", "smollm2-135m")
    assert code == 1 and err.startswith("error: ") and "cannot be removed" in err
    code, _, err = ask("path", "qwen2.5-coder-05b")
    assert code == 1 and "did you mean qwen2.5-coder-0.5b" in err
    code, _, err = ask("remove", "nothing")
    assert code == 1 and "no user model called 'nothing'" in err
    code, _, err = ask("install", "nothing")
    assert code == 1 and "unknown model" in err and "Traceback" not in err


def test_not_installed_model_path_names_the_install_command(data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from assistant.models import install

    monkeypatch.setattr(install, "locate_part", lambda *_args: None)
    code, _, err = ask("path", "qwen2.5-coder-1.5b")
    assert code == 1 and "`ask models install qwen2.5-coder-1.5b`" in err
    code, _, err = ask("verify", "qwen2.5-coder-1.5b")
    assert code == 1 and "not installed" in err


def test_a_broken_models_json_is_reported_and_kept(data: Path, gguf: Path) -> None:
    data.mkdir()
    broken = '{"models": [{"name": "x", "backend": "llama", "path": "m"}]}'
    (data / "models.json").write_text(broken)
    code, out, err = ask("list")
    assert code == 1 and "smollm2-135m" in out  # the built-in models are still listed
    assert "models.json: model 1 ('x'): 'sha256' is missing" in err
    code, _, err = ask("add", "mine", "--gguf", str(gguf))
    assert code == 1 and "'sha256' is missing" in err
    assert (data / "models.json").read_text() == broken


def test_every_command_and_option_is_documented() -> None:
    group = cli.commands["models"]
    assert isinstance(group, click.Group) and group.help
    for name, command in group.commands.items():
        assert command.help, name
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"{name} {param.opts}"
        assert CliRunner().invoke(cli, ["models", name, "--help"]).exit_code == 0
