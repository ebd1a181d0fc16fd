"""`ask fleet` on the database directly: the first admin, and the auditor's local check."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from sqlalchemy import text

from assistant.cli import cli
from assistant.cli.fleet_resources import parse_waves
from runtime.fleet.db import make_engine


def _invoke(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_the_first_admin_and_a_token(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'fleet.db'}"
    code, out, err = _invoke("fleet", "users", "add", "ada", "--role", "admin",
                             "--password-stdin", "--token-name", "laptop",
                             "--database-url", db, "--data-dir", str(tmp_path),
                             stdin="a long enough password\n")
    assert code == 0, err
    assert out.strip().startswith("plumb_u_")
    code, _out, err = _invoke("fleet", "users", "add", "ada", "--password-stdin",
                              "--database-url", db, "--data-dir", str(tmp_path),
                              stdin="a long enough password\n")
    assert code == 1 and "exists" in err
    code, _out, err = _invoke("fleet", "users", "add", "bob", "--password-stdin",
                              "--database-url", db, "--data-dir", str(tmp_path),
                              stdin="short\n")
    assert code == 1 and "at least" in err


def test_local_verify_finds_an_edit_and_a_cut(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'fleet.db'}"
    for name in ("ada", "bob", "cy"):
        assert _invoke("fleet", "users", "add", name, "--password-stdin", "--database-url", db,
                       stdin="a long enough password\n")[0] == 0
    code, out, _ = _invoke("fleet", "audit", "verify", "--local", "--json",
                           "--database-url", db)
    result = json.loads(out)
    assert code == 0 and result["ok"] and result["rows"] == 3
    head = f"{result['head_seq']}:{result['head_hash']}"

    engine = make_engine(db)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE seq = 3"))
    code, out, _ = _invoke("fleet", "audit", "verify", "--local", "--database-url", db)
    assert code == 0, "a shorter chain is still a valid chain"
    code, out, _ = _invoke("fleet", "audit", "verify", "--local", "--expect-head", head,
                           "--database-url", db)
    assert code == 1 and "cut off" in out

    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET actor = 'x' WHERE seq = 1"))
    code, out, _ = _invoke("fleet", "audit", "verify", "--local", "--database-url", db)
    assert code == 1 and "BROKEN" in out and "row 1" in out


@pytest.mark.parametrize(("text", "waves"), [
    ("1,10%,50%,100%", [{"devices": 1}, {"percent": 10.0}, {"percent": 50.0},
                        {"percent": 100.0}]),
    ("5", [{"devices": 5}]),
    ("exp:1x2", [{"exponential": {"first": 1, "factor": 2.0}}]),
])
def test_waves_are_parsed(text: str, waves: list[dict[str, object]]) -> None:
    assert parse_waves(text) == waves


@pytest.mark.parametrize("text", ["", "0", "150%", "ten", "exp:ax2"])
def test_bad_waves_are_refused(text: str) -> None:
    with pytest.raises(click.BadParameter):
        parse_waves(text)


def test_an_unreachable_server_is_a_clean_error() -> None:
    code, _out, err = _invoke("fleet", "devices", "list", "--server", "http://127.0.0.1:9",
                              "--token", "plumb_u_x")
    assert code == 1
    assert err.startswith("error: cannot reach the fleet server")
