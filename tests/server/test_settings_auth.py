"""Settings from flags, PLUMB_* variables and a TOML file; the refusal to serve a
reachable address without auth; token mode with the fleet's users and roles."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from assistant.server.app import create_app
from assistant.server.fake_model import PassThroughModel
from assistant.server.settings import ServerSettings, SettingsError
from tests.server.conftest import REQUEST, make_settings

API = "/api/v1"


def test_every_setting_is_described() -> None:
    for name, field in ServerSettings.model_fields.items():
        assert field.description and len(field.description) > 15, name


def test_sources_flags_over_env_over_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    config = tmp_path / "plumb.toml"
    config.write_text('port = 9001\nqueue_limit = 5\nmodel = "file-model"\n'
                      '[fleet]\ncheck_in_seconds = 7\n')
    monkeypatch.setenv("PLUMB_CONFIG", str(config))
    monkeypatch.setenv("PLUMB_QUEUE_LIMIT", "6")
    settings = ServerSettings(model="flag-model", data_dir=tmp_path)
    assert settings.port == 9001  # file
    assert settings.queue_limit == 6  # environment over file
    assert settings.model == "flag-model"  # flag over file
    assert settings.fleet.check_in_seconds == 7
    assert settings.fleet.data_dir == tmp_path / "fleet"  # follows data_dir


def test_bad_config_file_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    monkeypatch.setenv("PLUMB_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(SettingsError, match="does not exist"):
        ServerSettings()
    broken = tmp_path / "broken.toml"
    broken.write_text("port = = 1\n")
    monkeypatch.setenv("PLUMB_CONFIG", str(broken))
    with pytest.raises(SettingsError, match="cannot read config file"):
        ServerSettings()


def test_non_loopback_without_auth_is_refused(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, host="0.0.0.0")
    with pytest.raises(SettingsError, match="without authentication"):
        create_app(settings, model=PassThroughModel())
    make_settings(tmp_path, host="0.0.0.0", auth="token").check()
    make_settings(tmp_path, host="::1").check()


def test_ask_serve_refuses_and_explains(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "assistant.cli", "serve", "--host",
                           "192.0.2.1", "--data-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "refusing to listen on 192.0.2.1 without authentication" in done.stderr
    shown = subprocess.run([sys.executable, "-m", "assistant.cli", "serve", "--port", "9123",
                            "--data-dir", str(tmp_path), "--print-settings"],
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert '"port": 9123' in shown.stdout
    bad = subprocess.run([sys.executable, "-m", "assistant.cli", "serve", "--port", "99999",
                          "--data-dir", str(tmp_path)], capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode == 2 and "port" in bad.stderr and "Traceback" not in bad.stderr


def test_token_mode_needs_a_token_and_uses_the_fleet_roles(tmp_path: Path) -> None:
    from runtime.fleet import accounts
    from runtime.fleet.audit import SYSTEM
    from runtime.fleet.models import Role

    app = create_app(make_settings(tmp_path, auth="token"), model=PassThroughModel())
    with TestClient(app) as client:
        refused = client.post(f"{API}/generate", json={"request": REQUEST})
        assert refused.status_code == 401
        assert refused.json()["error"] == "unauthorized"
        assert refused.headers["www-authenticate"] == "Bearer"
        bad = client.post(f"{API}/generate", json={"request": REQUEST},
                          headers={"Authorization": "Bearer plumb_u_not-a-token"})
        assert bad.status_code == 401
        assert client.get(f"{API}/status").status_code == 200  # liveness needs no token
        with app.state.sessions() as db:
            viewer = accounts.create_user(db, SYSTEM, "vic", "a long password 1", Role.viewer)
            _token, secret = accounts.issue_token(db, SYSTEM, viewer, "cli")
            db.commit()
        headers = {"Authorization": f"Bearer {secret}"}
        ok = client.post(f"{API}/generate", json={"request": REQUEST}, headers=headers)
        assert ok.status_code == 200 and ok.json()["outcome"] == "flow"
        # The fleet's roles hold: a viewer cannot make a snapshot to deploy.
        denied = client.post(f"{API}/snapshots", headers=headers,
                             json={"name": "x", "flows": ok.json()["flow"]})
        assert denied.status_code == 403
        assert denied.json()["error"] == "forbidden"
        # No local user was made in token mode.
        from sqlalchemy import select

        from runtime.fleet.models import User

        with app.state.sessions() as db:
            assert db.scalars(select(User.name)).all() == ["vic"]


def test_docs_list_every_setting() -> None:
    import re

    text = (Path(__file__).resolve().parents[2] / "docs" / "server.md").read_text()
    table = text.split("<!-- settings-table -->", 1)[1].split("\n\n", 1)[0]
    documented = re.findall(r"^\| `([a-z_]+)` \|", table, re.MULTILINE)
    assert documented == list(ServerSettings.model_fields)


def test_serve_help_covers_every_option() -> None:
    from click.testing import CliRunner

    from assistant.cli import cli

    result = CliRunner().invoke(cli, ["serve", "--help"])
    assert result.exit_code == 0
    command = cli.commands["serve"]
    for param in command.params:
        if param.name != "help":
            assert getattr(param, "help", None), param.name
    assert "/v1/chat/completions" in result.output


def test_local_mode_survives_its_token_being_revoked(client: TestClient) -> None:
    tokens = client.get(f"{API}/tokens").json()["data"]
    local = next(t for t in tokens if t["name"] == "local single-user mode")
    assert client.delete(f"{API}/tokens/{local['id']}").status_code == 204
    # The next request makes a new row for the local user instead of locking them out.
    again = client.get(f"{API}/sessions")
    assert again.status_code == 200
    names = [t["name"] for t in client.get(f"{API}/tokens").json()["data"]]
    assert names.count("local single-user mode") == 1
