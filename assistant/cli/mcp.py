"""`ask mcp`: Plumb's tools for coding agents, as an MCP server on stdin/stdout."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from assistant.cli import cli
from assistant.cli.serve import load_settings


@cli.command("mcp")
@click.option("--model", help="Model that writes code for the flows (see `ask models`; "
              "'fake' for a weightless pass-through model) [default: $PLUMB_MODEL or the "
              "built-in default].")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder holding the docs index that search_node_docs reads (built there "
              "on first search when missing) [default: $PLUMB_DATA_DIR or "
              "~/.local/share/plumb].")
def mcp_command(model: str | None, data_dir: Path | None) -> None:
    """Serve Plumb as an MCP server over stdio, for an agent that starts it as a
    subprocess (Claude Code, Cursor, VS Code, ...).

    Tools: generate_flow, edit_flow, explain_flow, validate_flow and search_node_docs;
    they answer with the same JSON as `ask serve`'s REST API. Messages go over stdin and
    stdout; logs go to stderr. No HTTP server is started: `ask serve` serves the same tools
    over HTTP at /mcp. Register it with an agent as the command `ask mcp`, e.g.
    `claude mcp add plumb -- ask mcp`.
    """
    settings = load_settings(check=False, model=model, data_dir=data_dir)
    try:
        from assistant.server.mcp_server import run_stdio
    except ImportError as exc:
        click.echo(f"error: MCP needs the server extra: pip install 'plumb[server]' ({exc})",
                   err=True)
        sys.exit(1)
    run_stdio(settings)


