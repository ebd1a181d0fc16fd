"""Recall@5, MRR and latency of retrieval: dense-only, lexical-only and hybrid, side by side.

    python -m evals.retrieval [--index-dir DIR] [--json results.json] [--limit N]

Without --index-dir the index is built from scratch in a temporary directory, and the build
time and size on disk are reported too. Each query in queries.jsonl lists the node types
whose documentation must come back; a query's recall@5 is the share of those types with a
document passage among the top 5 hits, its reciprocal rank 1/rank of the first such hit.

Two scopes are measured: "docs" searches node documents only (what the generator asks
for when it needs to know how nodes are configured) and "all" searches documents and
example flows together (what `ask docs` shows by default), where examples take slots.
Queries are also split by id parity into a "dev" half (odd) and a held-out "test" half
(even): retrieval settings may be tuned on dev only, and test shows whether that held.
Targets (docs scope, hybrid): recall@5 >= 0.95; median query < 30 ms; build < 60 s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corpus.build import index_builtin
from corpus.index import MODES, CorpusIndex, Hit

QUERIES = Path(__file__).with_name("queries.jsonl")
K = 5
TARGET_RECALL = 0.95
TARGET_MEDIAN_MS = 30.0
TARGET_BUILD_S = 60.0


@dataclass(frozen=True)
class Query:
    id: str
    text: str
    types: tuple[str, ...]


def load_queries(path: Path = QUERIES) -> list[Query]:
    queries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        data = json.loads(line)
        if not data.get("types"):
            raise ValueError(f"{path.name} line {number}: no expected types")
        queries.append(Query(data["id"], data["query"], tuple(data["types"])))
    return queries


def score(hits: list[Hit], expected: tuple[str, ...]) -> tuple[float, float]:
    """(recall@k, reciprocal rank) for one query."""
    found: set[str] = set()
    first: int | None = None
    for rank, hit in enumerate(hits, start=1):
        p = hit.passage
        if p.kind == "doc" and p.node_type in expected:
            found.add(p.node_type)
            first = first or rank
    return len(found) / len(expected), (1.0 / first if first else 0.0)


def directory_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


SCOPES = {"docs": "doc", "all": None}


def evaluate(index: CorpusIndex, queries: list[Query]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    misses: list[dict[str, Any]] = []
    for scope, kind in SCOPES.items():
        for mode in MODES:
            index.search("warm up the model and caches", K, kind=kind, mode=mode)
            per_query: list[tuple[Query, float, float]] = []
            times = []
            for query in queries:
                start = time.perf_counter()
                hits = index.search(query.text, K, kind=kind, mode=mode)
                times.append((time.perf_counter() - start) * 1000)
                recall, rr = score(hits, query.types)
                per_query.append((query, recall, rr))
                if scope == "docs" and mode == "hybrid" and recall < 1:
                    misses.append(
                        {
                            "id": query.id,
                            "query": query.text,
                            "expected": query.types,
                            "got": [h.passage.node_type or h.passage.id for h in hits],
                        }
                    )
            ordered = sorted(times)
            row: dict[str, Any] = {
                "median_ms": round(statistics.median(ordered), 2),
                "p90_ms": round(ordered[int(0.9 * (len(ordered) - 1))], 2),
            }
            for split, keep in (
                ("", lambda q: True),
                ("dev_", _is_dev),
                ("test_", lambda q: not _is_dev(q)),
            ):
                chosen = [(r, rr) for q, r, rr in per_query if keep(q)]
                if chosen:
                    row[f"{split}recall_at_5"] = round(statistics.fmean(r for r, _ in chosen), 4)
                    row[f"{split}mrr"] = round(statistics.fmean(rr for _, rr in chosen), 4)
            results[f"{scope}/{mode}"] = row
    results["hybrid_misses"] = misses
    return results


def _is_dev(query: Query) -> bool:
    digits = "".join(c for c in query.id if c.isdigit())
    return bool(digits) and int(digits) % 2 == 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index-dir", help="use this existing index instead of building one")
    parser.add_argument("--json", dest="json_out", help="also write the results to this file")
    parser.add_argument("--limit", type=int, help="only the first N queries (smoke runs)")
    parser.add_argument("--show-misses", action="store_true", help="list hybrid misses")
    args = parser.parse_args(argv)

    queries = load_queries()[: args.limit] if args.limit else load_queries()
    report: dict[str, Any] = {"queries": len(queries)}
    with tempfile.TemporaryDirectory(prefix="plumb-index-") as scratch:
        if args.index_dir:
            index = CorpusIndex(Path(args.index_dir))
        else:
            index = CorpusIndex(Path(scratch) / "index")
            start = time.perf_counter()
            stats = index_builtin(index)
            report["build_s"] = round(time.perf_counter() - start, 2)
            report["passages"] = stats.added
            report["index_bytes"] = directory_size(index.directory)
        report.update(evaluate(index, queries))
        index.close()

    print(f"{len(queries)} queries, k={K}")
    if "build_s" in report:
        print(
            f"index: {report['passages']} passages built in {report['build_s']} s, "
            f"{report['index_bytes'] / 1e6:.1f} MB on disk"
        )
    print(
        f"{'scope/mode':<14} {'recall@5':>9} {'MRR':>7} {'dev r@5':>8} {'test r@5':>9} "
        f"{'median ms':>10} {'p90 ms':>8}"
    )
    for scope in SCOPES:
        for mode in MODES:
            r = report[f"{scope}/{mode}"]
            print(
                f"{scope + '/' + mode:<14} {r['recall_at_5']:>9.3f} {r['mrr']:>7.3f} "
                f"{r.get('dev_recall_at_5', 0):>8.3f} {r.get('test_recall_at_5', 0):>9.3f} "
                f"{r['median_ms']:>10.1f} {r['p90_ms']:>8.1f}"
            )
    hybrid = report["docs/hybrid"]
    report["targets"] = {
        "recall_at_5": hybrid["recall_at_5"] >= TARGET_RECALL,
        "median_ms": hybrid["median_ms"] < TARGET_MEDIAN_MS,
        "build_s": report.get("build_s", 0) < TARGET_BUILD_S,
    }
    print(
        "targets: "
        + ", ".join(f"{k} {'met' if v else 'NOT met'}" for k, v in report["targets"].items())
    )
    if args.show_misses:
        for miss in report["hybrid_misses"]:
            print(
                f"  {miss['id']}: {miss['query']!r} expected {miss['expected']} got {miss['got']}"
            )
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
