"""Running a generator over the cases and reporting: results.json, report.md, chart.png."""

from __future__ import annotations

import json
import queue
import statistics
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evals.flows.cases import CATEGORIES, Case
from evals.flows.generators import Generator
from evals.flows.scoring import CaseResult, Harness, score


def run(
    cases: list[Case],
    generate: Generator,
    harnesses: list[Harness],
    progress: Callable[[int, CaseResult], None] | None = None,
) -> list[CaseResult]:
    """Score every case; with several harnesses, cases run side by side (most of a case's
    time is spent waiting for a flow to react, so two cores carry several at once)."""
    results: dict[int, CaseResult] = {}
    pending: queue.SimpleQueue[tuple[int, Case]] = queue.SimpleQueue()
    for position, case in enumerate(cases):
        pending.put((position, case))
    lock = threading.Lock()

    def work(harness: Harness) -> None:
        while True:
            try:
                position, case = pending.get_nowait()
            except queue.Empty:
                return
            result = score(case, generate(case), harness)
            with lock:
                results[position] = result
                if progress:
                    progress(len(results), result)

    threads = [threading.Thread(target=work, args=(h,), daemon=True) for h in harnesses]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [results[i] for i in range(len(cases))]


def start_harnesses(count: int) -> list[Harness]:
    """Start `count` harnesses at once (each brings up Node-RED and its servers)."""
    started: list[Harness] = []
    errors: list[BaseException] = []

    def one() -> None:
        try:
            started.append(Harness())
        except BaseException as exc:  # reported once the others are up or down
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        for harness in started:
            harness.close()
        raise errors[0]
    return started


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def summarise(results: list[CaseResult], label: str, wall_seconds: float) -> dict[str, Any]:
    by_category: dict[str, list[CaseResult]] = defaultdict(list)
    for result in results:
        by_category[result.category].append(result)
    flow_answers = [r for r in results if r.expected == "flow" and r.got == "flow"]
    valid = [r for r in flow_answers if r.stages.get("validity") is not False]
    decisions = [r for r in results if r.expected in ("clarify", "refuse")]
    seconds = [r.seconds for r in results if r.seconds > 0]
    tokens = [(r.tokens, r.seconds) for r in results if r.tokens and r.seconds > 0]
    return {
        "generator": label,
        "cases": len(results),
        "passed": sum(r.passed for r in results),
        "pass_rate": round(sum(r.passed for r in results) / len(results), 4) if results else 0,
        "per_category": {
            cat: {
                "cases": len(rs),
                "passed": sum(r.passed for r in rs),
                "pass_rate": round(sum(r.passed for r in rs) / len(rs), 4),
            }
            for cat in CATEGORIES
            if (rs := by_category.get(cat))
        },
        "validity_rate": round(len(valid) / len(flow_answers), 4) if flow_answers else None,
        "clarify_refuse_accuracy": (
            round(sum(r.passed for r in decisions) / len(decisions), 4) if decisions else None
        ),
        "generation_seconds_median": round(statistics.median(seconds), 2) if seconds else None,
        "generation_seconds_p95": round(_percentile(seconds, 0.95), 2) if seconds else None,
        "tokens_per_second": (
            round(sum(t for t, _ in tokens) / sum(s for _, s in tokens), 2) if tokens else None
        ),
        "wall_seconds": round(wall_seconds, 1),
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def write_report(results: list[CaseResult], summary: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(
        json.dumps({"summary": summary, "cases": [r.to_dict() for r in results]}, indent=2)
    )
    _chart(summary, out / "chart.png")
    lines = [
        f"# Plumb flow benchmark: {summary['generator']}",
        "",
        f"{summary['passed']} of {summary['cases']} cases passed "
        f"({summary['pass_rate']:.0%}) in {summary['wall_seconds']} s, {summary['finished']}.",
        "",
        "| measure | value |",
        "|---|---|",
        "| validity rate (flow answers that validate and start) | "
        f"{_pct(summary['validity_rate'])} |",
        f"| clarification / refusal accuracy | {_pct(summary['clarify_refuse_accuracy'])} |",
        f"| generation seconds, median / p95 | {_num(summary['generation_seconds_median'])} / "
        f"{_num(summary['generation_seconds_p95'])} |",
        f"| tokens per second | {_num(summary['tokens_per_second'])} |",
        "",
        "![pass rate per category](chart.png)",
        "",
        "| category | cases | passed | pass rate |",
        "|---|---|---|---|",
    ]
    for category, row in summary["per_category"].items():
        lines.append(f"| {category} | {row['cases']} | {row['passed']} | {row['pass_rate']:.0%} |")
    lines += ["", "## Cases", "", "| case | result | stage | reason |", "|---|---|---|---|"]
    for r in results:
        reason = r.reason.replace("|", "/").replace("\n", " ")[:240]
        lines.append(
            f"| {r.id} | {'pass' if r.passed else 'FAIL'} | {r.failed_stage or ''} | {reason} |"
        )
    (out / "report.md").write_text("\n".join(lines) + "\n")


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:g}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def _chart(summary: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    categories = list(summary["per_category"])
    rates = [summary["per_category"][c]["pass_rate"] * 100 for c in categories]
    figure, axes = plt.subplots(figsize=(9, 4), dpi=100)
    bars = axes.bar(categories, rates, color="#5b8db8")
    axes.set_ylim(0, 105)
    axes.set_ylabel("pass rate (%)")
    axes.set_title(
        f"Pass rate per category - {summary['generator']} ({summary['passed']}/{summary['cases']})"
    )
    for bar, rate in zip(bars, rates, strict=True):
        axes.text(
            bar.get_x() + bar.get_width() / 2, rate + 1, f"{rate:.0f}", ha="center", fontsize=8
        )
    axes.tick_params(axis="x", rotation=30)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
