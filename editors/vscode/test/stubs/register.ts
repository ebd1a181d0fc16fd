/**
 * Makes `require('vscode')` give the stub (test/stubs/vscode.ts) by hooking Node's module
 * resolution. Import this before anything that imports the extension.
 */

import Module from 'node:module';
import * as path from 'node:path';

const STUB = path.join(__dirname, 'vscode.js');

interface Resolver {
  _resolveFilename(request: string, ...rest: unknown[]): string;
}

const resolver = Module as unknown as Resolver;
const original = resolver._resolveFilename.bind(resolver);
resolver._resolveFilename = (request: string, ...rest: unknown[]): string =>
  request === 'vscode' ? STUB : original(request, ...rest);
