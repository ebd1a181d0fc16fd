/**
 * Function nodes' code: the address of a node's code as a JavaScript document of its own,
 * and code generated from a description. No vscode import.
 */

import { Outcome } from './client';

/** The scheme of the JavaScript documents that stand for a function node's code. */
export const FUNCTION_SCHEME = 'plumb-func';

export interface FunctionTarget {
  /** The flow document's URI, as text. */
  flowUri: string;
  nodeId: string;
  /** `func` (or `initialize` / `finalize`). */
  property: string;
}

/** The path and query of the JavaScript document for a target. The path ends in .js so
 * VS Code opens it as JavaScript; the name says which node it is. */
export function functionDocumentAddress(target: FunctionTarget, nodeName?: string)
  : { path: string; query: string } {
  const label = (nodeName || target.nodeId).replace(/[^\w.-]+/g, '_').replace(/^_+|_+$/g, '')
    || 'function';
  const suffix = target.property === 'func' ? '' : `.${target.property}`;
  const query = new URLSearchParams({
    flow: target.flowUri, node: target.nodeId, prop: target.property,
  }).toString();
  return { path: `/${label}${suffix}.js`, query };
}

/** The target a JavaScript document's query names, or undefined. */
export function parseFunctionQuery(query: string): FunctionTarget | undefined {
  const params = new URLSearchParams(query);
  const flowUri = params.get('flow');
  const nodeId = params.get('node');
  const property = params.get('prop') ?? 'func';
  if (!flowUri || !nodeId) {
    return undefined;
  }
  return { flowUri, nodeId, property };
}

/**
 * The request that makes Plumb write a function node's code for `description`.
 *
 * The API has no route that writes a function body alone, so this asks for a flow with
 * one function node between an MQTT input and a debug output and takes that node's code
 * (see pickFunctionCode). The pipeline writes that code with the model.
 */
export function functionRequest(description: string): string {
  const what = description.trim().replace(/[.\s]+$/, '');
  return `when a message arrives on MQTT topic plumb/in, use a function node to: ${what}, `
    + 'then send it to debug';
}

/** The code of the first function node of an outcome's flow. */
export function pickFunctionCode(outcome: Outcome): string | undefined {
  if (outcome.outcome !== 'flow' || !outcome.flow) {
    return undefined;
  }
  for (const node of outcome.flow) {
    if (node.type === 'function' && typeof node.func === 'string') {
      return node.func;
    }
  }
  return undefined;
}
