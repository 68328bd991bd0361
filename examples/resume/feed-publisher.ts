/*
 * Publishes to thumbtack's control API (`POST /publish/`) as the backend's only way of
 * reaching sockets after it answered them: numbered events, and closes.
 */

/** What a feed socket receives for each event published to a channel it reads. */
export interface FeedEvent {
  type: 'event';
  channel: string;
  /** The item's id in thumbtack: the position a client resumes from. */
  id: string;
  data: string;
}

export interface FeedPublisher {
  /** Publishes `data` to `channel` as its next numbered event; resolves with the event. */
  publishEvent(channel: string, data: string): Promise<FeedEvent>;
  /** Publishes a close (`code`, `reason`) to every socket subscribed to `channel`. */
  publishClose(channel: string, code: number, reason: string): Promise<void>;
}

export function createFeedPublisher(controlUrl: string): FeedPublisher {
  const lastIds = new Map<string, number>();
  // One publish at a time: ids are numbered here, so they must reach thumbtack in order.
  let queue: Promise<unknown> = Promise.resolve();
  const enqueue = <T>(task: () => Promise<T>): Promise<T> => {
    const done = queue.then(task);
    queue = done.catch(() => undefined);
    return done;
  };

  const post = async (item: object): Promise<void> => {
    const res = await fetch(`${controlUrl}/publish/`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ items: [item] }),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`thumbtack refused the publish: ${res.status} ${text.trim()}`);
  };

  return {
    publishEvent: (channel, data) =>
      enqueue(async () => {
        const n = (lastIds.get(channel) ?? 0) + 1;
        const event: FeedEvent = { type: 'event', channel, id: String(n), data };
        // The id is what history is kept by: a subscribe with prev-id N gets the items after N.
        await post({
          channel,
          id: event.id,
          formats: { 'ws-message': { content: JSON.stringify(event) } },
        });
        lastIds.set(channel, n);
        return event;
      }),
    publishClose: (channel, code, reason) =>
      enqueue(() =>
        post({ channel, formats: { 'ws-message': { action: 'close', code, reason } } }),
      ),
  };
}
