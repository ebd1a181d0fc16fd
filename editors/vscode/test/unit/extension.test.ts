// The extension inside a stub of the `vscode` module: commands, diagnostics, CodeLenses,
// function code write-back, proposals, the token, the chat view.
import '../stubs/register';

import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { activateWith, PlumbExtension } from '../../src/extension';
import { TOKEN_KEY, modelMismatch } from '../../src/connection';
import { fakeContext } from '../stubs/context';
import * as vscode from '../stubs/vscode';
import { BROKEN_FLOW_TEXT, Route, STATUS, fakeFetch, lineOf } from '../helpers';

const { stub } = vscode;
const ROOT = path.resolve(__dirname, '..', '..', '..');
const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  contributes: { commands: { command: string }[]; configuration: { properties: Record<string, unknown> } };
  main: string;
};

const FINDINGS = [
  { severity: 'error', code: 'unknown-type', message: "unknown node type 'no-such-node'", hint: 'install it', node_id: 'odd1', property: 'type' },
  { severity: 'error', code: 'wire-target-missing', message: "output 1 is wired to 'ghost', which no node has", hint: 'remove the wire', node_id: 'inj1', property: 'wires' },
  { severity: 'warning', code: 'position-missing', message: 'has no x/y position', hint: null, node_id: 'fn1', property: 'x' },
];
const REPORT = { valid: false, nodes: 4, errors: 2, warnings: 1, findings: FINDINGS };
const NEW_FLOW = [
  { id: 't1', type: 'tab', label: 'Flow' },
  { id: 'i1', type: 'inject', z: 't1', x: 100, y: 60, wires: [['f1']] },
  { id: 'f1', type: 'function', z: 't1', func: 'msg.payload = msg.payload * 9 / 5 + 32;\nreturn msg;', x: 300, y: 60, wires: [[]] },
];

function streamOf(result: unknown): Route['events'] {
  return [
    { event: 'started', data: { model: 'fake' } },
    { event: 'step', data: { name: 'planning' } },
    { event: 'token', data: { text: 'return msg;' } },
    { event: 'result', data: result },
    { event: 'done', data: {} },
  ];
}

let tmp: string;
let context: ReturnType<typeof fakeContext>;

function start(routes: Route[], options: { down?: boolean } = {}): { ext: PlumbExtension; calls: ReturnType<typeof fakeFetch>['calls'] } {
  const fake = fakeFetch([{ method: 'GET', path: '/status', body: STATUS }, ...routes], options);
  context = fakeContext();
  const ext = activateWith(context as unknown as import('vscode').ExtensionContext, { fetch: fake.fetch });
  return { ext, calls: fake.calls };
}

function run(command: string, ...args: unknown[]): Promise<unknown> {
  return vscode.commands.executeCommand(command, ...args);
}

function flowFile(name: string, text: string, show = true): vscode.TextDocument {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, text);
  return stub.open(vscode.Uri.file(file), text, 'json', show);
}

beforeEach(() => {
  stub.reset();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'plumb-vscode-'));
});

afterEach(() => {
  for (const item of context?.subscriptions ?? []) {
    item.dispose();
  }
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('activation', () => {
  it('registers every command the manifest contributes, and only those', () => {
    start([]);
    const contributed = manifest.contributes.commands.map((c) => c.command).sort();
    assert.deepEqual(Array.from(stub.commands.keys()).sort(), contributed);
    assert.ok(stub.fileSystems.has('plumb-func'));
    assert.ok(stub.contentProviders.has('plumb-proposal'));
    assert.ok(stub.webviewViews.has('plumb.chat'));
    assert.equal(stub.codeLensProviders.length, 1);
    assert.equal(manifest.main, './out/src/extension.js');
  });

  it('keeps the token out of the settings', () => {
    const settings = Object.keys(manifest.contributes.configuration.properties);
    assert.deepEqual(settings.sort(), ['plumb.explain.phrase', 'plumb.model', 'plumb.requestTimeoutSeconds',
      'plumb.serverUrl', 'plumb.validateOnSave']);
  });
});

describe('Plumb: Validate flow', () => {
  it('puts the findings on the right lines with codes and hints', async () => {
    const { calls } = start([{ method: 'POST', path: '/validate', body: REPORT }]);
    const document = flowFile('flows.json', BROKEN_FLOW_TEXT);
    const count = await run('plumb.validateFlow');
    assert.equal(count, 3);
    assert.deepEqual((calls.at(-1)?.body as { flow: unknown }).flow, JSON.parse(BROKEN_FLOW_TEXT));
    const diagnostics = stub.collections[0].get(document.uri) ?? [];
    assert.deepEqual(diagnostics.map((d) => [d.range.start.line, d.code, d.severity, d.source]), [
      [lineOf(BROKEN_FLOW_TEXT, '"no-such-node"'), 'unknown-type', vscode.DiagnosticSeverity.Error, 'Plumb'],
      [lineOf(BROKEN_FLOW_TEXT, '"ghost"'), 'wire-target-missing', vscode.DiagnosticSeverity.Error, 'Plumb'],
      [lineOf(BROKEN_FLOW_TEXT, '"id": "fn1"'), 'position-missing', vscode.DiagnosticSeverity.Warning, 'Plumb'],
    ]);
    assert.match(diagnostics[1].message, /inject "tick": output 1 is wired to 'ghost', which no node has \(hint: remove the wire\)/);
    assert.deepEqual(stub.statusBar, ['Plumb: 2 errors, 1 warning']);
  });

  it('reports text that is not JSON without asking the server', async () => {
    const { calls } = start([]);
    const document = flowFile('flows.json', '[\n  {"id": "a",}\n]');
    await run('plumb.validateFlow');
    const [diagnostic] = stub.collections[0].get(document.uri) ?? [];
    assert.equal(diagnostic.code, 'json-syntax');
    assert.equal(diagnostic.range.start.line, 1);
    assert.ok(!calls.some((c) => c.path.endsWith('/validate')));
  });

  it('says so when the flow is clean', async () => {
    start([{ method: 'POST', path: '/validate', body: { valid: true, nodes: 1, errors: 0, warnings: 0, findings: [] } }]);
    flowFile('flows.json', '[{"id": "a", "type": "tab"}]');
    await run('plumb.validateFlow');
    assert.match(stub.messages[0].message, /the flow is valid \(1 node, no findings\)/);
  });

  it('validates flow files on save, not other JSON, and not when switched off', async () => {
    const { calls } = start([{ method: 'POST', path: '/validate', body: REPORT }]);
    const flow = flowFile('flows.json', BROKEN_FLOW_TEXT);
    const other = flowFile('package.json', '{"name": "x"}');
    await flow.save();
    await other.save();
    await stub.settle();
    assert.equal(calls.filter((c) => c.path.endsWith('/validate')).length, 1);
    assert.equal(stub.collections[0].get(flow.uri)?.length, 3);
    stub.config.set('plumb.validateOnSave', false);
    await flow.save();
    await stub.settle();
    assert.equal(calls.filter((c) => c.path.endsWith('/validate')).length, 1);
  });

  it('says once, not on every save, that the server is down', async () => {
    start([], { down: true });
    const flow = flowFile('flows.json', BROKEN_FLOW_TEXT);
    await flow.save();
    await stub.settle();
    await flow.save();
    await stub.settle();
    assert.equal(stub.messages.filter((m) => m.kind === 'error').length, 1);
  });
});

describe('server errors', () => {
  it('offers to show how to start a server that is not running', async () => {
    stub.config.set('plumb.serverUrl', 'http://127.0.0.1:8711');
    stub.config.set('plumb.model', 'fake');
    start([], { down: true });
    flowFile('flows.json', BROKEN_FLOW_TEXT);
    stub.messageAnswers.push('How to start it');
    await run('plumb.validateFlow');
    const [error] = stub.messages;
    assert.equal(error.kind, 'error');
    assert.match(error.message, /not running at http:\/\/127\.0\.0\.1:8711/);
    assert.deepEqual(error.items, ['How to start it', 'Start in terminal', 'Open settings']);
    const help = stub.shown.at(-1)?.document;
    assert.equal(help?.languageId, 'markdown');
    assert.match(help?.getText() ?? '', /ask serve --port 8711 --model fake/);
  });

  it('can start the server in a terminal', async () => {
    start([], { down: true });
    flowFile('flows.json', BROKEN_FLOW_TEXT);
    stub.messageAnswers.push('Start in terminal');
    await run('plumb.validateFlow');
    assert.deepEqual(stub.terminals[0].sent, ['ask serve']);
  });

  it('offers to set a token when the server refuses', async () => {
    start([{ method: 'POST', path: '/validate', status: 401, body: { error: 'unauthorized', message: 'a token is needed' } }]);
    flowFile('flows.json', BROKEN_FLOW_TEXT);
    stub.messageAnswers.push('Set token');
    stub.inputAnswers.push('tok-123');
    await run('plumb.validateFlow');
    assert.deepEqual(stub.messages[0].items, ['Set token']);
    assert.equal(stub.inputBoxes[0].password, true);
    assert.equal(context.secrets.values.get(TOKEN_KEY), 'tok-123');
  });

  it('warns when the server serves another model than the setting names', async () => {
    stub.config.set('plumb.model', 'qwen2.5-coder-1.5b');
    start([{ method: 'POST', path: '/validate', body: REPORT }]);
    flowFile('flows.json', BROKEN_FLOW_TEXT);
    await run('plumb.validateFlow');
    await run('plumb.validateFlow');
    const warnings = stub.messages.filter((m) => m.kind === 'warning');
    assert.equal(warnings.length, 1);
    assert.match(warnings[0].message, /answers with model "fake".*ask serve --model qwen2\.5-coder-1\.5b/);
  });
});

describe('the model setting', () => {
  it('warns only about a known, different model', () => {
    assert.equal(modelMismatch({ model: 'fake' }, '', 'ask serve'), undefined);
    assert.equal(modelMismatch({ model: 'fake' }, 'fake', 'ask serve'), undefined);
    assert.equal(modelMismatch({ model: 'default' }, 'qwen', 'ask serve'), undefined);
    assert.match(modelMismatch({ model: 'fake' }, 'qwen', 'ask serve --model qwen') ?? '', /restart it with `ask serve --model qwen`/);
  });
});

describe('the token', () => {
  it('lives in secret storage and goes out as a bearer token', async () => {
    const { calls } = start([{ method: 'POST', path: '/validate', body: REPORT }]);
    await run('plumb.setToken', 'abc');
    assert.equal(context.secrets.values.get(TOKEN_KEY), 'abc');
    assert.equal(stub.config.size, 0);
    flowFile('flows.json', BROKEN_FLOW_TEXT);
    await run('plumb.validateFlow');
    assert.equal(calls.at(-1)?.headers.Authorization, 'Bearer abc');
    await run('plumb.clearToken');
    assert.equal(context.secrets.values.has(TOKEN_KEY), false);
  });
});

describe('Plumb: Generate flow from description', () => {
  it('opens the flow as a new JSON document with the explanation beside it', async () => {
    const outcome = { outcome: 'flow', message: 'Summary\n  This flow converts.', flow: NEW_FLOW, notes: ['a note'], findings: [FINDINGS[2]] };
    const { calls } = start([{ method: 'POST', path: '/generate', events: streamOf(outcome) }]);
    stub.inputAnswers.push('every 5 s convert to fahrenheit');
    await run('plumb.generateFlow');
    assert.deepEqual(calls.at(-1)?.body, { request: 'every 5 s convert to fahrenheit', stream: true });
    const document = stub.shown.at(-1)?.document;
    assert.ok(document);
    assert.equal(document.languageId, 'json');
    assert.equal(document.isUntitled, true);
    assert.deepEqual(JSON.parse(document.getText()), NEW_FLOW);
    assert.ok(stub.progress.some((p) => p.message === 'planning'));
    const panel = stub.panels[0];
    assert.match(panel.webview.html, /This flow converts\./);
    assert.match(panel.webview.html, /a note/);
    assert.doesNotMatch(panel.webview.html, /<script/);
    assert.equal(stub.collections[0].get(document.uri)?.length, 1);
  });

  it('shows a question and lets the user rephrase', async () => {
    const clarify = { outcome: 'clarify', message: 'Which device is it?', choices: ['MQTT topic'] };
    const { calls } = start([{ method: 'POST', path: '/generate', events: streamOf(clarify) }]);
    stub.inputAnswers.push('log it', undefined);
    stub.messageAnswers.push('Rephrase…');
    await run('plumb.generateFlow');
    assert.equal(stub.messages[0].message, 'Plumb: Which device is it?');
    assert.equal(stub.inputBoxes[1].value, 'log it');
    assert.equal(calls.filter((c) => c.path.endsWith('/generate')).length, 1);
  });
});

describe('Plumb: Edit this flow', () => {
  const edited = JSON.parse(BROKEN_FLOW_TEXT) as Record<string, unknown>[];
  edited[1] = { ...edited[1], repeat: '2' };
  const outcome = { outcome: 'flow', message: 'now every 2 s', flow: edited, changes: ["changed inject 'tick' repeat: 5 -> 2"], findings: [] };

  it('shows the change as a diff and applies it when accepted', async () => {
    const { calls } = start([{ method: 'POST', path: '/edit', events: streamOf(outcome) }]);
    const document = flowFile('flows.json', BROKEN_FLOW_TEXT);
    stub.messageAnswers.push('Accept');
    await run('plumb.editFlow', 'poll every 2 s');
    assert.deepEqual(calls.at(-1)?.body, { flow: JSON.parse(BROKEN_FLOW_TEXT) as unknown, request: 'poll every 2 s', stream: true });
    const diff = stub.executed.find((e) => e.command === 'vscode.diff');
    assert.ok(diff);
    assert.equal((diff.args[0] as vscode.Uri).toString(), document.uri.toString());
    assert.equal((diff.args[1] as vscode.Uri).scheme, 'plumb-proposal');
    assert.match(stub.messages[0].message, /1 change: changed inject 'tick' repeat: 5 -> 2/);
    // Same formatting as the file: only the changed line differs.
    const before = BROKEN_FLOW_TEXT.split('\n');
    const after = document.getText().split('\n');
    assert.equal(after.length, before.length);
    assert.deepEqual(after.filter((line, i) => line !== before[i]), ['        "repeat": "2",']);
    assert.equal(stub.closedTabs.length, 1);
  });

  it('leaves the file alone when rejected', async () => {
    const { ext } = start([{ method: 'POST', path: '/edit', events: streamOf(outcome) }]);
    const document = flowFile('flows.json', BROKEN_FLOW_TEXT);
    stub.messageAnswers.push(undefined);
    const editing = run('plumb.editFlow', 'poll every 2 s');
    await stub.settle();
    assert.equal(ext.proposals.count, 1);
    const diff = stub.executed.find((e) => e.command === 'vscode.diff');
    const proposal = await vscode.workspace.openTextDocument(diff?.args[1] as vscode.Uri);
    assert.deepEqual(JSON.parse(proposal.getText()), edited);
    await run('plumb.rejectProposal');
    await editing;
    assert.equal(document.getText(), BROKEN_FLOW_TEXT);
    assert.equal(ext.proposals.count, 0);
    assert.ok(stub.executed.some((e) => e.command === 'setContext' && e.args[1] === false));
  });

  it('refuses a file that is not JSON', async () => {
    const { calls } = start([]);
    flowFile('flows.json', '[{');
    await run('plumb.editFlow', 'x');
    assert.match(stub.messages[0].message, /not valid JSON \(line 1, column 3/);
    assert.equal(calls.length, 0);
  });
});

describe('Plumb: Explain flow', () => {
  const explanation = { summary: 'This flow ticks.', summary_by: 'deterministic', text: 'Paths (1)', seconds: 0 };

  it('explains the selected nodes', async () => {
    const { calls } = start([{ method: 'POST', path: '/explain', body: explanation }]);
    const document = flowFile('flows.json', BROKEN_FLOW_TEXT);
    const start0 = document.positionAt(BROKEN_FLOW_TEXT.indexOf('"tick"'));
    const end0 = document.positionAt(BROKEN_FLOW_TEXT.indexOf('"no-such-node"'));
    stub.activeTextEditor = new vscode.TextEditor(document, new vscode.Selection(start0, end0));
    await run('plumb.explainFlow');
    assert.deepEqual((calls.at(-1)?.body as { node_ids: string[] }).node_ids, ['inj1', 'odd1']);
    assert.match(stub.panels[0].title, /2 nodes of flows\.json/);
    assert.match(stub.panels[0].webview.html, /This flow ticks\./);
  });

  it('explains the whole file without a selection, phrased when set', async () => {
    stub.config.set('plumb.explain.phrase', true);
    const { calls } = start([{ method: 'POST', path: '/explain', body: explanation }]);
    flowFile('flows.json', BROKEN_FLOW_TEXT);
    await run('plumb.explainFlow');
    assert.deepEqual(Object.keys(calls.at(-1)?.body as object).sort(), ['flow', 'phrase']);
  });
});

describe('function nodes', () => {
  it('puts CodeLenses on each func', () => {
    start([]);
    const document = flowFile('flows.json', BROKEN_FLOW_TEXT);
    const provider = stub.codeLensProviders[0].provider as { provideCodeLenses(d: unknown): vscode.CodeLens[] };
    const lenses = provider.provideCodeLenses(document);
    assert.deepEqual(lenses.map((l) => [l.range.start.line, l.command?.command]), [
      [lineOf(BROKEN_FLOW_TEXT, '"func"'), 'plumb.editFunctionCode'],
      [lineOf(BROKEN_FLOW_TEXT, '"func"'), 'plumb.generateFunctionCode'],
    ]);
    assert.deepEqual(lenses[0].command?.arguments, [{ flowUri: document.uri.toString(), nodeId: 'fn1', property: 'func', nodeName: 'double' }]);
    assert.deepEqual(provider.provideCodeLenses(stub.open(vscode.Uri.file('/x/package.json'), '{"a": 1}')), []);
  });

  it('opens the code as JavaScript and writes it back on save', async () => {
    start([]);
    const flow = flowFile('flows.json', BROKEN_FLOW_TEXT);
    const editor = await run('plumb.editFunctionCode', { flowUri: flow.uri.toString(), nodeId: 'fn1', property: 'func', nodeName: 'double' }) as vscode.TextEditor;
    const code = editor.document;
    assert.equal(code.uri.scheme, 'plumb-func');
    assert.equal(code.uri.path, '/double.js');
    assert.equal(code.languageId, 'javascript');
    assert.equal(code.getText(), 'msg.payload = msg.payload * 2;\nreturn msg;');
    code.setText('// triple\r\nmsg.payload = msg.payload * 3;\r\nreturn msg;');
    await code.save();
    const onDisk = JSON.parse(fs.readFileSync(flow.uri.fsPath, 'utf8')) as Record<string, unknown>[];
    assert.equal(onDisk[3].func, '// triple\nmsg.payload = msg.payload * 3;\nreturn msg;');
    assert.equal(flow.isDirty, false, 'the flow was saved with the code');
  });

  it('leaves a flow with unsaved changes unsaved', async () => {
    start([]);
    const flow = flowFile('flows.json', BROKEN_FLOW_TEXT);
    flow.setText(BROKEN_FLOW_TEXT.replace('"tick"', '"tock"'));
    const editor = await run('plumb.editFunctionCode', { flowUri: flow.uri.toString(), nodeId: 'fn1', property: 'func' }) as vscode.TextEditor;
    editor.document.setText('return null;');
    await editor.document.save();
    assert.equal(flow.isDirty, true);
    assert.match(flow.getText(), /"func": "return null;"/);
    assert.match(flow.getText(), /"tock"/);
    assert.equal(fs.readFileSync(flow.uri.fsPath, 'utf8'), BROKEN_FLOW_TEXT);
  });

  it('generates code from a description and proposes it', async () => {
    const { calls } = start([{ method: 'POST', path: '/generate', events: streamOf({ outcome: 'flow', message: '', flow: NEW_FLOW }) }]);
    const flow = flowFile('flows.json', BROKEN_FLOW_TEXT);
    stub.messageAnswers.push('Accept');
    const code = await run('plumb.generateFunctionCode', { flowUri: flow.uri.toString(), nodeId: 'fn1', property: 'func' }, 'convert to fahrenheit');
    assert.equal(code, NEW_FLOW[2].func);
    assert.match((calls.at(-1)?.body as { request: string }).request, /function node to: convert to fahrenheit/);
    const nodes = JSON.parse(flow.getText()) as Record<string, unknown>[];
    assert.equal(nodes[3].func, NEW_FLOW[2].func);
  });

  it('says so when no function code came back', async () => {
    start([{ method: 'POST', path: '/generate', events: streamOf({ outcome: 'flow', message: '', flow: [{ id: 't', type: 'tab' }] }) }]);
    const flow = flowFile('flows.json', BROKEN_FLOW_TEXT);
    const code = await run('plumb.generateFunctionCode', { flowUri: flow.uri.toString(), nodeId: 'fn1', property: 'func' }, 'parse csv');
    assert.equal(code, undefined);
    assert.match(stub.messages[0].message, /no code was written.*without a function node/);
  });
});

describe('the chat view', () => {
  function resolveView(ext: PlumbExtension) {
    const received = new vscode.EventEmitter<unknown>();
    const webview = {
      options: {}, html: '', cspSource: 'vscode-resource:', posted: [] as Record<string, unknown>[],
      postMessage(message: Record<string, unknown>) { this.posted.push(message); return Promise.resolve(true); },
      onDidReceiveMessage: received.event,
      asWebviewUri: (uri: vscode.Uri) => uri,
    };
    const view = { webview, onDidDispose: () => new vscode.Disposable() };
    ext.chat.resolveWebviewView(view as unknown as import('vscode').WebviewView);
    return { webview, send: (message: unknown) => received.fire(message) };
  }

  it('draws a page with a strict policy and its script', () => {
    const { ext } = start([]);
    const { webview } = resolveView(ext);
    assert.match(webview.html, /Content-Security-Policy" content="default-src 'none'; style-src vscode-resource:; script-src 'nonce-/);
    assert.match(webview.html, /<script nonce="[^"]+" src="[^"]*media\/chat\.js"><\/script>/);
    assert.ok(fs.existsSync(path.join(ROOT, 'media', 'chat.js')));
  });

  it('streams a turn into the view and opens its flow', async () => {
    const turn = {
      session_id: 's1', user_message: { id: 1, role: 'user', content: 'x', created_at: '' },
      assistant_message: { id: 2, role: 'assistant', content: 'ok', created_at: '', outcome: { outcome: 'flow', message: 'ok', flow: NEW_FLOW } },
    };
    const { ext } = start([
      { method: 'POST', path: '/sessions', status: 201, body: { id: 's1', title: 'x', created_at: '', updated_at: '', has_flow: false } },
      { method: 'POST', path: '/sessions/s1/messages', events: streamOf(turn) },
    ]);
    const { webview, send } = resolveView(ext);
    send({ type: 'send', text: 'every 5 s convert' });
    await stub.settle();
    assert.deepEqual(webview.posted.map((m) => m.type), ['user', 'busy', 'status', 'status', 'token', 'answer', 'busy']);
    send({ type: 'openFlow', index: 0 });
    await stub.settle();
    assert.deepEqual(JSON.parse(stub.shown.at(-1)?.document.getText() ?? ''), NEW_FLOW);
    send({ type: 'bogus' });
    send({ type: 'useActiveFlow' });
    assert.deepEqual(webview.posted.at(-1), { type: 'reset', note: "Starting from the active file's flow (3 nodes): say what to change." });
  });
});
