// The reference side of tests/runtime/test_jsonata_differential.py: evaluates JSONata
// expressions with the JavaScript JSONata that Node-RED itself runs.
//
// Usage: node jsonata_reference.js [path-to-jsonata-module] < cases.json > results.json
//
// stdin:  a JSON list of cases, each {"expr": string, "input"?: any, "bindings"?: object}.
//         A case without "input" is evaluated with no input at all (undefined).
// stdout: a JSON list with one entry per case, in order: {"value": <encoded>} or
//         {"error": "<code>: <message>"}.
//
// JSON has no `undefined`, NaN, Infinity or functions, so values are encoded: a plain JSON
// value stands for itself, except that an object holding the key "__jsonata__" is a tag:
//   {"__jsonata__": "undefined"}      undefined (also inside arrays)
//   {"__jsonata__": "function"}       a lambda or a built-in function
//   {"__jsonata__": "number", "v": s} NaN, Infinity or -Infinity (s is the JS spelling)
// Object members that are undefined are dropped, as JSON.stringify would drop them.
//
// One process evaluates every case: the Python test batches all its expressions.

"use strict";

const path = require("path");

function loadJsonata(modulePath) {
    if (modulePath) {
        return require(path.resolve(modulePath));
    }
    return require("jsonata");
}

function encode(value, seen) {
    if (value === undefined) {
        return { __jsonata__: "undefined" };
    }
    if (value === null || typeof value === "string" || typeof value === "boolean") {
        return value;
    }
    if (typeof value === "number") {
        return Number.isFinite(value) ? value : { __jsonata__: "number", v: String(value) };
    }
    if (typeof value === "function") {
        return { __jsonata__: "function" };
    }
    if (typeof value === "object") {
        // JSONata's lambdas are objects flagged `_jsonata_lambda`; built-ins carry
        // `_jsonata_function`.
        if (value._jsonata_lambda || value._jsonata_function) {
            return { __jsonata__: "function" };
        }
        if (seen.has(value)) {
            return { __jsonata__: "cycle" };
        }
        seen.add(value);
        let out;
        if (Array.isArray(value)) {
            out = value.map((item) => encode(item, seen));
        } else {
            out = {};
            for (const key of Object.keys(value)) {
                if (value[key] !== undefined) {
                    out[key] = encode(value[key], seen);
                }
            }
        }
        seen.delete(value);
        return out;
    }
    return { __jsonata__: "unknown", v: String(value) };
}

async function evaluateCase(jsonata, item) {
    try {
        const expression = jsonata(item.expr);
        const input = Object.prototype.hasOwnProperty.call(item, "input") ? item.input : undefined;
        const result = await expression.evaluate(input, item.bindings || undefined);
        return { value: encode(result, new Set()) };
    } catch (err) {
        const code = err && err.code ? String(err.code) : "error";
        const message = err && err.message ? String(err.message) : String(err);
        return { error: code + ": " + message };
    }
}

async function main() {
    const jsonata = loadJsonata(process.argv[2]);
    const chunks = [];
    for await (const chunk of process.stdin) {
        chunks.push(chunk);
    }
    const cases = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    const results = [];
    for (const item of cases) {
        results.push(await evaluateCase(jsonata, item));
    }
    process.stdout.write(JSON.stringify(results));
}

main().catch((err) => {
    process.stderr.write(String(err && err.stack ? err.stack : err) + "\n");
    process.exit(1);
});
