// What the drawing needs to know about node types, without a catalog route: colours close
// to Node-RED's palette, which types have no input, which are configuration nodes, labels.

const COLORS = {
  inject: "#a6bbcf",
  debug: "#87a980",
  complete: "#c0edc0",
  catch: "#e49191",
  status: "#94c1d0",
  "link in": "#dddddd",
  "link out": "#dddddd",
  "link call": "#dddddd",
  comment: "#ffffff",
  function: "#fdd0a2",
  switch: "#e2d96e",
  change: "#e2d96e",
  range: "#e2d96e",
  template: "#f3b567",
  delay: "#e6e0f8",
  trigger: "#e6e0f8",
  exec: "#e9967a",
  rbe: "#e2d96e",
  filter: "#e2d96e",
  "mqtt in": "#d8bfd8",
  "mqtt out": "#d8bfd8",
  "http in": "#e7e7ae",
  "http response": "#e7e7ae",
  "http request": "#e7e7ae",
  "websocket in": "#d7d7a0",
  "websocket out": "#d7d7a0",
  "tcp in": "#c0c0c0",
  "tcp out": "#c0c0c0",
  "tcp request": "#c0c0c0",
  "udp in": "#c0c0c0",
  "udp out": "#c0c0c0",
  split: "#e2d96e",
  join: "#e2d96e",
  sort: "#e2d96e",
  batch: "#e2d96e",
  csv: "#debd5c",
  html: "#debd5c",
  json: "#debd5c",
  xml: "#debd5c",
  yaml: "#debd5c",
  file: "#deb887",
  "file in": "#deb887",
  watch: "#deb887",
  "plumb-onnx": "#b5c7e8",
  junction: "#d9d9d9",
};

// Families by prefix, for types not listed above (contrib packages).
const PREFIX_COLORS = [
  ["modbus", "#e9967a"],
  ["OpcUa", "#3fadb5"],
  ["opcua", "#3fadb5"],
  ["subflow:", "#ddaa99"],
  ["ui_", "#3aa5c7"],
  ["ui-", "#3aa5c7"],
];

const DEFAULT_COLOR = "#dddddd";

// Types whose nodes take no input wire.
const NO_INPUT = new Set([
  "inject", "complete", "catch", "status", "link in", "comment", "mqtt in", "http in",
  "websocket in", "tcp in", "udp in", "watch", "modbus-read", "OpcUa-Event",
]);

// Types whose icon sits on the right (Node-RED's "align: right": the flow ends there).
const ICON_RIGHT = new Set([
  "debug", "mqtt out", "http response", "link out", "websocket out", "tcp out", "udp out",
  "modbus-response", "file",
]);

// Configuration nodes Plumb knows (any node without a position is one too).
const CONFIG_TYPES = new Set([
  "global-config", "modbus-client", "modbus-io-config", "OpcUa-Endpoint", "mqtt-broker",
  "http proxy", "tls-config", "websocket-listener", "websocket-client", "ui_base", "ui_tab",
  "ui_group",
]);

export const STRUCTURE = new Set(["tab", "subflow", "group"]);

export function nodeColor(type) {
  const name = String(type ?? "");
  if (COLORS[name]) return COLORS[name];
  for (const [prefix, color] of PREFIX_COLORS) {
    if (name.startsWith(prefix)) return color;
  }
  return DEFAULT_COLOR;
}

export function hasInput(node) {
  if (Number.isInteger(node.inputs)) return node.inputs > 0;
  return !NO_INPUT.has(String(node.type));
}

export function iconRight(node) {
  return ICON_RIGHT.has(String(node.type));
}

export function outputCount(node) {
  if (Array.isArray(node.wires)) return node.wires.length;
  const declared = Number(node.outputs);
  return Number.isFinite(declared) && declared > 0 ? declared : 0;
}

export function hasPosition(node) {
  return Number.isFinite(Number(node.x)) && Number.isFinite(Number(node.y))
    && node.x !== null && node.y !== null && node.x !== "" && node.y !== "";
}

export function isConfig(node) {
  const type = String(node.type ?? "");
  if (STRUCTURE.has(type) || type === "junction") return false;
  return CONFIG_TYPES.has(type) || !hasPosition(node);
}

/** The label Node-RED would show: the name, else a type-specific one, else the type. */
export function nodeLabel(node) {
  if (node.name) return String(node.name);
  const type = String(node.type ?? "node");
  switch (type) {
    case "mqtt in":
    case "mqtt out":
      return node.topic ? String(node.topic) : type;
    case "http in":
      return node.url ? `[${String(node.method || "get")}] ${node.url}` : type;
    case "debug":
      return node.complete === "true" || node.complete === true ? "msg"
        : `msg.${node.complete || "payload"}`;
    case "inject":
      return node.repeat ? `every ${node.repeat} s` : type;
    case "comment":
      return node.name || "comment";
    case "mqtt-broker":
      return node.broker ? `${node.broker}:${node.port || 1883}` : type;
    case "modbus-client":
      return node.tcpHost ? `${node.tcpHost}:${node.tcpPort || 502}` : type;
    default:
      return type.startsWith("subflow:") ? "subflow" : type;
  }
}

/**
 * Split a flow into what the editor draws: tabs (and subflow definitions) with their
 * nodes, groups and junctions, and the configuration nodes listed apart. Nodes whose `z`
 * names no tab go to a tab of their own ("Flow").
 */
export function splitFlow(flow) {
  const list = Array.isArray(flow) ? flow.filter((n) => n && typeof n === "object") : [];
  const byId = new Map(list.map((n) => [n.id, n]));
  const tabs = [];
  const tabById = new Map();
  for (const node of list) {
    if (node.type === "tab" || node.type === "subflow") {
      const tab = {
        id: node.id, label: node.label || node.name || (node.type === "subflow"
          ? "Subflow" : "Flow"), subflow: node.type === "subflow", disabled: !!node.disabled,
        node, nodes: [], groups: [],
      };
      tabs.push(tab);
      tabById.set(node.id, tab);
    }
  }
  const config = [];
  let loose = null;
  for (const node of list) {
    if (node.type === "tab" || node.type === "subflow") continue;
    if (isConfig(node)) {
      config.push(node);
      continue;
    }
    let tab = tabById.get(node.z);
    if (!tab) {
      if (!loose) {
        loose = { id: node.z || "__flow", label: "Flow", nodes: [], groups: [], node: null };
        tabs.push(loose);
        tabById.set(loose.id, loose);
      }
      tab = loose;
    }
    if (node.type === "group") tab.groups.push(node);
    else tab.nodes.push(node);
  }
  return { tabs, config, byId };
}
