"""Alembic's entry: runs the migrations on the connection `runtime.fleet.db.migrate` hands
over (there is no alembic.ini; the fleet finds its own database)."""

from __future__ import annotations

from alembic import context

import runtime.fleet.models  # noqa: F401  (every table on Base.metadata)
from runtime.fleet.db import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run the fleet's migrations through runtime.fleet.db.migrate")
context.configure(connection=connection, target_metadata=Base.metadata,
                  render_as_batch=True, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
