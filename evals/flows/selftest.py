"""Self-test of the benchmark: every reference passes every check, and broken variants fail.

    python -m evals.flows.selftest [CASE_FILE_OR_FOLDER ...] [--cases FILTER]
                                   [--no-behaviour-variants]

For each flow case the reference is scored in full and must pass. Each applicable broken
variant (wrong topic, wrong register, unknown type, missing wire) must fail. The missing-wire
variant is also scored by its behaviour alone (structure checks skipped), which proves that
the behaviour scenarios watch the path and are not satisfied by anything else.
"""

from __future__ import annotations

import argparse
import queue
import sys
import threading
import time
from pathlib import Path

from evals.flows.cases import CASES_DIR, Case, load_cases, parse_case
from evals.flows.report import start_harnesses
from evals.flows.scoring import Answer, Harness, score
from evals.flows.variants import VARIANTS


def selftest_case(case: Case, harness: Harness, behaviour_variants: bool = True) -> list[str]:
    """Problems found with one case (empty when the case is sound)."""
    problems: list[str] = []
    if case.outcome != "flow":
        right = score(case, Answer(case.outcome), harness)
        wrong = score(case, Answer("flow", case.base_flow or []), harness)
        if not right.passed:
            problems.append(f"the right outcome fails: {right.reason}")
        if wrong.passed:
            problems.append("answering with a flow passes a clarify/refuse case")
        return problems
    assert case.reference is not None
    reference = score(case, Answer("flow", case.reference), harness)
    if not reference.passed:
        problems.append(f"reference fails at {reference.failed_stage}: {reference.reason}")
        return problems
    if case.runtime == "node-red" and not case.behaviour:
        problems.append("no behaviour scenario: nothing checks that the flow works")
    for name, make in VARIANTS.items():
        broken = make(case, case.reference)
        if broken is None:
            continue
        if score(case, Answer("flow", broken), harness).passed:
            problems.append(f"variant {name} passes every check")
        if (
            name == "missing_wire"
            and behaviour_variants
            and case.behaviour
            and case.runtime == "node-red"
        ):
            alone = score(case, Answer("flow", broken), harness, stages=("behaviour",))
            if alone.passed:
                problems.append("the behaviour scenarios pass even with the path cut")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", help="case files or folders (default: all)")
    parser.add_argument("--cases", help="only cases whose id or category matches (glob)")
    parser.add_argument("--jobs", type=int, default=3, help="cases checked side by side")
    parser.add_argument(
        "--no-behaviour-variants",
        action="store_true",
        help="skip the behaviour-only run of the missing-wire variant",
    )
    args = parser.parse_args(argv)
    cases: list[Case] = []
    for raw in args.paths:
        path = Path(raw)
        cases += (
            [parse_case(p) for p in sorted(path.rglob("*.json"))]
            if path.is_dir()
            else [parse_case(path)]
        )
    if not args.paths:
        cases = load_cases(args.cases, CASES_DIR)
    started = time.monotonic()
    lock = threading.Lock()
    failures: list[str] = []
    pending: queue.SimpleQueue[Case] = queue.SimpleQueue()
    for case in cases:
        pending.put(case)

    def work(harness: Harness) -> None:
        while True:
            try:
                case = pending.get_nowait()
            except queue.Empty:
                return
            case_started = time.monotonic()
            problems = selftest_case(case, harness, not args.no_behaviour_variants)
            took = time.monotonic() - case_started
            with lock:
                print(f"{'ok  ' if not problems else 'FAIL'} {case.id} ({took:.1f} s)", flush=True)
                for problem in problems:
                    print(f"     - {problem}", flush=True)
                if problems:
                    failures.append(case.id)

    harnesses = start_harnesses(min(args.jobs, len(cases)))
    try:
        threads = [threading.Thread(target=work, args=(h,), daemon=True) for h in harnesses]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        for harness in harnesses:
            harness.close()
    print(
        f"{len(cases) - len(failures)} passed, {len(failures)} failed "
        f"in {time.monotonic() - started:.0f} s"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
