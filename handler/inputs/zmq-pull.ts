import * as zmq from 'zeromq';
import { parsePublishMessage } from '../../src/grip/publish-item.js';
import { ZmqInput, type ZmqInputOptions } from './zmq-input.js';

/**
 * ZeroMQ PULL, bound (Pushpin's push_in_spec): publishers connect PUSH sockets and send
 * single-part messages, each one item as `J`+JSON, `T`+tnetstring or a bare tnetstring.
 */
export class ZmqPullInput extends ZmqInput<zmq.Pull> {
  constructor(options: ZmqInputOptions) {
    super(new zmq.Pull({ linger: 0, maxMessageSize: options.maxMessageSize }), options, 'zmq pull');
  }

  protected handle(message: Buffer[]): void {
    if (message.length !== 1) {
      this.logger.warn({ parts: message.length }, 'zmq pull: message with parts != 1, skipping');
      this.onInvalid();
      return;
    }
    try {
      this.publish(parsePublishMessage(message[0]!));
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'zmq pull: invalid publish item, skipping');
      this.onInvalid();
    }
  }
}
