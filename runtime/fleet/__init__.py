"""Plumb's fleet: snapshots, devices, pipelines, staged rollouts, audit and roles.

One FastAPI app (`runtime.fleet.app.create_fleet_app`) over one SQL database (SQLAlchemy 2,
SQLite by default, PostgreSQL for scale). Modules, one concern each: `settings` (the one
settings class), `db` (engine, sessions, migrations), `models` (tables), `auth` (users,
tokens, roles, the permission table), `audit` (the hash-chained log), and a router per
resource under `routers/`. Devices run `runtime.agent`.
"""
