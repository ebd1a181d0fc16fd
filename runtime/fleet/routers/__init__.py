"""One router per resource, all under /api/v1 (devices talk to `agent`)."""

from typing import Annotated

from fastapi import Path

# A database row id in a URL: bounded, so a number past a 64-bit integer is a 422 and never
# reaches the database driver (which would fail with a 500).
RowId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The row's id.")]
