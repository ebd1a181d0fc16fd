// The fleet page: devices with their state and running snapshot, rollouts with live wave
// progress and health (polled every 2 s while the page is shown), and — from audit.js —
// the audit log and the snapshot diff.

import { api } from "./api.js";
import { AuditLog, SnapshotDiff } from "./audit.js";
import { announce, fmtTime, h, fill, shortId, words } from "./ui.js";

const POLL_MS = 2000;
const GOOD = new Set(["healthy", "succeeded"]);
const MOVING = new Set(["deploying", "soaking", "rolling_back"]);
const BAD = new Set(["failed", "rolled_back", "rollback_failed"]);

export class Fleet {
  constructor(root) {
    this.root = root;
    this.devices = root.querySelector("#devices-body");
    this.devicesNote = root.querySelector("#devices-note");
    this.rollouts = root.querySelector("#rollouts-list");
    this.rolloutsNote = root.querySelector("#rollouts-note");
    this.message = root.querySelector("#fleet-message");
    this.timer = null;
    this.polling = false;
    this.active = false;
    this.expanded = new Set();
    this.details = new Map();
    this.groups = new Map();
    this.seenFirst = false;
    this.audit = new AuditLog(root.querySelector("#audit"));
    this.diff = new SnapshotDiff(root.querySelector("#diff"));
    root.querySelector("#fleet-refresh").addEventListener("click", () => this.poll(true));
  }

  async enter() {
    this.active = true;
    await this.poll(true);
    this.audit.load();
    this.diff.load();
    this.schedule();
  }

  leave() {
    this.active = false;
    window.clearTimeout(this.timer);
    this.timer = null;
  }

  schedule() {
    window.clearTimeout(this.timer);
    if (!this.active) return;
    this.timer = window.setTimeout(async () => {
      if (!document.hidden) await this.poll(false);
      this.schedule();
    }, POLL_MS);
  }

  async poll(announceIt) {
    if (this.polling) return;
    this.polling = true;
    try {
      const [groups, devices, rollouts] = await Promise.all([api.get("groups"),
        api.get("devices", { limit: 500 }), api.get("rollouts", { limit: 50 })]);
      this.groups = new Map(groups.data.map((g) => [g.id, g]));
      if (!this.seenFirst && rollouts.data.length) {
        this.expanded.add(rollouts.data[0].id); // the newest one opens by itself
        this.seenFirst = true;
      }
      const wanted = rollouts.data.filter((r) => this.expanded.has(r.id));
      const details = await Promise.all(wanted.map((r) => api.get(`rollouts/${r.id}`)));
      this.details = new Map(details.map((d) => [d.id, d]));
      // Draw again only what changed: a redraw every 2 s would lose a text selection.
      const signature = JSON.stringify([groups, devices, rollouts, details,
        [...this.expanded]]);
      if (signature !== this.signature) {
        this.signature = signature;
        keepFocus(this.root, () => {
          this.renderDevices(devices);
          this.renderRollouts(rollouts);
        });
      }
      this.say("");
      if (announceIt) announce("Fleet updated");
    } catch (exc) {
      this.say(exc.message);
    } finally {
      this.polling = false;
    }
  }

  say(text) {
    this.message.hidden = !text;
    this.message.textContent = text;
  }

  renderDevices({ data, count }) {
    this.devicesNote.textContent = count ? `${count} device${count === 1 ? "" : "s"}`
      : "No devices yet: register one with `ask agent` and a provisioning token.";
    fill(this.devices, data.map((d) => {
      const health = d.health || {};
      const healthText = Object.keys(health).length ? healthWords(health) : "no report yet";
      return h("tr", { dataset: { id: d.id } },
        h("th", { scope: "row" }, d.name, h("div", { class: "muted small" }, shortId(d.id))),
        h("td", {}, d.group || h("span", { class: "muted" }, "none")),
        h("td", {}, h("span", { class: `pill ${d.status === "active" ? (d.online ? "ok"
          : "idle") : "off"}` }, d.status === "active" ? (d.online ? "online" : "offline")
          : words(d.status))),
        h("td", {}, snapshotCell(d.running_snapshot_id)),
        h("td", {}, d.target_snapshot_id && d.target_snapshot_id !== d.running_snapshot_id
          ? snapshotCell(d.target_snapshot_id) : h("span", { class: "muted" }, "—")),
        h("td", {}, healthText),
        h("td", {}, fmtTime(d.last_seen_at)));
    }));
  }

  renderRollouts({ data, count }) {
    this.rolloutsNote.textContent = count ? `${count} rollout${count === 1 ? "" : "s"}`
      : "No rollouts yet: deploy a flow from the chat page.";
    fill(this.rollouts, data.map((r) => this.rolloutItem(r)));
  }

  rolloutItem(r) {
    const group = this.groups.get(r.group_id);
    const open = this.expanded.has(r.id);
    const detailId = `rollout-${r.id}-detail`;
    const total = r.wave_sizes.reduce((a, b) => a + b, 0);
    const item = h("li", { class: `rollout status-${r.status}`, dataset: { id: String(r.id) } },
      h("div", { class: "rollout-head" },
        h("button", { type: "button", class: "disclosure", "aria-expanded": String(open),
          "aria-controls": detailId, dataset: { key: `rollout-toggle-${r.id}` },
          onclick: () => this.toggle(r.id) },
        h("span", { class: "rollout-title" }, `#${r.id} ${r.name || "rollout"}`)),
        h("span", { class: `pill ${statusKind(r.status)}` }, words(r.status)),
        h("span", { class: "muted small" }, `to ${group ? group.name : `group ${r.group_id}`}`,
          ` · snapshot ${shortId(r.snapshot_id, 12)} · ${total} device${total === 1 ? "" : "s"}`
          + ` · wave ${Math.min(r.opened_waves, r.wave_sizes.length)}/${r.wave_sizes.length}`
          + ` · ${fmtTime(r.created_at)}`)),
      progressBar(r.counts, total),
      this.controls(r));
    if (r.reason) item.append(h("p", { class: "small" }, `Reason: ${r.reason}`));
    const detail = h("div", { id: detailId, class: "rollout-detail", hidden: !open });
    if (open) this.fillDetail(detail, this.details.get(r.id));
    item.append(detail);
    return item;
  }

  controls(r) {
    const buttons = [];
    const act = (action, label) => h("button", { type: "button", class: "small-button",
      dataset: { key: `rollout-${action}-${r.id}` },
      onclick: () => this.act(r.id, action, label) }, label);
    if (r.status === "awaiting_approval") buttons.push(act("approve", "Approve"),
      act("reject", "Reject"));
    if (r.status === "running") buttons.push(act("pause", "Pause"));
    if (r.status === "paused") buttons.push(act("resume", "Resume"));
    if (["running", "paused", "awaiting_approval"].includes(r.status)) {
      buttons.push(act("abort", "Abort"));
    }
    return buttons.length ? h("div", { class: "rollout-actions", role: "group",
      "aria-label": `Rollout ${r.id} actions` }, buttons) : null;
  }

  async act(id, action, label) {
    if (action === "abort" && !window.confirm(`Abort rollout #${id}? Updated devices go `
      + "back to the snapshot they ran before.")) return;
    try {
      await api.post(`rollouts/${id}/${action}`, {});
      announce(`${label}: done`);
      this.say("");
    } catch (exc) {
      this.say(`${label} refused: ${exc.message}`);
    }
    await this.poll(false);
  }

  fillDetail(detail, full) {
    if (!full) {
      fill(detail, h("p", { class: "muted" }, "Loading…"));
      return;
    }
    const waves = h("ol", { class: "waves", "aria-label": "Waves" },
      full.wave_progress.map((w) => h("li", { class: `wave${w.opened ? " opened" : ""}` },
        h("span", { class: "wave-name" }, `Wave ${w.index + 1}`),
        h("span", { class: "muted small" }, ` ${w.size} device${w.size === 1 ? "" : "s"}, `
          + (w.opened ? "opened" : "waiting")),
        progressBar(w.counts, w.size), countsText(w.counts))));
    const approvals = full.approvals.length ? h("ul", { class: "small" },
      full.approvals.map((a) => h("li", {}, `${a.approved ? "Approved" : "Rejected"} by `
        + `${a.user || a.user_id} ${fmtTime(a.decided_at)}${a.comment ? `: ${a.comment}`
          : ""}`))) : null;
    const devices = full.devices.data.length ? h("table", { class: "table compact" },
      h("caption", { class: "visually-hidden" }, `Devices in rollout ${full.id}`),
      h("thead", {}, h("tr", {}, ["Device", "Wave", "Health", "Since", "Reason"].map((t) =>
        h("th", { scope: "col" }, t)))),
      h("tbody", {}, full.devices.data.map((d) => h("tr", {},
        h("td", {}, d.device_name || shortId(d.device_id)),
        h("td", {}, String(d.wave + 1)),
        h("td", {}, h("span", { class: `pill ${stateKind(d.state)}` }, words(d.state))),
        h("td", {}, fmtTime(d.state_since)),
        h("td", {}, d.reason || "—"))))) : h("p", { class: "muted" }, "No devices.");
    fill(detail, h("h4", {}, "Waves"), waves, approvals ? [h("h4", {}, "Approvals"),
      approvals] : null, h("h4", {}, "Devices"), devices,
    h("p", { class: "muted small" }, `Soak ${full.soak_seconds} s · abort at `
      + `${full.abort_percent}% failed (at least ${full.abort_min_devices}) · deploy timeout `
      + `${full.deploy_timeout_seconds} s`));
  }

  async toggle(id) {
    if (this.expanded.has(id)) this.expanded.delete(id);
    else this.expanded.add(id);
    await this.poll(false);
  }
}

function healthWords(health) {
  return [health.flows_started ? "flows running" : "flows stopped",
    health.node_errors ? `${health.node_errors} node errors` : null,
    health.crashes ? `${health.crashes} crashes` : null,
    health.agent_state && health.agent_state !== "idle" ? words(health.agent_state) : null]
    .filter(Boolean).join(", ");
}

function snapshotCell(id) {
  if (!id) return h("span", { class: "muted" }, "none");
  return h("code", { title: id }, shortId(id, 12));
}

function statusKind(status) {
  if (status === "succeeded") return "ok";
  if (status === "running") return "run";
  if (["failed", "aborted", "rejected"].includes(status)) return "error";
  if (status === "awaiting_approval" || status === "paused") return "warning";
  return "idle";
}

function stateKind(state) {
  if (GOOD.has(state)) return "ok";
  if (MOVING.has(state)) return "run";
  if (BAD.has(state)) return "error";
  return "idle";
}

/** A bar of the devices per state: done, moving, failed, waiting. */
function progressBar(counts, total) {
  const sum = (set) => Object.entries(counts || {}).filter(([k]) => set.has(k))
    .reduce((a, [, v]) => a + v, 0);
  const good = sum(GOOD);
  const moving = sum(MOVING);
  const bad = sum(BAD);
  const all = Math.max(total, 1);
  const pct = (n) => `${(100 * n) / all}%`;
  return h("div", { class: "progress", role: "img",
    "aria-label": `${good} of ${total} healthy or done, ${moving} in progress, ${bad} failed` },
  h("span", { class: "bar ok", style: `width:${pct(good)}` }),
  h("span", { class: "bar run", style: `width:${pct(moving)}` }),
  h("span", { class: "bar error", style: `width:${pct(bad)}` }));
}

function countsText(counts) {
  const parts = Object.entries(counts || {}).filter(([, v]) => v > 0)
    .map(([k, v]) => `${v} ${words(k)}`);
  return h("span", { class: "small counts" }, parts.length ? parts.join(", ") : "none yet");
}

/** Re-render without losing the keyboard focus (matched by data-key or id). */
function keepFocus(root, render) {
  const active = document.activeElement;
  const key = active && root.contains(active)
    ? (active.dataset && active.dataset.key) || active.id : null;
  render();
  if (key) {
    const again = root.querySelector(`[data-key="${CSS.escape(key)}"]`)
      || document.getElementById(key);
    if (again) again.focus();
  }
}
