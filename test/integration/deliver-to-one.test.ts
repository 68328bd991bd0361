import type http from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { stopAllBackends } from '../support/backend.js';
import {
  closeTrackedStreams,
  openTrackedStream as openStream,
  publishOk,
  startPathBackend,
  streamItem,
  uniqueName,
  type PathBackend,
  type StreamClient,
} from '../support/grip.js';
import { closeAllHeldClients } from '../support/held-client.js';
import { publishAsked } from '../support/receipts.js';
import {
  busReady,
  startThumbtack,
  stopAllThumbtacks,
  type Thumbtack,
} from '../support/thumbtack.js';

/*
 * Deliver to one of many (Pushca's findAny): `POST /publish/?one` sends each item to one
 * of its channel's listeners, taking them in turn over successive publishes, whichever
 * worker or node holds them. Pushca's `exclude` is GRIP's skip-users filter.
 */

let backend: PathBackend;
beforeAll(async () => {
  backend = await startPathBackend();
  backend.on('/stream', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const url = new URL(req.url!, 'http://backend');
    const user = url.searchParams.get('user')!;
    res.writeHead(200, {
      'content-type': 'text/plain',
      'grip-hold': 'stream',
      'grip-channel': `${url.searchParams.get('ch')!}; filter=skip-users`,
      'grip-set-meta': `user="${user}"`,
    });
    res.end('open\n');
  });
});

afterEach(() => {
  closeAllHeldClients();
  closeTrackedStreams();
});

afterAll(async () => {
  await stopAllThumbtacks();
  await stopAllBackends();
});

/** Starting thumbtack beside other test files on two busy cores can take past 20 s. */
const startupTimeoutMs = 60_000;
const routes = (): string => `* ${backend.target}\n`;

async function openListeners(nodes: Thumbtack[], channel: string): Promise<StreamClient[]> {
  const streams: StreamClient[] = [];
  for (const [index, node] of nodes.entries()) {
    const stream = await openStream(`${node.url}/stream?ch=${channel}&user=u${index}`);
    await stream.waitForText('open\n');
    streams.push(stream);
  }
  return streams;
}

/** Publishes `count` numbered items with `?one`; returns the connection each went to. */
async function publishToOne(tt: Thumbtack, channel: string, count: number): Promise<string[]> {
  const picked: string[] = [];
  for (let n = 1; n <= count; n++) {
    const result = await publishAsked(tt, 'one', [streamItem(channel, `item-${n}\n`)]);
    expect(result.status).toBe(200);
    picked.push(result.items[0]!.connection!);
  }
  return picked;
}

function itemsOf(stream: StreamClient): string[] {
  return stream
    .text()
    .split('\n')
    .filter((line) => line.startsWith('item-'));
}

describe('deliver to one on one node', () => {
  let tt: Thumbtack;

  beforeAll(async () => {
    tt = await startThumbtack({ routes: routes(), workers: 2, readyTimeoutMs: 50_000 });
    await busReady(tt, 2);
  }, startupTimeoutMs);

  it('takes the listeners in turn over both workers, each item to exactly one', async () => {
    const channel = uniqueName('any');
    const streams = await openListeners([tt, tt, tt], channel);
    const picked = await publishToOne(tt, channel, 6);
    expect(new Set(picked.slice(0, 3)).size).toBe(3);
    expect(picked.slice(3)).toEqual(picked.slice(0, 3));
    await Promise.all(streams.map((stream) => stream.waitForText('item-', 5_000)));
    await expect.poll(() => streams.flatMap(itemsOf).length).toBe(6);
    for (const stream of streams) expect(itemsOf(stream)).toHaveLength(2);

    const withReceipt = await publishAsked(tt, 'one&receipt', [streamItem(channel, 'item-7\n')]);
    expect(withReceipt.items[0]).toMatchObject({ listeners: 1, written: 1 });
    expect(withReceipt.items[0]!.connection).toBe(picked[0]);
  });

  it('answers 404 when the channel has no listener', async () => {
    const result = await publishAsked(tt, 'one&timeout=0.5', [streamItem(uniqueName('no'), 'x')]);
    expect(result.status).toBe(404);
    expect(result.items[0]).toMatchObject({ connection: null, listeners: 0 });
  });

  it('excludes listeners with skip-users (Pushca’s exclude)', async () => {
    const channel = uniqueName('ex');
    const [u0, u1, u2] = await openListeners([tt, tt, tt], channel);
    await publishOk(tt, streamItem(channel, 'item-all\n', { meta: { skip_users: 'u1' } }));
    await publishOk(tt, streamItem(channel, 'item-end\n'));
    expect(await u0!.waitForText('item-end\n')).toBe('open\nitem-all\nitem-end\n');
    expect(await u1!.waitForText('item-end\n')).toBe('open\nitem-end\n');
    expect(await u2!.waitForText('item-end\n')).toBe('open\nitem-all\nitem-end\n');
  });
});
