/**
 * A function node's code as a real JavaScript document: `plumb-func:/<node name>.js?...`
 * reads the node's `func` string from the flow document and, on save, writes it back
 * into the flow (as a JSON string, the rest of the file untouched).
 */

import * as vscode from 'vscode';
import { FUNCTION_SCHEME, FunctionTarget, functionDocumentAddress, parseFunctionQuery } from './functionCode';
import { FlowText, setStringProperty } from './jsonPositions';
import { propertyOf } from './jsonScanner';

export function functionDocumentUri(target: FunctionTarget, nodeName?: string): vscode.Uri {
  const { path, query } = functionDocumentAddress(target, nodeName);
  return vscode.Uri.from({ scheme: FUNCTION_SCHEME, path, query });
}

function targetOf(uri: vscode.Uri): FunctionTarget {
  const target = parseFunctionQuery(uri.query);
  if (!target) {
    throw vscode.FileSystemError.FileNotFound(uri);
  }
  return target;
}

export class FunctionCodeFs implements vscode.FileSystemProvider, vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<vscode.FileChangeEvent[]>();
  readonly onDidChangeFile = this.emitter.event;
  private readonly mtimes = new Map<string, number>();
  private readonly watched = new Map<string, FunctionTarget>();

  watch(): vscode.Disposable {
    return new vscode.Disposable(() => undefined);
  }

  private async flowDocument(target: FunctionTarget): Promise<vscode.TextDocument> {
    const uri = vscode.Uri.parse(target.flowUri);
    const open = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
    return open ?? vscode.workspace.openTextDocument(uri);
  }

  private async code(uri: vscode.Uri): Promise<string> {
    const target = targetOf(uri);
    const document = await this.flowDocument(target);
    const flow = FlowText.tryParse(document.getText());
    const node = flow?.nodesWithId(target.nodeId)[0];
    if (!node) {
      throw vscode.FileSystemError.FileNotFound(uri);
    }
    const property = propertyOf(node.node, target.property);
    this.watched.set(uri.toString(), target);
    return property?.value.type === 'string' ? String(property.value.value) : '';
  }

  private mtime(uri: vscode.Uri): number {
    const key = uri.toString();
    let time = this.mtimes.get(key);
    if (time === undefined) {
      time = Date.now();
      this.mtimes.set(key, time);
    }
    return time;
  }

  async stat(uri: vscode.Uri): Promise<vscode.FileStat> {
    const code = await this.code(uri);
    return {
      type: vscode.FileType.File, ctime: 0, mtime: this.mtime(uri), size: Buffer.byteLength(code, 'utf8'),
    };
  }

  async readFile(uri: vscode.Uri): Promise<Uint8Array> {
    return Buffer.from(await this.code(uri), 'utf8');
  }

  async writeFile(uri: vscode.Uri, content: Uint8Array): Promise<void> {
    const target = targetOf(uri);
    const document = await this.flowDocument(target);
    const code = Buffer.from(content).toString('utf8').replace(/\r\n/g, '\n');
    const text = document.getText();
    let change;
    try {
      change = setStringProperty(text, target.nodeId, target.property, code);
    } catch (error) {
      throw vscode.FileSystemError.Unavailable(
        `Plumb could not write the code back: ${error instanceof Error ? error.message : String(error)}`);
    }
    const wasDirty = document.isDirty;
    const edit = new vscode.WorkspaceEdit();
    edit.replace(document.uri, new vscode.Range(document.positionAt(change.start),
      document.positionAt(change.end)), change.newText);
    if (!await vscode.workspace.applyEdit(edit)) {
      throw vscode.FileSystemError.Unavailable('Plumb could not change the flow document.');
    }
    // Saving the code saves the flow too, unless the flow had unsaved changes of its own.
    if (!wasDirty && !document.isUntitled) {
      await document.save();
    }
    this.mtimes.set(uri.toString(), Date.now());
    this.emitter.fire([{ type: vscode.FileChangeType.Changed, uri }]);
  }

  /** The flow document changed: its open code documents reload. */
  flowChanged(flowUri: vscode.Uri): void {
    const changed: vscode.FileChangeEvent[] = [];
    for (const [key, target] of this.watched) {
      if (target.flowUri === flowUri.toString()) {
        this.mtimes.set(key, Date.now());
        changed.push({ type: vscode.FileChangeType.Changed, uri: vscode.Uri.parse(key) });
      }
    }
    if (changed.length > 0) {
      this.emitter.fire(changed);
    }
  }

  readDirectory(): [string, vscode.FileType][] {
    return [];
  }

  createDirectory(uri: vscode.Uri): void {
    throw vscode.FileSystemError.NoPermissions(uri);
  }

  delete(uri: vscode.Uri): void {
    throw vscode.FileSystemError.NoPermissions(uri);
  }

  rename(uri: vscode.Uri): void {
    throw vscode.FileSystemError.NoPermissions(uri);
  }

  dispose(): void {
    this.emitter.dispose();
  }
}
