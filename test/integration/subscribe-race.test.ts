import http from 'node:http';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as zmq from 'zeromq';
import { startBackend, stopAllBackends } from '../support/backend.js';
import { closeAllHeldClients, openHeldClient } from '../support/held-client.js';
import { startThumbtack, stopAllThumbtacks, type Thumbtack } from '../support/thumbtack.js';

/*
 * The subscribe race: the backend publishes right after (or just before finishing) its
 * answer that tells thumbtack to hold, before the worker's subscription can be active.
 * Every client must still get its item, over both publish inputs and both hold kinds, on
 * fresh channels (the worker subscribes on the bus) and on a reused channel (it may be
 * subscribed already, by this or the other worker).
 */

type Via = 'http' | 'zmq';
type When = 'after' | 'before';
type Kind = 'stream' | 'response';

let tt: Thumbtack;
let push: zmq.Push;
/** Publishes the backend made that the handler did not accept. */
const publishFailures: string[] = [];

async function publish(via: Via, channel: string, kind: Kind, text: string): Promise<void> {
  const formats =
    kind === 'stream' ? { 'http-stream': { content: text } } : { 'http-response': { body: text } };
  const item = { channel, formats };
  if (via === 'zmq') {
    await push.send('J' + JSON.stringify(item));
    return;
  }
  const res = await request(`${tt.controlUrl}/publish/`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ items: [item] }),
  });
  const body = await res.body.text();
  if (res.statusCode !== 200) publishFailures.push(`${res.statusCode} ${body}`);
}

/** GET /hold?kind=&channel=&item=&via=&when=: answers with a hold and publishes `item`. */
function raceBackend(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url!, 'http://backend');
  const q = (name: string): string => url.searchParams.get(name)!;
  const kind = q('kind') as Kind;
  const channel = q('channel');
  const via = q('via') as Via;
  const item = q('item');
  const headers =
    kind === 'stream'
      ? { 'content-type': 'text/plain', 'grip-hold': 'stream', 'grip-channel': channel }
      : {
          'content-type': 'text/plain',
          'grip-hold': 'response',
          'grip-channel': channel,
          'grip-timeout': '3',
        };
  const fail = (err: unknown): void => void publishFailures.push((err as Error).message);
  if (q('when') === 'before') {
    // Published (over HTTP: accepted) before the answer that sets up the hold is complete.
    res.writeHead(200, headers);
    res.write('held:');
    publish(via, channel, kind, item).then(() => res.end('\n'), fail);
    return;
  }
  res.writeHead(200, headers);
  res.end('held:\n', () => void publish(via, channel, kind, item).catch(fail));
}

beforeAll(async () => {
  const backend = await startBackend(raceBackend);
  tt = await startThumbtack({ routes: `* ${backend.target}`, workers: 2 });
  push = new zmq.Push({ linger: 0 });
  push.connect(tt.zmqPull);
});

afterAll(async () => {
  push.close();
  closeAllHeldClients();
  await stopAllThumbtacks();
  await stopAllBackends();
});

let counter = 0;

/** One client: resolves with undefined when it got its own item and nothing else, else why not. */
async function runOne(
  kind: Kind,
  via: Via,
  when: When,
  channel: string,
): Promise<string | undefined> {
  const item = `item-${++counter}-${kind}-${via}-${when}`;
  const query = new URLSearchParams({ kind, channel, item, via, when });
  const client = openHeldClient(`${tt.url}/hold?${query.toString()}`);
  try {
    if (kind === 'stream') await client.waitFor(item, 3_000);
    else await client.closed;
    // Only its own item: one published before the request is not for it (not even in the same ms).
    const expected = kind === 'stream' ? `held:\n${item}` : item;
    return client.text() === expected ? undefined : `${item}: got ${JSON.stringify(client.text())}`;
  } catch (err) {
    return `${item}: ${(err as Error).message}`;
  } finally {
    client.destroy();
  }
}

const combos: { kind: Kind; via: Via; when: When }[] = [];
for (const kind of ['stream', 'response'] as const) {
  for (const via of ['http', 'zmq'] as const) {
    for (const when of ['after', 'before'] as const) combos.push({ kind, via, when });
  }
}

describe('subscribe race: a publish right after the hold answer is never lost', () => {
  test.each(combos)(
    '$kind hold, publish over $via $when the answer: fresh channels',
    async ({ kind, via, when }) => {
      const lost: string[] = [];
      // A few clients at once, each on its own channel, so both workers subscribe concurrently.
      for (let round = 0; round < 5; round++) {
        const results = await Promise.all(
          Array.from({ length: 5 }, (_, i) =>
            runOne(kind, via, when, `race-${kind}-${via}-${when}-${round}-${i}`),
          ),
        );
        lost.push(...results.filter((r): r is string => r !== undefined));
      }
      expect(lost).toEqual([]);
      expect(publishFailures).toEqual([]);
    },
  );

  test.each(combos)(
    '$kind hold, publish over $via $when the answer: one reused channel',
    async ({ kind, via, when }) => {
      const channel = `race-reused-${kind}-${via}-${when}`;
      const lost: string[] = [];
      // One client at a time: on a reused channel a long-poll takes whichever item comes first.
      for (let i = 0; i < 25; i++) {
        const result = await runOne(kind, via, when, channel);
        if (result !== undefined) lost.push(result);
      }
      expect(lost).toEqual([]);
      expect(publishFailures).toEqual([]);
    },
  );
});
