"""How long validating a 1,000-node flow takes, beside the reference JSON Schema engine.

    python -m bench.validate_bench [--nodes 1000] [--runs 30] [--json results.json]

Plumb's validator does everything (shape, references, wiring, JavaScript parsing, cron,
reachability). The anchor is the `jsonschema` package checking the same flow against the
exported whole-flow schema: shape only, which is what a tool built on the plain JSON
Schema would do. Target: Plumb's median under 50 ms on this 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import jsonschema

from bench.flows import large_flow
from flowschema import Validator, default_catalog, flow_schema


def timed(fn: Callable[[], Any], runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_ms": round(statistics.median(ordered), 2),
        "p90_ms": round(ordered[int(0.9 * (len(ordered) - 1))], 2),
        "min_ms": round(ordered[0], 2),
        "runs": len(ordered),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=1000, help="flow size (default 1000)")
    parser.add_argument("--runs", type=int, default=30, help="timed runs of Plumb (default 30)")
    parser.add_argument("--anchor-runs", type=int, default=5, help="timed runs of the anchor")
    parser.add_argument("--json", dest="json_out", help="also write the results to this file")
    args = parser.parse_args(argv)

    flow = large_flow(args.nodes)
    function_nodes = sum(1 for n in flow if n["type"] == "function")

    start = time.perf_counter()
    validator = Validator(default_catalog())
    report = validator.validate(flow)
    cold_ms = (time.perf_counter() - start) * 1000
    if not report.valid:
        print("benchmark flow is invalid:", *report.errors[:5], sep="\n  ", file=sys.stderr)
        return 1
    plumb = summary(timed(lambda: validator.validate(flow), args.runs))

    reference = jsonschema.Draft202012Validator(flow_schema(default_catalog()))
    anchor = summary(timed(lambda: reference.is_valid(flow), args.anchor_runs))

    results = {
        "nodes": len(flow),
        "function_nodes": function_nodes,
        "plumb_validator_full": plumb,
        "plumb_first_call_ms": round(cold_ms, 2),
        "anchor_jsonschema_shape_only": anchor,
        "target_median_ms": 50,
        "meets_target": plumb["median_ms"] < 50,
    }
    print(f"flow: {len(flow)} nodes ({function_nodes} function nodes)")
    print(
        f"plumb validator (all checks): median {plumb['median_ms']} ms, "
        f"p90 {plumb['p90_ms']} ms over {plumb['runs']} runs; first call {cold_ms:.1f} ms"
    )
    print(
        f"anchor: jsonschema, shape only: median {anchor['median_ms']} ms "
        f"over {anchor['runs']} runs"
    )
    print(f"target < 50 ms: {'met' if results['meets_target'] else 'NOT met'}")
    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
