import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startExampleOnPorts, type ExampleOnPorts } from '../support/example-process.js';
import { closeAllWsClients, connectWs, expectRefusal, type WsTestClient } from '../support/ws.js';

/*
 * examples/pushca-notify as its README tells it: `node dist/examples/pushca-notify/main.js`
 * (free ports as flags, `--log-level debug` for the handler's channel events), three `ws`
 * clients registered with Pushca's four dimensions, and the backend's notification API.
 */

const portNames = ['port', 'control-port', 'pull-port', 'sub-port', 'backend-port'] as const;

let example: ExampleOnPorts<(typeof portNames)[number]>;
let ports: Record<(typeof portNames)[number], number>;
const clients: Record<'alicePhone' | 'aliceLaptop' | 'bobPhone', WsTestClient> = {} as never;

interface Receipt {
  message: string;
  items: {
    listeners: number;
    written: number;
    dropped: Record<string, number>;
    connection?: string;
    acknowledged?: boolean;
  }[];
}

const register = (query: string): string => `ws://127.0.0.1:${ports.port}/ws?${query}`;

async function registered(query: string): Promise<WsTestClient> {
  const client = await connectWs(register(query));
  expect(JSON.parse((await client.next()).text)).toMatchObject({ type: 'registered' });
  return client;
}

async function notify(pathname: string, body: object): Promise<{ status: number; body: Receipt }> {
  const res = await fetch(`http://127.0.0.1:${ports['backend-port']}/${pathname}`, {
    method: 'POST',
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Receipt };
}

async function nextNotification(client: WsTestClient): Promise<Record<string, unknown>> {
  return JSON.parse((await client.next()).text) as Record<string, unknown>;
}

/** Resolves once the handler logs that a worker subscribed `channel` (bounded). */
async function subscribed(channel: string): Promise<void> {
  await example.waitForLine(
    (line) =>
      line.includes('"event":"channel.subscribed"') && line.includes(`"channel":"${channel}"`),
  );
}

beforeAll(async () => {
  example = await startExampleOnPorts('pushca-notify', portNames, [
    '--workers',
    '1',
    '--log-level',
    'debug',
  ]);
  ports = example.ports;
  clients.alicePhone = await registered(
    'workspace=acme&account=alice&device=phone&application=mail',
  );
  clients.aliceLaptop = await registered(
    'workspace=acme&account=alice&device=laptop&application=mail',
  );
  clients.bobPhone = await registered('workspace=acme&account=bob&device=phone&application=chat');
  await Promise.all(['workspace:acme', 'account:alice', 'application:mail'].map(subscribed));
}, 100_000);
afterAll(async () => {
  closeAllWsClients();
  await example?.stop();
});

describe('examples/pushca-notify', () => {
  it('refuses a client that does not give all four dimensions', async () => {
    const refusal = await expectRefusal(register('workspace=acme&account=carol'));
    expect(refusal.status).toBe(400);
    expect(refusal.body).toBe('register with ?device=&application=\n');
  });

  it('multicasts to a dimension: every client with that account, no other', async () => {
    const answer = await notify('send-notification', {
      filter: { account: 'alice' },
      message: 'm1',
    });
    expect(answer).toMatchObject({ status: 200, body: { items: [{ listeners: 2, written: 2 }] } });
    const m1 = { type: 'notification', message: 'm1' };
    expect(await nextNotification(clients.alicePhone)).toEqual(m1);
    expect(await nextNotification(clients.aliceLaptop)).toEqual(m1);
  });

  it('excludes clients by key (skip-users): the workspace but alice’s laptop', async () => {
    const answer = await notify('send-notification', {
      filter: { workspace: 'acme' },
      message: 'm2',
      exclude: ['acme/alice/laptop/mail'],
    });
    expect(answer.status).toBe(200);
    expect(answer.body.items[0]).toMatchObject({
      listeners: 3,
      written: 2,
      dropped: { filter: 1 },
    });
    const m2 = { type: 'notification', message: 'm2' };
    expect(await nextNotification(clients.alicePhone)).toEqual(m2);
    expect(await nextNotification(clients.bobPhone)).toEqual(m2);
  });

  it('findAny delivers to one matching client, in turn', async () => {
    const first = await notify('send-notification', {
      filter: { application: 'mail' },
      message: 'any1',
      findAny: true,
    });
    const second = await notify('send-notification', {
      filter: { application: 'mail' },
      message: 'any2',
      findAny: true,
    });
    expect([first.status, second.status]).toEqual([200, 200]);
    const picked = [first.body.items[0]!.connection, second.body.items[0]!.connection];
    expect(new Set(picked).size).toBe(2);
    // Each of alice's two clients got exactly one of them; the laptop missed m2 (excluded).
    const got = [
      await nextNotification(clients.alicePhone),
      await nextNotification(clients.aliceLaptop),
    ].map((n) => n['message']);
    expect(got.sort()).toEqual(['any1', 'any2']);
    expect([clients.alicePhone.pending, clients.aliceLaptop.pending]).toEqual([[], []]);
  });

  it('an acknowledged push answers 200 when the client acks, 408 when it does not', async () => {
    const acked = notify('send-notification-with-acknowledge', {
      client: 'acme/bob/phone/chat',
      message: 'ack me',
    });
    const notification = await nextNotification(clients.bobPhone);
    expect(notification).toMatchObject({ type: 'notification', message: 'ack me' });
    clients.bobPhone.socket.send(JSON.stringify({ 'thumbtack-ack': notification['id'] }));
    expect(await acked).toMatchObject({
      status: 200,
      body: { message: 'Acknowledged', items: [{ acknowledged: true }] },
    });

    const unacked = await notify('send-notification-with-acknowledge', {
      client: 'acme/alice/laptop/mail',
      message: 'ack me too',
      timeout: 0.3,
    });
    expect(unacked).toMatchObject({
      status: 408,
      body: { message: 'Not acknowledged in time', items: [{ acknowledged: false }] },
    });
    expect(await nextNotification(clients.aliceLaptop)).toMatchObject({ message: 'ack me too' });
  });
});
