import { WebSocketEvent, type WebSocketContext } from '@fanoutio/grip';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { stopAllBackends } from '../support/backend.js';
import { publishOk } from '../support/grip.js';
import { startThumbtack, stopAllThumbtacks, type Thumbtack } from '../support/thumbtack.js';
import {
  closeAllWsClients,
  connectWs,
  receiveAll,
  startWohBackend,
  wsItem,
  type WohBackend,
  type WohReply,
  type WsTestClient,
} from '../support/ws.js';

/**
 * A js-grip backend driven by the client's messages, so each test reads as a script:
 * `sub:ch`, `unsub:ch`, `detach`, `ctl:<json>` (a raw control message), `raw:<text>` (a
 * message without the prefix), anything else is echoed. Each command is answered `m:ok`.
 */
function scenario(ws: WebSocketContext, req: { url?: string }): WohReply | void {
  const path = new URL(req.url ?? '/', 'http://backend').pathname;
  const headers: Record<string, string> = {};
  if (path.startsWith('/nogrip')) headers['Sec-WebSocket-Extensions'] = 'permessage-deflate';
  if (path.startsWith('/noprefix')) headers['Sec-WebSocket-Extensions'] = 'grip; message-prefix=""';
  if (ws.isOpening()) {
    ws.accept();
    return { headers };
  }
  for (const message of receiveAll(ws)) {
    if (message.startsWith('sub:')) ws.subscribe(message.slice(4));
    else if (message.startsWith('unsub:')) ws.unsubscribe(message.slice(6));
    else if (message.startsWith('ctl:')) ws.sendControl(message.slice(4));
    else if (message.startsWith('raw:'))
      ws.outEvents.push(new WebSocketEvent('TEXT', message.slice(4)));
    else if (message === 'detach') {
      ws.send('ok');
      ws.detach();
      continue;
    } else {
      ws.send(`echo:${message}`);
      continue;
    }
    ws.send('ok');
  }
  return { headers };
}

let backend: WohBackend;
let tt: Thumbtack;
let wsUrl: string;

beforeAll(async () => {
  backend = await startWohBackend(scenario);
  tt = await startThumbtack({
    routes: `*,path_beg=/pre,prefix=pre_ ${backend.target},over_http\n* ${backend.target},over_http\n`,
  });
  wsUrl = tt.url.replace(/^http/, 'ws');
});

afterEach(() => closeAllWsClients());

afterAll(async () => {
  await stopAllThumbtacks();
  await stopAllBackends();
});

/** Sends a command and waits for its `ok`. */
async function command(client: WsTestClient, text: string): Promise<void> {
  client.socket.send(text);
  expect((await client.next()).text).toBe('ok');
}

const text = (channel: string, content: string) => wsItem(channel, { content });

describe('GRIP control messages over WebSocket-over-HTTP', () => {
  test('subscribe, then a publish reaches the client; unsubscribe stops delivery', async () => {
    const client = await connectWs(`${wsUrl}/chat`);
    await command(client, 'sub:ctl-a');
    await command(client, 'sub:ctl-b');
    await publishOk(tt, text('ctl-a', 'first'));
    expect((await client.next()).text).toBe('first');
    await command(client, 'unsub:ctl-a');
    await publishOk(tt, text('ctl-a', 'not for you'));
    await publishOk(tt, text('ctl-b', 'second'));
    expect((await client.next()).text).toBe('second');
    expect(client.pending).toEqual([]);
  });

  test('the m: prefix is stripped and messages without it are not relayed', async () => {
    const client = await connectWs(`${wsUrl}/chat`);
    client.socket.send('hello');
    expect((await client.next()).text).toBe('echo:hello');
    await command(client, 'raw:no prefix here');
    client.socket.send('after');
    expect((await client.next()).text).toBe('echo:after');
  });

  test('message-prefix="" relays unprefixed messages', async () => {
    const client = await connectWs(`${wsUrl}/noprefix`);
    client.socket.send('raw:plain');
    expect((await client.next()).text).toBe('plain');
    // js-grip still prefixes with m:, which is now part of the message.
    expect((await client.next()).text).toBe('m:ok');
  });

  test('without the grip extension, c: and m: messages are relayed verbatim', async () => {
    const client = await connectWs(`${wsUrl}/nogrip`);
    client.socket.send('sub:verbatim');
    const control = (await client.next()).text;
    expect(control.startsWith('c:')).toBe(true);
    expect(JSON.parse(control.slice(2))).toEqual({ type: 'subscribe', channel: 'verbatim' });
    expect((await client.next()).text).toBe('m:ok');
    await publishOk(tt, text('verbatim', 'should not arrive'));
    client.socket.send('ping');
    expect((await client.next()).text).toBe('m:echo:ping');
    expect(client.pending).toEqual([]);
  });

  test('the route prefix is put in front of subscribed channels', async () => {
    const client = await connectWs(`${wsUrl}/pre/chat`);
    await command(client, 'sub:room');
    await publishOk(tt, text('room', 'unprefixed channel'));
    await publishOk(tt, text('pre_room', 'prefixed channel'));
    expect((await client.next()).text).toBe('prefixed channel');
  });

  test('detach closes the backend side and keeps the client for publishes', async () => {
    const client = await connectWs(`${wsUrl}/chat`);
    const cid = backend.cidOf(client);
    await command(client, 'sub:detached');
    await command(client, 'detach');
    const close = await backend.waitForCall(
      (c) => c.cid === cid && c.events.some((e) => e.type === 'CLOSE'),
    );
    expect(close.events.at(-1)).toEqual({ type: 'CLOSE', content: undefined });
    const callsBefore = backend.calls.filter((c) => c.cid === cid).length;
    client.socket.send('discarded');
    await publishOk(tt, text('detached', 'still subscribed'));
    expect((await client.next()).text).toBe('still subscribed');
    expect(backend.calls.filter((c) => c.cid === cid).length).toBe(callsBefore);
  });

  test('keep-alive sends the given message when the client is idle', async () => {
    const client = await connectWs(`${wsUrl}/chat`);
    await command(client, 'ctl:{"type":"keep-alive","content":"{}","timeout":1}');
    const started = Date.now();
    expect((await client.next(3000)).text).toBe('{}');
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect((await client.next(3000)).text).toBe('{}');
    await command(client, 'ctl:{"type":"keep-alive"}');
    await expect(client.next(1500)).rejects.toThrow(/no message/);
  });

  test('keep-alive can be a binary message on an interval', async () => {
    const client = await connectWs(`${wsUrl}/chat`);
    await command(
      client,
      'ctl:{"type":"keep-alive","content-bin":"AAE=","message-type":"binary","timeout":1,"mode":"interval"}',
    );
    const message = await client.next(3000);
    expect(message.isBinary).toBe(true);
    expect([...message.data]).toEqual([0, 1]);
  });

  test('set-meta feeds filters: skip-self drops the subscriber’s own messages', async () => {
    const client = await connectWs(`${wsUrl}/chat`);
    await command(client, 'ctl:{"type":"set-meta","name":"user","value":"alice"}');
    await command(client, 'ctl:{"type":"subscribe","channel":"filtered","filters":["skip-self"]}');
    await publishOk(tt, text('filtered', 'no sender'));
    await publishOk(tt, { ...text('filtered', 'mine'), meta: { sender: 'alice' } });
    await publishOk(tt, { ...text('filtered', 'theirs'), meta: { sender: 'bob' } });
    expect((await client.next()).text).toBe('no sender');
    expect((await client.next()).text).toBe('theirs');
  });

  test('filtered and unfiltered subscribers of one channel each get theirs, also after the filters change', async () => {
    const alice = await connectWs(`${wsUrl}/chat`);
    const other = await connectWs(`${wsUrl}/chat`);
    await command(alice, 'ctl:{"type":"set-meta","name":"user","value":"alice"}');
    await command(alice, 'ctl:{"type":"subscribe","channel":"mixed","filters":["skip-self"]}');
    await command(other, 'sub:mixed');
    await publishOk(tt, { ...text('mixed', 'by alice'), meta: { sender: 'alice' } });
    await publishOk(tt, text('mixed', 'for all'));
    expect((await other.next()).text).toBe('by alice');
    expect((await other.next()).text).toBe('for all');
    expect((await alice.next()).text).toBe('for all');
    await command(alice, 'ctl:{"type":"subscribe","channel":"mixed","filters":[]}');
    await command(other, 'ctl:{"type":"set-meta","name":"user","value":"alice"}');
    await command(other, 'ctl:{"type":"subscribe","channel":"mixed","filters":["skip-self"]}');
    await publishOk(tt, { ...text('mixed', 'by alice again'), meta: { sender: 'alice' } });
    expect((await alice.next()).text).toBe('by alice again');
    await publishOk(tt, text('mixed', 'last'));
    expect((await alice.next()).text).toBe('last');
    expect((await other.next()).text).toBe('last');
    expect(alice.pending).toEqual([]);
  });

  test('channel names with "/", "+" and "#" match only themselves', async () => {
    const client = await connectWs(`${wsUrl}/chat`);
    await command(client, 'sub:room/#');
    await command(client, 'sub:+');
    await publishOk(tt, text('room/a', 'not subscribed'));
    await publishOk(tt, text('x', 'not subscribed either'));
    await publishOk(tt, text('room/#', 'hash'));
    await publishOk(tt, text('+', 'plus'));
    expect((await client.next()).text).toBe('hash');
    expect((await client.next()).text).toBe('plus');
    expect(client.pending).toEqual([]);
  });

  test('a subscribe with more than five filters closes the connection with 1011', async () => {
    const client = await connectWs(`${wsUrl}/chat`);
    const filters = JSON.stringify([
      'skip-self',
      'skip-users',
      'require-sub',
      'var-subst',
      'build-id',
      'x',
    ]);
    client.socket.send(`ctl:{"type":"subscribe","channel":"c","filters":${filters}}`);
    expect((await client.waitForClose()).code).toBe(1011);
  });

  test('malformed and unknown control messages are ignored and logged; the session goes on', async () => {
    const client = await connectWs(`${wsUrl}/chat`);
    await command(client, 'ctl:{not json');
    await command(client, 'ctl:{"type":"close","code":1000}');
    await tt.waitForLog(
      (l) => l.msg === 'ignored a control message' && String(l['err']).includes("'close'"),
    );
    client.socket.send('alive?');
    expect((await client.next()).text).toBe('echo:alive?');
  });

  test('a control message over 16 KiB is ignored (Pushpin splits relayed messages at 16 KiB)', async () => {
    const client = await connectWs(`${wsUrl}/chat`);
    const big = JSON.stringify({ type: 'subscribe', channel: 'big', pad: 'x'.repeat(17_000) });
    await command(client, `ctl:${big}`);
    await command(client, 'sub:small');
    await publishOk(tt, text('big', 'no'));
    await publishOk(tt, text('small', 'yes'));
    expect((await client.next()).text).toBe('yes');
  });
});
