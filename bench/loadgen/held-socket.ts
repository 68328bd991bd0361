import net from 'node:net';
import { parseResponseHead, type ResponseHead } from './response-head.js';
import type { SseTarget } from './sse-client.js';

/** What a held connection (SSE or WebSocket) hears from its socket. */
export interface HeldSocketEvents {
  /** The response head, and the read it was parsed from (what follows starts at `bodyStart`). */
  onHead(head: ResponseHead, buf: Buffer): void;
  /** A read after the head. */
  onData(data: Buffer): void;
  /** An error (its code), a head past `headMax`, or the close: the connection is over. */
  onEnd(reason: string): void;
}

const headMax = 16_384;

/**
 * Connects to `target` from its local address with Nagle off, writes `request()` once
 * connected and collects the response head across reads before handing on the rest.
 */
export function connectHeldSocket(
  target: SseTarget,
  request: () => string,
  events: HeldSocketEvents,
): net.Socket {
  const socket = net.connect({
    host: target.host,
    port: target.port,
    localAddress: target.localAddress,
  });
  /** Bytes of a head still incomplete; undefined once it is parsed. */
  let partialHead: Buffer | undefined = Buffer.alloc(0);
  socket.setNoDelay(true);
  socket.on('connect', () => {
    socket.write(request());
  });
  socket.on('data', (data: Buffer) => {
    if (partialHead === undefined) {
      events.onData(data);
      return;
    }
    const buf = partialHead.length === 0 ? data : Buffer.concat([partialHead, data]);
    const head = parseResponseHead(buf);
    if (!head) {
      if (buf.length > headMax) events.onEnd('response head too large');
      else partialHead = buf;
      return;
    }
    partialHead = undefined;
    events.onHead(head, buf);
  });
  socket.on('error', (err: NodeJS.ErrnoException) => events.onEnd(err.code ?? err.message));
  socket.on('close', () => events.onEnd('closed'));
  return socket;
}
