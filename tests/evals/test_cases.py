"""The eval cases: well-formed, references right, broken variants caught, and kept apart
from the corpus the generator learns from."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from corpus.passages import load_examples
from evals.flows.cases import CATEGORIES, Case, load_cases
from evals.flows.generators import references
from evals.flows.scoring import Answer, Harness, check_structure, score
from evals.flows.selftest import selftest_case
from evals.flows.variants import VARIANTS
from flowschema import validate_flow

CASES = load_cases()
FLOW_CASES = [c for c in CASES if c.outcome == "flow"]
STATIC = ("outcome", "validity", "structure")


def test_enough_cases_in_every_category() -> None:
    counts = Counter(c.category for c in CASES)
    assert set(counts) == set(CATEGORIES), counts
    assert min(counts.values()) >= 8, counts
    assert len(CASES) >= 120
    assert all(c.outcome == "clarify" for c in CASES if c.category == "clarify")
    assert all(c.outcome == "refuse" for c in CASES if c.category == "refuse")


def _normal(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def test_requests_are_distinct() -> None:
    texts = [_normal(c.request) for c in CASES]
    assert len(set(texts)) == len(texts)


@pytest.mark.parametrize("case", FLOW_CASES, ids=lambda c: c.id)
def test_reference_is_valid_and_matches_its_expectations(case: Case) -> None:
    assert case.reference is not None
    report = validate_flow(case.reference)
    assert report.valid and not report.warnings, [str(f) for f in report.findings]
    assert check_structure(case, case.reference) is None
    result = score(case, references(case), None, stages=STATIC)
    assert result.passed, result.reason


@pytest.mark.parametrize("case", FLOW_CASES, ids=lambda c: c.id)
def test_static_variants_fail(case: Case) -> None:
    assert case.reference is not None
    tried = 0
    for name, make in VARIANTS.items():
        if name == "missing_wire" and case.behaviour and case.runtime == "node-red":
            continue  # a cut wire may still leave a structural path; behaviour catches it
        broken = make(case, case.reference)
        if broken is None:
            continue
        tried += 1
        result = score(case, Answer("flow", broken), None, stages=STATIC)
        assert not result.passed, f"variant {name} passes"
    assert tried >= 1


@pytest.mark.parametrize("case", [c for c in CASES if c.outcome != "flow"], ids=lambda c: c.id)
def test_decision_cases(case: Case) -> None:
    assert score(case, Answer(case.outcome), None).passed
    assert not score(case, Answer("flow", []), None).passed
    other = "refuse" if case.outcome == "clarify" else "clarify"
    assert not score(case, Answer(other), None).passed


# -- apart from the corpus -------------------------------------------------------------


def _signature(flow: list[dict[str, Any]]) -> str:
    """A flow without ids, positions and names: what it does, not how it is laid out."""
    keep = []
    for node in flow:
        if node.get("type") in ("tab", "group", "comment"):
            continue
        props = {
            k: v
            for k, v in node.items()
            if k not in ("id", "x", "y", "z", "g", "wires", "name", "info", "label")
        }
        keep.append(json.dumps(props, sort_keys=True))
    return "\n".join(sorted(keep))


def test_no_reference_flow_is_in_the_corpus() -> None:
    corpus = {_signature(e.flow): e.id for e in load_examples()}
    clashes = {
        c.id: corpus[_signature(c.reference)]
        for c in FLOW_CASES
        if c.reference and _signature(c.reference) in corpus
    }
    assert not clashes


def test_no_request_is_in_the_corpus() -> None:
    corpus = {_normal(e.request): e.id for e in load_examples()}
    clashes = {c.id: corpus[_normal(c.request)] for c in CASES if _normal(c.request) in corpus}
    assert not clashes


def test_no_request_is_a_near_paraphrase_of_a_corpus_request() -> None:
    from corpus.embedding import Embedder

    embedder = Embedder()
    examples = load_examples()
    corpus_vectors = embedder.embed([e.request for e in examples])
    case_vectors = embedder.embed([c.request for c in CASES])
    near = []
    for case, vector in zip(CASES, case_vectors, strict=True):
        for example, other in zip(examples, corpus_vectors, strict=True):
            similarity = sum(a * b for a, b in zip(vector, other, strict=True))
            if similarity >= 0.9:
                near.append((case.id, example.id, round(similarity, 3)))
    assert not near


# -- with Node-RED: a smoke subset of the full self-test ----------------------------------


def _smoke() -> list[Case]:
    chosen: dict[str, Case] = {}
    for case in CASES:
        chosen.setdefault(case.category, case)
    return list(chosen.values())


@pytest.fixture(scope="module")
def harness(node_red_root: Any) -> Iterator[Harness]:
    with Harness() as running:
        yield running


@pytest.mark.nodered
@pytest.mark.parametrize("case", _smoke(), ids=lambda c: c.id)
def test_selftest_smoke(case: Case, harness: Harness) -> None:
    assert selftest_case(case, harness) == []
