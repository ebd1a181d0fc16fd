"""The built-in node types; importing this package registers them."""

from runtime.nodes import core  # noqa: F401
from runtime.nodes import sequence  # noqa: F401  (delay, trigger, rbe too, via timing)
from runtime.nodes import logic  # noqa: F401  (change, switch, range, template)
