import type http from 'node:http';
import { afterEach, expect, test } from 'vitest';
import { startBackend, stopAllBackends } from '../support/backend.js';
import { closeTrackedStreams, openTrackedStream, uniqueName } from '../support/grip.js';
import {
  childPid,
  startThumbtack,
  stopAllThumbtacks,
  waitForRestart,
  waitUntil,
  type Thumbtack,
} from '../support/thumbtack.js';

/*
 * A worker tells the handler every channel it listens on by a ZeroMQ subscription, and
 * libzmq drops a SUB's subscription messages past its send high-water mark (1,000 by
 * default) instead of queueing them: both when many channels are subscribed at once and
 * when the socket reconnects to a restarted handler and resends them all. A dropped one
 * leaves the handler unaware of the channel (with Redis, the node never subscribes it).
 */

const holds = 4;
const channelsPerHold = 400;

afterEach(async () => {
  closeTrackedStreams();
  await stopAllThumbtacks();
  await stopAllBackends();
});

/** /many?prefix=P holds a stream on P-0 ... P-399. */
function manyChannels(req: http.IncomingMessage, res: http.ServerResponse): void {
  const prefix = new URL(req.url!, 'http://backend').searchParams.get('prefix')!;
  const channels = Array.from({ length: channelsPerHold }, (_, i) => `${prefix}-${i}`);
  res.writeHead(200, {
    'content-type': 'text/plain',
    'grip-hold': 'stream',
    'grip-channel': channels.join(', '),
  });
  res.end('open\n');
}

/** Distinct channels the handler logged as subscribed at or after log line `since`. */
function subscribedChannels(tt: Thumbtack, since: number): Set<string> {
  const channels = new Set<string>();
  for (const line of tt.logs.slice(since))
    if (line['event'] === 'channel.subscribed') channels.add(line['channel'] as string);
  return channels;
}

test('1,600 channels subscribed at once all reach the handler, and all again after it restarts', async () => {
  const backend = await startBackend(manyChannels);
  const tt = await startThumbtack({
    routes: `* ${backend.target}\n`,
    args: ['--workers', '1', '--subscription-max', String(channelsPerHold), '--log-level', 'debug'],
  });
  const total = holds * channelsPerHold;
  const prefix = uniqueName('many');
  await Promise.all(
    Array.from({ length: holds }, (_, i) =>
      openTrackedStream(`${tt.url}/many?prefix=${prefix}${i}`),
    ),
  );
  await waitUntil(() => subscribedChannels(tt, 0).size >= total, 15_000).catch(() => undefined);
  expect(subscribedChannels(tt, 0).size).toBe(total);

  const handlerPid = childPid(tt, 'handler')!;
  const since = tt.logs.length;
  process.kill(handlerPid, 'SIGKILL');
  await waitForRestart(tt, 'handler', handlerPid);
  await waitUntil(() => subscribedChannels(tt, since).size >= total, 15_000).catch(() => undefined);
  expect(subscribedChannels(tt, since).size).toBe(total);
});
