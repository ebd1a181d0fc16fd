/**
 * Validator findings in the Problems panel, on the lines of the flow's JSON, with the
 * validator's codes and hints.
 */

import * as vscode from 'vscode';
import { Finding, PlumbClient, ValidationReport } from './client';
import { FlowText } from './jsonPositions';
import { Problem, problemsFromFindings, syntaxProblem } from './problems';

export const DIAGNOSTIC_SOURCE = 'Plumb';

const SEVERITIES: Record<Problem['severity'], vscode.DiagnosticSeverity> = {
  error: vscode.DiagnosticSeverity.Error,
  warning: vscode.DiagnosticSeverity.Warning,
  info: vscode.DiagnosticSeverity.Information,
};

export function toDiagnostic(problem: Problem): vscode.Diagnostic {
  const range = new vscode.Range(problem.start.line, problem.start.character,
    problem.end.line, problem.end.character);
  const diagnostic = new vscode.Diagnostic(range, problem.message, SEVERITIES[problem.severity]);
  diagnostic.source = DIAGNOSTIC_SOURCE;
  diagnostic.code = problem.code;
  return diagnostic;
}

export interface ValidationResult {
  /** The server's report; undefined when the text is not JSON (nothing was sent). */
  report?: ValidationReport;
  diagnostics: vscode.Diagnostic[];
}

/** Whether a document is a flow file worth validating on save. */
export function isFlowDocument(document: vscode.TextDocument): boolean {
  if (!['json', 'jsonc'].includes(document.languageId) && !document.fileName.endsWith('.json')) {
    return false;
  }
  const flow = FlowText.tryParse(document.getText());
  return flow !== undefined && flow.looksLikeFlow();
}

export class FlowDiagnostics implements vscode.Disposable {
  readonly collection: vscode.DiagnosticCollection;

  constructor() {
    this.collection = vscode.languages.createDiagnosticCollection('plumb');
  }

  /** Whether this document shows Plumb's findings now. */
  has(uri: vscode.Uri): boolean {
    return this.collection.has(uri);
  }

  /** Put findings (e.g. of a generated flow) on a document. */
  showFindings(document: vscode.TextDocument, findings: readonly Finding[]): vscode.Diagnostic[] {
    const diagnostics = problemsFromFindings(document.getText(), findings).map(toDiagnostic);
    this.collection.set(document.uri, diagnostics);
    return diagnostics;
  }

  /** Validate the document's text with the server and show what it found. Text that is
   * not JSON gets one json-syntax problem without asking the server. */
  async validate(document: vscode.TextDocument, client: PlumbClient): Promise<ValidationResult> {
    const text = document.getText();
    const syntax = syntaxProblem(text);
    if (syntax) {
      const diagnostics = [toDiagnostic(syntax)];
      this.collection.set(document.uri, diagnostics);
      return { diagnostics };
    }
    const flow = FlowText.tryParse(text);
    // The node array of a {"flows": [...]} file; anything else goes as it is, and the
    // validator says what is wrong with it.
    const value: unknown = flow?.array ? flow.flowValue() : JSON.parse(text.replace(/^\uFEFF/, ''));
    const report = await client.validate(value);
    const diagnostics = this.showFindings(document, report.findings);
    return { report, diagnostics };
  }

  clear(uri: vscode.Uri): void {
    this.collection.delete(uri);
  }

  dispose(): void {
    this.collection.dispose();
  }
}
