import http from 'node:http';
import { afterEach, expect, test } from 'vitest';
import { startBackend, stopAllBackends } from '../support/backend.js';
import {
  closeAllHeldClients,
  openHeldClient,
  publishItems,
  streamItem,
} from '../support/held-client.js';
import {
  openClientConnections,
  proxyWorkerPids,
  startThumbtack,
  stopAllThumbtacks,
  waitUntil,
  type LogLine,
  type Thumbtack,
} from '../support/thumbtack.js';
import {
  isChannelEvent,
  waitForSubscribed,
  waitForUnsubscribed,
} from '../support/channel-events.js';

/*
 * A client that goes away is removed from every channel at once: its worker unsubscribes a
 * channel on the handler's bus as soon as its last local listener leaves (seen in the
 * handler's debug log), and nothing it used is left behind in the worker (connections,
 * holds, channels, timers), as the worker's drain report shows.
 */

/** /stream and /poll hold on ?channels=a,b with every timer a hold can have. */
function holdBackend(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url!, 'http://backend');
  const channels = url.searchParams.get('channels')!;
  if (url.pathname === '/stream') {
    res.writeHead(200, {
      'content-type': 'text/plain',
      'grip-hold': 'stream',
      'grip-channel': channels,
      'grip-keep-alive': 'ka\\n; format=cstring; timeout=20',
      'grip-link': '</next>; rel=next; timeout=120',
    });
    res.end(`open ${channels}\n`);
    return;
  }
  res.writeHead(200, {
    'content-type': 'text/plain',
    'grip-hold': 'response',
    'grip-channel': channels,
    'grip-timeout': '120',
  });
  res.end('timed out\n');
}

afterEach(async () => {
  closeAllHeldClients();
  await stopAllThumbtacks();
  await stopAllBackends();
});

test('a client that disconnects leaves every channel at once, and the worker keeps nothing of it', async () => {
  const backend = await startBackend(holdBackend);
  const tt: Thumbtack = await startThumbtack({
    routes: `* ${backend.target}`,
    workers: 1,
    // Long-polls leave at once too here (their linger has its own test, grip-response-hold).
    args: ['--log-level', 'debug', '--subscription-linger', '0'],
  });
  const [workerPid] = proxyWorkerPids(tt);

  const both = openHeldClient(`${tt.url}/stream?channels=dc-a,dc-b`);
  const onlyA = openHeldClient(`${tt.url}/stream?channels=dc-a`);
  const poll = openHeldClient(`${tt.url}/poll?channels=dc-b,dc-c`);
  await both.waitFor('open dc-a,dc-b\n');
  await onlyA.waitFor('open dc-a\n');
  for (const channel of ['dc-a', 'dc-b', 'dc-c']) await waitForSubscribed(tt, channel);
  // One bus subscription per channel for the worker, however many of its clients listen.
  expect(
    tt.logs.filter(
      (l) => l['event'] === 'channel.subscribed' && String(l['channel']).startsWith('dc-'),
    ),
  ).toHaveLength(3);
  expect(openClientConnections(tt, workerPid!)).toBe(3);

  // The first stream leaves: dc-a and dc-b keep listeners here, nothing is unsubscribed.
  both.destroy();
  await publishItems(tt.controlUrl, [streamItem('dc-a', 'still a\n')]);
  await onlyA.waitFor('still a\n');
  await waitUntil(() => openClientConnections(tt, workerPid!) === 2);

  // The last listener of dc-a leaves: the worker unsubscribes it on the bus at once.
  onlyA.destroy();
  const unsubscribedA = await waitForUnsubscribed(tt, 'dc-a', { timeoutMs: 2_000 });
  expect(unsubscribedA['listeners']).toBe(0);
  // dc-b still has the long-poll (the first stream, gone, no longer counts for it).
  expect(tt.logs.some(isChannelEvent('channel.unsubscribed', 'dc-b'))).toBe(false);

  // The long-poll leaves: both its channels go, dc-b included.
  poll.destroy();
  for (const channel of ['dc-b', 'dc-c']) {
    const line = await waitForUnsubscribed(tt, channel, { timeoutMs: 2_000 });
    expect(line['listeners']).toBe(0);
  }
  // The worker saw it the same way (its lines may reach us after the handler's), and its
  // client connections are all closed.
  const isWorkerLeaving = (l: LogLine): boolean =>
    l.msg === 'channel unsubscribed' && l.pid === workerPid;
  await waitUntil(() => tt.logs.filter(isWorkerLeaving).length === 3);
  const workerLeft = tt.logs.filter(isWorkerLeaving);
  expect(workerLeft.map((l) => l['channel'])).toEqual(['dc-a', 'dc-b', 'dc-c']);
  expect(workerLeft.at(-1)!['channels']).toBe(0);
  await waitUntil(() => openClientConnections(tt, workerPid!) === 0);

  // Nothing is left in the worker: no hold, channel, timer or request of the clients.
  await tt.stop();
  const draining = tt.logs.find((l) => l.msg === 'draining' && l.pid === workerPid)!;
  expect(draining).toMatchObject({ holds: 0, channels: 0, timers: 0, inFlight: 0 });
});
