"""The benchmark measures what it claims: a valid flow of the stated size."""

from __future__ import annotations

import json

from bench import validate_bench
from bench.flows import large_flow
from flowschema import validate_flow


def test_large_flow_is_valid_and_sized() -> None:
    flow = large_flow(1000)
    assert len(flow) == 1000
    assert len({n["id"] for n in flow}) == 1000
    report = validate_flow(flow)
    assert report.valid, [str(f) for f in report.errors[:5]]
    assert sum(n["type"] == "function" for n in flow) > 10


def test_benchmark_runs_and_reports(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "r.json"
    assert (
        validate_bench.main(
            ["--nodes", "200", "--runs", "2", "--anchor-runs", "1", "--json", str(out)]
        )
        == 0
    )
    results = json.loads(out.read_text())
    assert results["nodes"] == 200
    assert results["plumb_validator_full"]["runs"] == 2
    assert results["anchor_jsonschema_shape_only"]["median_ms"] > 0
