"""The node types the runtime can run: one class per Node-RED type, registered by name.

Built-in nodes register through the same decorator an extension would use. A second class
for a type already registered is refused, so two packages cannot silently fight over
`mqtt in`. A flow whose types are not all registered refuses to start, with the list.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from runtime.node import Node

N = TypeVar("N", bound="type[Node]")

# Flow entries that are structure, not nodes: they never need a class.
STRUCTURAL = frozenset({"tab", "subflow", "group", "junction", "comment"})


class RegistryError(ValueError):
    """A type registered twice, or registered without a name."""


class NodeRegistry:
    def __init__(self) -> None:
        self._types: dict[str, type[Node]] = {}

    def register(self, type_name: str) -> Callable[[N], N]:
        """Class decorator: `@registry.register("inject")`."""

        def add(cls: N) -> N:
            if not type_name:
                raise RegistryError(f"{cls.__name__} has no type name")
            if type_name in self._types:
                other = self._types[type_name]
                raise RegistryError(f"node type {type_name!r} is already registered by "
                                    f"{other.__module__}.{other.__name__}")
            cls.type = type_name
            self._types[type_name] = cls
            return cls

        return add

    def get(self, type_name: str) -> type[Node] | None:
        return self._types.get(type_name)

    def types(self) -> list[str]:
        return sorted(self._types)

    def missing(self, flow: Iterable[dict[str, Any]]) -> list[str]:
        """The node types `flow` uses that no class is registered for (sorted, unique)."""
        wanted = {str(n.get("type", "")) for n in flow if isinstance(n, dict)}
        return sorted(t for t in wanted
                      if t and t not in STRUCTURAL and not t.startswith("subflow:")
                      and t not in self._types)


registry = NodeRegistry()
register = registry.register


def load_builtin_nodes() -> NodeRegistry:
    """Import the built-in node modules (each registers its classes) and return the registry."""
    import runtime.nodes  # noqa: F401  (registers on import)

    return registry
