/**
 * The extension's settings, the token in secret storage, and a client built from both.
 */

import * as vscode from 'vscode';
import { PlumbClient, PlumbError, ServerNotRunningError, ServerStatus, UnauthorizedError } from './client';

/** Where the token lives in VS Code's secret storage (never in settings.json). */
export const TOKEN_KEY = 'plumb.serverToken';

export interface Settings {
  serverUrl: string;
  model: string;
  validateOnSave: boolean;
  phrase: boolean;
  timeoutMs: number;
}

export function readSettings(): Settings {
  const config = vscode.workspace.getConfiguration('plumb');
  const seconds = Number(config.get<number>('requestTimeoutSeconds', 300));
  return {
    serverUrl: config.get<string>('serverUrl', 'http://127.0.0.1:8700') || 'http://127.0.0.1:8700',
    model: (config.get<string>('model', '') || '').trim(),
    validateOnSave: config.get<boolean>('validateOnSave', true) !== false,
    phrase: config.get<boolean>('explain.phrase', false) === true,
    timeoutMs: Math.max(5, Number.isFinite(seconds) ? seconds : 300) * 1000,
  };
}

/** The sentence that says the server serves another model than the setting names, or
 * undefined when they agree (or no model is set). */
export function modelMismatch(status: Pick<ServerStatus, 'model'>, wanted: string, command: string)
  : string | undefined {
  // "default" is what a server says before it has loaded its default model: unknown yet.
  if (!wanted || status.model === wanted || status.model === 'default') {
    return undefined;
  }
  return `The Plumb server answers with model "${status.model}", but the setting plumb.model says `
    + `"${wanted}". The server loads one model when it starts: restart it with \`${command}\`.`;
}

export class Connection {
  private checkedAt = 0;
  private checkedUrl = '';
  private readonly warned = new Set<string>();

  constructor(private readonly secrets: vscode.SecretStorage,
              private readonly fetchImpl?: typeof fetch) {}

  /** A client for the settings in force now. */
  client(): PlumbClient {
    const settings = readSettings();
    return new PlumbClient({
      serverUrl: settings.serverUrl,
      model: settings.model,
      timeoutMs: settings.timeoutMs,
      token: () => this.token(),
      fetch: this.fetchImpl,
    });
  }

  async token(): Promise<string | undefined> {
    return (await this.secrets.get(TOKEN_KEY)) || undefined;
  }

  async setToken(token: string | undefined): Promise<void> {
    if (token && token.trim()) {
      await this.secrets.store(TOKEN_KEY, token.trim());
    } else {
      await this.secrets.delete(TOKEN_KEY);
    }
    this.checkedAt = 0;
  }

  /**
   * Before a command's real work: is the server there, and does it serve the model the
   * settings name? Asks at most once a minute; throws ServerNotRunningError.
   */
  async preflight(client: PlumbClient): Promise<ServerStatus | undefined> {
    if (client.serverUrl === this.checkedUrl && Date.now() - this.checkedAt < 60_000) {
      return undefined;
    }
    const status = await client.status();
    this.checkedAt = Date.now();
    this.checkedUrl = client.serverUrl;
    const settings = readSettings();
    const warning = modelMismatch(status, settings.model, client.startCommand);
    const key = `${client.serverUrl} ${status.model} ${settings.model}`;
    if (warning && !this.warned.has(key)) {
      this.warned.add(key);
      void vscode.window.showWarningMessage(warning);
    }
    return status;
  }

  /** Forget the last check (e.g. after a failure, so the next command asks again). */
  forget(): void {
    this.checkedAt = 0;
  }
}

/** Show an error with the button that helps: start the server, set a token, or none. */
export async function showError(error: unknown, connection?: Connection): Promise<void> {
  if (error instanceof PlumbError && error.code === 'cancelled') {
    return;
  }
  connection?.forget();
  if (error instanceof ServerNotRunningError) {
    const choice = await vscode.window.showErrorMessage(error.message, 'How to start it',
      'Start in terminal', 'Open settings');
    if (choice === 'How to start it') {
      await vscode.commands.executeCommand('plumb.showStartHelp');
    } else if (choice === 'Start in terminal') {
      const terminal = vscode.window.createTerminal('Plumb server');
      terminal.show();
      terminal.sendText(error.startCommand, true);
    } else if (choice === 'Open settings') {
      await vscode.commands.executeCommand('workbench.action.openSettings', 'plumb.serverUrl');
    }
    return;
  }
  if (error instanceof UnauthorizedError) {
    const choice = await vscode.window.showErrorMessage(error.message, 'Set token');
    if (choice === 'Set token') {
      await vscode.commands.executeCommand('plumb.setToken');
    }
    return;
  }
  const message = error instanceof Error ? error.message : String(error);
  await vscode.window.showErrorMessage(`Plumb: ${message}`);
}
