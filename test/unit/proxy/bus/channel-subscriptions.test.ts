import { WorkerStats } from '../../../../proxy/worker-stats.js';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import * as zmq from 'zeromq';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ChannelSubscriptions,
  type ResumeAnswer,
  type Subscriber,
} from '../../../../proxy/bus/channel-subscriptions.js';
import { BusAnswers } from '../../../../proxy/bus/bus-answers.js';
import { decodeBusAnswers } from '../../../../src/ipc/bus-answer.js';
import {
  decodeResumeTopic,
  encodeBusMessage,
  encodeDelivery,
  encodeReplayEnd,
  encodeResumeAnswer,
  replayEndPrefix,
  resumePrefix,
  type Delivery,
} from '../../../../src/ipc/delivery.js';

/*
 * The subscribe race, worker side: a real ChannelSubscriptions on a real ZeroMQ bus, with
 * this test playing the handler on the XPUB end (it sees the worker's subscriptions and
 * sends bus messages encoded by src/ipc/delivery.ts, as handler/bus.ts does).
 */

const WAIT_MS = 5_000;

/** Items a subscriber received, by id, and a bounded wait for the next ones. */
class RecordingSubscriber implements Subscriber {
  readonly since: number = 0;
  readonly ids: string[] = [];
  private waiter: { count: number; resolve: () => void } | undefined;

  deliver(delivery: Delivery): void {
    this.ids.push(delivery.header.id ?? '?');
    if (this.waiter && this.ids.length >= this.waiter.count) this.waiter.resolve();
  }

  waitForCount(count: number): Promise<void> {
    if (this.ids.length >= count) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`got ${this.ids.join(',')} of ${count} within ${WAIT_MS} ms`)),
        WAIT_MS,
      );
      this.waiter = {
        count,
        resolve: () => {
          clearTimeout(timer);
          this.waiter = undefined;
          resolve();
        },
      };
    });
  }
}

/** The handler's end of the bus: reads the worker's (un)subscriptions, sends bus messages. */
class FakeHandlerBus {
  readonly socket = new zmq.XPublisher({ linger: 0, receiveTimeout: WAIT_MS });

  constructor() {
    this.socket.verbosity = 'allSubsUnsubs';
  }

  async bind(): Promise<string> {
    await this.socket.bind('tcp://127.0.0.1:*');
    return this.socket.lastEndpoint!;
  }

  /** The next subscription the worker sent (throws after WAIT_MS). */
  async nextSubscription(): Promise<{ isSubscribe: boolean; topic: string }> {
    const [message] = await this.socket.receive();
    return { isSubscribe: message![0] === 1, topic: message!.toString('utf8', 1) };
  }

  /** Reads subscriptions until `topic`'s; returns the replay-end topic subscribed with it. */
  async subscribedTo(channel: string): Promise<string> {
    let replayTopic: string | undefined;
    let isChannelSeen = false;
    while (!isChannelSeen || replayTopic === undefined) {
      const { isSubscribe, topic } = await this.nextSubscription();
      if (!isSubscribe) continue;
      if (topic === channel) isChannelSeen = true;
      else if (topic.startsWith(replayEndPrefix)) replayTopic = topic;
    }
    return replayTopic;
  }

  async send(...deliveries: Buffer[][]): Promise<void> {
    await this.socket.send(encodeBusMessage(deliveries));
  }

  close(): void {
    this.socket.close();
  }
}

/** A stream item as the handler encodes it: `id` names it, `seq` orders it. */
function item(channel: string, id: string, seq: number): Buffer[] {
  const formats = { httpStream: { action: 'send' as const, content: Buffer.from(`${id}\n`) } };
  return encodeDelivery({ channel, id, noSeq: false, formats }, seq, Date.now());
}

let bus: FakeHandlerBus;
let subscriptions: ChannelSubscriptions;
let logLines: { msg: string; level: number }[];
let endpoint: string;

beforeEach(async () => {
  bus = new FakeHandlerBus();
  endpoint = await bus.bind();
  logLines = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line) logLines.push(JSON.parse(line));
      done();
    },
  });
  subscriptions = new ChannelSubscriptions(
    endpoint,
    pino({ level: 'debug' }, sink),
    new WorkerStats(),
  );
  // The worker's empty-topic subscription: connected, every bus message reaches it from now.
  expect(await bus.nextSubscription()).toEqual({ isSubscribe: true, topic: '' });
});

afterEach(() => {
  subscriptions.close();
  bus.close();
});

describe('ChannelSubscriptions replay ordering', () => {
  it('holds a new channel’s items back until the replay-end, then delivers them in publish order', async () => {
    // A channel already past its replay, to know when the worker has read a message.
    const probe = new RecordingSubscriber();
    subscriptions.add('probe', probe);
    await bus.send(encodeReplayEnd(await bus.subscribedTo('probe')));

    const subscriber = new RecordingSubscriber();
    subscriptions.add('news', subscriber);
    const replayEnd = await bus.subscribedTo('news');

    // A live item overtakes the handler's replay on the wire...
    await bus.send(item('news', 'live-3', 30));
    await bus.send(item('probe', 'p1', 31));
    await probe.waitForCount(1);
    // ...and is held back: the worker has read it (the probe came after it), delivered nothing.
    expect(subscriber.ids).toEqual([]);

    // The replay (older items, one repeated) and its end marker, in one bus message.
    await bus.send(
      item('news', 'replayed-1', 10),
      item('news', 'replayed-2', 20),
      item('news', 'live-3', 30),
      encodeReplayEnd(replayEnd),
    );
    await subscriber.waitForCount(3);
    expect(subscriber.ids).toEqual(['replayed-1', 'replayed-2', 'live-3']);

    // After the marker, items go out as they come.
    await bus.send(item('news', 'live-4', 40));
    await subscriber.waitForCount(4);
    expect(subscriber.ids).toEqual(['replayed-1', 'replayed-2', 'live-3', 'live-4']);
    // Released by the marker, not by the fallback timer.
    expect(logLines.some((l) => l.msg.startsWith('no replay-end'))).toBe(false);
  });

  it('a second subscriber of a channel still awaiting its replay also waits for the marker', async () => {
    const first = new RecordingSubscriber();
    const second = new RecordingSubscriber();
    subscriptions.add('scores', first);
    const replayEnd = await bus.subscribedTo('scores');
    await bus.send(item('scores', 'live-2', 20));
    subscriptions.add('scores', second);
    await bus.send(item('scores', 'replayed-1', 10), encodeReplayEnd(replayEnd));
    await Promise.all([first.waitForCount(2), second.waitForCount(2)]);
    expect(first.ids).toEqual(['replayed-1', 'live-2']);
    expect(second.ids).toEqual(['replayed-1', 'live-2']);
  });

  it('unsubscribes the channel and its replay-end topic when the last subscriber leaves', async () => {
    const subscriber = new RecordingSubscriber();
    subscriptions.add('brief', subscriber);
    const replayEnd = await bus.subscribedTo('brief');
    subscriptions.remove('brief', subscriber);
    const left = new Set<string>();
    while (left.size < 2) {
      const { isSubscribe, topic } = await bus.nextSubscription();
      if (!isSubscribe) left.add(topic);
    }
    expect(left).toEqual(new Set(['brief', replayEnd]));
    expect(subscriptions.channelCount).toBe(0);
  });
});

/** A subscriber whose request left after the items below, positioned on `channel` at `position`. */
class PositionedSubscriber extends RecordingSubscriber {
  override readonly since = Date.now() + 60_000;

  constructor(private readonly position: string) {
    super();
  }

  follows(delivery: Delivery): boolean {
    return delivery.header.prevId === this.position;
  }
}

/** A stream item with an id and the prev-id it follows, accepted at `time`. */
function positioned(channel: string, id: string, prevId: string, seq: number): Buffer[] {
  const formats = { httpStream: { action: 'send' as const, content: Buffer.from(`${id}\n`) } };
  return encodeDelivery({ channel, id, prevId, noSeq: false, formats }, seq, Date.now());
}

describe('ChannelSubscriptions: positions before clocks', () => {
  it('the item that follows a subscriber’s position reaches it even when the clocks say it is older', async () => {
    const subscriber = new PositionedSubscriber('3');
    subscriptions.add('feed', subscriber);
    const replayEnd = await bus.subscribedTo('feed');
    await bus.send(
      positioned('feed', '3', '2', 10), // before the position: not for it
      positioned('feed', '4', '3', 20), // the next one: for it, whatever its time
      encodeReplayEnd(replayEnd),
    );
    await bus.send(positioned('feed', '6', '5', 30)); // older and not the next one: not for it
    await bus.send(positioned('feed', '4', '3', 40)); // the next one again, live this time
    await subscriber.waitForCount(2);
    expect(subscriber.ids).toEqual(['4', '4']);
  });

  it('a late subscriber gets the kept item that follows its position', async () => {
    const early = new RecordingSubscriber();
    subscriptions.add('late', early);
    await bus.send(
      positioned('late', '8', '7', 10),
      encodeReplayEnd(await bus.subscribedTo('late')),
    );
    await early.waitForCount(1);
    const late = new PositionedSubscriber('7');
    subscriptions.add('late', late);
    expect(late.ids).toEqual(['8']);
  });
});

describe('ChannelSubscriptions: replays another worker caused', () => {
  it('a replay of an item this worker delivered is not delivered again, even once it left the recent items', async () => {
    const subscriber = new RecordingSubscriber();
    subscriptions.add('busy', subscriber);
    await bus.send(encodeReplayEnd(await bus.subscribedTo('busy')));
    // More items than the worker keeps as recent (100): the first ones leave the list.
    const live = Array.from({ length: 120 }, (_, i) => item('busy', `i${i + 1}`, i + 1));
    await bus.send(...live);
    await subscriber.waitForCount(120);
    // Another worker subscribed: the handler re-sends the channel's recent items to all.
    await bus.send(item('busy', 'i1', 1), item('busy', 'i110', 110), item('busy', 'i121', 121));
    await subscriber.waitForCount(121);
    expect(subscriber.ids.slice(-2)).toEqual(['i120', 'i121']);
    expect(new Set(subscriber.ids).size).toBe(subscriber.ids.length);
  });
});

/** A long-poll: its channels linger after it leaves. */
class LongPoll extends RecordingSubscriber {
  readonly lingers = true;
}

describe('ChannelSubscriptions: long-polls linger', () => {
  /** This test's worker, with a linger (the default one has none). */
  async function lingering(lingerMs: number): Promise<ChannelSubscriptions> {
    subscriptions.close();
    await bus.nextSubscription(); // the closed worker's empty topic going away
    subscriptions = new ChannelSubscriptions(
      endpoint,
      pino({ level: 'silent' }),
      new WorkerStats(),
      lingerMs,
    );
    expect(await bus.nextSubscription()).toEqual({ isSubscribe: true, topic: '' });
    return subscriptions;
  }

  it('a channel whose last subscriber was a long-poll stays subscribed for the linger, then goes', async () => {
    const worker = await lingering(300);
    const poll = new LongPoll();
    worker.add('lp', poll);
    await bus.send(encodeReplayEnd(await bus.subscribedTo('lp')));
    const leftAt = Date.now();
    worker.remove('lp', poll);
    expect(worker.channelCount).toBe(0); // lingering is not listening
    let gone: { isSubscribe: boolean; topic: string };
    do gone = await bus.nextSubscription();
    while (gone.isSubscribe || gone.topic !== 'lp');
    expect(Date.now() - leftAt).toBeGreaterThanOrEqual(300);
  });
});

/** A long-poll holding from a position: records what its resume answer said. */
class ResumingPoll extends LongPoll {
  readonly answers: ResumeAnswer[] = [];
  private onAnswer: (() => void) | undefined;

  resume(_channel: string, answer: ResumeAnswer): void {
    this.answers.push(answer);
    this.onAnswer?.();
  }

  answered(): Promise<void> {
    if (this.answers.length > 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no resume answer')), WAIT_MS);
      this.onAnswer = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

describe('ChannelSubscriptions: resume requests', () => {
  let stats: zmq.Pull;
  let answers: BusAnswers;

  beforeEach(async () => {
    subscriptions.close();
    await bus.nextSubscription(); // the default worker's empty topic going away
    stats = new zmq.Pull({ linger: 0, receiveTimeout: WAIT_MS });
    await stats.bind('tcp://127.0.0.1:*');
    answers = new BusAnswers(stats.lastEndpoint!, pino({ level: 'silent' }));
    subscriptions = new ChannelSubscriptions(
      endpoint,
      pino({ level: 'silent' }),
      new WorkerStats(),
      60_000,
      answers,
    );
    expect(await bus.nextSubscription()).toEqual({ isSubscribe: true, topic: '' });
  });

  afterEach(() => {
    answers.close();
    stats.close();
  });

  it('a new channel’s resume follows its subscription on the bus; later ones go on the stats socket', async () => {
    const first = new ResumingPoll();
    subscriptions.add('lp', first, '1');
    // The channel's replay is pending: the handler must see the channel before the request.
    const replayEnd = await bus.subscribedTo('lp');
    let resume: { isSubscribe: boolean; topic: string };
    do resume = await bus.nextSubscription();
    while (!resume.topic.startsWith(resumePrefix));
    expect(resume.isSubscribe).toBe(true);
    await bus.send(encodeReplayEnd(replayEnd));
    await bus.send(...encodeResumeAnswer(resume.topic, { kind: 'after', count: 0, seq: 1 }, []));
    await first.answered();
    subscriptions.remove('lp', first);

    const second = new ResumingPoll();
    subscriptions.add('lp', second, '2');
    const [message] = await stats.receive();
    const [request] = decodeBusAnswers(message!)!;
    expect(request?.kind).toBe('resume');
    const topic = request?.kind === 'resume' ? request.topic : '';
    expect(decodeResumeTopic(topic)).toEqual({ channel: 'lp', prevId: '2' });
    await bus.send(
      ...encodeResumeAnswer(topic, { kind: 'after', count: 1, seq: 2 }, [item('lp', '3', 3)]),
    );
    await second.answered();
    expect(second.answers[0]).toMatchObject({ kind: 'after', items: [{ header: { id: '3' } }] });
    // Nothing was subscribed for it: up to another channel's subscription, the handler sees
    // only the first resume's topic and the replay-end going away.
    subscriptions.add('other', new RecordingSubscriber());
    const seen: { isSubscribe: boolean; topic: string }[] = [];
    do seen.push(await bus.nextSubscription());
    while (seen[seen.length - 1]!.topic !== 'other');
    expect(seen.slice(0, -1)).toEqual([
      { isSubscribe: false, topic: replayEnd },
      { isSubscribe: false, topic: resume.topic },
    ]);
  });
});

/** A subscriber with no position of its own (an SSE resume by Last-Event-ID, a WebSocket). */
class ResumingSubscriber extends RecordingSubscriber {
  override since = Date.now() + 60_000;

  resume(_channel: string, answer: ResumeAnswer): void {
    if (answer.kind === 'after') for (const delivery of answer.items) this.deliver(delivery);
  }
}

describe('ChannelSubscriptions: resumes', () => {
  /** Subscriptions until the resume topic; returns it. */
  async function resumeTopic(): Promise<string> {
    for (;;) {
      const { isSubscribe, topic } = await bus.nextSubscription();
      if (isSubscribe && topic.startsWith(resumePrefix)) return topic;
    }
  }

  it('an item the handler released after its resume answer reaches the subscriber even when it was accepted before its request left', async () => {
    // With Redis, an item published before the request left can still be on its way to
    // this node when the handler answers the resume from history: it comes after the
    // answer, older than `since`, and it follows the subscriber's position.
    const subscriber = new ResumingSubscriber();
    subscriptions.add('drops', subscriber, '1');
    const replayEnd = await bus.subscribedTo('drops');
    const topic = await resumeTopic();
    await bus.send(encodeReplayEnd(replayEnd));
    await bus.send(
      ...encodeResumeAnswer(topic, { kind: 'after', count: 1, seq: 10 }, [
        positioned('drops', '2', '1', 20),
      ]),
    );
    await bus.send(positioned('drops', '3', '2', 30));
    await subscriber.waitForCount(2);
    expect(subscriber.ids).toEqual(['2', '3']);
  });

  it('after a resume answer, items it covered are not delivered again', async () => {
    const subscriber = new ResumingSubscriber();
    subscriptions.add('covered', subscriber, '1');
    const replayEnd = await bus.subscribedTo('covered');
    const topic = await resumeTopic();
    // The replay of the new subscription brings items the answer covers too.
    await bus.send(
      positioned('covered', '1', '0', 10),
      positioned('covered', '2', '1', 20),
      encodeReplayEnd(replayEnd),
    );
    await bus.send(
      ...encodeResumeAnswer(topic, { kind: 'after', count: 1, seq: 10 }, [
        positioned('covered', '2', '1', 20),
      ]),
      positioned('covered', '3', '2', 30),
    );
    await subscriber.waitForCount(2);
    expect(subscriber.ids).toEqual(['2', '3']);
  });

  it('after a gap answer, items past the channel’s last item reach the subscriber, even late ones; those up to it do not', async () => {
    const subscriber = new ResumingSubscriber();
    subscriptions.add('gapped', subscriber, '1');
    const replayEnd = await bus.subscribedTo('gapped');
    const topic = await resumeTopic();
    await bus.send(encodeReplayEnd(replayEnd));
    // Live while the answer is awaited: queued; the client is told the gap ends at it.
    await bus.send(positioned('gapped', '5', '4', 50));
    await bus.send(...encodeResumeAnswer(topic, { kind: 'gap', lastId: '5', seq: 50 }, []));
    // Accepted before the request left (older than `since`), here after the answer (Redis).
    await bus.send(positioned('gapped', '6', '5', 60));
    await subscriber.waitForCount(1);
    expect(subscriber.ids).toEqual(['6']);
  });

  it('a subscriber added again without a position (a next link) goes by its time again', async () => {
    const subscriber = new ResumingSubscriber();
    subscriptions.add('relinked', subscriber, '1');
    const replayEnd = await bus.subscribedTo('relinked');
    const topic = await resumeTopic();
    await bus.send(encodeReplayEnd(replayEnd));
    await bus.send(...encodeResumeAnswer(topic, { kind: 'after', count: 0, seq: 10 }, []));
    // The answer is in once a probe sent after it has arrived.
    const probe = new RecordingSubscriber();
    subscriptions.add('probe-relinked', probe);
    await bus.send(encodeReplayEnd(await bus.subscribedTo('probe-relinked')));
    await bus.send(item('probe-relinked', 'p1', 11));
    await probe.waitForCount(1);
    subscriber.since = Date.now() + 120_000;
    subscriptions.add('relinked', subscriber);
    const later = { channel: 'relinked', id: 'later', noSeq: false, formats: {} };
    await bus.send(
      positioned('relinked', '2', '1', 20), // older than its new since: the backend's answer had it
      encodeDelivery(later, 30, Date.now() + 180_000),
    );
    await subscriber.waitForCount(1);
    expect(subscriber.ids).toEqual(['later']);
  });
});
