import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { PublishFormatError, RedisUnavailableError } from '../../src/errors.js';
import { parsePublishBody } from '../../src/grip/publish-item.js';
import type { Logger } from '../../src/log.js';
import type { AuthOutcome, ControlAuth } from '../control-auth.js';
import { firstOutOfScope } from '../channel-scope.js';
import { createControlServer, type ControlTls } from '../control-tls.js';
import type { OutcomeCounter, PublishInput, PublishSink } from './publish-input.js';
import { parsePublishOptions } from './publish-options.js';
import type { ItemReceipt, PublishAsk } from '../receipts/asked-publishes.js';
import { addressedConnection } from '../../src/grip/channel-name.js';
import type { PublishItem } from '../../src/grip/publish-types.js';

/*
 * The HTTP control API, shaped like Pushpin's (protocol 2.1): `Content-Length` on every
 * response, bodies negotiated by Accept, and Pushpin's exact one-line error bodies.
 * Differences on purpose: an oversized body gets 413, a multi-item publish error names the
 * item index, auth may be required, and connections are kept alive (Pushpin closes each
 * one), so a backend publishing at a high rate does not pay a connect per publish. A
 * request answered before its body was read closes its connection, once the rest of the
 * body was read away. Pushpin has no read timeout or connection cap here; both are
 * settings.
 */

export interface HttpInputOptions {
  host: string;
  port: number;
  /** Largest accepted request body. */
  bodyMax: number;
  /** Seconds a client gets to send one request, headers and body. */
  readTimeout: number;
  /** Open connections before new ones are refused; 0 = no cap. */
  maxConnections: number;
  logger: Logger;
  publish: PublishSink;
  /**
   * Resolves once the items `publish` took in memory are on their way to the proxy workers
   * (handed to the bus socket), so that a 200 never names an item still in this process
   * (a handler killed right after answering would lose it). Undefined with Redis, where the
   * stored promise is the answer.
   */
  whenSent?: () => Promise<void>;
  /** What keeps this node from serving (`GET /readyz`); empty when it is ready. */
  readiness?: () => { problems: string[]; detail: Record<string, unknown> };
  /** `POST /recover`. */
  recover: () => void;
  /** Publishes with a receipt, an ack or deliver-to-one (query options on `/publish/`). */
  publishAsked?: (item: PublishItem, ask: PublishAsk) => Promise<ItemReceipt>;
  auth?: ControlAuth;
  count?: OutcomeCounter;
  /** `--control-tls-cert`/`--control-tls-key`: HTTPS only. */
  tls?: ControlTls;
  /**
   * Operator pages (`/metrics`, `/status`...), behind the same auth as `/publish/`: the
   * page's renderer, undefined for a path it does not serve (404).
   */
  page?: (path: string) => (() => Promise<ControlPage>) | undefined;
}

export interface ControlPage {
  body: string | Buffer;
  contentType: string;
}

type BodyType = 'text/plain' | 'application/json';

const HEADER_MAX = 10_000;
const BODYLESS_METHODS = new Set(['GET', 'HEAD', 'DELETE', 'OPTIONS']);
const TEXT_TYPES = new Set(['text/plain', 'text/*', '*/*', '*']);
const JSON_TYPES = new Set(['application/json', 'application/*']);
/** For answers sent before the body was read: the rest of it must not be taken as a request. */
const CLOSE = { Connection: 'close' };

export class HttpInput implements PublishInput {
  private options: HttpInputOptions;
  private readonly logger: Logger;
  private readonly server: http.Server;
  private boundAddress = '';
  /** Connections refused by the cap since the last warning, and when that was. */
  private dropped = 0;
  private droppedLoggedAt = 0;
  /** Sockets answered while their request body is still read: a parse error only closes them. */
  private readonly answered = new WeakSet<Duplex>();

  constructor(options: HttpInputOptions) {
    this.options = options;
    this.logger = options.logger;
    const readTimeoutMs = Math.ceil(options.readTimeout * 1000);
    this.server = createControlServer(options.tls, {
      maxHeaderSize: HEADER_MAX,
      headersTimeout: readTimeoutMs,
      requestTimeout: readTimeoutMs,
      // Node checks for expired requests this often (30 s by default, so a slow client
      // held a connection for up to a minute).
      connectionsCheckingInterval: Math.min(readTimeoutMs, 1000),
    });
    if (options.maxConnections > 0) this.server.maxConnections = options.maxConnections;
    this.server.on('drop', () => this.onDrop());
    this.server.on('request', (req, res) => this.onRequest(req, res, false));
    // Decide on an oversized body before inviting the client to send it.
    this.server.on('checkContinue', (req, res) => this.onRequest(req, res, true));
    this.server.on('clientError', (err, socket) => this.onClientError(err, socket));
  }

  /** A reload's limits: for requests and connections from now on. */
  setLimits(limits: Pick<HttpInputOptions, 'bodyMax' | 'readTimeout' | 'maxConnections'>): void {
    this.options = { ...this.options, ...limits };
    const readTimeoutMs = Math.ceil(limits.readTimeout * 1000);
    this.server.headersTimeout = readTimeoutMs;
    this.server.requestTimeout = readTimeoutMs;
    // Node's default (no cap) is Infinity; 0 would refuse every connection.
    this.server.maxConnections = limits.maxConnections > 0 ? limits.maxConnections : Infinity;
  }

  get address(): string {
    return this.boundAddress || `http://${this.options.host}:${this.options.port}`;
  }

  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off('error', reject);
        this.server.on('error', (err) => this.logger.error({ err }, 'control server error'));
        const { address, port } = this.server.address() as AddressInfo;
        const host = address.includes(':') ? `[${address}]` : address;
        this.boundAddress = `${this.options.tls ? 'https' : 'http'}://${host}:${port}`;
        resolve();
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private onRequest(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    isExpecting: boolean,
  ): void {
    // A request pipelined behind a refused body, after our FIN (see refuse).
    if (req.socket.writableEnded) {
      req.socket.destroy();
      return;
    }
    const method = req.method ?? 'GET';
    const lengthHeader = req.headers['content-length'];
    if (
      lengthHeader === undefined &&
      (req.headers['transfer-encoding'] !== undefined || !BODYLESS_METHODS.has(method))
    ) {
      const isSending = req.headers['transfer-encoding'] !== undefined && !isExpecting;
      this.refuse(req, res, 411, 'Request requires Content-Length.\n', isSending);
      return;
    }
    const length = lengthHeader === undefined ? 0 : Number(lengthHeader);
    if (length > this.options.bodyMax) {
      this.refuse(req, res, 413, 'Request body too large.\n', !isExpecting);
      this.options.count?.('too_large');
      this.logger.warn(
        { url: req.url, contentLength: length, bodyMax: this.options.bodyMax },
        'control request body over --publish-body-max, refused',
      );
      return;
    }
    if (isExpecting) res.writeContinue();

    // Pushpin reads the whole request before routing; so do we, which also lets every
    // response go out without the client still writing into a closing socket.
    const chunks: Buffer[] = [];
    let received = 0;
    req.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received <= length) chunks.push(chunk);
    });
    req.on('end', () => {
      this.route(req, res, Buffer.concat(chunks)).catch((err: unknown) => {
        this.logger.error({ err }, 'control request failed');
        if (!res.headersSent) this.respond(req, res, 500, 'Internal error.\n');
      });
    });
    req.on('error', () => res.destroy());
  }

  private async route(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    body: Buffer,
  ): Promise<void> {
    const path = normalizedPath(req.url);
    if (path === '/healthz' || path === '/readyz') {
      this.respondHealth(req, res, path);
      return;
    }
    const render = this.options.page?.(path);
    if (render && (req.method === 'GET' || req.method === 'HEAD')) {
      if (!(await this.authorize(req, res))) return;
      const page = await render();
      this.respond(req, res, 200, page.body, page.contentType);
      return;
    }
    const bodyType = negotiate(req.headers['accept']);
    if (bodyType === undefined) {
      this.respond(
        req,
        res,
        406,
        'Not Acceptable. Supported formats are text/plain and application/json.\n',
      );
      return;
    }
    if (path === '/') {
      this.respond(req, res, 200, 'Pushpin API\n');
      return;
    }
    if (path !== '/publish' && path !== '/recover') {
      this.respond(req, res, 404, 'Not Found\n');
      return;
    }
    if (req.method !== 'POST') {
      this.respond(req, res, 405, `Method not allowed: ${req.method}.\n`, 'text/plain', {
        Allow: 'POST',
      });
      return;
    }
    const granted = await this.authorize(req, res);
    if (!granted) {
      if (path === '/publish') this.options.count?.('unauthorized');
      return;
    }

    if (path === '/recover') {
      if (granted.channels) {
        this.respond(req, res, 403, 'Forbidden: a token with a channels claim cannot recover.\n');
        return;
      }
      this.respondMessage(req, res, bodyType, 'Updated');
      this.options.recover();
      return;
    }
    let items;
    try {
      items = parsePublishBody(body);
    } catch (err) {
      if (!(err instanceof PublishFormatError)) throw err;
      this.respond(req, res, 400, err.message + '\n');
      this.options.count?.('invalid');
      return;
    }
    const outside = granted.channels
      ? firstOutOfScope(
          items.map((item) => item.channel),
          granted.channels,
        )
      : undefined;
    if (outside !== undefined) {
      // All or nothing: a publish is never half-accepted.
      const text = `Forbidden: this token may not publish to channel "${outside}" (see its channels claim).\n`;
      this.respond(req, res, 403, text);
      this.options.count?.('forbidden');
      return;
    }
    const options = this.options.publishAsked ? parsePublishOptions(req.url, items) : {};
    if (options.problem !== undefined) {
      this.respond(req, res, 400, options.problem + '\n');
      this.options.count?.('invalid');
      return;
    }
    if (options.ask) {
      await this.respondAsked(req, res, items, options.ask);
      return;
    }
    // Success means "on its way to the workers", not yet delivered (as Pushpin, whose answer
    // means "parsed"). With Redis it means "stored in Redis", which every node delivers from.
    const stored: Promise<void>[] = [];
    for (const item of items) {
      const result = this.options.publish(item);
      if (result) stored.push(result);
    }
    if (stored.length === 0) await this.options.whenSent?.();
    if (stored.length > 0) {
      const results = await Promise.allSettled(stored);
      const failed = results.find((result) => result.status === 'rejected');
      if (failed) {
        const reason: unknown = failed.reason;
        if (!(reason instanceof RedisUnavailableError)) throw reason;
        const taken = results.filter((r) => r.status === 'fulfilled').length;
        const note = taken > 0 ? ` (${taken} of ${results.length} items were stored)` : '';
        this.respond(req, res, 503, `${reason.message}${note}\n`, 'text/plain', {
          'Retry-After': '1',
        });
        this.options.count?.('accepted', taken);
        this.options.count?.('unavailable', results.length - taken);
        return;
      }
    }
    this.respondMessage(req, res, bodyType, 'Published', items.length);
    this.options.count?.('accepted', items.length);
  }

  /**
   * A publish with a receipt, an ack or deliver-to-one: answered once every worker (and
   * node) has told what became of each item, or at the timeout, always in JSON
   * (README: Direct push and receipts). 404: an item for one connection found none; 408:
   * the client did not acknowledge in time.
   */
  private async respondAsked(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    items: PublishItem[],
    ask: PublishAsk,
  ): Promise<void> {
    const publishAsked = this.options.publishAsked!;
    const results = await Promise.allSettled(items.map((item) => publishAsked(item, ask)));
    await this.options.whenSent?.();
    const receipts: ItemReceipt[] = [];
    let unavailable: RedisUnavailableError | undefined;
    for (const result of results) {
      if (result.status === 'fulfilled') receipts.push(result.value);
      else if (result.reason instanceof RedisUnavailableError) unavailable = result.reason;
      else throw result.reason;
    }
    this.options.count?.('accepted', receipts.length);
    if (unavailable) {
      const taken = receipts.length;
      const note = taken > 0 ? ` (${taken} of ${results.length} items were stored)` : '';
      this.respond(req, res, 503, `${unavailable.message}${note}\n`, 'text/plain', {
        'Retry-After': '1',
      });
      this.options.count?.('unavailable', results.length - taken);
      return;
    }
    const isToOne = (receipt: ItemReceipt): boolean =>
      receipt.connection !== undefined || addressedConnection(receipt.channel) !== undefined;
    let status = 200;
    let message = 'Published';
    if (receipts.some((receipt) => isToOne(receipt) && receipt.listeners === 0)) {
      status = 404;
      message = 'No connection took the item';
    } else if (ask.ackMs > 0) {
      const isAcked = receipts[0]?.acknowledged === true;
      status = isAcked ? 200 : 408;
      message = isAcked ? 'Acknowledged' : 'Not acknowledged in time';
    }
    const body = JSON.stringify({ message, items: receipts }) + '\n';
    this.respond(req, res, status, body, 'application/json', {}, items.length);
  }

  /** Answers 401 and returns false when auth is on and the request's credentials fail. */
  /** What the credentials allow; undefined once a 401 was sent (auth on, and they fail). */
  private async authorize(
    req: http.IncomingMessage,
    res: http.ServerResponse,
  ): Promise<AuthOutcome | undefined> {
    if (!this.options.auth) return {};
    const outcome = await this.options.auth.verify(req.headers['authorization']);
    if (outcome.problem === undefined) return outcome;
    const problem = outcome.problem;
    this.respond(req, res, 401, problem + '\n', 'text/plain', { 'WWW-Authenticate': 'Bearer' });
    return undefined;
  }

  /**
   * Answers before the body was read, then closes. While the client may still be sending
   * (`isSending`), the body is read away first, as nginx's lingering close does: closing
   * with unread bytes makes the kernel reset the connection, and the client often loses
   * the answer with it. Node closes at once after a `Connection: close` answer, so the
   * close is ours here (a FIN once the answer is out), and --control-read-timeout bounds
   * the reading.
   */
  private refuse(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    status: number,
    body: string,
    isSending: boolean,
  ): void {
    if (!isSending) {
      this.respond(req, res, status, body, 'text/plain', CLOSE);
      return;
    }
    const socket = req.socket;
    this.answered.add(socket);
    req.resume();
    res.once('finish', () => socket.end());
    this.respond(req, res, status, body);
  }

  /**
   * Probes for supervisors (Kubernetes liveness and readiness), open like `GET /`:
   * `/healthz` answers while the process serves, `/readyz` says what keeps the node from
   * serving (503) or that it can (200).
   */
  private respondHealth(req: http.IncomingMessage, res: http.ServerResponse, path: string): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      this.respond(req, res, 405, `Method not allowed: ${req.method}.\n`, 'text/plain', {
        Allow: 'GET, HEAD',
      });
      return;
    }
    if (path === '/healthz') {
      this.respond(req, res, 200, '{"status":"ok"}\n', 'application/json');
      return;
    }
    const { problems, detail } = this.options.readiness?.() ?? { problems: [], detail: {} };
    const isReady = problems.length === 0;
    const body = JSON.stringify({ ready: isReady, ...detail, ...(isReady ? {} : { problems }) });
    this.respond(req, res, isReady ? 200 : 503, body + '\n', 'application/json');
  }

  private onDrop(): void {
    this.dropped++;
    const now = Date.now();
    if (now - this.droppedLoggedAt < 5_000) return;
    this.logger.warn(
      { refused: this.dropped, maxConnections: this.options.maxConnections },
      'control connections at --control-max-connections, refusing new ones',
    );
    this.dropped = 0;
    this.droppedLoggedAt = now;
  }

  private respondMessage(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    bodyType: BodyType,
    message: string,
    items?: number,
  ): void {
    const body =
      bodyType === 'application/json' ? JSON.stringify({ message }) + '\n' : message + '\n';
    this.respond(req, res, 200, body, bodyType, {}, items);
  }

  private respond(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    status: number,
    body: string | Buffer,
    contentType: string = 'text/plain',
    headers: Record<string, string> = {},
    items?: number,
  ): void {
    const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    res.sendDate = false; // Pushpin sends no Date either
    res.writeHead(status, {
      ...headers,
      'Content-Type': contentType,
      'Content-Length': String(bytes.length),
    });
    res.end(bytes);
    this.logger.debug(
      { method: req.method, url: req.url, status, bytes: bytes.length, items },
      'control request',
    );
  }

  private onClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
    // One request, one answer: a body that breaks after its refusal went out gets no second.
    if (err.code === 'ECONNRESET' || !socket.writable || this.answered.has(socket)) {
      socket.destroy();
      return;
    }
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      const body = 'Request timed out.\n';
      this.logger.info('control request not received within --control-read-timeout, closed');
      socket.end(
        'HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain\r\n' +
          `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
      );
      return;
    }
    const body =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? 'Request header too large.\n'
        : err.code === 'HPE_INVALID_CONTENT_LENGTH' || err.code === 'HPE_UNEXPECTED_CONTENT_LENGTH'
          ? 'Bad Content-Length.\n'
          : 'Failed to parse request header.\n';
    socket.end(
      'HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
}

/**
 * Pushpin's Accept handling: no q-values; each listed type is examined in order and the
 * last recognised one wins. Undefined means 406.
 */
export function negotiate(accept: string | undefined): BodyType | undefined {
  if (accept === undefined) return 'text/plain';
  let chosen: BodyType | undefined;
  for (const entry of accept.split(',')) {
    const type = entry.split(';')[0]!.trim().toLowerCase();
    if (TEXT_TYPES.has(type)) chosen = 'text/plain';
    else if (JSON_TYPES.has(type)) chosen = 'application/json';
  }
  return chosen;
}

/** The request path without its query and one trailing slash (Pushpin compares the whole target, so `/publish/?x=1` is 404 there). */
function normalizedPath(url: string | undefined): string {
  const path = (url ?? '/').split('?', 1)[0]!;
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}
