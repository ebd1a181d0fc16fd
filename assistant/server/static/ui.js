// Small DOM helpers shared by the pages: element building, the live region, formatting.

/**
 * Build an element. `attrs`: class, text, html-free only; keys starting with "on" are event
 * listeners, `dataset` an object, `hidden`/`disabled`/`checked` booleans, the rest attributes.
 */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  setAttrs(node, attrs);
  append(node, children);
  return node;
}

const SVG_NS = "http://www.w3.org/2000/svg";

/** The same for SVG elements. */
export function s(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  setAttrs(node, attrs);
  append(node, children);
  return node;
}

function setAttrs(node, attrs) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.setAttribute("class", value);
    else if (key === "text") node.textContent = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === "hidden") {
      node.toggleAttribute("hidden", Boolean(value)); // SVG elements have no .hidden
    } else if (key === "disabled" || key === "checked" || key === "selected") {
      node[key] = Boolean(value);
    } else if (key === "value") node.value = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Remove every child of `node` and append `children`. */
export function fill(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

export function $(selector, root = document) {
  return root.querySelector(selector);
}

/** Say `text` to screen readers (and show it in the status line for a moment). */
export function announce(text) {
  const live = document.getElementById("live");
  if (!live) return;
  live.textContent = "";
  // A fresh text node each time so the same message is read twice.
  window.setTimeout(() => { live.textContent = text; }, 30);
}

export function shortId(id, n = 10) {
  if (id === null || id === undefined) return "—";
  const text = String(id);
  return text.length > n ? text.slice(0, n) : text;
}

export function fmtTime(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  return date.toLocaleString(undefined, {
    year: "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
}

/** A value as readable text: strings as they are, the rest as indented JSON. */
export function show(value) {
  if (typeof value === "string") return value;
  if (value === undefined) return "";
  return JSON.stringify(value, null, 2);
}

/** Human words for a snake_case state. */
export function words(text) {
  return String(text ?? "").replace(/_/g, " ");
}

/** A short-lived label on a button ("Copied"), restored afterwards. */
export function flashLabel(button, text, ms = 1800) {
  const original = button.dataset.label || button.textContent;
  button.dataset.label = original;
  button.textContent = text;
  window.clearTimeout(Number(button.dataset.timer || 0));
  button.dataset.timer = String(window.setTimeout(() => {
    button.textContent = original;
  }, ms));
}
