import net from 'node:net';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { parseRawResponse, sendRaw } from '../support/client.js';
import { startHandlerProcess, type HandlerProcess } from '../support/handler-process.js';

/*
 * The control API's limits against clients that do not play along: a slow sender is cut
 * off after --control-read-timeout, connections past --control-max-connections are
 * refused, and a body refused before it was read still lets the client read the answer.
 */

const handlers: HandlerProcess[] = [];
const sockets: net.Socket[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await Promise.all(handlers.splice(0).map((h) => h.stop()));
});

async function startHandler(args: string[]): Promise<HandlerProcess> {
  const handler = await startHandlerProcess({ args });
  handlers.push(handler);
  return handler;
}

interface RawConnection {
  socket: net.Socket;
  received(): string;
  /** Resolves when the server closes the connection, with when that was (bounded). */
  closed(timeoutMs: number): Promise<number>;
}

function connect(port: number): Promise<RawConnection> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    sockets.push(socket);
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    socket.on('error', () => undefined);
    const closedAt = new Promise<number>((r) => socket.once('close', () => r(Date.now())));
    const closed = (timeoutMs: number): Promise<number> =>
      new Promise((resolveClosed, rejectClosed) => {
        const timer = setTimeout(
          () => rejectClosed(new Error(`server kept the connection past ${timeoutMs} ms`)),
          timeoutMs,
        );
        void closedAt.then((at) => {
          clearTimeout(timer);
          resolveClosed(at);
        });
      });
    socket.once('connect', () => resolve({ socket, received: () => text, closed }));
    socket.once('error', reject);
  });
}

const publishHead = (extra: string): string =>
  `POST /publish/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${extra}\r\n`;

describe('control API read timeout', () => {
  it('cuts off a client trickling its headers (slowloris) after --control-read-timeout', async () => {
    const handler = await startHandler(['--control-read-timeout', '1']);
    const conn = await connect(handler.controlPort);
    const started = Date.now();
    conn.socket.write('POST /publish/ HTTP/1.1\r\nHost: x\r\n');
    // One header line every 200 ms would hold the connection forever without a timeout.
    const trickle = setInterval(() => conn.socket.write('X-Slow: 1\r\n'), 200);
    try {
      const closedAt = await conn.closed(5_000);
      // 1 s timeout, checked every second: well under the ~59 s it took before.
      expect(closedAt - started).toBeLessThan(3_500);
    } finally {
      clearInterval(trickle);
    }
    expect(conn.received()).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(parseRawResponse(conn.received()).body).toBe('Request timed out.\n');
  });

  it('cuts off a client that stops sending its body', async () => {
    const handler = await startHandler(['--control-read-timeout', '1']);
    const conn = await connect(handler.controlPort);
    const started = Date.now();
    conn.socket.write(publishHead('Content-Length: 100\r\n') + '{"items":');
    const closedAt = await conn.closed(5_000);
    expect(closedAt - started).toBeLessThan(3_500);
    expect(conn.received()).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('leaves a prompt client alone', async () => {
    const handler = await startHandler(['--control-read-timeout', '1']);
    const res = await request(`${handler.controlUrl}/publish/`, {
      method: 'POST',
      body: JSON.stringify({
        items: [{ channel: 'c', formats: { 'http-stream': { content: 'x' } } }],
      }),
    });
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toBe('Published\n');
  });
});

describe('control API connection cap', () => {
  it('refuses connections past --control-max-connections, logs it, and serves again once one closes', async () => {
    const handler = await startHandler(['--control-max-connections', '2']);
    // Two kept-alive connections, each answered once so the server has surely counted it.
    const held: RawConnection[] = [];
    for (let i = 0; i < 2; i++) {
      const conn = await connect(handler.controlPort);
      conn.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      await new Promise<void>((resolve) => conn.socket.once('data', () => resolve()));
      held.push(conn);
    }
    const refused = await connect(handler.controlPort);
    await refused.closed(5_000);
    expect(refused.received()).toBe('');
    const warning = await handler.waitForLog(
      (l) => l.msg === 'control connections at --control-max-connections, refusing new ones',
    );
    expect(warning).toMatchObject({ refused: 1, maxConnections: 2 });

    held[0]!.socket.end();
    await held[0]!.closed(5_000);
    const text = await sendRaw(
      '127.0.0.1',
      handler.controlPort,
      'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
  });
});

/**
 * Sends `head` and one piece of body, then, once the answer has begun to arrive, more
 * pieces one after another, as a client streaming a body does, on past the server's FIN
 * (64 more pieces, 1 MB), then `tail` and its own FIN. Resolves when the connection is
 * closed, with what was read and the socket error, if any (bounded).
 */
function sendStreaming(
  port: number,
  head: string,
  piece: Buffer,
  tail = '',
  timeoutMs = 10_000,
): Promise<{ text: string; error?: string }> {
  return new Promise((resolve, reject) => {
    // Half-open: the server's FIN after its answer must not stop our writing.
    const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    sockets.push(socket);
    let text = '';
    let error: string | undefined;
    let piecesAfterFin: number | undefined;
    const timer = setTimeout(() => {
      reject(new Error(`connection not closed within ${timeoutMs} ms`));
    }, timeoutMs);
    const writeNext = (): void => {
      if (socket.destroyed) return;
      if (piecesAfterFin !== undefined && piecesAfterFin++ === 64) {
        socket.end(tail);
        return;
      }
      socket.write(piece, () => setImmediate(writeNext));
    };
    socket.once('data', writeNext);
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    socket.on('end', () => (piecesAfterFin = 0));
    socket.on('error', (err: NodeJS.ErrnoException) => (error = err.code ?? err.message));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(error === undefined ? { text } : { text, error });
    });
    socket.write(Buffer.concat([Buffer.from(head), piece]));
  });
}

describe('control API bodies refused before they are read', () => {
  const data = Buffer.alloc(16 * 1024, 'a');

  it('a chunked body over the limit gets 411, and a client still sending reads it (no reset)', async () => {
    const handler = await startHandler([]);
    const piece = Buffer.concat([
      Buffer.from(`${data.length.toString(16)}\r\n`),
      data,
      Buffer.from('\r\n'),
    ]);
    const result = await sendStreaming(
      handler.controlPort,
      publishHead('Transfer-Encoding: chunked\r\n'),
      piece,
      '0\r\n\r\n',
    );
    expect(result.error).toBeUndefined();
    expect(result.text).toMatch(/^HTTP\/1\.1 411 Length Required\r\n/);
    expect(parseRawResponse(result.text).body).toBe('Request requires Content-Length.\n');
  });

  it('a chunked body that turns out malformed after its 411 gets no second answer', async () => {
    const handler = await startHandler([]);
    const result = await sendStreaming(
      handler.controlPort,
      publishHead('Transfer-Encoding: chunked\r\n'),
      Buffer.from('zz\r\nnot a chunk size\r\n'),
      '0\r\n\r\n',
    );
    expect(result.text).toMatch(/^HTTP\/1\.1 411 Length Required\r\n/);
    expect(result.text.split('HTTP/1.1 ')).toHaveLength(2);
    expect(parseRawResponse(result.text).body).toBe('Request requires Content-Length.\n');
  });

  it('a Content-Length body over the limit gets 413, and a client still sending reads it (no reset)', async () => {
    const handler = await startHandler([]);
    const result = await sendStreaming(
      handler.controlPort,
      publishHead('Content-Length: 3000000\r\n'),
      data,
    );
    expect(result.error).toBeUndefined();
    expect(result.text).toMatch(/^HTTP\/1\.1 413 Payload Too Large\r\n/);
    expect(parseRawResponse(result.text).body).toBe('Request body too large.\n');
    await handler.waitForLog(
      (l) => l.msg === 'control request body over --publish-body-max, refused',
    );
  });

  it('a body that never ends is cut off at --control-read-timeout', async () => {
    const handler = await startHandler(['--control-read-timeout', '1']);
    const conn = await connect(handler.controlPort);
    const started = Date.now();
    conn.socket.write(publishHead('Transfer-Encoding: chunked\r\n') + '5\r\nhello\r\n');
    const closedAt = await conn.closed(5_000);
    expect(closedAt - started).toBeLessThan(3_500);
    expect(conn.received()).toMatch(/^HTTP\/1\.1 411 /);
  });
});
