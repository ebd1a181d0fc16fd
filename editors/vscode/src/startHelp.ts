/**
 * What "How to start the Plumb server" shows. No vscode import.
 */

import { normalizeServerUrl, startCommand } from './client';

export function startHelpMarkdown(serverUrl: string, model?: string): string {
  const url = normalizeServerUrl(serverUrl);
  const command = startCommand(url, model);
  return `# Starting Plumb's server

The extension talks to \`ask serve\`, Plumb's local server, at **${url}**
(the setting \`plumb.serverUrl\`).

1. Open a terminal in the Plumb project and install it once (this makes \`.venv\`):

   \`\`\`sh
   ./scripts/setup.sh
   \`\`\`

2. Start the server and leave it running:

   \`\`\`sh
   . .venv/bin/activate
   ${command}
   \`\`\`

   \`ask serve --model fake\` starts one without a model (pass-through code, for trying
   the extension out).

3. Check it: run **Plumb: Check server connection**, or open ${url}/api/v1/status.

A server started with \`--auth token\` needs a fleet user's token: run
**Plumb: Set server token** (it is kept in VS Code's secret storage, not in settings.json).
`;
}
