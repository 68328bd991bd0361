import { setImmediate as nextTurn } from 'node:timers/promises';
import type { CaseGroup, ConformanceCase, ExpectedEvent, Step } from './case.js';
import type { BackendSession, EchoBackend } from './echo-backend.js';
import { closePayload, encodeFrame, opcodes } from './frame.js';
import { RawWsClient, type Observation } from './raw-client.js';

/** The two kinds of WebSocket route every case runs on, and the path prefix routed to each. */
export const routeKinds = ['passthrough', 'over_http'] as const;
export type RouteKind = (typeof routeKinds)[number];
export const routePrefixes: Record<RouteKind, string> = { passthrough: '/pt/', over_http: '/ws/' };

/**
 * --ws-max-message-size for conformance runs: small enough that the over_http echo of a
 * message at the limit stays under WebSocket-over-HTTP's 1 MB answer bound (Pushpin's).
 */
export const conformanceMessageMax = 65_536;

/** The routes file for a thumbtack that serves both kinds from one echo backend. */
export function conformanceRoutes(backendPort: number): string {
  const target = `127.0.0.1:${backendPort}`;
  return `*,path_beg=${routePrefixes.over_http} ${target},over_http\n* ${target}\n`;
}

export interface RunContext {
  /** thumbtack's client port. */
  port: number;
  backend: EchoBackend;
  /** Bound on each wait (handshake, an expected event, the close, the backend's end). */
  timeoutMs: number;
  /** Keeps paths unique when one backend serves several runs. */
  runId: string;
}

export interface CaseResult {
  testCase: ConformanceCase;
  route: RouteKind;
  /** Empty: the case conforms. */
  deviations: string[];
  /** What happened, in a line. */
  observed: string;
  /** From connecting to the backend's end. */
  ms: number;
}

/**
 * Runs every case of `groups` on every route, `concurrency` connections at a time. Cases
 * `isSlow` picks (known deviations that wait out the timeout, a handful) run beside that
 * pool from the start, so their waits hold no slot of it. Results keep the order of the groups.
 */
export async function runCases(
  groups: readonly CaseGroup[],
  routes: readonly RouteKind[],
  ctx: RunContext,
  concurrency: number,
  isSlow: (testCase: ConformanceCase) => boolean = () => false,
): Promise<CaseResult[]> {
  const all = groups.flatMap((g) => g.cases.flatMap((c) => routes.map((r) => [c, r] as const)));
  const results = new Map<(typeof all)[number], CaseResult>();
  const run = async (job: (typeof all)[number]): Promise<void> => {
    results.set(job, await runCase(job[0], job[1], ctx));
  };
  const pooled = all.filter(([c]) => !isSlow(c));
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < pooled.length) await run(pooled[next++]!);
  };
  await Promise.all([
    ...all.filter(([c]) => isSlow(c)).map(run),
    ...Array.from({ length: Math.min(concurrency, pooled.length) }, worker),
  ]);
  return all.map((job) => results.get(job)!);
}

export async function runCase(
  testCase: ConformanceCase,
  route: RouteKind,
  ctx: RunContext,
): Promise<CaseResult> {
  const path = `${routePrefixes[route]}${ctx.runId}/${testCase.id}`;
  const startedAt = Date.now();
  let client: RawWsClient;
  try {
    client = await RawWsClient.connect(ctx.port, path, ctx.timeoutMs);
  } catch (err) {
    const message = (err as Error).message;
    return {
      testCase,
      route,
      deviations: [message],
      observed: message,
      ms: Date.now() - startedAt,
    };
  }
  try {
    await play(client, testCase.steps, ctx.timeoutMs);
    const { end } = testCase;
    if (end.kind === 'open') {
      const wanted = testCase.events.length;
      await client.waitUntil(
        (o) => countEvents(o) >= wanted || o.close !== undefined || o.isTcpClosed,
        ctx.timeoutMs,
      );
      if (!client.observation.close && !client.observation.isTcpClosed) {
        client.write(encodeFrame({ opcode: opcodes.close, payload: closePayload(1000) }), true);
      }
    }
    if (end.kind !== 'dropped') await client.waitUntil((o) => o.isTcpClosed, ctx.timeoutMs);
  } finally {
    client.destroy();
  }
  const session =
    (await ctx.backend.waitForEnd(path, ctx.timeoutMs)) ?? ctx.backend.sessions.get(path);
  const observation = client.observation;
  const deviations = [...judgeClient(testCase, observation), ...judgeBackend(testCase, session)];
  return {
    testCase,
    route,
    deviations,
    observed: `${describeObservation(observation)}; backend: ${describeSession(session)}`,
    ms: Date.now() - startedAt,
  };
}

async function play(client: RawWsClient, steps: readonly Step[], timeoutMs: number): Promise<void> {
  for (const step of steps) {
    if ('chop' in step) {
      const bytes = encodeFrame(step.chop);
      for (let at = 0; at < bytes.length; at += step.size) {
        client.write(bytes.subarray(at, at + step.size), step.chop.opcode === opcodes.close);
        await nextTurn();
      }
    } else if ('raw' in step) client.write(step.raw);
    else if ('pauseMs' in step) await new Promise((r) => setTimeout(r, step.pauseMs));
    else if ('awaitEvents' in step) {
      await client.waitUntil((o) => countEvents(o) >= step.awaitEvents || o.isTcpClosed, timeoutMs);
    } else if ('drop' in step) client.destroy();
    else client.write(encodeFrame(step), step.opcode === opcodes.close);
  }
}

/** Events a case can expect: messages and pongs (a keep-alive ping from the server is not one). */
function countEvents(o: Observation): number {
  return o.events.filter((e) => e.kind !== 'ping').length;
}

function judgeClient(testCase: ConformanceCase, o: Observation): string[] {
  const { end } = testCase;
  if (end.kind === 'dropped') return [];
  const out: string[] = [];
  const got = o.events.filter((e) => e.kind !== 'ping');
  if (!sameEvents(got, testCase.events)) {
    out.push(`events: expected ${describeEvents(testCase.events)}, got ${describeEvents(got)}`);
  }
  const codes = end.kind === 'open' ? [1000] : end.codes;
  const expected = codes.map((c) => c ?? 'an empty close').join(' or ');
  if (!o.close) {
    out.push(
      o.isTcpClosed
        ? `TCP closed without a close frame (expected ${expected})`
        : `no close frame within the wait (expected ${expected})`,
    );
  } else {
    if (!codes.includes(o.close.code)) {
      const what = end.kind === 'open' ? 'closed (expected to stay open' : 'close code';
      out.push(
        `${what} ${o.close.code ?? 'none'}${end.kind === 'open' ? ')' : ''}, expected ${expected}`,
      );
    }
    if (
      end.kind === 'close' &&
      end.reason !== undefined &&
      o.close.reason.toString() !== end.reason
    ) {
      out.push(`close reason "${o.close.reason.toString()}", expected "${end.reason}"`);
    }
    if (!o.isTcpClosed) out.push('TCP not closed after the close frame');
  }
  for (const error of new Set(o.serverErrors)) out.push(`server sent a ${error}`);
  return out;
}

function judgeBackend(testCase: ConformanceCase, session: BackendSession | undefined): string[] {
  if (!session) return ['backend: no session'];
  const out: string[] = [];
  const expectedMessages =
    testCase.backend?.messages ?? testCase.events.filter((e) => e.kind !== 'pong');
  if (!sameEvents(session.messages, expectedMessages)) {
    out.push(
      `backend messages: expected ${describeEvents(expectedMessages)}, got ${describeEvents(session.messages)}`,
    );
  }
  if (!session.end) return [...out, 'backend: the session did not end'];
  const wanted = testCase.backend?.end ?? (testCase.end.kind === 'open' ? 1000 : undefined);
  const endText = describeEnd(session);
  if (wanted === 'disconnect' && session.end.kind !== 'disconnect') {
    out.push(`backend end: ${endText}, expected a disconnect`);
  } else if (typeof wanted === 'number') {
    if (session.end.kind !== 'close' || session.end.code !== wanted) {
      out.push(`backend end: ${endText}, expected close ${wanted}`);
    } else if (
      testCase.backend?.reason !== undefined &&
      session.end.reason.toString() !== testCase.backend.reason
    ) {
      out.push(
        `backend close reason "${session.end.reason.toString()}", expected "${testCase.backend.reason}"`,
      );
    }
  }
  return out;
}

function sameEvents(
  got: readonly { kind: string; payload: Buffer }[],
  expected: readonly ExpectedEvent[],
): boolean {
  return (
    got.length === expected.length &&
    got.every((e, i) => e.kind === expected[i]!.kind && e.payload.equals(expected[i]!.payload))
  );
}

function describeEvents(events: readonly { kind: string; payload: Buffer }[]): string {
  if (events.length === 0) return 'none';
  const shown = events.slice(0, 4).map((e) => `${e.kind}(${describePayload(e.payload)})`);
  return `[${shown.join(', ')}${events.length > 4 ? `, ... ${events.length} in all` : ''}]`;
}

function describePayload(payload: Buffer): string {
  if (payload.length > 24) return `${payload.length} bytes`;
  const isPrintable = payload.every((b) => b >= 0x20 && b < 0x7f);
  return isPrintable ? JSON.stringify(payload.toString()) : `0x${payload.toString('hex')}`;
}

function describeObservation(o: Observation): string {
  const close = o.close
    ? `close ${o.close.code ?? '(empty)'}${o.close.reason.length ? ` "${o.close.reason.toString()}"` : ''}`
    : 'no close frame';
  return `${describeEvents(o.events)}, ${close}, TCP ${o.isTcpClosed ? 'closed' : 'open'}`;
}

function describeSession(session: BackendSession | undefined): string {
  if (!session) return 'no session';
  return `${session.messages.length} message(s), ${describeEnd(session)}`;
}

function describeEnd(session: BackendSession): string {
  const end = session.end;
  if (!end) return 'not ended';
  if (end.kind === 'disconnect') return 'disconnect';
  return `close ${end.code}${end.reason.length ? ` "${end.reason.toString()}"` : ''}`;
}
