import net from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as zmq from 'zeromq';
import { stopAllBackends } from '../support/backend.js';
import { send } from '../support/client.js';
import { answer, openStream, publishOk, startPathBackend, streamItem } from '../support/grip.js';
import { waitForSubscribed } from '../support/channel-events.js';
import { startThumbtack, stopAllThumbtacks, type Thumbtack } from '../support/thumbtack.js';
import { startWohBackend } from '../support/ws.js';

/*
 * Live fuzzing of every port (issue 16), bounded in count and time, with a fixed seed:
 * malformed and hostile input on the client port (HTTP and WebSocket), the control port and
 * both ZeroMQ inputs. Afterwards no process has died or been restarted, and plain requests,
 * holds and publishes work as before.
 */

const seed = 20261206;
const cases = 150;
let tt: Thumbtack;

beforeAll(async () => {
  const backend = await startPathBackend();
  backend.on('/stream', answer({ 'Grip-Hold': 'stream', 'Grip-Channel': 'fuzz-after' }, 'open\n'));
  backend.on('/plain', answer({ 'Content-Type': 'text/plain' }, 'plain\n'));
  const woh = await startWohBackend((ws) => {
    if (ws.isOpening()) ws.accept();
  });
  tt = await startThumbtack({
    routes: `*,path_beg=/ws ${woh.target},over_http\n* ${backend.target}\n`,
    workers: 2,
    args: ['--log-level', 'debug'],
  });
});

afterAll(async () => {
  await stopAllThumbtacks();
  await stopAllBackends();
});

/** Writes `bytes` on a fresh connection, then waits (bounded) for the server to close it. */
function hit(port: number, bytes: Uint8Array, waitMs = 300): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const done = (): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve();
    };
    const timer = setTimeout(done, waitMs);
    socket.on('error', done);
    socket.on('close', done);
    socket.on('data', () => undefined);
    socket.write(bytes);
  });
}

async function inBatches<T>(items: T[], size: number, run: (item: T) => Promise<void>) {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(run));
}

const token = fc.stringMatching(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,12}$/);
const junk = fc.string({ unit: 'binary', maxLength: 40 });
const headerLine = fc.oneof(
  fc.tuple(token, junk).map(([n, v]) => `${n}: ${v}`),
  fc.constantFrom(
    'Content-Length: 5',
    'Content-Length: -1',
    'Content-Length: 99999999999999999999',
    'Content-Length: 3, 4',
    'Transfer-Encoding: chunked',
    'Transfer-Encoding: gzip, chunked',
    'Transfer-Encoding: identity',
    'Upgrade: websocket',
    'Connection: Upgrade, close',
    'Expect: 100-continue',
    'Host:',
    'Grip-Sig: forged',
  ),
  fc.nat({ max: 20_000 }).map((n) => `X-Long: ${'a'.repeat(n)}`),
  junk,
);
const requestBytes = fc.oneof(
  fc.uint8Array({ maxLength: 300 }),
  fc
    .tuple(
      fc.constantFrom('GET', 'POST', 'PUT', 'PURGE', 'M-SEARCH', 'G\u00e9T', ''),
      fc.constantFrom(
        '/',
        '/plain',
        '/stream',
        '/ws',
        '*',
        '/%00',
        '/../x',
        'http://x/y',
        '/a?b=\r',
      ),
      fc.constantFrom('HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/1.1x', ''),
      fc.array(headerLine, { maxLength: 8 }),
      fc.constantFrom(
        '',
        'hello',
        '5\r\nhello\r\n0\r\n\r\n',
        'zz\r\nx\r\n',
        '0\r\n\r\nGET / HTTP/1.1\r\n\r\n',
      ),
    )
    .map(([method, path, version, headers, body]) =>
      Buffer.from(
        `${method} ${path} ${version}\r\nHost: x\r\n${headers.join('\r\n')}\r\n\r\n${body}`,
        'latin1',
      ),
    ),
);

describe('live fuzzing of every port', () => {
  it('hostile input on every port leaves every process up and serving', async () => {
    const startedBefore = tt.logs.filter((l) => l.msg === 'child started').length;

    // Client port: malformed requests, smuggling attempts, bad chunks, huge headers.
    await inBatches(fc.sample(requestBytes, { seed, numRuns: cases }), 25, (bytes) =>
      hit(tt.port, bytes),
    );

    // Client port, WebSocket: a real handshake, then arbitrary frame bytes.
    const handshake = Buffer.from(
      'GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    const frames = fc.oneof(
      fc.uint8Array({ maxLength: 200 }),
      // Header bytes with any opcode, mask bit and length, then some payload.
      fc
        .tuple(
          fc.integer({ min: 0, max: 255 }),
          fc.integer({ min: 0, max: 255 }),
          fc.uint8Array({ maxLength: 80 }),
        )
        .map(([b0, b1, rest]) => Uint8Array.from([b0, b1, ...rest])),
    );
    await inBatches(fc.sample(frames, { seed, numRuns: cases }), 25, (bytes) =>
      hit(tt.port, Buffer.concat([handshake, Buffer.from(bytes)]), 500),
    );

    // Control port: arbitrary requests and bodies.
    const control = fc
      .tuple(
        fc.constantFrom(
          'POST /publish/',
          'POST /publish',
          'GET /',
          'POST /recover',
          'GET /readyz',
          'PUT /publish/',
        ),
        fc.constantFrom('application/json', 'text/plain', ''),
        fc.oneof(
          fc.jsonValue({ maxDepth: 6 }).map((v) => JSON.stringify({ items: v })),
          fc.string({ unit: 'binary', maxLength: 200 }),
          fc.constant('{"items":' + '['.repeat(5000) + ']'.repeat(5000) + '}'),
        ),
        fc.boolean(),
      )
      .map(([line, type, body, isChunked]) => {
        const framing = isChunked
          ? `Transfer-Encoding: chunked\r\n\r\n${Buffer.byteLength(body, 'latin1').toString(16)}\r\n${body}\r\n0\r\n\r\n`
          : `Content-Length: ${Buffer.byteLength(body, 'latin1')}\r\n\r\n${body}`;
        return Buffer.from(
          `${line} HTTP/1.1\r\nHost: x\r\nContent-Type: ${type}\r\n${framing}`,
          'latin1',
        );
      });
    await inBatches(fc.sample(control, { seed, numRuns: cases }), 25, (bytes) =>
      hit(tt.controlPort, bytes),
    );

    // ZeroMQ PULL and SUB: arbitrary frames, tnetstring and JSON look-alikes.
    const zmqFrames = fc.array(
      fc.oneof(
        fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
        fc.jsonValue({ maxDepth: 4 }).map((v) => Buffer.from('J' + JSON.stringify(v))),
        fc.string({ unit: 'binary', maxLength: 100 }).map((t) => Buffer.from('T' + t, 'latin1')),
        fc.constant(Buffer.from('T' + '1:['.repeat(2000), 'latin1')),
      ),
      { minLength: 1, maxLength: 3 },
    );
    const push = new zmq.Push({ linger: 0 });
    const pub = new zmq.Publisher({ linger: 0 });
    try {
      push.connect(tt.zmqPull);
      pub.connect(tt.zmqSub);
      for (const message of fc.sample(zmqFrames, { seed, numRuns: cases })) {
        await push.send(message);
        await pub.send(message);
      }
    } finally {
      push.close();
      pub.close();
    }

    // Everything still serves: a plain request, a hold, a publish into it.
    expect((await send(`${tt.url}/plain`)).body.toString()).toBe('plain\n');
    const [stream] = await Promise.all([
      openStream(`${tt.url}/stream`),
      waitForSubscribed(tt, 'fuzz-after'),
    ]);
    try {
      await publishOk(tt, streamItem('fuzz-after', 'still here\n'));
      expect(await stream.waitForText('still here\n')).toBe('open\nstill here\n');
    } finally {
      stream.close();
    }
    // No process died or was restarted by the runner.
    expect(tt.logs.filter((l) => l.msg === 'child exited unexpectedly; restarting')).toEqual([]);
    expect(tt.logs.filter((l) => l.msg === 'child started').length).toBe(startedBefore);
  }, 120_000);
});
