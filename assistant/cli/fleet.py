"""`ask fleet`: run the fleet server and work with it from the command line.

`serve`, `users add` and `audit verify --local` work on the database directly (they are how
an installation starts, and how an auditor checks the log without trusting the server);
every other command talks to a running server through its API, with the server URL and a
token from --server/--token or PLUMB_FLEET_URL/PLUMB_FLEET_TOKEN.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import click

from assistant.cli import cli


def fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _settings(database_url: str | None, data_dir: Path | None) -> Any:
    try:
        from runtime.fleet.settings import FleetSettings
    except ImportError as exc:
        fail(f"the fleet needs its extra: pip install 'plumb[fleet]' ({exc})")
    values: dict[str, Any] = {}
    if database_url:
        values["database_url"] = database_url
    if data_dir:
        values["data_dir"] = data_dir
    return FleetSettings(**values)


def _db_options(func: Any) -> Any:
    func = click.option("--database-url", envvar="PLUMB_FLEET_DATABASE_URL",
                        help="SQLAlchemy URL of the fleet database (default: SQLite in the "
                             "data folder).")(func)
    return click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
                        envvar="PLUMB_FLEET_DATA_DIR",
                        help="Folder for the SQLite database and the server's keys "
                             "(default: $PLUMB_DATA_DIR/fleet).")(func)


def api_options(func: Any) -> Any:
    func = click.option("--server", envvar="PLUMB_FLEET_URL", default="http://127.0.0.1:8710",
                        show_default=True, help="The fleet server's URL.")(func)
    func = click.option("--token", envvar="PLUMB_FLEET_TOKEN",
                        help="A user API token (PLUMB_FLEET_TOKEN); `ask fleet login` "
                             "prints one.")(func)
    return click.option("--json", "as_json", is_flag=True,
                        help="Print the server's answer as JSON.")(func)


@contextmanager
def api_client(server: str, token: str | None) -> Iterator[Any]:
    from runtime.fleet.client import FleetClient, FleetClientError

    client = FleetClient(server, token)
    try:
        yield client
    except FleetClientError as exc:
        where = f" ({exc.code})" if exc.code else ""
        fail(f"{exc}{where}")
    finally:
        client.close()


def show(value: Any, as_json: bool, lines: list[str] | None = None) -> None:
    if as_json or lines is None:
        click.echo(json.dumps(value, indent=2, default=str))
    else:
        for line in lines:
            click.echo(line)


@cli.group("fleet")
def fleet_group() -> None:
    """Snapshots, devices, staged rollouts and the audit log for a fleet of devices.

    Start with `ask fleet serve` and `ask fleet users add NAME --role admin`; devices join
    with `ask agent --server URL --token PROVISIONING_TOKEN`.
    """


# -- server and local administration ------------------------------------------------------
@fleet_group.command("serve")
@_db_options
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0: every interface; put TLS in front).")
@click.option("--port", type=click.IntRange(1, 65535), default=8710, show_default=True,
              help="Port to listen on.")
def serve_command(database_url: str | None, data_dir: Path | None, host: str,
                  port: int) -> None:
    """Run the fleet server in the foreground until Ctrl-C.

    The database is created or migrated to the newest schema first; the signing key and
    the credentials key are made in the data folder on the first start.
    """
    import uvicorn

    from runtime.fleet.app import create_fleet_app

    settings = _settings(database_url, data_dir)
    app = create_fleet_app(settings)
    click.echo(f"fleet server on http://{host}:{port} (database {settings.url()})", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")


@fleet_group.group("users")
def users_group() -> None:
    """Users of the fleet server."""


@users_group.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(["viewer", "member", "owner", "admin"]),
              default="viewer", show_default=True, help="What the user may do.")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from standard input instead of prompting.")
@click.option("--token-name", help="Also make an API token with this name and print it.")
@_db_options
def users_add_command(name: str, role: str, password_stdin: bool, token_name: str | None,
                      database_url: str | None, data_dir: Path | None) -> None:
    """Add a user directly in the database (how the first admin is made)."""
    from runtime.fleet import accounts
    from runtime.fleet.audit import Actor
    from runtime.fleet.db import make_engine, migrate, session_factory, transaction
    from runtime.fleet.errors import FleetError
    from runtime.fleet.models import ActorKind, Role

    settings = _settings(database_url, data_dir)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("password", hide_input=True, confirmation_prompt=True)
    engine = make_engine(settings.url())
    migrate(engine)
    actor = Actor(ActorKind.system, "ask fleet users add", "local")
    try:
        with transaction(session_factory(engine)) as session:
            user = accounts.create_user(session, actor, name, password, Role(role),
                                        settings.password_min_length)
            secret = None
            if token_name:
                _token, secret = accounts.issue_token(session, actor, user, token_name)
    except FleetError as exc:
        fail(exc.message)
    click.echo(f"added {role} {name}", err=True)
    if secret:
        click.echo(secret)


@users_group.command("list")
@api_options
def users_list(server: str, token: str | None, as_json: bool) -> None:
    """List the server's users (admins)."""
    with api_client(server, token) as client:
        answer = client.get("/users")
    show(answer, as_json, [f"{u['id']}  {u['name']:<20} {u['role']:<7}"
                             f"{'  disabled' if u['disabled'] else ''}"
                             for u in answer["data"]])


@users_group.command("set")
@click.argument("user_id", type=int)
@click.option("--role", type=click.Choice(["viewer", "member", "owner", "admin"]),
              help="A new role.")
@click.option("--disable/--enable", "disabled", default=None,
              help="Disable the user (their tokens stop working at once), or enable again.")
@api_options
def users_set(user_id: int, role: str | None, disabled: bool | None, server: str,
              token: str | None, as_json: bool) -> None:
    """Change a user's role, or disable or enable them (admins)."""
    body: dict[str, Any] = {}
    if role:
        body["role"] = role
    if disabled is not None:
        body["disabled"] = disabled
    if not body:
        raise click.UsageError("give --role, --disable or --enable")
    with api_client(server, token) as client:
        answer = client.patch(f"/users/{user_id}", body)
    show(answer, as_json, [f"{answer['name']}: {answer['role']}"
                             f"{', disabled' if answer['disabled'] else ''}"])


@fleet_group.group("tokens")
def tokens_group() -> None:
    """Your API tokens."""


@tokens_group.command("create")
@click.option("--name", required=True, help="What the token is for (a script, a CI job).")
@click.option("--role", type=click.Choice(["viewer", "member", "owner", "admin"]),
              help="The most it may do (default: your role).")
@click.option("--expires-in", type=click.IntRange(1), help="Seconds until it expires.")
@api_options
def tokens_create(name: str, role: str | None, expires_in: int | None, server: str,
                  token: str | None, as_json: bool) -> None:
    """Make an API token and print its secret (shown this once)."""
    body: dict[str, Any] = {"name": name, "role": role, "expires_in_seconds": expires_in}
    with api_client(server, token) as client:
        answer = client.post("/tokens", body)
    show(answer, as_json, [str(answer["secret"])])


@tokens_group.command("list")
@api_options
def tokens_list(server: str, token: str | None, as_json: bool) -> None:
    """Your tokens (their first characters, never the secrets)."""
    with api_client(server, token) as client:
        answer = client.get("/tokens")
    show(answer, as_json, [f"{t['id']}  {t['prefix']}...  {t['name']:<20} {t['role']:<7} "
                             f"expires {t['expires_at'] or 'never'}" for t in answer["data"]])


@tokens_group.command("revoke")
@click.argument("token_id", type=int)
@api_options
def tokens_revoke(token_id: int, server: str, token: str | None, as_json: bool) -> None:
    """Revoke one of your tokens (its next request is refused)."""
    with api_client(server, token) as client:
        client.delete(f"/tokens/{token_id}")
    show({"revoked": token_id}, as_json, [f"revoked token {token_id}"])


@fleet_group.command("login")
@click.option("--name", prompt=True, help="Your user name.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@api_options
def login_command(name: str, password_stdin: bool, server: str, token: str | None,
                  as_json: bool) -> None:
    """Log in and print a session token (valid 12 h) for PLUMB_FLEET_TOKEN."""
    password = (sys.stdin.readline().rstrip("\n") if password_stdin
                else click.prompt("password", hide_input=True))
    with api_client(server, None) as client:
        answer = client.post("/auth/login", {"name": name, "password": password})
    show(answer, as_json, [str(answer["token"])])


# -- audit --------------------------------------------------------------------------------
@fleet_group.group("audit")
def audit_group() -> None:
    """The hash-chained audit log."""


@audit_group.command("verify")
@click.option("--local", is_flag=True, help="Read the database directly instead of asking "
              "the server (an auditor's check that does not trust the server).")
@click.option("--expect-head", help="SEQ:HASH of the newest row recorded earlier: a log cut "
              "short since then is reported too.")
@_db_options
@api_options
def audit_verify(local: bool, expect_head: str | None, database_url: str | None,
                 data_dir: Path | None, server: str, token: str | None,
                 as_json: bool) -> None:
    """Check every row's hash and link; exit 1 if any row was edited or deleted."""
    if local:
        from runtime.fleet import audit
        from runtime.fleet.db import make_engine, session_factory

        engine = make_engine(_settings(database_url, data_dir).url())
        with session_factory(engine)() as session:
            rows, problems = audit.verify(session)
            head = audit.head(session)
        result: dict[str, Any] = {
            "ok": not problems, "rows": rows, "head_seq": head[0] if head else None,
            "head_hash": head[1] if head else None,
            "problems": [{"seq": p.seq, "problem": p.problem} for p in problems]}
    else:
        with api_client(server, token) as client:
            result = client.get("/audit/verify")
    if expect_head:
        seq, _, digest = expect_head.partition(":")
        from runtime.fleet.audit_queries import head_matches

        problem = head_matches(result, int(seq) if seq.isdigit() else -1, digest)
        if problem:
            result["ok"] = False
            result["problems"].append({"seq": result.get("head_seq"), "problem": problem})
    lines = [f"{'ok' if result['ok'] else 'BROKEN'}: {result['rows']} rows, head "
             f"{result['head_seq']}:{result['head_hash']}"]
    lines += [f"  row {p['seq']}: {p['problem']}" for p in result["problems"]]
    show(result, as_json, lines)
    if not result["ok"]:
        sys.exit(1)


@audit_group.command("export")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl",
              show_default=True, help="JSON Lines or CSV.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write here instead of standard output.")
@click.option("--action", help="Only this action, or a prefix ending in a dot (rollout.).")
@click.option("--since", help="Only events at or after this ISO 8601 moment (with a zone).")
@click.option("--until", help="Only events at or before this moment.")
@api_options
def audit_export(fmt: str, output: Path | None, action: str | None, since: str | None,
                 until: str | None, server: str, token: str | None, as_json: bool) -> None:
    """Export the audit log (owners)."""
    with api_client(server, token) as client:
        text = client.get("/audit/export", format=fmt, action=action, since=since,
                          until=until)
    if output:
        output.write_text(text if isinstance(text, str) else json.dumps(text))
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text if isinstance(text, str) else json.dumps(text), nl=False)


@audit_group.command("ran")
@click.option("--device", help="With --at: which snapshot this device ran.")
@click.option("--at", "moment", help="An ISO 8601 moment with a zone.")
@click.option("--snapshot", help="With --from/--to: which devices ran this snapshot.")
@click.option("--from", "start", help="Start of the period (ISO 8601 with a zone).")
@click.option("--to", "end", help="End of the period.")
@api_options
def audit_ran(device: str | None, moment: str | None, snapshot: str | None,
              start: str | None, end: str | None, server: str, token: str | None,
              as_json: bool) -> None:
    """What ran where: --device D --at T, or --snapshot S --from T1 --to T2."""
    with api_client(server, token) as client:
        if device and moment:
            answer = client.get(f"/audit/devices/{device}/snapshot-at", at=moment)
            show(answer, as_json, [str(answer.get("snapshot_id") or "(nothing known)")])
        elif snapshot and start and end:
            answer = client.get(f"/audit/snapshots/{snapshot}/devices", start=start, end=end)
            show(answer, as_json, [f"{r['device_id']}  {r['since']} .. "
                                     f"{r['until'] or 'now'}" for r in answer])
        else:
            raise click.UsageError("give --device and --at, or --snapshot, --from and --to")


# The resource commands (snapshots, devices, rollouts, pipelines) register themselves on
# `fleet_group` when their module is imported.
from assistant.cli import fleet_resources  # noqa: E402, F401
