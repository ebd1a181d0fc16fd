"""The runtime benchmark runs end to end against Plumb and a real Node-RED (tiny sizes; no
timing is asserted, only that every figure was measured)."""

from __future__ import annotations

import json
from pathlib import Path

from bench import runtime_bench
from flowschema import validate_flow


def test_bench_flow_is_valid() -> None:
    flow = runtime_bench.bench_flow(100, 1883, "plumbbench/test")
    report = validate_flow(flow)
    assert report.valid, [str(f) for f in report.errors[:5]]


def test_runtime_benchmark_runs_and_reports(tmp_path: Path, node_red_root: Path) -> None:
    out = tmp_path / "runtime.json"
    assert runtime_bench.main(["--seconds", "0.3", "--concurrency", "2", "--messages", "50",
                               "--mqtt-messages", "50", "--json", str(out)]) == 0
    results = json.loads(out.read_text())
    for side in ("plumb", "node_red"):
        for scenario in ("http_change", "http_function"):
            assert results[side][scenario]["requests"] > 0
            assert results[side][scenario]["errors"] == 0
        assert results[side]["chain"]["msg_s"] > 0
        assert results[side]["function"]["msg_s"] > 0
    figures = {row["figure"] for row in results["table"]}
    assert "5-node chain msg/s" in figures and "mqtt in->out msg/s" in figures
