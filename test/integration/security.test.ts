import { createHmac } from 'node:crypto';
import type http from 'node:http';
import { SignJWT } from 'jose';
import { request } from 'undici';
import { WebSocketServer } from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { startBackend, stopAllBackends, type Backend } from '../support/backend.js';
import { waitForSubscribed } from '../support/channel-events.js';
import { send } from '../support/client.js';
import { freePort } from '../support/free-port.js';
import {
  answer,
  openStream,
  publish,
  publishOk,
  readBody,
  startPathBackend,
  startStreamHoldBackend,
  streamItem,
  uniqueName,
  verifyGripSigHeader,
  type PathBackend,
  type StreamClient,
} from '../support/grip.js';
import { startThumbtack, type Thumbtack } from '../support/thumbtack.js';
import {
  closeAllWsClients,
  connectWs,
  receiveAll,
  startWohBackend,
  type WohBackend,
} from '../support/ws.js';

/*
 * Security checks as tests: what a client or a publisher might forge, checked end to end
 * with the real runner, real backends and real clients. Each describe has its own thumbtack.
 */

// Real processes on a machine that may be busy: generous bounds, all still finite.
vi.setConfig({ testTimeout: 20_000, hookTimeout: 40_000 });

const streams: StreamClient[] = [];

afterEach(() => {
  for (const stream of streams.splice(0)) stream.close();
  closeAllWsClients();
});
afterAll(async () => {
  await stopAllBackends();
});

const encoder = new TextEncoder();
const base64url = (value: unknown): string =>
  Buffer.from(JSON.stringify(value)).toString('base64url');

/** An HS256 JWT signed with `key`; `exp` in seconds since the epoch (default: an hour ahead). */
function signHs256(key: string, claims: Record<string, unknown> = {}, exp?: number) {
  return new SignJWT({ iss: 'forger', ...claims })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setExpirationTime(exp ?? '1h')
    .sign(encoder.encode(key));
}

const hourAhead = (): number => Math.floor(Date.now() / 1000) + 3600;

/** `alg: none`: the header and claims, and an empty signature. */
function unsignedToken(claims: Record<string, unknown> = {}): string {
  return `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url({ iss: 'forger', exp: hourAhead(), ...claims })}.`;
}

/** A header naming `alg` over an HMAC-SHA256 signature made with `key` (algorithm confusion). */
function hmacWithHeader(alg: string, key: string): string {
  const input = `${base64url({ alg, typ: 'JWT' })}.${base64url({ iss: 'forger', exp: hourAhead() })}`;
  return `${input}.${createHmac('sha256', key).update(input).digest('base64url')}`;
}

/** An HS512 JWT signed with `key`: the right secret, an algorithm the verifier does not use. */
function signHs512(key: string): Promise<string> {
  return new SignJWT({ iss: 'forger' })
    .setProtectedHeader({ alg: 'HS512', typ: 'JWT' })
    .setExpirationTime('1h')
    .sign(encoder.encode(key));
}

/** Header names starting with `grip-` in a raw header list, lower-cased, in order. */
function gripNames(rawHeaders: string[]): string[] {
  return rawHeaders
    .filter((_, i) => i % 2 === 0)
    .map((name) => name.toLowerCase())
    .filter((name) => name.startsWith('grip-'));
}

describe('client Grip-* request headers never reach a backend', () => {
  // One of each kind a client might forge, in a variety of cases; none may pass.
  const forged: Record<string, string> = {
    'Grip-Sig': 'client-forged-sig',
    'grip-hold': 'stream',
    'GRIP-Channel': 'client-channel',
    'Grip-Last': 'client-channel; last-id=1',
    'Grip-Foo': 'client-foo',
  };

  let http: PathBackend;
  let woh: WohBackend;
  let wsBackend: Backend;
  const wsHandshakes: http.IncomingMessage[] = [];
  let tt: Thumbtack;

  /** The backend saw thumbtack's own Grip-Sig (one, verified) and no other client Grip-* header. */
  async function expectOwnGripSigOnly(req: {
    headers: http.IncomingHttpHeaders;
    rawHeaders: string[];
  }): Promise<void> {
    const names = gripNames(req.rawHeaders);
    expect(names.filter((n) => n === 'grip-sig')).toEqual(['grip-sig']);
    // Grip-Feature is thumbtack's own announcement, not the client's.
    expect(names.filter((n) => n !== 'grip-sig' && n !== 'grip-feature')).toEqual([]);
    expect(req.headers['grip-sig']).not.toContain('client-forged-sig');
    await expect(verifyGripSigHeader(req.headers['grip-sig'])).resolves.toMatchObject({
      iss: 'pushpin',
    });
    expect(JSON.stringify(req.rawHeaders)).not.toMatch(/client-(forged-sig|channel|foo)/);
  }

  beforeAll(async () => {
    http = await startPathBackend();
    woh = await startWohBackend((ws) => {
      if (ws.isOpening()) {
        ws.accept();
        return;
      }
      for (const message of receiveAll(ws)) ws.send(`echo:${message}`);
    });
    wsBackend = await startBackend((_req, res) => {
      res.writeHead(404);
      res.end();
    });
    const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
    wsBackend.server.on('upgrade', (req: http.IncomingMessage, socket, head) => {
      wsHandshakes.push(req);
      wss.handleUpgrade(req, socket, head, (ws) => {
        ws.on('message', (data) => ws.send(`echo:${data.toString()}`));
      });
    });
    tt = await startThumbtack({
      routes: [
        `*,path_beg=/plain/,no_grip ${http.target}`,
        `*,path_beg=/woh/ ${woh.target},over_http`,
        `*,path_beg=/ws/ ${wsBackend.target}`,
        `* ${http.target}`,
        '',
      ].join('\n'),
      args: ['--log-level', 'debug'],
    });
  });
  afterAll(async () => {
    await tt.stop();
  });

  it('plain HTTP on a GRIP route: the backend sees thumbtack own Grip-Sig, none of the client Grip-* headers', async () => {
    const path = `/${uniqueName('plain-grip')}`;
    http.on(path, answer({ 'Content-Type': 'text/plain' }, 'plain\n'));
    const res = await send(`${tt.url}${path}`, { headers: forged });
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('plain\n');
    const [req] = http.requestsTo(path);
    await expectOwnGripSigOnly(req!);
  });

  it('plain HTTP on a no_grip route: the backend sees no Grip-* header at all', async () => {
    const path = `/plain/${uniqueName('no-grip')}`;
    http.on(path, answer({ 'Content-Type': 'text/plain' }, 'plain\n'));
    const res = await send(`${tt.url}${path}`, { headers: forged });
    expect(res.status).toBe(200);
    const [req] = http.requestsTo(path);
    expect(gripNames(req!.rawHeaders)).toEqual([]);
  });

  it('a stream hold: the held request carried only thumbtack own Grip-Sig, and the hold is thumbtack own', async () => {
    const channel = uniqueName('sec-stream');
    const path = `/${uniqueName('stream')}`;
    http.on(
      path,
      answer(
        { 'Content-Type': 'text/plain', 'Grip-Hold': 'stream', 'Grip-Channel': channel },
        'open\n',
      ),
    );
    const stream = await openStream(`${tt.url}${path}`, { headers: forged });
    streams.push(stream);
    await stream.waitForText('open\n');
    await waitForSubscribed(tt, channel);
    await publishOk(tt, streamItem(channel, 'pushed\n'));
    expect(await stream.waitForText('pushed\n')).toBe('open\npushed\n');
    const [req] = http.requestsTo(path);
    await expectOwnGripSigOnly(req!);
  });

  it('a response hold retried after a hint: the re-sent request carries only thumbtack own Grip-Sig', async () => {
    const channel = uniqueName('sec-hint');
    const path = `/${uniqueName('hint')}`;
    let answered = 0;
    http.on(path, (req, res) => {
      void readBody(req).then(() => {
        if (++answered === 1) {
          res.writeHead(200, { 'Grip-Hold': 'response', 'Grip-Channel': channel });
          res.end('timeout\n');
        } else {
          res.writeHead(200, { 'Content-Type': 'text/plain' });
          res.end('retried\n');
        }
      });
    });
    const done = send(`${tt.url}${path}`, { headers: forged });
    done.catch(() => undefined); // awaited below; this keeps an early failure handled
    await Promise.race([waitForSubscribed(tt, channel), done]);
    await publishOk(tt, { channel, formats: { 'http-response': { action: 'hint' } } });
    const res = await done;
    expect(res.body.toString()).toBe('retried\n');
    const [first, retry] = await http.waitForRequests(path, 2);
    await expectOwnGripSigOnly(first!);
    await expectOwnGripSigOnly(retry!);
  });

  it('WebSocket-over-HTTP: the OPEN request and a later TEXT request carry only thumbtack own Grip-Sig', async () => {
    const client = await connectWs(`${tt.url.replace(/^http/, 'ws')}/woh/${uniqueName('woh')}`, {
      headers: forged,
    });
    client.socket.send('hello');
    expect((await client.next()).text).toBe('echo:hello');
    const cid = woh.cidOf(client);
    const open = await woh.waitForCall((c) => c.cid === cid && c.events[0]?.type === 'OPEN');
    const text = await woh.waitForCall(
      (c) => c.cid === cid && c.events.some((e) => e.type === 'TEXT'),
    );
    await expectOwnGripSigOnly(open);
    await expectOwnGripSigOnly(text);
  });

  it('a passthrough WebSocket handshake carries only thumbtack own Grip-Sig', async () => {
    const path = `/ws/${uniqueName('pass')}`;
    const client = await connectWs(`${tt.url.replace(/^http/, 'ws')}${path}`, { headers: forged });
    client.socket.send('hello');
    expect((await client.next()).text).toBe('echo:hello');
    const handshake = wsHandshakes.find((req) => req.url === path);
    expect(handshake).toBeDefined();
    await expectOwnGripSigOnly(handshake!);
  });
});

describe('a forged Grip-Sig is never trusted as an upstream GRIP proxy (--upstream-key)', () => {
  const upstreamKey = 'upstream-secret';
  let backend: Backend;
  let tt: Thumbtack;
  /** What the backend saw of each request, by path. */
  let seen: Map<string, http.IncomingHttpHeaders>;

  beforeAll(async () => {
    ({ backend, seen } = await startStreamHoldBackend());
    tt = await startThumbtack({
      routes: `* ${backend.target}\n`,
      args: ['--upstream-key', upstreamKey, '--log-level', 'debug'],
    });
  });
  afterAll(async () => {
    await tt.stop();
  });

  const forgeries: [string, () => string | Promise<string>][] = [
    ['signed with another key', () => signHs256('another-key')],
    [
      'expired (exp in the past)',
      () => signHs256(upstreamKey, {}, Math.floor(Date.now() / 1000) - 60),
    ],
    [
      'without exp',
      () =>
        new SignJWT({ iss: 'forger' })
          .setProtectedHeader({ alg: 'HS256' })
          .sign(encoder.encode(upstreamKey)),
    ],
    ['alg: none', () => unsignedToken()],
    ['HS512 with the upstream key', () => signHs512(upstreamKey)],
    [
      'an RS256 header over an HMAC made with the upstream key',
      () => hmacWithHeader('RS256', upstreamKey),
    ],
    ['truncated', async () => (await signHs256(upstreamKey)).slice(0, -5)],
    ['garbage', () => 'not.a.jwt'],
    ['empty', () => ''],
  ];

  it.each(forgeries)(
    'a Grip-Sig %s: thumbtack holds the request itself and the backend sees thumbtack own Grip-Sig',
    async (_name, forge) => {
      const token = await forge();
      const channel = uniqueName('forged');
      const path = `/forged/${channel}`;
      const stream = await openStream(`${tt.url}${path}`, { headers: { 'Grip-Sig': token } });
      streams.push(stream);
      expect(stream.status).toBe(200);
      await stream.waitForText('opened\n');
      // The GRIP answer was acted on, not passed back.
      expect(Object.keys(stream.headers).filter((n) => n.startsWith('grip-'))).toEqual([]);
      await waitForSubscribed(tt, channel);
      await publishOk(tt, streamItem(channel, 'held by thumbtack\n'));
      expect(await stream.waitForText('held by thumbtack\n')).toBe('opened\nheld by thumbtack\n');
      const headers = seen.get(path)!;
      await expect(verifyGripSigHeader(headers['grip-sig'])).resolves.toMatchObject({
        iss: 'pushpin',
      });
      if (token !== '') expect(headers['grip-sig']).not.toContain(token);
    },
  );

  it('a valid Grip-Sig (HS256, the upstream key, exp ahead) is trusted: the GRIP answer passes back untouched', async () => {
    const token = await signHs256(upstreamKey, { iss: 'edge' });
    const channel = uniqueName('trusted');
    const path = `/trusted/${channel}`;
    const res = await send(`${tt.url}${path}`, { headers: { 'Grip-Sig': token } });
    expect(res.status).toBe(200);
    expect(res.headers['grip-hold']).toBe('stream');
    expect(res.headers['grip-channel']).toBe(channel);
    expect(res.body.toString()).toBe('opened\n');
    expect(seen.get(path)!['grip-sig']).toBe(token);
    expect(tt.logs.some((l) => l.event === 'channel.subscribed' && l.channel === channel)).toBe(
      false,
    );
  });
});

describe('responses that would be split are refused', () => {
  let backend: PathBackend;
  let tt: Thumbtack;

  beforeAll(async () => {
    backend = await startPathBackend();
    tt = await startThumbtack({ routes: `* ${backend.target}\n`, args: ['--log-level', 'debug'] });
  });
  afterAll(async () => {
    await tt.stop();
  });

  /** A long-poll held on `channel`; `done` resolves with its answer. */
  async function holdResponse(channel: string) {
    const path = `/${uniqueName('poll')}`;
    backend.on(path, answer({ 'Grip-Hold': 'response', 'Grip-Channel': channel }, 'timeout\n'));
    const done = send(`${tt.url}${path}`);
    done.catch(() => undefined); // awaited by the test; this keeps an early failure handled
    await Promise.race([waitForSubscribed(tt, channel), done]);
    return { done };
  }

  const valueMessage = (name: string) =>
    `Invalid format: 'http-response' header '${name}' has a value with a CR, LF or NUL character\n`;
  const reasonMessage = "Invalid format: 'http-response' reason has a CR, LF or NUL character\n";
  const nameMessage = (name: string) =>
    `Invalid format: 'http-response' header name ${JSON.stringify(name)} is not a token\n`;
  const published: [string, Record<string, unknown>, string][] = [
    [
      'a CR LF in a header value',
      { headers: { 'X-A': 'v\r\nSet-Cookie: evil=1' } },
      valueMessage('X-A'),
    ],
    [
      'a bare LF in a header value',
      { headers: { 'X-A': 'v\nSet-Cookie: evil=1' } },
      valueMessage('X-A'),
    ],
    [
      'a bare CR in a header value',
      { headers: { 'X-A': 'v\rSet-Cookie: evil=1' } },
      valueMessage('X-A'),
    ],
    ['a NUL in a header value', { headers: { 'X-A': 'v\0evil' } }, valueMessage('X-A')],
    ['a CR LF in the reason', { code: 200, reason: 'OK\r\nSet-Cookie: evil=1' }, reasonMessage],
    ['a bare LF in the reason', { code: 200, reason: 'OK\nSet-Cookie: evil=1' }, reasonMessage],
    ['a NUL in the reason', { code: 200, reason: 'OK\0' }, reasonMessage],
    ['a header name with a space', { headers: { 'X A': 'v' } }, nameMessage('X A')],
    [
      'a header name with a colon',
      { headers: { 'Set-Cookie: evil=1\r\nX': 'v' } },
      nameMessage('Set-Cookie: evil=1\r\nX'),
    ],
    ['an empty header name', { headers: { '': 'v' } }, nameMessage('')],
  ];

  it('a published http-response with CR, LF or NUL in a header or reason, or a header name not a token, is 400 naming the field; the held client gets only the later valid publish', async () => {
    const channel = uniqueName('split');
    const poll = await holdResponse(channel);
    for (const [name, format, message] of published) {
      const result = await publish(tt, [
        { channel, formats: { 'http-response': { body: `${name}\n`, ...format } } },
      ]);
      expect(result, name).toEqual({ status: 400, text: message });
    }
    await publishOk(tt, {
      channel,
      formats: { 'http-response': { headers: { 'X-A': 'clean' }, body: 'valid\n' } },
    });
    const res = await poll.done;
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('valid\n');
    expect(res.headers['x-a']).toBe('clean');
    expect(res.headers['set-cookie']).toBeUndefined();
  });

  const instructed: [string, Record<string, unknown>][] = [
    ['a CR LF in a header value', { headers: { 'X-A': 'v\r\nSet-Cookie: evil=1' } }],
    ['a NUL in a header value', { headers: { 'X-A': 'v\0evil' } }],
    ['a bare LF in the reason', { code: 200, reason: 'OK\nSet-Cookie: evil=1' }],
    ['a header name not a token', { headers: { 'Set-Cookie: evil=1\r\nX': 'v' } }],
  ];

  it.each(instructed)(
    'an application/grip-instruct response with %s answers 502, not a split response',
    async (_name, response) => {
      const path = `/${uniqueName('instruct')}`;
      backend.on(
        path,
        answer(
          { 'Content-Type': 'application/grip-instruct' },
          JSON.stringify({ response: { body: 'instructed\n', ...response } }),
        ),
      );
      const res = await send(`${tt.url}${path}`);
      expect(res.status).toBe(502);
      expect(res.headers['set-cookie']).toBeUndefined();
      expect(res.body.toString()).toBe('Error while proxying to origin.\n');
      await tt.waitForLog(
        (l) => l.msg === 'backend sent invalid GRIP instructions' && l['path'] === path,
      );
    },
  );

  it('an application/grip-instruct hold whose stored response has a CR LF header value answers 502 and holds nothing', async () => {
    const channel = uniqueName('instruct-hold');
    const path = `/${uniqueName('instruct')}`;
    backend.on(
      path,
      answer(
        { 'Content-Type': 'application/grip-instruct' },
        JSON.stringify({
          hold: { mode: 'response', channels: [{ name: channel }] },
          response: { headers: { 'X-A': 'v\r\nSet-Cookie: evil=1' }, body: 'timeout\n' },
        }),
      ),
    );
    const res = await send(`${tt.url}${path}`);
    expect(res.status).toBe(502);
    expect(res.headers['set-cookie']).toBeUndefined();
    expect(tt.logs.some((l) => l.event === 'channel.subscribed' && l.channel === channel)).toBe(
      false,
    );
  });
});

describe('control API auth (--control-jwt-key)', () => {
  const jwtKey = 'control-jwt-secret';
  let backend: PathBackend;
  let tt: Thumbtack;
  let metricsPort: number;

  beforeAll(async () => {
    backend = await startPathBackend();
    metricsPort = await freePort();
    tt = await startThumbtack({
      routes: `* ${backend.target}\n`,
      args: [
        '--control-jwt-key',
        jwtKey,
        '--metrics-port',
        String(metricsPort),
        '--log-level',
        'debug',
      ],
    });
  });
  afterAll(async () => {
    await tt.stop();
  });

  const bearer = (token: string | Promise<string>) =>
    Promise.resolve(token).then((t) => ({ authorization: `Bearer ${t}` }));
  const refused: [string, () => Promise<Record<string, string>>][] = [
    ['no Authorization', () => Promise.resolve({})],
    ['Bearer and garbage', () => bearer('garbage')],
    ['Bearer and nothing', () => Promise.resolve({ authorization: 'Bearer ' })],
    [
      'Basic with the key as password',
      () =>
        Promise.resolve({
          authorization: `Basic ${Buffer.from(`user:${jwtKey}`).toString('base64')}`,
        }),
    ],
    ['the key itself as a bearer token', () => bearer(jwtKey)],
    ['a JWT signed with another key', () => bearer(signHs256('another-key'))],
    ['an expired JWT', () => bearer(signHs256(jwtKey, {}, Math.floor(Date.now() / 1000) - 60))],
    [
      'a JWT not valid before an hour from now',
      () => bearer(signHs256(jwtKey, { nbf: Math.floor(Date.now() / 1000) + 3600 })),
    ],
    ['alg: none', () => bearer(unsignedToken())],
    ['HS512 with the key', () => bearer(signHs512(jwtKey))],
    [
      'an RS256 header over an HMAC made with the key',
      () => bearer(hmacWithHeader('RS256', jwtKey)),
    ],
    ['a truncated valid JWT', () => bearer(signHs256(jwtKey).then((t) => t.slice(0, -3)))],
    [
      'a valid JWT followed by more',
      () => signHs256(jwtKey).then((t) => ({ authorization: `Bearer ${t} extra` })),
    ],
    [
      'lower-case bearer with a JWT signed with another key',
      () => signHs256('another-key').then((t) => ({ authorization: `bearer ${t}` })),
    ],
    ['upper-case BEARER with garbage', () => Promise.resolve({ authorization: 'BEARER garbage' })],
    ['a valid JWT without a scheme', () => signHs256(jwtKey).then((t) => ({ authorization: t }))],
  ];

  it('every forged or malformed credential is 401 and delivers nothing; a valid JWT publishes', async () => {
    const channel = uniqueName('auth-jwt');
    const stream = await holdStream(backend, tt, channel);
    for (const [name, headers] of refused) {
      const result = await publish(tt, [streamItem(channel, `${name}\n`)], await headers());
      expect(result.status, name).toBe(401);
    }
    // A valid token in the query string instead of the header is not read.
    const valid = await signHs256(jwtKey);
    for (const query of [
      `token=${valid}`,
      `access_token=${valid}`,
      `authorization=Bearer%20${valid}`,
    ]) {
      expect(await publishWithQuery(tt, query, streamItem(channel, `${query}\n`)), query).toBe(401);
    }
    expect(
      await publish(tt, [streamItem(channel, 'valid\n')], { authorization: `Bearer ${valid}` }),
    ).toEqual({ status: 200, text: 'Published\n' });
    expect(await stream.waitForText('valid\n')).toBe('open\nvalid\n');
  });

  it('the auth scheme is case-insensitive (RFC 9110 11.1): a valid JWT after lower-case bearer publishes', async () => {
    const channel = uniqueName('auth-case');
    const stream = await holdStream(backend, tt, channel);
    const valid = await signHs256(jwtKey);
    expect(
      (await publish(tt, [streamItem(channel, 'lower\n')], { authorization: `bearer ${valid}` }))
        .status,
    ).toBe(200);
    expect(await stream.waitForText('lower\n')).toBe('open\nlower\n');
  });

  it('/recover, /metrics (also on --metrics-port), /status and /status.json need the credentials; /healthz and /readyz do not', async () => {
    const valid = { authorization: `Bearer ${await signHs256(jwtKey)}` };
    const forged = { authorization: `Bearer ${unsignedToken()}` };
    const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
    for (const url of [
      `${tt.controlUrl}/metrics`,
      metricsUrl,
      `${tt.controlUrl}/status`,
      `${tt.controlUrl}/status.json`,
    ]) {
      expect(await statusOf(url), url).toBe(401);
      expect(await statusOf(url, forged), url).toBe(401);
      expect(await statusOf(url, valid), url).toBe(200);
    }
    expect(await statusOf(`${tt.controlUrl}/recover`, {}, 'POST')).toBe(401);
    expect(await statusOf(`${tt.controlUrl}/recover`, forged, 'POST')).toBe(401);
    expect(await statusOf(`${tt.controlUrl}/healthz`)).toBe(200);
    expect(await statusOf(`${tt.controlUrl}/readyz`)).toBe(200);
  });
});

describe('control API auth (--control-token)', () => {
  const token = 'control-token-0123456789';
  let backend: PathBackend;
  let tt: Thumbtack;

  beforeAll(async () => {
    backend = await startPathBackend();
    tt = await startThumbtack({
      routes: `* ${backend.target}\n`,
      args: ['--control-token', token, '--log-level', 'debug'],
    });
  });
  afterAll(async () => {
    await tt.stop();
  });

  it('a wrong token, a prefix, a suffix, whitespace inside, another scheme or a JWT signed with the token is 401 and delivers nothing; the token publishes', async () => {
    const channel = uniqueName('auth-token');
    const stream = await holdStream(backend, tt, channel);
    const refused: [string, string | undefined][] = [
      ['no Authorization', undefined],
      ['a wrong token', 'Bearer not-the-token'],
      ['a prefix of the token', `Bearer ${token.slice(0, -1)}`],
      ['the token with a suffix', `Bearer ${token}x`],
      ['the token and a word after a space', `Bearer ${token} x`],
      ['the token split by a tab', `Bearer ${token.slice(0, 5)}\t${token.slice(5)}`],
      ['the token without a scheme', token],
      ['Basic with the token', `Basic ${Buffer.from(`:${token}`).toString('base64')}`],
      ['Token scheme', `Token ${token}`],
      ['a JWT signed with the token', `Bearer ${await signHs256(token)}`],
    ];
    for (const [name, authorization] of refused) {
      const headers: Record<string, string> = authorization ? { authorization } : {};
      const result = await publish(tt, [streamItem(channel, `${name}\n`)], headers);
      expect(result.status, name).toBe(401);
    }
    expect(await publishWithQuery(tt, `token=${token}`, streamItem(channel, 'query\n'))).toBe(401);
    expect(
      await publish(tt, [streamItem(channel, 'valid\n')], { authorization: `Bearer ${token}` }),
    ).toEqual({ status: 200, text: 'Published\n' });
    expect(await stream.waitForText('valid\n')).toBe('open\nvalid\n');
    expect(await statusOf(`${tt.controlUrl}/metrics`)).toBe(401);
    expect(await statusOf(`${tt.controlUrl}/metrics`, { authorization: `Bearer ${token}` })).toBe(
      200,
    );
    expect(await statusOf(`${tt.controlUrl}/status.json`)).toBe(401);
    expect(
      await statusOf(`${tt.controlUrl}/status.json`, { authorization: `Bearer ${token}` }),
    ).toBe(200);
    expect(await statusOf(`${tt.controlUrl}/healthz`)).toBe(200);
    expect(await statusOf(`${tt.controlUrl}/readyz`)).toBe(200);
  });
});

/** A stream held on `channel` (its first text `open\n`), subscribed before this resolves. */
async function holdStream(
  backend: PathBackend,
  tt: Thumbtack,
  channel: string,
): Promise<StreamClient> {
  const path = `/${uniqueName('held')}`;
  backend.on(
    path,
    answer(
      { 'Content-Type': 'text/plain', 'Grip-Hold': 'stream', 'Grip-Channel': channel },
      'open\n',
    ),
  );
  const stream = await openStream(`${tt.url}${path}`);
  streams.push(stream);
  await stream.waitForText('open\n');
  await waitForSubscribed(tt, channel);
  return stream;
}

/** A publish with credentials in the query string instead of the header; resolves with the status. */
async function publishWithQuery(tt: Thumbtack, query: string, item: unknown): Promise<number> {
  const res = await request(`${tt.controlUrl}/publish/?${query}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ items: [item] }),
  });
  await res.body.text();
  return res.statusCode;
}

async function statusOf(
  url: string,
  headers: Record<string, string> = {},
  method: 'GET' | 'POST' = 'GET',
): Promise<number> {
  const res = await request(url, { method, headers });
  await res.body.text();
  return res.statusCode;
}
