"""Passages: the unit of retrieval, made from node documents, example flows and node help.

Small embedding models read only the first ~256 word pieces of a text, so a node document is
cut into passages by section (overview, properties in groups, uses and pitfalls), each
starting with the node type so it stands on its own.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowschema import Catalog, NodeSpec, default_catalog

CORPUS_DIR = Path(__file__).resolve().parent
DOCS_DIR = CORPUS_DIR / "docs"
EXAMPLES_DIR = CORPUS_DIR / "examples"
SECTIONS = ("Purpose", "Inputs and outputs", "Property notes", "Typical uses", "Pitfalls")
EXAMPLE_CATEGORIES = frozenset(
    {"core", "http", "mqtt", "modbus", "opcua", "files", "errors", "onnx", "plant"}
)
BUILTIN_ORIGIN = "builtin"
_PROPERTIES_PER_PASSAGE = 8


class CorpusError(ValueError):
    """A corpus file is malformed; the message names the file and what is wrong."""


@dataclass(frozen=True)
class Passage:
    id: str
    kind: str  # "doc", "example" or "help"
    title: str
    text: str
    origin: str = BUILTIN_ORIGIN  # which ingestion produced it (for incremental refresh)
    source: str = ""  # package@version, or the corpus file
    node_type: str = ""  # doc and help passages: the type they describe
    package: str = ""  # npm package of the node type (docs, help); "" for examples
    types: tuple[str, ...] = field(default_factory=tuple)  # example passages: types used

    @property
    def content_hash(self) -> str:
        payload = json.dumps(
            [
                self.kind,
                self.title,
                self.text,
                self.source,
                self.node_type,
                self.package,
                list(self.types),
            ]
        )
        return hashlib.sha256(payload.encode()).hexdigest()

    def metadata(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "title": self.title,
            "origin": self.origin,
            "source": self.source,
            "node_type": self.node_type,
            "package": self.package,
            "types": " ".join(f"[{t}]" for t in self.types),
            "hash": self.content_hash,
        }

    @classmethod
    def from_metadata(cls, passage_id: str, text: str, meta: dict[str, Any]) -> Passage:
        types = tuple(re.findall(r"\[([^\]]+)\]", str(meta.get("types", ""))))
        return cls(
            id=passage_id,
            kind=str(meta["kind"]),
            title=str(meta["title"]),
            text=text,
            origin=str(meta.get("origin", "")),
            source=str(meta.get("source", "")),
            node_type=str(meta.get("node_type", "")),
            package=str(meta.get("package", "")),
            types=types,
        )


def doc_slug(node_type: str) -> str:
    return re.sub(r"[\s:]+", "-", node_type.strip().lower())


@dataclass(frozen=True)
class NodeDoc:
    node_type: str
    sections: dict[str, str]
    path: Path

    def property_notes(self) -> dict[str, str]:
        notes: dict[str, str] = {}
        for match in re.finditer(
            r"^- `([^`]+)`:?\s*(.*(?:\n(?!- `)[^\n#].*)*)",
            self.sections.get("Property notes", ""),
            re.MULTILINE,
        ):
            notes[match.group(1)] = " ".join(match.group(2).split())
        return notes


def parse_doc(path: Path) -> NodeDoc:
    text = path.read_text(encoding="utf-8")
    match = re.match(r"---\s*\ntype:\s*(.+?)\s*\n---\s*\n", text)
    if not match:
        raise CorpusError(
            f"{path.name}: must start with front matter '---\\ntype: <node type>\\n---'"
        )
    sections: dict[str, str] = {}
    parts = re.split(r"^## +(.+?)\s*$", text[match.end() :], flags=re.MULTILINE)
    if parts[0].strip():
        raise CorpusError(f"{path.name}: text before the first '## ' section")
    for title, body in zip(parts[1::2], parts[2::2], strict=True):
        if title not in SECTIONS:
            raise CorpusError(f"{path.name}: unknown section {title!r}; use {', '.join(SECTIONS)}")
        if title in sections:
            raise CorpusError(f"{path.name}: section {title!r} appears twice")
        sections[title] = body.strip()
    order = [s for s in SECTIONS if s in sections]
    if list(sections) != order:
        raise CorpusError(f"{path.name}: sections must come in the order {', '.join(SECTIONS)}")
    missing = [s for s in SECTIONS if s != "Property notes" and s not in sections]
    if missing:
        raise CorpusError(f"{path.name}: missing section(s) {', '.join(missing)}")
    return NodeDoc(match.group(1).strip(), sections, path)


def load_docs(folder: Path = DOCS_DIR) -> dict[str, NodeDoc]:
    docs: dict[str, NodeDoc] = {}
    for path in sorted(folder.glob("*.md")):
        doc = parse_doc(path)
        if doc.node_type in docs:
            raise CorpusError(
                f"{path.name}: type {doc.node_type!r} already documented in "
                f"{docs[doc.node_type].path.name}"
            )
        docs[doc.node_type] = doc
    return docs


def _property_line(spec: NodeSpec, name: str, note: str | None) -> str:
    prop = spec.properties[name]
    facts = [prop.type]
    if prop.required:
        facts.append("required")
    if prop.has_default and prop.default not in ("", None, [], {}):
        facts.append(f"default {json.dumps(prop.default)}")
    if prop.enum:
        facts.append("one of " + ", ".join(json.dumps(v) for v in prop.enum if v != ""))
    if prop.ref:
        facts.append(f"id of a {prop.ref} config node")
    line = f"- {name} ({'; '.join(facts)}): {prop.description}"
    return f"{line} {note}" if note else line


def doc_passages(doc: NodeDoc, spec: NodeSpec) -> Iterator[Passage]:
    """Overview, properties (in groups) and advice passages for one node type."""
    head = f"{spec.type} ({spec.package}, {spec.category} node): {spec.description}"
    source = f"corpus/docs/{doc.path.name}"
    common: dict[str, Any] = {
        "kind": "doc",
        "source": source,
        "node_type": spec.type,
        "package": spec.package,
    }
    yield Passage(
        id=f"doc:{spec.type}:overview",
        title=f"{spec.type} - overview",
        text=f"{head}\n\n{doc.sections['Purpose']}\n\nInputs and outputs: "
        f"{doc.sections['Inputs and outputs']}",
        **common,
    )
    notes = doc.property_notes()
    names = list(spec.properties)
    for start in range(0, len(names), _PROPERTIES_PER_PASSAGE):
        group = names[start : start + _PROPERTIES_PER_PASSAGE]
        lines = "\n".join(_property_line(spec, n, notes.get(n)) for n in group)
        part = start // _PROPERTIES_PER_PASSAGE + 1
        yield Passage(
            id=f"doc:{spec.type}:properties:{part}",
            title=f"{spec.type} - settings" + (f" ({part})" if len(names) > 8 else ""),
            text=f"{spec.type} node settings:\n{lines}",
            **common,
        )
    yield Passage(
        id=f"doc:{spec.type}:advice",
        title=f"{spec.type} - uses and pitfalls",
        text=f"{spec.type}: typical uses\n{doc.sections['Typical uses']}\n\n"
        f"Pitfalls\n{doc.sections['Pitfalls']}",
        **common,
    )


@dataclass(frozen=True)
class Example:
    id: str
    category: str
    tags: tuple[str, ...]
    request: str
    explanation: str
    flow: list[dict[str, Any]]
    path: Path

    def node_types(self) -> list[str]:
        return sorted({str(n.get("type")) for n in self.flow if n.get("type") not in ("tab", None)})


def load_examples(folder: Path = EXAMPLES_DIR) -> list[Example]:
    examples = []
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise CorpusError(f"{path.name}: not valid JSON ({exc})") from None
        for key in ("id", "category", "request", "explanation", "flow"):
            if key not in data:
                raise CorpusError(f"{path.name}: missing {key!r}")
        if data["id"] != path.stem:
            raise CorpusError(f"{path.name}: id {data['id']!r} differs from the file name")
        if data["category"] not in EXAMPLE_CATEGORIES:
            raise CorpusError(
                f"{path.name}: category {data['category']!r} is not one of "
                f"{', '.join(sorted(EXAMPLE_CATEGORIES))}"
            )
        examples.append(
            Example(
                data["id"],
                data["category"],
                tuple(data.get("tags", [])),
                data["request"],
                data["explanation"],
                data["flow"],
                path,
            )
        )
    return examples


def example_passage(example: Example) -> Passage:
    types = example.node_types()
    return Passage(
        id=f"example:{example.id}",
        kind="example",
        title=f"example: {example.request}",
        text=f"Request: {example.request}\n\nFlow: {example.explanation}\n\n"
        f"Nodes: {', '.join(types)}",
        source=f"corpus/examples/{example.path.name}",
        types=tuple(types),
    )


def builtin_passages(catalog: Catalog | None = None) -> list[Passage]:
    """Every passage of the shipped corpus, in a stable order."""
    catalog = catalog or default_catalog()
    docs = load_docs()
    passages: list[Passage] = []
    for spec in catalog:
        doc = docs.get(spec.type)
        if doc is None:
            raise CorpusError(f"catalog type {spec.type!r} has no document in corpus/docs")
        passages.extend(doc_passages(doc, spec))
    passages.extend(example_passage(e) for e in load_examples())
    return passages
