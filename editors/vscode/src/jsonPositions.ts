/**
 * Where things of a Node-RED flow are in its JSON text: a node by id, one of its
 * properties, the wire to a given id, the nodes a selection touches, the function nodes'
 * code. No vscode import.
 *
 * A flow file is either Node-RED's plain array of node objects (flows.json) or the
 * `{"rev": ..., "flows": [...]}` object its admin API speaks; both are understood.
 */

import { JsonNode, JsonProperty, JsonSyntaxError, parseTree, propertyOf, valueOf } from './jsonScanner';

export interface OffsetRange {
  start: number;
  end: number;
}

export interface FlowNodeInfo {
  /** The node's object in the text. */
  node: JsonNode;
  id: string | undefined;
  type: string | undefined;
  name: string | undefined;
}

/** A parsed flow text: the tree and the array that holds the nodes. */
export class FlowText {
  readonly tree: JsonNode;
  /** The array of node objects (the root, or the root's `flows`). */
  readonly array: JsonNode | undefined;

  constructor(readonly text: string) {
    this.tree = parseTree(text);
    this.array = flowArrayOf(this.tree);
  }

  /** Parse, or undefined when the text is not JSON. */
  static tryParse(text: string): FlowText | undefined {
    try {
      return new FlowText(text);
    } catch (error) {
      if (error instanceof JsonSyntaxError) {
        return undefined;
      }
      throw error;
    }
  }

  /** The flow as plain values: the node array (what the API's `flow` takes). */
  flowValue(): unknown[] {
    return this.array ? (valueOf(this.array) as unknown[]) : [];
  }

  /** Every element of the node array that is an object, in order. */
  nodes(): FlowNodeInfo[] {
    const out: FlowNodeInfo[] = [];
    for (const item of this.array?.items ?? []) {
      if (item.type !== 'object') {
        continue;
      }
      out.push({
        node: item,
        id: stringOf(propertyOf(item, 'id')),
        type: stringOf(propertyOf(item, 'type')),
        name: stringOf(propertyOf(item, 'name')) || undefined,
      });
    }
    return out;
  }

  /** The node objects with this id (more than one when ids repeat). */
  nodesWithId(id: string): FlowNodeInfo[] {
    return this.nodes().filter((n) => n.id === id);
  }

  /** Whether this looks like a Node-RED flow: an array (or `{flows: [...]}`) whose
   * elements are objects with string `id` and `type`. An empty array counts only
   * when `allowEmpty`. */
  looksLikeFlow(allowEmpty = false): boolean {
    if (!this.array?.items) {
      return false;
    }
    if (this.array.items.length === 0) {
      return allowEmpty;
    }
    const sample = this.array.items.slice(0, 20);
    return sample.every((item) => {
      if (item.type !== 'object') {
        return false;
      }
      return stringOf(propertyOf(item, 'id')) !== undefined
        && stringOf(propertyOf(item, 'type')) !== undefined;
    });
  }

  /** The ids of the nodes a selection [start, end) overlaps (a caret inside a node
   * counts as that node). */
  nodeIdsInRange(start: number, end: number): string[] {
    const ids: string[] = [];
    for (const info of this.nodes()) {
      const nodeStart = info.node.offset;
      const nodeEnd = info.node.offset + info.node.length;
      const overlaps = start === end
        ? start > nodeStart && start < nodeEnd
        : start < nodeEnd && end > nodeStart;
      if (overlaps && info.id !== undefined && !ids.includes(info.id)) {
        ids.push(info.id);
      }
    }
    return ids;
  }

  /** The node a finding concerns and the place to mark: see rangeOfFinding. */
  rangeOf(nodeId: string | null | undefined, property?: string | null, message?: string,
          code?: string): { range: OffsetRange; node?: FlowNodeInfo } {
    return rangeOfFinding(this, nodeId, property, message, code);
  }
}

function stringOf(property: JsonProperty | undefined): string | undefined {
  return property?.value.type === 'string' ? (property.value.value as string) : undefined;
}

function flowArrayOf(tree: JsonNode): JsonNode | undefined {
  if (tree.type === 'array') {
    return tree;
  }
  const flows = propertyOf(tree, 'flows');
  return flows?.value.type === 'array' ? flows.value : undefined;
}

/** Longest span a mark covers before it is cut down to the key alone. */
const MAX_MARK = 160;

/** Where to mark a property: its key and value when the value is short and on one line,
 * else the key alone. */
export function propertyRange(text: string, property: JsonProperty): OffsetRange {
  const end = property.value.offset + property.value.length;
  const span = text.slice(property.keyOffset, end);
  if (span.length <= MAX_MARK && !/[\r\n]/.test(span)) {
    return { start: property.keyOffset, end };
  }
  return { start: property.keyOffset, end: property.keyOffset + property.keyLength };
}

/**
 * Resolve a path such as `wires`, `rules[0].t` or `props.0.p` inside a node object.
 * Returns the deepest member found (so `rules[7].t` on a shorter list still lands on
 * `rules`).
 */
export function resolvePath(node: JsonNode, path: string): JsonProperty | undefined {
  const parts = path.split(/\.|\[(\d+)\]/).filter((p) => p !== undefined && p !== '');
  let current: JsonNode | undefined = node;
  let found: JsonProperty | undefined;
  for (const part of parts) {
    if (!current) {
      break;
    }
    if (current.type === 'object') {
      const next = propertyOf(current, part);
      if (!next) {
        break;
      }
      found = next;
      current = next.value;
    } else if (current.type === 'array' && /^\d+$/.test(part)) {
      const item: JsonNode | undefined = current.items?.[Number(part)];
      if (!item) {
        break;
      }
      // An array element has no key: mark the element itself.
      found = { key: part, keyOffset: item.offset, keyLength: item.length, value: item };
      current = item;
    } else {
      break;
    }
  }
  return found;
}

/** Strings quoted 'like this' in a validator message (the ids it names). */
function quotedInMessage(message: string | undefined): string[] {
  if (!message) {
    return [];
  }
  return Array.from(message.matchAll(/'([^']+)'/g), (m) => m[1]);
}

/** A string element somewhere inside `value` that equals one of `wanted`. */
function findStringIn(value: JsonNode, wanted: string[]): JsonNode | undefined {
  if (value.type === 'string' && wanted.includes(value.value as string)) {
    return value;
  }
  for (const item of value.items ?? []) {
    const hit = findStringIn(item, wanted);
    if (hit) {
      return hit;
    }
  }
  return undefined;
}

/**
 * Where a validator finding belongs in the text:
 * - no node, or a node id not in the text: the start of the node array (or the text);
 * - a property the node has: that property (for `wires`/`links`/`scope` naming a missing
 *   id in the message: the very string that names it);
 * - a property the node lacks (e.g. `x` for "has no x/y position"): the node's `"id"`;
 * - no property: the node's `"id"`.
 * For `duplicate-id` the second and later nodes with the id are marked.
 */
export function rangeOfFinding(flow: FlowText, nodeId: string | null | undefined,
                               property?: string | null, message?: string,
                               code?: string): { range: OffsetRange; node?: FlowNodeInfo } {
  const fallbackAt = flow.array?.offset ?? flow.tree.offset;
  const fallback = { range: { start: fallbackAt, end: fallbackAt + 1 } };
  if (nodeId === null || nodeId === undefined) {
    return fallback;
  }
  const candidates = flow.nodesWithId(nodeId);
  if (candidates.length === 0) {
    return fallback;
  }
  const info = code === 'duplicate-id' && candidates.length > 1 ? candidates[1] : candidates[0];
  if (property) {
    const found = resolvePath(info.node, property);
    if (found) {
      const named = quotedInMessage(message);
      if (named.length > 0 && (found.value.type === 'array' || found.value.type === 'object')) {
        const hit = findStringIn(found.value, named);
        if (hit) {
          return { range: { start: hit.offset, end: hit.offset + hit.length }, node: info };
        }
      }
      return { range: propertyRange(flow.text, found), node: info };
    }
  }
  const idProperty = propertyOf(info.node, 'id');
  if (idProperty) {
    return { range: propertyRange(flow.text, idProperty), node: info };
  }
  return { range: { start: info.node.offset, end: info.node.offset + 1 }, node: info };
}

/** A function node's code property (`func`, `initialize`, `finalize`) as written. */
export interface CodeProperty {
  nodeId: string;
  nodeName: string | undefined;
  property: string;
  code: string;
  /** The property's key and value. */
  keyOffset: number;
  valueOffset: number;
  valueLength: number;
}

/** The `func` (or other string) properties of every node that has one. */
export function codeProperties(flow: FlowText, names: readonly string[] = ['func']): CodeProperty[] {
  const out: CodeProperty[] = [];
  for (const info of flow.nodes()) {
    if (info.id === undefined) {
      continue;
    }
    for (const name of names) {
      const property = propertyOf(info.node, name);
      if (property?.value.type !== 'string') {
        continue;
      }
      out.push({
        nodeId: info.id,
        nodeName: info.name,
        property: name,
        code: property.value.value as string,
        keyOffset: property.keyOffset,
        valueOffset: property.value.offset,
        valueLength: property.value.length,
      });
    }
  }
  return out;
}

/** A text replacement. */
export interface TextEdit {
  start: number;
  end: number;
  newText: string;
}

/**
 * The edit that sets string property `property` of node `nodeId` to `value`, keeping
 * the rest of the text as it is. Adds the property after `"type"` when the node lacks
 * it. Throws when the node is not in the text.
 */
export function setStringProperty(text: string, nodeId: string, property: string,
                                  value: string): TextEdit {
  const flow = new FlowText(text);
  const info = flow.nodesWithId(nodeId)[0];
  if (!info) {
    throw new Error(`no node with id ${JSON.stringify(nodeId)} in this flow`);
  }
  const encoded = JSON.stringify(value);
  const existing = propertyOf(info.node, property);
  if (existing) {
    return {
      start: existing.value.offset,
      end: existing.value.offset + existing.value.length,
      newText: encoded,
    };
  }
  const after = propertyOf(info.node, 'type') ?? propertyOf(info.node, 'id');
  if (!after) {
    throw new Error(`node ${JSON.stringify(nodeId)} has no "id" or "type" to place "${property}" after`);
  }
  const at = after.value.offset + after.value.length;
  return { start: at, end: at, newText: `, ${JSON.stringify(property)}: ${encoded}` };
}

/** Apply an edit to a text. */
export function applyEdit(text: string, edit: TextEdit): string {
  return text.slice(0, edit.start) + edit.newText + text.slice(edit.end);
}
