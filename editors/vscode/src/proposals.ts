/**
 * A proposed change to a document, shown as a diff (the file on the left, Plumb's
 * proposal on the right) with Accept and Reject: in a notification and on the diff's
 * title bar.
 */

import * as vscode from 'vscode';

export const PROPOSAL_SCHEME = 'plumb-proposal';

export type Decision = 'accepted' | 'rejected';

interface Pending {
  uri: vscode.Uri;
  target: vscode.Uri;
  version: number;
  text: string;
  decide: (decision: Decision) => void;
  decided: Promise<Decision>;
}

export class Proposals implements vscode.TextDocumentContentProvider, vscode.Disposable {
  private readonly pending = new Map<string, Pending>();
  private counter = 0;
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.pending.get(uri.toString())?.text ?? '';
  }

  /** The proposal shown in `uri`, or the latest one. */
  find(uri?: vscode.Uri): Pending | undefined {
    if (uri) {
      const hit = this.pending.get(uri.toString());
      if (hit) {
        return hit;
      }
    }
    return Array.from(this.pending.values()).pop();
  }

  get count(): number {
    return this.pending.size;
  }

  /**
   * Show `newText` as a change to `document` and wait for the decision. Resolves to
   * "accepted" once the change is applied, or "rejected".
   */
  async propose(document: vscode.TextDocument, newText: string, title: string,
                summary: string): Promise<Decision> {
    this.counter += 1;
    const name = document.uri.path.split('/').pop() || 'flow.json';
    const uri = vscode.Uri.from({
      scheme: PROPOSAL_SCHEME, path: `/${this.counter}/${name}`,
      query: new URLSearchParams({ target: document.uri.toString() }).toString(),
    });
    let decide: (decision: Decision) => void = () => undefined;
    const decided = new Promise<Decision>((resolve) => {
      decide = resolve;
    });
    const entry: Pending = {
      uri, target: document.uri, version: document.version, text: newText, decide, decided,
    };
    this.pending.set(uri.toString(), entry);
    this.changed.fire(uri);
    await vscode.commands.executeCommand('setContext', 'plumb.proposalOpen', true);
    await vscode.commands.executeCommand('vscode.diff', document.uri, uri,
      `${name} ↔ ${title}`, { preview: false });
    void vscode.window.showInformationMessage(summary, 'Accept', 'Reject').then((choice) => {
      if (choice === 'Accept') {
        void this.accept(uri);
      } else if (choice === 'Reject') {
        void this.reject(uri);
      }
      // Dismissed: the diff stays open with Accept and Reject on its title bar.
    });
    return decided;
  }

  /** Apply a proposal to its document. */
  async accept(uri?: vscode.Uri): Promise<boolean> {
    const entry = this.find(uri);
    if (!entry) {
      void vscode.window.showInformationMessage('Plumb: there is no proposed change to accept.');
      return false;
    }
    const document = await vscode.workspace.openTextDocument(entry.target);
    if (document.version !== entry.version) {
      const choice = await vscode.window.showWarningMessage(
        'The file changed after Plumb proposed this; accepting replaces it with the proposal, '
        + 'losing those later changes.', { modal: true }, 'Replace anyway');
      if (choice !== 'Replace anyway') {
        return false;
      }
    }
    const edit = new vscode.WorkspaceEdit();
    const whole = new vscode.Range(document.positionAt(0), document.positionAt(document.getText().length));
    edit.replace(entry.target, whole, entry.text);
    const applied = await vscode.workspace.applyEdit(edit);
    if (!applied) {
      void vscode.window.showErrorMessage('Plumb: the change could not be applied.');
      return false;
    }
    await this.finish(entry, 'accepted');
    return true;
  }

  async reject(uri?: vscode.Uri): Promise<boolean> {
    const entry = this.find(uri);
    if (!entry) {
      return false;
    }
    await this.finish(entry, 'rejected');
    return true;
  }

  private async finish(entry: Pending, decision: Decision): Promise<void> {
    this.pending.delete(entry.uri.toString());
    await closeTabsShowing(entry.uri);
    await vscode.commands.executeCommand('setContext', 'plumb.proposalOpen', this.pending.size > 0);
    entry.decide(decision);
  }

  dispose(): void {
    for (const entry of this.pending.values()) {
      entry.decide('rejected');
    }
    this.pending.clear();
    this.changed.dispose();
  }
}

async function closeTabsShowing(uri: vscode.Uri): Promise<void> {
  const wanted = uri.toString();
  const tabs = vscode.window.tabGroups.all.flatMap((group) => group.tabs).filter((tab) => {
    const input = tab.input;
    if (input instanceof vscode.TabInputTextDiff) {
      return input.modified.toString() === wanted;
    }
    return input instanceof vscode.TabInputText && input.uri.toString() === wanted;
  });
  if (tabs.length > 0) {
    await vscode.window.tabGroups.close(tabs);
  }
}
