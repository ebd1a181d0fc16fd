"""The built-in node types; importing this package registers them."""

from runtime.nodes import core  # noqa: F401
