import { spawn } from 'node:child_process';
import fs from 'node:fs';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDemoBackend } from '../../examples/demo/backend.js';
import { send } from '../support/client.js';
import { openStream, type StreamClient } from '../support/grip.js';
import {
  projectRoot,
  startThumbtack,
  stopAllThumbtacks,
  thumbtackBin,
  type Thumbtack,
} from '../support/thumbtack.js';
import { waitForSubscribed } from '../support/channel-events.js';

/*
 * The demo flow the README tells, on free ports: the demo backend behind thumbtack with a
 * routes file like config/routes (`* localhost:<port>`), `curl -N` on /stream, and
 * `thumbtack publish test hello` from another terminal.
 */

let backend: http.Server;
let thumbtack: Thumbtack;
const streams: StreamClient[] = [];

beforeAll(async () => {
  backend = createDemoBackend();
  await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
  const { port } = backend.address() as AddressInfo;
  // The shipped routes file, pointed at this backend's port.
  const shipped = fs.readFileSync(path.join(projectRoot, 'config/routes'), 'utf8');
  const routes = shipped.replace(/^\*\s+localhost:8000$/m, `* localhost:${port}`);
  expect(routes).toContain(`localhost:${port}`);
  thumbtack = await startThumbtack({ routes, args: ['--log-level', 'debug'] });
});
afterAll(async () => {
  for (const stream of streams) stream.close();
  await stopAllThumbtacks();
  backend.closeAllConnections();
  await new Promise((resolve) => backend.close(resolve));
});

/** `thumbtack publish ...args` as the README has it; the control port comes from the environment. */
function publishCli(
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [thumbtackBin, 'publish', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, THUMBTACK_CONTROL_PORT: String(thumbtack.controlPort) },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('thumbtack publish did not exit within 10 s'));
    }, 10_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('demo', () => {
  it('plain requests pass through to the demo backend', async () => {
    const res = await send(`${thumbtack.url}/`);
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('Hello from the demo backend. Try /stream or /response.\n');
  });

  it('curl -N /stream, then `thumbtack publish test hello`, shows hello on the stream', async () => {
    const [stream] = await Promise.all([
      openStream(`${thumbtack.url}/stream`),
      waitForSubscribed(thumbtack, 'test'),
    ]);
    streams.push(stream);
    expect(stream.status).toBe(200);
    expect(stream.headers['transfer-encoding']).toBe('chunked');
    await stream.waitForText('[stream open on channel "test"]\n');
    const result = await publishCli(['test', 'hello']);
    expect(result).toEqual({ code: 0, stdout: 'Published\n', stderr: '' });
    expect(await stream.waitForText('hello\n')).toBe('[stream open on channel "test"]\nhello\n');
  });

  it('curl /response is a long-poll on the same channel, answered by the next publish', async () => {
    // The channel already has a listener (the stream above), so no new bus subscription
    // shows this hold; the backend seeing the request is enough: later items are for it.
    const reached = new Promise<void>((resolve) => {
      const onRequest = (req: http.IncomingMessage) => {
        if (req.url !== '/response') return;
        backend.off('request', onRequest);
        resolve();
      };
      backend.on('request', onRequest);
    });
    const done = send(`${thumbtack.url}/response`);
    await reached;
    const result = await publishCli(['test', 'extra extra']);
    expect(result.code).toBe(0);
    const res = await done;
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/plain');
    expect(res.body.toString()).toBe('extra extra\n');
  });
});
