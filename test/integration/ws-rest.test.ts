import type http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { startBackend, stopAllBackends } from '../support/backend.js';
import { publishOk, readBody } from '../support/grip.js';
import {
  busReady,
  startThumbtack,
  stopAllThumbtacks,
  type Thumbtack,
} from '../support/thumbtack.js';
import { closeAllWsClients, connectWs, expectRefusal } from '../support/ws.js';
import { freePort } from '../support/free-port.js';

/*
 * WebSocket-to-REST (`over_http=rest`), ws2api's protocol: GET <path>/<id> on connect (`ok`
 * accepts), one POST per client message (a non-empty answer goes back on the socket),
 * DELETE once the client is gone, in lock-step; the API pushes by publishing to
 * `$connection:<id>`.
 */

interface Call {
  method: string;
  path: string;
  body: string;
  connectionId: string | undefined;
}

/** A REST API as ws2api's RoadRunner app is: answers per method, and the calls in order. */
async function startRestApi(
  answer: (
    call: Call,
  ) => { status?: number; body: string } | Promise<{ status?: number; body: string }>,
): Promise<{ target: string; calls: Call[]; maxInFlight: () => number }> {
  const calls: Call[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const backend = await startBackend((req: http.IncomingMessage, res: http.ServerResponse) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    void (async () => {
      const body = (await readBody(req)).toString('utf8');
      const call = {
        method: req.method!,
        path: req.url!,
        body,
        connectionId: req.headers['connection-id'] as string | undefined,
      };
      calls.push(call);
      const reply = await answer(call);
      inFlight--;
      res.writeHead(reply.status ?? 200, { 'content-type': 'text/plain' });
      res.end(reply.body);
    })();
  });
  return { target: backend.target, calls, maxInFlight: () => maxInFlight };
}

afterEach(async () => {
  closeAllWsClients();
  await stopAllThumbtacks();
  await stopAllBackends();
});

function wsUrl(tt: Thumbtack, path: string): string {
  return `${tt.url.replace('http', 'ws')}${path}`;
}

async function waitForCalls(calls: Call[], count: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (calls.length < count) {
    if (Date.now() > deadline) throw new Error(`${calls.length} calls, not ${count}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('WebSocket-to-REST (over_http=rest)', () => {
  it('drives the API in lock-step: GET on connect, a POST per message, DELETE on close', async () => {
    const api = await startRestApi(async (call) => {
      if (call.method === 'GET') return { body: 'ok' };
      // Slow answers: a proxy that did not wait would overlap the next POST with this one.
      await new Promise((resolve) => setTimeout(resolve, 20));
      return { body: call.method === 'POST' ? `echo:${call.body}` : '' };
    });
    const tt = await startThumbtack({ routes: `* ${api.target},over_http=rest\n` });
    const client = await connectWs(wsUrl(tt, '/ws/?token=t'));
    for (const message of ['a', 'b', 'c']) client.socket.send(message);
    expect((await client.next()).text).toBe('echo:a');
    expect((await client.next()).text).toBe('echo:b');
    expect((await client.next()).text).toBe('echo:c');
    client.socket.close(1000);
    await waitForCalls(api.calls, 5);

    const id = api.calls[0]!.connectionId!;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(api.calls.map((c) => `${c.method} ${c.path} ${c.body}`)).toEqual([
      `GET /ws/${id} `,
      `POST /ws/${id} a`,
      `POST /ws/${id} b`,
      `POST /ws/${id} c`,
      `DELETE /ws/${id} `,
    ]);
    expect(api.maxInFlight()).toBe(1);
  });

  it('refuses the upgrade with the API’s body when it answers anything but ok', async () => {
    const api = await startRestApi(() => ({ body: 'invalid token' }));
    const tt = await startThumbtack({ routes: `* ${api.target},over_http=rest\n` });
    const refusal = await expectRefusal(wsUrl(tt, '/'));
    expect(refusal.status).toBe(403);
    expect(refusal.body).toBe('invalid token');
    expect(api.calls.map((c) => c.method)).toEqual(['GET']);
  });

  it('sends nothing for an empty answer, and lets the API push to the connection by its id', async () => {
    const api = await startRestApi((call) => ({ body: call.method === 'GET' ? 'ok\n' : '' }));
    const tt = await startThumbtack({ routes: `* ${api.target},over_http=rest\n` });
    const client = await connectWs(wsUrl(tt, '/'));
    client.socket.send('quiet');
    await waitForCalls(api.calls, 2);
    const id = api.calls[0]!.connectionId!;
    await busReady(tt);
    // ws2api's POST /<ClientId> from the API, as one publish:
    await publishOk(tt, {
      channel: `$connection:${id}`,
      formats: { 'ws-message': { content: 'pushed' } },
    });
    expect((await client.next()).text).toBe('pushed');
    expect(client.pending).toEqual([]);
  });

  it('closes the client with 1014 when the API fails a message, then sends the DELETE', async () => {
    const api = await startRestApi((call) =>
      call.method === 'POST' ? { status: 500, body: 'boom' } : { body: 'ok' },
    );
    const tt = await startThumbtack({ routes: `* ${api.target},over_http=rest\n` });
    const client = await connectWs(wsUrl(tt, '/r'));
    client.socket.send('x');
    expect((await client.waitForClose()).code).toBe(1014);
    await waitForCalls(api.calls, 3);
    expect(api.calls.map((c) => c.method)).toEqual(['GET', 'POST', 'DELETE']);
  });

  it('answers 502 when the API cannot be reached', async () => {
    const port = await freePort();
    const tt = await startThumbtack({ routes: `* 127.0.0.1:${port},over_http=rest\n` });
    expect((await expectRefusal(wsUrl(tt, '/'))).status).toBe(502);
  });
});
