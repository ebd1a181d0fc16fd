/**
 * A Server-Sent Events parser (the text/event-stream format of the HTML standard), fed
 * text as it arrives in chunks of any size. No vscode import.
 */

export interface SseMessage {
  /** The `event:` name; "message" when the server gave none. */
  event: string;
  /** The `data:` lines joined by newlines. */
  data: string;
}

export class SseParser {
  private buffer = '';
  private event = '';
  private data: string[] = [];
  private sawCr = false;

  /** Feed a chunk; returns the messages it completed. */
  push(chunk: string): SseMessage[] {
    const out: SseMessage[] = [];
    let text = chunk;
    if (this.sawCr && text.startsWith('\n')) {
      text = text.slice(1); // the \n of a \r\n split across chunks
    }
    this.sawCr = false;
    this.buffer += text;
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.buffer);
      if (!match) {
        break;
      }
      if (match[0] === '\r' && match.index === this.buffer.length - 1) {
        // A lone \r at the end may be the start of \r\n: take the line, skip a \n next.
        this.sawCr = true;
      }
      const line = this.buffer.slice(0, match.index);
      this.buffer = this.buffer.slice(match.index + match[0].length);
      const message = this.line(line);
      if (message) {
        out.push(message);
      }
    }
    return out;
  }

  /** The stream ended: a message without its closing blank line is dropped, as the
   * standard says. */
  end(): SseMessage[] {
    this.buffer = '';
    this.event = '';
    this.data = [];
    return [];
  }

  private line(line: string): SseMessage | undefined {
    if (line === '') {
      if (this.data.length === 0 && this.event === '') {
        return undefined;
      }
      const message = { event: this.event || 'message', data: this.data.join('\n') };
      this.event = '';
      this.data = [];
      return message;
    }
    if (line.startsWith(':')) {
      return undefined; // a comment: the server's keep-alive
    }
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) {
      value = value.slice(1);
    }
    if (field === 'event') {
      this.event = value;
    } else if (field === 'data') {
      this.data.push(value);
    }
    // id and retry mean nothing to a client that never reconnects.
    return undefined;
  }
}
