/**
 * HTML of the side panel that shows an explanation, a generated flow's summary or an
 * edit's changes. Everything from the server is escaped. No vscode import.
 */

import { Explanation, Finding, Outcome } from './client';

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({
    '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
  })[c] as string);
}

function list(title: string, items: readonly string[] | undefined): string {
  if (!items || items.length === 0) {
    return '';
  }
  return `<h3>${escapeHtml(title)}</h3><ul>${items.map((i) => `<li>${escapeHtml(i)}</li>`).join('')}</ul>`;
}

export function findingsHtml(findings: readonly Finding[] | undefined): string {
  if (!findings || findings.length === 0) {
    return '';
  }
  const rows = findings.map((f) => {
    const where = f.node_id ? ` <code>${escapeHtml(f.node_id)}${f.property ? `.${escapeHtml(f.property)}` : ''}</code>` : '';
    const hint = f.hint ? `<div class="hint">hint: ${escapeHtml(f.hint)}</div>` : '';
    return `<li class="${escapeHtml(f.severity)}"><b>${escapeHtml(f.severity)}</b> `
      + `[${escapeHtml(f.code)}]${where}: ${escapeHtml(f.message)}${hint}</li>`;
  });
  return `<h3>Validation findings</h3><ul class="findings">${rows.join('')}</ul>`;
}

/** The body of the panel for a generate or edit outcome. */
export function outcomeBody(outcome: Outcome): string {
  const label = outcome.outcome === 'flow' ? 'Explanation'
    : outcome.outcome === 'clarify' ? 'Plumb needs more detail' : 'Plumb could not do this';
  return `<h2>${escapeHtml(label)}</h2>`
    + list('Changes', outcome.changes)
    + `<pre>${escapeHtml(outcome.message)}</pre>`
    + list('Choices', outcome.choices)
    + list('Understood', outcome.understood)
    + list('Notes', outcome.notes)
    + findingsHtml(outcome.findings);
}

/** The body of the panel for an explanation. */
export function explanationBody(explanation: Explanation, nodeIds?: readonly string[]): string {
  const scope = nodeIds && nodeIds.length > 0
    ? `<p class="scope">Selected nodes: ${nodeIds.map((id) => `<code>${escapeHtml(id)}</code>`).join(', ')}</p>`
    : '';
  const by = explanation.summary_by === 'model' ? 'phrased by the model'
    : 'from the flow\'s graph';
  const note = explanation.summary_note ? ` (${escapeHtml(explanation.summary_note)})` : '';
  return `<h2>Summary</h2>${scope}<p>${escapeHtml(explanation.summary)}</p>`
    + `<p class="by">Summary ${by}${note}.</p>`
    + `<pre>${escapeHtml(explanation.text)}</pre>`;
}

/** A whole page with a strict content security policy (no scripts). */
export function page(title: string, body: string, cspSource: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src ${cspSource} 'unsafe-inline';">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
body { font-family: var(--vscode-font-family); color: var(--vscode-foreground); padding: 0 1em; }
pre { white-space: pre-wrap; font-family: var(--vscode-editor-font-family); font-size: var(--vscode-editor-font-size); }
code { font-family: var(--vscode-editor-font-family); }
.findings .error b { color: var(--vscode-errorForeground); }
.findings .warning b { color: var(--vscode-editorWarning-foreground); }
.hint, .by, .scope { opacity: 0.8; }
</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
${body}
</body>
</html>`;
}
