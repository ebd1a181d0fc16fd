import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import {
  PlumbClient, PlumbError, ServerNotRunningError, StreamEvent, UnauthorizedError, normalizeServerUrl, startCommand,
} from '../../src/client';
import { STATUS, fakeFetch } from '../helpers';

const RESULT = { outcome: 'flow', message: 'ok', flow: [{ id: 'a', type: 'tab' }], findings: [] };

describe('server addresses', () => {
  it('normalises what people paste', () => {
    assert.equal(normalizeServerUrl(''), 'http://127.0.0.1:8700');
    assert.equal(normalizeServerUrl('localhost:9000/'), 'http://localhost:9000');
    assert.equal(normalizeServerUrl('http://h:1/api/v1/'), 'http://h:1');
  });

  it('says which ask serve command serves an address', () => {
    assert.equal(startCommand('http://127.0.0.1:8700'), 'ask serve');
    assert.equal(startCommand('http://localhost:9001', 'fake'), 'ask serve --port 9001 --model fake');
    assert.equal(startCommand('http://plumb.lan:8700'), 'ask serve --host 0.0.0.0 --auth token');
  });
});

describe('PlumbClient', () => {
  it('sends JSON with the token and reads the answer', async () => {
    const { fetch, calls } = fakeFetch([{ method: 'POST', path: '/validate', body: { valid: true, nodes: 1, errors: 0, warnings: 0, findings: [] } }]);
    const client = new PlumbClient({ serverUrl: 'http://h:1', token: () => ' secret ', fetch });
    const report = await client.validate([{ id: 'a', type: 'tab' }]);
    assert.equal(report.valid, true);
    assert.equal(calls[0].path, '/api/v1/validate');
    assert.equal(calls[0].headers.Authorization, 'Bearer secret');
    assert.deepEqual(calls[0].body, { flow: [{ id: 'a', type: 'tab' }] });
  });

  it('sends no Authorization header without a token', async () => {
    const { fetch, calls } = fakeFetch([{ method: 'GET', path: '/status', body: STATUS }]);
    await new PlumbClient({ fetch }).status();
    assert.equal(calls[0].headers.Authorization, undefined);
  });

  it('sends explain choices only when made', async () => {
    const { fetch, calls } = fakeFetch([{ method: 'POST', path: '/explain', body: { summary: 's', summary_by: 'deterministic', text: 't', seconds: 0 } }]);
    const client = new PlumbClient({ fetch });
    await client.explain([]);
    await client.explain([], { nodeIds: ['a'], phrase: true });
    assert.deepEqual(calls[0].body, { flow: [] });
    assert.deepEqual(calls[1].body, { flow: [], node_ids: ['a'], phrase: true });
  });

  it('streams events and resolves to the result', async () => {
    const { fetch, calls } = fakeFetch([{
      method: 'POST', path: '/generate', events: [
        { event: 'queued', data: { position: 1 } }, { event: 'started', data: { model: 'fake' } },
        { event: 'step', data: { name: 'planning' } }, { event: 'token', data: { text: 'return ' } },
        { event: 'future-event', data: {} }, { event: 'result', data: RESULT }, { event: 'done', data: {} },
      ],
    }]);
    const seen: StreamEvent[] = [];
    const outcome = await new PlumbClient({ fetch }).generate('x', { onEvent: (e) => seen.push(e) });
    assert.deepEqual(outcome, RESULT);
    assert.deepEqual(seen.map((e) => e.event), ['queued', 'started', 'step', 'token', 'future-event', 'result', 'done']);
    assert.deepEqual(calls[0].body, { request: 'x', stream: true });
  });

  it('turns an error event into an error', async () => {
    const { fetch } = fakeFetch([{
      method: 'POST', path: '/edit', events: [
        { event: 'started', data: {} }, { event: 'error', data: { error: 'internal_error', message: 'boom' } },
        { event: 'done', data: {} },
      ],
    }]);
    await assert.rejects(new PlumbClient({ fetch }).edit([], 'x', { onEvent: () => undefined }),
      (error: unknown) => error instanceof PlumbError && error.code === 'internal_error' && error.message === 'boom');
  });

  it('says when a stream ends without a result', async () => {
    const { fetch } = fakeFetch([{ method: 'POST', path: '/generate', events: [{ event: 'started', data: {} }] }]);
    await assert.rejects(new PlumbClient({ fetch }).generate('x', { onEvent: () => undefined }),
      (error: unknown) => error instanceof PlumbError && error.code === 'stream_ended');
  });

  it('passes the server\'s error code and message on', async () => {
    const { fetch } = fakeFetch([{
      method: 'POST', path: '/explain', status: 422,
      body: { error: 'invalid_request', message: "no node with id 'zz' in the flow", problems: [] },
    }]);
    await assert.rejects(new PlumbClient({ fetch }).explain([], { nodeIds: ['zz'] }), (error: unknown) => {
      assert.ok(error instanceof PlumbError);
      assert.equal(error.code, 'invalid_request');
      assert.equal(error.status, 422);
      assert.equal(error.message, "no node with id 'zz' in the flow");
      assert.deepEqual(error.details, { problems: [] });
      return true;
    });
  });

  it('says when the queue is full and when to retry', async () => {
    const { fetch } = fakeFetch([{
      method: 'POST', path: '/generate', status: 429, headers: { 'retry-after': '5' },
      body: { error: 'busy', message: 'the queue is full', limit: 1 },
    }]);
    await assert.rejects(new PlumbClient({ fetch }).generate('x'), /busy: the queue is full\. Try again in 5 s/);
  });

  it('tells a missing token from a refused one', async () => {
    const { fetch } = fakeFetch([{ method: 'POST', path: '/validate', status: 401, body: { error: 'unauthorized', message: 'no token' } }]);
    await assert.rejects(new PlumbClient({ fetch }).validate([]), (error: unknown) => {
      assert.ok(error instanceof UnauthorizedError);
      assert.equal(error.hadToken, false);
      assert.match(error.message, /needs a token .*Plumb: Set server token/);
      return true;
    });
    await assert.rejects(new PlumbClient({ fetch, token: 'bad' }).validate([]), (error: unknown) => {
      assert.ok(error instanceof UnauthorizedError);
      assert.match(error.message, /refused the token/);
      return true;
    });
  });

  it('says the server is not running, and how to start it', async () => {
    const { fetch } = fakeFetch([], { down: true });
    const client = new PlumbClient({ serverUrl: 'http://127.0.0.1:8800', model: 'fake', fetch });
    await assert.rejects(client.status(), (error: unknown) => {
      assert.ok(error instanceof ServerNotRunningError);
      assert.equal(error.code, 'server_not_running');
      assert.equal(error.startCommand, 'ask serve --port 8800 --model fake');
      assert.match(error.message, /not running at http:\/\/127\.0\.0\.1:8800 \(connection refused\)/);
      assert.match(error.message, /`ask serve --port 8800 --model fake`/);
      return true;
    });
  });

  it('says when something else answers at the address', async () => {
    const fetch = (() => Promise.resolve(new Response('<html>', { status: 404 }))) as typeof globalThis.fetch;
    await assert.rejects(new PlumbClient({ fetch }).status(), (error: unknown) =>
      error instanceof PlumbError && error.code === 'bad_response' && /not Plumb's API/.test(error.message));
  });

  it('gives up after the timeout, and reports a cancel as such', async () => {
    const hang = ((_input: unknown, init?: RequestInit) => new Promise<Response>((_resolve, reject) => {
      if (init?.signal?.aborted) {
        reject(init.signal.reason as Error);
      }
      init?.signal?.addEventListener('abort', () => reject(init.signal?.reason as Error));
    })) as typeof globalThis.fetch;
    // AbortSignal.timeout's timer does not keep Node alive; VS Code's host is alive anyway.
    const keepAlive = setTimeout(() => undefined, 5000);
    await assert.rejects(new PlumbClient({ fetch: hang }).validate([], { timeoutMs: 20 }),
      (error: unknown) => error instanceof PlumbError && error.code === 'timeout');
    clearTimeout(keepAlive);
    const abort = new AbortController();
    const pending = new PlumbClient({ fetch: hang }).validate([], { signal: abort.signal });
    abort.abort();
    await assert.rejects(pending, (error: unknown) => error instanceof PlumbError && error.code === 'cancelled');
  });
});
