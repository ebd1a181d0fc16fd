"""The index with the real embedding model and a real chromadb directory."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from corpus.embedding import Embedder, EmbeddingModelError, model_dir, verify_weights
from corpus.index import CorpusIndex, CorpusIndexError, QueryError
from corpus.passages import BUILTIN_ORIGIN, Passage, builtin_passages
from tests.conftest import NetworkGuard


def types_of(hits: list) -> list[str]:  # type: ignore[type-arg]
    return [h.passage.node_type for h in hits]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("how do I read a coil over modbus", "modbus-read"),
        ("publish the value to the broker and keep it retained", "mqtt out"),
        ("only let a value through when it changed by more than 0.5", "rbe"),
        ("read tag ns=2;s=Oven3.Temperature from the OPC UA server", "OpcUa-Client|OpcUa-Item"),
        ("run something every weekday at 06:00", "inject"),
    ],
)
def test_hybrid_search_finds_the_right_node(
    built_index: CorpusIndex, query: str, expected: str
) -> None:
    found = types_of(built_index.search(query, 5))
    assert set(expected.split("|")) & set(found), found


def test_filters(built_index: CorpusIndex) -> None:
    hits = built_index.search("poll registers", 5, kind="example")
    assert hits and all(h.passage.kind == "example" for h in hits)
    hits = built_index.search("poll registers", 5, node_type="mqtt out")
    assert hits and all(
        h.passage.node_type == "mqtt out" or "mqtt out" in h.passage.types for h in hits
    )
    hits = built_index.search("read a register", 8, package="node-red-contrib-modbus")
    assert hits and all(h.passage.package == "node-red-contrib-modbus" for h in hits)
    assert built_index.search("anything", 5, node_type="no-such-type") == []


def test_modes_rank_differently_but_all_answer(built_index: CorpusIndex) -> None:
    for mode in ("dense", "lexical", "hybrid"):
        hits = built_index.search("modbus-write FC6 setpoint", 5, mode=mode)
        assert hits, mode
        if mode == "dense":
            assert all(h.lexical_rank is None for h in hits)
        if mode == "lexical":
            assert all(h.dense_rank is None for h in hits)


@pytest.mark.parametrize("query", ["", "   \n\t"])
def test_empty_query_is_refused(built_index: CorpusIndex, query: str) -> None:
    with pytest.raises(QueryError, match="empty"):
        built_index.search(query)


def test_huge_query_is_refused(built_index: CorpusIndex) -> None:
    with pytest.raises(QueryError, match="102,400 characters"):
        built_index.search("x" * 102_400)


def test_bad_filters_are_refused(built_index: CorpusIndex) -> None:
    with pytest.raises(QueryError, match="mode"):
        built_index.search("modbus", mode="fuzzy")
    with pytest.raises(QueryError, match="kind"):
        built_index.search("modbus", kind="manual")


def test_concurrent_queries_from_threads(built_index: CorpusIndex) -> None:
    queries = ["read a coil over modbus", "mqtt retain", "catch errors", "csv file log"] * 6
    expected = [types_of(built_index.search(q, 5)) for q in queries]
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(lambda q: types_of(built_index.search(q, 5)), queries))
    assert got == expected


class Recorder:
    """Records what a refresh announced (total, to embed) and each embedded batch."""

    def __init__(self) -> None:
        self.announced: list[tuple[int, int]] = []
        self.batches: list[int] = []

    def __call__(self, total: int, to_embed: int) -> Callable[[int], None]:
        self.announced.append((total, to_embed))
        return self.batches.append


def test_refresh_is_incremental(
    tmp_path: Path, embedder: Embedder, no_network: NetworkGuard
) -> None:
    index = CorpusIndex(tmp_path / "index", embedder)
    passages = builtin_passages()[:40]
    first = index.refresh(passages, BUILTIN_ORIGIN)
    assert (first.added, first.updated, first.removed) == (40, 0, 0)
    again_progress = Recorder()
    again = index.refresh(passages, BUILTIN_ORIGIN, again_progress)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 40)
    assert again_progress.announced == [(40, 0)]
    assert again_progress.batches == [], "unchanged passages must not be embedded again"
    changed = [*passages[:-1], Passage(**{**passages[-1].__dict__, "text": "changed text"})]
    third_progress = Recorder()
    third = index.refresh(changed[:30] + changed[31:], BUILTIN_ORIGIN, third_progress)
    assert (third.added, third.updated, third.removed) == (0, 1, 1)
    assert third_progress.batches == [1]
    assert len(index.passages()) == 39
    # Survives reopening: the data is on disk.
    index.close()
    reopened = CorpusIndex(tmp_path / "index", embedder)
    assert reopened.passages()[changed[-1].id].text == "changed text"
    last = Recorder()
    reopened.refresh(changed[:30] + changed[31:], BUILTIN_ORIGIN, last)
    assert last.announced == [(39, 0)]
    assert no_network.attempts == []


def test_building_and_querying_never_touch_the_network(
    tmp_path: Path, embedder: Embedder, no_network: NetworkGuard
) -> None:
    index = CorpusIndex(tmp_path / "index", embedder)
    index.refresh(builtin_passages()[:10], BUILTIN_ORIGIN)
    index.search("read a coil", 3)
    assert no_network.attempts == []
    assert not (
        Path.home()
        / ".cache"
        / "chroma"
        / "onnx_models"
        / "all-MiniLM-L6-v2"
        / "onnx.tar.gz.partial"
    ).exists()


def test_missing_index_is_reported(tmp_path: Path, embedder: Embedder) -> None:
    with pytest.raises(CorpusIndexError, match="ask index"):
        CorpusIndex(tmp_path / "nothing", embedder).search("modbus")


@pytest.mark.parametrize("damage", ["manifest", "sqlite", "stray-files"])
def test_corrupt_index_gives_clear_error_and_rebuild_recovers(
    tmp_path: Path, embedder: Embedder, damage: str
) -> None:
    directory = tmp_path / "index"
    index = CorpusIndex(directory, embedder)
    index.refresh(builtin_passages()[:12], BUILTIN_ORIGIN)
    index.close()
    if damage == "manifest":
        (directory / "manifest.json").write_text("{not json")
    elif damage == "sqlite":
        for db in directory.rglob("*.sqlite3"):
            db.write_bytes(b"this is not a database" * 100)
    else:
        shutil.rmtree(directory)
        directory.mkdir()
        (directory / "leftover.bin").write_bytes(b"\0" * 10)
    broken = CorpusIndex(directory, embedder)
    with pytest.raises(CorpusIndexError, match=r"ask index --rebuild"):
        broken.search("modbus")
        broken.refresh(builtin_passages()[:12], BUILTIN_ORIGIN)
    broken.delete()
    recovered = CorpusIndex(directory, embedder)
    subset = builtin_passages()[:12]
    assert recovered.refresh(subset, BUILTIN_ORIGIN).added == 12
    assert recovered.search(subset[0].text[:200], 1)[0].passage.id == subset[0].id


def test_embedding_weights_are_verified(tmp_path: Path) -> None:
    verify_weights(model_dir())  # the installed package passes
    fake = tmp_path / "model"
    shutil.copytree(model_dir(), fake)
    with (fake / "model.safetensors").open("r+b") as handle:
        handle.seek(1000)
        handle.write(b"tampered")
    with pytest.raises(EmbeddingModelError, match="refusing to load"):
        Embedder(fake).embed(["x"])


def test_embeddings_are_normalised_and_semantic(embedder: Embedder) -> None:
    a, b, c = embedder.embed(
        [
            "read a holding register from the PLC",
            "poll a Modbus register on the controller",
            "bake a chocolate cake",
        ]
    )

    def dot(x: list[float], y: list[float]) -> float:
        return sum(p * q for p, q in zip(x, y, strict=True))

    assert abs(dot(a, a) - 1) < 1e-4
    assert dot(a, b) > dot(a, c) + 0.2


def test_missing_retrieval_libraries_are_named(
    tmp_path: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "chromadb", None)  # as if it were not installed
    index = CorpusIndex(tmp_path / "index", embedder)
    with pytest.raises(CorpusIndexError, match=r"pip install 'plumb\[retrieval\]'"):
        index.refresh(builtin_passages()[:1], BUILTIN_ORIGIN)
    assert not (tmp_path / "index").exists(), "nothing is left on disk"
