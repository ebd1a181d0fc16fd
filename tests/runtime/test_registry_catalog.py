"""The runtime and the catalog agree: every type the runtime runs is a type the validator
knows, with the same config-node role."""

from __future__ import annotations

from flowschema.catalog import default_catalog
from runtime.registry import load_builtin_nodes


def test_every_runtime_type_is_in_the_catalog() -> None:
    registry = load_builtin_nodes()
    catalog = default_catalog()
    # Tests register throwaway types of their own: only the built-in modules count.
    builtin = [t for t in registry.types()
               if (cls := registry.get(t)) is not None and cls.__module__.startswith(
                   "runtime.nodes.")]
    assert len(builtin) >= 10
    unknown = [t for t in builtin if catalog.get(t) is None]
    assert unknown == []
    for type_name in builtin:
        cls = registry.get(type_name)
        spec = catalog.get(type_name)
        assert cls is not None and spec is not None
        assert cls.is_config == bool(spec.config), type_name
