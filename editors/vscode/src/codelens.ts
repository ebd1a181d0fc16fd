/**
 * CodeLenses above each function node's `func`: open the code in a JavaScript editor,
 * or have Plumb write it from a description.
 */

import * as vscode from 'vscode';
import { FlowText, codeProperties } from './jsonPositions';

export interface FunctionLensArgs {
  flowUri: string;
  nodeId: string;
  property: string;
  nodeName?: string;
}

export class FunctionCodeLensProvider implements vscode.CodeLensProvider {
  provideCodeLenses(document: vscode.TextDocument): vscode.CodeLens[] {
    const flow = FlowText.tryParse(document.getText());
    if (!flow || !flow.looksLikeFlow()) {
      return [];
    }
    const lenses: vscode.CodeLens[] = [];
    for (const code of codeProperties(flow, ['func'])) {
      const at = document.positionAt(code.keyOffset);
      const range = new vscode.Range(at, at);
      const args: FunctionLensArgs = {
        flowUri: document.uri.toString(), nodeId: code.nodeId, property: code.property,
        nodeName: code.nodeName,
      };
      lenses.push(new vscode.CodeLens(range, {
        title: '$(edit) Edit in JavaScript editor',
        tooltip: 'Open this function node\'s code as JavaScript; saving writes it back here',
        command: 'plumb.editFunctionCode',
        arguments: [args],
      }));
      lenses.push(new vscode.CodeLens(range, {
        title: '$(sparkle) Generate code from description',
        tooltip: 'Describe what the function should do; Plumb proposes the code as a diff',
        command: 'plumb.generateFunctionCode',
        arguments: [args],
      }));
    }
    return lenses;
  }
}
