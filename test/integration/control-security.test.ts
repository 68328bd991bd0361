import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SignJWT } from 'jose';
import { Agent, request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { startBackend, stopAllBackends } from '../support/backend.js';
import { makeCertificate } from '../support/certificate.js';
import { runHandlerToExit, startHandlerProcess } from '../support/handler-process.js';
import { closeAllHeldClients, openHeldClient } from '../support/held-client.js';
import { startThumbtack, stopAllThumbtacks, thumbtackBin } from '../support/thumbtack.js';

/* The control API over TLS, and publish credentials scoped to channels. */

const cleanups: (() => Promise<unknown> | void)[] = [];

afterEach(async () => {
  closeAllHeldClients();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await stopAllThumbtacks();
  await stopAllBackends();
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thumbtack-control-'));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const item = (channel: string, content: string) => ({
  channel,
  formats: { 'http-stream': { content: `data: ${content}\n\n` } },
});

async function post(
  url: string,
  body: unknown,
  token?: string,
  dispatcher?: Agent,
): Promise<{ status: number; text: string }> {
  const res = await request(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify(body),
    ...(dispatcher ? { dispatcher } : {}),
  });
  return { status: res.statusCode, text: await res.body.text() };
}

describe('control API over TLS', () => {
  it('--control-tls-cert/--control-tls-key: HTTPS publishes work, plain HTTP is refused, the handler keeps serving; thumbtack publish trusts the certificate through NODE_EXTRA_CA_CERTS', async () => {
    const { certFile, keyFile } = makeCertificate(tempDir());
    const handler = await startHandlerProcess({
      args: ['--control-tls-cert', certFile, '--control-tls-key', keyFile],
    });
    cleanups.push(() => handler.stop());
    const httpsUrl = handler.controlUrl.replace('http://', 'https://');
    const agent = new Agent({ connect: { ca: fs.readFileSync(certFile) } });
    cleanups.push(() => agent.close());

    expect(
      await post(`${httpsUrl}/publish/`, { items: [item('t', 'x')] }, undefined, agent),
    ).toEqual({ status: 200, text: 'Published\n' });
    const plain = await request(`${handler.controlUrl}/publish/`, {
      method: 'POST',
      body: '{}',
    }).then(
      () => 'answered',
      () => 'refused',
    );
    expect(plain).toBe('refused');
    expect(
      (await post(`${httpsUrl}/publish/`, { items: [item('t', 'y')] }, undefined, agent)).status,
    ).toBe(200);

    const cli = spawn(
      process.execPath,
      [thumbtackBin, 'publish', 't', 'hello', '--control-uri', httpsUrl],
      {
        env: { ...process.env, NODE_EXTRA_CA_CERTS: certFile },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    cli.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    cli.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => cli.once('exit', resolve));
    expect(output).toMatch(/Published/);
    expect(code).toBe(0);
  });

  it('a key file that cannot be read stops the start with exit 2 naming --control-tls-key', async () => {
    const { certFile } = makeCertificate(tempDir());
    const result = await runHandlerToExit([
      '--control-port',
      '0',
      '--control-tls-cert',
      certFile,
      '--control-tls-key',
      '/nonexistent/key.pem',
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /--control-tls-key: cannot read "\/nonexistent\/key.pem": ENOENT/,
    );
  });
});

describe('scoped publish credentials', () => {
  const key = 'scope-secret';
  const token = (claims: Record<string, unknown>) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('10m')
      .sign(new TextEncoder().encode(key));

  it('a JWT channels claim allows its channels and prefixes; anything else is 403 naming the channel, and nothing of a refused request is delivered', async () => {
    const backend = await startBackend((_req, res) => {
      res.writeHead(200, {
        'Content-Type': 'text/event-stream',
        'Grip-Hold': 'stream',
        'Grip-Channel': 'news.sport',
      });
      res.end(':open\n\n');
    });
    const tt = await startThumbtack({
      routes: `* ${backend.target}\n`,
      args: ['--control-jwt-key', key],
    });
    const stream = openHeldClient(`${tt.url}/`);
    await stream.waitFor(':open');
    const scoped = await token({ iss: 'backend', channels: ['news.*', 'alerts'] });
    const publishUrl = `${tt.controlUrl}/publish/`;

    expect(await post(publishUrl, { items: [item('alerts', 'a')] }, scoped)).toEqual({
      status: 200,
      text: 'Published\n',
    });
    const refused = await post(
      publishUrl,
      { items: [item('news.sport', 'refused'), item('weather', 'w')] },
      scoped,
    );
    expect(refused.status).toBe(403);
    expect(refused.text).toBe(
      'Forbidden: this token may not publish to channel "weather" (see its channels claim).\n',
    );
    expect(
      (await post(publishUrl, { items: [item('news.sport', 'allowed')] }, scoped)).status,
    ).toBe(200);
    await stream.waitFor('data: allowed');
    expect(stream.text()).not.toContain('refused');

    const recover = await request(`${tt.controlUrl}/recover`, {
      method: 'POST',
      headers: { authorization: `Bearer ${scoped}`, 'content-length': '0' },
    });
    expect(recover.statusCode).toBe(403);
    await recover.body.text();

    // A token without the claim publishes anywhere, as before.
    expect(
      (await post(publishUrl, { items: [item('weather', 'w')] }, await token({}))).status,
    ).toBe(200);
    const malformed = await post(
      publishUrl,
      { items: [item('alerts', 'x')] },
      await token({ channels: 'alerts' }),
    );
    expect(malformed.status).toBe(401);
    expect(malformed.text).toMatch(/"channels" claim must be an array/);
  });
});
