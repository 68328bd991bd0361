import http from 'node:http';
import { Holder, type HeldSegment } from './holder.js';

/**
 * A long-poll client: one kept-alive connection, a new poll as soon as one answers. A poll
 * answers 200 with an item, a probe or `timeout`; anything else (an error, another status)
 * ends the connection. Items published between two polls are not seen, so its items are
 * not counted for loss: what it measures is whether the hold survives.
 */
export class LongPollHolder extends Holder {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  private request: http.ClientRequest | undefined;
  polls = 0;

  constructor(
    private readonly url: string,
    reconnectAfterMs?: number,
  ) {
    super('long-poll', reconnectAfterMs);
  }

  protected connect(segment: HeldSegment): void {
    this.poll(segment);
  }

  private poll(segment: HeldSegment): void {
    if (segment.closedAt !== undefined) return;
    const req = http.get(this.url, { agent: this.agent });
    this.request = req;
    req.on('socket', (socket) => {
      if (socket.localPort) segment.localPort = socket.localPort;
      else socket.once('connect', () => (segment.localPort = socket.localPort));
    });
    // A poll is open once it is sent: a hold gives no answer until something happens.
    this.onOpened(segment);
    req.on('error', (err: NodeJS.ErrnoException) =>
      this.onClosed(segment, err.code ?? err.message),
    );
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        if (res.statusCode !== 200) {
          this.onClosed(segment, `status ${res.statusCode}`);
          return;
        }
        this.polls++;
        this.onText(body);
        this.poll(segment);
      });
    });
  }

  protected disconnect(): void {
    this.request?.destroy();
    this.agent.destroy();
  }
}
