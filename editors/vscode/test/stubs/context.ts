/**
 * A fake ExtensionContext: subscriptions, an in-memory SecretStorage, the extension's
 * folder.
 */

import * as path from 'node:path';
import { Uri } from './vscode';

export class MemorySecrets {
  readonly values = new Map<string, string>();
  get(key: string): Promise<string | undefined> {
    return Promise.resolve(this.values.get(key));
  }
  store(key: string, value: string): Promise<void> {
    this.values.set(key, value);
    return Promise.resolve();
  }
  delete(key: string): Promise<void> {
    this.values.delete(key);
    return Promise.resolve();
  }
  onDidChange = () => ({ dispose: () => undefined });
}

export function fakeContext() {
  // out/test/stubs -> the extension's folder
  const root = path.resolve(__dirname, '..', '..', '..');
  return {
    subscriptions: [] as { dispose(): unknown }[],
    secrets: new MemorySecrets(),
    extensionUri: Uri.file(root),
    extensionPath: root,
  };
}
