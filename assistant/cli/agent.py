"""`ask agent`: the device agent of a Plumb fleet, in the foreground."""

from __future__ import annotations

import logging
import signal
import socket
import sys
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit

import click

from assistant.cli import cli


def _host_port(text: str) -> str:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise click.BadParameter(f"{text!r} is not host:port")
    return text


@cli.command("agent")
@click.option("--server", required=True, metavar="URL",
              help="The fleet server, e.g. https://fleet.example.com.")
@click.option("--token", "provision_token", envvar="PLUMB_PROVISION_TOKEN", metavar="TOKEN",
              help="Provisioning token (plumb_p_...) to register this device the first "
                   "time; not needed once the state directory holds an identity. Also read "
                   "from PLUMB_PROVISION_TOKEN.")
@click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where the identity, the verified snapshots and the apply journal are "
                   "kept. [default: $PLUMB_DATA_DIR/agent]")
@click.option("--target", "target_kind", type=click.Choice(["plumb", "node-red"]),
              default="plumb", show_default=True,
              help="The runtime on this device: Plumb's own, or a stock Node-RED 4.x.")
@click.option("--runtime-url", default="http://127.0.0.1:1880", show_default=True,
              help="The runtime's admin API.")
@click.option("--runtime-token", envvar="PLUMB_RUNTIME_TOKEN", metavar="TOKEN",
              help="Bearer token for the runtime's admin API (Node-RED with adminAuth). "
                   "Also read from PLUMB_RUNTIME_TOKEN.")
@click.option("--run-plumb", is_flag=True,
              help="Run Plumb's runtime as a child of the agent on the port of "
                   "--runtime-url, restart it when it exits, and roll back when it keeps "
                   "dying (--target plumb only).")
@click.option("--crash-restarts", type=click.IntRange(1), default=3, show_default=True,
              help="With --run-plumb: this many restarts within --crash-window is a crash "
                   "loop, and the agent goes back to the last good snapshot.")
@click.option("--crash-window", type=click.FloatRange(min=1), default=60.0,
              show_default=True, help="With --run-plumb: the crash-loop window, in seconds.")
@click.option("--modules-dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder of node module tarballs (name-version.tgz, as npm pack makes "
                   "them) that snapshots may need (--target node-red); installed with "
                   "npm install --offline, nothing is downloaded.")
@click.option("--node-red-dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Node-RED's user directory, where modules are installed (--target "
                   "node-red).")
@click.option("--restart-command", metavar="COMMAND",
              help="Command that restarts Node-RED after modules were installed, e.g. "
                   "'systemctl restart nodered' (--target node-red).")
@click.option("--mqtt", callback=lambda _c, _p, v: _host_port(v) if v else None,
              metavar="HOST:PORT",
              help="MQTT broker on which the server announces updates "
                   "(plumb/devices/<id>/update): the agent checks in as soon as it hears one.")
@click.option("--soak", type=click.FloatRange(min=0), default=30.0, show_default=True,
              help="Seconds a new snapshot must stay healthy before it is committed.")
@click.option("--retry-failed-after", type=click.FloatRange(min=0), default=3600.0,
              show_default=True,
              help="Seconds before a snapshot that failed on this device is tried again "
                   "when the server still names it (no retry loop meanwhile).")
@click.option("--name", default=lambda: socket.gethostname(),
              help="Device name sent at registration. [default: the host name]")
@click.option("--tag", "tags", multiple=True, help="Tag sent at registration (repeatable).")
@click.option("--server-key", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The server's public key (PEM) to pin instead of the one the server "
                   "sends at registration.")
@click.option("--once", is_flag=True,
              help="Check in once (applying a new snapshot if there is one), then exit: 0 "
                   "when all went well, 1 otherwise.")
@click.option("-v", "--verbose", is_flag=True, help="Log every step, not only changes.")
def agent_command(server: str, provision_token: str | None, state_dir: Path | None,
                  target_kind: str, runtime_url: str, runtime_token: str | None,
                  run_plumb: bool, crash_restarts: int, crash_window: float,
                  modules_dir: Path | None, node_red_dir: Path | None,
                  restart_command: str | None, mqtt: str | None, soak: float,
                  retry_failed_after: float, name: str,
                  tags: tuple[str, ...], server_key: Path | None, once: bool,
                  verbose: bool) -> None:
    """Run the device agent: register with the fleet server (once, with --token), check in
    regularly, and apply the snapshots the server assigns to this device.

    Every snapshot is checked against the server's signature before anything of it runs,
    deployed to the runtime through its admin API, watched for --soak seconds and then
    committed, or rolled back to the last good one by the agent itself; the outcome is
    reported on the next check-in. While the server is unreachable the device keeps running
    what it runs. Stops on Ctrl-C or SIGTERM. Exit codes: 0 stopped cleanly (or --once went
    well), 1 failure, 2 usage error.
    """
    try:
        from runtime.agent.agent import Agent, AgentConfig, AgentError
        from runtime.agent.state import AgentState, StateError, default_state_dir
        from runtime.agent.targets import NodeRedTarget, PlumbProcess, PlumbTarget, Target
    except ImportError as exc:
        click.echo(f"error: the agent needs its extra: pip install 'plumb[fleet]' ({exc})",
                   err=True)
        sys.exit(1)

    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("plumb.agent").setLevel(logging.DEBUG if verbose else logging.INFO)
    if not verbose:
        logging.getLogger("httpx").setLevel(logging.WARNING)
    if urlsplit(server).scheme not in ("http", "https"):
        raise click.BadParameter("must be an http:// or https:// URL", param_hint="--server")
    runtime = urlsplit(runtime_url)
    if runtime.scheme != "http" or not runtime.hostname:
        raise click.BadParameter("must be an http:// URL", param_hint="--runtime-url")
    if run_plumb and target_kind != "plumb":
        raise click.UsageError("--run-plumb goes with --target plumb")
    node_red_only = {"--modules-dir": modules_dir, "--node-red-dir": node_red_dir,
                     "--restart-command": restart_command}
    given = [flag for flag, value in node_red_only.items() if value]
    if given and target_kind != "node-red":
        raise click.UsageError(f"{', '.join(given)} go with --target node-red")

    state = AgentState(state_dir or default_state_dir())
    target: Target
    if target_kind == "plumb":
        process = None
        if run_plumb:
            if runtime.hostname not in ("127.0.0.1", "localhost"):
                raise click.UsageError("--run-plumb runs the runtime on this machine: "
                                       "--runtime-url must be http://127.0.0.1:PORT")
            state.ensure()
            process = PlumbProcess(state.root / "runtime-flow.json", runtime.port or 80,
                                   state.root / "runtime.log", limit=crash_restarts,
                                   window=crash_window)
        target = PlumbTarget(runtime_url, runtime_token, process=process)
    else:
        target = NodeRedTarget(runtime_url, runtime_token, modules_dir=modules_dir,
                               user_dir=node_red_dir, restart_command=restart_command)
    config = AgentConfig(server=server, provision_token=provision_token, name=name,
                         tags=list(tags), soak=soak, mqtt=mqtt,
                         retry_failed_after=retry_failed_after,
                         server_key_pem=server_key.read_text() if server_key else None)
    agent = Agent(config, state, target)

    def stop(_signum: int, _frame: FrameType | None) -> None:
        agent.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        code = agent.run(once=once)
    except (AgentError, StateError) as exc:
        click.echo(f"error: {exc}", err=True)
        code = 1
    except OSError as exc:
        click.echo(f"error: {exc}", err=True)
        code = 1
    finally:
        agent.close()
    sys.exit(code)
