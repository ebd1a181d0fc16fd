/**
 * A real `ask serve --model fake` for the integration tests: a free port, a fresh data
 * folder, stopped at the end.
 */

import { ChildProcess, execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

const REPO = path.resolve(__dirname, '..', '..', '..', '..', '..');

/** The `ask` to run: $PLUMB_ASK, else the repository's .venv, else undefined. */
export function askPath(): string | undefined {
  const candidates = [process.env.PLUMB_ASK, path.join(REPO, '.venv', 'bin', 'ask')];
  return candidates.find((c): c is string => Boolean(c) && fs.existsSync(c as string));
}

/** A port nothing listens on now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** The environment without PLUMB_* variables, so the machine's settings cannot leak in. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('PLUMB_')) {
      env[key] = value;
    }
  }
  return env;
}

export class PlumbServer {
  private output = '';

  private constructor(readonly url: string, readonly dataDir: string, private readonly child: ChildProcess) {
    child.stdout?.on('data', (chunk: Buffer) => {
      this.output += chunk.toString();
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      this.output += chunk.toString();
    });
  }

  get logs(): string {
    return this.output;
  }

  /** Start a server and wait until it answers /api/v1/status. */
  static async start(ask: string, options: { auth?: 'local' | 'token'; dataDir?: string } = {}): Promise<PlumbServer> {
    const dataDir = options.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'plumb-vscode-it-'));
    let lastError: Error | undefined;
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = await freePort();
      const args = ['serve', '--model', 'fake', '--port', String(port), '--data-dir', dataDir, '--no-preload'];
      if (options.auth) {
        args.push('--auth', options.auth);
      }
      const child = spawn(ask, args, { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
      const server = new PlumbServer(`http://127.0.0.1:${port}`, dataDir, child);
      try {
        await server.ready(120_000);
        return server;
      } catch (error) {
        lastError = error as Error;
        await server.stop();
        if (!/address already in use/i.test(server.logs)) {
          break;
        }
      }
    }
    throw lastError ?? new Error('ask serve did not start');
  }

  private async ready(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(`ask serve exited (${this.child.exitCode ?? this.child.signalCode}):\n${this.logs}`);
      }
      try {
        const response = await fetch(`${this.url}/api/v1/status`, { signal: AbortSignal.timeout(2000) });
        if (response.ok) {
          // Ours, not some other process on the port: ours is still running.
          await new Promise((resolve) => setTimeout(resolve, 100));
          if (this.child.exitCode === null) {
            return;
          }
        }
      } catch {
        // not listening yet
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error(`ask serve did not answer within ${timeoutMs / 1000} s:\n${this.logs}`);
  }

  /** Stop the server (SIGTERM, then SIGKILL after 10 s). */
  async stop(): Promise<void> {
    const child = this.child;
    if (child.exitCode !== null || child.signalCode !== null) {
      return;
    }
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

/** Add a fleet user with an API token in `dataDir` (as `ask fleet users add` does) and
 * return the token. */
export function addUserWithToken(ask: string, dataDir: string, name: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(ask, ['fleet', 'users', 'add', name, '--role', 'viewer', '--password-stdin',
      '--token-name', 'vscode-tests', '--data-dir', path.join(dataDir, 'fleet')],
    { env: cleanEnv(), timeout: 120_000 }, (error, stdout, stderr) => {
      if (error) {
        reject(new Error(`ask fleet users add failed: ${error.message}\n${stdout}\n${stderr}`));
        return;
      }
      const token = /plumb_u_\S+/.exec(stdout)?.[0];
      if (!token) {
        reject(new Error(`no token in the output of ask fleet users add:\n${stdout}`));
        return;
      }
      resolve(token);
    });
    child.stdin?.end('a-password-for-tests-only\n');
  });
}
