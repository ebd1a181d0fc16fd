// Reads the editor-side definitions (RED.nodes.registerType calls) of every node type
// installed in a Node-RED node_modules folder and prints them as JSON:
//   { "<type>": {module, category, inputs, outputs, defaults: {prop: {value, required, type}},
//                credentials: {prop: {type}}} }
// The editor scripts expect a browser; we run them in a vm context whose globals are
// forgiving stubs, so only the literal parts of each definition survive. Used by the
// catalog conformance tests, never at run time.
"use strict";
const fs = require("fs");
const path = require("path");
const vm = require("vm");

const modulesDir = process.argv[2];
if (!modulesDir) {
  console.error("usage: node extract_definitions.js NODE_MODULES_DIR");
  process.exit(2);
}

function stub() {
  // A callable object whose every property, call and construction yields another stub.
  const fn = function () {};
  return new Proxy(fn, {
    get(target, prop) {
      if (Object.prototype.hasOwnProperty.call(target, prop) && prop !== "prototype" && prop !== "length" && prop !== "name") return target[prop];
      if (prop === Symbol.toPrimitive) return () => "";
      if (prop === Symbol.iterator) return function* () {};
      if (prop === "then") return undefined;
      return stub();
    },
    apply() { return stub(); },
    construct() { return stub(); },
    has() { return true; },
    set(target, prop, value) { target[prop] = value; return true; },
  });
}

function plain(value) {
  // Keep JSON-able literals; drop functions and stubs.
  if (typeof value === "function") return undefined;
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map(plain);
  const out = {};
  for (const [k, v] of Object.entries(value)) {
    const p = plain(v);
    if (p !== undefined) out[k] = p;
  }
  return out;
}

const found = {};
const selectOptions = {};  // type -> property -> option values offered by the edit dialog

function collectSelectOptions(html) {
  const tpl = /<script\s+type=["']text\/(?:html|x-red)["']\s+data-template-name=["']([^"']+)["'][^>]*>([\s\S]*?)<\/script>/gi;
  let t;
  while ((t = tpl.exec(html))) {
    const props = (selectOptions[t[1]] = selectOptions[t[1]] || {});
    const sel = /<select[^>]*id=["']node-(?:config-)?input-([\w-]+)["'][^>]*>([\s\S]*?)<\/select>/gi;
    let s;
    while ((s = sel.exec(t[2]))) {
      const values = [...s[2].matchAll(/<option[^>]*value=["']([^"']*)["']/gi)].map((o) => o[1]);
      if (values.length) props[s[1]] = values;
    }
  }
}

function evaluate(htmlFile, moduleName) {
  const html = fs.readFileSync(htmlFile, "utf8");
  collectSelectOptions(html);
  const re = /<script\s+type=["']text\/javascript["'][^>]*>([\s\S]*?)<\/script>/gi;
  let m;
  while ((m = re.exec(html))) {
    const RED = stub();
    RED.nodes = new Proxy({}, {
      get(_t, prop) {
        if (prop === "registerType") {
          return (type, def) => {
            const defaults = {};
            for (const [k, v] of Object.entries(def.defaults || {})) {
              defaults[k] = { value: plain(v.value), required: !!v.required };
              if (typeof v.type === "string") defaults[k].type = v.type;
            }
            const credentials = {};
            for (const [k, v] of Object.entries(def.credentials || {})) {
              credentials[k] = { type: typeof v.type === "string" ? v.type : "text" };
            }
            found[type] = {
              module: moduleName,
              category: typeof def.category === "string" ? def.category : null,
              inputs: typeof def.inputs === "number" ? def.inputs : 0,
              outputs: typeof def.outputs === "number" ? def.outputs : 0,
              defaults,
              credentials,
            };
          };
        }
        return stub();
      },
    });
    const sandbox = { RED, $: stub(), jQuery: stub(), window: stub(), document: stub(),
      console: { log() {}, warn() {}, error() {} }, setTimeout() {}, navigator: stub(),
      monaco: stub(), ace: stub(), Promise };
    sandbox.window = sandbox;
    try {
      vm.runInNewContext(m[1], sandbox, { timeout: 2000 });
    } catch (e) {
      // A script that fails after registering still counts; one that fails before is reported.
      process.stderr.write(`warning: ${htmlFile}: ${e.message}\n`);
    }
  }
}

function walk(dir, moduleName) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) walk(full, moduleName);
    else if (entry.name.endsWith(".html") && !full.includes(`${path.sep}locales${path.sep}`)) evaluate(full, moduleName);
  }
}

walk(path.join(modulesDir, "@node-red", "nodes", "core"), "node-red");
for (const name of fs.readdirSync(modulesDir)) {
  const pkgFile = path.join(modulesDir, name, "package.json");
  if (!fs.existsSync(pkgFile)) continue;
  const pkg = JSON.parse(fs.readFileSync(pkgFile, "utf8"));
  if (!pkg["node-red"] || !pkg["node-red"].nodes || name === "node-red") continue;
  for (const js of Object.values(pkg["node-red"].nodes)) {
    const html = path.join(modulesDir, name, js.replace(/\.js$/, ".html"));
    if (fs.existsSync(html)) evaluate(html, `${name}@${pkg.version}`);
  }
}
for (const [type, props] of Object.entries(selectOptions)) {
  if (!found[type]) continue;
  for (const [prop, values] of Object.entries(props)) {
    if (found[type].defaults[prop]) found[type].defaults[prop].options = values;
  }
}
process.stdout.write(JSON.stringify(found, null, 1));
