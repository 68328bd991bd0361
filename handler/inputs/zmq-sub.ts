import { isUtf8 } from 'node:buffer';
import { parsePublishMessage } from '../../src/grip/publish-item.js';
import { ZmqInput, type ZmqInputOptions } from './zmq-input.js';
import { connectionChannelPrefix } from '../../src/grip/channel-name.js';
import { UnboundedSubscriber } from '../../src/ipc/unbounded-subscriber.js';

export interface ZmqSubInputOptions extends ZmqInputOptions {
  /** Connect to a publisher's PUB/XPUB instead of binding (Pushpin's push_in_sub_connect). */
  isConnect: boolean;
}

/**
 * ZeroMQ SUB (Pushpin's push_in_sub_specs): two-part messages [channel, item], the topic
 * overriding the item's channel. It subscribes exactly to the channels that have listeners
 * on the bus, in both bind and connect mode, so PUB publishers filter at the source and
 * XPUB publishers see `\x01channel` / `\x00channel` and can publish only what is wanted.
 */
export class ZmqSubInput extends ZmqInput<UnboundedSubscriber> {
  private readonly isConnect: boolean;
  private readonly channels = new Set<string>();
  private isStarted = false;

  constructor(options: ZmqSubInputOptions) {
    super(
      new UnboundedSubscriber({
        linger: 0,
        maxMessageSize: options.maxMessageSize,
        ...(options.isConnect ? { tcpKeepalive: 1 } : {}),
      }),
      options,
      'zmq sub',
    );
    this.isConnect = options.isConnect;
  }

  override get address(): string {
    return `${super.address} (${this.isConnect ? 'connect' : 'bind'})`;
  }

  /** A channel got its first listener: ask publishers for it. */
  subscribe(channel: string): void {
    if (this.channels.has(channel)) return;
    this.channels.add(channel);
    if (this.isStarted && !this.isClosed) this.socket.subscribe(channel);
  }

  /** A channel lost its last listener. */
  unsubscribe(channel: string): void {
    if (!this.channels.delete(channel)) return;
    if (this.isStarted && !this.isClosed) this.socket.unsubscribe(channel);
  }

  protected override async open(): Promise<void> {
    if (this.isConnect) {
      this.socket.connect(this.endpoint);
      this.boundAddress = this.endpoint;
    } else {
      await super.open();
    }
    this.isStarted = true;
    // Items addressed to one connection have no listener count to follow: always asked for.
    this.socket.subscribe(connectionChannelPrefix, ...this.channels);
  }

  protected handle(message: Buffer[]): void {
    if (message.length !== 2) {
      this.logger.warn({ parts: message.length }, 'zmq sub: message with parts != 2, skipping');
      this.onInvalid();
      return;
    }
    if (!isUtf8(message[0]!)) {
      // Decoded anyway it would name another channel (U+FFFD in place of the bad bytes).
      this.logger.warn(
        { topic: message[0]!.toString('hex') },
        'zmq sub: topic is not UTF-8, skipping',
      );
      this.onInvalid();
      return;
    }
    const channel = message[0]!.toString('utf8');
    try {
      this.publish(parsePublishMessage(message[1]!, channel));
    } catch (err) {
      this.logger.warn(
        { channel, err: (err as Error).message },
        'zmq sub: invalid publish item, skipping',
      );
      this.onInvalid();
    }
  }
}
