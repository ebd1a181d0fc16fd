// The fleet page's audit log (GET /audit with its filters, newest first, paged back with
// `before`) and the snapshot diff (GET /snapshots/{a}/diff/{b}).

import { api } from "./api.js";
import { announce, fmtTime, h, fill, shortId, words } from "./ui.js";

const PAGE = 100;
const NEWEST = Number.MAX_SAFE_INTEGER;  // `before` this: from the newest event

export class AuditLog {
  constructor(root) {
    this.root = root;
    this.form = root.querySelector("form");
    this.body = root.querySelector("#audit-body");
    this.note = root.querySelector("#audit-note");
    this.more = root.querySelector("#audit-more");
    this.next = null;
    this.filters = {};
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.load();
    });
    this.form.addEventListener("reset", () => window.setTimeout(() => this.load(), 0));
    this.more.addEventListener("click", () => this.load(true));
  }

  readFilters() {
    const data = new FormData(this.form);
    const out = {};
    for (const [key, raw] of data.entries()) {
      const value = String(raw).trim();
      if (!value) continue;
      if (key === "since" || key === "until") {
        const moment = new Date(value);
        if (!Number.isNaN(moment.getTime())) out[key] = moment.toISOString();
      } else {
        out[key] = value;
      }
    }
    return out;
  }

  async load(more = false) {
    if (!more) {
      this.filters = this.readFilters();
      this.next = null;
    }
    let page;
    try {
      // Newest first: paged back from the present with `before`.
      page = await api.get("audit", { ...this.filters,
        before: more ? this.next : NEWEST, limit: PAGE });
    } catch (exc) {
      this.note.textContent = exc.message;
      this.note.classList.add("error");
      this.note.setAttribute("role", "alert");
      return;
    }
    this.note.classList.remove("error");
    this.note.removeAttribute("role");
    const rows = page.events.map((e) => row(e));
    if (more) this.body.append(...rows);
    else fill(this.body, rows);
    this.next = page.next_before;
    this.more.hidden = this.next === null || this.next === undefined;
    const shown = this.body.children.length;
    const filtered = Object.keys(this.filters).length;
    this.note.textContent = shown ? `${shown} event${shown === 1 ? "" : "s"}`
      + `${filtered ? " matching the filters" : ""}, newest first`
      + `${this.more.hidden ? "" : " (more below)"}.`
      : `No events${filtered ? " match these filters" : " yet"}.`;
    if (!more) announce(this.note.textContent);
  }
}

function row(event) {
  const details = JSON.stringify(event.details || {});
  return h("tr", { dataset: { seq: String(event.seq), action: event.action } },
    h("td", {}, String(event.seq)),
    h("td", { class: "nowrap" }, fmtTime(event.at)),
    h("td", {}, h("span", { class: "muted small" }, `${event.actor_kind} `),
      event.actor_kind === "device" ? h("span", { title: event.actor }, shortId(event.actor, 12))
        : event.actor),
    h("td", {}, h("code", {}, event.action)),
    h("td", {}, `${event.target_kind} `, h("code", { title: event.target_id },
      shortId(event.target_id, 16))),
    h("td", { class: "details-cell" }, details.length > 90
      ? h("details", {}, h("summary", {}, `${details.slice(0, 80)}…`),
        h("pre", { class: "code" }, JSON.stringify(event.details, null, 2)))
      : h("code", {}, details)));
}

export class SnapshotDiff {
  constructor(root) {
    this.root = root;
    this.form = root.querySelector("form");
    this.from = root.querySelector("#diff-from");
    this.to = root.querySelector("#diff-to");
    this.result = root.querySelector("#diff-result");
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.compare();
    });
  }

  async load() {
    let page;
    try {
      page = await api.get("snapshots", { limit: 100 });
    } catch (exc) {
      fill(this.result, h("p", { class: "error", role: "alert" }, exc.message));
      return;
    }
    const keepFrom = this.from.value;
    const keepTo = this.to.value;
    const options = (selected) => page.data.map((snap) => h("option", { value: snap.id,
      selected: snap.id === selected },
    `${snap.name} · ${shortId(snap.id, 8)} · ${fmtTime(snap.created_at)}`));
    const newest = page.data[0];
    const older = newest ? (newest.parent || (page.data[1] && page.data[1].id)) : null;
    fill(this.from, options(keepFrom || older || (newest && newest.id)));
    fill(this.to, options(keepTo || (newest && newest.id)));
    const enough = page.data.length > 0;
    this.form.querySelector("button").disabled = !enough;
    if (!enough && !this.result.children.length) {
      fill(this.result, h("p", { class: "muted" }, "No snapshots yet."));
    }
  }

  async compare() {
    const a = this.from.value;
    const b = this.to.value;
    if (!a || !b) return;
    let diff;
    try {
      diff = await api.get(`snapshots/${encodeURIComponent(a)}/diff/${encodeURIComponent(b)}`);
    } catch (exc) {
      fill(this.result, h("p", { class: "error", role: "alert" }, exc.message));
      return;
    }
    fill(this.result, renderDiff(diff));
    announce(diff.identical ? "The snapshots are identical" : "Differences shown");
  }
}

function nodeRef(node) {
  return [h("code", {}, String(node.type)), " ", node.name || h("span", { class: "muted" },
    shortId(node.id, 16))];
}

function changeList(changes) {
  return h("ul", { class: "changes" }, changes.map((c) => h("li", { class: `change ${c.kind}` },
    h("code", {}, c.property || c.path.join(".")), ` ${words(c.kind)}`,
    c.kind !== "added" ? [": ", h("del", {}, short(c.old))] : null,
    c.kind !== "removed" ? [c.kind === "changed" ? " → " : ": ", h("ins", {}, short(c.new))]
      : null)));
}

function short(value) {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return text && text.length > 120 ? `${text.slice(0, 117)}…` : String(text);
}

export function renderDiff(diff) {
  const out = [h("p", { class: "diff-head" }, `From ${shortId(diff.from_id, 12)} to `
    + `${shortId(diff.to_id, 12)}: `, diff.identical ? h("strong", {}, "identical")
    : h("strong", {}, "different"))];
  if (diff.identical) return out;
  const { nodes } = diff;
  if (nodes.added.length) {
    out.push(h("h4", {}, `Nodes added (${nodes.added.length})`), h("ul", { class: "added" },
      nodes.added.map((n) => h("li", {}, nodeRef(n)))));
  }
  if (nodes.removed.length) {
    out.push(h("h4", {}, `Nodes removed (${nodes.removed.length})`),
      h("ul", { class: "removed" }, nodes.removed.map((n) => h("li", {}, nodeRef(n)))));
  }
  if (nodes.changed.length) {
    out.push(h("h4", {}, `Nodes changed (${nodes.changed.length})`),
      h("ul", { class: "changed" }, nodes.changed.map((n) => h("li", {}, nodeRef(n),
        changeList(n.changes)))));
  }
  if (nodes.reordered) out.push(h("p", { class: "muted" }, "The nodes were reordered."));
  for (const part of ["settings", "env", "modules"]) {
    if (diff[part] && diff[part].length) {
      out.push(h("h4", {}, `${part[0].toUpperCase()}${part.slice(1)} (${diff[part].length})`),
        changeList(diff[part]));
    }
  }
  if (diff.credentials && diff.credentials.length) {
    out.push(h("h4", {}, `Credentials (${diff.credentials.length})`), h("ul", {},
      diff.credentials.map((c) => h("li", {}, h("code", {}, `${shortId(c.node, 16)}.${c.field}`),
        ` ${words(c.kind)}`))));
  }
  return out;
}
