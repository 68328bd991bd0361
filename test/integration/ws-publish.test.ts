import { Publisher, WebSocketMessageFormat, type WebSocketContext } from '@fanoutio/grip';
import { fetch as undiciFetch } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { stopAllBackends } from '../support/backend.js';
import { publishOk } from '../support/grip.js';
import {
  childPid,
  startThumbtack,
  stopAllThumbtacks,
  waitUntil,
  type LogLine,
  type Thumbtack,
} from '../support/thumbtack.js';
import {
  closeAllWsClients,
  connectWs,
  receiveAll,
  startWohBackend,
  wsItem,
  type WohBackend,
  type WsTestClient,
} from '../support/ws.js';

/** Importing undici 7 replaces Node's fetch dispatcher; js-grip Publishers use undici's fetch. */
const publisherOptions = { fetch: undiciFetch as unknown as typeof fetch };

/**
 * Subscribes each connection to the channel in its `?ch=` query on OPEN (js-grip's
 * `subscribe`), echoes messages, answers `sub:ch` with `subscribed` and `unsub:ch` with `ok`,
 * and says `refreshed` to an empty request.
 */
function scenario(ws: WebSocketContext, req: { url?: string }): void {
  const url = new URL(req.url ?? '/', 'http://backend');
  if (ws.isOpening()) {
    ws.accept();
    const channel = url.searchParams.get('ch');
    if (channel) ws.subscribe(channel);
    return;
  }
  if (ws._inEvents.length === 0) ws.send('refreshed');
  for (const message of receiveAll(ws)) {
    if (message.startsWith('sub:')) {
      ws.subscribe(message.slice(4));
      ws.send('subscribed');
    } else if (message.startsWith('unsub:')) {
      ws.unsubscribe(message.slice(6));
      ws.send('ok');
    } else {
      ws.send(`echo:${message}`);
    }
  }
}

async function subscribed(url: string): Promise<WsTestClient> {
  return connectWs(url);
}

describe('ws-message publishes', () => {
  let backend: WohBackend;
  let tt: Thumbtack;
  let wsUrl: string;

  beforeAll(async () => {
    backend = await startWohBackend(scenario);
    tt = await startThumbtack({
      routes: `*,path_beg=/implicit ${backend.target},over_http,sub=news\n* ${backend.target},over_http\n`,
      args: ['--ws-buffer-max', '65536'],
    });
    wsUrl = tt.url.replace(/^http/, 'ws');
  });

  afterEach(() => closeAllWsClients());

  afterAll(async () => {
    await stopAllThumbtacks();
    await stopAllBackends();
  });

  test('text, binary and ping reach a subscribed client; a published close ends it with its code', async () => {
    const client = await subscribed(`${wsUrl}/chat?ch=pub-a`);
    const cid = backend.cidOf(client);
    await publishOk(tt, wsItem('pub-a', { content: 'hello' }));
    await publishOk(tt, wsItem('pub-a', { 'content-bin': 'AAECAw==' }));
    await publishOk(tt, wsItem('pub-a', { type: 'ping', content: 'p' }));
    await publishOk(tt, wsItem('pub-a', { action: 'close', code: 4001, reason: 'kicked' }));
    expect(await client.next()).toMatchObject({ text: 'hello', isBinary: false });
    const binary = await client.next();
    expect(binary.isBinary).toBe(true);
    expect([...binary.data]).toEqual([0, 1, 2, 3]);
    expect((await client.nextPing()).toString()).toBe('p');
    expect(await client.waitForClose()).toEqual({ code: 4001, reason: 'kicked' });
    // The backend side is closed too, with a bare CLOSE (as Pushpin does).
    const close = await backend.waitForCall(
      (c) => c.cid === cid && c.events.some((e) => e.type === 'CLOSE'),
    );
    expect(close.events).toEqual([{ type: 'CLOSE', content: undefined }]);
  });

  test('publishes made with the js-grip Publisher arrive', async () => {
    const client = await subscribed(`${wsUrl}/chat?ch=pub-lib`);
    const publisher = new Publisher({ control_uri: tt.controlUrl }, publisherOptions);
    await publisher.publishFormats('pub-lib', new WebSocketMessageFormat('from js-grip'));
    await publisher.publishFormats(
      'pub-lib',
      new WebSocketMessageFormat(new Uint8Array([9, 8, 7])),
    );
    expect((await client.next()).text).toBe('from js-grip');
    expect([...(await client.next()).data]).toEqual([9, 8, 7]);
  });

  test('a route sub= channel is subscribed on connect and cannot be unsubscribed', async () => {
    const client = await connectWs(`${wsUrl}/implicit/feed`);
    await publishOk(tt, wsItem('news', { content: 'headline 1' }));
    expect((await client.next()).text).toBe('headline 1');
    client.socket.send('unsub:news');
    expect((await client.next()).text).toBe('ok');
    await publishOk(tt, wsItem('news', { content: 'headline 2' }));
    expect((await client.next()).text).toBe('headline 2');
  });

  test('every subscriber of a channel receives each message once, in order', async () => {
    const clients = await Promise.all(
      Array.from({ length: 10 }, () => subscribed(`${wsUrl}/chat?ch=pub-many`)),
    );
    for (let i = 0; i < 5; i++) await publishOk(tt, wsItem('pub-many', { content: `m${i}` }));
    for (const client of clients) {
      const got: string[] = [];
      for (let i = 0; i < 5; i++) got.push((await client.next()).text);
      expect(got).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
    }
  });

  test('a refresh publish makes the proxy ask the backend now', async () => {
    const client = await subscribed(`${wsUrl}/chat?ch=pub-refresh`);
    const cid = backend.cidOf(client);
    await publishOk(tt, wsItem('pub-refresh', { action: 'refresh' }));
    expect((await client.next()).text).toBe('refreshed');
    const call = await backend.waitForCall((c) => c.cid === cid && c.events.length === 0);
    expect(call.headers['content-length']).toBe('0');
  });

  // The window between a subscribe control message and the handler knowing of the worker's
  // subscription: a publish made in it reaches the worker before the handler replays, and
  // must still take effect, whatever its action. Each case runs on fresh channels, several
  // times, so that the publish lands in the window on some of them.
  describe('a publish right after a subscribe control message takes effect', () => {
    const rounds = 10;
    const subscribeFresh = async (label: string, i: number) => {
      const channel = `race-${label}-${process.pid}-${i}`;
      const client = await connectWs(`${wsUrl}/chat`);
      client.socket.send(`sub:${channel}`);
      expect((await client.next()).text).toBe('subscribed');
      return { client, channel };
    };

    test('ws-message', async () => {
      for (let i = 0; i < rounds; i++) {
        const { client, channel } = await subscribeFresh('message', i);
        await publishOk(tt, wsItem(channel, { content: `live ${i}` }));
        expect((await client.next()).text).toBe(`live ${i}`);
      }
    });

    test('refresh', async () => {
      for (let i = 0; i < rounds; i++) {
        const { client, channel } = await subscribeFresh('refresh', i);
        await publishOk(tt, wsItem(channel, { action: 'refresh' }));
        expect((await client.next()).text).toBe('refreshed');
      }
    });

    test('close', async () => {
      for (let i = 0; i < rounds; i++) {
        const { client, channel } = await subscribeFresh('close', i);
        await publishOk(tt, wsItem(channel, { action: 'close', code: 4002, reason: `round ${i}` }));
        expect(await client.waitForClose()).toEqual({ code: 4002, reason: `round ${i}` });
      }
    });
  });

  test('a client that stops reading is closed with 1008 at the buffer bound and counted', async () => {
    const bystander = await subscribed(`${wsUrl}/chat?ch=pub-slow`);
    const slow = await subscribed(`${wsUrl}/chat?ch=pub-slow`);
    const socket = (slow.socket as unknown as { _socket: { pause(): void; resume(): void } })
      ._socket;
    socket.pause();
    const chunk = 'x'.repeat(200_000);
    let published = 0;
    const isCut = () =>
      tt.logs.some((l) => l.msg === 'closing a WebSocket client that reads too slowly');
    while (!isCut() && published < 200) {
      await publishOk(tt, wsItem('pub-slow', { content: chunk }));
      published++;
      expect((await bystander.next()).data.length).toBe(200_000);
    }
    await waitUntil(isCut);
    const line = tt.logs.find((l) => l.msg === 'closing a WebSocket client that reads too slowly')!;
    expect(line['limit']).toBe(65536);
    socket.resume();
    expect((await slow.waitForClose(10_000)).code).toBe(1008);
    await publishOk(tt, wsItem('pub-slow', { content: 'bystander still served' }));
    expect((await bystander.next()).text).toBe('bystander still served');
  });
});

describe('handler restarts', () => {
  afterEach(async () => {
    closeAllWsClients();
    await stopAllThumbtacks();
    await stopAllBackends();
  });

  test('killing the handler leaves WebSockets open; subscriptions get publishes after the restart', async () => {
    const backend = await startWohBackend(scenario);
    const tt = await startThumbtack({ routes: `* ${backend.target},over_http\n` });
    const client = await connectWs(`${tt.url.replace(/^http/, 'ws')}/chat?ch=survivor`);
    await publishOk(tt, wsItem('survivor', { content: 'before' }));
    expect((await client.next()).text).toBe('before');

    // The handler running now: on a busy machine the runner may have restarted it already
    // (a port picked for it was taken before it bound), so the first one may be gone.
    const pid = childPid(tt, 'handler')!;
    const seen = tt.logs.length;
    const isLogged = (match: (line: LogLine) => boolean) => () => tt.logs.slice(seen).some(match);
    process.kill(pid, 'SIGKILL');
    await waitUntil(
      isLogged(
        (l) => l.msg === 'child exited unexpectedly; restarting' && l['child'] === 'handler',
      ),
    );
    // WebSocket-over-HTTP does not need the handler.
    client.socket.send('while down');
    expect((await client.next()).text).toBe('echo:while down');

    await waitUntil(
      isLogged((l) => l.msg === 'handler ready'),
      15_000,
    );
    // The bus reconnects by itself; publish until the re-sent subscription has arrived.
    let received: string | undefined;
    for (let i = 0; i < 50 && received === undefined; i++) {
      await publishOk(tt, wsItem('survivor', { content: 'after' }));
      received = await client.next(200).then(
        (m) => m.text,
        () => undefined,
      );
    }
    expect(received).toBe('after');
    expect(client.socket.readyState).toBe(client.socket.OPEN);
  });
});
