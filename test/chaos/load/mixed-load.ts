import type { ChaosRecord } from '../record.js';
import { openHolders, type Holder } from './holder.js';
import { lostConnections, settleDelivery, tallyItems } from './item-tally.js';
import { LongPollHolder } from './long-poll-holder.js';
import { startPlainLoad, type PlainLoad, type PlainResult } from './plain-load.js';
import {
  probeUntil,
  startPublishStream,
  type PublishResult,
  type PublishStream,
} from './publish-stream.js';
import { SseHolder } from './sse-holder.js';
import { WsHolder } from './ws-holder.js';

/** How much load a scenario holds during its fault. */
export interface LoadSize {
  sse: number;
  ws: number;
  longPoll: number;
  /** Plain request loops, and their pause between requests. */
  plainLoops: number;
  plainPauseMs: number;
  publishIntervalMs: number;
}

/**
 * The load every scenario holds: SSE, WebSocket-over-HTTP and long-poll clients of one
 * channel (on the chaos backend's `/sse`, `/ws`, `/poll`), plain request loops on `/plain`,
 * and a publish stream on that channel.
 */
export interface MixedLoad {
  sse: SseHolder[];
  ws: WsHolder[];
  longPoll: LongPollHolder[];
  holders(): Holder[];
  plain: PlainLoad;
  stream: PublishStream;
  startedAt: number;
  /** The load in words, for the record. */
  describe(): string;
}

export interface MixedLoadOptions {
  size: LoadSize;
  channel: string;
  /** Client URL of each node; holders are spread over them in turn. */
  clientUrls: string[];
  controlUrls: string[];
  /** Holders reconnect this long after their connection ends; undefined: they do not. */
  reconnectAfterMs?: number;
  maxItems?: number;
}

/** Opens the holders, waits until each is subscribed (a probe reaches it), starts the rest. */
export async function startMixedLoad(options: MixedLoadOptions): Promise<MixedLoad> {
  const { size, channel, clientUrls } = options;
  const urlFor = (i: number, path: string): string =>
    `${clientUrls[i % clientUrls.length]}${path}?ch=${encodeURIComponent(channel)}&n=${i}`;
  const ws = await openHolders(
    (i) => new WsHolder(urlFor(i, '/ws').replace(/^http/, 'ws'), options.reconnectAfterMs),
    size.ws,
  );
  const sse = await openHolders(
    (i) => new SseHolder(urlFor(i, '/sse'), options.reconnectAfterMs),
    size.sse,
  );
  const longPoll = await openHolders(
    (i) => new LongPollHolder(urlFor(i, '/poll'), options.reconnectAfterMs),
    size.longPoll,
  );
  const holders = (): Holder[] => [...sse, ...ws, ...longPoll];
  const pushed = [...sse, ...ws];
  await probeUntil(
    options.controlUrls[0]!,
    channel,
    () => pushed.every((h) => h.probes > 0),
    () => {
      const missing = pushed.filter((h) => h.probes === 0);
      const kinds = [
        ...new Set(missing.map((h) => `${h.kind} ${h.isOpen() ? 'open' : h.current.closeReason}`)),
      ];
      return `${missing.length} of ${pushed.length} holders (${kinds.join(', ')})`;
    },
  );
  const startedAt = Date.now();
  const plain = startPlainLoad({
    url: `${clientUrls[0]}/plain`,
    loops: size.plainLoops,
    pauseMs: size.plainPauseMs,
  });
  const stream = startPublishStream({
    controlUrls: options.controlUrls,
    channel,
    intervalMs: size.publishIntervalMs,
    maxItems: options.maxItems ?? 100_000,
  });
  return {
    sse,
    ws,
    longPoll,
    holders,
    plain,
    stream,
    startedAt,
    describe: () => {
      const seconds = (Date.now() - startedAt) / 1000;
      const rate = Math.round(plain.results.length / seconds);
      const publishes = Math.round(1000 / size.publishIntervalMs);
      return (
        `${size.sse} SSE + ${size.ws} WS-over-HTTP + ${size.longPoll} long-poll held, ` +
        `~${rate} plain req/s, ${publishes} publishes/s for ${seconds.toFixed(0)} s`
      );
    },
  };
}

/** What the load saw once it is stopped: the record's common fields. */
export interface LoadOutcome {
  plain: PlainResult[];
  published: PublishResult[];
  fields: Pick<
    ChaosRecord,
    | 'load'
    | 'requestsSent'
    | 'requestsFailed'
    | 'connectionsHeld'
    | 'connectionsLost'
    | 'itemsPublished'
    | 'itemsLost'
    | 'itemsDuplicated'
  >;
  lostReasons: string;
  lostExamples: string[];
  /** The items some holder was owed and did not receive. */
  missed: Set<number>;
  deliveredUnaccepted: number;
}

/**
 * Stops the plain loops and the publish stream, waits (bounded) for the last items to
 * arrive, stops the holders and counts. `isFailedPlain` says which plain results count as
 * failed (by default anything but a 200 with the right body).
 */
export async function stopMixedLoad(
  load: MixedLoad,
  isFailedPlain: (r: PlainResult) => boolean = (r) => r.status !== 200 || r.error !== undefined,
): Promise<LoadOutcome> {
  const [plain, published] = await Promise.all([load.plain.stop(), load.stream.stop()]);
  const holders = load.holders();
  await settleDelivery(holders, published, 5_000);
  const description = load.describe();
  for (const holder of holders) holder.stop();
  const tally = tallyItems(holders, published);
  const lost = lostConnections(holders);
  return {
    plain,
    published,
    fields: {
      load: description,
      requestsSent: plain.length,
      requestsFailed: plain.filter(isFailedPlain).length,
      connectionsHeld: holders.length,
      connectionsLost: lost.count,
      itemsPublished: published.filter((r) => r.status === 200).length,
      itemsLost: tally.lost,
      itemsDuplicated: tally.duplicated,
    },
    lostReasons: lost.reasons,
    lostExamples: tally.examples,
    missed: tally.missed,
    deliveredUnaccepted: tally.deliveredUnaccepted,
  };
}
