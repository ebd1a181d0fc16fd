import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { Finding } from '../../src/client';
import { describeNode, problemsFromFindings, syntaxProblem } from '../../src/problems';
import { BROKEN_FLOW_TEXT, lineOf } from '../helpers';

// What the real validator says about BROKEN_FLOW_TEXT (see the integration test).
const FINDINGS: Finding[] = [
  { severity: 'error', code: 'unknown-type', message: "unknown node type 'no-such-node'", hint: 'install the node package that provides it', node_id: 'odd1', property: 'type' },
  { severity: 'error', code: 'wire-target-missing', message: "output 1 is wired to 'ghost', which no node has", hint: 'remove the wire or add the missing node', node_id: 'inj1', property: 'wires' },
  { severity: 'warning', code: 'position-missing', message: 'has no x/y position', hint: null, node_id: 'fn1', property: 'x' },
  { severity: 'info', code: 'something', message: 'about the flow', node_id: null, property: null },
];

describe('problemsFromFindings', () => {
  const problems = problemsFromFindings(BROKEN_FLOW_TEXT, FINDINGS);

  it('puts each finding on its line', () => {
    assert.deepEqual(problems.map((p) => p.start.line), [
      lineOf(BROKEN_FLOW_TEXT, '"no-such-node"'),
      lineOf(BROKEN_FLOW_TEXT, '"ghost"'),
      lineOf(BROKEN_FLOW_TEXT, '"id": "fn1"'),
      0,
    ]);
  });

  it('keeps codes and severities, and says which node with the hint', () => {
    assert.deepEqual(problems.map((p) => [p.code, p.severity]), [
      ['unknown-type', 'error'], ['wire-target-missing', 'error'], ['position-missing', 'warning'], ['something', 'info'],
    ]);
    assert.equal(problems[0].message,
      "no-such-node odd1: unknown node type 'no-such-node' (hint: install the node package that provides it)");
    assert.equal(problems[2].message, 'function "double": has no x/y position');
    assert.equal(problems[3].message, 'about the flow');
    assert.equal(problems[1].nodeId, 'inj1');
    assert.equal(problems[1].property, 'wires');
  });

  it('marks columns too', () => {
    const line = BROKEN_FLOW_TEXT.split('\n')[problems[0].start.line];
    assert.equal(line.slice(problems[0].start.character, problems[0].end.character), '"type": "no-such-node"');
  });

  it('still reports findings when the text is not JSON any more', () => {
    const [problem] = problemsFromFindings('[{', [FINDINGS[0]]);
    assert.equal(problem.start.line, 0);
    assert.match(problem.message, /^node odd1: /);
  });

  it('names nodes as the CLI does', () => {
    assert.equal(describeNode('inject', 'tick', 'a'), 'inject "tick"');
    assert.equal(describeNode('inject', undefined, 'a'), 'inject a');
    assert.equal(describeNode(undefined, undefined, undefined), 'node');
  });
});

describe('syntaxProblem', () => {
  it('is undefined for JSON and points at the error otherwise', () => {
    assert.equal(syntaxProblem('[]'), undefined);
    const problem = syntaxProblem('[\n  {"id": "a",}\n]');
    assert.ok(problem);
    assert.equal(problem.code, 'json-syntax');
    assert.equal(problem.severity, 'error');
    assert.deepEqual(problem.start, { line: 1, character: 13 }); // the '}' after the comma
  });
});
