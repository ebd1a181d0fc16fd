// The flow drawn as Node-RED's editor draws it, in SVG: one canvas per tab, nodes as
// rounded rectangles centred on their x/y, ports, bezier wires, finding badges; pan by
// dragging the background, zoom with the wheel or the +/- buttons; a node opens on click
// or Enter.

import { h, s, fill } from "./ui.js";
import {
  hasInput, iconRight, nodeColor, nodeLabel, outputCount, splitFlow,
} from "./nodes.js";

const NODE_W = 100;
const NODE_H = 30;
const GRID = 20;
const MIN_K = 0.2;
const MAX_K = 3;
const FONT = "14px 'Helvetica Neue', Arial, Helvetica, sans-serif";

let measurer = null;

function textWidth(text) {
  if (!measurer) {
    measurer = document.createElement("canvas").getContext("2d");
    measurer.font = FONT;
  }
  return measurer.measureText(text).width;
}

/** Width, height and output port offsets of a node, as Node-RED lays it out. */
export function geometry(node) {
  if (node.type === "junction") return { w: 10, h: 10, ports: [5], label: "" };
  const outputs = outputCount(node);
  const label = node.l === false ? "" : nodeLabel(node);
  const w = label ? Math.max(NODE_W, GRID * Math.ceil((textWidth(label) + 50) / GRID)) : 30;
  const height = Math.max(NODE_H, outputs * 15);
  const first = height / 2 - ((outputs - 1) / 2) * 13;
  const ports = Array.from({ length: outputs }, (_, i) => first + 13 * i);
  return { w, h: height, ports, label };
}

/** Node-RED's wire curve from an output port to an input port. */
export function wirePath(ox, oy, tx, ty) {
  const dx = tx - ox;
  const dy = ty - oy;
  const delta = Math.sqrt(dx * dx + dy * dy);
  let scale = 0.75;
  if (dx > 0) {
    if (delta < NODE_W) scale = 0.75 - 0.75 * ((NODE_W - delta) / NODE_W);
  } else {
    scale = 0.75 + 1.5 * (Math.min(5 * NODE_W, Math.abs(dx)) / (5 * NODE_W));
  }
  const c = NODE_W * scale;
  return `M ${ox} ${oy} C ${ox + c} ${oy} ${tx - c} ${ty} ${tx} ${ty}`;
}

function severityOf(findings) {
  if (findings.some((f) => f.severity === "error")) return "error";
  if (findings.some((f) => f.severity === "warning")) return "warning";
  return findings.length ? "info" : null;
}

export class FlowGraph {
  /** `root`: an empty element; `onSelect(node|null, {config})` when a node opens. */
  constructor(root, { onSelect } = {}) {
    this.root = root;
    this.onSelect = onSelect || (() => {});
    this.flow = [];
    this.findings = new Map();
    this.views = new Map(); // tab id -> {svg, viewport, k, tx, ty, bbox, fitted}
    this.current = null;
    this.selected = null;
    this.tabBar = h("div", { class: "graph-tabs", role: "tablist", "aria-label": "Flow tabs" });
    this.canvases = h("div", { class: "graph-canvases" });
    this.zoom = h("div", { class: "zoom-controls", role: "group", "aria-label": "Zoom" },
      h("button", { type: "button", class: "icon", "aria-label": "Zoom in", title: "Zoom in",
        onclick: () => this.zoomBy(1.25) }, "+"),
      h("button", { type: "button", class: "icon", "aria-label": "Zoom out",
        title: "Zoom out", onclick: () => this.zoomBy(0.8) }, "−"),
      h("button", { type: "button", class: "icon wide", "aria-label": "Fit the flow to the view",
        title: "Fit", onclick: () => this.fit() }, "Fit"));
    this.stage = h("div", { class: "graph-stage" }, this.canvases, this.zoom);
    this.configList = h("ul", { class: "config-list" });
    this.configBox = h("details", { class: "config-nodes", open: true, hidden: true },
      h("summary", {}, "Configuration nodes"), this.configList);
    this.empty = h("p", { class: "graph-empty" },
      "No flow yet. Describe what it should do in the message box.");
    fill(root, this.tabBar, this.stage, this.configBox, this.empty);
    root.classList.add("graph");
    this.stage.hidden = true;
    this.tabBar.hidden = true;
    new ResizeObserver(() => {
      const view = this.views.get(this.current);
      if (view && !view.fitted) this.fit();
    }).observe(this.canvases);
  }

  /** Draw `flow`; `findings` ({node_id, severity, message, ...}) mark their nodes. */
  setFlow(flow, findings = []) {
    this.flow = Array.isArray(flow) ? flow : [];
    this.findings = new Map();
    for (const finding of findings || []) {
      if (!finding || !finding.node_id) continue;
      const list = this.findings.get(finding.node_id) || [];
      list.push(finding);
      this.findings.set(finding.node_id, list);
    }
    const previous = this.current;
    const split = splitFlow(this.flow);
    this.split = split;
    this.views.clear();
    this.tabBar.replaceChildren();
    this.canvases.replaceChildren();
    this.selected = null;
    const hasNodes = split.tabs.length > 0 || split.config.length > 0;
    this.empty.hidden = hasNodes;
    this.stage.hidden = !split.tabs.length;
    this.tabBar.hidden = !split.tabs.length;
    for (const tab of split.tabs) this.drawTab(tab);
    this.drawConfig(split.config);
    const keep = split.tabs.find((t) => t.id === previous);
    this.current = null;
    if (split.tabs.length) this.showTab((keep || split.tabs[0]).id);
  }

  nodeCount() {
    return this.split ? this.split.tabs.reduce((n, t) => n + t.nodes.length, 0) : 0;
  }

  drawTab(tab) {
    const tabId = `graph-tab-${this.views.size}`;
    const button = h("button", {
      type: "button", role: "tab", id: tabId, class: "graph-tab",
      "aria-selected": "false", "aria-controls": `${tabId}-panel`,
      onclick: () => this.showTab(tab.id),
    }, tab.label, tab.subflow ? " (subflow)" : "", tab.disabled ? " (disabled)" : "");
    button.addEventListener("keydown", (event) => this.tabKeys(event));
    this.tabBar.append(button);

    const patternId = `grid-${this.views.size}-${Math.random().toString(36).slice(2, 7)}`;
    const viewport = s("g", { class: "viewport" });
    const svg = s("svg", {
      class: "canvas", id: `${tabId}-panel`, role: "tabpanel", tabindex: "0",
      "aria-label": `Canvas of ${tab.label}: ${tab.nodes.length} nodes. Arrow keys pan, `
        + "plus and minus zoom.",
      "aria-roledescription": "flow canvas",
    },
    s("defs", {}, s("pattern", { id: patternId, width: GRID * 5, height: GRID * 5,
      patternUnits: "userSpaceOnUse" },
    s("path", { d: `M ${GRID * 5} 0 L 0 0 0 ${GRID * 5}`, class: "grid-line" }))),
    viewport);
    viewport.append(s("rect", { class: "grid", x: -20000, y: -20000, width: 40000,
      height: 40000, fill: `url(#${patternId})` }));
    const groups = s("g", { class: "groups" });
    const wires = s("g", { class: "wires" });
    const nodes = s("g", { class: "nodes" });
    viewport.append(groups, wires, nodes);
    svg.setAttribute("hidden", ""); // SVG elements have no .hidden property
    this.canvases.append(svg);

    const shapes = new Map();
    for (const node of tab.nodes) shapes.set(node.id, { node, ...geometry(node) });
    for (const group of tab.groups) groups.append(this.drawGroup(group));
    // Wires first so the nodes sit on top of them.
    for (const { node, w, ports } of shapes.values()) {
      const x = Number(node.x);
      const y = Number(node.y);
      (Array.isArray(node.wires) ? node.wires : []).forEach((targets, port) => {
        for (const target of Array.isArray(targets) ? targets : []) {
          const to = shapes.get(target);
          if (!to) continue;
          const ox = x + w / 2;
          const oy = y - (shapes.get(node.id).h / 2) + (ports[port] ?? 15);
          const tx = Number(to.node.x) - to.w / 2;
          const ty = Number(to.node.y);
          wires.append(s("path", { class: "wire", d: wirePath(ox, oy, tx, ty),
            dataset: { from: node.id, to: target, port: String(port) } }));
        }
      });
      if (node.type === "link out" && Array.isArray(node.links)) {
        for (const target of node.links) {
          const to = shapes.get(target);
          if (!to) continue;
          wires.append(s("path", { class: "wire link-wire",
            d: wirePath(x + w / 2, y, Number(to.node.x) - to.w / 2, Number(to.node.y)) }));
        }
      }
    }
    const ordered = [...shapes.values()].sort((a, b) =>
      (Number(a.node.y) - Number(b.node.y)) || (Number(a.node.x) - Number(b.node.x)));
    for (const shape of ordered) nodes.append(this.drawNode(shape));

    const view = { tab, svg, viewport, k: 1, tx: 0, ty: 0, fitted: false,
      bbox: this.bbox([...shapes.values()], tab.groups), button };
    this.views.set(tab.id, view);
    this.wirePanZoom(view);
  }

  bbox(shapes, groups) {
    let minX = Infinity;
    let minY = Infinity;
    let maxX = -Infinity;
    let maxY = -Infinity;
    for (const { node, w, h: height } of shapes) {
      minX = Math.min(minX, Number(node.x) - w / 2);
      maxX = Math.max(maxX, Number(node.x) + w / 2);
      minY = Math.min(minY, Number(node.y) - height / 2 - 10);
      maxY = Math.max(maxY, Number(node.y) + height / 2);
    }
    for (const g of groups) {
      if (![g.x, g.y, g.w, g.h].every((v) => Number.isFinite(Number(v)))) continue;
      minX = Math.min(minX, Number(g.x));
      minY = Math.min(minY, Number(g.y));
      maxX = Math.max(maxX, Number(g.x) + Number(g.w));
      maxY = Math.max(maxY, Number(g.y) + Number(g.h));
    }
    if (!Number.isFinite(minX)) return { minX: 0, minY: 0, maxX: 200, maxY: 100 };
    return { minX, minY, maxX, maxY };
  }

  drawGroup(group) {
    const { x, y, w, h: height } = group;
    if (![x, y, w, height].every((v) => Number.isFinite(Number(v)))) return s("g");
    const style = group.style || {};
    return s("g", { class: "group" },
      s("rect", { x, y, width: w, height, rx: 4,
        fill: style.fill || "none", "fill-opacity": style["fill-opacity"] ?? 0.5,
        stroke: style.stroke || "#999", "stroke-width": 1 }),
      group.name ? s("text", { x: Number(x) + 8, y: Number(y) + 16,
        class: "group-label" }, group.name) : null);
  }

  drawNode({ node, w, h: height, ports, label }) {
    const x = Number(node.x) - w / 2;
    const y = Number(node.y) - height / 2;
    const findings = this.findings.get(node.id) || [];
    const severity = severityOf(findings);
    const right = iconRight(node);
    const describe = [`${node.type} node`, label && label !== node.type ? label : null,
      findings.length ? `${findings.length} finding${findings.length > 1 ? "s" : ""}`
        + ` (${severity})` : null, node.d ? "disabled" : null].filter(Boolean).join(", ");
    const g = s("g", {
      class: `node${node.d ? " disabled" : ""}${severity ? ` has-${severity}` : ""}`,
      transform: `translate(${x} ${y})`, tabindex: "0", role: "button",
      "aria-label": describe, dataset: { id: node.id, type: node.type },
    });
    if (node.type === "junction") {
      g.append(s("rect", { class: "node-body", width: 10, height: 10, rx: 3,
        fill: nodeColor(node.type) }));
    } else {
      g.append(s("rect", { class: "node-body", width: w, height, rx: 5, ry: 5,
        fill: nodeColor(node.type) }));
      if (label) {
        g.append(s("path", { class: "node-icon-shade",
          d: right ? `M ${w - 30} 0 H ${w - 5} A 5 5 0 0 1 ${w} 5 V ${height - 5} `
            + `A 5 5 0 0 1 ${w - 5} ${height} H ${w - 30} Z`
            : `M 5 0 H 30 V ${height} H 5 A 5 5 0 0 1 0 ${height - 5} V 5 A 5 5 0 0 1 5 0 Z`,
        }));
        g.append(s("line", { class: "node-icon-edge", x1: right ? w - 30 : 30, y1: 0,
          x2: right ? w - 30 : 30, y2: height }));
        g.append(s("text", { class: "node-label", x: right ? w - 38 : 38, y: height / 2,
          "text-anchor": right ? "end" : "start", "dominant-baseline": "central" }, label));
      } else {
        g.append(s("path", { class: "node-icon-shade",
          d: `M 5 0 H ${w - 5} A 5 5 0 0 1 ${w} 5 V ${height - 5} A 5 5 0 0 1 ${w - 5} `
            + `${height} H 5 A 5 5 0 0 1 0 ${height - 5} V 5 A 5 5 0 0 1 5 0 Z` }));
      }
      if (hasInput(node)) {
        g.append(s("rect", { class: "port", x: -5, y: height / 2 - 5, width: 10, height: 10,
          rx: 3 }));
      }
      for (const py of ports) {
        g.append(s("rect", { class: "port", x: w - 5, y: py - 5, width: 10, height: 10,
          rx: 3 }));
      }
    }
    if (severity) {
      const badge = s("g", { class: `badge ${severity}`,
        transform: `translate(${node.type === "junction" ? 10 : w - 4} -4)` },
      s("circle", { r: 8 }),
      s("text", { "text-anchor": "middle", "dominant-baseline": "central", y: 0.5 },
        severity === "info" ? "i" : "!"));
      badge.append(s("title", {}, findings.map((f) => `${f.severity}: ${f.message}`)
        .join("\n")));
      g.append(badge);
    }
    g.append(s("title", {}, `${label || node.type} (${node.type})`));
    g.addEventListener("click", (event) => {
      event.stopPropagation();
      this.select(node.id);
    });
    g.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        this.select(node.id);
      }
    });
    g.addEventListener("focus", () => this.reveal(node.id));
    g.addEventListener("pointerdown", (event) => event.stopPropagation());
    return g;
  }

  drawConfig(config) {
    this.configList.replaceChildren();
    this.configBox.hidden = !config.length;
    this.configBox.querySelector("summary").textContent =
      `Configuration nodes (${config.length})`;
    for (const node of config) {
      const findings = this.findings.get(node.id) || [];
      const severity = severityOf(findings);
      this.configList.append(h("li", {},
        h("button", { type: "button", class: "config-node", dataset: { id: node.id },
          onclick: () => this.select(node.id, true) },
        h("span", { class: "swatch", style: `background:${nodeColor(node.type)}`,
          "aria-hidden": "true" }),
        h("span", { class: "config-type" }, node.type),
        node.name || nodeLabel(node) !== node.type
          ? h("span", { class: "config-name" }, node.name || nodeLabel(node)) : null,
        severity ? h("span", { class: `pill ${severity}` },
          `${findings.length} ${severity}`) : null)));
    }
  }

  showTab(id) {
    for (const [key, view] of this.views) {
      const active = key === id;
      view.svg.toggleAttribute("hidden", !active);
      view.button.setAttribute("aria-selected", String(active));
      view.button.tabIndex = active ? 0 : -1;
      view.button.classList.toggle("active", active);
    }
    this.current = id;
    const view = this.views.get(id);
    if (view && !view.fitted) this.fit();
  }

  tabKeys(event) {
    const buttons = [...this.tabBar.querySelectorAll("[role=tab]")];
    const index = buttons.indexOf(event.currentTarget);
    let next = null;
    if (event.key === "ArrowRight") next = buttons[(index + 1) % buttons.length];
    else if (event.key === "ArrowLeft") {
      next = buttons[(index - 1 + buttons.length) % buttons.length];
    } else if (event.key === "Home") next = buttons[0];
    else if (event.key === "End") next = buttons[buttons.length - 1];
    if (next) {
      event.preventDefault();
      next.click();
      next.focus();
    }
  }

  /** Open a node: mark it and tell the page; switches to its tab if needed. */
  select(id, config = false) {
    const node = this.split && this.split.byId.get(id);
    if (!node) return;
    for (const view of this.views.values()) {
      if (view.tab.nodes.includes(node) && this.current !== view.tab.id) {
        this.showTab(view.tab.id);
      }
    }
    this.root.querySelectorAll(".node.selected, .config-node.selected")
      .forEach((el) => el.classList.remove("selected"));
    this.root.querySelectorAll(`[data-id="${CSS.escape(id)}"]`)
      .forEach((el) => el.classList.add("selected"));
    this.selected = id;
    this.onSelect(node, { config, findings: this.findings.get(id) || [] });
  }

  clearSelection() {
    this.root.querySelectorAll(".selected").forEach((el) => el.classList.remove("selected"));
    this.selected = null;
  }

  /** Focus the drawn node (or config entry) with this id. */
  focusNode(id) {
    const el = this.root.querySelector(`[data-id="${CSS.escape(id)}"]`);
    if (el) el.focus();
  }

  // --- pan and zoom ----------------------------------------------------------------

  apply(view) {
    view.viewport.setAttribute("transform",
      `translate(${view.tx.toFixed(1)} ${view.ty.toFixed(1)}) scale(${view.k.toFixed(4)})`);
  }

  fit() {
    const view = this.views.get(this.current);
    if (!view) return;
    const width = view.svg.clientWidth;
    const height = view.svg.clientHeight;
    if (!width || !height) return; // not laid out yet: the resize observer calls again
    const { minX, minY, maxX, maxY } = view.bbox;
    const pad = 30;
    const k = Math.max(MIN_K, Math.min(1, (width - 2 * pad) / (maxX - minX || 1),
      (height - 2 * pad) / (maxY - minY || 1)));
    view.k = k;
    view.tx = (width - (maxX - minX) * k) / 2 - minX * k;
    view.ty = Math.min(pad, (height - (maxY - minY) * k) / 2) - minY * k;
    view.fitted = true;
    this.apply(view);
  }

  zoomBy(factor, cx = null, cy = null) {
    const view = this.views.get(this.current);
    if (!view) return;
    const px = cx ?? view.svg.clientWidth / 2;
    const py = cy ?? view.svg.clientHeight / 2;
    const k = Math.max(MIN_K, Math.min(MAX_K, view.k * factor));
    view.tx = px - ((px - view.tx) * k) / view.k;
    view.ty = py - ((py - view.ty) * k) / view.k;
    view.k = k;
    view.fitted = true;
    this.apply(view);
  }

  panBy(dx, dy) {
    const view = this.views.get(this.current);
    if (!view) return;
    view.tx += dx;
    view.ty += dy;
    view.fitted = true;
    this.apply(view);
  }

  /** Pan so that the node with `id` is inside the visible canvas. */
  reveal(id) {
    const view = this.views.get(this.current);
    const node = this.split && this.split.byId.get(id);
    if (!view || !node) return;
    const { w } = geometry(node);
    const left = (Number(node.x) - w / 2) * view.k + view.tx;
    const right = (Number(node.x) + w / 2) * view.k + view.tx;
    const top = (Number(node.y) - 20) * view.k + view.ty;
    const bottom = (Number(node.y) + 20) * view.k + view.ty;
    const width = view.svg.clientWidth;
    const height = view.svg.clientHeight;
    let dx = 0;
    let dy = 0;
    if (left < 10) dx = 10 - left;
    else if (right > width - 10) dx = width - 10 - right;
    if (top < 10) dy = 10 - top;
    else if (bottom > height - 10) dy = height - 10 - bottom;
    if (dx || dy) this.panBy(dx, dy);
  }

  wirePanZoom(view) {
    const { svg } = view;
    let drag = null;
    svg.addEventListener("pointerdown", (event) => {
      if (event.button !== 0) return;
      drag = { x: event.clientX, y: event.clientY, id: event.pointerId, moved: false };
      svg.setPointerCapture(event.pointerId);
      svg.classList.add("panning");
    });
    svg.addEventListener("pointermove", (event) => {
      if (!drag || event.pointerId !== drag.id) return;
      const dx = event.clientX - drag.x;
      const dy = event.clientY - drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 2) drag.moved = true;
      drag.x = event.clientX;
      drag.y = event.clientY;
      this.panBy(dx, dy);
    });
    const end = (event) => {
      if (!drag || event.pointerId !== drag.id) return;
      drag = null;
      svg.classList.remove("panning");
    };
    svg.addEventListener("pointerup", end);
    svg.addEventListener("pointercancel", end);
    svg.addEventListener("wheel", (event) => {
      event.preventDefault();
      const box = svg.getBoundingClientRect();
      const factor = Math.exp(-event.deltaY * (event.deltaMode === 1 ? 0.05 : 0.0015));
      this.zoomBy(factor, event.clientX - box.left, event.clientY - box.top);
    }, { passive: false });
    svg.addEventListener("keydown", (event) => {
      if (event.target !== svg) return;
      const step = 40;
      const moves = { ArrowLeft: [step, 0], ArrowRight: [-step, 0], ArrowUp: [0, step],
        ArrowDown: [0, -step] };
      if (moves[event.key]) {
        event.preventDefault();
        this.panBy(...moves[event.key]);
      } else if (event.key === "+" || event.key === "=") {
        event.preventDefault();
        this.zoomBy(1.25);
      } else if (event.key === "-" || event.key === "_") {
        event.preventDefault();
        this.zoomBy(0.8);
      } else if (event.key === "0") {
        event.preventDefault();
        this.fit();
      }
    });
  }
}
