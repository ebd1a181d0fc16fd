"""The `ask eval` command: score a generator on the flow benchmark."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from assistant.cli import cli


@cli.command("eval")
@click.option(
    "--cases",
    "case_filter",
    help="Only cases whose id or category matches, e.g. 'modbus' or 'mqtt-*,http' "
    "(comma-separated globs).",
)
@click.option(
    "--references",
    is_flag=True,
    help="Score the hand-written reference answers (the benchmark's self-check).",
)
@click.option(
    "--cmd",
    "template",
    help='Generate with a command per case, e.g. "ask generate {request} -o {out}". '
    "Placeholders: {request}, {out}, {base} (the flow to edit). Exit 0 = flow in "
    "{out}; exit 3 = question or refusal.",
)
@click.option("--model", help="Generate in-process with Plumb's pipeline and this model (see "
              "`ask models`).")
@click.option(
    "--timeout",
    type=click.FloatRange(1, 3600),
    default=600,
    show_default=True,
    help="Seconds one generation may take.",
)
@click.option(
    "--jobs",
    type=click.IntRange(1, 8),
    default=3,
    show_default=True,
    help="Cases scored side by side, each in its own Node-RED (generation included).",
)
@click.option(
    "-o",
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default="eval-results",
    show_default=True,
    help="Folder for results.json, report.md and chart.png.",
)
def eval_command(
    case_filter: str | None,
    references: bool,
    template: str | None,
    model: str | None,
    timeout: float,
    jobs: int,
    out_dir: str,
) -> None:
    """Run the flow benchmark and write a report.

    Each case's answer is validated, deployed to a real Node-RED pointed at local Mosquitto,
    Modbus and OPC UA servers, checked for the nodes, settings and paths the request asks
    for, and exercised by its behaviour scenarios. Exits 0 when the run completes (whatever
    the pass rate), 1 when it cannot run.
    """
    from evals.flows.cases import CaseError, load_cases
    from evals.flows.generators import command
    from evals.flows.generators import references as reference_answers
    from evals.flows.report import run, start_harnesses, summarise, write_report
    from evals.flows.scoring import CaseResult

    chosen = [bool(references), bool(template), bool(model)]
    if sum(chosen) != 1:
        raise click.UsageError("choose exactly one of --references, --cmd or --model")
    try:
        cases = load_cases(case_filter)
    except CaseError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    if not cases:
        raise click.UsageError(f"no case matches {case_filter!r}")
    if model:
        from assistant.models.base import ModelError
        from assistant.models.loading import load_model
        from evals.flows.generators import in_process

        try:
            loaded = load_model(model, progress=lambda text: click.echo(text, err=True))
        except ModelError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        generate = in_process(loaded, Path(out_dir) / "answers")
        label = f"model: {model}"
    else:
        generate = reference_answers if references else command(str(template), timeout)
        label = "references" if references else f"cmd: {template}"
    started = time.monotonic()
    click.echo(f"{len(cases)} cases; starting Node-RED and the protocol servers", err=True)

    def progress(number: int, result: CaseResult) -> None:
        mark = "pass" if result.passed else f"FAIL {result.failed_stage}: {result.reason[:120]}"
        click.echo(f"[{number}/{len(cases)}] {result.id}: {mark}", err=True)

    try:
        harnesses = start_harnesses(min(jobs, len(cases)))
    except ImportError as exc:
        click.echo(
            f"error: {exc.name or exc} is not installed: pip install 'plumb[evals]'", err=True
        )
        sys.exit(1)
    except RuntimeError as exc:  # Node-RED, npm or mosquitto missing or failing to start
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    try:
        results = run(cases, generate, harnesses, progress)
    finally:
        for harness in harnesses:
            harness.close()
    summary = summarise(results, label, time.monotonic() - started)
    out = Path(out_dir)
    write_report(results, summary, out)
    click.echo(
        f"{summary['passed']}/{summary['cases']} passed ({summary['pass_rate']:.0%}) "
        f"in {summary['wall_seconds']} s; report: {out / 'report.md'}"
    )
