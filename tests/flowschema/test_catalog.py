"""The catalog: coverage of the required types, consistency, and the loader's refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flowschema import CatalogError, default_catalog, load_catalog
from flowschema.catalog import load_catalog_file

REQUIRED_TYPES = {
    # Node-RED 4.x core
    "tab",
    "subflow",
    "group",
    "junction",
    "comment",
    "inject",
    "debug",
    "function",
    "change",
    "switch",
    "range",
    "template",
    "delay",
    "trigger",
    "exec",
    "rbe",
    "split",
    "join",
    "batch",
    "sort",
    "json",
    "csv",
    "xml",
    "yaml",
    "html",
    "http in",
    "http response",
    "http request",
    "mqtt in",
    "mqtt out",
    "mqtt-broker",
    "websocket in",
    "websocket out",
    "websocket-listener",
    "websocket-client",
    "tcp in",
    "tcp out",
    "tcp request",
    "udp in",
    "udp out",
    "file",
    "file in",
    "watch",
    "catch",
    "status",
    "complete",
    "link in",
    "link out",
    "link call",
    "global-config",
    # node-red-contrib-modbus
    "modbus-client",
    "modbus-read",
    "modbus-getter",
    "modbus-flex-getter",
    "modbus-write",
    "modbus-flex-write",
    # node-red-contrib-opcua
    "OpcUa-Endpoint",
    "OpcUa-Item",
    "OpcUa-Client",
}
# Config types referenced by real packages that Plumb does not model (always optional).
EXTERNAL_CONFIG_TYPES = {"swagger-doc"}


def test_catalog_covers_required_types() -> None:
    catalog = default_catalog()
    missing = REQUIRED_TYPES - set(catalog.types())
    assert not missing


def test_plumb_types_are_marked() -> None:
    plumb = [s for s in default_catalog() if s.package == "plumb"]
    assert [s.type for s in plumb] == ["plumb-onnx"]
    assert all(s.plumb_only for s in plumb)
    assert not any(s.plumb_only for s in default_catalog() if s.package != "plumb")


def test_every_reference_names_a_config_type() -> None:
    catalog = default_catalog()
    for spec in catalog:
        for prop in spec.properties.values():
            if prop.type != "ref":
                continue
            target = catalog.get(prop.ref or "")
            if prop.ref in EXTERNAL_CONFIG_TYPES:
                continue
            assert target is not None, f"{spec.type}.{prop.name} -> {prop.ref}"
            assert target.config, f"{spec.type}.{prop.name} points at non-config {prop.ref}"


def test_defaults_respect_their_own_constraints() -> None:
    for spec in default_catalog():
        assert spec.description.strip()
        for prop in spec.properties.values():
            assert prop.description.strip(), f"{spec.type}.{prop.name}"
            if prop.enum is not None and prop.has_default and prop.default not in ("", None):
                assert any(
                    prop.default == v and type(prop.default) is type(v) for v in prop.enum
                ), f"{spec.type}.{prop.name} default not in enum"
            if (
                prop.minimum is not None
                and isinstance(prop.default, (int, float))
                and not isinstance(prop.default, bool)
            ):
                assert prop.default >= prop.minimum, f"{spec.type}.{prop.name}"
        if spec.outputs_property is not None:
            assert spec.outputs_property in spec.properties, spec.type


def test_duplicate_type_is_refused(tmp_path: Path) -> None:
    (tmp_path / "extra.json").write_text(
        json.dumps(
            {
                "package": "node-red-contrib-clash",
                "package_version": "1.0.0",
                "nodes": {
                    "inject": {
                        "category": "common",
                        "description": "x",
                        "inputs": 0,
                        "outputs": 1,
                        "properties": {},
                    }
                },
            }
        )
    )
    with pytest.raises(CatalogError, match=r"inject.*defined by both"):
        load_catalog(tmp_path)


def test_extension_folder_adds_types(tmp_path: Path) -> None:
    (tmp_path / "extra.json").write_text(
        json.dumps(
            {
                "package": "node-red-contrib-gauge",
                "package_version": "1.0.0",
                "nodes": {
                    "gauge": {
                        "category": "dashboard",
                        "description": "Shows a value.",
                        "inputs": 1,
                        "outputs": 0,
                        "properties": {
                            "max": {
                                "type": "number",
                                "default": 100,
                                "description": "Top of the scale.",
                            }
                        },
                    }
                },
            }
        )
    )
    catalog = load_catalog(tmp_path)
    assert "gauge" in catalog and len(catalog) == len(default_catalog()) + 1


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"type": "str", "description": "x"}, "type 'str' is not one of"),
        ({"type": "ref", "description": "x"}, "must name its config node type"),
        ({"type": "string", "description": "x", "ref": "mqtt-broker"}, "only type 'ref'"),
        ({"type": "string"}, "needs a description"),
        ({"type": "string", "description": "x", "format": "regex"}, "format 'regex'"),
    ],
)
def test_malformed_property_is_refused_with_location(
    tmp_path: Path, raw: dict, message: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(
        json.dumps(
            {
                "package": "p",
                "nodes": {
                    "thing": {
                        "category": "c",
                        "description": "d",
                        "inputs": 1,
                        "outputs": 1,
                        "properties": {"prop": raw},
                    }
                },
            }
        )
    )
    with pytest.raises(CatalogError, match=message) as caught:
        load_catalog_file(path)
    assert "bad.json:thing.properties.prop" in str(caught.value)


def test_malformed_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{nodes: }")
    with pytest.raises(CatalogError, match=r"broken\.json: not valid JSON"):
        load_catalog_file(path)
