import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { FlowText, applyEdit, codeProperties, resolvePath, setStringProperty } from '../../src/jsonPositions';
import { LineIndex } from '../../src/jsonScanner';
import { BROKEN_FLOW_TEXT, lineOf } from '../helpers';

function lineAt(text: string, offset: number): number {
  return new LineIndex(text).positionAt(offset).line;
}

describe('FlowText', () => {
  const flow = new FlowText(BROKEN_FLOW_TEXT);

  it('lists the nodes with id, type and name', () => {
    assert.deepEqual(flow.nodes().map((n) => [n.id, n.type, n.name]), [
      ['tab1', 'tab', undefined], ['inj1', 'inject', 'tick'], ['odd1', 'no-such-node', undefined],
      ['fn1', 'function', 'double'],
    ]);
    assert.equal(flow.flowValue().length, 4);
  });

  it('knows a flow from other JSON', () => {
    assert.equal(flow.looksLikeFlow(), true);
    assert.equal(new FlowText('{"name": "pkg", "version": "1"}').looksLikeFlow(), false);
    assert.equal(new FlowText('[1, 2]').looksLikeFlow(), false);
    assert.equal(new FlowText('[]').looksLikeFlow(), false);
    assert.equal(new FlowText('[]').looksLikeFlow(true), true);
    assert.equal(new FlowText('{"rev": "abc", "flows": [{"id": "a", "type": "tab"}]}').looksLikeFlow(), true);
    assert.equal(FlowText.tryParse('[{'), undefined);
  });

  it('puts a property finding on the property', () => {
    const { range } = flow.rangeOf('fn1', 'outputs', "outputs is 'x', which is not a number");
    assert.equal(lineAt(flow.text, range.start), lineOf(flow.text, '"outputs"'));
    assert.equal(flow.text.slice(range.start, range.end), '"outputs": "x"');
  });

  it('puts a missing wire target on the string that names it', () => {
    const { range } = flow.rangeOf('inj1', 'wires', "output 1 is wired to 'ghost', which no node has");
    assert.equal(flow.text.slice(range.start, range.end), '"ghost"');
    assert.equal(lineAt(flow.text, range.start), lineOf(flow.text, '"ghost"'));
  });

  it('puts a finding without property, or with one the node lacks, on the node id', () => {
    const none = flow.rangeOf('odd1', null);
    assert.equal(flow.text.slice(none.range.start, none.range.end), '"id": "odd1"');
    const lacking = flow.rangeOf('fn1', 'x', 'has no x/y position');
    assert.equal(lineAt(flow.text, lacking.range.start), lineOf(flow.text, '"id": "fn1"'));
    assert.equal(lacking.node?.name, 'double');
  });

  it('puts a finding about no node, or an unknown node, at the start of the array', () => {
    assert.deepEqual(flow.rangeOf(null).range, { start: 0, end: 1 });
    assert.deepEqual(flow.rangeOf('nope', 'wires').range, { start: 0, end: 1 });
  });

  it('marks the second node of a duplicate id', () => {
    const text = '[\n{"id": "a", "type": "tab"},\n{"id": "a", "type": "tab"}\n]';
    const { range } = new FlowText(text).rangeOf('a', 'id', 'duplicate', 'duplicate-id');
    assert.equal(lineAt(text, range.start), 2);
  });

  it('marks only the key of a long or multi-line property', () => {
    const { range } = flow.rangeOf('inj1', 'wires', 'wires is odd');
    assert.equal(flow.text.slice(range.start, range.end), '"wires"');
  });

  it('finds the nodes a selection touches', () => {
    const text = flow.text;
    const start = text.indexOf('"tick"');
    const end = text.indexOf('"no-such-node"');
    assert.deepEqual(flow.nodeIdsInRange(start, end), ['inj1', 'odd1']);
    assert.deepEqual(flow.nodeIdsInRange(start, start), ['inj1']);
    assert.deepEqual(flow.nodeIdsInRange(0, 1), []);
  });

  it('resolves nested property paths', () => {
    const node = new FlowText('[{"id":"s","type":"switch","rules":[{"t":"eq"},{"t":"gt"}]}]').nodes()[0].node;
    assert.equal(resolvePath(node, 'rules[1].t')?.value.value, 'gt');
    assert.equal(resolvePath(node, 'rules.0.t')?.value.value, 'eq');
    assert.equal(resolvePath(node, 'rules[9].t')?.key, 'rules');
    assert.equal(resolvePath(node, 'nope'), undefined);
  });
});

describe('function code in the text', () => {
  it('finds each func property', () => {
    const found = codeProperties(new FlowText(BROKEN_FLOW_TEXT));
    assert.equal(found.length, 1);
    assert.equal(found[0].nodeId, 'fn1');
    assert.equal(found[0].code, 'msg.payload = msg.payload * 2;\nreturn msg;');
    assert.equal(lineAt(BROKEN_FLOW_TEXT, found[0].keyOffset), lineOf(BROKEN_FLOW_TEXT, '"func"'));
  });

  it('writes code back as a JSON string, leaving the rest alone', () => {
    const code = 'const t = "a\\b";\nreturn [msg, null];\t// é';
    const edited = applyEdit(BROKEN_FLOW_TEXT, setStringProperty(BROKEN_FLOW_TEXT, 'fn1', 'func', code));
    const parsed = JSON.parse(edited) as Record<string, unknown>[];
    assert.equal(parsed[3].func, code);
    assert.equal(edited.split('\n').length, BROKEN_FLOW_TEXT.split('\n').length);
    const original = JSON.parse(BROKEN_FLOW_TEXT) as Record<string, unknown>[];
    assert.deepEqual(parsed.slice(0, 3), original.slice(0, 3));
  });

  it('adds the property when the node lacks it', () => {
    const text = '[{"id": "f", "type": "function"}]';
    const edited = applyEdit(text, setStringProperty(text, 'f', 'func', 'return msg;'));
    assert.deepEqual(JSON.parse(edited), [{ id: 'f', type: 'function', func: 'return msg;' }]);
    assert.throws(() => setStringProperty(text, 'zz', 'func', ''), /no node with id "zz"/);
  });
});
