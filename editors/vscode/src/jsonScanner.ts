/**
 * A small strict JSON parser that keeps where every value and key sits in the text, so a
 * validator finding about node "a1", property "wires" can be put on the right line.
 *
 * Offsets are indices into the JavaScript string (UTF-16 code units), which is what VS
 * Code's positions count too. No vscode import: unit-testable on its own.
 */

export type JsonValueType = 'object' | 'array' | 'string' | 'number' | 'boolean' | 'null';

export interface JsonNode {
  type: JsonValueType;
  /** Where the value starts (its first character: `{`, `[`, `"`, a digit, ...). */
  offset: number;
  /** How many characters it spans. */
  length: number;
  /** The value of a string, number, boolean or null. */
  value?: string | number | boolean | null;
  /** The elements of an array. */
  items?: JsonNode[];
  /** The members of an object, in the order written. */
  properties?: JsonProperty[];
}

export interface JsonProperty {
  key: string;
  /** Where the key's opening quote is. */
  keyOffset: number;
  /** The key's length including its quotes. */
  keyLength: number;
  value: JsonNode;
}

export class JsonSyntaxError extends Error {
  constructor(message: string, readonly offset: number) {
    super(message);
    this.name = 'JsonSyntaxError';
  }
}

const ESCAPES: Record<string, string> = {
  '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t',
};

/** Parse `text` as JSON (a leading byte-order mark is allowed). Throws JsonSyntaxError. */
export function parseTree(text: string): JsonNode {
  let pos = text.charCodeAt(0) === 0xfeff ? 1 : 0;

  const fail = (message: string, at = pos): never => {
    throw new JsonSyntaxError(message, Math.min(at, text.length));
  };

  const skipSpace = (): void => {
    while (pos < text.length) {
      const c = text[pos];
      if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
        pos++;
      } else {
        return;
      }
    }
  };

  const readString = (): string => {
    const start = pos;
    pos++; // opening quote
    let out = '';
    let chunkStart = pos;
    while (pos < text.length) {
      const c = text[pos];
      if (c === '"') {
        out += text.slice(chunkStart, pos);
        pos++;
        return out;
      }
      if (c === '\\') {
        out += text.slice(chunkStart, pos);
        const e = text[pos + 1];
        if (e === 'u') {
          const hex = text.slice(pos + 2, pos + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) {
            fail('invalid \\u escape in a string', pos);
          }
          out += String.fromCharCode(parseInt(hex, 16));
          pos += 6;
        } else if (e !== undefined && e in ESCAPES) {
          out += ESCAPES[e];
          pos += 2;
        } else {
          fail('invalid escape in a string', pos);
        }
        chunkStart = pos;
        continue;
      }
      if (c.charCodeAt(0) < 0x20) {
        fail(c === '\n' ? 'a string runs past the end of its line' : 'a control character in a string', pos);
      }
      pos++;
    }
    return fail('a string is not closed', start);
  };

  const readNumber = (): JsonNode => {
    const start = pos;
    const match = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(text.slice(pos, pos + 400));
    if (!match) {
      return fail(`unexpected character ${JSON.stringify(text[pos])}`);
    }
    pos += match[0].length;
    return { type: 'number', offset: start, length: match[0].length, value: Number(match[0]) };
  };

  const readWord = (word: string, value: boolean | null): JsonNode => {
    if (text.startsWith(word, pos)) {
      const node: JsonNode = {
        type: value === null ? 'null' : 'boolean', offset: pos, length: word.length, value,
      };
      pos += word.length;
      return node;
    }
    return fail(`unexpected character ${JSON.stringify(text[pos])}`);
  };

  const readValue = (depth: number): JsonNode => {
    if (depth > 512) {
      fail('the JSON nests too deeply');
    }
    skipSpace();
    if (pos >= text.length) {
      fail('the text ends where a value should be');
    }
    const c = text[pos];
    const start = pos;
    if (c === '{') {
      pos++;
      const properties: JsonProperty[] = [];
      skipSpace();
      if (text[pos] === '}') {
        pos++;
        return { type: 'object', offset: start, length: pos - start, properties };
      }
      for (;;) {
        skipSpace();
        if (text[pos] !== '"') {
          fail(pos >= text.length ? 'an object is not closed' : 'expected a property name in double quotes');
        }
        const keyOffset = pos;
        const key = readString();
        const keyLength = pos - keyOffset;
        skipSpace();
        if (text[pos] !== ':') {
          fail("expected ':' after a property name");
        }
        pos++;
        const value = readValue(depth + 1);
        properties.push({ key, keyOffset, keyLength, value });
        skipSpace();
        if (text[pos] === ',') {
          pos++;
          continue;
        }
        if (text[pos] === '}') {
          pos++;
          return { type: 'object', offset: start, length: pos - start, properties };
        }
        fail(pos >= text.length ? 'an object is not closed' : "expected ',' or '}' after a property");
      }
    }
    if (c === '[') {
      pos++;
      const items: JsonNode[] = [];
      skipSpace();
      if (text[pos] === ']') {
        pos++;
        return { type: 'array', offset: start, length: pos - start, items };
      }
      for (;;) {
        items.push(readValue(depth + 1));
        skipSpace();
        if (text[pos] === ',') {
          pos++;
          continue;
        }
        if (text[pos] === ']') {
          pos++;
          return { type: 'array', offset: start, length: pos - start, items };
        }
        fail(pos >= text.length ? 'an array is not closed' : "expected ',' or ']' after an element");
      }
    }
    if (c === '"') {
      const value = readString();
      return { type: 'string', offset: start, length: pos - start, value };
    }
    if (c === 't') {
      return readWord('true', true);
    }
    if (c === 'f') {
      return readWord('false', false);
    }
    if (c === 'n') {
      return readWord('null', null);
    }
    return readNumber();
  };

  const root = readValue(0);
  skipSpace();
  if (pos < text.length) {
    fail('unexpected text after the JSON value');
  }
  return root;
}

/** The member `key` of an object node, if any (the last one when a key repeats, as
 * JSON.parse does). */
export function propertyOf(node: JsonNode | undefined, key: string): JsonProperty | undefined {
  if (node?.type !== 'object' || !node.properties) {
    return undefined;
  }
  let found: JsonProperty | undefined;
  for (const property of node.properties) {
    if (property.key === key) {
      found = property;
    }
  }
  return found;
}

/** The plain JavaScript value of a node (what JSON.parse would give). */
export function valueOf(node: JsonNode): unknown {
  switch (node.type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      for (const property of node.properties ?? []) {
        out[property.key] = valueOf(property.value);
      }
      return out;
    }
    case 'array':
      return (node.items ?? []).map(valueOf);
    default:
      return node.value;
  }
}

/** Line and column (both from 0) of an offset; `\r\n`, `\n` and `\r` end lines. */
export interface TextPosition {
  line: number;
  character: number;
}

export class LineIndex {
  private readonly starts: number[] = [0];

  constructor(readonly text: string) {
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 13 /* \r */) {
        if (text.charCodeAt(i + 1) === 10) {
          i++;
        }
        this.starts.push(i + 1);
      } else if (c === 10 /* \n */) {
        this.starts.push(i + 1);
      }
    }
  }

  positionAt(offset: number): TextPosition {
    const at = Math.max(0, Math.min(offset, this.text.length));
    let low = 0;
    let high = this.starts.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if (this.starts[middle] <= at) {
        low = middle;
      } else {
        high = middle - 1;
      }
    }
    return { line: low, character: at - this.starts[low] };
  }

  offsetAt(position: TextPosition): number {
    if (position.line >= this.starts.length) {
      return this.text.length;
    }
    const line = Math.max(0, position.line);
    const next = line + 1 < this.starts.length ? this.starts[line + 1] : this.text.length;
    return Math.min(this.starts[line] + Math.max(0, position.character), next);
  }

  get lineCount(): number {
    return this.starts.length;
  }
}
