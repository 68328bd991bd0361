import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startExampleOnPorts, type ExampleOnPorts } from '../support/example-process.js';
import { closeAllWsClients, connectWs, expectRefusal, type WsTestClient } from '../support/ws.js';

/*
 * examples/ws2api as its README tells it: `node dist/examples/ws2api/main.js` (free ports
 * as flags), `ws` clients on /chat with alice's and bob's tokens, and the API's calls as it
 * prints them (`api: METHOD PATH BODY`), compared whole as ws2api's own test compares
 * `r.Method + " " + r.RequestURI + " " + body`.
 */

const portNames = ['port', 'control-port', 'pull-port', 'sub-port', 'api-port'] as const;

let example: ExampleOnPorts<(typeof portNames)[number]>;
let ports: Record<(typeof portNames)[number], number>;

const chatUrl = (): string => `ws://127.0.0.1:${ports.port}/chat`;
const admin = (pathname: string): string =>
  `http://127.0.0.1:${ports['api-port']}/admin/${pathname}`;

/** Connects as the user of `token` and returns the client and its ClientId (the API's). */
async function connect(token: string): Promise<{ client: WsTestClient; id: string }> {
  const before = new Set(Object.keys(await clientsOfApi()));
  const client = await connectWs(chatUrl(), { headers: { authorization: `Bearer ${token}` } });
  const id = Object.keys(await clientsOfApi()).find((key) => !before.has(key));
  if (!id) throw new Error('the API did not record the client');
  return { client, id };
}

async function clientsOfApi(): Promise<Record<string, string>> {
  return (await (await fetch(admin('clients'))).json()) as Record<string, string>;
}

/** The API's calls for one ClientId, once `count` of them are printed (bounded). */
async function callsOf(id: string, count: number): Promise<string[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const calls = example.lines
      .filter((line) => line.startsWith('api: ') && line.includes(`/chat/${id}`))
      .map((line) => line.slice('api: '.length));
    if (calls.length >= count) return calls;
    if (Date.now() > deadline) throw new Error(`calls for ${id}: ${JSON.stringify(calls)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

beforeAll(async () => {
  example = await startExampleOnPorts('ws2api', portNames, ['--workers', '1']);
  ports = example.ports;
}, 100_000);
afterEach(() => closeAllWsClients());
afterAll(async () => {
  await example?.stop();
});

describe('examples/ws2api', () => {
  it('drives the API in lock-step: GET on connect, one POST per message, DELETE on close', async () => {
    const { client, id } = await connect('alice-token');
    for (const message of ['one', 'two', 'three']) client.socket.send(message);
    for (let i = 0; i < 3; i++) expect((await client.next()).text).toBe('sent to 0');
    client.socket.close(1000);
    expect(await callsOf(id, 5)).toEqual([
      `GET /chat/${id}`,
      `POST /chat/${id} one`,
      `POST /chat/${id} two`,
      `POST /chat/${id} three`,
      `DELETE /chat/${id}`,
    ]);
    expect(await clientsOfApi()).toEqual({});
  });

  it('refuses a client whose GET the API does not answer ok, with the API’s body', async () => {
    const refusal = await expectRefusal(chatUrl(), {
      headers: { authorization: 'Bearer wrong' },
    });
    expect(refusal.status).toBe(403);
    expect(refusal.body).toBe('unknown token');
  });

  it('relays a message to the other client, and the API pushes to a client by its id', async () => {
    const alice = await connect('alice-token');
    const bob = await connect('bob-token');
    alice.client.socket.send('hi bob');
    expect((await bob.client.next()).text).toBe('alice: hi bob');
    expect((await alice.client.next()).text).toBe('sent to 1');

    const push = await fetch(admin(`clients/${bob.id}`), { method: 'POST', body: 'psst' });
    expect(push.status).toBe(200);
    expect((await bob.client.next()).text).toBe('psst');
    expect(alice.client.pending).toEqual([]);

    const unknown = await fetch(admin('clients/nobody'), { method: 'POST', body: 'x' });
    expect(unknown.status).toBe(404);
  });
});
