/**
 * The chat view in the side bar: a webview that draws what ChatController posts.
 */

import * as vscode from 'vscode';
import { randomBytes } from 'node:crypto';
import { ChatController, FromWebview, ToWebview, isFromWebview } from './chat';
import { FlowNodes, PlumbClient } from './client';

export interface ChatHandlers {
  client(): Promise<PlumbClient>;
  /** Open a flow as a new document. */
  openFlow(flow: FlowNodes): Promise<void>;
  /** Propose a flow as the new content of the active flow file. */
  applyFlow(flow: FlowNodes): Promise<void>;
  /** The flow of the active editor, if it holds one. */
  activeFlow(): FlowNodes | undefined;
  action(action: 'start-help' | 'set-token'): Promise<void>;
}

export class ChatViewProvider implements vscode.WebviewViewProvider {
  static readonly viewType = 'plumb.chat';
  readonly controller: ChatController;
  private view: vscode.WebviewView | undefined;

  constructor(private readonly extensionUri: vscode.Uri, private readonly handlers: ChatHandlers) {
    this.controller = new ChatController(() => handlers.client(), (message) => this.post(message));
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    this.view = view;
    const media = vscode.Uri.joinPath(this.extensionUri, 'media');
    view.webview.options = { enableScripts: true, localResourceRoots: [media] };
    view.webview.html = this.html(view.webview, media);
    view.webview.onDidReceiveMessage((message: unknown) => {
      if (isFromWebview(message)) {
        void this.handle(message);
      }
    });
    view.onDidDispose(() => {
      this.view = undefined;
    });
  }

  post(message: ToWebview): void {
    void this.view?.webview.postMessage(message);
  }

  async handle(message: FromWebview): Promise<void> {
    switch (message.type) {
      case 'send':
        await this.controller.send(message.text);
        break;
      case 'cancel':
        this.controller.cancel();
        break;
      case 'newChat':
        this.controller.reset();
        break;
      case 'useActiveFlow': {
        const flow = this.handlers.activeFlow();
        if (flow) {
          this.controller.reset(flow, `Starting from the active file's flow (${flow.length} nodes): say what to change.`);
        } else {
          this.post({ type: 'error', code: 'no_flow', message: 'The active editor holds no Node-RED flow.' });
        }
        break;
      }
      case 'openFlow':
      case 'applyFlow': {
        const flow = this.controller.flowOf(message.index);
        if (flow) {
          await (message.type === 'openFlow' ? this.handlers.openFlow(flow) : this.handlers.applyFlow(flow));
        }
        break;
      }
      case 'action':
        await this.handlers.action(message.action);
        break;
      case 'ready':
        break;
    }
  }

  newChat(): void {
    this.controller.reset();
  }

  private html(webview: vscode.Webview, media: vscode.Uri): string {
    const nonce = randomBytes(16).toString('base64');
    const script = webview.asWebviewUri(vscode.Uri.joinPath(media, 'chat.js'));
    const style = webview.asWebviewUri(vscode.Uri.joinPath(media, 'chat.css'));
    return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src ${webview.cspSource}; script-src 'nonce-${nonce}';">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="${style.toString()}">
<title>Plumb chat</title>
</head>
<body>
<div id="log" aria-live="polite"></div>
<form id="form">
  <textarea id="input" rows="3" placeholder="Describe a flow, or a change to the last one (Enter sends, Shift+Enter adds a line)"></textarea>
  <div class="buttons">
    <button type="submit" id="send">Send</button>
    <button type="button" id="cancel" class="secondary" hidden>Stop</button>
    <button type="button" id="useFlow" class="secondary" title="Start a new chat from the flow in the active editor">Use active flow</button>
  </div>
</form>
<script nonce="${nonce}" src="${script.toString()}"></script>
</body>
</html>`;
  }
}
