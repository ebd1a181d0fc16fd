"""Generation commands: generate (one request, or an edit of a flow) and chat."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from assistant.cli import cli

if TYPE_CHECKING:
    from assistant.generate.result import Outcome
    from assistant.models.base import Model

EXIT_QUESTION = 3


class LazyModel:
    """Loads the model on first use: refusals, questions and flows that need no code never
    pay for loading weights. Fails with a clean message when the model cannot be loaded."""

    supports_grammar = True

    def __init__(self, name: str | None, quiet: bool) -> None:
        self.name = name or "default"
        self._requested = name
        self._quiet = quiet
        self._model: Model | None = None
        if name is not None:
            # A misspelt name is an error even when this request would need no model.
            from assistant.models.base import ModelError
            from assistant.models.registry import get_spec

            try:
                get_spec(name)
            except ModelError as exc:
                click.echo(f"error: {exc}", err=True)
                sys.exit(1)

    def get(self) -> Model:
        if self._model is None:
            from assistant.models.base import ModelError
            from assistant.models.loading import load_model

            def progress(text: str) -> None:
                if not self._quiet:
                    click.echo(text, err=True)

            try:
                self._model = load_model(self._requested, progress=progress)
            except ModelError as exc:
                click.echo(f"error: {exc}", err=True)
                sys.exit(1)
        return self._model

    def complete(self, messages: Any, **kwargs: Any) -> Any:
        return self.get().complete(messages, **kwargs)


def _read_flow(path: str) -> list[dict[str, Any]]:
    from flowschema.loading import FlowLoadError, load_flow

    try:
        flow = load_flow(path)
    except FlowLoadError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    if not isinstance(flow, list):
        click.echo(f"error: {path} is not a flow (a JSON array of nodes)", err=True)
        sys.exit(1)
    return flow


def run_request(
    request: str,
    model: Model | None,
    base: list[dict[str, Any]] | None,
    quiet: bool,
    stream: bool = False,
) -> Outcome:
    """One turn: a new flow from `request`, or an edit of `base`."""
    from assistant.generate.pipeline import GenerationError, Options, generate
    from assistant.generate.result import Outcome

    def progress(stage: str) -> None:
        if not quiet:
            click.echo(f"... {stage}", err=True)

    def token(text: str) -> None:
        click.echo(text, nl=False, err=True)

    options = Options(progress=progress, on_token=token if stream and not quiet else None)
    try:
        if base is not None:
            from assistant.generate.editing import edit

            return edit(base, request, model, options)
        return generate(request, model, options)
    except GenerationError as exc:
        return Outcome("refuse", f"Plumb could not build this flow: {exc}")


def _print_outcome(outcome: Outcome, out: str | None, as_json: bool) -> int:
    if as_json:
        click.echo(json.dumps(outcome.to_dict(), indent=2))
    if outcome.kind == "flow" and outcome.flow is not None:
        text = json.dumps(outcome.flow, indent=2)
        if out:
            Path(out).write_text(text + "\n")
        elif not as_json:
            click.echo(text)
        if not as_json:
            click.echo("", err=True)
            click.echo(outcome.message, err=True)
            for line in outcome.changes:
                click.echo(f"  change: {line}", err=True)
            for note in outcome.notes:
                click.echo(f"  note: {note}", err=True)
            if out:
                click.echo(f"wrote {out} ({len(outcome.flow)} nodes, {outcome.seconds:.1f} s)",
                           err=True)
        return 0
    if not as_json:
        label = "question" if outcome.kind == "clarify" else "refused"
        click.echo(json.dumps({"outcome": outcome.kind, "message": outcome.message,
                               "choices": outcome.choices}))
        click.echo(f"{label}: {outcome.message}", err=True)
        for choice in outcome.choices:
            click.echo(f"  - {choice}", err=True)
    return EXIT_QUESTION


@cli.command("generate")
@click.argument("request")
@click.option("-o", "--out", type=click.Path(dir_okay=False),
              help="Write the flow JSON to this file (default: print it on stdout).")
@click.option("--edit", "edit_path", type=click.Path(dir_okay=False),
              help="Change this existing flow as the request says, instead of starting anew "
              "('-' reads it from stdin). Untouched nodes keep their ids and positions.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the whole outcome as JSON: flow, explanation, notes, timings.")
@click.option("--model", "model_name",
              help="Model to use (see `ask models`; default: $PLUMB_MODEL or the built-in "
              "default).")
@click.option("--quiet", "-q", is_flag=True, help="No progress or explanation on stderr.")
@click.option("--stream/--no-stream", default=False,
              help="Show the model's tokens on stderr as they are produced.")
def generate_command(request: str, out: str | None, edit_path: str | None, as_json: bool,
                     model_name: str | None, quiet: bool, stream: bool) -> None:
    """Turn REQUEST (plain language) into a validated Node-RED flow.

    Exit 0: a flow (stdout or --out), with its explanation on stderr. Exit 3: a question
    (the request lacks something essential) or a refusal (unsafe, or not a flow), printed
    as JSON on stdout. Exit 1: an error (model missing, unreadable --edit file).
    """
    base = _read_flow(edit_path) if edit_path else None
    model = LazyModel(model_name, quiet)
    outcome = run_request(request, model, base, quiet, stream)
    sys.exit(_print_outcome(outcome, out, as_json))


@cli.command("chat")
@click.option("--model", "model_name", help="Model to use (see `ask models`).")
@click.option("--flow", "flow_path", type=click.Path(exists=True, dir_okay=False),
              help="Start from this flow instead of an empty conversation.")
@click.option("-o", "--out", type=click.Path(dir_okay=False), default="plumb-flow.json",
              show_default=True, help="Where `/save` writes the current flow.")
def chat_command(model_name: str | None, flow_path: str | None, out: str) -> None:
    """An interactive session: describe a flow, then refine it with follow-up requests.

    The first request builds a flow; each later one edits the current flow (ids and
    positions of untouched nodes are kept). Commands: /show (print the flow), /explain,
    /save [FILE], /new (forget the flow), /quit.
    """
    model = LazyModel(model_name, quiet=False)
    model.get()  # a chat loads its model up front: the first answer should be quick
    current = _read_flow(flow_path) if flow_path else None
    click.echo("Describe the flow you need. /help lists the commands.", err=True)
    while True:
        try:
            line = click.prompt("plumb", prompt_suffix="> ", default="", show_default=False,
                                err=True)
        except (EOFError, click.Abort):
            click.echo("", err=True)
            break
        line = line.strip()
        if not line:
            continue
        if line.startswith("/"):
            command, _, arg = line.partition(" ")
            if command in ("/quit", "/exit"):
                break
            if command == "/help":
                click.echo("/show  /explain  /save [FILE]  /new  /quit", err=True)
            elif command == "/new":
                current = None
                click.echo("starting over", err=True)
            elif current is None:
                click.echo("no flow yet: describe one first", err=True)
            elif command == "/show":
                click.echo(json.dumps(current, indent=2))
            elif command == "/explain":
                from assistant.explain import explain_flow, render_text

                click.echo(render_text(explain_flow(current), None))
            elif command == "/save":
                target = arg.strip() or out
                Path(target).write_text(json.dumps(current, indent=2) + "\n")
                click.echo(f"wrote {target}", err=True)
            else:
                click.echo(f"unknown command {command}; /help lists them", err=True)
            continue
        outcome = run_request(line, model, current, quiet=False)
        if outcome.kind == "flow" and outcome.flow is not None:
            current = outcome.flow
            click.echo(outcome.message)
            for change in outcome.changes:
                click.echo(f"  change: {change}")
            for note in outcome.notes:
                click.echo(f"  note: {note}")
            click.echo(f"({len(current)} nodes; /show prints it, /save writes it)")
        else:
            label = "question" if outcome.kind == "clarify" else "refused"
            click.echo(f"{label}: {outcome.message}")
            for choice in outcome.choices:
                click.echo(f"  - {choice}")
