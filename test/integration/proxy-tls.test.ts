import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import type http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { startBackend, stopAllBackends, type Backend } from '../support/backend.js';
import { send } from '../support/client.js';
import { makeCertificate } from '../support/certificate.js';
import { startThumbtack, stopAllThumbtacks, type Thumbtack } from '../support/thumbtack.js';

// Real processes on a machine that may be busy: generous bounds, all still finite.
vi.setConfig({ testTimeout: 40_000, hookTimeout: 60_000 });

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function hasIpv6Loopback(): boolean {
  return Object.values(os.networkInterfaces()).some((addresses) =>
    addresses?.some((a) => a.family === 'IPv6' && a.address === '::1'),
  );
}

interface Echo {
  url: string;
  headers: http.IncomingHttpHeaders;
}

function echoHandler(req: http.IncomingMessage, res: http.ServerResponse): void {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ url: req.url!, headers: req.headers } satisfies Echo));
  });
}

const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'thumbtack-tls-'));
let cert: { certFile: string; keyFile: string; pem: string; key: string };
let backend: Backend;

afterAll(async () => {
  await stopAllThumbtacks();
  await stopAllBackends();
  fs.rmSync(tmpDir, { recursive: true, force: true });
});

// Skipped only when the machine has no openssl to make a certificate with (reported by name).
describe.runIf(hasOpenssl())('TLS (openssl available)', () => {
  let tls: Thumbtack;
  let plain: Thumbtack;
  let httpsBackend: Backend;

  beforeAll(async () => {
    const files = makeCertificate(tmpDir);
    cert = {
      ...files,
      pem: fs.readFileSync(files.certFile, 'utf8'),
      key: fs.readFileSync(files.keyFile, 'utf8'),
    };
    backend = await startBackend(echoHandler);
    httpsBackend = await startBackend(echoHandler, { tls: { cert: cert.pem, key: cert.key } });
    const routes = [
      `*,id=tls-only,ssl=yes,path_beg=/which/,no_grip,header=X-Route:tls-only ${backend.target}`,
      `*,id=plain-only,ssl=no,path_beg=/which/,no_grip,header=X-Route:plain-only ${backend.target}`,
      `*,id=any,no_grip ${backend.target}`,
      `*,id=https-insecure,path_beg=/insecure/,no_grip ${httpsBackend.target},ssl,insecure`,
      `*,id=https-verified,path_beg=/verified/,no_grip ${httpsBackend.target},ssl`,
    ].join('\n');
    [tls, plain] = await Promise.all([
      startThumbtack({ routes, tls: { certFile: cert.certFile, keyFile: cert.keyFile } }),
      startThumbtack({ routes }),
    ]);
  });

  test('clients are served over TLS with --tls-cert and --tls-key', async () => {
    expect(tls.url).toMatch(/^https:/);
    const res = await send(tls.url + '/hello', { ca: cert.pem });
    expect(res.status).toBe(200);
    const echo = JSON.parse(res.body.toString()) as Echo;
    expect(echo.url).toBe('/hello');
    expect(echo.headers['x-forwarded-proto']).toBe('https');
  });

  test('a TLS client reaches ssl=yes routes and a plain client ssl=no routes', async () => {
    const overTls = JSON.parse(
      (await send(tls.url + '/which/x', { ca: cert.pem })).body.toString(),
    ) as Echo;
    expect(overTls.headers['x-route']).toBe('tls-only');
    const overPlain = JSON.parse((await send(plain.url + '/which/x')).body.toString()) as Echo;
    expect(overPlain.headers['x-route']).toBe('plain-only');
    expect(overPlain.headers['x-forwarded-proto']).toBe('http');
  });

  test('a client that does not trust the certificate is refused by its own TLS check', async () => {
    await expect(send(tls.url + '/hello')).rejects.toThrow(/self.signed|certificate/i);
  });

  test('a target with ssl,insecure reaches an HTTPS backend with a self-signed certificate', async () => {
    const res = await send(plain.url + '/insecure/x');
    expect(res.status).toBe(200);
    expect((JSON.parse(res.body.toString()) as Echo).url).toBe('/insecure/x');
  });

  test('a target with ssl but not insecure refuses an untrusted backend certificate with 502', async () => {
    const res = await send(plain.url + '/verified/x');
    expect(res.status).toBe(502);
    const line = await plain.waitForLog((l) => l.level === 'error' && l.route === 'https-verified');
    expect(line.target).toBe(httpsBackend.target);
  });
});

describe.runIf(hasIpv6Loopback())('IPv6 (::1 available)', () => {
  let v6: Thumbtack;
  let v6Backend: Backend;

  beforeAll(async () => {
    v6Backend = await startBackend(echoHandler, { host: '::1' });
    v6 = await startThumbtack({ routes: `*,no_grip ${v6Backend.target}`, host: '::1' });
  });

  test('--host ::1 serves clients over IPv6 and reaches an [::1] backend', async () => {
    expect(v6.url).toBe(`http://[::1]:${v6.port}`);
    const res = await send(v6.url + '/v6');
    expect(res.status).toBe(200);
    const echo = JSON.parse(res.body.toString()) as Echo;
    expect(echo.url).toBe('/v6');
    expect(echo.headers['x-forwarded-for']).toBe('::1');
    expect(echo.headers.host).toBe(`[::1]:${v6.port}`);
  });

  test('a dual-stack listener (--host ::) names IPv4 and IPv6 peers canonically and trusts ::1', async () => {
    const dual = await startThumbtack({
      routes: `*,no_grip ${v6Backend.target}`,
      host: '::',
      args: ['--x-forwarded-for', 'replace', '--trusted-proxies', '0:0:0:0:0:0:0:1'],
    });
    const headers = { 'x-forwarded-for': '203.0.113.7' };
    const overV4 = await send(`http://127.0.0.1:${dual.port}/v4`, { headers });
    expect((JSON.parse(overV4.body.toString()) as Echo).headers['x-forwarded-for']).toBe(
      '127.0.0.1',
    );
    const overV6 = await send(`http://[::1]:${dual.port}/v6`, { headers });
    expect((JSON.parse(overV6.body.toString()) as Echo).headers['x-forwarded-for']).toBe(
      '203.0.113.7, ::1',
    );
  });
});
