/**
 * Plumb for VS Code: generate, edit, explain and validate Node-RED flows with the local
 * `ask serve` server.
 */

import * as vscode from 'vscode';
import { ChatViewProvider } from './chatView';
import { FunctionCodeLensProvider } from './codelens';
import { PlumbCommands } from './commands';
import { Connection, showError } from './connection';
import { FlowDiagnostics } from './diagnostics';
import { FUNCTION_SCHEME } from './functionCode';
import { FunctionCodeFs } from './functionFs';
import { PROPOSAL_SCHEME, Proposals } from './proposals';
import { ResultPanel } from './resultPanel';

/** What activate returns (other extensions and the tests reach the parts through it). */
export interface PlumbExtension {
  connection: Connection;
  commands: PlumbCommands;
  diagnostics: FlowDiagnostics;
  proposals: Proposals;
  panel: ResultPanel;
  functionFs: FunctionCodeFs;
  chat: ChatViewProvider;
}

export interface ActivationOptions {
  /** Replaces the global fetch (tests). */
  fetch?: typeof fetch;
}

export function activate(context: vscode.ExtensionContext): PlumbExtension {
  return activateWith(context, {});
}

export function activateWith(context: vscode.ExtensionContext, options: ActivationOptions): PlumbExtension {
  const connection = new Connection(context.secrets, options.fetch);
  const diagnostics = new FlowDiagnostics();
  const proposals = new Proposals();
  const panel = new ResultPanel();
  const functionFs = new FunctionCodeFs();
  const commands = new PlumbCommands({ connection, diagnostics, proposals, panel });
  commands.register(context);

  const chat = new ChatViewProvider(context.extensionUri, {
    client: async () => {
      const client = connection.client();
      await connection.preflight(client);
      return client;
    },
    openFlow: async (flow) => {
      await commands.openFlowDocument(flow);
    },
    applyFlow: (flow) => commands.applyFlowToActive(flow),
    activeFlow: () => commands.activeFlow(),
    action: async (action) => {
      await vscode.commands.executeCommand(action === 'start-help' ? 'plumb.showStartHelp' : 'plumb.setToken');
    },
  });

  const json = [{ language: 'json' }, { language: 'jsonc' }];
  context.subscriptions.push(
    diagnostics, proposals, panel, functionFs,
    vscode.workspace.registerTextDocumentContentProvider(PROPOSAL_SCHEME, proposals),
    vscode.workspace.registerFileSystemProvider(FUNCTION_SCHEME, functionFs, { isCaseSensitive: true }),
    vscode.languages.registerCodeLensProvider(json, new FunctionCodeLensProvider()),
    vscode.window.registerWebviewViewProvider(ChatViewProvider.viewType, chat,
      { webviewOptions: { retainContextWhenHidden: true } }),
    vscode.commands.registerCommand('plumb.newChat', () => chat.newChat()),
    vscode.workspace.onDidSaveTextDocument((document) => {
      if (document.uri.scheme !== FUNCTION_SCHEME) {
        void commands.validateOnSave(document).catch((error: unknown) => showError(error, connection));
      }
    }),
    vscode.workspace.onDidChangeTextDocument((event) => {
      if (event.document.uri.scheme !== FUNCTION_SCHEME && event.contentChanges.length > 0) {
        functionFs.flowChanged(event.document.uri);
      }
    }),
    vscode.workspace.onDidCloseTextDocument((document) => {
      if (document.isUntitled) {
        diagnostics.clear(document.uri);
      }
    }),
  );
  return { connection, commands, diagnostics, proposals, panel, functionFs, chat };
}

export function deactivate(): void {
  // Everything is in the context's subscriptions.
}
