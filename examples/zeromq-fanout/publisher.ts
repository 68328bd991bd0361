import * as zmq from 'zeromq';

/** A subscription change as the XPUB socket reports it, with the count after it. */
export interface SubscriptionEvent {
  channel: string;
  isSubscribe: boolean;
  /** Subscribers (thumbtack nodes) the channel has now. */
  listeners: number;
}

export interface FanoutPublisher {
  /** Subscribers the channel has now (0: a publish would reach nobody). */
  listeners(channel: string): number;
  /** Sends one SSE event on the channel; returns its event id. */
  publish(channel: string, text: string): Promise<number>;
  close(): void;
}

/**
 * A ZeroMQ XPUB bound at `endpoint`. Thumbtack nodes started with `--zmq-sub-connect`
 * connect their SUB input to it and subscribe to exactly the channels their clients
 * listen on; XPUB hands those subscriptions up as `\x01channel` / `\x00channel` frames.
 * With verbosity `allSubsUnsubs` every node's subscribe and unsubscribe arrives (not only
 * the first and the last), so the publisher can count the nodes on each channel.
 */
export async function startPublisher(
  endpoint: string,
  onSubscription: (event: SubscriptionEvent) => void,
): Promise<FanoutPublisher> {
  const socket = new zmq.XPublisher({ linger: 0, verbosity: 'allSubsUnsubs' });
  await socket.bind(endpoint);
  const counts = new Map<string, number>();
  const eventIds = new Map<string, number>();
  // zeromq.js allows one send in flight per socket: publishes queue behind each other.
  let sending: Promise<void> = Promise.resolve();

  void (async () => {
    for await (const [frame] of socket) {
      if (!frame || frame.length === 0 || frame[0]! > 1) continue;
      const isSubscribe = frame[0] === 1;
      const channel = frame.subarray(1).toString('utf8');
      const listeners = Math.max(0, (counts.get(channel) ?? 0) + (isSubscribe ? 1 : -1));
      if (listeners === 0) counts.delete(channel);
      else counts.set(channel, listeners);
      onSubscription({ channel, isSubscribe, listeners });
    }
  })().catch((err: unknown) => {
    if (!socket.closed) throw err;
  });

  return {
    listeners: (channel) => counts.get(channel) ?? 0,
    publish: async (channel, text) => {
      const id = (eventIds.get(channel) ?? 0) + 1;
      eventIds.set(channel, id);
      // Two frames: the topic (the channel, which SUB filters on), then `J` + the item.
      const item = {
        id: String(id),
        formats: { 'http-stream': { content: `id: ${id}\ndata: ${text}\n\n` } },
      };
      const message = [channel, `J${JSON.stringify(item)}`];
      sending = sending.then(() => socket.send(message));
      await sending;
      return id;
    },
    close: () => socket.close(),
  };
}
