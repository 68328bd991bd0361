import type http from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { stopAllBackends } from '../support/backend.js';
import {
  closeTrackedStreams,
  openTrackedStream as openStream,
  publish,
  publishOk,
  startPathBackend,
  streamItem,
  uniqueName,
  type PathBackend,
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
 * Delivery receipts: `POST /publish/?receipt` answers, per item, how many connections
 * listened, how many it was written to and why the others were dropped, once every worker
 * (and with Redis every node that got the item) has told. A receipt for one connection
 * answers 404 when no connection has the id. A plain publish is answered as before.
 */

let backend: PathBackend;
/** Holds a stream on `?ch=`; `?user=` sets the subscriber's user and a skip-users filter. */
function holdStream(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url!, 'http://backend');
  const user = url.searchParams.get('user');
  res.writeHead(200, {
    'content-type': 'text/plain',
    'grip-hold': 'stream',
    'grip-channel': `${url.searchParams.get('ch')!}${user ? '; filter=skip-users' : ''}`,
    ...(user ? { 'grip-set-meta': `user="${user}"` } : {}),
  });
  res.end('open\n');
}

beforeAll(async () => {
  backend = await startPathBackend();
  backend.on('/stream', holdStream);
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

async function connectionIdOf(count: number): Promise<string> {
  const requests = await backend.waitForRequests('/stream', count);
  return String(requests[count - 1]!.headers['connection-id']);
}

describe('receipts on one node', () => {
  let tt: Thumbtack;

  beforeAll(async () => {
    tt = await startThumbtack({ routes: routes(), workers: 2, readyTimeoutMs: 50_000 });
    await busReady(tt, 2);
  }, startupTimeoutMs);

  it('counts listeners, writes and drops by reason over both workers', async () => {
    const channel = uniqueName('rc');
    const streams = [];
    for (const user of ['', '', 'alice']) {
      const stream = await openStream(`${tt.url}/stream?ch=${channel}&user=${user}`);
      await stream.waitForText('open\n');
      streams.push(stream);
    }
    const item = streamItem(channel, 'hi\n', { meta: { skip_users: 'alice' } });
    const result = await publishAsked(tt, 'receipt', [item]);
    expect(result.status).toBe(200);
    expect(result.items).toEqual([
      {
        channel,
        listeners: 3,
        written: 2,
        dropped: { filter: 1 },
        workers: { answered: 2, asked: 2 },
      },
    ]);
    for (const stream of streams.slice(0, 2)) await stream.waitForText('hi\n');
    expect(streams[2]!.text()).toBe('open\n');

    const nobody = await publishAsked(tt, 'receipt=true&timeout=0.5', [
      streamItem(uniqueName('none'), 'x\n'),
    ]);
    expect(nobody.status).toBe(200);
    expect(nobody.items[0]).toMatchObject({ listeners: 0, written: 0, dropped: {} });
    const plain = await publish(tt, [streamItem(channel, 'plain\n')]);
    expect(plain).toEqual({ status: 200, text: 'Published\n' });
  });

  it('answers a receipt for one connection with 200 when written and 404 when no connection has the id', async () => {
    const seen = backend.requestsTo('/stream').length;
    const stream = await openStream(`${tt.url}/stream?ch=${uniqueName('own')}`);
    await stream.waitForText('open\n');
    const id = await connectionIdOf(seen + 1);
    const written = await publishAsked(tt, 'receipt', [streamItem(`$connection:${id}`, 'you\n')]);
    expect(written.status).toBe(200);
    expect(written.items[0]).toMatchObject({ listeners: 1, written: 1 });
    await stream.waitForText('you\n');
    const missing = await publishAsked(tt, 'receipt', [streamItem('$connection:nobody', 'x\n')]);
    expect(missing.status).toBe(404);
    expect(missing.items[0]).toMatchObject({ listeners: 0, written: 0 });
    expect((await publish(tt, [streamItem('$connection:nobody', 'x\n')])).status).toBe(200);
  });

  it('refuses bad receipt parameters with 400 naming the field, and delivers nothing of them', async () => {
    const channel = uniqueName('bad');
    const stream = await openStream(`${tt.url}/stream?ch=${channel}`);
    await stream.waitForText('open\n');
    const item = streamItem(channel, 'refused\n', { id: 'r1' });
    const cases: [string, string][] = [
      ['receipt&timeout=abc', '"timeout"'],
      ['receipt&timeout=99', '"timeout"'],
      ['receipt&timeout=', '"timeout"'],
      ['timeout=1', '"timeout"'],
      ['receipt=maybe', '"receipt"'],
      ['ack=5', '"ack"'],
      ['ack=0', '"ack"'],
      ['one&ack=x', '"ack"'],
    ];
    for (const [query, field] of cases) {
      const result = await publishAsked(tt, query, [item]);
      expect([query, result.status]).toEqual([query, 400]);
      expect(result.text).toContain(field);
    }
    const noId = await publishAsked(tt, 'ack=5', [streamItem('$connection:x', 'y')]);
    expect(noId.status).toBe(400);
    expect(noId.text).toContain('"id"');
    const oneToOne = await publishAsked(tt, 'one', [streamItem('$connection:x', 'y')]);
    expect(oneToOne.status).toBe(400);
    expect(oneToOne.text).toContain('"one"');
    await publishOk(tt, streamItem(channel, 'after\n'));
    expect(await stream.waitForText('after\n')).toBe('open\nafter\n');
  });
});
