"""Flow commands: validate, schema, catalog."""

from __future__ import annotations

import json
import sys

import click

from assistant.cli import _format_finding, _plural, _size_option, cli
from flowschema.findings import Severity
from flowschema.loading import DEFAULT_MAX_BYTES, FlowLoadError, load_flow


@cli.command()
@click.argument("flow_file", metavar="FILE")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the report as JSON: {valid, nodes, errors, warnings, findings}.",
)
@click.option(
    "--max-size",
    callback=_size_option,
    default=f"{DEFAULT_MAX_BYTES // 2**20}M",
    show_default=True,
    help="Refuse files larger than this (e.g. 500k, 64M).",
)
@click.option("--quiet", "-q", is_flag=True, help="Print only errors and the summary line.")
def validate(flow_file: str, as_json: bool, max_size: int, quiet: bool) -> None:
    """Check a Node-RED flow file against Plumb's node catalog.

    FILE is a flow JSON array as Node-RED exports it; `-` reads standard input.
    Exits 0 when the flow is valid (warnings allowed), 1 when it has errors or cannot
    be read, 2 on usage errors. Finding codes are listed in docs/validation-codes.md.
    """
    from flowschema.validator import validate_flow

    origin = "standard input" if flow_file == "-" else flow_file
    try:
        flow = load_flow(flow_file, stdin=sys.stdin.buffer, max_bytes=max_size)
    except FlowLoadError as exc:
        if as_json:
            click.echo(json.dumps({"file": origin, "valid": False, "load_error": str(exc)}))
        else:
            click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    report = validate_flow(flow)
    if as_json:
        click.echo(json.dumps({"file": origin, **report.to_dict()}, indent=2))
    else:
        for finding in report.findings:
            if quiet and finding.severity is not Severity.ERROR:
                continue
            click.echo(_format_finding(finding))
        verdict = "valid" if report.valid else "invalid"
        click.echo(
            f"{origin}: {verdict} - {report.node_count} nodes, "
            f"{_plural(len(report.errors), 'error')}, {_plural(len(report.warnings), 'warning')}"
        )
    sys.exit(0 if report.valid else 1)


@cli.command()
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    help="Write the schema to this file instead of standard output.",
)
def schema(output: str | None) -> None:
    """Print the JSON Schema (draft 2020-12) of a flow, generated from the catalog."""
    from flowschema import default_catalog, flow_schema

    text = json.dumps(flow_schema(default_catalog()), indent=2) + "\n"
    if output:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(text)
    else:
        click.echo(text, nl=False)


@cli.command()
@click.argument("node_type", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the catalog entries as JSON.")
def catalog(node_type: str | None, as_json: bool) -> None:
    """List the node types Plumb knows, or show one type's properties.

    NODE_TYPE is a type name such as "mqtt out"; quote names that contain spaces.
    """
    from flowschema import default_catalog

    cat = default_catalog()
    if node_type is None:
        rows = [(s.type, s.package, s.category) for s in cat]
        if as_json:
            click.echo(
                json.dumps(
                    [dict(zip(("type", "package", "category"), r, strict=True)) for r in rows],
                    indent=2,
                )
            )
            return
        for row in sorted(rows, key=lambda r: (r[1], r[2], r[0])):
            click.echo(f"{row[0]:<24} {row[2]:<10} {row[1]}")
        click.echo(f"{len(rows)} node types")
        return
    spec = cat.get(node_type)
    if spec is None:
        suggestions = cat.suggest(node_type)
        hint = (
            f" (did you mean {' or '.join(repr(s) for s in suggestions)}?)" if suggestions else ""
        )
        click.echo(f"error: unknown node type {node_type!r}{hint}", err=True)
        sys.exit(1)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "type": spec.type,
                    "package": spec.package,
                    "category": spec.category,
                    "description": spec.description,
                    "config": spec.config,
                    "inputs": spec.inputs,
                    "outputs": spec.fixed_outputs
                    if spec.fixed_outputs is not None
                    else {"property": spec.outputs_property},
                    "defaults": spec.defaults(),
                },
                indent=2,
            )
        )
        return
    outputs = (
        spec.fixed_outputs
        if spec.fixed_outputs is not None
        else f"set by its {spec.outputs_property!r} property"
    )
    click.echo(f"{spec.type}  ({spec.package} {spec.package_version}, {spec.category})")
    click.echo(spec.description)
    click.echo(f"inputs: {spec.inputs}  outputs: {outputs}")
    for prop in spec.properties.values():
        default = f" = {prop.default!r}" if prop.has_default else ""
        flags = " required" if prop.required else ""
        click.echo(f"  {prop.name} ({prop.type}{flags}){default}: {prop.description}")
