import * as zmq from 'zeromq';

const ZMQ_SNDHWM = 23;

/**
 * A SUB whose outgoing subscription messages are never dropped. libzmq drops a SUB's
 * (un)subscriptions past its send high-water mark (1,000 by default) rather than queue
 * them, both when many are made at once and when it resends them all to a peer it
 * reconnects to; Pushpin sets no limit either. zeromq.js exposes SNDHWM only on writable
 * socket types.
 */
export class UnboundedSubscriber extends zmq.Subscriber {
  constructor(options: zmq.SocketOptions<zmq.Subscriber>) {
    super(options);
    this.setInt32Option(ZMQ_SNDHWM, 0);
  }
}
