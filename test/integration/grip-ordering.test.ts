import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as zmq from 'zeromq';
import {
  answer,
  openStream,
  publishOk,
  streamItem,
  uniqueName,
  type StreamClient,
} from '../support/grip.js';
import { useGripSuite } from '../support/grip-suite.js';
import { waitForSubscribed } from '../support/channel-events.js';

/*
 * Delivery order end to end (protocol 2.6): one publisher's items on a channel reach every
 * held stream in order, on every worker; prev-id reorders; a repeated id is dropped.
 */

const suite = useGripSuite({
  routes: (target) => `* ${target}\n`,
  workers: 2,
  args: ['--log-level', 'debug'],
});
const sockets: zmq.Socket[] = [];

beforeAll(() => {
  suite.backend.on('/stream', (req, res) => {
    const channel = new URL(req.url!, 'http://x').searchParams.get('channel')!;
    answer({ 'Grip-Hold': 'stream', 'Grip-Channel': channel }, 'open\n')(req, res);
  });
});
afterEach(() => {
  for (const socket of sockets.splice(0)) socket.close();
});

/**
 * `count` streams on the channel (spread over the workers by the kernel), each proven live
 * by a first item, so that every worker listens before the test publishes.
 */
async function holdStreams(channel: string, count: number): Promise<StreamClient[]> {
  const opened = await Promise.all(
    Array.from({ length: count }, () =>
      openStream(`${suite.thumbtack.url}/stream?channel=${channel}`),
    ),
  );
  suite.streams.push(...opened);
  await waitForSubscribed(suite.thumbtack, channel);
  await publishOk(suite.thumbtack, streamItem(channel, 'ready\n'));
  await Promise.all(opened.map((s) => s.waitForText('open\nready\n')));
  return opened;
}

const expected = (n: number): string =>
  'open\nready\n' + Array.from({ length: n }, (_v, i) => `${i};`).join('') + 'end\n';

describe('ordering', () => {
  it('200 items published one after another over HTTP arrive in order on every stream', async () => {
    const channel = uniqueName('order');
    const held = await holdStreams(channel, 4);
    for (let i = 0; i < 200; i++) await publishOk(suite.thumbtack, streamItem(channel, `${i};`));
    await publishOk(suite.thumbtack, streamItem(channel, 'end\n'));
    for (const stream of held) expect(await stream.waitForText('end\n')).toBe(expected(200));
  });

  it('200 items pushed back to back over ZeroMQ PUSH arrive in order on every stream', async () => {
    const channel = uniqueName('order');
    const held = await holdStreams(channel, 4);
    const push = new zmq.Push({ linger: 0 });
    sockets.push(push);
    push.connect(suite.thumbtack.zmqPull);
    for (let i = 0; i < 200; i++) {
      await push.send('J' + JSON.stringify(streamItem(channel, `${i};`)));
    }
    await push.send('J' + JSON.stringify(streamItem(channel, 'end\n')));
    for (const stream of held) expect(await stream.waitForText('end\n')).toBe(expected(200));
  });

  it('one publish with 200 items delivers them in order', async () => {
    const channel = uniqueName('order');
    const held = await holdStreams(channel, 2);
    const items = Array.from({ length: 200 }, (_v, i) => streamItem(channel, `${i};`));
    await publishOk(suite.thumbtack, ...items, streamItem(channel, 'end\n'));
    for (const stream of held) expect(await stream.waitForText('end\n')).toBe(expected(200));
  });

  it('an item whose prev-id has not been seen waits for it (s1, s3, s2 arrive as s1, s2, s3)', async () => {
    const channel = uniqueName('order');
    const [stream] = await holdStreams(channel, 1);
    await publishOk(suite.thumbtack, streamItem(channel, 's1;', { id: 's1' }));
    await publishOk(suite.thumbtack, streamItem(channel, 's3;', { id: 's3', 'prev-id': 's2' }));
    await publishOk(suite.thumbtack, streamItem(channel, 's2;', { id: 's2', 'prev-id': 's1' }));
    await publishOk(suite.thumbtack, streamItem(channel, 'end\n', { 'prev-id': 's3' }));
    expect(await stream!.waitForText('end\n', 3_000)).toBe('open\nready\ns1;s2;s3;end\n');
  });

  it('a repeated id on a channel is delivered once, whether in one publish or two', async () => {
    const channel = uniqueName('order');
    const other = uniqueName('order');
    const [stream] = await holdStreams(channel, 1);
    const [otherStream] = await holdStreams(other, 1);
    await publishOk(suite.thumbtack, streamItem(channel, 'a;', { id: 'd1' }));
    await publishOk(
      suite.thumbtack,
      streamItem(channel, 'again;', { id: 'd1' }),
      streamItem(channel, 'b;', { id: 'd2' }),
      streamItem(channel, 'b again;', { id: 'd2' }),
      // The same id on another channel is another item.
      streamItem(other, 'other;', { id: 'd1' }),
    );
    await publishOk(suite.thumbtack, streamItem(channel, 'end\n'), streamItem(other, 'end\n'));
    expect(await stream!.waitForText('end\n')).toBe('open\nready\na;b;end\n');
    expect(await otherStream!.waitForText('end\n')).toBe('open\nready\nother;end\n');
  });
});
