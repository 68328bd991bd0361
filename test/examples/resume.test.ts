import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startExampleOnPorts, type ExampleOnPorts } from '../support/example-process.js';
import { projectRoot } from '../support/thumbtack.js';
import { closeAllWsClients, connectWs, expectRefusal, type WsTestClient } from '../support/ws.js';

/*
 * examples/resume as its README tells it: `node dist/examples/resume/main.js` (free ports as
 * flags), `ws` clients on /feed with alice's and bob's tokens, publishes and the revoke
 * through the backend's admin paths, and the README's feed-client.mjs run as written.
 */

const portNames = ['port', 'control-port', 'pull-port', 'sub-port', 'backend-port'] as const;

let example: ExampleOnPorts<(typeof portNames)[number]>;
let ports: Record<(typeof portNames)[number], number>;
const children = new Set<ChildProcess>();

interface FeedEvent {
  type: 'event';
  channel: string;
  id: string;
  data: string;
}

const feedUrl = (token: string): string =>
  `ws://127.0.0.1:${ports.port}/feed?token=${encodeURIComponent(token)}`;

async function admin(pathAndQuery: string, body = ''): Promise<Response> {
  const res = await fetch(`http://127.0.0.1:${ports['backend-port']}/admin/${pathAndQuery}`, {
    method: 'POST',
    body,
  });
  expect(res.status, await res.clone().text()).toBe(200);
  return res;
}

/** The README's publish: the backend numbers the event and answers with it. */
async function publish(channel: string, data: string): Promise<FeedEvent> {
  return (await (await admin(`publish?channel=${channel}`, data)).json()) as FeedEvent;
}

async function nextJson(client: WsTestClient): Promise<Record<string, unknown>> {
  return JSON.parse((await client.next()).text) as Record<string, unknown>;
}

/** Connects with `token` and takes the welcome message, checking it names `user`. */
async function connect(token: string, user: string): Promise<WsTestClient> {
  const client = await connectWs(feedUrl(token));
  expect(await nextJson(client)).toMatchObject({ type: 'welcome', user });
  return client;
}

async function subscribe(client: WsTestClient, channel: string, lastId?: string): Promise<void> {
  const request = { type: 'subscribe', channel, ...(lastId ? { 'last-id': lastId } : {}) };
  client.socket.send(JSON.stringify(request));
  expect(await nextJson(client)).toEqual({ type: 'subscribed', channel });
}

beforeAll(async () => {
  example = await startExampleOnPorts('resume', portNames);
  ports = example.ports;
}, 100_000);

afterEach(() => {
  closeAllWsClients();
  for (const child of children) child.kill('SIGKILL');
  children.clear();
});

afterAll(async () => {
  await example?.stop();
});

describe('examples/resume', () => {
  it('alice may subscribe to orders and bob may not; events reach the sockets that may read them, in order', async () => {
    const alice = await connect('alice-secret', 'alice');
    const bob = await connect('bob-secret', 'bob');
    await subscribe(alice, 'orders');
    await subscribe(alice, 'alerts');
    bob.socket.send('{"type":"subscribe","channel":"orders"}');
    expect(await nextJson(bob)).toEqual({
      type: 'error',
      error: 'forbidden',
      channel: 'orders',
      message: 'bob may not read "orders"',
    });
    await subscribe(bob, 'alerts');

    const published: FeedEvent[] = [];
    for (let i = 1; i <= 5; i++) {
      published.push(await publish('orders', `order ${i}`));
      if (i % 2 === 0) published.push(await publish('alerts', `alert ${i / 2}`));
    }
    const received: Record<string, unknown>[] = [];
    while (received.length < published.length) received.push(await nextJson(alice));
    expect(received).toEqual(published);
    expect(published.filter((e) => e.channel === 'orders').map((e) => e.id)).toEqual([
      '1',
      '2',
      '3',
      '4',
      '5',
    ]);

    // Bob gets the alerts only: an orders event would have come before the last alert.
    const alerts = published.filter((e) => e.channel === 'alerts');
    for (const alert of alerts) expect(await nextJson(bob)).toEqual(alert);
    const last = await publish('alerts', 'last');
    expect(await nextJson(bob)).toEqual(last);
    expect(await nextJson(alice)).toEqual(last);

    // Unsubscribed, alice stops getting orders; alerts still come.
    alice.socket.send('{"type":"unsubscribe","channel":"orders"}');
    expect(await nextJson(alice)).toEqual({ type: 'unsubscribed', channel: 'orders' });
    await publish('orders', 'not for alice');
    const alert = await publish('alerts', 'for both');
    expect(await nextJson(alice)).toEqual(alert);
    expect(await nextJson(bob)).toEqual(alert);
  });

  it('alice reconnecting with her last id gets exactly the 3 events she missed, then live ones', async () => {
    const first = await connect('alice-secret', 'alice');
    await subscribe(first, 'orders');
    const seen = await publish('orders', 'seen');
    expect(await nextJson(first)).toEqual(seen);
    first.socket.close();
    await first.waitForClose();

    const missed = [
      await publish('orders', 'missed 1'),
      await publish('orders', 'missed 2'),
      await publish('orders', 'missed 3'),
    ];
    expect(missed.map((e) => Number(e.id))).toEqual([1, 2, 3].map((n) => Number(seen.id) + n));

    const again = await connect('alice-secret', 'alice');
    await subscribe(again, 'orders', seen.id);
    for (const event of missed) expect(await nextJson(again)).toEqual(event);
    // Live ones follow with nothing between: no repeat of a missed event, none of "seen".
    const live = [await publish('orders', 'live 1'), await publish('orders', 'live 2')];
    for (const event of live) expect(await nextJson(again)).toEqual(event);
    expect(again.pending).toEqual([]);

    // Resuming from the newest id: nothing from history, the next event live.
    const latest = await connect('alice-secret', 'alice');
    await subscribe(latest, 'orders', live[1]!.id);
    const next = await publish('orders', 'next');
    expect(await nextJson(latest)).toEqual(next);
    expect(await nextJson(again)).toEqual(next);
  });

  it("the README's feed-client.mjs, run as written, resumes from a last id", async () => {
    const readme = fs.readFileSync(path.join(projectRoot, 'examples/resume/README.md'), 'utf8');
    const snippet = /```js\n([\s\S]*?)```/.exec(readme)?.[1];
    if (!snippet) throw new Error('README has no js block');
    expect(snippet).toContain('ws://127.0.0.1:7999/feed');

    const from = await publish('orders', 'before');
    const missed = [await publish('orders', 'gone 1'), await publish('orders', 'gone 2')];
    // The README's `node feed-client.mjs alice-secret orders <last id>`, from stdin, in the
    // project root (where `ws` resolves), pointed at this run's port.
    const child = spawn(
      process.execPath,
      ['--input-type=module', '-', 'alice-secret', 'orders', from.id],
      { cwd: projectRoot, stdio: ['pipe', 'pipe', 'pipe'] },
    );
    children.add(child);
    child.stdin!.end(snippet.replace('127.0.0.1:7999', `127.0.0.1:${ports.port}`));
    const lines: string[] = [];
    const wakers = new Set<() => void>();
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      lines.push(line);
      for (const wake of [...wakers]) wake();
    });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const waitForLines = (count: number): Promise<void> =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          if (lines.length < count) return;
          clearTimeout(timer);
          wakers.delete(check);
          resolve();
        };
        const timer = setTimeout(() => {
          wakers.delete(check);
          reject(new Error(`feed-client.mjs printed ${JSON.stringify(lines)}; stderr: ${stderr}`));
        }, 10_000);
        wakers.add(check);
        check();
      });

    await waitForLines(4);
    expect(lines.map((line) => JSON.parse(line) as unknown)).toEqual([
      { type: 'welcome', user: 'alice', channels: ['orders', 'alerts'] },
      { type: 'subscribed', channel: 'orders' },
      ...missed,
    ]);
    const live = await publish('orders', 'live');
    await waitForLines(5);
    expect(JSON.parse(lines[4]!)).toEqual(live);
  });

  it('a client whose last id history no longer reaches gets the gap message, then live events', async () => {
    // The default --history-size is 100: once alerts #102 is out, #1 and #2 are gone.
    let last: FeedEvent;
    do last = await publish('alerts', 'filler');
    while (Number(last.id) < 102);
    const bob = await connect('bob-secret', 'bob');
    await subscribe(bob, 'alerts', '1');
    expect(await nextJson(bob)).toEqual({ type: 'gap', channel: 'alerts', 'last-id': last.id });
    const live = await publish('alerts', 'after the gap');
    expect(await nextJson(bob)).toEqual(live);
  });

  it('revoke closes both of alice’s sockets at once with 4001 "revoked", leaves bob connected and refuses alice from then on', async () => {
    const alice1 = await connect('alice-secret', 'alice');
    // The README's other way to send the token: Authorization: Bearer.
    const alice2 = await connectWs(`ws://127.0.0.1:${ports.port}/feed`, {
      headers: { Authorization: 'Bearer alice-secret' },
    });
    expect(await nextJson(alice2)).toMatchObject({ type: 'welcome', user: 'alice' });
    await subscribe(alice2, 'orders');
    const bob = await connect('bob-secret', 'bob');
    await subscribe(bob, 'alerts');

    await admin('revoke?user=alice');
    expect(await alice1.waitForClose()).toEqual({ code: 4001, reason: 'revoked' });
    expect(await alice2.waitForClose()).toEqual({ code: 4001, reason: 'revoked' });

    const alert = await publish('alerts', 'bob is still here');
    expect(await nextJson(bob)).toEqual(alert);
    expect(bob.socket.readyState).toBe(bob.socket.OPEN);

    expect((await expectRefusal(feedUrl('alice-secret'))).status).toBe(403);
    expect((await expectRefusal(feedUrl('mallory'))).status).toBe(401);
  });

  it('stops cleanly on SIGTERM (Ctrl-C), taking thumbtack with it', async () => {
    expect(await example.stop()).toBe(0);
    expect(example.lines).toContain('thumbtack stopped (exit code 0)');
  });
});
