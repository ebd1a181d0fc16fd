/**
 * The side panel that shows an explanation, or what Plumb made of a request.
 */

import * as vscode from 'vscode';
import { page } from './render';

export class ResultPanel implements vscode.Disposable {
  private panel: vscode.WebviewPanel | undefined;

  /** Show `bodyHtml` (already escaped) beside the editor, reusing the panel. */
  show(title: string, bodyHtml: string): vscode.WebviewPanel {
    if (!this.panel) {
      this.panel = vscode.window.createWebviewPanel('plumb.result', title,
        { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true },
        { enableScripts: false, enableFindWidget: true });
      this.panel.onDidDispose(() => {
        this.panel = undefined;
      });
    } else {
      this.panel.reveal(vscode.ViewColumn.Beside, true);
    }
    this.panel.title = title;
    this.panel.webview.html = page(title, bodyHtml, this.panel.webview.cspSource);
    return this.panel;
  }

  get current(): vscode.WebviewPanel | undefined {
    return this.panel;
  }

  dispose(): void {
    this.panel?.dispose();
  }
}
