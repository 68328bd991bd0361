import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { send } from '../support/client.js';
import { freePort } from '../support/free-port.js';
import { answer, openStream, uniqueName } from '../support/grip.js';
import { useGripSuite } from '../support/grip-suite.js';
import { thumbtackBin } from '../support/thumbtack.js';
import { waitForSubscribed } from '../support/channel-events.js';
import { startHandlerProcess, type HandlerProcess } from '../support/handler-process.js';

/*
 * `thumbtack publish` as a script or a person runs it: a separate process, against a
 * running instance, reaching held clients.
 */

const suite = useGripSuite({
  routes: (target) => `* ${target}\n`,
  args: ['--log-level', 'debug'],
});
let tmpDir: string;

beforeAll(() => {
  tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'thumbtack-cli-'));
  suite.backend.on('/stream', (req, res) => {
    const url = new URL(req.url!, 'http://x');
    const headers: Record<string, string> = {
      'Grip-Hold': 'stream',
      'Grip-Channel': `${url.searchParams.get('channel')}; filter=skip-self`,
    };
    const user = url.searchParams.get('user');
    if (user) headers['Grip-Set-Meta'] = `user="${user}"`;
    answer(headers, 'open\n')(req, res);
  });
  suite.backend.on('/poll', (req, res) => {
    const channel = new URL(req.url!, 'http://x').searchParams.get('channel')!;
    answer({ 'Grip-Hold': 'response', 'Grip-Channel': channel }, 'timeout\n')(req, res);
  });
});
afterAll(() => {
  fs.rmSync(tmpDir, { recursive: true, force: true });
});

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `thumbtack publish ...args` (against this file's instance) to its exit. */
function publishCli(
  args: string[],
  stdin?: string | Buffer,
  controlUri = suite.thumbtack.controlUrl,
): Promise<CliResult> {
  return runPublishCli([...args, '--control-uri', controlUri], stdin);
}

/** Runs `thumbtack publish ...args` to its exit, with extra environment variables. */
function runPublishCli(
  args: string[],
  stdin?: string | Buffer,
  env: NodeJS.ProcessEnv = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [thumbtackBin, 'publish', ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`thumbtack publish ${args.join(' ')} did not exit within 10 s`));
    }, 10_000);
    // 'close', not 'exit': the output may still be in the pipes when the process has exited.
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(stdin);
  });
}

/** A held long-poll and stream on a fresh channel. */
async function holdBoth(user?: string) {
  const channel = uniqueName('cli');
  const poll = send(`${suite.thumbtack.url}/poll?channel=${channel}`);
  let isAnswered = false;
  void poll.then(
    () => (isAnswered = true),
    () => undefined,
  );
  const query = user ? `&user=${user}` : '';
  const [stream] = await Promise.all([
    openStream(`${suite.thumbtack.url}/stream?channel=${channel}${query}`),
    waitForSubscribed(suite.thumbtack, channel),
  ]);
  suite.streams.push(stream);
  await stream.waitForText('open\n');
  return { channel, poll, stream, isAnswered: () => isAnswered };
}

describe('thumbtack publish', () => {
  it('CHANNEL content reaches streams and long-polls with a newline appended', async () => {
    const held = await holdBoth();
    const result = await publishCli([held.channel, 'hello world']);
    expect(result).toEqual({ code: 0, stdout: 'Published\n', stderr: '' });
    expect(await held.stream.waitForText('hello world\n')).toBe('open\nhello world\n');
    const res = await held.poll;
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('hello world\n');
  });

  it('reads the content from stdin as is when none is given, or given as -', async () => {
    const held = await holdBoth();
    expect((await publishCli([held.channel, '--format', 'http-stream'], 'from stdin')).code).toBe(
      0,
    );
    expect((await publishCli([held.channel, '-', '--format', 'http-stream'], '|dash')).code).toBe(
      0,
    );
    expect(await held.stream.waitForText('|dash')).toBe('open\nfrom stdin|dash');
  });

  it('--file sends the file bytes unchanged, binary included', async () => {
    const held = await holdBoth();
    const bytes = Buffer.concat([Buffer.from([0x00, 0xff, 0x10, 0x0a, 0x80]), Buffer.from('EOF')]);
    const file = path.join(tmpDir, 'payload.bin');
    fs.writeFileSync(file, bytes);
    expect((await publishCli([held.channel, '--file', file, '--format', 'http-stream'])).code).toBe(
      0,
    );
    await held.stream.waitForText('EOF');
    expect(held.stream.received()).toEqual(Buffer.concat([Buffer.from('open\n'), bytes]));
  });

  it('--format picks the transports: http-stream leaves the long-poll alone, http-response answers it', async () => {
    const held = await holdBoth();
    expect((await publishCli([held.channel, 'to streams', '--format', 'http-stream'])).code).toBe(
      0,
    );
    await held.stream.waitForText('to streams\n');
    expect(held.isAnswered()).toBe(false);
    const result = await publishCli([
      held.channel,
      'to long-polls',
      '--format',
      'http-response',
      '--code',
      '202',
      '-H',
      'X-From: cli',
    ]);
    expect(result.code).toBe(0);
    const res = await held.poll;
    expect(res.status).toBe(202);
    expect(res.headers['x-from']).toBe('cli');
    expect(res.body.toString()).toBe('to long-polls\n');
    expect(held.stream.text()).toBe('open\nto streams\n');
  });

  it('--close ends held streams', async () => {
    const held = await holdBoth();
    expect((await publishCli([held.channel, 'bye'])).code).toBe(0);
    expect((await publishCli([held.channel, '--close'])).code).toBe(0);
    expect(await held.stream.waitForEnd()).toBe('open\nbye\n');
  });

  it('--sender sets meta that skip-self filters on', async () => {
    const held = await holdBoth('alice');
    expect((await publishCli([held.channel, 'mine', '--sender', 'alice'])).code).toBe(0);
    expect((await publishCli([held.channel, 'theirs', '--sender', 'bob'])).code).toBe(0);
    expect(await held.stream.waitForText('theirs\n')).toBe('open\ntheirs\n');
  });

  it('an unreachable control API exits 1 and says which address failed', async () => {
    const port = await freePort();
    const result = await publishCli(['ch', 'x'], undefined, `http://127.0.0.1:${port}`);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(`cannot reach http://127.0.0.1:${port}/publish/`);
  });
});

describe('thumbtack publish with GRIP_URL', () => {
  const key = 'grip-url-key';
  let handler: HandlerProcess;
  beforeAll(async () => {
    handler = await startHandlerProcess({ args: ['--control-jwt-key', key] });
  });
  afterAll(async () => {
    await handler.stop();
  });

  it('takes the control API and credentials from GRIP_URL, as the GRIP libraries write it', async () => {
    const gripUrl = `${handler.controlUrl}/?iss=publisher&key=${key}`;
    const ok = await runPublishCli(['c', 'hi'], undefined, { GRIP_URL: gripUrl });
    expect(ok).toMatchObject({ code: 0, stdout: 'Published\n' });
    const wrong = await runPublishCli(['c', 'hi'], undefined, {
      GRIP_URL: `${handler.controlUrl}?iss=publisher&key=not-the-key`,
    });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/^Invalid JWT/);
  });

  it('flags win over GRIP_URL', async () => {
    const result = await runPublishCli(
      ['c', 'hi', '--control-uri', handler.controlUrl, '--jwt-key', key],
      undefined,
      { GRIP_URL: 'http://127.0.0.1:9?iss=x&key=wrong' },
    );
    expect(result).toMatchObject({ code: 0, stdout: 'Published\n' });
  });

  it.each([
    ['not a URL', 'not a url', 'is not a URL'],
    ['another scheme', 'zmq://127.0.0.1:5560', 'must be an http:// or https:// URL'],
    ['iss without key', 'http://127.0.0.1:5561?iss=me', 'has iss but no key'],
  ])('a GRIP_URL that is %s exits 2 naming it', async (_name, gripUrl, problem) => {
    const result = await runPublishCli(['c', 'hi'], undefined, { GRIP_URL: gripUrl });
    expect(result.code).toBe(2);
    expect(result.stderr.split('\n')[0]).toBe(
      `thumbtack publish: GRIP_URL "${gripUrl}" ${problem}${problem === 'is not a URL' ? ' (e.g. http://127.0.0.1:5561?iss=me&key=secret)' : ''}`,
    );
  });
});
