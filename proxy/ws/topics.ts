import type { TemplatedApp, WebSocket } from 'uWebSockets.js';
import type { Delivery } from '../../src/ipc/delivery.js';
import type { Broadcaster } from '../bus/channel-subscriptions.js';

const EMPTY = Buffer.alloc(0);

/** The member sockets of one channel in uWS's pub/sub. */
interface Topic {
  /**
   * The channel's UTF-8 bytes in hex. The bundled uWS matches topic names exactly, but
   * earlier releases read `/` as a level and `+` and `#` as wildcards, and the
   * `uWebSockets.js` alias may point at another release: hex keeps names opaque.
   */
  readonly name: string;
  members: number;
  /** The latest `since` of any member: an item accepted before it must not reach them all. */
  sinceMax: number;
}

/**
 * Fan-out of `ws-message` sends through uWS's own pub/sub: one publish per item writes every
 * member socket from C++, framing the message once, instead of a cork, a frame and a
 * syscall per socket from JS. A client's socket is a member of a channel's topic only while
 * it needs no per-socket work there (no filters on that channel); anything else (filters,
 * pings, close, refresh, items older than a member's subscription) still goes through each
 * client on its own.
 */
export class WsTopics implements Broadcaster {
  private readonly topics = new Map<string, Topic>();

  constructor(private readonly app: TemplatedApp) {}

  join<T>(ws: WebSocket<T>, channel: string, since: number): void {
    let topic = this.topics.get(channel);
    if (!topic) {
      topic = { name: Buffer.from(channel).toString('hex'), members: 0, sinceMax: since };
      this.topics.set(channel, topic);
    }
    topic.members++;
    if (since > topic.sinceMax) topic.sinceMax = since;
    ws.subscribe(topic.name);
  }

  /** `ws` undefined: the socket is closed, and uWS already dropped its subscriptions. */
  leave<T>(ws: WebSocket<T> | undefined, channel: string): void {
    const topic = this.topics.get(channel);
    if (!topic) return;
    ws?.unsubscribe(topic.name);
    if (--topic.members === 0) this.topics.delete(channel);
  }

  publish(channel: string, delivery: Delivery): boolean {
    const format = delivery.header.ws;
    if (format?.action !== 'send' || format.contentFilters !== undefined) return false;
    if (format.type !== 'text' && format.type !== 'binary') return false;
    const topic = this.topics.get(channel);
    if (!topic || delivery.header.time < topic.sinceMax) return false;
    const content = delivery.payload[format.content] ?? EMPTY;
    this.app.publish(topic.name, content, format.type === 'binary');
    return true;
  }
}
