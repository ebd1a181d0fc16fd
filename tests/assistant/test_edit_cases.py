"""The public edit cases: apply_edit(base_flow, request) must satisfy each case's node
matchers and paths (the structure stage of the benchmark) and validate."""

from __future__ import annotations

import copy

import pytest

from assistant.edit import apply_edit
from evals.flows.cases import Case, load_cases
from evals.flows.matching import matching_ids
from evals.flows.scoring import check_structure
from flowschema import validate_flow

EDIT_CASES = [case for case in load_cases() if case.category == "edit"]


def test_there_are_ten_public_edit_cases() -> None:
    assert len(EDIT_CASES) == 10


@pytest.mark.parametrize("case", EDIT_CASES, ids=lambda c: c.id)
def test_public_edit_case(case: Case) -> None:
    assert case.base_flow is not None
    base = copy.deepcopy(case.base_flow)
    result = apply_edit(case.base_flow, case.request)
    assert case.base_flow == base, "the input flow was modified"
    assert result.unresolved is None, result.unresolved
    for name, matcher in case.nodes.items():
        assert matching_ids(result.flow, matcher), f"no node matches {name}"
    assert check_structure(case, result.flow) is None
    assert not validate_flow(result.flow).errors
    assert result.summary and result.ops
    untouched = {n["id"]: n for n in base}
    kept = [n for n in result.flow if untouched.get(n["id"]) == n]
    assert kept, "every node of the base flow changed"
    for node in result.flow:
        old = untouched.get(node["id"])
        if old is not None and "x" in old:
            assert (node["x"], node["y"]) == (old["x"], old["y"]), "a base node moved"


@pytest.mark.parametrize("case", EDIT_CASES, ids=lambda c: c.id)
def test_public_edit_case_is_deterministic(case: Case) -> None:
    assert case.base_flow is not None
    first = apply_edit(case.base_flow, case.request)
    second = apply_edit(case.base_flow, case.request)
    assert first.flow == second.flow and first.summary == second.summary
