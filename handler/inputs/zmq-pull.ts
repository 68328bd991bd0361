import * as zmq from 'zeromq';
import { parsePublishMessage } from '../../src/grip/publish-item.js';
import type { Logger } from '../../src/log.js';
import type { PublishInput, PublishSink } from './publish-input.js';

export interface ZmqPullInputOptions {
  endpoint: string;
  logger: Logger;
  publish: PublishSink;
}

/**
 * ZeroMQ PULL, bound (Pushpin's push_in_spec): publishers connect PUSH sockets and send
 * single-part messages, each one item as `J`+JSON, `T`+tnetstring or a bare tnetstring.
 */
export class ZmqPullInput implements PublishInput {
  private readonly endpoint: string;
  private readonly logger: Logger;
  private readonly publish: PublishSink;
  private readonly socket = new zmq.Pull({ linger: 0 });
  private receiving: Promise<void> | undefined;
  private isClosed = false;
  private boundAddress = '';

  constructor(options: ZmqPullInputOptions) {
    this.endpoint = options.endpoint;
    this.logger = options.logger;
    this.publish = options.publish;
  }

  get address(): string {
    return this.boundAddress || this.endpoint;
  }

  async start(): Promise<void> {
    await this.socket.bind(this.endpoint);
    this.boundAddress = this.socket.lastEndpoint ?? this.endpoint;
    this.receiving = this.receive();
  }

  async close(): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
    this.socket.close();
    await this.receiving;
  }

  private async receive(): Promise<void> {
    try {
      for await (const message of this.socket) this.handle(message);
    } catch (err) {
      if (!this.isClosed) this.logger.error({ err }, 'zmq pull input stopped receiving');
    }
  }

  private handle(message: Buffer[]): void {
    if (message.length !== 1) {
      this.logger.warn({ parts: message.length }, 'zmq pull: message with parts != 1, skipping');
      return;
    }
    try {
      this.publish(parsePublishMessage(message[0]!));
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'zmq pull: invalid publish item, skipping');
    }
  }
}
