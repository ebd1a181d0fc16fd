"""docs/fleet.md says what the code does: the permission table."""

from __future__ import annotations

import re
from pathlib import Path

from runtime.fleet.auth import PERMISSIONS, Permission
from runtime.fleet.models import Role

DOC = Path(__file__).resolve().parents[2] / "docs" / "fleet.md"


def documented_permissions() -> dict[str, str]:
    """permission name -> the role its table row gives, from the Roles section."""
    section = DOC.read_text().split("## Roles", 1)[1].split("\n## ", 1)[0]
    found: dict[str, str] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 2 or cells[1] not in {r.value for r in Role}:
            continue
        for name in re.findall(r"`([a-z_]+)`", cells[0]):
            found[name] = cells[1]
    return found


def test_the_permission_table_in_the_docs_is_the_codes() -> None:
    assert documented_permissions() == {p.value: r.value for p, r in PERMISSIONS.items()}
    assert set(PERMISSIONS) == set(Permission)
