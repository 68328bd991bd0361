import net from 'node:net';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { parseRawResponse, sendRaw } from '../support/client.js';
import { startHandlerProcess, type HandlerProcess } from '../support/handler-process.js';

/*
 * The control API's limits against clients that do not play along: a slow sender is cut
 * off after --control-read-timeout, and connections past --control-max-connections are
 * refused.
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
