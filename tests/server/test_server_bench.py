"""bench/server_bench.py end to end, small: `ask serve --model fake` as a real subprocess,
three chat sessions, a few streamed requests, one overhead round. The figures must be
there and the load must have gone through without errors; no time is asserted."""

from __future__ import annotations

import json
from pathlib import Path

from bench import server_bench


def test_the_bench_runs_and_reports_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    code = server_bench.main(["--model", "fake", "--sessions", "3", "--ttfe-runs", "3",
                              "--rounds", "1", "--json", str(out)])
    assert code == 0
    results = json.loads(out.read_text())

    first = results["first_event"]
    assert first["errors"] == 0
    assert first["first_event"]["n"] == 3
    assert first["first_event"]["p50_ms"] > 0 and first["first_event"]["p95_ms"] > 0
    assert set(first["first_event_names"]) <= {"queued", "started"}

    overhead = results["overhead"]
    assert overhead["total"]["requests"] == len(overhead["by_request"])
    for figures in overhead["by_request"].values():
        assert figures["direct_mean_ms"] > 0 and figures["http_mean_ms"] > 0
        assert isinstance(figures["overhead_pct"], float)
    assert overhead["by_request"]["clarify"]["outcome"] == "clarify"
    assert overhead["different_outcomes"] == []

    chat = results["chat"]
    assert chat["sessions"] == 3 and chat["turns"] == 6
    assert chat["errors"] == 0, chat["error_samples"]
    assert chat["turn_latency"]["p50_ms"] > 0 and chat["turn_latency"]["p95_ms"] > 0
    assert chat["max_queue_position"] >= 0
    assert sum(chat["outcomes"].values()) == 6
    assert chat["wall_seconds"] > 0

    memory = results["memory"]
    assert memory["idle_mib"] > 0 and memory["warm_mib"] > 0
    assert memory["peak_mib"] > 0 and memory["samples"] >= 1
    assert {row["figure"] for row in results["table"]} >= {
        "first event p50 ms", "first event p95 ms", "overhead total %",
        "overhead total % (CPU time)", "chat: 3 sessions, errors",
        "RSS idle MiB (model loaded)", "RSS peak MiB (chats)"}
