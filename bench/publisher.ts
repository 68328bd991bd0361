import { Pool } from 'undici';
import * as zmq from 'zeromq';
import { epochMs } from './clock.js';

export type Format = 'http-stream' | 'ws-message';

/** A Pushpin-format publish item with a `m<seq> <stamp>` (or probe `p<seq>`) payload. */
export interface PublishItem {
  channel: string;
  /** Item id and the id before it on the channel (the soak's positions, for resume); the
   * bench's items have neither. */
  id?: string;
  'prev-id'?: string;
  formats: Partial<Record<Format, { content: string }>> & { 'http-response'?: { body: string } };
}

let nextSeq = 0;

/**
 * Payload of one measured item. Sequence numbers grow over the whole run, so a receiver
 * can tell reordering from a "greater than the last one" check, and duplicates by number.
 */
export function measuredItem(channel: string, format: Format): PublishItem {
  const text = `m${nextSeq++} ${epochMs().toFixed(3)}`;
  return {
    channel,
    formats: { [format]: { content: format === 'http-stream' ? `data: ${text}\n\n` : text } },
  };
}

export function probeItem(channel: string, format: Format): PublishItem {
  const text = `p${nextSeq++}`;
  return {
    channel,
    formats: { [format]: { content: format === 'http-stream' ? `data: ${text}\n\n` : text } },
  };
}

export interface Publisher {
  publish(items: PublishItem[]): Promise<void>;
  close(): Promise<void>;
}

/** POST /publish/ over keep-alive connections; a non-200 answer is an error. */
export class HttpPublisher implements Publisher {
  private readonly pool: Pool;
  private readonly path: string;

  constructor(url: string, connections = 8) {
    const parsed = new URL(url);
    this.pool = new Pool(parsed.origin, { connections });
    this.path = parsed.pathname + parsed.search;
  }

  async publish(items: PublishItem[]): Promise<void> {
    const { statusCode, body } = await this.pool.request({
      method: 'POST',
      path: this.path,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ items }),
      headersTimeout: 30_000,
      bodyTimeout: 30_000,
    });
    const text = await body.text();
    if (statusCode !== 200)
      throw new Error(`publish answered ${statusCode}: ${text.slice(0, 200)}`);
  }

  /** Opens the connection(s) now (one `GET /healthz` each), so that a burst need not wait. */
  async connect(): Promise<void> {
    const { body } = await this.pool.request({ method: 'GET', path: '/healthz' });
    await body.dump();
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}

/**
 * ZeroMQ publisher connected to the system's bound SUB. It is an XPUB, so it sees the SUB's
 * subscriptions and can wait for them instead of losing the first items (slow joiner).
 */
export class ZmqPublisher implements Publisher {
  private readonly socket = new zmq.XPublisher({ linger: 0, sendHighWaterMark: 0 });
  private readonly subscribed = new Set<string>();
  private sending: Promise<void> = Promise.resolve();
  private isClosed = false;

  constructor(endpoint: string) {
    this.socket.connect(endpoint);
    void this.watch();
  }

  /** Resolves once the SUB subscribed to `channel` (or to everything), or rejects at the deadline. */
  async waitForSubscription(channel: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.subscribed.has(channel) && !this.subscribed.has('')) {
      if (Date.now() > deadline)
        throw new Error(`no ZeroMQ subscription for "${channel}" in ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  publish(items: PublishItem[]): Promise<void> {
    // zeromq.js allows one send in flight per socket: chain them.
    for (const item of items) {
      const frames = [item.channel, 'J' + JSON.stringify(item)];
      this.sending = this.sending.then(() => this.socket.send(frames));
    }
    return this.sending;
  }

  async close(): Promise<void> {
    this.isClosed = true;
    await this.sending.catch(() => undefined);
    this.socket.close();
  }

  private async watch(): Promise<void> {
    try {
      for await (const [message] of this.socket) {
        const topic = message.toString('utf8', 1);
        if (message[0] === 1) this.subscribed.add(topic);
        else this.subscribed.delete(topic);
      }
    } catch (err) {
      if (!this.isClosed) process.stderr.write(`zmq publisher: ${(err as Error).message}\n`);
    }
  }
}
