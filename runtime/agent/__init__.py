"""The device agent (`ask agent`): registers a device with the fleet server, checks in,
fetches and verifies signed snapshots, applies them to the runtime on the device (Plumb's
own or a stock Node-RED 4.x) through its admin API, watches their health for a soak period
and commits them or rolls back by itself. The protocol is in docs/fleet.md.

Modules: `state` (the state directory, atomic pointers and the apply journal), `client`
(the server's agent API), `targets` (the runtimes), `comms` (Node-RED's editor websocket,
for node statuses and errors), `agent` (the loop). Bundles are checked with
`runtime.fleet.bundle.verify_bundle`, the same code the server computes snapshot ids with.
"""

from __future__ import annotations

from importlib import metadata


def agent_version() -> str:
    try:
        return metadata.version("plumb")
    except metadata.PackageNotFoundError:  # running from a source tree without install
        return "0.1"
