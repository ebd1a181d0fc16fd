"""`ask fleet`: run the fleet server and work with it from the command line.

`serve`, `users add` and `audit verify --local` work on the database directly (they are how
an installation starts, and how an auditor checks the log without trusting the server);
every other command talks to a running server through its API, with the server URL and a
token from --server/--token or PLUMB_FLEET_URL/PLUMB_FLEET_TOKEN.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import click

from assistant.cli import cli


def _fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _settings(database_url: str | None, data_dir: Path | None) -> Any:
    try:
        from runtime.fleet.settings import FleetSettings
    except ImportError as exc:
        _fail(f"the fleet needs its extra: pip install 'plumb[fleet]' ({exc})")
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


def _api_options(func: Any) -> Any:
    func = click.option("--server", envvar="PLUMB_FLEET_URL", default="http://127.0.0.1:8710",
                        show_default=True, help="The fleet server's URL.")(func)
    func = click.option("--token", envvar="PLUMB_FLEET_TOKEN",
                        help="A user API token (PLUMB_FLEET_TOKEN); `ask fleet login` "
                             "prints one.")(func)
    return click.option("--json", "as_json", is_flag=True,
                        help="Print the server's answer as JSON.")(func)


@contextmanager
def _client(server: str, token: str | None) -> Iterator[Any]:
    from runtime.fleet.client import FleetClient, FleetClientError

    client = FleetClient(server, token)
    try:
        yield client
    except FleetClientError as exc:
        where = f" ({exc.code})" if exc.code else ""
        _fail(f"{exc}{where}")
    finally:
        client.close()


def _print(value: Any, as_json: bool, lines: list[str] | None = None) -> None:
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
        _fail(exc.message)
    click.echo(f"added {role} {name}", err=True)
    if secret:
        click.echo(secret)


@users_group.command("list")
@_api_options
def users_list(server: str, token: str | None, as_json: bool) -> None:
    """List the server's users (admins)."""
    with _client(server, token) as client:
        answer = client.get("/users")
    _print(answer, as_json, [f"{u['id']}  {u['name']:<20} {u['role']:<7}"
                             f"{'  disabled' if u['disabled'] else ''}"
                             for u in answer["data"]])


@users_group.command("set")
@click.argument("user_id", type=int)
@click.option("--role", type=click.Choice(["viewer", "member", "owner", "admin"]),
              help="A new role.")
@click.option("--disable/--enable", "disabled", default=None,
              help="Disable the user (their tokens stop working at once), or enable again.")
@_api_options
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
    with _client(server, token) as client:
        answer = client.patch(f"/users/{user_id}", body)
    _print(answer, as_json, [f"{answer['name']}: {answer['role']}"
                             f"{', disabled' if answer['disabled'] else ''}"])


@fleet_group.group("tokens")
def tokens_group() -> None:
    """Your API tokens."""


@tokens_group.command("create")
@click.option("--name", required=True, help="What the token is for (a script, a CI job).")
@click.option("--role", type=click.Choice(["viewer", "member", "owner", "admin"]),
              help="The most it may do (default: your role).")
@click.option("--expires-in", type=click.IntRange(1), help="Seconds until it expires.")
@_api_options
def tokens_create(name: str, role: str | None, expires_in: int | None, server: str,
                  token: str | None, as_json: bool) -> None:
    """Make an API token and print its secret (shown this once)."""
    body: dict[str, Any] = {"name": name, "role": role, "expires_in_seconds": expires_in}
    with _client(server, token) as client:
        answer = client.post("/tokens", body)
    _print(answer, as_json, [str(answer["secret"])])


@tokens_group.command("list")
@_api_options
def tokens_list(server: str, token: str | None, as_json: bool) -> None:
    """Your tokens (their first characters, never the secrets)."""
    with _client(server, token) as client:
        answer = client.get("/tokens")
    _print(answer, as_json, [f"{t['id']}  {t['prefix']}...  {t['name']:<20} {t['role']:<7} "
                             f"expires {t['expires_at'] or 'never'}" for t in answer["data"]])


@tokens_group.command("revoke")
@click.argument("token_id", type=int)
@_api_options
def tokens_revoke(token_id: int, server: str, token: str | None, as_json: bool) -> None:
    """Revoke one of your tokens (its next request is refused)."""
    with _client(server, token) as client:
        client.delete(f"/tokens/{token_id}")
    _print({"revoked": token_id}, as_json, [f"revoked token {token_id}"])


@fleet_group.command("login")
@click.option("--name", prompt=True, help="Your user name.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@_api_options
def login_command(name: str, password_stdin: bool, server: str, token: str | None,
                  as_json: bool) -> None:
    """Log in and print a session token (valid 12 h) for PLUMB_FLEET_TOKEN."""
    password = (sys.stdin.readline().rstrip("\n") if password_stdin
                else click.prompt("password", hide_input=True))
    with _client(server, None) as client:
        answer = client.post("/auth/login", {"name": name, "password": password})
    _print(answer, as_json, [str(answer["token"])])


# -- snapshots ----------------------------------------------------------------------------
@fleet_group.group("snapshots")
def snapshots_group() -> None:
    """Immutable, signed bundles of flows, credentials, settings, env and modules."""


def _pairs(values: tuple[str, ...], what: str) -> dict[str, str]:
    out = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r}: write {what} as NAME=VALUE")
        out[key] = value
    return out


@snapshots_group.command("create")
@click.argument("flow_path", metavar="FLOW", type=click.Path(exists=True, dir_okay=False))
@click.option("--name", required=True, help="A name people will recognise.")
@click.option("--description", default="", help="What changed, for the reviewers.")
@click.option("--env", "env", multiple=True, help="An environment variable NAME=VALUE "
              "(repeatable).")
@click.option("--module", "modules", multiple=True, help="A node module NAME=VERSION the "
              "flows need (repeatable).")
@click.option("--credentials", "credentials_path", type=click.Path(exists=True,
              dir_okay=False), help="A JSON file of credentials by node id (Node-RED's "
              "flows_cred.json, decrypted).")
@click.option("--parent", help="The snapshot this one follows.")
@_api_options
def snapshots_create(flow_path: str, name: str, description: str, env: tuple[str, ...],
                     modules: tuple[str, ...], credentials_path: str | None,
                     parent: str | None, server: str, token: str | None,
                     as_json: bool) -> None:
    """Make a snapshot from a flow file (the same content gives the same snapshot)."""
    from flowschema.loading import FlowLoadError, load_flow

    try:
        flows = load_flow(flow_path)
    except FlowLoadError as exc:
        _fail(str(exc))
    body: dict[str, Any] = {"name": name, "description": description, "flows": flows,
                            "env": _pairs(env, "--env"), "modules": _pairs(modules, "--module")}
    if credentials_path:
        try:
            body["credentials"] = json.loads(Path(credentials_path).read_text())
        except ValueError as exc:
            _fail(f"{credentials_path} is not JSON: {exc}")
    if parent:
        body["parent_id"] = parent
    with _client(server, token) as client:
        answer = client.post("/snapshots", body)
    _print(answer, as_json, [f"{answer['id']}  {answer.get('name', '')}"])


@snapshots_group.command("list")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True,
              help="How many, newest first.")
@_api_options
def snapshots_list(limit: int, server: str, token: str | None, as_json: bool) -> None:
    """List snapshots, newest first."""
    with _client(server, token) as client:
        answer = client.get("/snapshots", limit=limit)
    items = answer["data"]
    _print(answer, as_json, [f"{s['id'][:12]}  {s.get('created_at', '')[:19]}  "
                             f"{s.get('name', '')}" for s in items])


@snapshots_group.command("diff")
@click.argument("old")
@click.argument("new")
@_api_options
def snapshots_diff(old: str, new: str, server: str, token: str | None, as_json: bool) -> None:
    """What changed between two snapshots (nodes added, removed, changed by property)."""
    with _client(server, token) as client:
        answer = client.get(f"/snapshots/{old}/diff/{new}")
    _print(answer, True if as_json else as_json)


# -- devices ------------------------------------------------------------------------------
@fleet_group.group("devices")
def devices_group() -> None:
    """Devices, their groups and the tokens that let them join."""


@devices_group.command("list")
@click.option("--group", type=int, help="Only devices of this group id.")
@click.option("--tag", help="Only devices with this tag.")
@_api_options
def devices_list(group: int | None, tag: str | None, server: str, token: str | None,
                 as_json: bool) -> None:
    """List devices with their state and running snapshot."""
    with _client(server, token) as client:
        answer = client.get("/devices", group=group, tag=tag)
    items = answer["data"]
    _print(answer, as_json, [
        f"{d['id']}  {d.get('name', ''):<20} {d.get('status', '')}  "
        f"{'online' if d.get('online') else 'offline'}  "
        f"{(d.get('running_snapshot_id') or '-')[:12]}" for d in items])


@devices_group.command("decommission")
@click.argument("device_id")
@_api_options
def devices_decommission(device_id: str, server: str, token: str | None,
                         as_json: bool) -> None:
    """Revoke a device's credential at once (its next request is refused)."""
    with _client(server, token) as client:
        answer = client.post(f"/devices/{device_id}/decommission")
    _print(answer, as_json, [f"decommissioned {device_id}"])


@devices_group.command("provision")
@click.option("--name", required=True, help="What the token is for.")
@click.option("--group", type=int, help="Group id the devices join.")
@click.option("--uses", type=click.IntRange(1), default=1, show_default=True,
              help="How many devices may register with it.")
@click.option("--expires-in", type=click.IntRange(1), help="Seconds until it expires.")
@_api_options
def devices_provision(name: str, group: int | None, uses: int, expires_in: int | None,
                      server: str, token: str | None, as_json: bool) -> None:
    """Make a provisioning token for `ask agent --token` (shown once)."""
    body: dict[str, Any] = {"name": name, "group_id": group, "uses": uses}
    if expires_in:
        body["expires_in_seconds"] = expires_in
    with _client(server, token) as client:
        answer = client.post("/provisioning-tokens", body)
    _print(answer, as_json, [str(answer["secret"])])


@fleet_group.command("groups")
@click.option("--create", "create_name", help="Make a group with this name.")
@_api_options
def groups_command(create_name: str | None, server: str, token: str | None,
                   as_json: bool) -> None:
    """List device groups, or make one with --create."""
    with _client(server, token) as client:
        if create_name:
            answer = client.post("/groups", {"name": create_name})
            _print(answer, as_json, [f"group {answer['id']}: {answer['name']}"])
            return
        answer = client.get("/groups")
    items = answer["data"]
    _print(answer, as_json, [f"{g['id']}  {g['name']}" for g in items])


# -- rollouts -----------------------------------------------------------------------------
def parse_waves(text: str) -> list[dict[str, Any]]:
    """`1,10%,50%,100%` (cumulative: devices or percent) or `exp:1x2` (1, 2, 4, ...)."""
    text = text.strip()
    if text.startswith("exp:"):
        first, _, factor = text[4:].partition("x")
        try:
            return [{"exponential": {"first": int(first), "factor": float(factor or 2)}}]
        except ValueError:
            raise click.BadParameter(f"{text!r}: write exp:FIRSTxFACTOR, e.g. exp:1x2") from None
    waves: list[dict[str, Any]] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        try:
            if part.endswith("%"):
                percent = float(part[:-1])
                if not 0 < percent <= 100:
                    raise ValueError
                waves.append({"percent": percent})
            else:
                count = int(part)
                if count < 1:
                    raise ValueError
                waves.append({"devices": count})
        except ValueError:
            raise click.BadParameter(f"{part!r} is not a device count or a percentage "
                                     "(e.g. 1,10%,50%,100%)") from None
    if not waves:
        raise click.BadParameter("give at least one wave")
    return waves


def _rollout_line(rollout: dict[str, Any]) -> str:
    counts = rollout.get("counts") or {}
    shown = " ".join(f"{state} {n}" for state, n in counts.items() if n)
    sizes = rollout.get("wave_sizes") or []
    opened = rollout.get("opened_waves", 0)
    end = "" if not rollout.get("reason") else f"  ({rollout['reason']})"
    return (f"rollout {rollout.get('id')} {rollout.get('status', '?'):<17} wave "
            f"{opened}/{len(sizes)}  {shown}{end}")


@fleet_group.group("rollouts")
def rollouts_group() -> None:
    """Staged rollouts: waves, health gates, automatic rollback."""


@rollouts_group.command("start")
@click.argument("snapshot_id")
@click.option("--group", type=int, help="The device group to roll out to.")
@click.option("--stage", type=int, help="Or a pipeline stage (its group, its defaults; a "
              "protected stage waits for an owner's approval).")
@click.option("--waves", default="1,10%,50%,100%", show_default=True,
              help="Cumulative wave sizes (devices or percent), or exp:FIRSTxFACTOR.")
@click.option("--soak", type=click.FloatRange(0), default=30.0, show_default=True,
              help="Seconds a device must stay healthy before its wave counts as passed.")
@click.option("--abort-percent", type=click.FloatRange(0, 100), default=20.0,
              show_default=True, help="Fail (and roll back) when this share of the devices "
              "finished so far failed...")
@click.option("--abort-min", type=click.IntRange(1), default=1, show_default=True,
              help="...once at least this many devices have finished.")
@click.option("--follow", is_flag=True, help="Show progress until the rollout ends.")
@_api_options
def rollouts_start(snapshot_id: str, group: int | None, stage: int | None, waves: str,
                   soak: float, abort_percent: float, abort_min: int, follow: bool,
                   server: str, token: str | None, as_json: bool) -> None:
    """Roll SNAPSHOT_ID out to a group or a stage, wave by wave."""
    if (group is None) == (stage is None):
        raise click.UsageError("give exactly one of --group and --stage")
    body: dict[str, Any] = {"snapshot_id": snapshot_id, "waves": parse_waves(waves),
                            "soak_seconds": soak, "abort_percent": abort_percent,
                            "abort_min_devices": abort_min}
    body["group_id" if group is not None else "stage_id"] = group if group is not None \
        else stage
    with _client(server, token) as client:
        answer = client.post("/rollouts", body)
        if not follow:
            _print(answer, as_json, [_rollout_line(answer)])
            return
        _follow(client, int(answer["id"]), as_json)


def _follow(client: Any, rollout_id: int, as_json: bool, interval: float = 1.0) -> None:
    last = ""
    while True:
        rollout = client.get(f"/rollouts/{rollout_id}")
        line = _rollout_line(rollout)
        if as_json:
            click.echo(json.dumps({k: rollout.get(k) for k in
                                   ("id", "status", "opened_waves", "counts")}))
        elif line != last:
            click.echo(line)
        last = line
        # Finished once no device moves any more (a failed rollout still rolls back).
        if rollout.get("finished_at") or rollout.get("status") == "rejected":
            if rollout.get("status") != "succeeded":
                sys.exit(1)
            return
        time.sleep(interval)


@rollouts_group.command("status")
@click.argument("rollout_id", type=int)
@click.option("--follow", is_flag=True, help="Keep showing progress until it ends.")
@_api_options
def rollouts_status(rollout_id: int, follow: bool, server: str, token: str | None,
                    as_json: bool) -> None:
    """A rollout's status, waves and per-state device counts."""
    with _client(server, token) as client:
        if follow:
            _follow(client, rollout_id, as_json)
            return
        answer = client.get(f"/rollouts/{rollout_id}")
    _print(answer, as_json, [_rollout_line(answer)])


def _rollout_action(action: str, help_text: str) -> None:
    @rollouts_group.command(action, help=help_text)
    @click.argument("rollout_id", type=int)
    @_api_options
    def command(rollout_id: int, server: str, token: str | None, as_json: bool) -> None:
        with _client(server, token) as client:
            answer = client.post(f"/rollouts/{rollout_id}/{action}")
        _print(answer, as_json, [_rollout_line(answer)])


_rollout_action("pause", "Open no further waves (devices already updating carry on).")
_rollout_action("resume", "Let a paused rollout open its next waves again.")
_rollout_action("abort", "Stop the rollout and send updated devices back to their previous "
                "snapshot.")
_rollout_action("approve", "Approve a rollout to a protected stage (owners; not your own).")
_rollout_action("reject", "Reject a rollout to a protected stage.")


# -- pipelines ------------------------------------------------------------------------------
@fleet_group.group("pipelines")
def pipelines_group() -> None:
    """Ordered stages (dev -> test -> production), each on a device group."""


@pipelines_group.command("list")
@_api_options
def pipelines_list(server: str, token: str | None, as_json: bool) -> None:
    """Pipelines with their stages and what each stage runs."""
    with _client(server, token) as client:
        answer = client.get("/pipelines")
    lines = []
    for pipeline in answer["data"]:
        lines.append(f"{pipeline['id']}  {pipeline['name']}")
        lines += [f"    {st['position']}. {st['name']} (stage {st['id']}, group "
                  f"{st['group_id']}{', protected' if st['protected'] else ''}): "
                  f"{(st.get('snapshot_id') or '-')[:12]}" for st in pipeline["stages"]]
    _print(answer, as_json, lines)


@pipelines_group.command("create")
@click.argument("name")
@_api_options
def pipelines_create(name: str, server: str, token: str | None, as_json: bool) -> None:
    """Make an empty pipeline (owners)."""
    with _client(server, token) as client:
        answer = client.post("/pipelines", {"name": name})
    _print(answer, as_json, [f"pipeline {answer['id']}: {answer['name']}"])


@pipelines_group.command("add-stage")
@click.argument("pipeline_id", type=int)
@click.option("--name", required=True, help="The stage's name (dev, test, production).")
@click.option("--group", type=int, required=True, help="The device group it deploys to.")
@click.option("--protected", is_flag=True, help="Rollouts to it wait for an owner's "
              "approval (not the author's).")
@_api_options
def pipelines_add_stage(pipeline_id: int, name: str, group: int, protected: bool,
                        server: str, token: str | None, as_json: bool) -> None:
    """Add a stage at the end of a pipeline (owners)."""
    with _client(server, token) as client:
        answer = client.post(f"/pipelines/{pipeline_id}/stages",
                             {"name": name, "group_id": group, "protected": protected})
    _print(answer, as_json, [f"stage {answer['id']}: {answer['name']}"])


@pipelines_group.command("promote")
@click.argument("pipeline_id", type=int)
@click.argument("from_stage")
@click.argument("to_stage")
@click.option("--follow", is_flag=True, help="Show progress until the rollout ends.")
@_api_options
def pipelines_promote(pipeline_id: int, from_stage: str, to_stage: str, follow: bool,
                      server: str, token: str | None, as_json: bool) -> None:
    """Roll FROM_STAGE's snapshot out to TO_STAGE (stage ids or names)."""
    with _client(server, token) as client:
        stages = [int(x) if x.isdigit() else x for x in (from_stage, to_stage)]
        answer = client.post(f"/pipelines/{pipeline_id}/promote",
                             {"from_stage": stages[0], "to_stage": stages[1]})
        if not follow:
            _print(answer, as_json, [_rollout_line(answer)])
            return
        _follow(client, int(answer["id"]), as_json)


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
@_api_options
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
        with _client(server, token) as client:
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
    _print(result, as_json, lines)
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
@_api_options
def audit_export(fmt: str, output: Path | None, action: str | None, since: str | None,
                 until: str | None, server: str, token: str | None, as_json: bool) -> None:
    """Export the audit log (owners)."""
    with _client(server, token) as client:
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
@_api_options
def audit_ran(device: str | None, moment: str | None, snapshot: str | None,
              start: str | None, end: str | None, server: str, token: str | None,
              as_json: bool) -> None:
    """What ran where: --device D --at T, or --snapshot S --from T1 --to T2."""
    with _client(server, token) as client:
        if device and moment:
            answer = client.get(f"/audit/devices/{device}/snapshot-at", at=moment)
            _print(answer, as_json, [str(answer.get("snapshot_id") or "(nothing known)")])
        elif snapshot and start and end:
            answer = client.get(f"/audit/snapshots/{snapshot}/devices", start=start, end=end)
            _print(answer, as_json, [f"{r['device_id']}  {r['since']} .. "
                                     f"{r['until'] or 'now'}" for r in answer])
        else:
            raise click.UsageError("give --device and --at, or --snapshot, --from and --to")
