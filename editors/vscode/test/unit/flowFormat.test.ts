import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { detectIndent, formatFlowLike, formatNewFlow } from '../../src/flowFormat';

const FLOW = [{ id: 'a', type: 'tab' }];

describe('formatting a flow like its file', () => {
  it('detects the indentation', () => {
    assert.equal(detectIndent('[{"id":"a"}]'), 0);
    assert.equal(detectIndent('[\n  {\n'), 2);
    assert.equal(detectIndent('[\n    {\n'), 4);
    assert.equal(detectIndent('[\n\t{\n'), '\t');
  });

  it('keeps indentation, line endings and the final newline', () => {
    assert.equal(formatFlowLike('[{"id":"b"}]', FLOW), '[{"id":"a","type":"tab"}]');
    assert.equal(formatFlowLike('[\n  {"id": "b"}\n]\n', FLOW), JSON.stringify(FLOW, null, 2) + '\n');
    assert.equal(formatFlowLike('[\r\n    {"id": "b"}\r\n]', FLOW), JSON.stringify(FLOW, null, 4).replace(/\n/g, '\r\n'));
  });

  it('keeps the other keys of the admin API\'s {rev, flows} shape', () => {
    const text = '{"rev": "abc", "flows": [{"id": "b", "type": "tab"}]}';
    assert.deepEqual(JSON.parse(formatFlowLike(text, FLOW)), { rev: 'abc', flows: FLOW });
  });

  it('writes new flows with 4 spaces and a final newline', () => {
    assert.equal(formatNewFlow(FLOW), JSON.stringify(FLOW, null, 4) + '\n');
    assert.equal(formatFlowLike('', FLOW), JSON.stringify(FLOW, null, 4) + '\n');
  });
});
