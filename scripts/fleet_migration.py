"""Regenerate the fleet's initial migration from the models (while the schema has never
been released, one initial migration holds it all; after a release, add new revisions).

    .venv/bin/python scripts/fleet_migration.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine

from runtime.fleet.db import MIGRATIONS

REVISION = "0001"


def main() -> None:
    versions = MIGRATIONS / "versions"
    versions.mkdir(exist_ok=True)
    for old in versions.glob(f"{REVISION}_*.py"):
        old.unlink()
    with tempfile.TemporaryDirectory() as folder:
        engine = create_engine(f"sqlite:///{Path(folder) / 'empty.db'}")
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.revision(config, message="initial schema", autogenerate=True,
                             rev_id=REVISION)
    print(f"wrote {next(versions.glob(f'{REVISION}_*.py'))}")


if __name__ == "__main__":
    main()
