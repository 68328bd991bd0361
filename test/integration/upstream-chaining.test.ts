import type http from 'node:http';
import WebSocket, { WebSocketServer } from 'ws';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { stopAllBackends, type Backend } from '../support/backend.js';
import { send } from '../support/client.js';
import {
  openStream,
  signGripSigToken,
  startStreamHoldBackend,
  publishOk,
  streamItem,
  uniqueName,
  verifyGripSigHeader,
  type StreamClient,
} from '../support/grip.js';
import { startThumbtack, stopAllThumbtacks, type Thumbtack } from '../support/thumbtack.js';
import { waitForSubscribed } from '../support/channel-events.js';

// Real processes on a machine that may be busy: generous bounds, all still finite.
vi.setConfig({ testTimeout: 40_000, hookTimeout: 60_000 });

/*
 * GRIP proxy chaining (Pushpin's upstream_key): client → outer thumbtack → inner thumbtack
 * (--upstream-key) → GRIP backend. The outer one signs its requests with the inner one's
 * upstream key, so the inner one passes the backend's GRIP answer back untouched and the
 * outer one holds the client. A request not signed with that key is the inner one's to hold.
 */

const upstreamKey = 'chain-secret';
let backend: Backend;
let inner: Thumbtack;
let outer: Thumbtack;
/** What the backend saw of each request, by path. */
let seen: Map<string, http.IncomingHttpHeaders>;
const streams: StreamClient[] = [];
const sockets: WebSocket[] = [];

beforeAll(async () => {
  ({ backend, seen } = await startStreamHoldBackend());
  // A passthrough WebSocket backend that speaks the grip extension when offered: it
  // subscribes the socket to the channel its path names and answers "go" with "m:ready".
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  wss.on('headers', (headers, req) => {
    if (String(req.headers['sec-websocket-extensions']).startsWith('grip')) {
      headers.push('Sec-WebSocket-Extensions: grip');
    }
  });
  backend.server.on('upgrade', (req: http.IncomingMessage, socket, head) => {
    seen.set(req.url!, req.headers);
    wss.handleUpgrade(req, socket, head, (ws) => {
      const channel = req.url!.split('/').pop()!;
      ws.send(`c:${JSON.stringify({ type: 'subscribe', channel })}`);
      ws.on('message', () => ws.send('m:ready'));
    });
  });
  inner = await startThumbtack({
    routes: `* ${backend.target}\n`,
    args: ['--upstream-key', upstreamKey, '--sig-iss', 'inner', '--log-level', 'debug'],
  });
  outer = await startThumbtack({
    routes: `*,sig_key=${upstreamKey},sig_iss=outer 127.0.0.1:${inner.port}\n`,
    args: ['--log-level', 'debug'],
  });
});
afterAll(async () => {
  for (const stream of streams) stream.close();
  for (const socket of sockets) socket.terminate();
  await stopAllThumbtacks();
  await stopAllBackends();
});

describe('an upstream GRIP proxy signed with --upstream-key', () => {
  it('gets the GRIP answer untouched: the outer proxy holds, the inner one passes it through', async () => {
    const channel = uniqueName('chain');
    const stream = await openStream(`${outer.url}/chained/${channel}`, {
      headers: { 'Grip-Last': 'forged; last-id=1' },
    });
    streams.push(stream);
    expect(stream.status).toBe(200);
    await stream.waitForText('opened\n');
    await waitForSubscribed(outer, channel);
    await publishOk(outer, streamItem(channel, 'via the outer proxy\n'));
    await stream.waitForText('via the outer proxy\n');
    // The inner proxy holds nothing: its handler never saw a subscription for the channel.
    expect(inner.logs.some((l) => l.event === 'channel.subscribed' && l.channel === channel)).toBe(
      false,
    );
    // The backend got the outer proxy's Grip-Sig and Grip-Feature, one of each, and not the
    // client's own Grip-Last (the outer proxy strips what its client sent).
    const headers = seen.get(`/chained/${channel}`)!;
    await expect(
      verifyGripSigHeader(headers['grip-sig'], { key: upstreamKey, issuer: 'outer' }),
    ).resolves.toMatchObject({ iss: 'outer' });
    expect(headers['grip-feature']).toBeTypeOf('string');
    expect(headers['grip-last']).toBeUndefined();
  });

  it('keeps the upstream proxy own Grip-* request headers (Grip-Last on a retry)', async () => {
    const token = await signGripSigToken(upstreamKey, 'edge');
    const channel = uniqueName('chain');
    const res = await send(`${inner.url}/edge/${channel}`, {
      headers: { 'Grip-Sig': token, 'Grip-Last': `${channel}; last-id=7` },
    });
    expect(res.status).toBe(200);
    expect(res.headers['grip-hold']).toBe('stream');
    expect(res.headers['grip-channel']).toBe(channel);
    expect(res.body.toString()).toBe('opened\n');
    const headers = seen.get(`/edge/${channel}`)!;
    expect(headers['grip-sig']).toBe(token);
    expect(headers['grip-last']).toBe(`${channel}; last-id=7`);
  });
});

describe('a request not signed with --upstream-key', () => {
  it.each([
    ['no Grip-Sig', undefined],
    ['a Grip-Sig signed with another key', 'other-key'],
  ])(
    'with %s is held by the inner proxy, its Grip-* headers removed and its own Grip-Sig sent',
    async (_name, key) => {
      const headers: Record<string, string> = { 'Grip-Last': 'x; last-id=1' };
      if (key) {
        headers['Grip-Sig'] = await signGripSigToken(key, 'forger');
      }
      const channel = uniqueName('direct');
      const stream = await openStream(`${inner.url}/direct/${channel}`, { headers });
      streams.push(stream);
      await stream.waitForText('opened\n');
      expect(stream.headers['grip-hold']).toBeUndefined();
      await waitForSubscribed(inner, channel);
      await publishOk(inner, streamItem(channel, 'held by the inner proxy\n'));
      await stream.waitForText('held by the inner proxy\n');
      const seenHeaders = seen.get(`/direct/${channel}`)!;
      await expect(
        verifyGripSigHeader(seenHeaders['grip-sig'], { issuer: 'inner' }),
      ).resolves.toMatchObject({ iss: 'inner' });
      expect(seenHeaders['grip-last']).toBeUndefined();
    },
  );
});

/** Opens a WebSocket to the inner proxy; resolves with its 101 headers and a message reader. */
async function openWs(path: string, headers: Record<string, string>) {
  const socket = new WebSocket(`${inner.url.replace(/^http/, 'ws')}${path}`, {
    headers,
    perMessageDeflate: false,
  });
  sockets.push(socket);
  const messages: string[] = [];
  const waiters: (() => void)[] = [];
  socket.on('message', (data) => {
    messages.push(data.toString());
    for (const wake of waiters.splice(0)) wake();
  });
  let upgradeHeaders: http.IncomingHttpHeaders = {};
  // ws refuses an extension it did not offer itself; the test reads it, then takes it out.
  socket.on('upgrade', (res) => {
    upgradeHeaders = { ...res.headers };
    delete res.headers['sec-websocket-extensions'];
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  const nextMessage = async (): Promise<string> => {
    const deadline = Date.now() + 10_000;
    while (messages.length === 0) {
      if (Date.now() > deadline) throw new Error('no message within 10 s');
      await new Promise<void>((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, 200);
      });
    }
    return messages.shift()!;
  };
  return { socket, upgradeHeaders, nextMessage };
}

describe('WebSockets from an upstream GRIP proxy (passthrough routes)', () => {
  it('keep their Grip-Sig and grip extension offer; the backend control messages come back untouched', async () => {
    const token = await signGripSigToken(upstreamKey, 'edge');
    const channel = uniqueName('ws-up');
    const ws = await openWs(`/ws/${channel}`, {
      'Grip-Sig': token,
      'Sec-WebSocket-Extensions': 'grip',
    });
    expect(ws.upgradeHeaders['sec-websocket-extensions']).toBe('grip');
    expect(await ws.nextMessage()).toBe(`c:{"type":"subscribe","channel":"${channel}"}`);
    ws.socket.send('go');
    expect(await ws.nextMessage()).toBe('m:ready');
    const headers = seen.get(`/ws/${channel}`)!;
    expect(headers['grip-sig']).toBe(token);
    expect(headers['sec-websocket-extensions']).toBe('grip');
    expect(inner.logs.some((l) => l.event === 'channel.subscribed' && l.channel === channel)).toBe(
      false,
    );
  });

  it('without a trusted Grip-Sig, the inner proxy speaks the grip extension itself', async () => {
    const channel = uniqueName('ws-own');
    const ws = await openWs(`/ws/${channel}`, { 'Sec-WebSocket-Extensions': 'grip' });
    expect(ws.upgradeHeaders['sec-websocket-extensions']).toBeUndefined();
    ws.socket.send('go');
    expect(await ws.nextMessage()).toBe('ready');
    await waitForSubscribed(inner, channel);
    await publishOk(inner, { channel, formats: { 'ws-message': { content: 'published' } } });
    expect(await ws.nextMessage()).toBe('published');
    await expect(
      verifyGripSigHeader(seen.get(`/ws/${channel}`)!['grip-sig'], { issuer: 'inner' }),
    ).resolves.toMatchObject({ iss: 'inner' });
  });
});
