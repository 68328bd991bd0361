import { fork, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import uws from 'uWebSockets.js';
import type { HttpResponse, TemplatedApp } from 'uWebSockets.js';
import * as zmq from 'zeromq';
import {
  refForwarderKinds,
  refWsEchoKinds,
  type RefForwarderKind,
  type RefWsEchoKind,
} from './options.js';
import { RefForwarder, UndiciForwarder, type WsBackendEcho } from './ref-forwarder.js';

/**
 * The reference: a bare uWebSockets.js program that only holds connections and writes
 * published bytes (no routes, no GRIP, no backend round trip for held connections), i.e.
 * the physical limit of Node + uWS on this machine. Same URLs as the bench backend:
 *   GET /plain/*     forwarded to the backend (the `proxy` workload) over raw keep-alive
 *                    sockets, or with --forwarder undici through an undici Pool
 *   GET /stream/<c>  held SSE response on channel <c>
 *   WS  /ws/<c>      echoes messages, subscribed to <c> (uWS's native pub/sub); with
 *                    --ws-echo backend the echo comes from the backend's POST /ws/<c>
 *                    (WebSocket-over-HTTP through an undici Pool), as through thumbtack
 * Publishes arrive as POST /publish/ (Pushpin's JSON) on --publish-port, or on a ZeroMQ SUB
 * bound at --zmq-sub ([channel, 'J' + item JSON]). With --workers N > 1 the workers share
 * the client port (SO_REUSEPORT) and this process relays publishes to them over ZeroMQ.
 */

interface Options {
  port: number;
  publishPort: number;
  zmqSub: string;
  backend: string;
  forwarder: RefForwarderKind;
  wsEcho: RefWsEchoKind;
  workers: number;
  role: 'main' | 'worker';
  relay: string;
}

interface Item {
  formats?: {
    'http-stream'?: { content?: string };
    'ws-message'?: { content?: string };
  };
}

/** Worker processes of a multi-worker reference, stopped with it. */
const children: ChildProcess[] = [];

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      port: { type: 'string', default: '0' },
      'publish-port': { type: 'string', default: '0' },
      'zmq-sub': { type: 'string', default: '' },
      backend: { type: 'string', default: '' },
      forwarder: { type: 'string', default: 'raw' },
      'ws-echo': { type: 'string', default: 'local' },
      workers: { type: 'string', default: '1' },
      role: { type: 'string', default: 'main' },
      relay: { type: 'string', default: '' },
    },
  });
  return {
    port: count('port', values.port),
    publishPort: count('publish-port', values['publish-port']),
    zmqSub: values['zmq-sub'],
    backend: values.backend,
    forwarder: oneOf('forwarder', values.forwarder, refForwarderKinds),
    wsEcho: oneOf('ws-echo', values['ws-echo'], refWsEchoKinds),
    workers: count('workers', values.workers),
    role: oneOf('role', values.role, ['main', 'worker'] as const),
    relay: values.relay,
  };
}

function count(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0)
    throw new Error(`--${flag} wants an integer ≥ 0, not "${value}"`);
  return n;
}

function oneOf<T extends string>(flag: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value))
    throw new Error(`--${flag} must be ${allowed.join(' or ')}, not "${value}"`);
  return value as T;
}

function listen(app: TemplatedApp, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    app.listen('127.0.0.1', port, (socket) => {
      if (socket) resolve(uws.us_socket_local_port(socket));
      else reject(new Error(`cannot listen on 127.0.0.1:${port}`));
    });
  });
}

/** Client side: holds, WebSockets and plain forwarding. Returns the delivery function. */
async function serveClients(options: Options): Promise<(channel: string, item: Item) => void> {
  const app = uws.App();
  const holds = new Map<string, Set<HttpResponse>>();
  const [backendHost, backendPort] = options.backend.split(':');
  const forwarder =
    options.forwarder === 'undici'
      ? new UndiciForwarder(backendHost, Number(backendPort), 256)
      : new RefForwarder(backendHost, Number(backendPort), 256);
  const wsRelay =
    options.wsEcho === 'local'
      ? undefined
      : forwarder instanceof UndiciForwarder
        ? forwarder
        : new UndiciForwarder(backendHost, Number(backendPort), 256);
  let chunk: Buffer = Buffer.alloc(0);
  let target: HttpResponse | undefined;
  const writeTarget = () => target?.write(chunk);

  app.get('/plain/*', (res, req) => {
    let isAborted = false;
    res.onAborted(() => {
      isAborted = true;
    });
    forwarder.get(req.getUrl(), (status, body) => {
      if (isAborted) return;
      res.cork(() => res.writeStatus(status === 200 ? '200 OK' : `${status} Error`).end(body));
    });
  });
  app.get('/stream/*', (res, req) => {
    const channel = req.getUrl().slice('/stream/'.length);
    let set = holds.get(channel);
    if (!set) holds.set(channel, (set = new Set()));
    const held = set;
    res.onAborted(() => {
      held.delete(res);
    });
    res.writeHeader('Content-Type', 'text/event-stream');
    res.write(':ok\n\n');
    held.add(res);
  });
  app.ws<{ channel: string; echo?: WsBackendEcho }>('/ws/*', {
    idleTimeout: 0,
    maxBackpressure: 1024 * 1024,
    upgrade: (res, req, context) => {
      res.upgrade(
        { channel: req.getUrl().slice('/ws/'.length) },
        req.getHeader('sec-websocket-key'),
        req.getHeader('sec-websocket-protocol'),
        req.getHeader('sec-websocket-extensions'),
        context,
      );
    },
    open: (ws) => {
      const data = ws.getUserData();
      ws.subscribe(data.channel);
      data.echo = wsRelay?.wsEcho(`/ws/${data.channel}`, (message) =>
        ws.cork(() => ws.send(message, false)),
      );
    },
    message: (ws, message, isBinary) => {
      const { echo } = ws.getUserData();
      if (echo) echo.push(Buffer.copyBytesFrom(new Uint8Array(message)));
      else ws.send(message, isBinary);
    },
    close: (ws) => {
      const { echo } = ws.getUserData();
      if (echo) echo.isClosed = true;
    },
  });
  await listen(app, options.port);

  return (channel, item) => {
    const stream = item.formats?.['http-stream']?.content;
    if (stream !== undefined) {
      const set = holds.get(channel);
      if (set) {
        chunk = Buffer.from(stream);
        for (const res of set) {
          target = res;
          res.cork(writeTarget);
        }
        target = undefined;
      }
    }
    const message = item.formats?.['ws-message']?.content;
    if (message !== undefined) app.publish(channel, message, false);
  };
}

/**
 * Where published bytes go: a whole POST /publish/ body, or one ZeroMQ message (topic and
 * `J` + item JSON). Passed on unparsed, so a multi-worker relay costs one send per publish.
 */
interface PublishSink {
  onBody(body: Buffer): void;
  onZmq(topic: Buffer, body: Buffer): void;
}

type Deliver = (channel: string, item: Item) => void;

/** Parses published bytes and delivers every item in this process. */
function deliveringSink(deliver: Deliver): PublishSink {
  return {
    onBody(body) {
      const { items } = JSON.parse(body.toString()) as { items: (Item & { channel: string })[] };
      for (const item of items) deliver(item.channel, item);
    },
    onZmq(topic, body) {
      if (body[0] === 0x4a /* J */)
        deliver(topic.toString(), JSON.parse(body.toString('utf8', 1)) as Item);
    },
  };
}

/** Publish side: HTTP POST /publish/ and a ZeroMQ SUB, both handed to `sink`. */
async function servePublishers(options: Options, sink: PublishSink): Promise<void> {
  const app = uws.App();
  app.post('/publish/', (res) => {
    const chunks: Buffer[] = [];
    let isAborted = false;
    res.onAborted(() => {
      isAborted = true;
    });
    res.onData((data, isLast) => {
      chunks.push(Buffer.from(data.slice(0)));
      if (!isLast || isAborted) return;
      try {
        sink.onBody(Buffer.concat(chunks));
      } catch {
        res.cork(() => res.writeStatus('400 Bad Request').end('bad JSON\n'));
        return;
      }
      res.cork(() => res.end('Published\n'));
    });
  });
  await listen(app, options.publishPort);
  if (!options.zmqSub) return;
  const sub = new zmq.Subscriber({ linger: 0 });
  await sub.bind(options.zmqSub);
  sub.subscribe();
  void (async () => {
    for await (const [topic, body] of sub) if (body) sink.onZmq(topic, body);
  })();
}

async function runWorker(options: Options): Promise<void> {
  const sink = deliveringSink(await serveClients(options));
  const sub = new zmq.Subscriber({ linger: 0 });
  sub.connect(options.relay);
  sub.subscribe();
  process.send?.('ready');
  for await (const [kind, first, second] of sub) {
    if (kind.toString() === 'b') sink.onBody(first);
    else sink.onZmq(first, second);
  }
}

async function runMain(options: Options): Promise<void> {
  if (options.workers <= 1) {
    await servePublishers(options, deliveringSink(await serveClients(options)));
  } else {
    const relay =
      options.relay ||
      `ipc://${path.join(os.tmpdir(), `thumbtack-bench-ref-${process.pid}.relay`)}`;
    const pub = new zmq.Publisher({ linger: 0, sendHighWaterMark: 0 });
    await pub.bind(relay);
    const self = fileURLToPath(import.meta.url);
    const ready: Promise<void>[] = [];
    for (let i = 0; i < options.workers; i++) {
      const args = [
        '--port',
        String(options.port),
        '--backend',
        options.backend,
        '--forwarder',
        options.forwarder,
        '--ws-echo',
        options.wsEcho,
        '--role',
        'worker',
        '--relay',
        relay,
      ];
      const child = fork(self, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      children.push(child);
      ready.push(new Promise((resolve) => child.once('message', () => resolve())));
    }
    await Promise.all(ready);
    // zeromq.js allows one send in flight per socket: queue them.
    let sending = Promise.resolve();
    await servePublishers(options, {
      onBody: (body) => {
        JSON.parse(body.toString()); // refuse bad JSON here, as the single process does
        sending = sending.then(() => pub.send(['b', body]));
      },
      onZmq: (topic, body) => {
        sending = sending.then(() => pub.send(['z', topic, body]));
      },
    });
  }
  process.stdout.write(
    JSON.stringify({ msg: 'ref ready', pid: process.pid, workers: options.workers }) + '\n',
  );
}

let options: Options;
try {
  options = parseOptions(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`ref-server: ${(err as Error).message}\n`);
  process.exit(2);
}
process.on('SIGTERM', () => {
  for (const child of children) child.kill('SIGTERM');
  process.exit(0);
});
(options.role === 'worker' ? runWorker(options) : runMain(options)).catch((err: unknown) => {
  process.stderr.write(`ref-server: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
