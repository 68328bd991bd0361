import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { decodeWebSocketEvents, encodeWebSocketEvents, WebSocketEvent } from '@fanoutio/grip';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { closePayload, encodeFrame, opcodes } from './frame.js';

/*
 * The backend both conformance routes share: a real `ws` WebSocket server for the passthrough
 * route and a WebSocket-over-HTTP endpoint (events decoded and encoded by @fanoutio/grip, not
 * thumbtack's codec) for the over_http route. Each echoes every message with its type, and
 * records per request path what reached it and how the session ended. Text commands make
 * it misbehave on purpose: `cmd:close <code> <reason>` closes the session with that code
 * (`hex:<bytes>` as the reason: those bytes), `cmd:badtext` sends text that is not UTF-8.
 */

export interface BackendMessage {
  kind: 'text' | 'binary';
  payload: Buffer;
}

/** How a session ended for the backend: a close (1005: without status) or a disconnect. */
export type BackendEnd = { kind: 'close'; code: number; reason: Buffer } | { kind: 'disconnect' };

export interface BackendSession {
  messages: BackendMessage[];
  end?: BackendEnd;
}

export interface EchoBackend {
  port: number;
  sessions: Map<string, BackendSession>;
  /** Resolves with the path's session once it has ended, or undefined at the deadline. */
  waitForEnd(path: string, timeoutMs: number): Promise<BackendSession | undefined>;
  close(): Promise<void>;
}

const EVENTS_TYPE = 'application/websocket-events';
const BAD_TEXT_COMMAND = 'cmd:badtext';
const NOT_UTF8 = Buffer.from([0x6f, 0x6b, 0xce, 0xba, 0xff]);

export async function startEchoBackend(): Promise<EchoBackend> {
  const sessions = new Map<string, BackendSession>();
  const waiters = new Set<() => void>();
  const sessionOf = (path: string): BackendSession => {
    let session = sessions.get(path);
    if (!session) sessions.set(path, (session = { messages: [] }));
    return session;
  };
  const endSession = (path: string, end: BackendEnd): void => {
    const session = sessionOf(path);
    session.end ??= end;
    for (const wake of [...waiters]) wake();
  };

  const server = http.createServer((req, res) => {
    if (req.headers['content-type'] !== EVENTS_TYPE) {
      res.end('plain\n');
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const path = req.url ?? '/';
      const session = sessionOf(path);
      const out: WebSocketEvent[] = [];
      for (const event of decodeWebSocketEvents(Buffer.concat(chunks))) {
        const content = Buffer.from((event.getContent() as Uint8Array | null) ?? []);
        switch (event.getType()) {
          case 'OPEN':
            out.push(new WebSocketEvent('OPEN'));
            break;
          case 'TEXT':
          case 'BINARY': {
            const kind = event.getType() === 'TEXT' ? 'text' : 'binary';
            session.messages.push({ kind, payload: content });
            const command = kind === 'text' ? closeCommand(content) : undefined;
            if (command) {
              out.push(new WebSocketEvent('CLOSE', closePayload(command.code, command.reason)));
            } else if (kind === 'text' && content.toString() === BAD_TEXT_COMMAND) {
              out.push(new WebSocketEvent('TEXT', NOT_UTF8));
            } else out.push(new WebSocketEvent(event.getType(), content));
            break;
          }
          case 'CLOSE':
            endSession(path, {
              kind: 'close',
              code: content.length >= 2 ? content.readUInt16BE(0) : 1005,
              reason: content.subarray(2),
            });
            break;
          case 'DISCONNECT':
            endSession(path, { kind: 'disconnect' });
            break;
        }
      }
      res.writeHead(200, { 'Content-Type': EVENTS_TYPE });
      res.end(Buffer.from(encodeWebSocketEvents(out)));
    });
  });

  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  server.on('upgrade', (req, socket, head) => {
    const path = req.url ?? '/';
    wss.handleUpgrade(req, socket, head, (ws) => {
      const session = sessionOf(path);
      ws.on('error', () => undefined);
      ws.on('message', (data: RawData, isBinary: boolean) => {
        const payload = data as Buffer;
        session.messages.push({ kind: isBinary ? 'binary' : 'text', payload });
        const command = isBinary ? undefined : closeCommand(payload);
        if (command) closeWith(ws, command.code, command.reason);
        else if (!isBinary && payload.toString() === BAD_TEXT_COMMAND)
          ws.send(NOT_UTF8, { binary: false });
        else ws.send(payload, { binary: isBinary });
      });
      ws.on('close', (code: number, reason: Buffer) =>
        endSession(path, code === 1006 ? { kind: 'disconnect' } : { kind: 'close', code, reason }),
      );
    });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    sessions,
    waitForEnd: (path, timeoutMs) =>
      new Promise((resolve) => {
        const check = (): void => {
          const session = sessions.get(path);
          if (session?.end) finish(session);
        };
        const finish = (session: BackendSession | undefined): void => {
          clearTimeout(timer);
          waiters.delete(check);
          resolve(session);
        };
        const timer = setTimeout(() => finish(undefined), timeoutMs);
        waiters.add(check);
        check();
      }),
    close: () =>
      new Promise<void>((resolve) => {
        for (const ws of wss.clients) ws.terminate();
        wss.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function closeCommand(text: Buffer): { code: number; reason: Buffer } | undefined {
  const match = /^cmd:close (\d+) ?(.*)$/s.exec(text.toString());
  if (!match) return undefined;
  const reason = match[2]!;
  return {
    code: Number(match[1]),
    reason: reason.startsWith('hex:') ? Buffer.from(reason.slice(4), 'hex') : Buffer.from(reason),
  };
}

/** `ws` refuses codes a close frame may not carry; the backend then writes the frame itself. */
function closeWith(ws: WebSocket, code: number, reason: Buffer): void {
  try {
    ws.close(code, reason);
  } catch {
    const socket = (ws as unknown as { _socket: Socket })._socket;
    socket.end(
      encodeFrame({ opcode: opcodes.close, payload: closePayload(code, reason), isMasked: false }),
    );
  }
}
