"""Helpers for the web UI's browser tests: Debian's chromium driven by playwright (never a
downloaded browser), a record of each test's outcome so a failing test leaves a screenshot,
and the fleet set-up the deploy and fleet tests share (through the API, with httpx)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
API = "/api/v1"

REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


class OutcomeRecorder:
    """A plugin that keeps each phase's report on the test item, so a fixture can tell at
    teardown whether the test failed (pytest only calls hooks of conftest files and
    plugins; this one is registered by the browser fixture)."""

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: Any) -> Any:
        outcome = yield
        report = outcome.get_result()
        item.stash.setdefault(REPORTS, {})[report.when] = report


def register_recorder(config: pytest.Config) -> None:
    name = "plumb-ui-outcome-recorder"
    if config.pluginmanager.get_plugin(name) is None:
        config.pluginmanager.register(OutcomeRecorder(), name)


def failed(item: pytest.Item) -> bool:
    reports = item.stash.get(REPORTS, {})
    return any(r.failed for r in reports.values())


def screenshot_name(item: pytest.Item) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in item.name) + ".png"


def launch(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                      args=["--no-sandbox"])


# --- fleet set-up through the API -------------------------------------------------------

def api_client(url: str) -> httpx.Client:
    """Local mode: no token needed, requests act as the local admin."""
    return httpx.Client(base_url=url + API, timeout=15)


def ok(response: httpx.Response) -> Any:
    assert response.is_success, f"{response.status_code}: {response.text}"
    return response.json() if response.content else None


def group_with_device(client: httpx.Client, group: str = "line-1",
                      device: str = "edge-1") -> tuple[dict[str, Any], dict[str, Any]]:
    """A device group with one registered device (a rollout needs an active device)."""
    made = ok(client.post("/groups", json={"name": group, "description": "test line"}))
    token = ok(client.post("/provisioning-tokens", json={"name": f"{group}-token",
                                                         "group_id": made["id"]}))
    registered = ok(client.post("/agent/register", json={"name": device},
                                headers={"Authorization": f"Bearer {token['secret']}"}))
    return made, registered


def snapshot(client: httpx.Client, name: str, flows: list[dict[str, Any]],
             parent: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, "flows": flows}
    if parent:
        body["parent"] = parent
    return dict(ok(client.post("/snapshots", json=body)))


def flow_nodes(flow: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The nodes the editor draws on a tab: those with a position (not tabs or groups)."""
    return [n for n in flow if n.get("type") not in ("tab", "subflow", "group")
            and isinstance(n.get("x"), int | float) and isinstance(n.get("y"), int | float)]
