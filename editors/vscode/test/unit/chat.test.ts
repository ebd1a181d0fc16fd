import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { ChatController, ToWebview, describeEvent, errorMessage, isFromWebview } from '../../src/chat';
import { PlumbClient, ServerNotRunningError, UnauthorizedError } from '../../src/client';
import { STATUS, fakeFetch } from '../helpers';

const OUTCOME = { outcome: 'flow', message: 'This flow ...', flow: [{ id: 'a', type: 'tab' }], findings: [] };

function chatServer(sessionStatus = 201) {
  return fakeFetch([
    { method: 'GET', path: '/status', body: STATUS },
    { method: 'POST', path: '/sessions', status: sessionStatus, body: { id: 's1', title: 't', created_at: '', updated_at: '', has_flow: false } },
    {
      method: 'POST', path: '/sessions/s1/messages', events: [
        { event: 'queued', data: { position: 2 } },
        { event: 'started', data: { model: 'fake' } },
        { event: 'step', data: { name: 'planning' } },
        { event: 'token', data: { text: 'return msg;' } },
        { event: 'result', data: { session_id: 's1', user_message: { id: 1, role: 'user', content: 'x', created_at: '' }, assistant_message: { id: 2, role: 'assistant', content: 'This flow ...', outcome: OUTCOME, created_at: '' } } },
        { event: 'done', data: {} },
      ],
    },
  ]);
}

describe('ChatController', () => {
  it('creates a session, streams progress and keeps the answer\'s flow', async () => {
    const { fetch, calls } = chatServer();
    const posted: ToWebview[] = [];
    const chat = new ChatController(() => Promise.resolve(new PlumbClient({ fetch })), (m) => posted.push(m));
    await chat.send('  every 5 s log hello  ');
    assert.deepEqual(posted, [
      { type: 'user', text: 'every 5 s log hello' },
      { type: 'busy', busy: true },
      { type: 'status', text: 'waiting for the model (2 ahead)' },
      { type: 'status', text: 'working (model fake)' },
      { type: 'status', text: 'planning' },
      { type: 'token', text: 'return msg;' },
      { type: 'answer', index: 0, outcome: OUTCOME },
      { type: 'busy', busy: false },
    ]);
    assert.equal(chat.session, 's1');
    assert.deepEqual(chat.flowOf(0), OUTCOME.flow);
    assert.equal(chat.flowOf(1), undefined);
    await chat.send('and now every 2 s');
    assert.deepEqual(calls.filter((c) => c.path === '/api/v1/sessions').length, 1, 'one session for the conversation');
    assert.deepEqual(calls.at(-1)?.body, { content: 'and now every 2 s', stream: true });
  });

  it('starts a new session from a flow after reset', async () => {
    const { fetch, calls } = chatServer();
    const posted: ToWebview[] = [];
    const chat = new ChatController(() => Promise.resolve(new PlumbClient({ fetch })), (m) => posted.push(m));
    chat.reset([{ id: 'x', type: 'tab' }], 'from the file');
    assert.deepEqual(posted[0], { type: 'reset', note: 'from the file' });
    await chat.send('poll every 2 s');
    assert.deepEqual(calls[0].body, { title: 'poll every 2 s', flow: [{ id: 'x', type: 'tab' }] });
  });

  it('posts errors with the button that helps', async () => {
    const { fetch } = fakeFetch([], { down: true });
    const posted: ToWebview[] = [];
    const chat = new ChatController(() => Promise.resolve(new PlumbClient({ fetch })), (m) => posted.push(m));
    await chat.send('x');
    const error = posted.find((m) => m.type === 'error');
    assert.ok(error && error.type === 'error');
    assert.equal(error.action, 'start-help');
    assert.equal(error.code, 'server_not_running');
    assert.equal(chat.busy, false);
  });

  it('maps errors to actions', () => {
    assert.equal(errorMessage(new UnauthorizedError('no', 401, false)).type, 'error');
    assert.deepEqual(errorMessage(new UnauthorizedError('no', 401, false)), { type: 'error', code: 'unauthorized', message: 'no', action: 'set-token' });
    assert.deepEqual(errorMessage(new ServerNotRunningError('down', 'ask serve')).type, 'error');
    assert.deepEqual(errorMessage(new Error('x')), { type: 'error', code: 'internal_error', message: 'x' });
  });

  it('accepts only well-formed messages from the webview', () => {
    assert.equal(isFromWebview({ type: 'send', text: 'x' }), true);
    assert.equal(isFromWebview({ type: 'send' }), false);
    assert.equal(isFromWebview({ type: 'openFlow', index: 0 }), true);
    assert.equal(isFromWebview({ type: 'action', action: 'rm -rf' }), false);
    assert.equal(isFromWebview('send'), false);
    assert.equal(describeEvent('token', {}), undefined);
    assert.equal(describeEvent('queued', { position: 0 }), 'waiting for the model');
  });
});
