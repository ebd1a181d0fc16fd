import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { JsonSyntaxError, LineIndex, parseTree, propertyOf, valueOf } from '../../src/jsonScanner';

describe('parseTree', () => {
  it('gives the same values as JSON.parse', () => {
    const samples = [
      '[]', '{}', '0', '-1.5e3', 'true', 'null', '"a\\"b\\\\c\\u00e9\\n"',
      '[{"id":"a","wires":[["b","c"]],"x":1.25,"on":false,"n":null}]',
      '{"rev":"1","flows":[{"id":"x","type":"tab"}]}',
      ' \r\n [ 1 , 2 ]\n',
    ];
    for (const text of samples) {
      assert.deepEqual(valueOf(parseTree(text)), JSON.parse(text), text);
    }
  });

  it('keeps offsets of values and keys', () => {
    const text = '[{"id": "n1", "type": "debug"}]';
    const root = parseTree(text);
    const node = root.items?.[0];
    assert.ok(node);
    assert.equal(text.slice(node.offset, node.offset + node.length), '{"id": "n1", "type": "debug"}');
    const type = propertyOf(node, 'type');
    assert.ok(type);
    assert.equal(text.slice(type.keyOffset, type.keyOffset + type.keyLength), '"type"');
    assert.equal(text.slice(type.value.offset, type.value.offset + type.value.length), '"debug"');
  });

  it('allows a byte-order mark', () => {
    assert.deepEqual(valueOf(parseTree('\uFEFF[1]')), [1]);
  });

  it('reports where the text stops being JSON', () => {
    const cases: [string, number][] = [
      ['[1,]', 3], ['{"a" 1}', 5], ['[1 2]', 3], ['{"a":1', 6], ["{'a':1}", 1],
      ['"abc', 0], ['[1] x', 4], ['', 0], ['[tru]', 1],
    ];
    for (const [text, offset] of cases) {
      assert.throws(() => parseTree(text), (error: unknown) => {
        assert.ok(error instanceof JsonSyntaxError, text);
        assert.equal(error.offset, offset, `${text}: ${error.message}`);
        return true;
      });
    }
  });

  it('takes the last of repeated keys, as JSON.parse does', () => {
    const root = parseTree('{"a":1,"a":2}');
    assert.equal(propertyOf(root, 'a')?.value.value, 2);
  });
});

describe('LineIndex', () => {
  it('maps offsets to lines and columns with any line ending', () => {
    const text = 'ab\ncd\r\nef\rgh';
    const index = new LineIndex(text);
    assert.equal(index.lineCount, 4);
    assert.deepEqual(index.positionAt(0), { line: 0, character: 0 });
    assert.deepEqual(index.positionAt(text.indexOf('d')), { line: 1, character: 1 });
    assert.deepEqual(index.positionAt(text.indexOf('e')), { line: 2, character: 0 });
    assert.deepEqual(index.positionAt(text.indexOf('h')), { line: 3, character: 1 });
    assert.deepEqual(index.positionAt(999), { line: 3, character: 2 });
    assert.equal(index.offsetAt({ line: 2, character: 1 }), text.indexOf('f'));
  });
});
