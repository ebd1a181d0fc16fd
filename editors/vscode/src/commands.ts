/**
 * The commands: generate, edit, explain and validate flows, function-node code, the
 * token and the server's help.
 */

import * as vscode from 'vscode';
import { describeEvent } from './chat';
import { FlowNodes, Outcome, PlumbClient, PlumbError, ServerNotRunningError, StreamEvent } from './client';
import { FunctionLensArgs } from './codelens';
import { Connection, readSettings, showError } from './connection';
import { FlowDiagnostics, isFlowDocument } from './diagnostics';
import { formatFlowLike, formatNewFlow } from './flowFormat';
import { functionRequest, pickFunctionCode } from './functionCode';
import { functionDocumentUri } from './functionFs';
import { FlowText, applyEdit, setStringProperty } from './jsonPositions';
import { JsonSyntaxError, LineIndex, parseTree } from './jsonScanner';
import { Proposals } from './proposals';
import { explanationBody, outcomeBody } from './render';
import { ResultPanel } from './resultPanel';
import { startHelpMarkdown } from './startHelp';

export interface CommandDeps {
  connection: Connection;
  diagnostics: FlowDiagnostics;
  proposals: Proposals;
  panel: ResultPanel;
}

type Reporter = (event: StreamEvent) => void;

/** Run a model job under a cancellable notification that shows its progress. */
async function withJob<T>(title: string, run: (onEvent: Reporter, signal: AbortSignal) => Promise<T>)
  : Promise<T> {
  return vscode.window.withProgress({
    location: vscode.ProgressLocation.Notification, title, cancellable: true,
  }, async (progress, token) => {
    const abort = new AbortController();
    const listener = token.onCancellationRequested(() => abort.abort());
    let pieces = 0;
    try {
      return await run((event) => {
        if (event.event === 'token') {
          pieces += 1;
          progress.report({ message: `writing code (${pieces})` });
          return;
        }
        const words = describeEvent(event.event, event.data);
        if (words) {
          progress.report({ message: words });
        }
      }, abort.signal);
    } finally {
      listener.dispose();
    }
  });
}

function shortTitle(text: string, length = 40): string {
  const one = text.replace(/\s+/g, ' ').trim();
  return one.length > length ? `${one.slice(0, length - 1)}…` : one;
}

export class PlumbCommands {
  private saveErrorShown = false;

  constructor(private readonly deps: CommandDeps) {}

  register(context: vscode.ExtensionContext): void {
    const add = (id: string, handler: (...args: never[]) => unknown) => {
      context.subscriptions.push(vscode.commands.registerCommand(id, handler));
    };
    add('plumb.generateFlow', (request?: string) => this.generateFlow(request));
    add('plumb.editFlow', (instruction?: string) => this.editFlow(instruction));
    add('plumb.explainFlow', () => this.explainFlow());
    add('plumb.validateFlow', () => this.validateFlow());
    add('plumb.acceptProposal', (uri?: vscode.Uri) => this.deps.proposals.accept(uri));
    add('plumb.rejectProposal', (uri?: vscode.Uri) => this.deps.proposals.reject(uri));
    add('plumb.editFunctionCode', (args?: FunctionLensArgs) => this.editFunctionCode(args));
    add('plumb.generateFunctionCode', (args?: FunctionLensArgs, description?: string) =>
      this.generateFunctionCode(args, description));
    add('plumb.setToken', (token?: string) => this.setToken(token));
    add('plumb.clearToken', () => this.setToken(''));
    add('plumb.showStartHelp', () => this.showStartHelp());
    add('plumb.checkServer', () => this.checkServer());
  }

  private async client(): Promise<PlumbClient> {
    const client = this.deps.connection.client();
    await this.deps.connection.preflight(client);
    return client;
  }

  // --- documents -----------------------------------------------------------------------

  /** The active editor with a JSON document, or a message saying one is needed. */
  private activeEditor(): vscode.TextEditor | undefined {
    const editor = vscode.window.activeTextEditor;
    if (!editor) {
      void vscode.window.showErrorMessage('Plumb: open a Node-RED flows JSON file first.');
      return undefined;
    }
    return editor;
  }

  /** The flow in a document, or a message saying what is wrong with it. */
  private flowOf(document: vscode.TextDocument): FlowText | undefined {
    const text = document.getText();
    try {
      parseTree(text);
    } catch (error) {
      if (error instanceof JsonSyntaxError) {
        const at = new LineIndex(text).positionAt(error.offset);
        void vscode.window.showErrorMessage(
          `Plumb: this file is not valid JSON (line ${at.line + 1}, column ${at.character + 1}: ${error.message}).`);
        return undefined;
      }
      throw error;
    }
    const flow = new FlowText(text);
    if (!flow.array) {
      void vscode.window.showErrorMessage(
        'Plumb: this file holds no Node-RED flow (a JSON array of node objects, as in flows.json).');
      return undefined;
    }
    return flow;
  }

  /** A flow as a new JSON document, with its findings in the Problems panel. */
  async openFlowDocument(flow: FlowNodes, outcome?: Outcome, title?: string): Promise<vscode.TextDocument> {
    const document = await vscode.workspace.openTextDocument({ language: 'json', content: formatNewFlow(flow) });
    await vscode.window.showTextDocument(document, { preview: false });
    if (outcome) {
      this.deps.diagnostics.showFindings(document, outcome.findings ?? []);
      this.deps.panel.show(title ?? 'Plumb: new flow', outcomeBody(outcome));
    }
    return document;
  }

  /** Propose `flow` as the new content of the active flow file (a new document when no
   * JSON file is active). */
  async applyFlowToActive(flow: FlowNodes): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    if (!editor || !['json', 'jsonc'].includes(editor.document.languageId)) {
      await this.openFlowDocument(flow);
      return;
    }
    const text = editor.document.getText();
    await this.deps.proposals.propose(editor.document, formatFlowLike(text, flow),
      'Plumb chat', 'Plumb proposes the chat\'s flow for this file.');
  }

  /** The flow of the active editor, if it holds one (for the chat). */
  activeFlow(): FlowNodes | undefined {
    const document = vscode.window.activeTextEditor?.document;
    if (!document) {
      return undefined;
    }
    const flow = FlowText.tryParse(document.getText());
    return flow?.looksLikeFlow() ? flow.flowValue() as FlowNodes : undefined;
  }

  // --- generate, edit, explain, validate ----------------------------------------------

  async generateFlow(request?: string): Promise<Outcome | undefined> {
    const text = request ?? await vscode.window.showInputBox({
      title: 'Plumb: Generate flow from description',
      prompt: 'What should the flow do?',
      placeHolder: 'every 5 s read holding register 0 of the Modbus PLC at 10.0.0.5 and publish it to MQTT sensors/plc',
      ignoreFocusOut: true,
    });
    if (!text || !text.trim()) {
      return undefined;
    }
    try {
      const client = await this.client();
      const outcome = await withJob('Plumb: generating the flow',
        (onEvent, signal) => client.generate(text, { onEvent, signal }));
      if (outcome.outcome === 'flow' && outcome.flow) {
        await this.openFlowDocument(outcome.flow, outcome, `Plumb: ${shortTitle(text)}`);
        return outcome;
      }
      await this.notFlow(outcome, text, (again) => this.generateFlow(again));
      return outcome;
    } catch (error) {
      await showError(error, this.deps.connection);
      return undefined;
    }
  }

  /** A question or a refusal: shown in the panel, with a way to rephrase. */
  private async notFlow(outcome: Outcome, request: string,
                        retry: (request: string) => Promise<unknown>): Promise<void> {
    this.deps.panel.show(outcome.outcome === 'clarify' ? 'Plumb: a question' : 'Plumb: not done',
      outcomeBody(outcome));
    const first = `Plumb: ${outcome.message.split('\n')[0]}`;
    const choice = outcome.outcome === 'clarify'
      ? await vscode.window.showInformationMessage(first, 'Rephrase…')
      : await vscode.window.showWarningMessage(first, 'Rephrase…');
    if (choice === 'Rephrase…') {
      const again = await vscode.window.showInputBox({
        title: 'Plumb: rephrase the request', value: request, ignoreFocusOut: true,
        prompt: outcome.choices && outcome.choices.length > 0 ? `e.g. ${outcome.choices.join('; ')}` : undefined,
      });
      if (again && again.trim()) {
        await retry(again);
      }
    }
  }

  async editFlow(instruction?: string): Promise<Outcome | undefined> {
    const editor = this.activeEditor();
    if (!editor) {
      return undefined;
    }
    const document = editor.document;
    const flow = this.flowOf(document);
    if (!flow) {
      return undefined;
    }
    const text = instruction ?? await vscode.window.showInputBox({
      title: 'Plumb: Edit this flow',
      prompt: 'What should change?',
      placeHolder: 'poll every 2 s instead',
      ignoreFocusOut: true,
    });
    if (!text || !text.trim()) {
      return undefined;
    }
    try {
      const client = await this.client();
      const outcome = await withJob('Plumb: editing the flow',
        (onEvent, signal) => client.edit(flow.flowValue(), text, { onEvent, signal }));
      if (outcome.outcome !== 'flow' || !outcome.flow) {
        await this.notFlow(outcome, text, (again) => this.editFlow(again));
        return outcome;
      }
      const changes = outcome.changes ?? [];
      this.deps.panel.show(`Plumb: ${shortTitle(text)}`, outcomeBody(outcome));
      const summary = changes.length === 0 ? 'Plumb changed nothing.'
        : `Plumb proposes ${changes.length} change${changes.length === 1 ? '' : 's'}: ${changes.join('; ')}`;
      const proposed = formatFlowLike(flow.text, outcome.flow);
      const decision = await this.deps.proposals.propose(document, proposed, `Plumb: ${shortTitle(text)}`, summary);
      if (decision === 'accepted') {
        this.deps.diagnostics.showFindings(document, outcome.findings ?? []);
      }
      return outcome;
    } catch (error) {
      await showError(error, this.deps.connection);
      return undefined;
    }
  }

  async explainFlow(): Promise<void> {
    const editor = this.activeEditor();
    if (!editor) {
      return;
    }
    const flow = this.flowOf(editor.document);
    if (!flow) {
      return;
    }
    const selection = editor.selection;
    let nodeIds: string[] = [];
    if (selection && !selection.isEmpty) {
      nodeIds = flow.nodeIdsInRange(editor.document.offsetAt(selection.start),
        editor.document.offsetAt(selection.end));
    }
    try {
      const client = await this.client();
      const phrase = readSettings().phrase;
      const explanation = await vscode.window.withProgress({
        location: vscode.ProgressLocation.Window, title: 'Plumb: explaining',
      }, () => client.explain(flow.flowValue(), { nodeIds, phrase }));
      const name = editor.document.uri.path.split('/').pop() || 'flow';
      const title = nodeIds.length > 0
        ? `Plumb: ${nodeIds.length} node${nodeIds.length === 1 ? '' : 's'} of ${name}`
        : `Plumb: ${name}`;
      this.deps.panel.show(title, explanationBody(explanation, nodeIds));
    } catch (error) {
      await showError(error, this.deps.connection);
    }
  }

  async validateFlow(document?: vscode.TextDocument): Promise<number | undefined> {
    const target = document ?? this.activeEditor()?.document;
    if (!target) {
      return undefined;
    }
    try {
      const client = await this.client();
      const result = await this.deps.diagnostics.validate(target, client);
      const report = result.report;
      if (!report) {
        void vscode.window.showErrorMessage('Plumb: the file is not valid JSON; see the Problems panel.');
      } else if (report.findings.length === 0) {
        void vscode.window.showInformationMessage(
          `Plumb: the flow is valid (${report.nodes} node${report.nodes === 1 ? '' : 's'}, no findings).`);
      } else {
        vscode.window.setStatusBarMessage(
          `Plumb: ${report.errors} error${report.errors === 1 ? '' : 's'}, `
          + `${report.warnings} warning${report.warnings === 1 ? '' : 's'}`, 8000);
      }
      return result.diagnostics.length;
    } catch (error) {
      await showError(error, this.deps.connection);
      return undefined;
    }
  }

  /** On save: validate flow files (and files that show Plumb's findings already).
   * A server that is down is reported once, not on every save. */
  async validateOnSave(document: vscode.TextDocument): Promise<void> {
    if (!readSettings().validateOnSave) {
      return;
    }
    if (!this.deps.diagnostics.has(document.uri) && !isFlowDocument(document)) {
      return;
    }
    try {
      const client = this.deps.connection.client();
      await this.deps.diagnostics.validate(document, client);
      this.saveErrorShown = false;
    } catch (error) {
      if (error instanceof ServerNotRunningError && this.saveErrorShown) {
        return;
      }
      this.saveErrorShown = true;
      await showError(error, this.deps.connection);
    }
  }

  // --- function nodes -------------------------------------------------------------------

  async editFunctionCode(args?: FunctionLensArgs): Promise<vscode.TextEditor | undefined> {
    if (!args) {
      return undefined;
    }
    const uri = functionDocumentUri({ flowUri: args.flowUri, nodeId: args.nodeId, property: args.property || 'func' },
      args.nodeName);
    try {
      const document = await vscode.workspace.openTextDocument(uri);
      if (document.languageId !== 'javascript') {
        await vscode.languages.setTextDocumentLanguage(document, 'javascript');
      }
      return await vscode.window.showTextDocument(document, { viewColumn: vscode.ViewColumn.Beside, preview: false });
    } catch (error) {
      await showError(error, this.deps.connection);
      return undefined;
    }
  }

  async generateFunctionCode(args?: FunctionLensArgs, description?: string): Promise<string | undefined> {
    if (!args) {
      return undefined;
    }
    const text = description ?? await vscode.window.showInputBox({
      title: `Plumb: code for function ${args.nodeName ? `"${args.nodeName}"` : args.nodeId}`,
      prompt: 'What should the function do with msg?',
      placeHolder: 'convert msg.payload from Celsius to Fahrenheit, rounded to 1 decimal',
      ignoreFocusOut: true,
    });
    if (!text || !text.trim()) {
      return undefined;
    }
    try {
      const document = await vscode.workspace.openTextDocument(vscode.Uri.parse(args.flowUri));
      const client = await this.client();
      const outcome = await withJob('Plumb: writing the function',
        (onEvent, signal) => client.generate(functionRequest(text), { onEvent, signal }));
      const code = pickFunctionCode(outcome);
      if (code === undefined) {
        const why = outcome.outcome === 'flow'
          ? 'Plumb built this without a function node (a built-in node does it).'
          : outcome.message.split('\n')[0];
        this.deps.panel.show('Plumb: no function code', outcomeBody(outcome));
        void vscode.window.showWarningMessage(`Plumb: no code was written. ${why}`);
        return undefined;
      }
      const current = document.getText();
      const proposed = applyEdit(current, setStringProperty(current, args.nodeId, args.property || 'func', code));
      await this.deps.proposals.propose(document, proposed, `Plumb: ${shortTitle(text)}`,
        'Plumb proposes new code for the function node.');
      return code;
    } catch (error) {
      await showError(error, this.deps.connection);
      return undefined;
    }
  }

  // --- the server -------------------------------------------------------------------------

  async setToken(token?: string): Promise<void> {
    const value = token ?? await vscode.window.showInputBox({
      title: 'Plumb: Set server token',
      prompt: 'A fleet user\'s token for a server started with --auth token (kept in VS Code\'s '
        + 'secret storage). Leave empty to remove the stored token.',
      password: true,
      ignoreFocusOut: true,
    });
    if (value === undefined) {
      return;
    }
    await this.deps.connection.setToken(value);
    void vscode.window.showInformationMessage(value.trim()
      ? 'Plumb: the token is stored in VS Code\'s secret storage.'
      : 'Plumb: the stored token is removed.');
  }

  async showStartHelp(): Promise<void> {
    const settings = readSettings();
    const document = await vscode.workspace.openTextDocument({
      language: 'markdown', content: startHelpMarkdown(settings.serverUrl, settings.model),
    });
    await vscode.window.showTextDocument(document, { preview: true });
  }

  async checkServer(): Promise<void> {
    const client = this.deps.connection.client();
    try {
      const status = await client.status();
      const token = await this.deps.connection.token();
      if (status.auth === 'token' && !token) {
        const choice = await vscode.window.showWarningMessage(
          `Plumb ${status.version} runs at ${client.serverUrl} with --auth token; set a token to use it.`, 'Set token');
        if (choice === 'Set token') {
          await this.setToken();
        }
        return;
      }
      if (status.auth === 'token') {
        await client.models(); // says 401 when the stored token is not accepted
      }
      this.deps.connection.forget();
      await this.deps.connection.preflight(client);
      const queue = status.queue ?? {};
      void vscode.window.showInformationMessage(
        `Plumb ${status.version} at ${client.serverUrl}: model ${status.model} (${status.model_state}), `
        + `auth ${status.auth}, ${queue.waiting ?? 0} waiting.`);
    } catch (error) {
      if (error instanceof PlumbError && error.code === 'cancelled') {
        return;
      }
      await showError(error, this.deps.connection);
    }
  }
}
