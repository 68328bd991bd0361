import { Histogram } from '../../bench/histogram.js';
import { DeliveryStats } from '../../bench/loadgen/delivery-stats.js';
import { SseConnection, type SseTarget } from '../../bench/loadgen/sse-client.js';
import { WsConnection } from '../../bench/loadgen/ws-client.js';
import { ChannelReceiver, type ReceiverCounters } from './channel-receiver.js';
import { LongPollConnection, type PollCounters } from './long-poll-client.js';
import {
  transports,
  type ConnectionRecord,
  type GeneratorConfig,
  type GeneratorMessage,
  type GeneratorReply,
  type GeneratorSample,
  type GeneratorTask,
  type Transport,
  type TransportSample,
} from './messages.js';

/*
 * A soak load generator process: keeps its share of connections open on every transport,
 * each for a random lifetime, then closes it (after the items published before the close
 * have come, bounded) and opens another on a random channel. Counts per transport and
 * hands each ended connection's record to the main process with the next sample.
 */

/** Backend path prefix of each transport (test/soak/backend.ts; /ws/ is the over_http route). */
export const transportPaths: Record<Transport, string> = {
  sse: '/sse/',
  'http-stream': '/stream/',
  'long-poll': '/poll/',
  ws: '/wsp/',
  'ws-over-http': '/ws/',
};

/** Pause before a failed attempt's replacement, so a refusing server is not hammered. */
const retryDelayMs = 200;

type Counters = ReceiverCounters &
  PollCounters & {
    opened: number;
    openFailed: number;
    closed: number;
    dropped: number;
    errors: Record<string, number>;
  };

interface Member {
  transport: Transport;
  receiver: ChannelReceiver;
  conn: { close(): void };
  state: 'opening' | 'open' | 'draining' | 'done';
  timer: NodeJS.Timeout | undefined;
  /** Long-poll: the position the client started after. */
  startPrev?: number;
  /**
   * A position nothing at or before is due: the channel's acknowledged position when the
   * subscription was confirmed (long-poll: its first prev-id).
   */
  floorSeq: number;
}

const counters = Object.fromEntries(transports.map((t) => [t, newCounters()])) as Record<
  Transport,
  Counters
>;
const members = new Set<Member>();
const queue: Transport[] = [];
const records: ConnectionRecord[] = [];
const dropStats = new DeliveryStats();
const echo = { sent: 0, received: 0, rtt: new Histogram() };
let config: GeneratorConfig | undefined;
let acked: number[] = [];
let opening = 0;
let nextSource = 0;
let isFinishing = false;

function newCounters(): Counters {
  return {
    received: 0,
    duplicates: 0,
    outOfOrder: 0,
    misrouted: 0,
    latency: new Histogram(),
    polls: 0,
    resumed: 0,
    gapAnswers: 0,
    opened: 0,
    openFailed: 0,
    closed: 0,
    dropped: 0,
    errors: {},
  };
}

/** In place: every receiver of the transport holds this object. */
function resetCounters(c: Counters): void {
  Object.assign(c, newCounters(), { latency: c.latency, errors: {} });
  c.latency.reset();
}

function count(c: Counters, reason: string): void {
  c.errors[reason] = (c.errors[reason] ?? 0) + 1;
}

function want(transport: Transport): void {
  if (isFinishing) return;
  queue.push(transport);
  pump();
}

function pump(): void {
  while (!isFinishing && opening < config!.openConcurrency && queue.length > 0)
    open(queue.shift()!);
}

function open(transport: Transport): void {
  const cfg = config!;
  const channel = Math.floor(Math.random() * cfg.channels);
  const c = counters[transport];
  const receiver = new ChannelReceiver(transport, channel, c);
  const target: SseTarget = {
    host: cfg.host,
    port: cfg.port,
    path: `${transportPaths[transport]}soak-${channel}`,
    localAddress: cfg.sources[nextSource++ % cfg.sources.length],
    index: nextSource,
  };
  const member: Member = {
    transport,
    receiver,
    conn: { close() {} },
    state: 'opening',
    timer: undefined,
    floorSeq: 0,
  };
  const onOpen = (_conn: unknown, error?: string) => {
    if (member.state !== 'opening') return; // cancelled by finish
    opening--;
    if (error !== undefined) {
      member.state = 'done';
      members.delete(member);
      c.openFailed++;
      count(c, error);
      setTimeout(() => want(transport), retryDelayMs);
    } else {
      member.state = 'open';
      c.opened++;
      if (transport === 'sse' || transport === 'http-stream') receiver.confirm();
      const life = cfg.lifeMinMs + Math.random() * (cfg.lifeMaxMs - cfg.lifeMinMs);
      member.timer = setTimeout(() => beginClose(member), life);
    }
    pump();
  };
  receiver.onEnd = (reason) => onDrop(member, reason);
  receiver.onConfirm = () => {
    member.floorSeq = member.startPrev ?? acked[channel] ?? 0;
  };
  opening++;
  members.add(member);
  if (transport === 'long-poll') {
    member.startPrev = acked[channel] ?? 0;
    member.conn = new LongPollConnection(target, member.startPrev, receiver, c, onOpen);
  } else if (transport === 'ws' || transport === 'ws-over-http') {
    member.conn = new WsConnection(target, dropStats, echo, onOpen, receiver);
  } else {
    member.conn = new SseConnection(target, dropStats, onOpen, receiver);
  }
}

function onDrop(member: Member, reason: string): void {
  if (member.state !== 'open' && member.state !== 'draining') return;
  clearTimeout(member.timer);
  const c = counters[member.transport];
  c.dropped++;
  count(c, reason);
  end(member, member.receiver.lastSeq, reason);
}

/**
 * The connection's life is over: it waits for the items acknowledged until now (bounded),
 * then closes. Those acknowledged before it was confirmed are not due: it does not wait
 * for them when nothing was published since.
 */
function beginClose(member: Member): void {
  if (member.state !== 'open') return;
  member.state = 'draining';
  const { receiver } = member;
  const endSeq = receiver.confirmedAt === 0 ? 0 : (acked[receiver.channel] ?? 0);
  if (receiver.confirmedAt === 0) count(counters[member.transport], 'never confirmed');
  const close = () => {
    if (member.state !== 'draining') return;
    clearTimeout(member.timer);
    member.conn.close();
    counters[member.transport].closed++;
    end(member, endSeq);
  };
  if (receiver.lastSeq >= endSeq || endSeq <= member.floorSeq) {
    close();
    return;
  }
  receiver.onProgress = () => {
    if (receiver.lastSeq >= endSeq) close();
  };
  member.timer = setTimeout(close, config!.drainMs);
}

function end(member: Member, endSeq: number, dropped?: string): void {
  member.state = 'done';
  members.delete(member);
  const startSeq = member.startPrev === undefined ? undefined : member.startPrev + 1;
  records.push(member.receiver.record(endSeq, dropped, startSeq));
  want(member.transport);
}

function sample(): GeneratorSample {
  const open = Object.fromEntries(transports.map((t) => [t, 0])) as Record<Transport, number>;
  for (const m of members) if (m.state === 'open' || m.state === 'draining') open[m.transport]++;
  const out = {} as Record<Transport, TransportSample>;
  for (const t of transports) {
    const c = counters[t];
    out[t] = {
      opened: c.opened,
      openFailed: c.openFailed,
      closed: c.closed,
      dropped: c.dropped,
      open: open[t],
      received: c.received,
      duplicates: c.duplicates,
      outOfOrder: c.outOfOrder,
      misrouted: c.misrouted,
      latency: c.latency.toData(),
      errors: c.errors,
      polls: c.polls,
      resumed: c.resumed,
      gapAnswers: c.gapAnswers,
    };
    resetCounters(c);
  }
  return { transports: out, records: records.splice(0) };
}

function start(cfg: GeneratorConfig): void {
  config = cfg;
  const most = Math.max(...transports.map((t) => cfg.population[t]));
  for (let i = 0; i < most; i++)
    for (const t of transports) if (i < cfg.population[t]) queue.push(t);
  pump();
}

/** Stops opening; every open connection closes as its life would end; bounded. */
async function finish(): Promise<GeneratorSample> {
  isFinishing = true;
  queue.length = 0;
  for (const m of [...members]) {
    if (m.state === 'opening') {
      m.state = 'done';
      members.delete(m);
      m.conn.close();
    } else if (m.state === 'open') {
      clearTimeout(m.timer);
      beginClose(m);
    }
  }
  const deadline = Date.now() + config!.drainMs + 2_000;
  while (members.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  return sample();
}

async function run(task: GeneratorTask): Promise<GeneratorSample | undefined> {
  switch (task.type) {
    case 'start':
      start(task.config);
      return undefined;
    case 'acked':
      acked = task.seqs;
      return undefined;
    case 'sample':
      return sample();
    case 'finish':
      return finish();
  }
}

process.on('message', (message: GeneratorMessage) => {
  run(message.task).then(
    (result) => {
      if (message.task.type !== 'acked')
        process.send?.({ id: message.id, sample: result } satisfies GeneratorReply);
    },
    (err: unknown) =>
      process.send?.({ id: message.id, error: (err as Error).message } satisfies GeneratorReply),
  );
});
// The soak main owns this process: when it goes, so do the connections.
process.on('disconnect', () => {
  for (const m of members) m.conn.close();
  process.exit(0);
});
