"""flowschema: the Node-RED flow contract - node catalog, JSON Schema and validator.

Everything else in Plumb imports this package; it imports nothing of the rest.
"""

from flowschema.catalog import (
    Catalog,
    CatalogError,
    NodeSpec,
    PropertySpec,
    default_catalog,
    load_catalog,
)
from flowschema.findings import CODES, Finding, NodeRef, Severity
from flowschema.schema import flow_schema
from flowschema.validator import ValidationReport, Validator, validate_flow

__all__ = [
    "CODES",
    "Catalog",
    "CatalogError",
    "Finding",
    "NodeRef",
    "NodeSpec",
    "PropertySpec",
    "Severity",
    "ValidationReport",
    "Validator",
    "default_catalog",
    "flow_schema",
    "load_catalog",
    "validate_flow",
]
