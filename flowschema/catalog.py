"""The node catalog: one spec per node type, loaded from the JSON files in `catalog/`.

The catalog is data so that a reader can check it against Node-RED's own node definitions
without reading code (see catalog/FORMAT.md). Built-in files and extension folders load
through the same path, and a type defined twice is refused: two packages claiming one
type name is exactly the ambiguity Node-RED's registry refuses too.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

BUILTIN_DIR = Path(__file__).with_name("catalog")

VALUE_TYPES = frozenset(
    {"string", "number", "numeric", "boolean", "boolish", "array", "object", "any", "ref"}
)
FORMATS = frozenset(
    {"cron", "javascript", "mqtt-topic", "mqtt-topic-filter", "opcua-nodeid", "url"}
)
SUBFLOW_PREFIX = "subflow:"
_UNSET: Any = object()


class CatalogError(ValueError):
    """A catalog file is malformed; the message names the file, type and field."""


@dataclass(frozen=True)
class PropertySpec:
    name: str
    type: str
    description: str
    default: Any = _UNSET
    required: bool = False
    enum: tuple[Any, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    ref: str | None = None
    format: str | None = None

    @property
    def has_default(self) -> bool:
        return self.default is not _UNSET


@dataclass(frozen=True)
class CredentialSpec:
    name: str
    type: str  # "text" or "password"
    description: str


@dataclass(frozen=True)
class NodeSpec:
    type: str
    package: str
    package_version: str
    category: str
    description: str
    config: bool
    inputs: int
    fixed_outputs: int | None  # None: the node's own `outputs_property` decides
    outputs_property: str | None
    plumb_only: bool
    properties: Mapping[str, PropertySpec]
    credentials: Mapping[str, CredentialSpec] = field(default_factory=dict)

    def output_count(self, node: Mapping[str, Any]) -> int:
        """How many outputs this node has, reading its own property where the type says so."""
        if self.fixed_outputs is not None:
            return self.fixed_outputs
        assert self.outputs_property is not None
        value = node.get(self.outputs_property)
        if value is None or value == "":
            prop = self.properties.get(self.outputs_property)
            value = prop.default if prop is not None and prop.has_default else 1
        try:
            return int(value)
        except (TypeError, ValueError, OverflowError):  # OverflowError: "outputs": Infinity
            return 1

    def defaults(self) -> dict[str, Any]:
        """The properties Node-RED's editor would fill in for a freshly dropped node."""
        return {name: p.default for name, p in self.properties.items() if p.has_default}


class Catalog:
    """All known node types, with lookups the validator and the generator need."""

    def __init__(self, specs: Iterable[NodeSpec]):
        self._specs: dict[str, NodeSpec] = {}
        for spec in specs:
            if spec.type in self._specs:
                other = self._specs[spec.type]
                raise CatalogError(
                    f"node type {spec.type!r} is defined by both {other.package} and "
                    f"{spec.package}; a type name may be registered only once"
                )
            self._specs[spec.type] = spec
        self._lower = {t.lower(): t for t in self._specs}

    def __contains__(self, node_type: object) -> bool:
        return node_type in self._specs

    def __iter__(self) -> Iterator[NodeSpec]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)

    def get(self, node_type: str) -> NodeSpec | None:
        return self._specs.get(node_type)

    def types(self) -> list[str]:
        return sorted(self._specs)

    def suggest(self, node_type: str, limit: int = 3) -> list[str]:
        """Close matches for an unknown type name ("did you mean ...?")."""
        exact_case = self._lower.get(node_type.lower())
        if exact_case:
            return [exact_case]
        normalised = node_type.lower().replace("_", " ").replace("-", " ")
        candidates = {t.lower().replace("-", " "): t for t in self._specs}
        close = difflib.get_close_matches(normalised, list(candidates), n=limit, cutoff=0.6)
        return [candidates[c] for c in close]


def _number(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CatalogError(f"{where}: expected a number, found {value!r}")
    return float(value)


def _parse_property(name: str, raw: Mapping[str, Any], where: str) -> PropertySpec:
    value_type = raw.get("type")
    if value_type not in VALUE_TYPES:
        raise CatalogError(f"{where}: type {value_type!r} is not one of {sorted(VALUE_TYPES)}")
    if value_type == "ref" and not isinstance(raw.get("ref"), str):
        raise CatalogError(f"{where}: a ref property must name its config node type in 'ref'")
    if value_type != "ref" and "ref" in raw:
        raise CatalogError(f"{where}: only type 'ref' properties may name a config node type")
    fmt = raw.get("format")
    if fmt is not None and fmt not in FORMATS:
        raise CatalogError(f"{where}: format {fmt!r} is not one of {sorted(FORMATS)}")
    enum = raw.get("enum")
    if enum is not None and not isinstance(enum, list):
        raise CatalogError(f"{where}: enum must be a list")
    description = raw.get("description")
    if not isinstance(description, str) or not description.strip():
        raise CatalogError(f"{where}: every property needs a description")
    return PropertySpec(
        name=name,
        type=value_type,
        description=description,
        default=raw.get("default", _UNSET),
        required=bool(raw.get("required", False)),
        enum=tuple(enum) if enum is not None else None,
        minimum=_number(raw.get("min"), f"{where}.min"),
        maximum=_number(raw.get("max"), f"{where}.max"),
        ref=raw.get("ref"),
        format=fmt,
    )


def _parse_node(
    node_type: str, raw: Mapping[str, Any], package: str, version: str, where: str
) -> NodeSpec:
    for key in ("category", "description", "inputs", "outputs", "properties"):
        if key not in raw:
            raise CatalogError(f"{where}: missing {key!r}")
    outputs = raw["outputs"]
    if isinstance(outputs, int) and not isinstance(outputs, bool):
        fixed, by_property = outputs, None
    elif isinstance(outputs, Mapping) and isinstance(outputs.get("property"), str):
        fixed, by_property = None, outputs["property"]
    else:
        raise CatalogError(f"{where}: outputs must be a number or {{'property': NAME}}")
    properties = {
        name: _parse_property(name, prop, f"{where}.properties.{name}")
        for name, prop in raw["properties"].items()
    }
    credentials = {
        name: CredentialSpec(name, cred.get("type", "text"), cred.get("description", ""))
        for name, cred in raw.get("credentials", {}).items()
    }
    return NodeSpec(
        type=node_type,
        package=package,
        package_version=version,
        category=raw["category"],
        description=raw["description"],
        config=bool(raw.get("config", False)),
        inputs=int(raw["inputs"]),
        fixed_outputs=fixed,
        outputs_property=by_property,
        plumb_only=bool(raw.get("plumb_only", False)),
        properties=properties,
        credentials=credentials,
    )


def load_catalog_file(path: Path) -> list[NodeSpec]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CatalogError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), dict):
        raise CatalogError(f"{path}: expected an object with a 'nodes' object")
    package = str(data.get("package", ""))
    version = str(data.get("package_version", ""))
    return [
        _parse_node(node_type, raw, package, version, f"{path.name}:{node_type}")
        for node_type, raw in data["nodes"].items()
    ]


def load_catalog(*extra_dirs: Path) -> Catalog:
    """The built-in catalog plus any extension folders of catalog files."""
    specs: list[NodeSpec] = []
    for folder in (BUILTIN_DIR, *extra_dirs):
        for path in sorted(Path(folder).glob("*.json")):
            specs.extend(load_catalog_file(path))
    return Catalog(specs)


@cache
def default_catalog() -> Catalog:
    """The built-in catalog, loaded once per process."""
    return load_catalog()
