import type { WebSocket } from 'uWebSockets.js';
import { WsControlError } from '../../src/errors.js';
import {
  applyFilters,
  isFilterDrop,
  prepareFilters,
  type SubscriptionFilters,
} from '../../src/grip/filters.js';
import type { ChannelSubscription } from '../../src/grip/instruct-types.js';
import type { WsMessageType } from '../../src/grip/publish-types.js';
import {
  classifyBackendMessage,
  parseWsControlMessage,
  WS_FILTERS_MAX,
  type GripExtension,
  type WsKeepAlive,
} from '../../src/grip/ws-control.js';
import type { Delivery } from '../../src/ipc/delivery.js';
import type { Route } from '../../src/routes/route.js';
import type { ResumeAnswer, Subscriber } from '../bus/channel-subscriptions.js';
import { closeCodes, type WsHost, type WsUserData } from './session.js';
import { preciseNow } from '../../src/ipc/clock.js';
import { CorkSlot } from '../cork-slot.js';
import type { DisconnectReason } from '../worker-stats.js';
import { routeLog } from '../route-log.js';
import { parseAckFrame } from '../../src/grip/client-ack.js';
import { goAwayNotice } from '../connection-lifetime.js';

const EMPTY = Buffer.alloc(0);
const noMeta: Readonly<Record<string, string>> = {};
const goAwayMessage = Buffer.from(goAwayNotice);

/** What a client needs from the backend half of its session. */
export interface BackendSide {
  /** `detach` control message: close the backend side, keep the client. */
  detach(): void;
  /** A `ws-message` refresh: ask the backend now (WebSocket-over-HTTP only). */
  refresh(): void;
}

/** Why the proxy, not the client, ended the client connection. */
export type ProxyCloseCause =
  'backend' | 'publish' | 'failure' | 'limit' | 'slow' | 'shutdown' | 'lifetime';

/** The disconnect reason a close counts as in the metrics; undefined: the client closed. */
const disconnectReasons: Record<ProxyCloseCause, DisconnectReason> = {
  backend: 'backend_close',
  publish: 'backend_close',
  failure: 'error',
  limit: 'limit',
  slow: 'slow_client',
  shutdown: 'drain',
  lifetime: 'lifetime',
};

/** One channel subscription of a client: its own `since`, so each channel replays correctly. */
class ChannelListener implements Subscriber {
  /** The socket is in the channel's uWS topic (proxy/ws-topics.ts). */
  isTopicMember = false;

  constructor(
    readonly since: number,
    private readonly client: WsClient,
    readonly channel: string,
    public filters: string[],
    /** Waiting for history after a prev-id: out of the topic, so nothing overtakes it. */
    public isResuming = false,
  ) {}

  get cid(): string {
    return this.client.cid;
  }

  deliver(delivery: Delivery, isBroadcast: boolean): void {
    if (isBroadcast && this.isTopicMember) this.client.afterBroadcast();
    else this.client.deliverPublished(this.channel, delivery);
  }

  resume(_channel: string, answer: ResumeAnswer): void {
    this.isResuming = false;
    this.client.onResumed(this, answer);
  }
}

/**
 * The client half of a proxied WebSocket: the uWS socket with bounded, corked writes, and
 * its GRIP state (prefix rules, control messages, channel subscriptions, subscription meta,
 * keep-alives, published messages). Both session kinds own one once the client is open.
 */
export class WsClient {
  /** Corked writes shared by every client, instead of closures kept per connection. */
  private static readonly sendWrite = new CorkSlot<WsClient>((client) => client.writeOut());
  private static readonly pingWrite = new CorkSlot<WsClient>((client) => client.writePing());

  private ws: WebSocket<WsUserData> | undefined;
  isClosed = false;
  /** Set when the proxy ended the connection, before uWS reports the close. */
  closeCause: ProxyCloseCause | undefined;
  /** Items published before this (preciseNow) are not delivered to channels subscribed next. */
  controlSince = preciseNow();
  private grip: GripExtension | undefined;
  private controlMax = Infinity;
  private readonly listeners = new Map<string, ChannelListener>();
  /** Route `sub=` channels; undefined while there are none (most connections). */
  private implicitChannels: Set<string> | undefined;
  /** Subscription meta (`set-meta`); undefined until the backend sets some (most never do). */
  private meta: Record<string, string> | undefined;
  private filters: SubscriptionFilters | undefined;
  private keepAlive: WsKeepAlive | undefined;
  private keepAliveTimer: NodeJS.Timeout | undefined;
  private lastSendAt = Date.now();
  private out: Buffer = EMPTY;
  private outIsBinary = false;
  private sendStatus = 1;

  constructor(
    private readonly host: WsHost,
    private readonly route: Route,
    readonly cid: string,
    private readonly backend: BackendSide,
  ) {}

  attach(ws: WebSocket<WsUserData>): void {
    this.ws = ws;
    this.host.ctx.startLifetime(this.route, this);
    this.host.subscriptions.addConnection(this.cid, this, this.controlSince);
    for (const listener of this.listeners.values()) this.syncTopic(listener);
  }

  get bufferedAmount(): number {
    return this.isClosed || !this.ws ? 0 : this.ws.getBufferedAmount();
  }

  /**
   * The backend accepted the `grip` extension: from now on its messages go through the
   * prefix rules. `controlMax` is the largest control message honoured (16 KiB for
   * WebSocket-over-HTTP, where Pushpin splits messages into frames of that size).
   */
  enableGrip(extension: GripExtension, controlMax = Infinity): void {
    this.grip = extension;
    this.controlMax = controlMax;
  }

  /** Route `sub=` channels: subscribed on connect, whether or not GRIP is on; never removed. */
  subscribeImplicit(channels: readonly string[]): void {
    for (const channel of channels) {
      const name = this.route.channelPrefix + channel;
      (this.implicitChannels ??= new Set()).add(name);
      this.subscribe(name, []);
    }
  }

  /** One complete message from the backend: relayed, or handled as GRIP. */
  fromBackend(content: Buffer, isText: boolean): void {
    if (this.isClosed) return;
    if (!this.grip) {
      this.send(content, !isText);
      return;
    }
    const message = classifyBackendMessage(content, isText, this.grip);
    switch (message.kind) {
      case 'control':
        if (content.length > this.controlMax) {
          this.host.log.debug(
            { cid: this.cid, bytes: content.length },
            'ignored an oversized control message',
          );
          return;
        }
        this.onControl(message.json);
        return;
      case 'relay':
        this.send(message.content, !isText);
        return;
      case 'drop':
        routeLog(this.host.log, this.route).debug(
          { cid: this.cid, route: this.route.id },
          'dropped a backend message without the message prefix',
        );
    }
  }

  send(content: Buffer, isBinary: boolean): void {
    if (this.isClosed || !this.ws) return;
    this.out = content;
    this.outIsBinary = isBinary;
    WsClient.sendWrite.run(this.ws, this);
    this.afterSend();
  }

  /** Inside a cork (sendWrite). */
  private writeOut(): void {
    this.sendStatus = this.ws!.send(this.out, this.outIsBinary);
    this.out = EMPTY;
  }

  /** Inside a cork (pingWrite). */
  private writePing(): void {
    this.sendStatus = this.ws!.ping(this.out);
    this.out = EMPTY;
  }

  ping(content: Buffer): void {
    if (this.isClosed || !this.ws) return;
    this.out = content;
    WsClient.pingWrite.run(this.ws, this);
    this.afterSend();
  }

  /** Ends the connection with a close frame; `code` undefined sends one without status. */
  close(code: number | undefined, reason: string, cause: ProxyCloseCause): void {
    if (this.isClosed || !this.ws) return;
    this.closeCause = cause;
    const ws = this.ws;
    // uWS runs the close handler inside end(), which releases this client.
    if (code === undefined) ws.end();
    else ws.end(code, truncateReason(reason));
  }

  /** An item addressed to this connection (`$connection:<cid>`). */
  deliver(delivery: Delivery): void {
    this.deliverPublished(delivery.channel, delivery);
  }

  /** Connection lifetime: 1001 (going away), the close code browsers reconnect after. */
  recycle(): void {
    this.close(closeCodes.goingAway, 'connection lifetime reached', 'lifetime');
  }

  /** Zuul Push's go-away text message, before the close grace. */
  sendGoAway(): boolean {
    this.send(goAwayMessage, false);
    return !this.isClosed;
  }

  /**
   * A client's acknowledgement of an acked push (`{"thumbtack-ack":"<item id>"}`) is
   * thumbtack's, never the backend's: true when the message was one (it is consumed).
   */
  consumeAck(message: ArrayBuffer, isBinary: boolean): boolean {
    const item = parseAckFrame(new Uint8Array(message), isBinary);
    if (item === undefined) return false;
    this.host.subscriptions.clientAck(this.cid, item);
    return true;
  }

  /** A client message over `--ws-max-message-size` closes the client with 1009; true then. */
  closeIfTooBig(message: ArrayBuffer): boolean {
    if (message.byteLength <= this.host.limits.messageMax) return false;
    this.close(closeCodes.tooBig, 'message too big', 'limit');
    return true;
  }

  /** Drops the connection without a close handshake (backend DISCONNECT). */
  drop(cause: ProxyCloseCause): void {
    if (this.isClosed || !this.ws) return;
    this.closeCause = cause;
    this.ws.close();
  }

  /** uWS reported the close: release channels and timers; the socket is unusable now. */
  onClosed(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.ws = undefined;
    this.host.ctx.lifetimes.forget(this);
    this.host.subscriptions.removeConnection(this.cid, this);
    this.host.ctx.stats.disconnect(
      this.closeCause === undefined ? 'client' : disconnectReasons[this.closeCause],
    );
    clearTimeout(this.keepAliveTimer);
    for (const [channel, listener] of this.listeners) {
      if (listener.isTopicMember) this.host.topics.leave(undefined, channel);
      this.host.subscriptions.remove(channel, listener);
    }
    this.listeners.clear();
  }

  deliverPublished(channel: string, delivery: Delivery): void {
    const format = delivery.header.ws;
    if (!format || this.isClosed) return;
    switch (format.action) {
      case 'send': {
        let content = delivery.payload[format.content] ?? EMPTY;
        if (this.filters || format.contentFilters) {
          const outcome = applyFilters(
            this.filters,
            channel,
            delivery.header.meta,
            content,
            format.contentFilters,
          );
          if (isFilterDrop(outcome)) {
            this.host.ctx.stats.drop('filter', channel);
            this.host.log.debug(
              { cid: this.cid, channel, reason: outcome.reason },
              'filtered out a published message',
            );
            return;
          }
          content = outcome;
        }
        this.host.ctx.stats.deliveries++;
        this.sendTyped(content, format.type);
        return;
      }
      case 'close':
        // The session closes its backend side when it sees the 'publish' cause.
        this.close(format.code, format.reason ?? '', 'publish');
        return;
      case 'refresh':
        this.backend.refresh();
        return;
      case 'hint':
        return;
    }
  }

  /**
   * A published item reached the socket by topic broadcast: what `send` does after writing.
   * uWS writes small broadcasts at the end of the loop turn, so the buffer bound sees one
   * at the next item's check.
   */
  afterBroadcast(): void {
    this.host.ctx.stats.deliveries++;
    this.sendStatus = 1;
    this.afterSend();
  }

  private sendTyped(content: Buffer, type: WsMessageType): void {
    switch (type) {
      case 'text':
        this.send(content, false);
        return;
      case 'binary':
        this.send(content, true);
        return;
      case 'ping':
        this.ping(content);
        return;
      case 'pong':
        // uWS.js only sends pongs in answer to pings; an unsolicited one cannot be written.
        this.host.log.debug(
          { cid: this.cid },
          'skipped a pong message: uWS cannot send unsolicited pongs',
        );
    }
  }

  private afterSend(): void {
    if (this.isClosed || !this.ws) return;
    this.lastSendAt = Date.now();
    const buffered = this.ws.getBufferedAmount();
    // Status 2: uWS dropped the message at its own limit, which sits above ours.
    if (buffered <= this.host.limits.bufferMax && this.sendStatus !== 2) return;
    this.host.onSlowClient();
    routeLog(this.host.log, this.route).warn(
      { cid: this.cid, route: this.route.id, buffered, limit: this.host.limits.bufferMax },
      'closing a WebSocket client that reads too slowly',
    );
    this.host.ctx.stats.drop('buffer_limit');
    this.close(closeCodes.policy, 'client too slow', 'slow');
  }

  private onControl(json: Buffer): void {
    let message;
    try {
      message = parseWsControlMessage(json);
    } catch (err) {
      if (!(err instanceof WsControlError)) throw err;
      routeLog(this.host.log, this.route).info(
        { cid: this.cid, route: this.route.id, err: err.message },
        'ignored a control message',
      );
      return;
    }
    const prefix = this.route.channelPrefix;
    switch (message.type) {
      case 'subscribe':
        if (message.filters.length > WS_FILTERS_MAX) {
          this.host.log.warn(
            { cid: this.cid, channel: message.channel },
            'subscribe with more than 5 filters',
          );
          this.close(closeCodes.internal, 'too many filters', 'failure');
          return;
        }
        this.subscribe(prefix + message.channel, message.filters, message.prevId);
        return;
      case 'unsubscribe':
        this.unsubscribe(prefix + message.channel);
        return;
      case 'detach':
        this.backend.detach();
        return;
      case 'set-meta':
        if (message.value === undefined) {
          if (this.meta) delete this.meta[message.name];
        } else {
          (this.meta ??= {})[message.name] = message.value;
        }
        this.prepare();
        return;
      case 'keep-alive':
        this.keepAlive = message.keepAlive;
        clearTimeout(this.keepAliveTimer);
        this.armKeepAlive();
        return;
    }
  }

  /** History answered a subscribe with prev-id: the missed items, or the gap signal. */
  onResumed(listener: ChannelListener, answer: ResumeAnswer): void {
    if (this.isClosed || this.listeners.get(listener.channel) !== listener) return;
    if (answer.kind === 'gap') {
      // Documented in the README (Resume): the client learns what it cannot be given.
      const prefix = this.route.channelPrefix;
      const gap = {
        type: 'gap',
        channel: listener.channel.slice(prefix.length),
        'last-id': answer.lastId,
      };
      this.send(Buffer.from(JSON.stringify(gap)), false);
    } else {
      for (const item of answer.items) {
        // A refresh or close published before the subscription is not replayed.
        if (item.header.ws?.action !== 'send' && item.header.time < listener.since) continue;
        this.deliverPublished(listener.channel, item);
      }
    }
    this.syncTopic(listener);
  }

  private subscribe(channel: string, filters: string[], prevId?: string): void {
    if (this.isClosed) return;
    const existing = this.listeners.get(channel);
    if (existing) {
      existing.filters = filters;
      this.prepare();
      return;
    }
    if (this.listeners.size >= this.host.limits.subscriptionMax) {
      this.host.log.info(
        { cid: this.cid, channel, max: this.host.limits.subscriptionMax },
        'subscription limit reached; ignored',
      );
      return;
    }
    const isResuming = prevId !== undefined;
    const listener = new ChannelListener(this.controlSince, this, channel, filters, isResuming);
    this.listeners.set(channel, listener);
    this.prepare();
    this.host.subscriptions.add(channel, listener, prevId);
  }

  private unsubscribe(channel: string): void {
    if (this.implicitChannels?.has(channel)) return;
    const listener = this.listeners.get(channel);
    if (!listener) return;
    this.listeners.delete(channel);
    if (listener.isTopicMember) this.host.topics.leave(this.ws, channel);
    this.host.subscriptions.remove(channel, listener);
    this.prepare();
  }

  /** Filters are prepared once per change of channels or meta, not per delivery. */
  private prepare(): void {
    const channels: ChannelSubscription[] = [];
    for (const listener of this.listeners.values()) {
      channels.push({ name: listener.channel, filters: listener.filters });
    }
    this.filters = prepareFilters(channels, this.meta ?? noMeta, this.route.channelPrefix);
    for (const listener of this.listeners.values()) this.syncTopic(listener);
  }

  /** In the channel's uWS topic exactly while the socket is open and has no filters there. */
  private syncTopic(listener: ChannelListener): void {
    const ws = this.isClosed ? undefined : this.ws;
    const isWanted =
      ws !== undefined && !listener.isResuming && !this.filters?.byChannel.has(listener.channel);
    if (isWanted === listener.isTopicMember) return;
    listener.isTopicMember = isWanted;
    if (isWanted) this.host.topics.join(ws!, listener.channel, listener.since);
    else this.host.topics.leave(ws, listener.channel);
  }

  private armKeepAlive(): void {
    const keepAlive = this.keepAlive;
    if (!keepAlive || this.isClosed) return;
    const periodMs = keepAlive.timeout * 1000;
    const elapsed = keepAlive.mode === 'idle' ? Date.now() - this.lastSendAt : 0;
    this.keepAliveTimer = setTimeout(() => this.onKeepAlive(), Math.max(0, periodMs - elapsed));
  }

  private onKeepAlive(): void {
    const keepAlive = this.keepAlive;
    if (!keepAlive || this.isClosed) return;
    // Idle mode: the timer is not reset per message; it checks whether a whole period was quiet.
    if (
      keepAlive.mode === 'interval' ||
      Date.now() - this.lastSendAt >= keepAlive.timeout * 1000 - 5
    ) {
      this.sendTyped(keepAlive.content, keepAlive.messageType);
    }
    this.armKeepAlive();
  }
}

/** A close frame's reason is at most 123 bytes; longer text is cut at a character boundary. */
function truncateReason(reason: string): string {
  if (Buffer.byteLength(reason) <= 123) return reason;
  let out = '';
  for (const char of reason) {
    if (Buffer.byteLength(out + char) > 123) break;
    out += char;
  }
  return out;
}
