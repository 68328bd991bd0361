import net from 'node:net';
import { Pool, type Dispatcher } from 'undici';
import { parseResponseHead, type ResponseHead } from './loadgen/response-head.js';
import { decodeBenchWsEvents, encodeBenchWsEvents } from './ws-events.js';

export type ForwardDone = (status: number, body: Buffer) => void;

interface Job {
  path: string;
  done: ForwardDone;
}

/**
 * The least a proxy can do for a GET: keep-alive sockets to the backend, one request at a
 * time each, the response read by Content-Length and handed back whole. It is the ref's
 * forwarding path, so the `proxy` workload's ref column is the floor of forwarding in Node.
 */
export class RefForwarder {
  private readonly idle: BackendSocket[] = [];
  private readonly queue: Job[] = [];
  private open = 0;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly maxSockets: number,
  ) {}

  get(path: string, done: ForwardDone): void {
    const socket = this.idle.pop();
    if (socket) {
      socket.send({ path, done });
      return;
    }
    if (this.open < this.maxSockets) {
      this.open++;
      new BackendSocket(this).send({ path, done });
      return;
    }
    if (this.queue.length < 100_000) this.queue.push({ path, done });
    else done(503, Buffer.from('queue full\n'));
  }

  connect(): net.Socket {
    const socket = net.connect({ host: this.host, port: this.port });
    socket.setNoDelay(true);
    return socket;
  }

  /** A socket finished its response: give it the next job or park it. */
  release(socket: BackendSocket): void {
    const job = this.queue.shift();
    if (job) socket.send(job);
    else this.idle.push(socket);
  }

  forget(socket: BackendSocket): void {
    this.open--;
    const at = this.idle.indexOf(socket);
    if (at !== -1) this.idle.splice(at, 1);
  }
}

/**
 * The same forwarding through an undici Pool (keep-alive, one request per connection at a
 * time, the response collected whole): the floor of forwarding with the backend client
 * thumbtack uses (proxy/backend/backend-pools.ts), so the gap to `RefForwarder` is undici's own cost.
 */
export class UndiciForwarder {
  private readonly pool: Pool;

  constructor(host: string, port: number, maxSockets: number) {
    this.pool = new Pool(`http://${host}:${port}`, { connections: maxSockets });
  }

  get(path: string, done: ForwardDone): void {
    this.pool.dispatch({ path, method: 'GET', headers: ['host', 'backend'] }, new Collect(done));
  }

  /** A WebSocket's echo through the backend's WebSocket-over-HTTP endpoint at `path`. */
  wsEcho(path: string, send: (message: Buffer) => void): WsBackendEcho {
    return new WsBackendEcho(this.pool, path, send);
  }
}

/**
 * One WebSocket's echo through the backend (`--ref-ws-echo backend`): its messages go as
 * TEXT events in a WebSocket-over-HTTP POST through an undici Pool, one request in flight,
 * what arrived meanwhile batched into the next (as thumbtack's over_http session does), and
 * the TEXT events of each answer are sent back. No OPEN, signing or Meta-*: the least that
 * round trip costs.
 */
export class WsBackendEcho {
  private readonly queue: Buffer[] = [];
  private isInFlight = false;
  isClosed = false;

  constructor(
    private readonly pool: Pool,
    private readonly path: string,
    private readonly send: (message: Buffer) => void,
  ) {}

  push(message: Buffer): void {
    this.queue.push(message);
    if (!this.isInFlight) this.post();
  }

  private post(): void {
    const events = this.queue.splice(0).map((content) => ({ type: 'TEXT' as const, content }));
    this.isInFlight = true;
    this.pool.dispatch(
      {
        path: this.path,
        method: 'POST',
        headers: ['host', 'backend', 'content-type', 'application/websocket-events'],
        body: encodeBenchWsEvents(events),
      },
      new Collect((status, body) => this.onAnswer(status, body)),
    );
  }

  private onAnswer(status: number, body: Buffer): void {
    this.isInFlight = false;
    if (this.isClosed) return;
    // A failed exchange loses its messages: the workload counts them as missing echoes.
    if (status === 200) {
      for (const event of decodeBenchWsEvents(body)) {
        if (event.type === 'TEXT' && event.content) this.send(event.content);
      }
    }
    if (this.queue.length > 0) this.post();
  }
}

/** Collects one response for `UndiciForwarder` and `WsBackendEcho`. */
class Collect implements Dispatcher.DispatchHandler {
  private status = 0;
  private readonly chunks: Buffer[] = [];

  constructor(private readonly done: ForwardDone) {}

  // Its presence tells undici this handler speaks the controller API.
  onRequestStart(): void {}

  onResponseStart(_controller: Dispatcher.DispatchController, status: number): void {
    this.status = status;
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.chunks.push(chunk);
  }

  onResponseEnd(): void {
    this.done(this.status, this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks));
  }

  onResponseError(): void {
    this.done(502, Buffer.from('backend failed\n'));
  }
}

class BackendSocket {
  private readonly socket: net.Socket;
  private job: Job | undefined;
  private buf: Buffer | undefined;
  private head: ResponseHead | undefined;
  private isFailed = false;

  constructor(private readonly owner: RefForwarder) {
    this.socket = owner.connect();
    this.socket.on('data', (data: Buffer) => this.onData(data));
    this.socket.on('error', () => this.fail());
    this.socket.on('close', () => this.fail());
  }

  send(job: Job): void {
    this.job = job;
    this.head = undefined;
    this.buf = undefined;
    this.socket.write(`GET ${job.path} HTTP/1.1\r\nHost: backend\r\n\r\n`);
  }

  private onData(data: Buffer): void {
    const buf = this.buf ? Buffer.concat([this.buf, data]) : data;
    this.head ??= parseResponseHead(buf);
    const head = this.head;
    if (!head || buf.length < head.bodyStart + Math.max(0, head.contentLength)) {
      this.buf = buf;
      return;
    }
    const job = this.job!;
    this.job = undefined;
    this.buf = undefined;
    job.done(
      head.status,
      buf.subarray(head.bodyStart, head.bodyStart + Math.max(0, head.contentLength)),
    );
    this.owner.release(this);
  }

  private fail(): void {
    if (this.isFailed) return;
    this.isFailed = true;
    this.socket.destroy();
    this.owner.forget(this);
    const job = this.job;
    this.job = undefined;
    job?.done(502, Buffer.from('backend failed\n'));
  }
}
