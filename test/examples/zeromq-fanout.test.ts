import { EventSource, type FetchLike } from 'eventsource';
import { fetch as undiciFetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startExampleOnPorts, type ExampleOnPorts } from '../support/example-process.js';

/*
 * examples/zeromq-fanout as its README tells it: `node dist/examples/zeromq-fanout/main.js`
 * (free ports as flags), an SSE client on each node's /news, lines typed on its stdin
 * published through the XPUB, and the publisher's log of the subscriptions it receives.
 */

interface SseClient {
  events: { id: string; data: string }[];
  waitForEvents(count: number, timeoutMs?: number): Promise<void>;
  close(): void;
}

const portNames = [
  'xpub-port',
  'backend-port',
  'node-a-port',
  'node-a-control-port',
  'node-a-pull-port',
  'node-b-port',
  'node-b-control-port',
  'node-b-pull-port',
] as const;

let example: ExampleOnPorts<(typeof portNames)[number]>;
let ports: Record<(typeof portNames)[number], number>;
const clients: SseClient[] = [];

/** The first line of the example's output at or after `from` matching `pattern`. */
function waitForLine(pattern: RegExp, from = 0): Promise<string> {
  return example.waitForLine((line) => pattern.test(line), { since: from });
}

function openSse(url: string): SseClient {
  const source = new EventSource(url, { fetch: undiciFetch as unknown as FetchLike });
  const events: { id: string; data: string }[] = [];
  const wake = new Set<() => void>();
  source.onmessage = (event: MessageEvent<string>) => {
    events.push({ id: event.lastEventId, data: event.data });
    for (const fn of [...wake]) fn();
  };
  const client: SseClient = {
    events,
    waitForEvents: (count, timeoutMs = 10_000) =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          if (events.length < count) return;
          clearTimeout(timer);
          wake.delete(check);
          resolve();
        };
        const timer = setTimeout(() => {
          wake.delete(check);
          reject(new Error(`${url}: ${events.length} of ${count} events within ${timeoutMs} ms`));
        }, timeoutMs);
        wake.add(check);
        check();
      }),
    close: () => source.close(),
  };
  clients.push(client);
  return client;
}

beforeAll(async () => {
  example = await startExampleOnPorts('zeromq-fanout', portNames);
  ports = example.ports;
}, 100_000);

afterAll(async () => {
  for (const client of clients) client.close();
  await example?.stop();
});

describe('examples/zeromq-fanout', () => {
  it('an SSE client on each node gets every line published through the XPUB, in order; the publisher sees each node subscribe and unsubscribe', async () => {
    const nodeA = `http://127.0.0.1:${ports['node-a-port']}/news`;
    const nodeB = `http://127.0.0.1:${ports['node-b-port']}/news`;

    // Nobody listens yet: the publisher does not send into the void.
    let mark = example.lines.length;
    example.stdin.write('news too early\n');
    await waitForLine(/^publisher: "news" has no listeners; not sent$/, mark);

    mark = example.lines.length;
    const clientA = openSse(nodeA);
    await waitForLine(/^publisher: subscribe "news" \(1 node listening\)$/, mark);
    const clientB = openSse(nodeB);
    await waitForLine(/^publisher: subscribe "news" \(2 nodes listening\)$/, mark);

    const count = 25;
    const texts = Array.from({ length: count }, (_, i) => `message ${i + 1}`);
    mark = example.lines.length;
    example.stdin.write(texts.map((text) => `news ${text}\n`).join(''));
    await waitForLine(new RegExp(`^publisher: sent "news" #${count} to 2 nodes$`), mark);
    const expected = texts.map((data, i) => ({ id: String(i + 1), data }));
    for (const client of [clientA, clientB]) {
      await client.waitForEvents(count);
      expect(client.events).toEqual(expected);
    }

    // The first client leaves: node A unsubscribes; node B still listens.
    mark = example.lines.length;
    clientA.close();
    await waitForLine(/^publisher: unsubscribe "news" \(1 node listening\)$/, mark);
    example.stdin.write('news only for B\n');
    await clientB.waitForEvents(count + 1);
    expect(clientB.events.at(-1)).toEqual({ id: String(count + 1), data: 'only for B' });
    expect(clientA.events).toHaveLength(count);

    // The last one leaves: the publisher sees the channel go.
    mark = example.lines.length;
    clientB.close();
    await waitForLine(/^publisher: unsubscribe "news" \(0 nodes listening\)$/, mark);
  });

  it('stops cleanly on SIGTERM (Ctrl-C), taking both nodes with it', async () => {
    expect(await example.stop()).toBe(0);
    expect(example.lines.filter((line) => /^node [AB] stopped/.test(line)).sort()).toEqual([
      'node A stopped (exit code 0)',
      'node B stopped (exit code 0)',
    ]);
  });
});
