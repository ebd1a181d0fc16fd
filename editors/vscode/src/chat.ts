/**
 * The chat side bar's logic: a server-side chat session, messages streamed as they are
 * worked on, and the flows the answers carry. The view (chatView.ts) only draws what this
 * posts. No vscode import.
 */

import { FlowNodes, Outcome, PlumbClient, PlumbError, ServerNotRunningError, UnauthorizedError } from './client';

/** What the controller tells the webview. */
export type ToWebview =
  | { type: 'user'; text: string }
  | { type: 'status'; text: string }
  | { type: 'token'; text: string }
  | { type: 'answer'; index: number; outcome: Outcome }
  | { type: 'error'; code: string; message: string; action?: 'start-help' | 'set-token' }
  | { type: 'busy'; busy: boolean }
  | { type: 'reset'; note?: string };

/** What the webview asks for. */
export type FromWebview =
  | { type: 'send'; text: string }
  | { type: 'cancel' }
  | { type: 'newChat' }
  | { type: 'useActiveFlow' }
  | { type: 'openFlow'; index: number }
  | { type: 'applyFlow'; index: number }
  | { type: 'action'; action: 'start-help' | 'set-token' }
  | { type: 'ready' };

export function isFromWebview(value: unknown): value is FromWebview {
  if (!value || typeof value !== 'object') {
    return false;
  }
  const message = value as { type?: unknown; text?: unknown; index?: unknown; action?: unknown };
  switch (message.type) {
    case 'send':
      return typeof message.text === 'string';
    case 'openFlow':
    case 'applyFlow':
      return typeof message.index === 'number';
    case 'action':
      return message.action === 'start-help' || message.action === 'set-token';
    case 'cancel':
    case 'newChat':
    case 'useActiveFlow':
    case 'ready':
      return true;
    default:
      return false;
  }
}

/** A progress event in words. */
export function describeEvent(event: string, data: Record<string, unknown>): string | undefined {
  switch (event) {
    case 'queued': {
      const position = Number(data.position ?? 0);
      return position > 0 ? `waiting for the model (${position} ahead)` : 'waiting for the model';
    }
    case 'started':
      return typeof data.model === 'string' ? `working (model ${data.model})` : 'working';
    case 'step':
      return typeof data.name === 'string' ? data.name : undefined;
    default:
      return undefined;
  }
}

export class ChatController {
  private sessionId: string | undefined;
  private startFlow: FlowNodes | undefined;
  private readonly outcomes: Outcome[] = [];
  private running: AbortController | undefined;

  constructor(private readonly client: () => Promise<PlumbClient>,
              private readonly post: (message: ToWebview) => void) {}

  get busy(): boolean {
    return this.running !== undefined;
  }

  get session(): string | undefined {
    return this.sessionId;
  }

  /** The flow of answer `index`, if it has one. */
  flowOf(index: number): FlowNodes | undefined {
    return this.outcomes[index]?.flow ?? undefined;
  }

  /** Forget the conversation (the server keeps it in its sessions). */
  reset(startFrom?: FlowNodes, note?: string): void {
    this.cancel();
    this.sessionId = undefined;
    this.startFlow = startFrom;
    this.outcomes.length = 0;
    this.post({ type: 'reset', note });
  }

  cancel(): void {
    this.running?.abort();
  }

  /** Send one message and stream the answer into the view. */
  async send(text: string): Promise<void> {
    const content = text.trim();
    if (!content || this.running) {
      return;
    }
    const abort = new AbortController();
    this.running = abort;
    this.post({ type: 'user', text: content });
    this.post({ type: 'busy', busy: true });
    try {
      const client = await this.client();
      const turn = await this.turn(client, content, abort.signal, true);
      const outcome = turn.assistant_message.outcome ?? {
        outcome: 'refuse' as const, message: turn.assistant_message.content,
      };
      this.outcomes.push(outcome);
      this.post({ type: 'answer', index: this.outcomes.length - 1, outcome });
    } catch (error) {
      this.post(errorMessage(error));
    } finally {
      this.running = undefined;
      this.post({ type: 'busy', busy: false });
    }
  }

  private async turn(client: PlumbClient, content: string, signal: AbortSignal, retry: boolean)
    : Promise<import('./client').ChatTurn> {
    if (!this.sessionId) {
      const session = await client.createSession(content.slice(0, 60), this.startFlow, { signal });
      this.sessionId = session.id;
    }
    try {
      return await client.sendMessage(this.sessionId, content, {
        signal,
        onEvent: (event) => {
          if (event.event === 'token') {
            this.post({ type: 'token', text: typeof event.data.text === 'string' ? event.data.text : '' });
            return;
          }
          const words = describeEvent(event.event, event.data);
          if (words) {
            this.post({ type: 'status', text: words });
          }
        },
      });
    } catch (error) {
      // The server forgot the session (restarted with another data folder): start over.
      if (retry && error instanceof PlumbError && error.code === 'not_found') {
        this.sessionId = undefined;
        return this.turn(client, content, signal, false);
      }
      throw error;
    }
  }
}

/** An error as the view shows it, with the button that helps. */
export function errorMessage(error: unknown): ToWebview {
  if (error instanceof ServerNotRunningError) {
    return { type: 'error', code: error.code, message: error.message, action: 'start-help' };
  }
  if (error instanceof UnauthorizedError) {
    return { type: 'error', code: error.code, message: error.message, action: 'set-token' };
  }
  if (error instanceof PlumbError) {
    return { type: 'error', code: error.code, message: error.message };
  }
  return { type: 'error', code: 'internal_error', message: error instanceof Error ? error.message : String(error) };
}
