"""The simulation harness at a size CI can afford (the 1,000- and 10,000-device figures
are `python -m bench.fleet_sim`): a real fleet server process, a real Mosquitto, simulated
devices. A 4-wave rollout passes its health gate; a snapshot that fails on 30% of the
devices is stopped by the abort threshold and every updated device goes back; a server
killed mid-rollout comes back and finishes it with the audit chain intact; devices that
drop off for a while still end up updated."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bench.fleet_sim import Options, simulate

pytestmark = pytest.mark.skipif(shutil.which("mosquitto") is None and not Path(
    "/usr/sbin/mosquitto").exists(), reason="needs mosquitto (the README's test command "
                                            "installs it)")


def test_the_scenarios_at_ci_size(db: Engine, tmp_path: Path) -> None:
    options = Options(devices=24, database_url=db.url.render_as_string(hide_password=False),
                      soak=0.5, active_check_in=0.3, tick=0.2, timeout=120, check_in=30.0)
    results = asyncio.run(simulate(options, tmp_path))

    rollout = results["rollout"]
    assert rollout["status"] == "succeeded"
    assert rollout["counts"]["succeeded"] == 24

    bad = results["bad"]
    assert bad["status"] == "failed"
    assert bad["failed"] >= 1 and bad["all_back"]
    assert bad["counts"]["rolled_back"] == bad["updated_then_rolled_back"]
    assert bad["counts"]["succeeded"] == 0  # nothing stays on the bad snapshot

    restart = results["restart"]
    assert restart["status"] == "succeeded" and restart["audit_ok"]
    assert restart["counts"]["succeeded"] == 24

    offline = results["offline"]
    assert offline["status"] == "succeeded"
    assert offline["offline_now_running_it"] == offline["offline_devices"]
