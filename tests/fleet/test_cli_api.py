"""`ask fleet` against a live server: the commands an operator types, their output, and
their clean refusals."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import Engine

from assistant.cli import cli
from runtime.fleet.models import Role
from tests.agent.conftest import good_flow
from tests.fleet.conftest import make_user
from tests.fleet.live import Server


def ask(server: Server, token: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["fleet", *args], env={
        "PLUMB_FLEET_URL": server.url, "PLUMB_FLEET_TOKEN": token})
    return result.exit_code, result.stdout, result.stderr


def test_an_operators_session(live: Server, db: Engine, tmp_path: Path) -> None:
    token = make_user(db, "olivia", Role.owner)["Authorization"].removeprefix("Bearer ")
    code, out, err = ask(live, token, "groups", "--create", "line-3")
    assert code == 0, err
    assert out.startswith("group ")
    group_id = out.split()[1].rstrip(":")

    code, out, err = ask(live, token, "devices", "provision", "--name", "boxes", "--group",
                         group_id, "--uses", "3")
    assert code == 0, err
    assert out.strip().startswith("plumb_p_")

    flow = tmp_path / "flow.json"
    flow.write_text(json.dumps(good_flow("cli")))
    code, out, err = ask(live, token, "snapshots", "create", str(flow), "--name", "first",
                         "--env", "LINE=3", "--json")
    assert code == 0, err
    snapshot = json.loads(out)
    assert len(snapshot["id"]) == 64
    code, out, _ = ask(live, token, "snapshots", "list")
    assert out.startswith(snapshot["id"][:12]) and "first" in out

    # No device is in the group: a precise refusal, exit 1, no traceback.
    code, out, err = ask(live, token, "rollouts", "start", snapshot["id"], "--group", group_id)
    assert code == 1
    assert err.startswith("error: ") and "empty_group" in err and "Traceback" not in err

    code, out, err = ask(live, token, "pipelines", "create", "line-3 path")
    assert code == 0, err
    pipeline = out.split()[1].rstrip(":")
    for name, protected in (("test", []), ("production", ["--protected"])):
        code, out, err = ask(live, token, "pipelines", "add-stage", pipeline, "--name", name,
                             "--group", group_id, *protected)
        assert code == 0, err
    code, out, err = ask(live, token, "pipelines", "list")
    assert "1. production" in out and "protected" in out
    # The first stage has received nothing yet: nothing to promote.
    code, out, err = ask(live, token, "pipelines", "promote", pipeline, "test", "production")
    assert code == 1 and err.startswith("error: ")

    code, out, err = ask(live, token, "audit", "export", "--format", "csv",
                         "--action", "snapshot.")
    assert code == 0, err
    assert out.splitlines()[0].startswith("seq,at,") and "snapshot.created" in out
    code, out, err = ask(live, token, "audit", "verify")
    assert code == 0 and out.startswith("ok: ")


def test_a_viewer_is_refused_with_the_reason(live: Server, db: Engine, tmp_path: Path) -> None:
    token = make_user(db, "vic", Role.viewer)["Authorization"].removeprefix("Bearer ")
    code, _out, err = ask(live, token, "groups", "--create", "x")
    assert code == 1 and "owner" in err and "(forbidden)" in err
    code, _out, err = ask(live, "plumb_u_nonsense", "devices", "list")
    assert code == 1 and "(unauthorized)" in err


def test_users_and_tokens(live: Server, db: Engine) -> None:
    admin = make_user(db, "ada", Role.admin)["Authorization"].removeprefix("Bearer ")
    make_user(db, "bob", Role.viewer)
    code, out, err = ask(live, admin, "users", "list")
    assert code == 0, err
    bob = next(line.split()[0] for line in out.splitlines() if " bob " in line)
    code, out, err = ask(live, admin, "users", "set", bob, "--role", "member", "--disable")
    assert code == 0 and out.strip() == "bob: member, disabled", err

    code, out, err = ask(live, admin, "tokens", "create", "--name", "ci", "--role", "viewer")
    assert code == 0 and out.strip().startswith("plumb_u_"), err
    secret = out.strip()
    code, out, _ = ask(live, secret, "tokens", "list")
    assert code == 0 and " ci " in out and secret not in out
    token_id = next(line.split()[0] for line in out.splitlines() if " ci " in line)
    assert ask(live, admin, "tokens", "revoke", token_id)[0] == 0
    code, _out, err = ask(live, secret, "tokens", "list")
    assert code == 1 and "(unauthorized)" in err
