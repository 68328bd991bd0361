import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { EventSource, type FetchLike } from 'eventsource';
import { fetch as undiciFetch } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startExample, type ExampleProcess } from '../support/example-process.js';
import { freePort } from '../support/free-port.js';
import { projectRoot } from '../support/thumbtack.js';
import { closeAllWsClients, connectWs, type WsTestClient } from '../support/ws.js';

/*
 * examples/publish-from-backend as its README has it: the backend behind thumbtack, one
 * SSE client, one long-poll and one WebSocket, then each way's commands taken from the
 * README's `sh` block and run by a shell as written, but for the test's control port and
 * `node bin/thumbtack.js` for `npx thumbtack` (npx's first run installs into its cache).
 * The Python way is not run: gripcontrol cannot be installed here (README, section 4).
 */

const readme = fs.readFileSync(
  path.join(projectRoot, 'examples/publish-from-backend/README.md'),
  'utf8',
);

/** The first `sh` block of the README section with this heading. */
function shellBlock(heading: string): string {
  const start = readme.indexOf(`\n## ${heading}\n`);
  if (start === -1) throw new Error(`README has no section "## ${heading}"`);
  const end = readme.indexOf('\n## ', start + 1);
  const block = /```sh\n([\s\S]*?)```/.exec(readme.slice(start, end === -1 ? undefined : end));
  if (!block) throw new Error(`README section "${heading}" has no sh block`);
  return block[1]!;
}

/** Runs README commands with sh, pointed at this example's control port (bounded). */
function runAsWritten(
  example: ExampleProcess,
  script: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const local = script
    .replaceAll('127.0.0.1:5561', `127.0.0.1:${example.controlPort}`)
    .replaceAll('npx thumbtack', 'node bin/thumbtack.js');
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', local], {
      cwd: projectRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
      // What the README's defaults (127.0.0.1:5561) are for the reader.
      env: {
        ...process.env,
        GRIP_URL: `http://127.0.0.1:${example.controlPort}`,
        THUMBTACK_CONTROL_PORT: String(example.controlPort),
      },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`commands still running after 20 s: ${local}`));
    }, 20_000);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

interface Clients {
  /** Resolves with the data of the SSE client's next `message` event (bounded). */
  nextSse(): Promise<string>;
  /** The long-poll's answer. */
  poll: Promise<{ status: number; body: string }>;
  ws: WsTestClient;
}

const sources = new Set<EventSource>();

/** The README's three clients, each held by the backend (its `backend:` lines say so). */
async function openClients(example: ExampleProcess): Promise<Clients> {
  const since = example.lines.length;
  const messages: string[] = [];
  const wakers = new Set<() => void>();
  const source = new EventSource(`${example.url}/sse`, {
    fetch: undiciFetch as unknown as FetchLike,
  });
  sources.add(source);
  source.addEventListener('message', (event) => {
    messages.push(event.data);
    for (const wake of [...wakers]) wake();
  });
  const poll = undiciFetch(`${example.url}/poll`).then(async (res) => ({
    status: res.status,
    body: await res.text(),
  }));
  const ws = await connectWs(`${example.url.replace(/^http/, 'ws')}/ws`);
  await Promise.all(
    ['GET /sse held as an SSE stream', 'GET /poll held as a long-poll'].map((what) =>
      example.waitForLine((line) => line === `backend: ${what} on "news"`, { since }),
    ),
  );
  const nextSse = (): Promise<string> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        if (messages.length === 0) return;
        clearTimeout(timer);
        wakers.delete(check);
        resolve(messages.shift()!);
      };
      const timer = setTimeout(() => {
        wakers.delete(check);
        reject(new Error('no SSE message within 5 s'));
      }, 5_000);
      wakers.add(check);
      check();
    });
  return { nextSse, poll, ws };
}

afterEach(() => {
  for (const source of sources) source.close();
  sources.clear();
  closeAllWsClients();
});

async function expectAllThree(clients: Clients, message: string): Promise<void> {
  expect(await clients.nextSse()).toBe(message);
  expect(await clients.poll).toEqual({ status: 200, body: `${message}\n` });
  expect((await clients.ws.next()).text).toBe(message);
}

describe('examples/publish-from-backend', () => {
  let example: ExampleProcess;
  beforeAll(async () => {
    example = await startExample('publish-from-backend', {
      BACKEND_PORT: String(await freePort()),
    });
  });
  afterAll(async () => {
    await example?.stop();
  });

  it('1. curl: the README command reaches the SSE, long-poll and WebSocket clients', async () => {
    const clients = await openClients(example);
    const result = await runAsWritten(example, shellBlock('1. curl'));
    expect(result).toMatchObject({ code: 0, stdout: 'Published\n' });
    await expectAllThree(clients, 'hello from curl');
  });

  it('2. @fanoutio/grip: publish-with-grip.js reaches all three clients', async () => {
    const clients = await openClients(example);
    const result = await runAsWritten(example, shellBlock('2. `@fanoutio/grip` (Node.js)'));
    expect(result).toMatchObject({ code: 0, stdout: 'Published\n' });
    await expectAllThree(clients, 'hello from @fanoutio/grip');
  });

  it('3. thumbtack publish: the two README commands reach all three clients', async () => {
    const clients = await openClients(example);
    const result = await runAsWritten(example, shellBlock('3. `thumbtack publish`'));
    expect(result).toMatchObject({ code: 0, stdout: 'Published\nPublished\n' });
    // In publish order: the SSE-only item first, so a client it reached wrongly fails here.
    await expectAllThree(clients, 'hello from the CLI');
  });
});

describe('examples/publish-from-backend with a control JWT key', () => {
  let example: ExampleProcess;
  beforeAll(async () => {
    example = await startExample('publish-from-backend', {
      BACKEND_PORT: String(await freePort()),
      THUMBTACK_CONTROL_JWT_KEY: 'secret',
    });
  });
  afterAll(async () => {
    await example?.stop();
  });

  it('GRIP_URL with iss and key signs both commands; curl without credentials is refused', async () => {
    const block = shellBlock('Credentials');
    const [start, ...commands] = block.trim().split('\n');
    expect(start).toBe('THUMBTACK_CONTROL_JWT_KEY=secret npm run example -- publish-from-backend');
    const clients = await openClients(example);
    const result = await runAsWritten(example, commands.join('\n'));
    expect(result).toMatchObject({ code: 0, stdout: 'Published\nPublished\n' });
    // The library's publish has all three formats, the command's the last two.
    await expectAllThree(clients, 'hello with a JWT');
    expect((await clients.ws.next()).text).toBe('hello with a JWT');

    const refused = await runAsWritten(example, shellBlock('1. curl'));
    expect(refused.stdout).toMatch(/Authorization required/);
  });
});
