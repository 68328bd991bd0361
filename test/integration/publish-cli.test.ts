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

const largeItemBytes = 16_000_000;
const suite = useGripSuite({
  routes: (target) => `* ${target}\n`,
  args: ['--log-level', 'debug', '--publish-body-max', String(2 * largeItemBytes)],
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
  suite.backend.on('/poll-json', (req, res) => {
    const channel = new URL(req.url!, 'http://x').searchParams.get('channel')!;
    answer(
      { 'Grip-Hold': 'response', 'Grip-Channel': channel, 'Content-Type': 'application/json' },
      '{"unread":0,"from":"backend"}\n',
    )(req, res);
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

/** A held long-poll on a fresh channel whose held body is JSON. */
async function holdJson() {
  const channel = uniqueName('cli');
  const poll = send(`${suite.thumbtack.url}/poll-json?channel=${channel}`);
  await waitForSubscribed(suite.thumbtack, channel);
  return { channel, poll };
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

  it('@PATH content (pushpin-publish) sends the file bytes, no newline added', async () => {
    const held = await holdBoth();
    const file = path.join(tmpDir, 'at-file.txt');
    fs.writeFileSync(file, 'from a file');
    expect((await publishCli([held.channel, `@${file}`, '--format', 'http-stream'])).code).toBe(0);
    expect(await held.stream.waitForText('from a file')).toBe('open\nfrom a file');
  });

  it('--patch patches the held JSON body of a long-poll, with --code and -H', async () => {
    const held = await holdJson();
    const patch =
      '[{"op":"replace","path":"/unread","value":3},{"op":"add","path":"/by","value":"cli"}]';
    const result = await publishCli([
      held.channel,
      patch,
      '--patch',
      '--code',
      '202',
      '-H',
      'X-Patched: yes',
    ]);
    expect(result).toEqual({ code: 0, stdout: 'Published\n', stderr: '' });
    const res = await held.poll;
    expect(res.status).toBe(202);
    expect(res.headers['x-patched']).toBe('yes');
    expect(res.headers['content-type']).toBe('application/json');
    expect(res.body.toString()).toBe('{"unread":3,"from":"backend","by":"cli"}\n');
  });

  it('--patch refuses content that is not a JSON array, and other formats, before publishing', async () => {
    const notArray = await publishCli(['c', '{"op":"add"}', '--patch']);
    expect(notArray.code).toBe(1);
    expect(notArray.stderr).toBe(
      'thumbtack publish: --patch content must be a JSON array of RFC 6902 operations, e.g. [{"op":"replace","path":"/n","value":2}]\n',
    );
    const stream = await publishCli(['c', '[]', '--patch', '--format', 'http-stream']);
    expect(stream.code).toBe(2);
    expect(stream.stderr.split('\n')[0]).toBe(
      'thumbtack publish: --patch publishes http-response only, not http-stream',
    );
  });

  it('-u/--user exits 2 naming the option and the credentials to use instead', async () => {
    for (const flag of ['-u', '--user']) {
      const result = await publishCli(['c', 'x', flag, 'me:secret']);
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr.split('\n')[0]).toBe(
        "thumbtack publish: -u/--user (basic auth) is not supported: the control API takes Authorization: Bearer only; use --token TOKEN (the handler's --control-token), --jwt-key KEY (--control-jwt-key), or a GRIP URL with key= (--spec or GRIP_URL)",
      );
    }
  });

  it('an option pushpin-publish does not have either exits 2 naming it', async () => {
    const result = await publishCli(['c', 'x', '--retries', '3']);
    expect(result.code).toBe(2);
    expect(result.stderr.split('\n')[0]).toContain("'--retries'");
  });

  it('an unreachable control API exits 1 and says which address failed', async () => {
    const port = await freePort();
    const result = await publishCli(['ch', 'x'], undefined, `http://127.0.0.1:${port}`);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(`cannot reach http://127.0.0.1:${port}/publish/`);
  });
});

describe('thumbtack publish --spec with a ZeroMQ PUSH spec', () => {
  it('every one of many publishes in a row reaches a held stream, each only reported once written out', async () => {
    const held = await holdBoth();
    const count = 12;
    for (let i = 0; i < count; i++) {
      const result = await runPublishCli([
        held.channel,
        `item-${i}`,
        '--format',
        'http-stream',
        '--spec',
        suite.thumbtack.zmqPull,
      ]);
      expect(result).toEqual({ code: 0, stdout: 'Published\n', stderr: '' });
    }
    for (let i = 0; i < count; i++) await held.stream.waitForText(`item-${i}\n`);
    const lines = held.stream.text().split('\n').slice(1, -1);
    expect(lines.sort()).toEqual(Array.from({ length: count }, (_, i) => `item-${i}`).sort());
  }, 90_000);

  it('an item too large for the socket buffers is written out in full before Published', async () => {
    const held = await holdBoth();
    const file = path.join(tmpDir, 'large.txt');
    fs.writeFileSync(file, 'x'.repeat(largeItemBytes - 4) + 'END\n');
    const result = await runPublishCli([
      held.channel,
      '--file',
      file,
      '--format',
      'http-response',
      '--spec',
      suite.thumbtack.zmqPull,
    ]);
    expect(result).toEqual({ code: 0, stdout: 'Published\n', stderr: '' });
    const res = await held.poll;
    expect(res.body.length).toBe(largeItemBytes);
    expect(res.body.subarray(-4).toString()).toBe('END\n');
  }, 30_000);

  it('--patch over --spec patches the held JSON body', async () => {
    const held = await holdJson();
    const result = await runPublishCli([
      held.channel,
      '[{"op":"replace","path":"/unread","value":7}]',
      '--patch',
      '--spec',
      suite.thumbtack.zmqPull,
    ]);
    expect(result).toEqual({ code: 0, stdout: 'Published\n', stderr: '' });
    expect((await held.poll).body.toString()).toBe('{"unread":7,"from":"backend"}\n');
  });

  it('a port nobody listens on exits 1 within --timeout, naming the spec', async () => {
    const spec = `tcp://127.0.0.1:${await freePort()}`;
    const started = Date.now();
    const result = await runPublishCli(['c', 'x', '--spec', spec, '--timeout', '1']);
    const elapsed = Date.now() - started;
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      `thumbtack publish: cannot publish to ${spec}: nothing accepted a connection within 1 s (is thumbtack's PULL input, --zmq-pull, listening there?)\n`,
    );
    // It waited the bound, and not much more than node's start-up on a busy machine.
    expect(elapsed).toBeGreaterThanOrEqual(1_000);
    expect(elapsed).toBeLessThan(8_000);
  });

  it('a socket that is not PULL (the SUB input) fails the handshake and exits 1', async () => {
    const spec = suite.thumbtack.zmqSub;
    const result = await runPublishCli(['c', 'x', '--spec', spec, '--timeout', '1']);
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr: `thumbtack publish: cannot publish to ${spec}: the peer closed the connection in the ZeroMQ handshake: is it a PULL socket?\n`,
    });
  });

  it('an item the handler would skip is refused before sending, with its reason', async () => {
    const result = await runPublishCli([
      'c',
      '[{"op":"merge","path":"/a","value":1}]',
      '--patch',
      '--spec',
      suite.thumbtack.zmqPull,
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      "thumbtack publish: Invalid format: 'http-response' contains 'body-patch' with an invalid operation: Operation `op` property is not one of operations defined in RFC-6902 (operation 0)\n",
    );
  });

  it('--spec takes a GRIP URL too, and refuses to be given with --control-uri', async () => {
    const held = await holdBoth();
    const ok = await runPublishCli([
      held.channel,
      'via spec',
      '--spec',
      suite.thumbtack.controlUrl,
    ]);
    expect(ok).toEqual({ code: 0, stdout: 'Published\n', stderr: '' });
    await held.stream.waitForText('via spec\n');
    const both = await publishCli(['c', 'x', '--spec', suite.thumbtack.zmqPull]);
    expect(both.code).toBe(2);
    expect(both.stderr.split('\n')[0]).toBe(
      'thumbtack publish: give --spec or --control-uri, not both',
    );
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
    [
      'another scheme',
      'zmq://127.0.0.1:5560',
      'must be an http:// or https:// URL, or a ZeroMQ tcp:// or ipc:// spec',
    ],
    ['iss without key', 'http://127.0.0.1:5561?iss=me', 'has iss but no key'],
  ])('a GRIP_URL that is %s exits 2 naming it', async (_name, gripUrl, problem) => {
    const result = await runPublishCli(['c', 'hi'], undefined, { GRIP_URL: gripUrl });
    expect(result.code).toBe(2);
    expect(result.stderr.split('\n')[0]).toBe(
      `thumbtack publish: GRIP_URL "${gripUrl}" ${problem}${problem === 'is not a URL' ? ' (e.g. http://127.0.0.1:5561?iss=me&key=secret)' : ''}`,
    );
  });
});
