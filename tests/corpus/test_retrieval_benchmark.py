"""The retrieval benchmark: well-formed labels, a working runner, and the quality target."""

from __future__ import annotations

from collections import Counter

from corpus.index import CorpusIndex
from evals.retrieval.bench import TARGET_RECALL, evaluate, load_queries, main, score
from flowschema import default_catalog


def test_queries_are_labelled_with_catalog_types() -> None:
    queries = load_queries()
    assert len(queries) >= 150
    assert len({q.id for q in queries}) == len(queries)
    assert len({q.text.lower() for q in queries}) == len(queries)
    types = Counter(t for q in queries for t in q.types)
    assert set(types) <= set(default_catalog().types())
    assert set(types) == set(default_catalog().types()), "every node type is asked about"


def test_scoring() -> None:
    from corpus.index import Hit
    from corpus.passages import Passage

    def hit(kind: str, node_type: str) -> Hit:
        return Hit(
            Passage(id=f"{kind}:{node_type}", kind=kind, title="", text="", node_type=node_type),
            1.0,
            1,
            1,
        )

    hits = [hit("example", "mqtt out"), hit("doc", "inject"), hit("doc", "mqtt out")]
    assert score(hits, ("mqtt out",)) == (1.0, 1 / 3)
    assert score(hits, ("mqtt out", "trigger")) == (0.5, 1 / 3)
    assert score(hits, ("trigger",)) == (0.0, 0.0)


def test_hybrid_retrieval_meets_its_recall_target(built_index: CorpusIndex) -> None:
    results = evaluate(built_index, load_queries())
    hybrid = results["docs/hybrid"]
    assert hybrid["recall_at_5"] >= TARGET_RECALL, results["hybrid_misses"]
    # Fusion must beat each ranking alone, or it is not earning its cost.
    assert hybrid["recall_at_5"] > results["docs/dense"]["recall_at_5"]
    assert hybrid["recall_at_5"] > results["docs/lexical"]["recall_at_5"]


def test_runner_smoke(built_index: CorpusIndex, tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "r.json"
    assert (
        main(["--index-dir", str(built_index.directory), "--limit", "10", "--json", str(out)]) == 0
    )
    assert '"docs/hybrid"' in out.read_text()
