"""The shipped corpus: a document for every catalog type, tied to it, and a library of
described example flows that validate."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from corpus.passages import (
    DOCS_DIR,
    EXAMPLE_CATEGORIES,
    CorpusError,
    builtin_passages,
    doc_slug,
    load_docs,
    load_examples,
    parse_doc,
)
from flowschema import default_catalog, validate_flow


def test_every_catalog_type_has_exactly_one_document() -> None:
    docs = load_docs()
    catalog = default_catalog()
    assert set(docs) == set(catalog.types())
    for node_type, doc in docs.items():
        assert doc.path.name == f"{doc_slug(node_type)}.md"


@pytest.mark.parametrize("node_type", default_catalog().types())
def test_document_names_only_catalog_properties(node_type: str) -> None:
    doc = load_docs()[node_type]
    spec = default_catalog().get(node_type)
    assert spec is not None
    unknown = set(doc.property_notes()) - set(spec.properties)
    assert not unknown, f"{doc.path.name} notes properties the catalog does not have: {unknown}"
    words = sum(len(body.split()) for body in doc.sections.values())
    assert words >= 80, f"{doc.path.name} is too thin ({words} words)"


def test_indexed_documents_cover_every_property() -> None:
    passages = builtin_passages()
    for spec in default_catalog():
        text = "\n".join(p.text for p in passages if p.kind == "doc" and p.node_type == spec.type)
        for name in spec.properties:
            assert f"- {name} (" in text, f"{spec.type}.{name} missing from its passages"


def test_malformed_documents_are_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cases = {
        "no-front.md": ("## Purpose\nx", "front matter"),
        "bad-section.md": ("---\ntype: inject\n---\n## Purpose\nx\n## Usage\ny", "unknown section"),
        "missing.md": ("---\ntype: inject\n---\n## Purpose\nx", "missing section"),
        "order.md": (
            "---\ntype: inject\n---\n## Pitfalls\nx\n## Purpose\ny\n"
            "## Inputs and outputs\nz\n## Typical uses\nw",
            "order",
        ),
    }
    for name, (text, message) in cases.items():
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(CorpusError, match=message):
            parse_doc(path)


def test_document_pitfalls_cover_the_classic_traps() -> None:
    docs = load_docs()
    assert re.search(
        r"4000[01]|40001",
        docs["modbus-read"].sections["Pitfalls"]
        + docs["modbus-read"].sections.get("Property notes", ""),
    )
    assert (
        "retain"
        in docs["mqtt out"].sections["Pitfalls"].lower()
        + docs["mqtt out"].sections.get("Property notes", "").lower()
    )
    assert "ns=" in "".join(docs["OpcUa-Item"].sections.values())


def test_example_library() -> None:
    examples = load_examples()
    assert len(examples) >= 80
    assert len({e.id for e in examples}) == len(examples)
    counts = Counter(e.category for e in examples)
    assert set(counts) == EXAMPLE_CATEGORIES, counts
    assert min(counts.values()) >= 5, counts
    requests = [" ".join(e.request.lower().split()) for e in examples]
    assert len(set(requests)) == len(requests)
    openings = Counter(r.split()[0] for r in requests)
    assert openings.most_common(1)[0][1] <= len(requests) // 4, "requests start too alike"


@pytest.mark.parametrize("example", load_examples(), ids=lambda e: e.id)
def test_example_flow_is_valid_and_clean(example) -> None:  # type: ignore[no-untyped-def]
    report = validate_flow(example.flow)
    assert report.valid and not report.warnings, [str(f) for f in report.findings]
    assert len(example.request.split()) >= 4
    assert len(example.explanation.split()) >= 12


def test_docs_folder_has_only_documents() -> None:
    assert {p.suffix for p in DOCS_DIR.iterdir()} == {".md"}
