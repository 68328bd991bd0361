import http from 'node:http';
import { Holder, type HeldSegment } from './holder.js';

/** An SSE client (node:http, its own connection) reading `data:` lines. */
export class SseHolder extends Holder {
  private request: http.ClientRequest | undefined;

  constructor(
    private readonly url: string,
    reconnectAfterMs?: number,
  ) {
    super('sse', reconnectAfterMs);
  }

  protected connect(segment: HeldSegment): void {
    const req = http.get(this.url, { agent: false, headers: { accept: 'text/event-stream' } });
    this.request = req;
    req.on('socket', (socket) => {
      socket.once('connect', () => (segment.localPort = socket.localPort));
    });
    req.on('error', (err: NodeJS.ErrnoException) =>
      this.onClosed(segment, err.code ?? err.message),
    );
    req.on('response', (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        this.onClosed(segment, `status ${res.statusCode}`);
        req.destroy();
        return;
      }
      this.onOpened(segment);
      res.setEncoding('utf8');
      let carry = '';
      res.on('data', (chunk: string) => {
        const lines = (carry + chunk).split('\n');
        carry = lines.pop()!;
        for (const line of lines) if (line.startsWith('data: ')) this.onText(line.slice(6));
      });
      res.on('close', () => this.onClosed(segment, res.complete ? 'ended' : 'aborted'));
    });
  }

  protected disconnect(): void {
    this.request?.destroy();
  }
}
