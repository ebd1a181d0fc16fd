"""Retrieval commands: index, docs."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from assistant.cli import cli

if TYPE_CHECKING:
    from corpus.index import CorpusIndex

KIND_CHOICES = click.Choice(["doc", "example", "help"])
MODE_CHOICES = click.Choice(["hybrid", "dense", "lexical"])


def _index_dir(value: str | None) -> Path:
    from corpus.datadir import data_dir

    return Path(value).expanduser() if value else data_dir() / "index"


def _progress(label: str) -> Callable[[int, int], Callable[[int], None]]:
    """A progress bar on stderr for the passages that need embedding."""

    def start(total: int, to_embed: int) -> Callable[[int], None]:
        if to_embed == 0:
            click.echo(f"{label}: {total} passages, all up to date", err=True)
            return lambda _n: None
        bar = click.progressbar(
            length=to_embed,
            label=f"{label}: embedding {to_embed} of {total} passages",
            file=sys.stderr,
            show_pos=True,
        )
        bar.__enter__()
        done = 0

        def advance(count: int) -> None:
            nonlocal done
            done += count
            bar.update(count)
            if done >= to_embed:
                bar.__exit__(None, None, None)

        return advance

    return start


def _open_index(index_dir: Path) -> CorpusIndex:
    from corpus.index import CorpusIndex

    return CorpusIndex(index_dir)


@cli.command("index")
@click.option(
    "--node-modules",
    "node_modules",
    multiple=True,
    type=click.Path(file_okay=False),
    help="Also index the help of the node packages installed in this Node-RED user "
    "directory (e.g. ~/.node-red). Repeatable; remembered for later refreshes.",
)
@click.option(
    "--rebuild",
    is_flag=True,
    help="Delete the index and build it again from scratch (recovers a damaged "
    "index; remembered node_modules folders are indexed again).",
)
@click.option(
    "--index-dir",
    help="Index directory (default: $PLUMB_DATA_DIR/index, i.e. ~/.local/share/plumb/index).",
)
def index_command(node_modules: tuple[str, ...], rebuild: bool, index_dir: str | None) -> None:
    """Build or refresh the local retrieval index.

    Indexes Plumb's node documents and example flows, plus the help of installed node
    packages given with --node-modules (and those indexed before). Only passages whose
    content changed are embedded again.
    """
    from corpus.build import index_builtin, index_node_modules
    from corpus.index import CorpusIndexError
    from corpus.nodehelp import NodeHelpError, find_node_modules
    from corpus.sources import SourceRegistry

    directory = _index_dir(index_dir)
    registry = SourceRegistry(directory.parent / "index-sources.json")
    try:
        new_folders = [find_node_modules(Path(p)) for p in node_modules]
    except NodeHelpError as exc:
        raise click.BadParameter(str(exc), param_hint="--node-modules") from None
    index = _open_index(directory)
    started = time.perf_counter()
    try:
        if rebuild:
            click.echo(f"deleting {directory}", err=True)
            index.delete()
        stats = index_builtin(index, _progress("plumb corpus"))
        totals = [stats]
        for folder in dict.fromkeys([*registry.load(), *new_folders]):
            if not folder.is_dir():
                click.echo(f"warning: {folder} no longer exists; skipped", err=True)
                continue
            help_stats, packages = index_node_modules(index, folder, _progress(str(folder)))
            totals.append(help_stats)
            names = ", ".join(f"{p.name}@{p.version}" for p in packages) or "no node packages"
            click.echo(f"{folder}: {names}", err=True)
            registry.add(folder)
    except CorpusIndexError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    added = sum(s.added for s in totals)
    updated = sum(s.updated for s in totals)
    removed = sum(s.removed for s in totals)
    unchanged = sum(s.unchanged for s in totals)
    click.echo(
        f"index at {directory}: {added} added, {updated} updated, {removed} removed, "
        f"{unchanged} unchanged in {time.perf_counter() - started:.1f} s"
    )


@cli.command("docs")
@click.argument("query")
@click.option(
    "-k",
    "--top",
    "k",
    type=click.IntRange(1, 50),
    default=5,
    show_default=True,
    help="How many passages to print.",
)
@click.option(
    "--kind",
    type=KIND_CHOICES,
    help="Only node documents (doc), example flows (example) or installed help (help).",
)
@click.option("--type", "node_type", help="Only passages about this node type, e.g. 'mqtt out'.")
@click.option("--package", help="Only passages about nodes of this npm package.")
@click.option(
    "--mode",
    type=MODE_CHOICES,
    default="hybrid",
    show_default=True,
    help="Ranking: dense embeddings, lexical BM25, or both fused.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the hits as JSON.")
@click.option("--full", is_flag=True, help="Print whole passages instead of their start.")
@click.option("--index-dir", help="Index directory (default: $PLUMB_DATA_DIR/index).")
def docs_command(
    query: str,
    k: int,
    kind: str | None,
    node_type: str | None,
    package: str | None,
    mode: str,
    as_json: bool,
    full: bool,
    index_dir: str | None,
) -> None:
    """Search node documentation and example flows.

    QUERY is a question or task in plain words, e.g. "how do I read a coil over modbus".
    Builds the index first if there is none yet.
    """
    from corpus.build import index_builtin
    from corpus.index import CorpusIndexError, QueryError

    index = _open_index(_index_dir(index_dir))
    try:
        if not index.exists():
            click.echo("no index yet; building it (once)", err=True)
            index_builtin(index, _progress("plumb corpus"))
        hits = index.search(query, k, kind=kind, node_type=node_type, package=package, mode=mode)
    except QueryError as exc:
        raise click.UsageError(str(exc)) from None
    except CorpusIndexError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps({"query": query, "hits": [h.to_dict() for h in hits]}, indent=2))
        return
    if not hits:
        click.echo("no passages match those filters")
        return
    for number, hit in enumerate(hits, start=1):
        p = hit.passage
        where = ", ".join(x for x in (p.kind, p.package, p.source) if x)
        click.echo(click.style(f"{number}. {p.title}", bold=True) + f"  [{where}]")
        text = p.text if full or len(p.text) <= 500 else p.text[:500].rstrip() + " ..."
        for line in text.splitlines():
            click.echo(f"   {line}")
        click.echo()
