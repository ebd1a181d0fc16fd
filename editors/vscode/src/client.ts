/**
 * The client of Plumb's `ask serve` REST API (/api/v1): JSON requests, Server-Sent Events
 * for streamed jobs, and errors turned into messages a person can act on. Uses Node's
 * global fetch (Node 20); no vscode import, so the integration tests drive it against a
 * real server.
 */

import { SseParser } from './sse';

export type Severity = 'error' | 'warning' | 'info';

export interface Finding {
  severity: Severity;
  code: string;
  message: string;
  hint?: string | null;
  node_id?: string | null;
  property?: string | null;
}

export type FlowNodes = Record<string, unknown>[];

export interface Outcome {
  outcome: 'flow' | 'clarify' | 'refuse';
  message: string;
  flow?: FlowNodes | null;
  choices?: string[];
  notes?: string[];
  understood?: string[];
  changes?: string[];
  findings?: Finding[];
  tokens?: number;
  seconds?: number;
}

export interface Explanation {
  summary: string;
  summary_by: 'model' | 'deterministic';
  summary_note?: string | null;
  text: string;
  seconds: number;
  [key: string]: unknown;
}

export interface ValidationReport {
  valid: boolean;
  nodes: number;
  errors: number;
  warnings: number;
  findings: Finding[];
}

export interface ServerStatus {
  status: 'ok';
  version: string;
  auth: 'local' | 'token';
  model: string;
  model_state: string;
  model_error?: string | null;
  queue: { running?: boolean; waiting?: number; limit?: number; completed?: number };
  [key: string]: unknown;
}

export interface ModelInfo {
  name: string;
  description: string;
  installed: boolean;
  default: boolean;
  serving: boolean;
}

export interface ModelsList {
  data: ModelInfo[];
  serving: string;
  state: string;
  error?: string | null;
}

export interface ChatMessage {
  id: number;
  role: 'user' | 'assistant';
  content: string;
  outcome?: Outcome | null;
  created_at: string;
}

export interface ChatSession {
  id: string;
  title: string;
  created_at: string;
  updated_at: string;
  has_flow: boolean;
  flow?: FlowNodes | null;
  messages?: ChatMessage[];
}

export interface ChatTurn {
  session_id: string;
  user_message: ChatMessage;
  assistant_message: ChatMessage;
}

/** One event of a streamed job: queued, started, step, token, result, error, done (and
 * any name a later server adds, which callers ignore). */
export interface StreamEvent {
  event: string;
  data: Record<string, unknown>;
}

export interface CallOptions {
  /** Stops the request (and, for a streamed job, the server's work on it). */
  signal?: AbortSignal;
  /** Stream: the handler sees every event as it comes; the promise still resolves to
   * the result. */
  onEvent?: (event: StreamEvent) => void;
  /** Milliseconds to wait for a JSON answer (streams have none: they say they live). */
  timeoutMs?: number;
}

/** Any failure of a call: `code` is the server's stable error code, or one of the
 * client's own: server_not_running, unauthorized, timeout, cancelled, bad_response,
 * stream_ended. */
export class PlumbError extends Error {
  constructor(readonly code: string, message: string, readonly status?: number,
              readonly details?: Record<string, unknown>) {
    super(message);
    this.name = 'PlumbError';
  }
}

/** Nothing answers at the server's address. */
export class ServerNotRunningError extends PlumbError {
  constructor(message: string, readonly startCommand: string) {
    super('server_not_running', message);
    this.name = 'ServerNotRunningError';
  }
}

/** The server wants a (valid) token: it runs with `--auth token`. */
export class UnauthorizedError extends PlumbError {
  constructor(message: string, status: number, readonly hadToken: boolean) {
    super('unauthorized', message, status);
    this.name = 'UnauthorizedError';
  }
}

export const DEFAULT_SERVER_URL = 'http://127.0.0.1:8700';
const DEFAULT_PORT = '8700';
const CONNECTION_CODES = new Set([
  'ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET', 'EAI_AGAIN',
  'EADDRNOTAVAIL', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_SOCKET',
]);

/** The server URL without a trailing slash or `/api/v1` (people paste either). */
export function normalizeServerUrl(url: string | undefined): string {
  let out = (url ?? '').trim() || DEFAULT_SERVER_URL;
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(out)) {
    out = `http://${out}`;
  }
  out = out.replace(/\/+$/, '').replace(/\/api\/v1$/, '').replace(/\/+$/, '');
  return out;
}

function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '');
  return bare === 'localhost' || bare === '::1' || /^127\./.test(bare);
}

/** The `ask serve` command that serves at `serverUrl` (with `model`, when one is set). */
export function startCommand(serverUrl: string, model?: string): string {
  const parts = ['ask', 'serve'];
  let url: URL | undefined;
  try {
    url = new URL(normalizeServerUrl(serverUrl));
  } catch {
    url = undefined;
  }
  if (url) {
    if (!isLoopback(url.hostname)) {
      parts.push('--host', '0.0.0.0', '--auth', 'token');
    }
    const port = url.port || (url.protocol === 'https:' ? '443' : '80');
    if (port !== DEFAULT_PORT) {
      parts.push('--port', port);
    }
  }
  if (model && model.trim()) {
    parts.push('--model', model.trim());
  }
  return parts.join(' ');
}

/** The network error code under a failed fetch (Node puts it in `cause`, sometimes in
 * an AggregateError's `errors`). */
function connectionCode(error: unknown): string | undefined {
  const seen = new Set<unknown>();
  const queue: unknown[] = [error];
  while (queue.length > 0) {
    const current = queue.shift();
    if (!current || typeof current !== 'object' || seen.has(current)) {
      continue;
    }
    seen.add(current);
    const record = current as { code?: unknown; cause?: unknown; errors?: unknown };
    if (typeof record.code === 'string' && CONNECTION_CODES.has(record.code)) {
      return record.code;
    }
    queue.push(record.cause);
    if (Array.isArray(record.errors)) {
      queue.push(...(record.errors as unknown[]));
    }
  }
  return undefined;
}

const CONNECTION_WORDS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'no such host',
  EAI_AGAIN: 'the host name could not be looked up',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ECONNRESET: 'the connection was reset',
  EADDRNOTAVAIL: 'address not available',
  UND_ERR_CONNECT_TIMEOUT: 'the connection timed out',
  UND_ERR_SOCKET: 'the connection failed',
};

export interface ClientOptions {
  /** Where `ask serve` listens, e.g. http://127.0.0.1:8700. */
  serverUrl?: string;
  /** A fleet user's token, or a function that reads it (e.g. from secret storage). */
  token?: string | (() => Promise<string | undefined> | string | undefined);
  /** The model the user expects; only used in the "how to start it" command. */
  model?: string;
  /** Default milliseconds for JSON answers (default 5 minutes). */
  timeoutMs?: number;
  /** Replaces the global fetch (tests). */
  fetch?: typeof fetch;
}

export class PlumbClient {
  readonly serverUrl: string;
  private readonly fetchImpl: typeof fetch;
  private readonly timeoutMs: number;

  constructor(private readonly options: ClientOptions = {}) {
    this.serverUrl = normalizeServerUrl(options.serverUrl);
    this.fetchImpl = options.fetch ?? ((input, init) => fetch(input, init));
    this.timeoutMs = options.timeoutMs ?? 300_000;
  }

  /** The command that would start a server at this client's address. */
  get startCommand(): string {
    return startCommand(this.serverUrl, this.options.model);
  }

  // --- the API -------------------------------------------------------------------------

  /** Liveness, auth mode, the model and the queue. Needs no token. */
  status(options: CallOptions = {}): Promise<ServerStatus> {
    return this.json<ServerStatus>('GET', '/status', undefined, { timeoutMs: 10_000, ...options });
  }

  models(options: CallOptions = {}): Promise<ModelsList> {
    return this.json<ModelsList>('GET', '/models', undefined, options);
  }

  /** A new flow from a plain-language request; streams when `onEvent` is given. */
  generate(request: string, options: CallOptions = {}): Promise<Outcome> {
    return this.job<Outcome>('/generate', { request }, options);
  }

  /** The flow changed as `request` says; streams when `onEvent` is given. */
  edit(flow: unknown[], request: string, options: CallOptions = {}): Promise<Outcome> {
    return this.job<Outcome>('/edit', { flow, request }, options);
  }

  /** What the flow (or the chosen nodes) does. `phrase` lets the model word the summary. */
  explain(flow: unknown[], choice: { nodeIds?: string[]; phrase?: boolean } = {},
          options: CallOptions = {}): Promise<Explanation> {
    const body: Record<string, unknown> = { flow };
    if (choice.nodeIds && choice.nodeIds.length > 0) {
      body.node_ids = choice.nodeIds;
    }
    if (choice.phrase) {
      body.phrase = true;
    }
    return this.json<Explanation>('POST', '/explain', body, options);
  }

  /** The validator's findings; anything is accepted as the flow. */
  validate(flow: unknown, options: CallOptions = {}): Promise<ValidationReport> {
    return this.json<ValidationReport>('POST', '/validate', { flow }, options);
  }

  createSession(title = '', flow?: unknown[], options: CallOptions = {}): Promise<ChatSession> {
    const body: Record<string, unknown> = { title: title.slice(0, 200) };
    if (flow) {
      body.flow = flow;
    }
    return this.json<ChatSession>('POST', '/sessions', body, options);
  }

  getSession(id: string, options: CallOptions = {}): Promise<ChatSession> {
    return this.json<ChatSession>('GET', `/sessions/${encodeURIComponent(id)}`, undefined, options);
  }

  /** Continue a chat: builds a flow, or edits the session's current one. */
  sendMessage(sessionId: string, content: string, options: CallOptions = {}): Promise<ChatTurn> {
    return this.job<ChatTurn>(`/sessions/${encodeURIComponent(sessionId)}/messages`,
      { content }, options);
  }

  // --- plumbing ------------------------------------------------------------------------

  private async headers(json: boolean): Promise<{ headers: Record<string, string>; hadToken: boolean }> {
    const headers: Record<string, string> = { Accept: json ? 'application/json' : 'text/event-stream' };
    const token = typeof this.options.token === 'function'
      ? await this.options.token()
      : this.options.token;
    if (token && token.trim()) {
      headers.Authorization = `Bearer ${token.trim()}`;
    }
    return { headers, hadToken: Boolean(token && token.trim()) };
  }

  private async job<T>(path: string, body: Record<string, unknown>, options: CallOptions): Promise<T> {
    if (!options.onEvent) {
      return this.json<T>('POST', path, { ...body, stream: false }, options);
    }
    return this.stream<T>(path, { ...body, stream: true }, options);
  }

  private async send(method: string, path: string, body: unknown, json: boolean,
                     options: CallOptions, timeoutMs: number | undefined)
    : Promise<{ response: Response; hadToken: boolean }> {
    const { headers, hadToken } = await this.headers(json);
    if (options.signal?.aborted) {
      throw new PlumbError('cancelled', 'Cancelled.');
    }
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
    }
    const signals: AbortSignal[] = [];
    if (options.signal) {
      signals.push(options.signal);
    }
    if (timeoutMs !== undefined) {
      signals.push(AbortSignal.timeout(timeoutMs));
    }
    const signal = signals.length === 0 ? undefined
      : signals.length === 1 ? signals[0] : AbortSignal.any(signals);
    let response: Response;
    try {
      response = await this.fetchImpl(`${this.serverUrl}/api/v1${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
      });
    } catch (error) {
      throw this.networkError(error, options.signal, timeoutMs);
    }
    if (!response.ok) {
      throw await this.httpError(response, hadToken);
    }
    return { response, hadToken };
  }

  private async json<T>(method: string, path: string, body: unknown, options: CallOptions): Promise<T> {
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    const { response } = await this.send(method, path, body, true, options, timeoutMs);
    let text: string;
    try {
      text = await response.text();
    } catch (error) {
      throw this.networkError(error, options.signal, timeoutMs);
    }
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new PlumbError('bad_response',
        `The server at ${this.serverUrl} answered ${path} with something that is not JSON. `
        + 'Is "plumb.serverUrl" the address of `ask serve`?', response.status);
    }
  }

  private async stream<T>(path: string, body: unknown, options: CallOptions): Promise<T> {
    const { response } = await this.send('POST', path, body, false, options, undefined);
    const type = response.headers.get('content-type') ?? '';
    if (!type.includes('text/event-stream')) {
      // An older server, or a proxy: take a JSON answer as the result.
      const text = await response.text();
      try {
        const result = JSON.parse(text) as T;
        options.onEvent?.({ event: 'result', data: result as Record<string, unknown> });
        options.onEvent?.({ event: 'done', data: {} });
        return result;
      } catch {
        throw new PlumbError('bad_response',
          `The server at ${this.serverUrl} did not stream ${path} as events.`, response.status);
      }
    }
    if (!response.body) {
      throw new PlumbError('stream_ended', 'The server sent no events.');
    }
    const parser = new SseParser();
    const decoder = new TextDecoder();
    const reader = response.body.getReader();
    let result: T | undefined;
    let failure: PlumbError | undefined;
    let done = false;
    try {
      while (!done) {
        let chunk: Awaited<ReturnType<typeof reader.read>>;
        try {
          chunk = await reader.read();
        } catch (error) {
          throw this.networkError(error, options.signal, undefined);
        }
        const text = chunk.done ? decoder.decode() : decoder.decode(chunk.value as Uint8Array, { stream: true });
        for (const message of parser.push(text)) {
          let data: Record<string, unknown>;
          try {
            const parsed: unknown = JSON.parse(message.data);
            data = parsed && typeof parsed === 'object' ? parsed as Record<string, unknown>
              : { value: parsed };
          } catch {
            data = { text: message.data };
          }
          options.onEvent?.({ event: message.event, data });
          if (message.event === 'result') {
            result = data as T;
          } else if (message.event === 'error') {
            failure = new PlumbError(typeof data.error === 'string' ? data.error : 'internal_error',
              typeof data.message === 'string' ? data.message : 'the job failed');
          } else if (message.event === 'done') {
            done = true;
            break;
          }
        }
        if (chunk.done) {
          break;
        }
      }
    } finally {
      // Closing the stream early (done, an error, the user cancelling) tells the server
      // to stop the job.
      await reader.cancel().catch(() => undefined);
    }
    if (failure) {
      throw failure;
    }
    if (result === undefined) {
      if (options.signal?.aborted) {
        throw new PlumbError('cancelled', 'Cancelled.');
      }
      throw new PlumbError('stream_ended',
        `The server at ${this.serverUrl} closed the stream before it sent a result.`);
    }
    return result;
  }

  private networkError(error: unknown, userSignal: AbortSignal | undefined,
                       timeoutMs: number | undefined): PlumbError {
    if (error instanceof PlumbError) {
      return error;
    }
    const name = (error as { name?: string } | undefined)?.name;
    if (userSignal?.aborted) {
      return new PlumbError('cancelled', 'Cancelled.');
    }
    if (name === 'TimeoutError' || (name === 'AbortError' && timeoutMs !== undefined)) {
      return new PlumbError('timeout',
        `The Plumb server at ${this.serverUrl} did not answer within ${Math.round((timeoutMs ?? 0) / 1000)} s.`);
    }
    const code = connectionCode(error);
    if (code || (error instanceof TypeError && /fetch failed/i.test(error.message))) {
      const why = code ? CONNECTION_WORDS[code] ?? code : 'no answer';
      return new ServerNotRunningError(
        `Plumb's server is not running at ${this.serverUrl} (${why}). Start it with `
        + `\`${this.startCommand}\` in a terminal (in the Plumb project's virtual environment), `
        + 'or set "plumb.serverUrl" to where it runs.', this.startCommand);
    }
    const message = error instanceof Error ? error.message : String(error);
    return new PlumbError('network_error', `Talking to ${this.serverUrl} failed: ${message}`);
  }

  private async httpError(response: Response, hadToken: boolean): Promise<PlumbError> {
    let text = '';
    try {
      text = await response.text();
    } catch {
      text = '';
    }
    let envelope: Record<string, unknown> | undefined;
    try {
      const parsed: unknown = JSON.parse(text);
      if (parsed && typeof parsed === 'object' && typeof (parsed as { error?: unknown }).error === 'string') {
        envelope = parsed as Record<string, unknown>;
      }
    } catch {
      envelope = undefined;
    }
    const serverMessage = typeof envelope?.message === 'string' ? envelope.message : '';
    if (response.status === 401) {
      const message = hadToken
        ? `The Plumb server at ${this.serverUrl} refused the token (401 unauthorized${serverMessage ? `: ${serverMessage}` : ''}). `
          + 'Set a valid one with "Plumb: Set server token".'
        : `The Plumb server at ${this.serverUrl} needs a token (it runs with --auth token; 401 unauthorized). `
          + 'Set one with "Plumb: Set server token".';
      return new UnauthorizedError(message, 401, hadToken);
    }
    if (!envelope) {
      return new PlumbError('bad_response',
        `The server at ${this.serverUrl} answered HTTP ${response.status} with something that is `
        + 'not Plumb\'s API. Is "plumb.serverUrl" the address of `ask serve`?', response.status);
    }
    const code = envelope.error as string;
    let message = serverMessage || code;
    if (code === 'busy') {
      const retry = response.headers.get('retry-after');
      message = `The Plumb server is busy: ${message}.${retry ? ` Try again in ${retry} s.` : ''}`;
    }
    const details = { ...envelope };
    delete details.error;
    delete details.message;
    return new PlumbError(code, message, response.status, details);
  }
}
