import http from 'node:http';
import { validateSig } from '@fanoutio/grip';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { startBackend, stopAllBackends, type Backend } from '../support/backend.js';
import { send } from '../support/client.js';
import { startThumbtack, stopAllThumbtacks, type Thumbtack } from '../support/thumbtack.js';

// Real processes on a machine that may be busy: generous bounds, all still finite.
vi.setConfig({ testTimeout: 40_000, hookTimeout: 60_000 });

interface Echo {
  url: string;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
}

/** Answers GRIP instructions on `/respond-grip/...` paths and describes the request otherwise. */
function backendHandler(req: http.IncomingMessage, res: http.ServerResponse): void {
  req.resume();
  req.on('end', () => {
    if (req.url!.includes('/respond-grip/instant')) {
      // A GRIP answer without a hold: the client gets this response, minus every Grip-* header.
      res.writeHead(200, {
        'content-type': 'text/plain',
        'grip-channel': 'never-held',
        'grip-custom': 'backend-only',
        'x-other': 'yes',
      });
      res.end('instant\n');
      return;
    }
    if (req.url!.includes('/respond-grip/hold')) {
      res.writeHead(200, {
        'content-type': 'text/plain',
        'grip-hold': 'response',
        'grip-channel': 'headers-test-timeout',
        'grip-timeout': '1',
        'x-other': 'yes',
      });
      res.end('timed out\n');
      return;
    }
    const echo: Echo = { url: req.url!, headers: req.headers, rawHeaders: req.rawHeaders };
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(echo));
  });
}

const forgedGripHeaders = {
  'grip-sig': 'forged.by.client',
  'grip-hold': 'stream',
  'grip-channel': 'evil',
  'grip-last': 'evil; last-id=1',
  'grip-custom': 'client',
};

let backend: Backend;
let defaults: Thumbtack;
let replace: Thumbtack;
let replaceTrusted: Thumbtack;
let off: Thumbtack;
let globalKey: Thumbtack;
/** Started early: Grip-Timeout is clamped to 5 s (as in Pushpin), so it runs beside the others. */
let heldResponse: ReturnType<typeof send>;

beforeAll(async () => {
  backend = await startBackend(backendHandler);
  const routes = [
    `*,id=plain,no_grip ${backend.target}`,
    `*,id=grip,path_beg=/grip/ ${backend.target}`,
    `*,id=signed,path_beg=/signed/,sig_key=route-secret,sig_iss=route-iss ${backend.target}`,
    `*,id=headers,path_beg=/headers/,no_grip,header=X-Api-Key:route-value,header=X-Remove-Me:,header=Cookie: ${backend.target}`,
    `*,id=as-host,path_beg=/as-host/,no_grip,as_host=virtual.example:8080 ${backend.target}`,
    `*,id=target-host,path_beg=/target-host/,no_grip ${backend.target},host=backend.example`,
    `*,id=rem,path_beg=/rem/,path_rem=4,no_grip ${backend.target}`,
    `*,id=replace,path_beg=/old/,replace_beg=/v2/,no_grip ${backend.target}`,
  ].join('\n');
  [defaults, replace, replaceTrusted, off, globalKey] = await Promise.all([
    startThumbtack({ routes }),
    startThumbtack({ routes, args: ['--x-forwarded-for', 'replace'] }),
    startThumbtack({
      routes,
      args: ['--x-forwarded-for', 'replace', '--trusted-proxies', '10.0.0.1,127.0.0.1'],
    }),
    startThumbtack({ routes, args: ['--x-forwarded-for', 'off', '--no-x-forwarded-proto'] }),
    startThumbtack({ routes, args: ['--sig-key', 'global-secret', '--sig-iss', 'global-iss'] }),
  ]);
  heldResponse = send(defaults.url + '/grip/respond-grip/hold');
  heldResponse.catch(() => undefined);
});

afterAll(async () => {
  await stopAllThumbtacks();
  await stopAllBackends();
});

async function echoOf(
  tt: Thumbtack,
  path: string,
  headers: http.OutgoingHttpHeaders = {},
): Promise<Echo> {
  const res = await send(tt.url + path, { headers });
  expect(res.status).toBe(200);
  return JSON.parse(res.body.toString()) as Echo;
}

/** The value(s) the backend received for a header, in order, as raw lines. */
function rawValues(echo: Echo, name: string): string[] {
  const values: string[] = [];
  for (let i = 0; i + 1 < echo.rawHeaders.length; i += 2) {
    if (echo.rawHeaders[i]!.toLowerCase() === name) values.push(echo.rawHeaders[i + 1]!);
  }
  return values;
}

describe('X-Forwarded-For and X-Forwarded-Proto', () => {
  test('by default the client address is appended to the X-Forwarded-For the client sent', async () => {
    const echo = await echoOf(defaults, '/xff', { 'x-forwarded-for': '203.0.113.7, 198.51.100.1' });
    expect(rawValues(echo, 'x-forwarded-for')).toEqual(['203.0.113.7, 198.51.100.1, 127.0.0.1']);
  });

  test('by default a client without X-Forwarded-For gets one with its address', async () => {
    const echo = await echoOf(defaults, '/xff');
    expect(rawValues(echo, 'x-forwarded-for')).toEqual(['127.0.0.1']);
  });

  test('several X-Forwarded-For lines from the client are joined before appending', async () => {
    const echo = await echoOf(defaults, '/xff', {
      'x-forwarded-for': ['203.0.113.7', '198.51.100.1'],
    });
    expect(rawValues(echo, 'x-forwarded-for')).toEqual(['203.0.113.7, 198.51.100.1, 127.0.0.1']);
  });

  test('by default X-Forwarded-Proto is set to the client scheme, replacing what an untrusted client sent', async () => {
    const echo = await echoOf(defaults, '/xfp', {
      'x-forwarded-proto': 'https',
      'x-forwarded-protocol': 'https',
    });
    expect(rawValues(echo, 'x-forwarded-proto')).toEqual(['http']);
    expect(rawValues(echo, 'x-forwarded-protocol')).toEqual([]);
  });

  test('--x-forwarded-for replace drops what an untrusted client sent', async () => {
    const echo = await echoOf(replace, '/xff', { 'x-forwarded-for': '203.0.113.7' });
    expect(rawValues(echo, 'x-forwarded-for')).toEqual(['127.0.0.1']);
  });

  test('--trusted-proxies keeps the X-Forwarded-For and X-Forwarded-Proto a trusted peer sent', async () => {
    const echo = await echoOf(replaceTrusted, '/xff', {
      'x-forwarded-for': '203.0.113.7',
      'x-forwarded-proto': 'https',
    });
    expect(rawValues(echo, 'x-forwarded-for')).toEqual(['203.0.113.7, 127.0.0.1']);
    expect(rawValues(echo, 'x-forwarded-proto')).toEqual(['https']);
  });

  test('--x-forwarded-for off and --no-x-forwarded-proto leave both headers as the client sent them', async () => {
    const sent = await echoOf(off, '/xff', {
      'x-forwarded-for': '203.0.113.7',
      'x-forwarded-proto': 'https',
    });
    expect(rawValues(sent, 'x-forwarded-for')).toEqual(['203.0.113.7']);
    expect(rawValues(sent, 'x-forwarded-proto')).toEqual(['https']);
    const none = await echoOf(off, '/xff');
    expect(rawValues(none, 'x-forwarded-for')).toEqual([]);
    expect(rawValues(none, 'x-forwarded-proto')).toEqual([]);
  });
});

describe('GRIP headers', () => {
  test('client Grip-* headers never reach the backend of a no_grip route, and no Grip-Sig is added', async () => {
    const echo = await echoOf(defaults, '/plain', forgedGripHeaders);
    const grip = Object.keys(echo.headers).filter((name) => name.startsWith('grip-'));
    expect(grip).toEqual([]);
  });

  test('on a GRIP route the backend gets only the proxy Grip-Sig, which @fanoutio/grip validates', async () => {
    const echo = await echoOf(defaults, '/grip/sig', forgedGripHeaders);
    const sigs = rawValues(echo, 'grip-sig');
    expect(sigs).toHaveLength(1);
    const [sig] = sigs as [string];
    expect(sig).not.toBe('forged.by.client');
    expect(await validateSig(sig, 'changeme', 'pushpin')).toBe(true);
    expect(await validateSig(sig, 'wrong-key', 'pushpin')).toBe(false);
    expect(await validateSig(sig, 'changeme', 'other-issuer')).toBe(false);
    for (const name of ['grip-hold', 'grip-channel', 'grip-last', 'grip-custom']) {
      expect(echo.headers[name], name).toBeUndefined();
    }
    expect(echo.headers['grip-feature']).toBeDefined();
  });

  test('the Grip-Sig token expires within the hour, as Pushpin signs it', async () => {
    const echo = await echoOf(defaults, '/grip/exp');
    const [, payload] = (echo.headers['grip-sig'] as string).split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as {
      exp: number;
      iss: string;
    };
    const now = Date.now() / 1000;
    expect(claims.iss).toBe('pushpin');
    expect(claims.exp).toBeGreaterThan(now + 3000);
    expect(claims.exp).toBeLessThanOrEqual(now + 3600 + 5);
  });

  test('a route sig_key and sig_iss sign its requests instead of the global ones', async () => {
    const echo = await echoOf(defaults, '/signed/x');
    const sig = echo.headers['grip-sig'] as string;
    expect(await validateSig(sig, 'route-secret', 'route-iss')).toBe(true);
    expect(await validateSig(sig, 'changeme')).toBe(false);
  });

  test('--sig-key and --sig-iss sign GRIP routes without their own key; a route key still wins', async () => {
    const global = await echoOf(globalKey, '/grip/x');
    expect(
      await validateSig(global.headers['grip-sig'] as string, 'global-secret', 'global-iss'),
    ).toBe(true);
    expect(await validateSig(global.headers['grip-sig'] as string, 'changeme')).toBe(false);
    const route = await echoOf(globalKey, '/signed/x');
    expect(
      await validateSig(route.headers['grip-sig'] as string, 'route-secret', 'route-iss'),
    ).toBe(true);
  });

  test('GRIP instruction headers of a GRIP answer never reach the client', async () => {
    const res = await send(defaults.url + '/grip/respond-grip/instant');
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('instant\n');
    expect(res.headers['x-other']).toBe('yes');
    expect(Object.keys(res.headers).filter((name) => name.startsWith('grip-'))).toEqual([]);
  });

  test('a held response that times out reaches the client without Grip-* headers', async () => {
    const res = await heldResponse;
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('timed out\n');
    expect(res.headers['x-other']).toBe('yes');
    expect(Object.keys(res.headers).filter((name) => name.startsWith('grip-'))).toEqual([]);
  });

  test('a no_grip route relays Grip-* response headers untouched, as Pushpin does', async () => {
    const res = await send(defaults.url + '/respond-grip/instant');
    expect(res.body.toString()).toBe('instant\n');
    expect(res.headers['grip-channel']).toBe('never-held');
  });
});

describe('route options', () => {
  test('the client Host reaches the backend unless the route says otherwise', async () => {
    const echo = await echoOf(defaults, '/host');
    expect(rawValues(echo, 'host')).toEqual([`127.0.0.1:${defaults.port}`]);
  });

  test('header= sets a request header (replacing the client value) and an empty value removes one', async () => {
    const echo = await echoOf(defaults, '/headers/x', {
      'x-api-key': 'client-value',
      'x-remove-me': 'client',
      cookie: 'session=1',
      'x-untouched': 'yes',
    });
    expect(rawValues(echo, 'x-api-key')).toEqual(['route-value']);
    expect(echo.headers['x-remove-me']).toBeUndefined();
    expect(echo.headers.cookie).toBeUndefined();
    expect(echo.headers['x-untouched']).toBe('yes');
  });

  test('as_host= forwards the request with that Host', async () => {
    const echo = await echoOf(defaults, '/as-host/x');
    expect(rawValues(echo, 'host')).toEqual(['virtual.example:8080']);
  });

  test('a target host= forwards the request with that Host', async () => {
    const echo = await echoOf(defaults, '/target-host/x');
    expect(rawValues(echo, 'host')).toEqual(['backend.example']);
  });

  test('path_rem= drops that many bytes of the path, keeping the query', async () => {
    const echo = await echoOf(defaults, '/rem/items/7?full=1');
    expect(echo.url).toBe('/items/7?full=1');
  });

  test('replace_beg= replaces the path_beg prefix, keeping the query', async () => {
    const echo = await echoOf(defaults, '/old/items/7?full=1');
    expect(echo.url).toBe('/v2/items/7?full=1');
  });
});
