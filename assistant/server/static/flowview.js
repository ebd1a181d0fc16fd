// The flow workspace beside the chat: the graph, the explanation (message, notes, changes,
// findings), the node properties panel, and the Copy JSON / Download / Edit by chat /
// Deploy buttons.

import { FlowGraph } from "./graph.js";
import { nodeColor, nodeLabel, splitFlow } from "./nodes.js";
import { announce, flashLabel, h, fill, show } from "./ui.js";

const HIDDEN_PROPS = new Set(["id", "type", "name", "x", "y", "z", "wires", "g"]);

export class FlowView {
  /**
   * `root`: the workspace element of index.html. `onEdit(flow)` focuses the message box,
   * `onDeploy(flow)` opens the deploy dialog.
   */
  constructor(root, { onEdit, onDeploy }) {
    this.root = root;
    this.flow = null;
    this.outcome = null;
    this.opener = null;
    this.summary = root.querySelector("#flow-summary");
    this.panel = root.querySelector("#node-panel");
    this.panelTitle = root.querySelector("#node-panel-title");
    this.panelBody = root.querySelector("#node-panel-body");
    this.explanation = root.querySelector("#explanation-body");
    this.buttons = {
      copy: root.querySelector("#copy-json"),
      download: root.querySelector("#download-json"),
      edit: root.querySelector("#edit-by-chat"),
      deploy: root.querySelector("#deploy"),
    };
    this.graph = new FlowGraph(root.querySelector("#graph"), {
      onSelect: (node, info) => this.openNode(node, info),
    });
    this.buttons.copy.addEventListener("click", () => this.copy());
    this.buttons.download.addEventListener("click", () => this.download());
    this.buttons.edit.addEventListener("click", () => onEdit(this.flow));
    this.buttons.deploy.addEventListener("click", () => onDeploy(this.flow));
    root.querySelector("#node-panel-close").addEventListener("click", () => this.closeNode());
    root.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !this.panel.hidden) {
        event.preventDefault();
        this.closeNode();
      }
    });
    this.show(null, null);
  }

  /** Show a flow and the outcome that explains it (either may be null). */
  show(flow, outcome) {
    this.flow = Array.isArray(flow) ? flow : null;
    this.outcome = outcome || null;
    const findings = (outcome && outcome.findings) || [];
    this.closeNode(false);
    this.graph.setFlow(this.flow || [], findings);
    for (const button of Object.values(this.buttons)) button.disabled = !this.flow;
    this.renderSummary(findings);
    this.renderExplanation(outcome);
  }

  renderSummary(findings) {
    if (!this.flow) {
      this.summary.textContent = "";
      return;
    }
    const split = splitFlow(this.flow);
    const nodes = split.tabs.reduce((n, t) => n + t.nodes.length, 0);
    const errors = findings.filter((f) => f.severity === "error").length;
    const warnings = findings.filter((f) => f.severity === "warning").length;
    const parts = [`${nodes} node${nodes === 1 ? "" : "s"}`,
      `${split.tabs.length} tab${split.tabs.length === 1 ? "" : "s"}`];
    if (split.config.length) parts.push(`${split.config.length} config`);
    parts.push(errors || warnings
      ? `${errors} error${errors === 1 ? "" : "s"}, ${warnings} warning${warnings === 1 ? "" : "s"}`
      : "valid");
    this.summary.textContent = parts.join(" · ");
    this.summary.dataset.nodes = String(nodes);
  }

  renderExplanation(outcome) {
    if (!outcome) {
      fill(this.explanation, h("p", { class: "muted" }, this.flow
        ? "This flow has no explanation yet."
        : "The explanation of the flow appears here."));
      return;
    }
    const parts = [];
    if (outcome.outcome === "refuse") parts.push(h("p", { class: "pill error" }, "Refused"));
    if (outcome.outcome === "clarify") parts.push(h("p", { class: "pill info" }, "Question"));
    parts.push(explainText(outcome.message || ""));
    if (outcome.understood && outcome.understood.length) {
      parts.push(h("h4", {}, "Understood"), list(outcome.understood));
    }
    if (outcome.notes && outcome.notes.length) {
      parts.push(h("h4", {}, "Notes"), list(outcome.notes, "notes"));
    }
    if (outcome.changes && outcome.changes.length) {
      parts.push(h("h4", {}, "Changes"), list(outcome.changes, "changes"));
    }
    const findings = outcome.findings || [];
    if (findings.length) {
      parts.push(h("h4", {}, `Findings (${findings.length})`),
        this.findingList(findings, true));
    }
    fill(this.explanation, parts);
  }

  findingList(findings, withNode) {
    return h("ul", { class: "findings" }, findings.map((f) => {
      const node = f.node_id && this.flow ? this.flow.find((n) => n.id === f.node_id) : null;
      return h("li", { class: `finding ${f.severity}` },
        h("span", { class: `pill ${f.severity}` }, f.severity),
        " ", h("code", {}, f.code), " ", f.message,
        f.property ? h("span", { class: "muted" }, ` (.${f.property})`) : null,
        f.hint ? h("div", { class: "hint" }, `Hint: ${f.hint}`) : null,
        withNode && node ? h("button", { type: "button", class: "link",
          onclick: () => { this.graph.select(node.id); } },
        `Show node “${nodeLabel(node)}”`) : null);
    }));
  }

  // --- the properties panel -----------------------------------------------------------

  openNode(node, { findings }) {
    this.opener = document.activeElement;
    this.panelTitle.textContent = `${nodeLabel(node)}`;
    const byId = new Map((this.flow || []).map((n) => [n.id, n]));
    const rows = [
      ["type", h("span", {}, h("span", { class: "swatch", "aria-hidden": "true",
        style: `background:${nodeColor(node.type)}` }), node.type)],
      ["id", h("code", {}, node.id)],
    ];
    if (node.name !== undefined) rows.push(["name", node.name || h("span", { class: "muted" },
      "(none)")]);
    if (node.z !== undefined) {
      const tab = byId.get(node.z);
      rows.push(["tab", tab ? (tab.label || tab.name || tab.id) : String(node.z)]);
    }
    if (node.x !== undefined) rows.push(["position", `x ${node.x}, y ${node.y}`]);
    for (const [key, value] of Object.entries(node)) {
      if (HIDDEN_PROPS.has(key)) continue;
      rows.push([key, this.propValue(value, byId)]);
    }
    const body = [h("dl", { class: "props" },
      rows.map(([key, value]) => [h("dt", {}, key), h("dd", {}, value)]))];
    if (Array.isArray(node.wires) && node.wires.length) {
      body.push(h("h4", {}, "Wires"), h("ul", { class: "wires-list" },
        node.wires.map((targets, i) => h("li", {}, `output ${i + 1} → `,
          targets && targets.length ? targets.map((id, j) => [j ? ", " : "",
            this.nodeLink(id, byId)]) : h("span", { class: "muted" }, "not connected")))));
    }
    body.push(h("h4", {}, `Findings (${findings.length})`));
    body.push(findings.length ? this.findingList(findings, false)
      : h("p", { class: "muted" }, "No findings on this node."));
    fill(this.panelBody, body);
    this.panel.hidden = false;
    this.root.classList.add("node-open");
    this.panelTitle.focus();
    announce(`Properties of ${nodeLabel(node)}`);
  }

  propValue(value, byId) {
    if (typeof value === "string" && value && byId.has(value)) { // a config node, a link
      return this.nodeLink(value, byId);
    }
    if (typeof value === "string") {
      if (value.includes("\n") || value.length > 80) return h("pre", { class: "code" }, value);
      return value === "" ? h("span", { class: "muted" }, "(empty)") : h("code", {}, value);
    }
    if (value !== null && typeof value === "object") {
      return h("pre", { class: "code" }, show(value));
    }
    return h("code", {}, JSON.stringify(value));
  }

  nodeLink(id, byId) {
    const target = byId.get(id);
    if (!target) return h("code", {}, id);
    return h("button", { type: "button", class: "link", onclick: () => this.graph.select(id) },
      `${nodeLabel(target)} (${target.type})`);
  }

  closeNode(restoreFocus = true) {
    if (this.panel.hidden) return;
    this.panel.hidden = true;
    this.root.classList.remove("node-open");
    const id = this.graph.selected;
    this.graph.clearSelection();
    if (restoreFocus) {
      if (id) this.graph.focusNode(id);
      else if (this.opener && this.opener.isConnected) this.opener.focus();
    }
  }

  // --- the buttons --------------------------------------------------------------------

  json() {
    return JSON.stringify(this.flow);
  }

  async copy() {
    if (!this.flow) return;
    const text = this.json();
    let done = false;
    try {
      if (navigator.clipboard && window.isSecureContext) {
        await navigator.clipboard.writeText(text);
        done = true;
      }
    } catch {
      done = false;
    }
    if (!done) {
      const area = h("textarea", { class: "offscreen", readonly: "", "aria-hidden": "true" });
      area.value = text;
      document.body.append(area);
      area.select();
      try {
        done = document.execCommand("copy");
      } catch {
        done = false;
      }
      area.remove();
      this.buttons.copy.focus();
    }
    flashLabel(this.buttons.copy, done ? "Copied" : "Copy failed");
    announce(done ? "Copied the flow JSON: paste it into Node-RED's import dialog."
      : "Could not copy: use Download instead.");
  }

  download() {
    if (!this.flow) return;
    const blob = new Blob([JSON.stringify(this.flow, null, 2)], { type: "application/json" });
    const href = URL.createObjectURL(blob);
    const link = h("a", { href, download: "flows.json", class: "offscreen" });
    document.body.append(link);
    link.click();
    link.remove();
    window.setTimeout(() => URL.revokeObjectURL(href), 5000);
    announce("Downloading flows.json");
  }
}

/**
 * The explanation text, with its section lines ("Summary", "Paths (1)", ...: a line at
 * the margin followed by indented ones) set apart as headings.
 */
function explainText(text) {
  const lines = String(text).split("\n");
  const box = h("div", { class: "explain-text" });
  let block = [];
  const flush = () => {
    if (block.length) box.append(h("div", { class: "explain-block" }, block.join("\n")));
    block = [];
  };
  lines.forEach((line, i) => {
    const next = lines[i + 1] || "";
    if (line.trim() && !/^\s/.test(line) && /^\s+\S/.test(next)) {
      flush();
      box.append(h("div", { class: "explain-head" }, line));
    } else {
      block.push(line.replace(/^ {2}/, ""));
    }
  });
  flush();
  return box;
}

/** The first paragraph of an explanation, without its "Summary" heading. */
export function summaryOf(text) {
  const first = String(text).trim().split(/\n\s*\n/)[0].split("\n");
  if (first.length > 1 && !/^\s/.test(first[0]) && /^\s/.test(first[1])) first.shift();
  return first.map((line) => line.trim()).join(" ");
}

function list(items, cls = "") {
  return h("ul", { class: cls }, items.map((item) => h("li", {}, String(item))));
}
