/**
 * A stand-in for the `vscode` module, enough of it for the extension's logic to run under
 * `node --test` (the test tool that downloads VS Code cannot run here). register.ts makes
 * `require('vscode')` resolve to this file.
 *
 * What the extension does to the editor is recorded in `stub` (messages shown, commands
 * run, documents opened) and what the user would answer is queued there.
 */

/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-assignment,
   @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-call,
   @typescript-eslint/no-unsafe-argument */

import * as fs from 'node:fs';

// --- small value classes -------------------------------------------------------------

export class Disposable {
  constructor(private readonly onDispose: () => void = () => undefined) {}
  static from(...items: { dispose(): unknown }[]): Disposable {
    return new Disposable(() => items.forEach((i) => i.dispose()));
  }
  dispose(): void {
    this.onDispose();
  }
}

export class EventEmitter<T> {
  private listeners: ((value: T) => void)[] = [];
  readonly event = (listener: (value: T) => void): Disposable => {
    this.listeners.push(listener);
    return new Disposable(() => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    });
  };
  fire(value: T): void {
    for (const listener of [...this.listeners]) {
      listener(value);
    }
  }
  dispose(): void {
    this.listeners = [];
  }
}

export class Position {
  constructor(readonly line: number, readonly character: number) {}
  isEqual(other: Position): boolean {
    return this.line === other.line && this.character === other.character;
  }
}

export class Range {
  readonly start: Position;
  readonly end: Position;
  constructor(a: Position | number, b: Position | number, c?: number, d?: number) {
    if (typeof a === 'number') {
      this.start = new Position(a, b as number);
      this.end = new Position(c ?? 0, d ?? 0);
    } else {
      this.start = a;
      this.end = b as Position;
    }
  }
  get isEmpty(): boolean {
    return this.start.isEqual(this.end);
  }
}

export class Selection extends Range {
  constructor(anchor: Position, active: Position) {
    super(anchor, active);
  }
}

export enum DiagnosticSeverity { Error = 0, Warning = 1, Information = 2, Hint = 3 }
export enum ViewColumn { Active = -1, Beside = -2, One = 1, Two = 2 }
export enum ProgressLocation { SourceControl = 1, Window = 10, Notification = 15 }
export enum FileType { Unknown = 0, File = 1, Directory = 2 }
export enum FileChangeType { Changed = 1, Created = 2, Deleted = 3 }
export enum StatusBarAlignment { Left = 1, Right = 2 }

export class Diagnostic {
  source?: string;
  code?: string | number;
  constructor(readonly range: Range, readonly message: string,
              readonly severity: DiagnosticSeverity = DiagnosticSeverity.Error) {}
}

export class CodeLens {
  constructor(readonly range: Range, readonly command?: { title: string; command: string; arguments?: unknown[]; tooltip?: string }) {}
}

export class FileSystemError extends Error {
  constructor(message: string, readonly code: string) {
    super(message);
  }
  static FileNotFound(what?: unknown): FileSystemError {
    return new FileSystemError(`file not found: ${String(what)}`, 'FileNotFound');
  }
  static NoPermissions(what?: unknown): FileSystemError {
    return new FileSystemError(`no permissions: ${String(what)}`, 'NoPermissions');
  }
  static Unavailable(what?: unknown): FileSystemError {
    return new FileSystemError(String(what), 'Unavailable');
  }
}

function encodeComponent(text: string, keepSlash: boolean): string {
  return text.replace(/[^A-Za-z0-9\-._~/]/g, (c) => encodeURIComponent(c))
    .replace(/\//g, keepSlash ? '/' : '%2F');
}

export class Uri {
  constructor(readonly scheme: string, readonly authority: string, readonly path: string,
              readonly query: string, readonly fragment: string) {}

  static parse(value: string): Uri {
    const match = /^([a-zA-Z][\w+.-]*):(?:\/\/([^/?#]*))?([^?#]*)(?:\?([^#]*))?(?:#(.*))?$/.exec(value);
    if (!match) {
      throw new Error(`not a URI: ${value}`);
    }
    return new Uri(match[1], match[2] ?? '', decodeURIComponent(match[3]),
      decodeURIComponent(match[4] ?? ''), decodeURIComponent(match[5] ?? ''));
  }

  static file(path: string): Uri {
    return new Uri('file', '', path, '', '');
  }

  static from(parts: { scheme: string; authority?: string; path?: string; query?: string; fragment?: string }): Uri {
    return new Uri(parts.scheme, parts.authority ?? '', parts.path ?? '', parts.query ?? '', parts.fragment ?? '');
  }

  static joinPath(base: Uri, ...segments: string[]): Uri {
    return base.with({ path: [base.path.replace(/\/$/, ''), ...segments].join('/') });
  }

  get fsPath(): string {
    return this.path;
  }

  with(change: { scheme?: string; path?: string; query?: string }): Uri {
    return new Uri(change.scheme ?? this.scheme, this.authority, change.path ?? this.path,
      change.query ?? this.query, this.fragment);
  }

  toString(): string {
    const authority = this.authority || this.scheme === 'file' ? `//${this.authority}` : '';
    return `${this.scheme}:${authority}${encodeComponent(this.path, true)}`
      + (this.query ? `?${encodeComponent(this.query, false)}` : '')
      + (this.fragment ? `#${encodeComponent(this.fragment, false)}` : '');
  }

  toJSON(): string {
    return this.toString();
  }
}

// --- documents -----------------------------------------------------------------------

function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '\n') {
      starts.push(i + 1);
    }
  }
  return starts;
}

export class TextDocument {
  version = 1;
  isDirty = false;
  isClosed = false;

  constructor(readonly uri: Uri, public languageId: string, private text: string) {}

  get fileName(): string {
    return this.uri.path;
  }

  get isUntitled(): boolean {
    return this.uri.scheme === 'untitled';
  }

  get lineCount(): number {
    return lineStarts(this.text).length;
  }

  getText(range?: Range): string {
    if (!range) {
      return this.text;
    }
    return this.text.slice(this.offsetAt(range.start), this.offsetAt(range.end));
  }

  positionAt(offset: number): Position {
    const at = Math.max(0, Math.min(offset, this.text.length));
    const starts = lineStarts(this.text);
    let line = 0;
    while (line + 1 < starts.length && starts[line + 1] <= at) {
      line++;
    }
    return new Position(line, at - starts[line]);
  }

  offsetAt(position: Position): number {
    const starts = lineStarts(this.text);
    if (position.line >= starts.length) {
      return this.text.length;
    }
    return Math.min(starts[position.line] + position.character, this.text.length);
  }

  /** The user (or an edit) changes the text. */
  setText(text: string): void {
    this.text = text;
    this.version += 1;
    this.isDirty = true;
    workspaceEvents.change.fire({ document: this, contentChanges: [{ text }] });
  }

  async save(): Promise<boolean> {
    const provider = stub.fileSystems.get(this.uri.scheme);
    if (provider) {
      await provider.writeFile(this.uri, Buffer.from(this.text, 'utf8'), { create: true, overwrite: true });
    } else if (this.uri.scheme === 'file') {
      fs.writeFileSync(this.uri.fsPath, this.text);
    } else {
      return false;
    }
    this.isDirty = false;
    workspaceEvents.save.fire(this);
    return true;
  }
}

export class WorkspaceEdit {
  readonly edits: { uri: Uri; range: Range; newText: string }[] = [];
  replace(uri: Uri, range: Range, newText: string): void {
    this.edits.push({ uri, range, newText });
  }
  insert(uri: Uri, position: Position, newText: string): void {
    this.edits.push({ uri, range: new Range(position, position), newText });
  }
}

export class TabInputText {
  constructor(readonly uri: Uri) {}
}

export class TabInputTextDiff {
  constructor(readonly original: Uri, readonly modified: Uri) {}
}

// --- the recorder ----------------------------------------------------------------------

export interface ShownMessage {
  kind: 'info' | 'warning' | 'error';
  message: string;
  items: string[];
}

type Answer = string | undefined | ((message: ShownMessage) => string | undefined);

const workspaceEvents = {
  save: new EventEmitter<TextDocument>(),
  change: new EventEmitter<{ document: TextDocument; contentChanges: { text: string }[] }>(),
  close: new EventEmitter<TextDocument>(),
};

export interface StubWebview {
  html: string;
  options: unknown;
  cspSource: string;
  posted: unknown[];
}

export interface StubPanel {
  viewType: string;
  title: string;
  webview: StubWebview;
  revealed: number;
  disposed: boolean;
}

export const stub = {
  config: new Map<string, unknown>(),
  documents: [] as TextDocument[],
  messages: [] as ShownMessage[],
  messageAnswers: [] as Answer[],
  inputAnswers: [] as (string | undefined)[],
  inputBoxes: [] as Record<string, unknown>[],
  progress: [] as { title?: string; message?: string }[],
  executed: [] as { command: string; args: unknown[] }[],
  commands: new Map<string, (...args: any[]) => unknown>(),
  contentProviders: new Map<string, { provideTextDocumentContent(uri: Uri): string | Promise<string> }>(),
  fileSystems: new Map<string, any>(),
  codeLensProviders: [] as { selector: unknown; provider: any }[],
  webviewViews: new Map<string, any>(),
  panels: [] as StubPanel[],
  terminals: [] as { name: string; sent: string[] }[],
  shown: [] as { document: TextDocument; options: unknown }[],
  statusBar: [] as string[],
  collections: [] as DiagnosticCollection[],
  untitled: 0,
  activeTextEditor: undefined as TextEditor | undefined,
  tabs: [] as { input: unknown }[],
  closedTabs: [] as { input: unknown }[],
  /** Runs inside withProgress after the task starts: lets a test cancel. */
  cancelProgress: false,

  reset(): void {
    this.config.clear();
    this.documents = [];
    this.messages = [];
    this.messageAnswers = [];
    this.inputAnswers = [];
    this.inputBoxes = [];
    this.progress = [];
    this.executed = [];
    this.commands.clear();
    this.contentProviders.clear();
    this.fileSystems.clear();
    this.codeLensProviders = [];
    this.webviewViews.clear();
    this.panels = [];
    this.terminals = [];
    this.shown = [];
    this.statusBar = [];
    this.collections = [];
    this.untitled = 0;
    this.activeTextEditor = undefined;
    this.tabs = [];
    this.closedTabs = [];
    this.cancelProgress = false;
  },

  /** Open a document as if the user had (it becomes the active editor when `show`). */
  open(uri: Uri, text: string, languageId = 'json', show = true): TextDocument {
    const document = new TextDocument(uri, languageId, text);
    this.documents.push(document);
    if (show) {
      this.activeTextEditor = new TextEditor(document);
    }
    return document;
  },

  find(uri: Uri): TextDocument | undefined {
    return this.documents.find((d) => d.uri.toString() === uri.toString());
  },

  /** Wait until pending promise callbacks have run. */
  async settle(): Promise<void> {
    for (let i = 0; i < 20; i++) {
      await new Promise((resolve) => setImmediate(resolve));
    }
  },
};

function answer(kind: ShownMessage['kind'], message: string, rest: unknown[]): Promise<string | undefined> {
  const items = rest.filter((r): r is string => typeof r === 'string');
  const shown = { kind, message, items };
  stub.messages.push(shown);
  const next = stub.messageAnswers.shift();
  return Promise.resolve(typeof next === 'function' ? next(shown) : next);
}

export class TextEditor {
  selection: Selection;
  constructor(readonly document: TextDocument, selection?: Selection) {
    this.selection = selection ?? new Selection(new Position(0, 0), new Position(0, 0));
  }
}

export class DiagnosticCollection {
  readonly entries = new Map<string, Diagnostic[]>();
  disposed = false;
  constructor(readonly name: string) {}
  set(uri: Uri, diagnostics: Diagnostic[]): void {
    this.entries.set(uri.toString(), diagnostics);
  }
  get(uri: Uri): Diagnostic[] | undefined {
    return this.entries.get(uri.toString());
  }
  has(uri: Uri): boolean {
    return this.entries.has(uri.toString());
  }
  delete(uri: Uri): void {
    this.entries.delete(uri.toString());
  }
  clear(): void {
    this.entries.clear();
  }
  dispose(): void {
    this.disposed = true;
  }
}

function languageOf(uri: Uri): string {
  if (uri.path.endsWith('.js')) {
    return 'javascript';
  }
  if (uri.path.endsWith('.md')) {
    return 'markdown';
  }
  return uri.path.endsWith('.json') ? 'json' : 'plaintext';
}

function makeWebview(): any {
  const received = new EventEmitter<unknown>();
  return {
    html: '',
    options: {},
    cspSource: 'vscode-resource:',
    posted: [] as unknown[],
    postMessage(message: unknown) {
      this.posted.push(message);
      return Promise.resolve(true);
    },
    onDidReceiveMessage: received.event,
    receive: (message: unknown) => received.fire(message),
    asWebviewUri: (uri: Uri) => uri,
  };
}

// --- the namespaces ----------------------------------------------------------------------

export const window = {
  get activeTextEditor(): TextEditor | undefined {
    return stub.activeTextEditor;
  },
  showInformationMessage: (message: string, ...rest: unknown[]) => answer('info', message, rest),
  showWarningMessage: (message: string, ...rest: unknown[]) => answer('warning', message, rest),
  showErrorMessage: (message: string, ...rest: unknown[]) => answer('error', message, rest),
  showInputBox: (options: Record<string, unknown> = {}) => {
    stub.inputBoxes.push(options);
    return Promise.resolve(stub.inputAnswers.shift());
  },
  async withProgress<T>(options: { title?: string },
                        task: (progress: { report(value: { message?: string }): void },
                               token: { isCancellationRequested: boolean;
                                        onCancellationRequested(listener: () => void): Disposable }) => Promise<T>)
    : Promise<T> {
    const cancel = new EventEmitter<void>();
    const token = {
      isCancellationRequested: false,
      onCancellationRequested: (listener: () => void) => cancel.event(listener),
    };
    stub.progress.push({ title: options.title });
    const running = task({ report: (value) => stub.progress.push({ title: options.title, message: value.message }) }, token);
    if (stub.cancelProgress) {
      token.isCancellationRequested = true;
      cancel.fire();
    }
    return running;
  },
  setStatusBarMessage: (text: string) => {
    stub.statusBar.push(text);
    return new Disposable();
  },
  createTerminal: (name: string) => {
    const terminal = { name, sent: [] as string[], show: () => undefined,
      sendText(text: string) { this.sent.push(text); } };
    stub.terminals.push(terminal);
    return terminal;
  },
  showTextDocument: (document: TextDocument, options?: unknown) => {
    stub.shown.push({ document, options });
    const editor = new TextEditor(document);
    stub.activeTextEditor = editor;
    return Promise.resolve(editor);
  },
  createWebviewPanel: (viewType: string, title: string) => {
    const disposed = new EventEmitter<void>();
    const panel = {
      viewType, title, webview: makeWebview(), revealed: 0, disposed: false,
      reveal() { this.revealed += 1; },
      onDidDispose: disposed.event,
      dispose() { this.disposed = true; disposed.fire(); },
    };
    stub.panels.push(panel);
    return panel;
  },
  registerWebviewViewProvider: (id: string, provider: unknown) => {
    stub.webviewViews.set(id, provider);
    return new Disposable(() => stub.webviewViews.delete(id));
  },
  tabGroups: {
    get all() {
      return [{ tabs: stub.tabs }];
    },
    close: (tabs: { input: unknown }[]) => {
      stub.closedTabs.push(...tabs);
      stub.tabs = stub.tabs.filter((t) => !tabs.includes(t));
      return Promise.resolve(true);
    },
  },
};

export const workspace = {
  getConfiguration: (section: string) => ({
    get: <T>(key: string, fallback?: T): T | undefined => {
      const name = `${section}.${key}`;
      return stub.config.has(name) ? stub.config.get(name) as T : fallback;
    },
  }),
  get textDocuments(): TextDocument[] {
    return stub.documents;
  },
  async openTextDocument(what: Uri | { language?: string; content?: string }): Promise<TextDocument> {
    if (!(what instanceof Uri)) {
      stub.untitled += 1;
      const document = new TextDocument(Uri.parse(`untitled:Untitled-${stub.untitled}`),
        what.language ?? 'plaintext', what.content ?? '');
      stub.documents.push(document);
      return document;
    }
    const open = stub.find(what);
    if (open) {
      return open;
    }
    const fileSystem = stub.fileSystems.get(what.scheme);
    const provider = stub.contentProviders.get(what.scheme);
    let text: string;
    if (fileSystem) {
      text = Buffer.from(await fileSystem.readFile(what)).toString('utf8');
    } else if (provider) {
      text = await provider.provideTextDocumentContent(what);
    } else if (what.scheme === 'file') {
      text = fs.readFileSync(what.fsPath, 'utf8');
    } else {
      throw new Error(`cannot open ${what.toString()}`);
    }
    const document = new TextDocument(what, languageOf(what), text);
    stub.documents.push(document);
    return document;
  },
  applyEdit(edit: WorkspaceEdit): Promise<boolean> {
    const byDocument = new Map<TextDocument, { start: number; end: number; newText: string }[]>();
    for (const change of edit.edits) {
      const document = stub.find(change.uri);
      if (!document) {
        return Promise.resolve(false);
      }
      const list = byDocument.get(document) ?? [];
      list.push({ start: document.offsetAt(change.range.start), end: document.offsetAt(change.range.end), newText: change.newText });
      byDocument.set(document, list);
    }
    for (const [document, changes] of byDocument) {
      let text = document.getText();
      for (const change of changes.sort((a, b) => b.start - a.start)) {
        text = text.slice(0, change.start) + change.newText + text.slice(change.end);
      }
      document.setText(text);
    }
    return Promise.resolve(true);
  },
  registerTextDocumentContentProvider: (scheme: string, provider: any) => {
    stub.contentProviders.set(scheme, provider);
    return new Disposable(() => stub.contentProviders.delete(scheme));
  },
  registerFileSystemProvider: (scheme: string, provider: any) => {
    stub.fileSystems.set(scheme, provider);
    return new Disposable(() => stub.fileSystems.delete(scheme));
  },
  onDidSaveTextDocument: workspaceEvents.save.event,
  onDidChangeTextDocument: workspaceEvents.change.event,
  onDidCloseTextDocument: workspaceEvents.close.event,
};

export const languages = {
  createDiagnosticCollection: (name: string) => {
    const collection = new DiagnosticCollection(name);
    stub.collections.push(collection);
    return collection;
  },
  registerCodeLensProvider: (selector: unknown, provider: unknown) => {
    stub.codeLensProviders.push({ selector, provider });
    return new Disposable();
  },
  setTextDocumentLanguage: (document: TextDocument, languageId: string) => {
    document.languageId = languageId;
    return Promise.resolve(document);
  },
};

export const commands = {
  registerCommand: (id: string, handler: (...args: any[]) => unknown) => {
    if (stub.commands.has(id)) {
      throw new Error(`command ${id} already registered`);
    }
    stub.commands.set(id, handler);
    return new Disposable(() => stub.commands.delete(id));
  },
  executeCommand: (id: string, ...args: unknown[]): Promise<unknown> => {
    stub.executed.push({ command: id, args });
    const handler = stub.commands.get(id);
    if (handler) {
      return Promise.resolve(handler(...args));
    }
    if (id === 'vscode.diff') {
      stub.tabs.push({ input: new TabInputTextDiff(args[0] as Uri, args[1] as Uri) });
    }
    return Promise.resolve(undefined);
  },
};

export const env = {
  openExternal: () => Promise.resolve(true),
};
