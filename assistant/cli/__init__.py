"""The `ask` command line.

Exit codes (stable, other tools rely on them): 0 success / valid, 1 failure / invalid,
2 usage error, 3 the assistant asks a question or refuses (generation commands).
Commands import their heavy dependencies only when they run, so `ask --help` stays fast.
"""

from __future__ import annotations

from typing import Any

import click


def parse_size(text: str) -> int:
    """Parse sizes such as 500k, 16M or 1G into bytes."""
    units = {"k": 1024, "m": 1024**2, "g": 1024**3}
    cleaned = text.strip().lower().removesuffix("b")
    factor = units.get(cleaned[-1:], 1)
    number = cleaned[:-1] if cleaned[-1:] in units else cleaned
    try:
        value = int(float(number) * factor)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a size such as 16M or 500k") from None
    if value <= 0:
        raise click.BadParameter("the size must be positive")
    return value


def _size_option(ctx: click.Context, param: click.Parameter, value: str) -> int:
    return parse_size(value)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="plumb", prog_name="ask")
def cli() -> None:
    """Plumb: plain language to validated Node-RED flows, run on the edge.

    Run `ask COMMAND --help` for the options of each command.
    """


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _format_finding(finding: Any) -> str:
    where = finding.node.label() if finding.node else "flow"
    if finding.property:
        where += f" .{finding.property}"
    line = f"{finding.severity.value:<7} [{finding.code}] {where}: {finding.message}"
    if finding.hint:
        line += f"\n        hint: {finding.hint}"
    return line


def main() -> None:
    cli()


# Commands register themselves on `cli`; their heavy imports happen only when they run.
from assistant.cli import (  # noqa: E402, F401
    agent,
    docs,
    evaluate,
    explain,
    fleet,
    flows,
    generate,
    mcp,
    models,
    run,
    serve,
)
