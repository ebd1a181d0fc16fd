/**
 * Validator findings placed on the lines of the flow's JSON text: what the Problems panel
 * shows. No vscode import (diagnostics.ts turns these into vscode.Diagnostic).
 */

import { Finding, Severity } from './client';
import { FlowText } from './jsonPositions';
import { JsonSyntaxError, LineIndex, TextPosition, parseTree } from './jsonScanner';

export interface Problem {
  start: TextPosition;
  end: TextPosition;
  severity: Severity;
  /** The validator's stable code, e.g. wire-target-missing (json-syntax for text that
   * is not JSON). */
  code: string;
  /** What the Problems panel shows: the node, the message and the hint. */
  message: string;
  hint?: string;
  nodeId?: string;
  property?: string;
}

/** How a node is named in a message: its type and name, or type and id. */
export function describeNode(type: string | undefined, name: string | undefined,
                             id: string | undefined): string {
  const kind = type ?? 'node';
  if (name) {
    return `${kind} "${name}"`;
  }
  return id ? `${kind} ${id}` : kind;
}

/** The findings of a validation, placed in `text`. */
export function problemsFromFindings(text: string, findings: readonly Finding[]): Problem[] {
  const lines = new LineIndex(text);
  const flow = FlowText.tryParse(text);
  return findings.map((finding) => {
    let start = 0;
    let end = 0;
    let subject = '';
    if (flow) {
      const { range, node } = flow.rangeOf(finding.node_id, finding.property, finding.message,
        finding.code);
      start = range.start;
      end = range.end;
      if (node) {
        subject = `${describeNode(node.type, node.name, node.id)}: `;
      }
    }
    if (!subject && finding.node_id) {
      subject = `node ${finding.node_id}: `;
    }
    const hint = finding.hint ?? undefined;
    const problem: Problem = {
      start: lines.positionAt(start),
      end: lines.positionAt(end),
      severity: finding.severity,
      code: finding.code,
      message: `${subject}${finding.message}${hint ? ` (hint: ${hint})` : ''}`,
    };
    if (hint) {
      problem.hint = hint;
    }
    if (finding.node_id) {
      problem.nodeId = finding.node_id;
    }
    if (finding.property) {
      problem.property = finding.property;
    }
    return problem;
  });
}

/** The problem of a text that is not JSON at all, or undefined when it is JSON. */
export function syntaxProblem(text: string): Problem | undefined {
  try {
    parseTree(text);
    return undefined;
  } catch (error) {
    if (!(error instanceof JsonSyntaxError)) {
      throw error;
    }
    const lines = new LineIndex(text);
    const start = lines.positionAt(error.offset);
    const end = lines.positionAt(Math.min(error.offset + 1, text.length));
    return {
      start,
      end,
      severity: 'error',
      code: 'json-syntax',
      message: `not valid JSON: ${error.message}`,
    };
  }
}
