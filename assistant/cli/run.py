"""`ask run`: a flow in Plumb's runtime, in the foreground."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from assistant.cli import cli


def _show(event: dict[str, Any]) -> None:
    if event["kind"] == "debug":
        value = json.dumps(event["value"], default=str)
        label = event.get("name") or event["id"]
        click.echo(f"debug {label}: {value[:500]}", err=True)
    elif event["kind"] == "status":
        status = event["status"]
        text = " ".join(str(status.get(k, "")) for k in ("fill", "text") if status.get(k))
        click.echo(f"status {event['type']} {event['id']}: {text or '(cleared)'}", err=True)
    elif event["kind"] == "log" and event["level"] in ("warn", "error"):
        click.echo(f"{event['level']} {event['type']} {event['id']}: {event['text']}", err=True)


@cli.command("run")
@click.argument("flow_path", metavar="FLOW", type=click.Path(exists=True, dir_okay=False))
@click.option("--port", type=click.IntRange(1, 65535), default=1880, show_default=True,
              help="Port for the admin API (Node-RED's /flows, /nodes, /inject).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; 0.0.0.0 makes the admin API reachable from the "
                   "network.")
@click.option("-q", "--quiet", is_flag=True,
              help="Do not print debug output and node statuses.")
@click.option("--allow-exec", is_flag=True,
              help="Allow exec nodes. They run shell commands on this machine as your user, "
                   "from this flow or from any flow deployed later through the admin API, so "
                   "anyone who can reach --port can run commands here. Off by default; "
                   "PLUMB_ALLOW_EXEC=1 in the environment also turns it on.")
def run_command(flow_path: str, port: int, host: str, quiet: bool, allow_exec: bool) -> None:
    """Run the flow in FLOW in Plumb's runtime until Ctrl-C.

    The flow is checked first: a flow with node types the runtime does not have, with
    validator errors, or with exec nodes (unless --allow-exec), is refused (exit 1) with the
    list. While it runs, debug output and node statuses are printed on stderr, and the
    admin API on --port accepts deploys from any tool that deploys to Node-RED.
    """
    try:
        import uvicorn

        from runtime.api import create_app
        from runtime.manager import DeployRefused, RuntimeManager
        from runtime.nodes.exec import ENV_SWITCH, allow_exec_from_env
    except ImportError as exc:
        click.echo(f"error: the runtime needs its extra: pip install 'plumb[runtime]' ({exc})",
                   err=True)
        sys.exit(1)
    from flowschema.loading import FlowLoadError, load_flow

    try:
        flow = load_flow(flow_path)
    except FlowLoadError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    allow_exec = allow_exec or allow_exec_from_env()
    manager = RuntimeManager(allow_exec=allow_exec)
    if allow_exec:
        click.echo(f"warning: exec nodes are allowed (--allow-exec or {ENV_SWITCH}): flows "
                   f"deployed to http://{host}:{port} can run commands on this machine",
                   err=True)
    try:
        manager.check(flow)
    except DeployRefused as exc:
        click.echo(f"error: {exc}", err=True)
        click.echo(json.dumps(exc.reasons), err=True)
        sys.exit(1)

    def started(m: RuntimeManager) -> None:
        if not quiet:
            m.listen(_show)
        click.echo(f"running {flow_path} ({len(flow)} entries); admin API on "
                   f"http://{host}:{port}; Ctrl-C stops", err=True)

    app = create_app(manager, initial_flow=flow, on_started=started)
    uvicorn.run(app, host=host, port=port, log_level="warning")
    click.echo("stopped", err=True)
