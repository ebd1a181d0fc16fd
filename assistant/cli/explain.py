"""`ask explain`: what a flow does, path by path, who it talks to and what could go wrong."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import click

from assistant.cli import _size_option, cli
from flowschema.loading import DEFAULT_MAX_BYTES, FlowLoadError, load_flow

if TYPE_CHECKING:
    from assistant.models.base import Model


def _note(message: str, quiet: bool) -> None:
    if not quiet:
        click.echo(message, err=True)


def _load_model(name: str | None, quiet: bool) -> Model | None:
    """The model to phrase the summary, or None (with a one-line note) when there is none."""
    try:
        from assistant.models.loading import load_model
    except ImportError:
        _note("note: no model support installed; using the deterministic summary", quiet)
        return None
    _note(f"loading model {name or '(default)'} ...", quiet)
    try:
        return load_model(name, progress=lambda message: _note(f"  {message}", quiet))
    except Exception as exc:  # ModelNotInstalled, ModelError, or a backend failing to start
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        _note(f"note: no model ({first_line}); using the deterministic summary", quiet)
        return None


@cli.command()
@click.argument("flow_file", metavar="FILE")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the explanation as JSON: summary, summary_source, facts, paths, endpoints, "
    "risks, validation, notes.",
)
@click.option(
    "--no-model",
    is_flag=True,
    help="Do not load a language model; use the deterministic summary (fast, offline).",
)
@click.option(
    "--model",
    "model_name",
    metavar="NAME",
    help="Model that phrases the summary paragraph (default: the configured default model; "
    "see `ask models`).",
)
@click.option(
    "--quiet",
    "-q",
    is_flag=True,
    help="Print only the summary paragraph (with --json: no progress or notes on stderr).",
)
@click.option(
    "--max-size",
    metavar="SIZE",
    callback=_size_option,
    default=f"{DEFAULT_MAX_BYTES // 2**20}M",
    show_default=True,
    help="Refuse files larger than this (e.g. 500k, 64M).",
)
def explain(
    flow_file: str,
    as_json: bool,
    no_model: bool,
    model_name: str | None,
    quiet: bool,
    max_size: int,
) -> None:
    """Explain a Node-RED flow in plain language.

    FILE is a flow JSON array as Node-RED exports it; `-` reads standard input. The report
    has a summary paragraph, a walk-through of every path (what starts it, what each node
    does to the message, where it ends), the devices, brokers, URLs and files the flow talks
    to, risks, and the validator's findings. Every fact comes from the flow and the node
    catalog; a local model, when installed, only rephrases the summary and its answer is
    checked against the facts. Text written in the flow (names, comments) is shown quoted,
    as data. Exits 0 when the flow was explained, 1 when it cannot be read, 2 on usage
    errors. See docs/explain.md.
    """
    if no_model and model_name:
        raise click.UsageError("--no-model and --model exclude each other")
    from assistant.explain import explain_flow, render_text, try_phrase

    origin = "standard input" if flow_file == "-" else flow_file
    try:
        flow = load_flow(flow_file, stdin=sys.stdin.buffer, max_bytes=max_size)
        if not isinstance(flow, list):
            kind = "an object" if isinstance(flow, dict) else f"a {type(flow).__name__}"
            raise FlowLoadError(
                f"{origin} is not a flow: expected a JSON array of nodes, found {kind}"
                + (" (wrap the nodes in [ ... ])" if isinstance(flow, dict) else "")
            )
    except FlowLoadError as exc:
        if as_json:
            click.echo(json.dumps({"file": origin, "load_error": str(exc)}))
        else:
            click.echo(f"error: {exc}", err=True)
        sys.exit(1)

    explanation = explain_flow(flow)
    summary, source = explanation.summary, "deterministic"
    model = None if no_model else _load_model(model_name, quiet)
    if model is not None:
        result = try_phrase(explanation, model)
        summary, source = result.text, result.source
        if result.reason:
            _note(f"note: the model's summary was not used ({result.reason})", quiet)

    if as_json:
        out = {"file": origin, **explanation.to_dict(), "summary": summary}
        out["summary_source"] = source
        click.echo(json.dumps(out, indent=2, ensure_ascii=False))
    elif quiet:
        click.echo(summary)
    else:
        click.echo(render_text(explanation, summary), nl=False)
