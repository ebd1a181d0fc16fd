/**
 * Shared test helpers: flows with known layouts, and a fake fetch that answers like
 * `ask serve`.
 */

export const BROKEN_FLOW_TEXT = `[
    {
        "id": "tab1",
        "type": "tab",
        "label": "Broken"
    },
    {
        "id": "inj1",
        "type": "inject",
        "z": "tab1",
        "name": "tick",
        "repeat": "5",
        "x": 100,
        "y": 80,
        "wires": [
            [
                "ghost"
            ]
        ]
    },
    {
        "id": "odd1",
        "type": "no-such-node",
        "z": "tab1",
        "x": 300,
        "y": 80,
        "wires": []
    },
    {
        "id": "fn1",
        "type": "function",
        "z": "tab1",
        "name": "double",
        "func": "msg.payload = msg.payload * 2;\\nreturn msg;",
        "outputs": "x",
        "wires": [
            []
        ]
    }
]
`;

/** 1-based line of the first line of `text` containing `needle` (after `after`). */
export function lineOf(text: string, needle: string, after = ''): number {
  const lines = text.split('\n');
  let start = 0;
  if (after) {
    start = lines.findIndex((l) => l.includes(after));
  }
  const index = lines.findIndex((l, i) => i >= start && l.includes(needle));
  if (index < 0) {
    throw new Error(`${needle} not in text`);
  }
  return index;
}

export interface Route {
  method: string;
  path: string;
  status?: number;
  body?: unknown;
  /** Server-Sent Events, sent as one chunk each. */
  events?: { event: string; data: unknown }[];
  headers?: Record<string, string>;
}

export interface Call {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: unknown;
}

/** A fetch that answers the routes given, records each call, and refuses the
 * connection (like a server that is down) when `down` is set. */
export function fakeFetch(routes: Route[], options: { down?: boolean } = {}) {
  const calls: Call[] = [];
  const impl = (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    const method = (init?.method ?? 'GET').toUpperCase();
    const headers = { ...(init?.headers as Record<string, string> | undefined) };
    const body: unknown = typeof init?.body === 'string' ? JSON.parse(init.body) : undefined;
    calls.push({ method, path: url.pathname, headers, body });
    if (options.down) {
      const cause = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8700'), { code: 'ECONNREFUSED' });
      return Promise.reject(new TypeError('fetch failed', { cause }));
    }
    const route = routes.find((r) => r.method === method && url.pathname === `/api/v1${r.path}`);
    if (!route) {
      return Promise.resolve(new Response(JSON.stringify({ error: 'not_found', message: `no route ${url.pathname}` }),
        { status: 404, headers: { 'content-type': 'application/json' } }));
    }
    if (route.events) {
      const encoder = new TextEncoder();
      const chunks = route.events.map((e) => encoder.encode(`event: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`));
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          for (const chunk of chunks) {
            controller.enqueue(chunk);
          }
          controller.close();
        },
      });
      return Promise.resolve(new Response(stream, {
        status: 200, headers: { 'content-type': 'text/event-stream', ...route.headers },
      }));
    }
    return Promise.resolve(new Response(JSON.stringify(route.body ?? {}), {
      status: route.status ?? 200, headers: { 'content-type': 'application/json', ...route.headers },
    }));
  };
  return { fetch: impl, calls };
}

export const STATUS = {
  status: 'ok', version: '0.1.0', auth: 'local', model: 'fake', model_state: 'loaded',
  queue: { running: false, waiting: 0, limit: 32, completed: 0 },
};
