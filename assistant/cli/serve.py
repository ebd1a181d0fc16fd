"""`ask serve`: the assistant, the fleet and the web UI in one local server."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from assistant.cli import cli


def load_settings(*, check: bool = True, **flags: Any) -> Any:
    """ServerSettings from flags (those given), PLUMB_* variables and the config file;
    a clean error instead of a traceback when they do not fit together. `check` refuses
    what must not listen (stdio needs no such check)."""
    from pydantic import ValidationError

    from assistant.server.settings import ServerSettings, SettingsError

    given = {key: value for key, value in flags.items() if value is not None}
    try:
        settings = ServerSettings(**given)
        if check:
            settings.check()
    except SettingsError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except ValidationError as exc:
        for problem in exc.errors():
            where = ".".join(str(p) for p in problem["loc"]) or "settings"
            click.echo(f"error: {where}: {problem['msg']}", err=True)
        sys.exit(2)
    return settings


@cli.command("serve")
@click.option("--host", help="Address to listen on [default: 127.0.0.1]. A non-loopback "
              "address needs --auth token.")
@click.option("--port", type=int, help="Port to listen on [default: 8700].")
@click.option("--auth", type=click.Choice(["local", "token"]),
              help="local: single user, no login, loopback only [default]. token: fleet "
              "users log in; requests carry their token and act with their role.")
@click.option("--model", help="Model to answer with (see `ask models`; 'fake' for a "
              "weightless pass-through model) [default: $PLUMB_MODEL or the built-in "
              "default].")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for chat sessions, the docs index and the fleet "
              "[default: $PLUMB_DATA_DIR or ~/.local/share/plumb].")
@click.option("--queue-limit", type=int,
              help="Model requests waiting or running at once; more get 429 [default: 32].")
@click.option("--no-preload", "no_preload", is_flag=True, default=None,
              help="Load the model on the first request instead of at start.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
              help="TOML config file [default: $PLUMB_CONFIG or DATA_DIR/plumb.toml]; its "
              "keys are the settings' names, the fleet's under [fleet].")
@click.option("--print-settings", is_flag=True,
              help="Print the settings in force, as JSON, and exit.")
def serve_command(host: str | None, port: int | None, auth: str | None, model: str | None,
                  data_dir: Path | None, queue_limit: int | None, no_preload: bool | None,
                  config_file: Path | None, print_settings: bool) -> None:
    """Serve Plumb at http://127.0.0.1:8700: the chat web UI, the REST API under
    /api/v1 (generate, edit, explain, validate, docs, sessions, models, the fleet),
    OpenAI-compatible /v1/chat/completions and /v1/models, and MCP at /mcp.

    Settings come from these flags, then PLUMB_* environment variables (PLUMB_PORT,
    PLUMB_MODEL, PLUMB_FLEET_DATABASE_URL, ...), then the config file, then defaults.
    Stop with Ctrl-C: requests in progress get 10 s to finish, then running and queued
    model jobs are cancelled.
    """
    import os

    if config_file is not None:
        os.environ["PLUMB_CONFIG"] = str(config_file)
    settings = load_settings(host=host, port=port, auth=auth, model=model, data_dir=data_dir,
                             queue_limit=queue_limit,
                             preload_model=False if no_preload else None)
    if print_settings:
        click.echo(settings.model_dump_json(indent=2))
        return
    import logging

    import uvicorn

    from assistant.server.app import create_app

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    app = create_app(settings)
    shown = "localhost" if settings.is_loopback() else settings.host
    click.echo(f"Plumb on http://{shown}:{settings.port}  (auth: {settings.auth}, model: "
               f"{settings.model or 'default'}, data: {settings.data_dir})", err=True)
    try:
        uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning",
                    timeout_graceful_shutdown=10)
    except OSError as exc:
        click.echo(f"error: cannot listen on {settings.host}:{settings.port}: {exc}", err=True)
        sys.exit(1)
