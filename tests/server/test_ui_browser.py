"""The web UI in a real browser: Debian's chromium through playwright, against the live
server (uvicorn on loopback, the fake model, a throwaway data folder). Nothing is mocked:
every click goes through the UI's JavaScript to the real API."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.server.app import create_app
from assistant.server.fake_model import PassThroughModel
from runtime.fleet import accounts
from runtime.fleet.audit import SYSTEM
from runtime.fleet.models import Role
from tests.server import browser
from tests.server.conftest import (
    MODEL_REQUEST,
    REQUEST,
    LiveServer,
    Uvicorn,
    free_port,
    make_settings,
)

if not browser.CHROMIUM.exists():
    pytest.skip("the browser tests need Debian's chromium at /usr/bin/chromium "
                "(apt-get install chromium); playwright's own browsers are not used",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
expect = sync_api.expect

TIMEOUT_MS = 15_000
expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture
def fake_model() -> PassThroughModel:
    # Slow enough that a test sees a job running (queued, steps, tokens); requests that
    # the recipes answer never call it.
    return PassThroughModel(delay=0.25)


@pytest.fixture(scope="module")
def chromium(request: pytest.FixtureRequest) -> Iterator[Any]:
    browser.register_recorder(request.config)
    with sync_api.sync_playwright() as playwright:
        launched = browser.launch(playwright)
        yield launched
        launched.close()


@pytest.fixture
def context(chromium: Any, live_server: LiveServer) -> Iterator[Any]:
    made = chromium.new_context(base_url=live_server.url, viewport={"width": 1280,
                                                                    "height": 800},
                                accept_downloads=True)
    made.set_default_timeout(TIMEOUT_MS)
    yield made
    made.close()


@pytest.fixture
def page(context: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A page with the UI loaded; JavaScript errors fail the test; a failed test leaves a
    screenshot in test-artifacts/screenshots/."""
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    # Console errors too, except the browser's own line for each HTTP error answer (the
    # deploy test provokes a refusal on purpose).
    opened.on("console", lambda msg: errors.append(msg.text) if msg.type == "error"
              and not msg.text.startswith("Failed to load resource") else None)
    load(opened)
    yield opened
    if browser.failed(request.node):
        browser.SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        opened.screenshot(path=str(browser.SCREENSHOTS / browser.screenshot_name(request.node)),
                          full_page=True)
    assert not errors, f"errors in the page: {errors}"


def load(page: Any, route: str = "/") -> None:
    page.goto(route)
    page.wait_for_selector("body[data-ready=true]")


def generate(page: Any, text: str = REQUEST) -> None:
    """Send `text` from the message box and wait for the answer to end."""
    before = page.locator(".msg.assistant").count()
    page.fill("#message-input", text)
    page.click("#send")
    expect(page.locator(".msg.assistant")).to_have_count(before + 1)
    expect(page.locator(".msg.assistant.pending")).to_have_count(0)
    expect(page.locator("#send")).to_be_enabled()


def session_flow(live_server: LiveServer) -> list[dict[str, Any]]:
    with browser.api_client(live_server.url) as client:
        sessions = browser.ok(client.get("/sessions"))
        assert sessions, "no chat session was stored"
        flow = browser.ok(client.get(f"/sessions/{sessions[0]['id']}"))["flow"]
    assert flow, "the session has no flow"
    return list(flow)


# Records what the pending answer shows at each change, to check what streamed in.
WATCH_PENDING = """() => {
  window.__seen = [];
  const box = document.getElementById('messages');
  new MutationObserver(() => {
    const item = box.querySelector('.msg.assistant.pending');
    if (!item) return;
    window.__seen.push({
      queue: item.querySelector('.queue').textContent,
      steps: [...item.querySelectorAll('.steps li')].map((li) => li.textContent),
      tokens: item.querySelector('.tokens').textContent,
    });
  }).observe(box, {subtree: true, childList: true, characterData: true, attributes: true});
}"""


def no_horizontal_overflow(page: Any) -> None:
    widths = page.evaluate("() => ({doc: document.documentElement.scrollWidth, "
                           "body: document.body.scrollWidth, view: window.innerWidth})")
    assert widths["doc"] <= widths["view"] and widths["body"] <= widths["view"], widths


# --- chat and graph ----------------------------------------------------------------------

def test_request_draws_the_flow_with_its_explanation(page: Any, live_server: LiveServer
                                                     ) -> None:
    generate(page)
    flow = session_flow(live_server)
    drawn = browser.flow_nodes(flow)
    expect(page.locator("#graph svg.canvas:not([hidden]) g.node")).to_have_count(len(drawn))
    # One tab per `z`, wires as paths, the explanation and the session in the list.
    tabs = [n for n in flow if n["type"] == "tab"]
    expect(page.locator("#graph [role=tab]")).to_have_count(len(tabs))
    wires = sum(len(port) for n in drawn for port in n.get("wires", []))
    expect(page.locator("#graph svg.canvas:not([hidden]) path.wire")).to_have_count(wires)
    expect(page.locator("#flow-summary")).to_contain_text(f"{len(drawn)} nodes")
    expect(page.locator("#explanation-body .explain-text")).not_to_be_empty()
    expect(page.locator("#session-list .session-title").first).to_contain_text("every 5 s")
    config = [n for n in flow if n not in drawn and n["type"] not in ("tab", "group")]
    if config:
        expect(page.locator(".config-node")).to_have_count(len(config))
    # The steps stayed on record in the answer.
    expect(page.locator(".msg.assistant .steps li").first).to_have_text("Reading the request")
    for button in ("#copy-json", "#download-json", "#edit-by-chat", "#deploy"):
        expect(page.locator(button)).to_be_enabled()


def test_queue_position_steps_and_tokens_stream(page: Any, live_server: LiveServer) -> None:
    # A job already running keeps the model busy: the UI's request waits in line.
    with browser.api_client(live_server.url) as client:
        done = threading.Event()

        def busy() -> None:
            try:
                client.post("/generate", json={"request": MODEL_REQUEST}, timeout=60)
            finally:
                done.set()

        worker = threading.Thread(target=busy, daemon=True)
        worker.start()
        page.wait_for_function("async () => (await (await fetch('/api/v1/status')).json())"
                               ".queue.running", polling=50)
        page.evaluate(WATCH_PENDING)
        page.fill("#message-input", MODEL_REQUEST)
        page.click("#send")
        expect(page.locator(".msg.assistant.pending")).to_have_count(0)
        worker.join(timeout=30)
        assert done.is_set()
    seen = page.evaluate("() => window.__seen")
    # While the answer was pending: its place in line, then the steps one by one, then
    # the model's tokens as they came.
    assert any("next in line" in s["queue"] for s in seen), seen
    assert any(s["steps"] == ["Reading the request"] for s in seen), seen
    assert any("return msg" in s["tokens"] and "Writing code" in s["steps"] for s in seen)
    expect(page.locator(".msg.assistant .queue")).to_have_attribute("data-position", "1")
    steps = page.locator(".msg.assistant .steps li").all_inner_texts()
    assert steps[:2] == ["Reading the request", "Planning"], steps
    assert "Writing code" in steps and "Validating" in steps
    expect(page.locator(".msg.assistant .steps li.current")).to_have_count(0)
    expect(page.locator("#graph svg.canvas:not([hidden]) g.node").first).to_be_visible()


def test_clarify_choices_fill_the_input_and_a_chat_is_deleted(page: Any,
                                                               live_server: LiveServer
                                                               ) -> None:
    generate(page, "make me a flow")
    answer = page.locator(".msg.assistant").last
    choices = answer.locator("button.choice")
    expect(choices.first).to_be_visible()
    expect(choices.first).to_be_focused()  # the answer's first choice takes the focus
    first = choices.first.inner_text()
    choices.first.click()
    expect(page.locator("#message-input")).to_have_value(first)
    expect(page.locator("#message-input")).to_be_focused()
    expect(page.locator("#graph .graph-empty")).to_be_visible()  # a question: no flow
    # The chat is listed under its first message; deleting it (after the confirmation)
    # removes it on the server too.
    entry = page.locator("#session-list .session")
    expect(entry).to_have_count(1)
    expect(entry.locator(".session-title")).to_have_text("make me a flow")
    page.once("dialog", lambda dialog: dialog.accept())
    entry.locator("button[aria-label^='Delete chat']").click()
    expect(page.locator("#session-list .session")).to_have_count(0)
    with browser.api_client(live_server.url) as client:
        assert browser.ok(client.get("/sessions")) == []


def test_node_opens_its_properties(page: Any, live_server: LiveServer) -> None:
    generate(page)
    flow = session_flow(live_server)
    target = next(n for n in browser.flow_nodes(flow) if n["type"] == "modbus-read")
    node = page.locator(f"g.node[data-id='{target['id']}']")
    node.click()
    panel = page.locator("#node-panel")
    expect(panel).to_be_visible()
    expect(node).to_have_class(re.compile(r"\bselected\b"))
    expect(panel.locator(".props")).to_contain_text("modbus-read")
    expect(panel.locator(".props")).to_contain_text(target["id"])
    expect(panel.locator(".props")).to_contain_text(str(target["adr"]))
    expect(page.locator("#node-panel-title")).to_be_focused()
    # Escape closes it and gives the focus back to the node; Enter opens it again.
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(node).to_be_focused()
    page.keyboard.press("Enter")
    expect(panel).to_be_visible()
    # The configuration node it uses is a link in the panel and opens in turn.
    panel.locator("button.link", has_text="modbus-client").first.click()
    expect(panel.locator(".props")).to_contain_text(target["server"])
    expect(page.locator(f".config-node[data-id='{target['server']}']")).to_have_class(
        re.compile(r"\bselected\b"))


def test_tabs_config_nodes_and_findings_on_their_nodes(page: Any) -> None:
    # Two tabs, a config node, and a wire to a node that does not exist: the validator
    # (through the API) reports it on the node, which carries a badge.
    flow = [{"id": "t1", "type": "tab", "label": "Main"},
            {"id": "t2", "type": "tab", "label": "Second"},
            {"id": "b1", "type": "mqtt-broker", "name": "Plant broker", "broker": "10.0.0.5",
             "port": "1883"},
            {"id": "n1", "type": "inject", "z": "t1", "name": "tick", "x": 120, "y": 80,
             "repeat": "5", "wires": [["n2"]]},
            {"id": "n2", "type": "change", "z": "t1", "name": "shape", "rules": [
                {"t": "set", "p": "payload", "pt": "msg", "to": "1", "tot": "num"}],
             "x": 300, "y": 80, "wires": [["missing"]]},
            {"id": "n3", "type": "mqtt in", "z": "t2", "name": "in", "topic": "a/b",
             "broker": "b1", "x": 120, "y": 60, "wires": [["n4"]]},
            {"id": "n4", "type": "debug", "z": "t2", "name": "", "x": 320, "y": 60,
             "wires": []}]
    result = page.evaluate("""async (flow) => {
        const r = await fetch('/api/v1/validate', {method: 'POST',
          headers: {'Content-Type': 'application/json'}, body: JSON.stringify({flow})});
        return r.json(); }""", flow)
    on_nodes = [f for f in result["findings"] if f.get("node_id")]
    assert on_nodes, result
    # Shown the way the chat shows an outcome.
    page.evaluate("""([flow, findings]) => window.__plumb.flowView.show(flow,
        {outcome: 'flow', message: 'Two tabs.', findings, notes: [], changes: []})""",
                  [flow, result["findings"]])
    tabs = page.locator("#graph [role=tab]")
    expect(tabs).to_have_count(2)
    expect(tabs.first).to_have_attribute("aria-selected", "true")
    visible = page.locator("#graph svg.canvas:not([hidden])")
    expect(visible).to_have_count(1)
    expect(visible.locator("g.node")).to_have_count(2)
    expect(page.locator(".config-node")).to_have_count(1)
    expect(page.locator(".config-node")).to_contain_text("Plant broker")
    finding = on_nodes[0]
    badge = page.locator(f"g.node[data-id='{finding['node_id']}'] .badge")
    expect(badge).to_be_visible()
    expect(badge).to_have_class(f"badge {finding['severity']}")
    page.locator(f"g.node[data-id='{finding['node_id']}']").click()
    expect(page.locator("#node-panel .findings")).to_contain_text(finding["code"])
    expect(page.locator("#explanation-body .findings li")).to_have_count(len(result["findings"]))
    # The second tab: its own canvas; its mqtt in links to the config node.
    tabs.nth(1).click()
    expect(tabs.nth(1)).to_have_attribute("aria-selected", "true")
    expect(visible).to_have_count(1)
    expect(visible.locator("g.node")).to_have_count(2)
    expect(visible.locator("g.node[data-id='n4'] .node-label")).to_have_text("msg.payload")
    visible.locator("g.node[data-id='n3']").click()
    page.locator("#node-panel button.link", has_text="Plant broker").click()
    expect(page.locator("#node-panel-title")).to_have_text("Plant broker")
    expect(page.locator(".config-node.selected")).to_have_count(1)


def test_pan_and_zoom(page: Any) -> None:
    generate(page)
    viewport = page.locator("#graph svg.canvas:not([hidden]) g.viewport")
    before = viewport.get_attribute("transform")
    page.click("button[aria-label='Zoom in']")
    zoomed = viewport.get_attribute("transform")
    assert zoomed != before
    box = page.locator("#graph svg.canvas:not([hidden])").bounding_box()
    assert box is not None
    # Drag an empty corner of the canvas: the view moves.
    page.mouse.move(box["x"] + 8, box["y"] + box["height"] - 8)
    page.mouse.down()
    page.mouse.move(box["x"] + 80, box["y"] + box["height"] - 40, steps=4)
    page.mouse.up()
    assert viewport.get_attribute("transform") != zoomed
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    panned = viewport.get_attribute("transform")
    page.mouse.wheel(0, 300)
    expect(viewport).not_to_have_attribute("transform", panned or "")


# --- the flow's buttons ------------------------------------------------------------------

def test_copy_json_puts_the_flow_on_the_clipboard(context: Any, page: Any,
                                                  live_server: LiveServer) -> None:
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    generate(page)
    page.click("#copy-json")
    expect(page.locator("#copy-json")).to_have_text("Copied")
    copied = page.evaluate("() => navigator.clipboard.readText()")
    assert json.loads(copied) == session_flow(live_server)


def test_download_saves_flows_json(page: Any, live_server: LiveServer) -> None:
    generate(page)
    with page.expect_download() as info:
        page.click("#download-json")
    download = info.value
    assert download.suggested_filename == "flows.json"
    saved = Path(download.path()).read_text(encoding="utf-8")
    assert json.loads(saved) == session_flow(live_server)


def test_edit_by_chat_focuses_the_input_and_edits(page: Any, live_server: LiveServer
                                                  ) -> None:
    generate(page)
    before = session_flow(live_server)
    page.click("#edit-by-chat")
    expect(page.locator("#message-input")).to_be_focused()
    expect(page.locator("#message-input")).to_have_attribute("placeholder",
                                                             "Describe a change to this flow…")
    generate(page, "poll every 2 s instead")
    after = session_flow(live_server)
    assert after != before
    expect(page.locator("#graph svg.canvas:not([hidden]) g.node")).to_have_count(
        len(browser.flow_nodes(after)))
    expect(page.locator(".msg.assistant").last).to_contain_text("Flow with")
    # Back to the first answer's flow: "Edit by chat" makes it the one the chat edits.
    page.locator(".msg.assistant").first.locator("button", has_text="Show this flow").click()
    page.click("#edit-by-chat")
    expect(page.locator("#message-input")).to_be_focused()
    deadline = time.monotonic() + 10
    while session_flow(live_server) != before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert session_flow(live_server) == before


def test_deploy_to_a_group_creates_a_snapshot_and_a_rollout(page: Any,
                                                            live_server: LiveServer) -> None:
    with browser.api_client(live_server.url) as client:
        group, device = browser.group_with_device(client, "test-group", "edge-test")
    generate(page)
    page.click("#deploy")
    dialog = page.locator("#deploy-dialog")
    expect(dialog).to_be_visible()
    expect(page.locator("#deploy-group option")).to_contain_text(["test-group (1 device)"])
    page.select_option("#deploy-group", str(group["id"]))
    page.fill("#deploy-name", "line 1 telemetry")
    page.click("#deploy-submit")
    message = page.locator("#deploy-message")
    expect(message).to_contain_text("Rollout #")
    rollout_id = int(message.locator("[data-rollout]").get_attribute("data-rollout") or 0)
    with browser.api_client(live_server.url) as client:
        rollout = browser.ok(client.get(f"/rollouts/{rollout_id}"))
        assert rollout["group_id"] == group["id"]
        assert rollout["devices"]["data"][0]["device_id"] == device["device_id"]
        snap = browser.ok(client.get(f"/snapshots/{rollout['snapshot_id']}"))
        assert snap["name"] == "line 1 telemetry"
        assert snap["flows"] == session_flow(live_server)
    # Escape closes the dialog and gives the focus back to the Deploy button.
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page.locator("#deploy")).to_be_focused()
    # Again, while the device is still in that rollout: the server's refusal is shown.
    page.click("#deploy")
    page.select_option("#deploy-group", str(group["id"]))
    page.click("#deploy-submit")
    expect(message).to_contain_text("still in another rollout")
    expect(message).to_have_class("dialog-message error")


# --- the fleet page ----------------------------------------------------------------------

def test_fleet_page_shows_devices_rollouts_audit_and_diff(page: Any,
                                                          live_server: LiveServer) -> None:
    flow = json.loads((browser.REPO / "examples" / "modbus-to-mqtt.json").read_text())
    changed = [dict(n, rate="2") if n["type"] == "modbus-read" else n for n in flow]
    with browser.api_client(live_server.url) as client:
        group, _device = browser.group_with_device(client, "line-2", "edge-fleet")
        first = browser.snapshot(client, "v1", flow)
        second = browser.snapshot(client, "v2", changed, parent=first["id"])
        rollout = browser.ok(client.post("/rollouts", json={
            "snapshot_id": second["id"], "group_id": group["id"], "name": "ship v2"}))
    page.click("#nav a[data-page=fleet]")
    expect(page.locator("#nav a[data-page=fleet]")).to_have_attribute("aria-current", "page")
    expect(page.locator("#devices-body tr")).to_have_count(1)
    expect(page.locator("#devices-body")).to_contain_text("edge-fleet")
    expect(page.locator("#devices-body")).to_contain_text("line-2")
    item = page.locator(f".rollout[data-id='{rollout['id']}']")
    expect(item).to_contain_text("ship v2")
    expect(item.locator(".wave").first).to_contain_text("Wave 1")
    expect(item.locator(".rollout-detail")).to_contain_text("edge-fleet")
    # Live: a change made elsewhere shows within a few polls, without a reload.
    with browser.api_client(live_server.url) as client:
        browser.ok(client.post(f"/rollouts/{rollout['id']}/pause", json={}))
    expect(item.locator(".pill").first).to_have_text("paused", timeout=8_000)
    # The audit log, then filtered to rollout events.
    expect(page.locator("#audit-body tr").first).to_be_visible()
    page.fill("#audit-filters input[name=action]", "rollout.")
    page.click("#audit-filters button[type=submit]")
    expect(page.locator("#audit-body tr[data-action='snapshot.created']")).to_have_count(0)
    actions = page.locator("#audit-body tr").evaluate_all(
        "rows => rows.map(r => r.dataset.action)")
    assert actions and all(a.startswith("rollout.") for a in actions), actions
    # The diff of the two snapshots names the changed property.
    page.select_option("#diff-from", first["id"])
    page.select_option("#diff-to", second["id"])
    page.click("#diff button[type=submit]")
    expect(page.locator("#diff-result")).to_contain_text("Nodes changed (1)")
    expect(page.locator("#diff-result")).to_contain_text("rate")


# --- layout and keyboard -----------------------------------------------------------------

def test_layout_fits_1280_and_phone_width_without_horizontal_overflow(page: Any) -> None:
    generate(page)
    for width, height in ((1280, 800), (375, 812)):
        page.set_viewport_size({"width": width, "height": height})
        page.click("#nav a[data-page=chat]")
        page.locator("#graph g.node").first.click()
        expect(page.locator("#node-panel")).to_be_visible()
        no_horizontal_overflow(page)
        left = page.locator(".left-column").bounding_box()
        graph = page.locator("#graph").bounding_box()
        side = page.locator(".side-panel").bounding_box()
        assert left and graph and side
        if width < 900:  # stacked: the chat, then the graph, then the panel
            assert graph["y"] >= left["y"] + left["height"] - 1
            assert side["y"] >= graph["y"] + graph["height"] - 1
            assert graph["x"] >= 0 and graph["x"] + graph["width"] <= width
        else:  # side by side
            assert graph["x"] >= left["x"] + left["width"] - 1
            assert side["x"] >= graph["x"] + graph["width"] - 1
            assert side["y"] < graph["y"] + graph["height"]
        page.keyboard.press("Escape")
        page.click("#nav a[data-page=fleet]")
        expect(page.locator("#devices-note")).not_to_be_empty()
        expect(page.locator("#audit-body tr").first).to_be_visible()
        no_horizontal_overflow(page)


def test_keyboard_tab_to_the_input_type_and_enter_sends(page: Any) -> None:
    page.keyboard.press("Tab")
    expect(page.locator("#skip-link")).to_be_focused()
    for _ in range(30):
        if page.evaluate("() => document.activeElement.id") == "message-input":
            break
        page.keyboard.press("Tab")
    expect(page.locator("#message-input")).to_be_focused()
    page.keyboard.type(REQUEST)
    page.keyboard.press("Enter")
    expect(page.locator(".msg.user")).to_contain_text("every 5 s")
    expect(page.locator("#graph svg.canvas:not([hidden]) g.node").first).to_be_visible()
    # The nodes are reachable with Tab too, and Enter opens one.
    first_node = page.locator("#graph g.node").first
    first_node.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#node-panel")).to_be_visible()


def test_screenshots_for_the_record(page: Any, live_server: LiveServer) -> None:
    """Two pictures for the closing note: a chat with its flow drawn, and the fleet."""
    browser.SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    generate(page)
    page.locator("#graph g.node").nth(1).click()
    chat = browser.SCREENSHOTS / "chat-flow.png"
    page.screenshot(path=str(chat))
    with browser.api_client(live_server.url) as client:
        group, _device = browser.group_with_device(client, "line-1", "edge-01")
        flow = session_flow(live_server)
        snap = browser.snapshot(client, "line 1 telemetry", flow)
        browser.ok(client.post("/rollouts", json={"snapshot_id": snap["id"],
                                                  "group_id": group["id"],
                                                  "name": "line 1 telemetry"}))
    page.click("#nav a[data-page=fleet]")
    expect(page.locator(".rollout .wave").first).to_be_visible()
    expect(page.locator("#audit-body tr").first).to_be_visible()
    fleet = browser.SCREENSHOTS / "fleet.png"
    page.screenshot(path=str(fleet), full_page=True)
    assert chat.stat().st_size > 10_000 and fleet.stat().st_size > 10_000


# --- token mode --------------------------------------------------------------------------

@pytest.fixture
def token_server(tmp_path: Path, fake_model: PassThroughModel) -> Iterator[LiveServer]:
    """The server in token mode, with a viewer (vera) and an owner (olga)."""
    settings = make_settings(tmp_path, auth="token", run_controller=True)
    app = create_app(settings, model=fake_model)
    with app.state.sessions() as session:
        accounts.create_user(session, SYSTEM, "vera", "vera-secret-pass", Role.viewer)
        accounts.create_user(session, SYSTEM, "olga", "olga-secret-pass", Role.owner)
        session.commit()
    port = free_port()
    with Uvicorn(app, port):
        yield LiveServer(f"http://127.0.0.1:{port}", app, settings)


def test_token_mode_login_role_refusal_and_sign_out(chromium: Any,
                                                    token_server: LiveServer) -> None:
    with browser.api_client(token_server.url) as client:
        token = browser.ok(client.post("/auth/login", json={
            "name": "olga", "password": "olga-secret-pass"}))["token"]
        client.headers["Authorization"] = f"Bearer {token}"
        browser.ok(client.post("/groups", json={"name": "line-9"}))
    context = chromium.new_context(base_url=token_server.url)
    page = context.new_page()
    try:
        load(page)
        expect(page.locator("#login-page")).to_be_visible()
        expect(page.locator("#login-name")).to_be_focused()
        expect(page.locator("#nav")).to_be_hidden()
        # A wrong password: the server's message.
        page.fill("#login-name", "vera")
        page.fill("#login-password", "not-the-password")
        page.keyboard.press("Enter")
        expect(page.locator("#login-message")).to_be_visible()
        assert page.locator("#login-message").inner_text().strip()
        page.fill("#login-password", "vera-secret-pass")
        page.click("#login-submit")
        expect(page.locator("#chat-page")).to_be_visible()
        expect(page.locator("#who")).to_have_text("vera (viewer)")
        assert page.evaluate("() => sessionStorage.getItem('plumb.token')")
        # A viewer may generate, but not deploy: the 403's message is shown.
        generate(page)
        page.click("#deploy")
        page.select_option("#deploy-group", label="line-9 (0 devices)")
        page.click("#deploy-submit")
        message = page.locator("#deploy-message")
        expect(message).to_contain_text("The snapshot was refused:")
        expect(message).to_have_class("dialog-message error")
        page.keyboard.press("Escape")
        # A reload keeps the session (sessionStorage); signing out ends it.
        load(page, "/#/fleet")
        expect(page.locator("#fleet-page")).to_be_visible()
        page.click("#logout")
        expect(page.locator("#login-page")).to_be_visible()
        assert page.evaluate("() => sessionStorage.getItem('plumb.token')") is None
    except Exception:
        browser.SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(browser.SCREENSHOTS / "token-mode-failure.png"))
        raise
    finally:
        context.close()
