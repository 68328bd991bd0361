import { GripInstructError } from '../../src/errors.js';
import { filterResponseBody } from '../../src/grip/filters.js';
import { isGripResponse, parseInstruction } from '../../src/grip/instruct.js';
import type { GripInstruction } from '../../src/grip/instruct-types.js';
import { preciseNow } from '../../src/ipc/clock.js';
import type { Logger } from '../../src/log.js';
import { gripLastValues } from '../../src/grip/grip-last.js';
import type { BackendTarget } from '../backend/backend-pools.js';
import {
  requestBackend,
  type BackendReply,
  type BackendRequest,
} from '../backend/backend-request.js';
import { decodeGripReply } from './grip-content-encoding.js';
import type { ChannelSubscriptions } from '../bus/channel-subscriptions.js';
import { gripBufferMax, type ForwardedRequest } from '../http/forwarded-request.js';
import { warnRefusedFilters, type Hold, type HoldHost } from './hold.js';
import type { WorkerStats } from '../worker-stats.js';
import type { ProxyContext } from '../proxy-context.js';
import { ResponseHold } from './response-hold.js';
import { sendCompleteResponse } from '../http/response-headers.js';
import { StreamHold } from './stream-hold.js';
import { routeLog } from '../route-log.js';

/** A retry loop (backend keeps answering with a hold that is immediately stale) ends here. */
const maxRetries = 10;

/**
 * Turns a backend answer that carries GRIP instructions into what the client gets: a
 * 502 for broken instructions, the stored response when nothing is held, or a hold. It is
 * also the holds' way back to the backend: retries, next links and gone links.
 */
export class GripResponder implements HoldHost {
  readonly holds = new Set<Hold>();
  readonly stats: WorkerStats;
  slowClients = 0;
  /** Set on SIGTERM: holds end as soon as they start. */
  isDraining = false;
  private readonly retries = new WeakMap<ForwardedRequest, number>();
  private readonly goneLinks = new WeakMap<ForwardedRequest, string>();
  /** When a retried request last went to the backend: its new hold takes items from then. */
  private readonly retriedAt = new WeakMap<ForwardedRequest, number>();

  constructor(
    private readonly ctx: ProxyContext,
    readonly subscriptions: ChannelSubscriptions,
    readonly log: Logger,
    /** Both may change on reload (SIGHUP): holds read them when they need them. */
    public streamBufferMax: number,
    public subscriptionMax: number,
  ) {
    this.stats = ctx.stats;
  }

  onSlowClient(): void {
    this.slowClients++;
  }

  readonly onGripReply = (request: ForwardedRequest, reply: BackendReply): void => {
    if (request.hasBody && request.bodyBuffer() === undefined) {
      // Pushpin refuses to hold a request it could not re-send on a retry.
      request.respondError(400, 'Request too large to accept GRIP instruct.');
      return;
    }
    const instruction = this.parse(request, reply);
    if (!instruction) {
      request.respondError(502, this.debugText(request, reply));
      return;
    }
    if (instruction.goneLink && !this.goneLinks.has(request)) {
      this.goneLinks.set(request, resolveLink(request, instruction.goneLink.uri));
    }
    if (!instruction.hold && !instruction.nextLink) {
      // Pushpin runs even a response it does not hold through its channels' build-id.
      const body = filterResponseBody(
        instruction.channels,
        instruction.meta,
        instruction.response.body,
      );
      if (typeof body === 'string') {
        routeLog(this.log, request.route).warn(
          { route: request.route.id, err: body },
          'filter error in a backend response',
        );
        const debugText = `Failed to parse accept instructions: filter error: ${body}`;
        request.respondError(502, request.route.isDebug ? debugText : undefined);
        return;
      }
      const response = { ...instruction.response, body };
      sendCompleteResponse(request.res, response);
      request.markResponded(response.code, response.body.length);
      this.onHoldEnded(request);
      return;
    }
    const refused = warnRefusedFilters(this.log, request.route.id, instruction.channels);
    if (refused.length > 0) {
      const debugText = `Filters not supported: ${refused.join(', ')}`;
      request.respondError(502, request.route.isDebug ? debugText : undefined);
      return;
    }
    const since = this.retriedAt.get(request) ?? request.sentAt;
    let hold: Hold;
    if (instruction.hold === 'response') {
      hold = new ResponseHold(this, request, instruction, since);
    } else {
      hold = new StreamHold(this, request, instruction, since, lastEventId(request));
      request.forgetResendState();
    }
    this.holds.add(hold);
    request.heldBy = hold;
    request.markHeld();
    hold.start();
    // A request that was already with the backend when draining began gets no hold either.
    if (this.isDraining) hold.drain();
    else if (this.holds.has(hold)) {
      this.ctx.startLifetime(request.route, hold);
      if (request.connectionId) {
        this.subscriptions.addConnection(request.connectionId, hold, request.sentAt);
      }
    }
  };

  retry(request: ForwardedRequest, prevIds: ReadonlyMap<string, string>): void {
    // The retried hold is over; the answer may be a new one, or an error that ends nothing.
    this.forgetHold(request);
    const count = (this.retries.get(request) ?? 0) + 1;
    this.retries.set(request, count);
    if (count > maxRetries) {
      routeLog(this.log, request.route).warn(
        { route: request.route.id },
        'too many hold retries; answering 502',
      );
      request.respondError(502);
      return;
    }
    const gripLast = gripLastHeaders(prevIds, request.route.channelPrefix);
    const headers = (target: BackendTarget) => [...request.backendHeadersFor(target), ...gripLast];
    const body = request.bodyBuffer();
    // The handler's clock: an item that made this hold retry must not be replayed to the new one.
    this.retriedAt.set(request, preciseNow());
    void this.askBackend(request, {
      method: request.client.method,
      path: request.path,
      headers,
      ...(body ? { body } : {}),
      timeoutMs: this.ctx.backendTimeoutMs,
      bodyMax: gripBufferMax,
    }).then((outcome) => {
      if (request.isAborted) return;
      if (!outcome.isOk) {
        routeLog(this.log, request.route).error(
          { route: request.route.id, err: outcome.reason },
          'hold retry request failed',
        );
        request.respondError(502);
        return;
      }
      const { reply } = outcome;
      if (isGripResponse(reply.headers)) {
        this.onGripReply(request, reply);
        return;
      }
      sendCompleteResponse(request.res, reply);
      request.markResponded(reply.code, reply.body.length);
    });
  }

  async followNextLink(
    request: ForwardedRequest,
    uri: string,
    prevIds: ReadonlyMap<string, string>,
  ): Promise<{ instruction: GripInstruction | undefined; body: Buffer }> {
    const url = new URL(resolveLink(request, uri));
    const headers = ['host', url.host, 'accept', '*/*'];
    headers.push(...gripLastHeaders(prevIds, request.route.channelPrefix));
    this.ctx.appendGripRequestHeaders(request.route, headers);
    const outcome = await this.askBackend(request, {
      method: 'GET',
      path: url.pathname + url.search,
      headers,
      timeoutMs: this.ctx.backendTimeoutMs,
      bodyMax: gripBufferMax,
    });
    if (!outcome.isOk) throw new Error(outcome.reason);
    const { reply } = outcome;
    if (reply.code < 200 || reply.code > 299) {
      throw new Error(`next link answered ${reply.code}`);
    }
    if (!isGripResponse(reply.headers)) return { instruction: undefined, body: reply.body };
    const instruction = this.parse(request, reply);
    if (!instruction) throw new Error('next link answered with invalid GRIP instructions');
    return { instruction, body: instruction.response.body };
  }

  onHoldEnded(request: ForwardedRequest): void {
    this.forgetHold(request);
    const gone = this.goneLinks.get(request);
    if (gone) {
      this.goneLinks.delete(request);
      this.notifyGone(request, gone);
    }
  }

  /** The request's hold is over: no lifetime to end, no items addressed to it. */
  private forgetHold(request: ForwardedRequest): void {
    const hold = request.heldBy;
    if (!hold) return;
    this.ctx.lifetimes.forget(hold);
    if (request.connectionId) this.subscriptions.removeConnection(request.connectionId, hold);
  }

  notifyGone(request: ForwardedRequest, uri: string): void {
    const url = new URL(uri);
    const headers = ['host', url.host, 'content-length', '0'];
    this.ctx.appendGripRequestHeaders(request.route, headers);
    void this.askBackend(request, {
      method: 'POST',
      path: url.pathname + url.search,
      headers,
      timeoutMs: this.ctx.backendTimeoutMs,
      bodyMax: 65_536,
    }).then((outcome) => {
      if (outcome.isOk) return;
      routeLog(this.log, request.route).info(
        { route: request.route.id, uri, err: outcome.reason },
        'gone link request failed',
      );
    });
  }

  /** A request of the proxy's own through the route's targets, starting at the next in turn. */
  private askBackend(request: ForwardedRequest, backendRequest: BackendRequest) {
    const { route } = request;
    return requestBackend(
      this.ctx.pools,
      this.ctx.targetCursor(route),
      backendRequest,
      (target, reason) =>
        routeLog(this.log, route).warn(
          { route: route.id, target, err: reason },
          'backend unreachable, trying the next target',
        ),
    );
  }

  private parse(request: ForwardedRequest, reply: BackendReply): GripInstruction | undefined {
    try {
      return parseInstruction(decodeGripReply(reply, gripBufferMax), {
        channelPrefix: request.route.channelPrefix,
        subscriptionMax: this.subscriptionMax,
      });
    } catch (err) {
      if (!(err instanceof GripInstructError)) throw err;
      routeLog(this.log, request.route).warn(
        {
          route: request.route.id,
          target: request.targets.label,
          path: request.client.url,
          header: err.source,
          err: err.message,
        },
        'backend sent invalid GRIP instructions',
      );
      return undefined;
    }
  }

  private debugText(request: ForwardedRequest, reply: BackendReply): string | undefined {
    if (!request.route.isDebug) return undefined;
    try {
      parseInstruction(decodeGripReply(reply, gripBufferMax), {
        subscriptionMax: this.subscriptionMax,
      });
    } catch (err) {
      return `Failed to parse accept instructions: ${(err as Error).message}`;
    }
    return undefined;
  }
}

/** Links may be relative: they resolve against the URI of the request being held. */
function resolveLink(request: ForwardedRequest, uri: string): string {
  const scheme = request.client.isTls ? 'https' : 'http';
  return new URL(uri, `${scheme}://${request.client.host || 'localhost'}${request.client.url}`)
    .href;
}

/** Grip-Last names channels as the backend knows them, without the route's prefix. */
/** `Grip-Last` request headers as a flat name, value list; channels without the route prefix. */
function gripLastHeaders(prevIds: ReadonlyMap<string, string>, prefix: string): string[] {
  const out: string[] = [];
  for (const value of gripLastValues(withoutPrefix(prevIds, prefix))) out.push('grip-last', value);
  return out;
}

function withoutPrefix(prevIds: ReadonlyMap<string, string>, prefix: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const [channel, id] of prevIds) {
    out.set(prefix && channel.startsWith(prefix) ? channel.slice(prefix.length) : channel, id);
  }
  return out;
}

/** The client's `Last-Event-ID`, on a route that resumes SSE clients by it (sse_resume). */
function lastEventId(request: ForwardedRequest): string | undefined {
  if (!request.route.isSseResume) return undefined;
  for (const [name, value] of request.client.headers) {
    if (name === 'last-event-id' && value !== '') return value;
  }
  return undefined;
}
