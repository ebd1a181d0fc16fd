// The extension's API client against a real `ask serve --model fake`, started here:
// generate, edit, explain, validate findings placed on lines, streaming, chat sessions,
// token auth, and a server that is not running.

import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ChatController, ToWebview } from '../../src/chat';
import {
  Outcome, PlumbClient, PlumbError, ServerNotRunningError, StreamEvent, UnauthorizedError,
} from '../../src/client';
import { formatNewFlow } from '../../src/flowFormat';
import { functionRequest, pickFunctionCode } from '../../src/functionCode';
import { FlowText } from '../../src/jsonPositions';
import { problemsFromFindings } from '../../src/problems';
import { BROKEN_FLOW_TEXT, lineOf } from '../helpers';
import { PlumbServer, addUserWithToken, askPath, freePort } from './server';

const ask = askPath();
if (!ask && process.env.PLUMB_REQUIRE_ASK) {
  throw new Error(`PLUMB_REQUIRE_ASK is set but there is no \`ask\` at PLUMB_ASK=${process.env.PLUMB_ASK ?? ''}`);
}
const skip = ask ? false : 'no `ask` found: set PLUMB_ASK or make the repository\'s .venv (scripts/setup.sh)';
const REQUEST = 'every 5 seconds read a temperature over mqtt topic sensors/temp and log it to debug';

describe('the API client against ask serve', { skip, timeout: 300_000 }, () => {
  let local: PlumbServer;
  let secured: PlumbServer;
  let token: string;
  let client: PlumbClient;
  const dirs: string[] = [];

  before(async () => {
    const securedDir = fs.mkdtempSync(path.join(os.tmpdir(), 'plumb-vscode-it-'));
    dirs.push(securedDir);
    const starting = PlumbServer.start(ask as string);
    token = await addUserWithToken(ask as string, securedDir, 'vscode');
    [local, secured] = await Promise.all([
      starting, PlumbServer.start(ask as string, { auth: 'token', dataDir: securedDir }),
    ]);
    dirs.push(local.dataDir);
    client = new PlumbClient({ serverUrl: local.url, timeoutMs: 60_000 });
  }, { timeout: 240_000 });

  after(async () => {
    await Promise.all([local?.stop(), secured?.stop()]);
    for (const dir of dirs) {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads the status', async () => {
    const status = await client.status();
    assert.equal(status.status, 'ok');
    assert.equal(status.auth, 'local');
    assert.equal(status.model, 'fake');
    const models = await client.models();
    assert.equal(models.serving, 'fake');
  });

  it('generates a flow (one JSON answer)', async () => {
    const outcome = await client.generate(REQUEST);
    assert.equal(outcome.outcome, 'flow', outcome.message);
    assert.ok(outcome.flow && outcome.flow.length > 2);
    const types = outcome.flow.map((n) => n.type);
    assert.ok(types.includes('inject') && types.includes('mqtt out'), types.join(','));
    assert.match(outcome.message, /every 5 s/);
    // What "Generate" opens: a document the diagnostics can place findings in.
    const text = formatNewFlow(outcome.flow);
    assert.equal(new FlowText(text).looksLikeFlow(), true);
  });

  it('streams a generation: queued/started, steps, tokens, result, done', async () => {
    const events: StreamEvent[] = [];
    const outcome = await client.generate(REQUEST, { onEvent: (e) => events.push(e) });
    const names = events.map((e) => e.event);
    assert.equal(outcome.outcome, 'flow');
    assert.equal(names.at(-1), 'done');
    assert.equal(names.at(-2), 'result');
    assert.ok(names.includes('started'), names.join(' '));
    assert.ok(names.includes('step'), names.join(' '));
    assert.ok(names.indexOf('started') < names.indexOf('step'));
    const tokens = events.filter((e) => e.event === 'token').map((e) => e.data.text as string).join('');
    assert.match(tokens, /return msg;/, 'the fake model streams its pass-through code');
    const steps = events.filter((e) => e.event === 'step').map((e) => e.data.name);
    assert.ok(steps.includes('planning'), steps.join(','));
    assert.deepEqual(events.find((e) => e.event === 'result')?.data, outcome as unknown as Record<string, unknown>);
  });

  it('streams a question when the request is too vague', async () => {
    const outcome = await client.generate('every 5 seconds log hello', { onEvent: () => undefined });
    assert.equal(outcome.outcome, 'clarify');
    assert.ok((outcome.choices ?? []).length > 0);
  });

  it('edits a flow, keeping ids, streamed', async () => {
    const base = await client.generate(REQUEST);
    const events: string[] = [];
    const edited = await client.edit(base.flow ?? [], 'poll every 2 s instead', { onEvent: (e) => events.push(e.event) });
    assert.equal(edited.outcome, 'flow', edited.message);
    assert.ok((edited.changes ?? []).some((c) => /repeat: 5 -> 2/.test(c)), (edited.changes ?? []).join('; '));
    assert.deepEqual(edited.flow?.map((n) => n.id).sort(), base.flow?.map((n) => n.id).sort());
    assert.equal(events.at(-1), 'done');
  });

  it('explains a flow, or the selected nodes', async () => {
    const flow = new FlowText(BROKEN_FLOW_TEXT).flowValue();
    const whole = await client.explain(flow);
    assert.equal(whole.summary_by, 'deterministic');
    assert.match(whole.text, /Summary/);
    const some = await client.explain(flow, { nodeIds: ['inj1'] });
    assert.ok(some.summary.length > 0);
    assert.notEqual(some.text, whole.text);
    await assert.rejects(client.explain(flow, { nodeIds: ['nope'] }), (error: unknown) => {
      assert.ok(error instanceof PlumbError);
      assert.equal(error.code, 'invalid_request');
      assert.equal(error.status, 422);
      assert.match(error.message, /no node with id 'nope'/);
      return true;
    });
  });

  it('validates a broken flow and the findings land on the right lines', async () => {
    const flow = new FlowText(BROKEN_FLOW_TEXT).flowValue();
    const report = await client.validate(flow);
    assert.equal(report.valid, false);
    const problems = problemsFromFindings(BROKEN_FLOW_TEXT, report.findings);
    const line = (code: string, nodeId: string): number[] =>
      problems.filter((p) => p.code === code && p.nodeId === nodeId).map((p) => p.start.line);
    assert.deepEqual(line('unknown-type', 'odd1'), [lineOf(BROKEN_FLOW_TEXT, '"no-such-node"')]);
    assert.deepEqual(line('wire-target-missing', 'inj1'), [lineOf(BROKEN_FLOW_TEXT, '"ghost"')]);
    assert.deepEqual(line('property-format', 'fn1'), [lineOf(BROKEN_FLOW_TEXT, '"outputs"')]);
    // fn1 has no x/y: the validator names property x, which the node lacks: its "id" line.
    assert.deepEqual(line('position-missing', 'fn1'), [lineOf(BROKEN_FLOW_TEXT, '"id": "fn1"')]);
    const unknown = problems.find((p) => p.code === 'unknown-type');
    assert.ok(unknown?.hint, 'the validator\'s hint comes along');
    assert.match(unknown.message, /\(hint: /);
    for (const problem of problems) {
      assert.ok(['error', 'warning', 'info'].includes(problem.severity));
    }
  });

  it('validates anything, saying what is wrong', async () => {
    const report = await client.validate({ not: 'a flow' });
    assert.equal(report.valid, false);
    assert.deepEqual(report.findings.map((f) => f.code), ['flow-not-array']);
  });

  it('writes function code through a generated flow', async () => {
    const outcome: Outcome = await client.generate(functionRequest('convert msg.payload from celsius to fahrenheit'));
    assert.equal(outcome.outcome, 'flow', outcome.message);
    assert.match(pickFunctionCode(outcome) ?? '', /return msg;/);
  });

  it('chats in a session, streamed', async () => {
    const posted: ToWebview[] = [];
    const chat = new ChatController(() => Promise.resolve(client), (m) => posted.push(m));
    await chat.send(REQUEST);
    await chat.send('poll every 2 s instead');
    const answers = posted.filter((m): m is Extract<ToWebview, { type: 'answer' }> => m.type === 'answer');
    assert.equal(answers.length, 2, JSON.stringify(posted.filter((m) => m.type === 'error')));
    assert.equal(answers[0].outcome.outcome, 'flow');
    assert.ok((answers[1].outcome.changes ?? []).some((c) => /repeat: 5 -> 2/.test(c)));
    assert.ok(posted.some((m) => m.type === 'status' && m.text === 'planning'));
    const session = await client.getSession(chat.session as string);
    assert.equal(session.messages?.length, 4);
  });

  it('refuses without a token, and with a wrong one, on a token-mode server', async () => {
    const anonymous = new PlumbClient({ serverUrl: secured.url });
    assert.equal((await anonymous.status()).auth, 'token', 'status needs no token');
    await assert.rejects(anonymous.validate([]), (error: unknown) => {
      assert.ok(error instanceof UnauthorizedError, String(error));
      assert.equal(error.status, 401);
      assert.equal(error.hadToken, false);
      assert.match(error.message, /needs a token.*Plumb: Set server token/);
      return true;
    });
    const wrong = new PlumbClient({ serverUrl: secured.url, token: 'plumb_u_not-a-real-token' });
    await assert.rejects(wrong.generate(REQUEST, { onEvent: () => undefined }), (error: unknown) => {
      assert.ok(error instanceof UnauthorizedError, String(error));
      assert.equal(error.hadToken, true);
      assert.match(error.message, /refused the token/);
      return true;
    });
  });

  it('works with a fleet user\'s token', async () => {
    const signedIn = new PlumbClient({ serverUrl: secured.url, token: async () => Promise.resolve(token) });
    const report = await signedIn.validate(new FlowText(BROKEN_FLOW_TEXT).flowValue());
    assert.equal(report.valid, false);
    const outcome = await signedIn.generate(REQUEST, { onEvent: () => undefined });
    assert.equal(outcome.outcome, 'flow');
  });

  it('says the server is not running, and how to start it', async () => {
    const port = await freePort();
    const down = new PlumbClient({ serverUrl: `http://127.0.0.1:${port}`, model: 'fake' });
    for (const call of [() => down.status(), () => down.generate(REQUEST, { onEvent: () => undefined })]) {
      await assert.rejects(call(), (error: unknown) => {
        assert.ok(error instanceof ServerNotRunningError, String(error));
        assert.equal(error.code, 'server_not_running');
        assert.match(error.message, new RegExp(`not running at http://127\\.0\\.0\\.1:${port}`));
        assert.match(error.message, new RegExp(`\`ask serve --port ${port} --model fake\``));
        return true;
      });
    }
  });
});
