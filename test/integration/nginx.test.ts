import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startGripWsBackend } from '../support/grip-ws-backend.js';
import { freePort } from '../support/free-port.js';
import { closeAllHeldClients, openHeldClient } from '../support/held-client.js';
import { projectRoot, startThumbtack, stopAllThumbtacks } from '../support/thumbtack.js';

/*
 * nginx in front of thumbtack, configured with the README's nginx block as written (only
 * the port changes): plain requests, an SSE hold that gets a publish, a long-poll, and a
 * WebSocket, all through nginx.
 */

const cleanups: (() => void | Promise<void>)[] = [];
/** Debian puts it in /usr/sbin, which a non-root PATH may leave out. */
const nginxBin = fs.existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : 'nginx';

afterEach(async () => {
  closeAllHeldClients();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await stopAllThumbtacks();
});

function readmeNginxBlock(): string {
  const readme = fs.readFileSync(path.join(projectRoot, 'README.md'), 'utf8');
  const match = /```nginx\n([\s\S]*?)```/.exec(readme);
  if (!match) throw new Error('README.md has no ```nginx block');
  // The README quotes it inside a blockquote.
  return match[1]!.replace(/^> ?/gm, '');
}

async function startNginx(thumbtackPort: number): Promise<{ url: string; wsUrl: string }> {
  const found = spawnSync(nginxBin, ['-v'], { stdio: 'ignore' });
  if (found.error || found.status !== 0) {
    throw new Error(
      'nginx is not installed: install it (Debian: apt-get install -y nginx) to run the nginx test',
    );
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thumbtack-nginx-'));
  const port = await freePort();
  const locations = readmeNginxBlock().replaceAll('127.0.0.1:7999', `127.0.0.1:${thumbtackPort}`);
  const config = `
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server {
    listen 127.0.0.1:${port};
${locations}
  }
}
`;
  fs.writeFileSync(path.join(dir, 'nginx.conf'), config);
  const child: ChildProcess = spawn(
    nginxBin,
    ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-g', 'daemon off;'],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  cleanups.push(async () => {
    child.kill('SIGQUIT');
    await exited;
    fs.rmSync(dir, { recursive: true, force: true });
  });
  // Ready once it accepts connections (bounded).
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited: ${stderr}`);
    try {
      await request(`http://127.0.0.1:${port}/`).then((r) => r.body.text());
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`nginx did not start: ${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return { url: `http://127.0.0.1:${port}`, wsUrl: `ws://127.0.0.1:${port}` };
}

describe('behind nginx, with the README configuration', () => {
  it('plain requests, an SSE stream with a publish, a long-poll and a WebSocket all pass through', async () => {
    const backend = await startGripWsBackend('n');
    cleanups.push(() => backend.close());
    const tt = await startThumbtack({ routes: `* ${backend.target}\n` });
    const nginx = await startNginx(tt.port);

    for (let i = 0; i < 3; i++) {
      const res = await request(`${nginx.url}/plain`);
      expect(res.statusCode).toBe(200);
      // `proxy_set_header Host $host`: nginx sends the host without its port.
      expect(await res.body.text()).toBe('plain 127.0.0.1\n');
    }

    const sse = openHeldClient(`${nginx.url}/sse`);
    await sse.waitFor(':open');
    const poll = openHeldClient(`${nginx.url}/poll`);
    // Both holds are subscribed once thumbtack counts two held connections.
    const deadline = Date.now() + 10_000;
    for (;;) {
      const status = JSON.parse(await (await request(`${tt.controlUrl}/status.json`)).body.text());
      if ((status.connections.sse ?? 0) === 1 && (status.connections.http ?? 0) === 1) break;
      if (Date.now() > deadline) throw new Error('holds never appeared behind nginx');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const published = await request(`${tt.controlUrl}/publish/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        items: [
          {
            channel: 'n',
            formats: {
              'http-stream': { content: 'data: through nginx\n\n' },
              'http-response': { body: 'answered\n' },
            },
          },
        ],
      }),
    });
    expect(published.statusCode).toBe(200);
    await published.body.text();
    await sse.waitFor('data: through nginx');
    await poll.waitFor('answered');

    const socket = new WebSocket(`${nginx.wsUrl}/ws`);
    cleanups.push(() => socket.terminate());
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    const reply = new Promise<string>((resolve) =>
      socket.once('message', (data) => resolve(String(data))),
    );
    socket.send('hi');
    expect(await reply).toBe('echo hi');
  });
});
