/**
 * Writing a flow back as text in the style of the file it came from, so that the diff of
 * a proposed change shows the change and not a reformatting. No vscode import.
 */

import { JsonSyntaxError, parseTree, valueOf } from './jsonScanner';

/** The indentation a JSON text uses: a number of spaces, a tab, or none (one line). */
export function detectIndent(text: string): string | number {
  const trimmed = text.replace(/^\uFEFF/, '');
  const lines = trimmed.split(/\r\n|\r|\n/);
  if (lines.filter((line) => line.trim() !== '').length <= 1) {
    return 0; // Node-RED's default flows.json: everything on one line
  }
  for (const line of lines.slice(1)) {
    const match = /^([ \t]+)\S/.exec(line);
    if (match) {
      return match[1].startsWith('\t') ? '\t' : match[1].length;
    }
  }
  return 4;
}

/** The line ending a text uses. */
export function detectEol(text: string): string {
  return /\r\n/.test(text) ? '\r\n' : '\n';
}

/**
 * `flow` (an array of nodes) as text shaped like `original`: the same indentation and
 * line endings, a final newline when the original has one, and for the admin API's
 * `{"rev", "flows"}` object the other keys kept. A text that is not JSON counts as a
 * plain array written with 4 spaces.
 */
export function formatFlowLike(original: string, flow: unknown[]): string {
  const indent = original.trim() === '' ? 4 : detectIndent(original);
  const eol = detectEol(original);
  let value: unknown = flow;
  try {
    const tree = parseTree(original);
    if (tree.type === 'object') {
      const wrapper = valueOf(tree) as Record<string, unknown>;
      if (Array.isArray(wrapper.flows)) {
        value = { ...wrapper, flows: flow };
      }
    }
  } catch (error) {
    if (!(error instanceof JsonSyntaxError)) {
      throw error;
    }
  }
  let text = JSON.stringify(value, null, indent);
  if (eol !== '\n') {
    text = text.replace(/\n/g, eol);
  }
  const finalNewline = original === '' || /(\r\n|\n|\r)$/.test(original);
  return finalNewline ? text + eol : text;
}

/** A new flow, as a document: 4 spaces, as Node-RED writes flows with `flowFilePretty`. */
export function formatNewFlow(flow: unknown[]): string {
  return JSON.stringify(flow, null, 4) + '\n';
}
