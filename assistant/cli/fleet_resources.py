"""`ask fleet` commands for the fleet's resources: snapshots, devices and groups,
rollouts, pipelines. They talk to a running server (see `assistant.cli.fleet`)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from assistant.cli.fleet import api_client, api_options, fail, fleet_group, show


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
@api_options
def snapshots_create(flow_path: str, name: str, description: str, env: tuple[str, ...],
                     modules: tuple[str, ...], credentials_path: str | None,
                     parent: str | None, server: str, token: str | None,
                     as_json: bool) -> None:
    """Make a snapshot from a flow file (the same content gives the same snapshot)."""
    from flowschema.loading import FlowLoadError, load_flow

    try:
        flows = load_flow(flow_path)
    except FlowLoadError as exc:
        fail(str(exc))
    body: dict[str, Any] = {"name": name, "description": description, "flows": flows,
                            "env": _pairs(env, "--env"), "modules": _pairs(modules, "--module")}
    if credentials_path:
        try:
            body["credentials"] = json.loads(Path(credentials_path).read_text())
        except ValueError as exc:
            fail(f"{credentials_path} is not JSON: {exc}")
    if parent:
        body["parent_id"] = parent
    with api_client(server, token) as client:
        answer = client.post("/snapshots", body)
    show(answer, as_json, [f"{answer['id']}  {answer.get('name', '')}"])


@snapshots_group.command("list")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True,
              help="How many, newest first.")
@api_options
def snapshots_list(limit: int, server: str, token: str | None, as_json: bool) -> None:
    """List snapshots, newest first."""
    with api_client(server, token) as client:
        answer = client.get("/snapshots", limit=limit)
    items = answer["data"]
    show(answer, as_json, [f"{s['id'][:12]}  {s.get('created_at', '')[:19]}  "
                             f"{s.get('name', '')}" for s in items])


@snapshots_group.command("diff")
@click.argument("old")
@click.argument("new")
@api_options
def snapshots_diff(old: str, new: str, server: str, token: str | None, as_json: bool) -> None:
    """What changed between two snapshots (nodes added, removed, changed by property)."""
    with api_client(server, token) as client:
        answer = client.get(f"/snapshots/{old}/diff/{new}")
    show(answer, True if as_json else as_json)


# -- devices ------------------------------------------------------------------------------
@fleet_group.group("devices")
def devices_group() -> None:
    """Devices, their groups and the tokens that let them join."""


@devices_group.command("list")
@click.option("--group", type=int, help="Only devices of this group id.")
@click.option("--tag", help="Only devices with this tag.")
@api_options
def devices_list(group: int | None, tag: str | None, server: str, token: str | None,
                 as_json: bool) -> None:
    """List devices with their state and running snapshot."""
    with api_client(server, token) as client:
        answer = client.get("/devices", group=group, tag=tag)
    items = answer["data"]
    show(answer, as_json, [
        f"{d['id']}  {d.get('name', ''):<20} {d.get('status', '')}  "
        f"{'online' if d.get('online') else 'offline'}  "
        f"{(d.get('running_snapshot_id') or '-')[:12]}" for d in items])


@devices_group.command("decommission")
@click.argument("device_id")
@api_options
def devices_decommission(device_id: str, server: str, token: str | None,
                         as_json: bool) -> None:
    """Revoke a device's credential at once (its next request is refused)."""
    with api_client(server, token) as client:
        answer = client.post(f"/devices/{device_id}/decommission")
    show(answer, as_json, [f"decommissioned {device_id}"])


@devices_group.command("provision")
@click.option("--name", required=True, help="What the token is for.")
@click.option("--group", type=int, help="Group id the devices join.")
@click.option("--uses", type=click.IntRange(1), default=1, show_default=True,
              help="How many devices may register with it.")
@click.option("--expires-in", type=click.IntRange(1), help="Seconds until it expires.")
@api_options
def devices_provision(name: str, group: int | None, uses: int, expires_in: int | None,
                      server: str, token: str | None, as_json: bool) -> None:
    """Make a provisioning token for `ask agent --token` (shown once)."""
    body: dict[str, Any] = {"name": name, "group_id": group, "uses": uses}
    if expires_in:
        body["expires_in_seconds"] = expires_in
    with api_client(server, token) as client:
        answer = client.post("/provisioning-tokens", body)
    show(answer, as_json, [str(answer["secret"])])


@fleet_group.command("groups")
@click.option("--create", "create_name", help="Make a group with this name.")
@api_options
def groups_command(create_name: str | None, server: str, token: str | None,
                   as_json: bool) -> None:
    """List device groups, or make one with --create."""
    with api_client(server, token) as client:
        if create_name:
            answer = client.post("/groups", {"name": create_name})
            show(answer, as_json, [f"group {answer['id']}: {answer['name']}"])
            return
        answer = client.get("/groups")
    items = answer["data"]
    show(answer, as_json, [f"{g['id']}  {g['name']}" for g in items])


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
@api_options
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
    with api_client(server, token) as client:
        answer = client.post("/rollouts", body)
        if not follow:
            show(answer, as_json, [_rollout_line(answer)])
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
@api_options
def rollouts_status(rollout_id: int, follow: bool, server: str, token: str | None,
                    as_json: bool) -> None:
    """A rollout's status, waves and per-state device counts."""
    with api_client(server, token) as client:
        if follow:
            _follow(client, rollout_id, as_json)
            return
        answer = client.get(f"/rollouts/{rollout_id}")
    show(answer, as_json, [_rollout_line(answer)])


def _rollout_action(action: str, help_text: str) -> None:
    @rollouts_group.command(action, help=help_text)
    @click.argument("rollout_id", type=int)
    @api_options
    def command(rollout_id: int, server: str, token: str | None, as_json: bool) -> None:
        with api_client(server, token) as client:
            answer = client.post(f"/rollouts/{rollout_id}/{action}")
        show(answer, as_json, [_rollout_line(answer)])


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
@api_options
def pipelines_list(server: str, token: str | None, as_json: bool) -> None:
    """Pipelines with their stages and what each stage runs."""
    with api_client(server, token) as client:
        answer = client.get("/pipelines")
    lines = []
    for pipeline in answer["data"]:
        lines.append(f"{pipeline['id']}  {pipeline['name']}")
        lines += [f"    {st['position']}. {st['name']} (stage {st['id']}, group "
                  f"{st['group_id']}{', protected' if st['protected'] else ''}): "
                  f"{(st.get('snapshot_id') or '-')[:12]}" for st in pipeline["stages"]]
    show(answer, as_json, lines)


@pipelines_group.command("create")
@click.argument("name")
@api_options
def pipelines_create(name: str, server: str, token: str | None, as_json: bool) -> None:
    """Make an empty pipeline (owners)."""
    with api_client(server, token) as client:
        answer = client.post("/pipelines", {"name": name})
    show(answer, as_json, [f"pipeline {answer['id']}: {answer['name']}"])


@pipelines_group.command("add-stage")
@click.argument("pipeline_id", type=int)
@click.option("--name", required=True, help="The stage's name (dev, test, production).")
@click.option("--group", type=int, required=True, help="The device group it deploys to.")
@click.option("--protected", is_flag=True, help="Rollouts to it wait for an owner's "
              "approval (not the author's).")
@api_options
def pipelines_add_stage(pipeline_id: int, name: str, group: int, protected: bool,
                        server: str, token: str | None, as_json: bool) -> None:
    """Add a stage at the end of a pipeline (owners)."""
    with api_client(server, token) as client:
        answer = client.post(f"/pipelines/{pipeline_id}/stages",
                             {"name": name, "group_id": group, "protected": protected})
    show(answer, as_json, [f"stage {answer['id']}: {answer['name']}"])


@pipelines_group.command("promote")
@click.argument("pipeline_id", type=int)
@click.argument("from_stage")
@click.argument("to_stage")
@click.option("--follow", is_flag=True, help="Show progress until the rollout ends.")
@api_options
def pipelines_promote(pipeline_id: int, from_stage: str, to_stage: str, follow: bool,
                      server: str, token: str | None, as_json: bool) -> None:
    """Roll FROM_STAGE's snapshot out to TO_STAGE (stage ids or names)."""
    with api_client(server, token) as client:
        stages = [int(x) if x.isdigit() else x for x in (from_stage, to_stage)]
        answer = client.post(f"/pipelines/{pipeline_id}/promote",
                             {"from_stage": stages[0], "to_stage": stages[1]})
        if not follow:
            show(answer, as_json, [_rollout_line(answer)])
            return
        _follow(client, int(answer["id"]), as_json)
