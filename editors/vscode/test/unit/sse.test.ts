import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { SseMessage, SseParser } from '../../src/sse';

function feed(chunks: string[]): SseMessage[] {
  const parser = new SseParser();
  return chunks.flatMap((chunk) => parser.push(chunk));
}

describe('SseParser', () => {
  const stream = 'event: started\ndata: {"model":"fake"}\n\n: still working\n\n'
    + 'event: token\ndata: {"text":"a b"}\n\nevent: done\ndata: {}\n\n';
  const expected = [
    { event: 'started', data: '{"model":"fake"}' },
    { event: 'token', data: '{"text":"a b"}' },
    { event: 'done', data: '{}' },
  ];

  it('parses whole events and skips comments', () => {
    assert.deepEqual(feed([stream]), expected);
  });

  it('gives the same events whatever the chunk boundaries', () => {
    for (let size = 1; size < 12; size++) {
      const chunks: string[] = [];
      for (let i = 0; i < stream.length; i += size) {
        chunks.push(stream.slice(i, i + size));
      }
      assert.deepEqual(feed(chunks), expected, `chunks of ${size}`);
    }
  });

  it('understands CRLF and CR line endings, split or not', () => {
    const crlf = stream.replace(/\n/g, '\r\n');
    assert.deepEqual(feed([crlf]), expected);
    assert.deepEqual(feed(crlf.split('')), expected);
    assert.deepEqual(feed([stream.replace(/\n/g, '\r')]), expected);
  });

  it('joins data lines and defaults the event name', () => {
    assert.deepEqual(feed(['data: one\ndata:two\n\n']), [{ event: 'message', data: 'one\ntwo' }]);
  });

  it('drops an event the stream cuts off', () => {
    const parser = new SseParser();
    assert.deepEqual(parser.push('event: result\ndata: {"x"'), []);
    assert.deepEqual(parser.end(), []);
  });
});
