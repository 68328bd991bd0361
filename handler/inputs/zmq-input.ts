import type * as zmq from 'zeromq';
import type { Logger } from '../../src/log.js';
import type { PublishInput, PublishSink } from './publish-input.js';

export interface ZmqInputOptions {
  endpoint: string;
  /** Largest message (each part, for SUB) a publisher may send; libzmq drops it past that. */
  maxMessageSize: number;
  logger: Logger;
  publish: PublishSink;
  /** Told of each message refused as invalid. */
  onInvalid?: () => void;
}

/**
 * The lifecycle every ZeroMQ publish input shares: one socket, opened (bound, unless a
 * subclass connects) on start, a receive loop handing each message to `handle`, and a
 * close that ends the loop without logging the error the close itself causes.
 */
export abstract class ZmqInput<S extends zmq.Socket & zmq.Readable> implements PublishInput {
  protected readonly endpoint: string;
  protected readonly maxMessageSize: number;
  protected readonly logger: Logger;
  protected readonly publish: PublishSink;
  protected readonly onInvalid: () => void;
  protected isClosed = false;
  protected boundAddress = '';
  private receiving: Promise<void> | undefined;
  private disconnects = 0;

  constructor(
    protected readonly socket: S,
    options: ZmqInputOptions,
    /** Names the input in its logs, e.g. `zmq pull`. */
    private readonly label: string,
  ) {
    this.endpoint = options.endpoint;
    this.maxMessageSize = options.maxMessageSize;
    this.logger = options.logger;
    this.publish = options.publish;
    this.onInvalid = options.onInvalid ?? (() => {});
  }

  get address(): string {
    return this.boundAddress || this.endpoint;
  }

  async start(): Promise<void> {
    // libzmq refuses a message over ZMQ_MAXMSGSIZE by dropping the publisher's connection
    // as soon as it reads the size, without allocating it, and reports nothing but the
    // disconnect. So every disconnect is logged and counted: a run of them from one
    // publisher is the sign of messages too large.
    this.socket.events.on('disconnect', ({ address }) => {
      this.disconnects++;
      this.logger.info(
        { address, disconnects: this.disconnects, maxMessageSize: this.maxMessageSize },
        `${this.label}: publisher disconnected (a message over --publish-body-max also does this)`,
      );
    });
    await this.open();
    this.receiving = this.receive();
  }

  async close(): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
    this.socket.close();
    await this.receiving;
  }

  /** Readies the socket for publishers; receiving starts once this resolves. */
  protected async open(): Promise<void> {
    await this.socket.bind(this.endpoint);
    this.boundAddress = this.socket.lastEndpoint ?? this.endpoint;
  }

  /** One received message; reports bad input itself and never throws. */
  protected abstract handle(message: Buffer[]): void;

  private async receive(): Promise<void> {
    try {
      for await (const message of this.socket) this.handle(message);
    } catch (err) {
      if (!this.isClosed) this.logger.error({ err }, `${this.label} input stopped receiving`);
    }
  }
}
