import { epochMs } from '../clock.js';
import { Histogram } from '../histogram.js';
import { DeliveryStats } from './delivery-stats.js';
import { RequestLoop, type RequestStats } from './http-client.js';
import type {
  ConnectSpec,
  EchoResult,
  LoadResult,
  OpenResult,
  ResultMessage,
  Task,
  TaskMessage,
  TaskResult,
} from './messages.js';
import { SseConnection, type SseTarget } from './sse-client.js';
import { WsConnection, type EchoStats } from './ws-client.js';

/**
 * A load generator process: holds its share of the client sockets and runs the tasks the
 * bench main process sends over IPC, one reply per task.
 */

interface Connection {
  isClosed: boolean;
  close(): void;
}

const stats = new DeliveryStats();
const echo: EchoStats = { sent: 0, received: 0, rtt: new Histogram() };
let sse: SseConnection[] = [];
let ws: WsConnection[] = [];
const pollMs = 20;

function targetOf(spec: ConnectSpec, index: number): SseTarget {
  return {
    host: spec.host,
    port: spec.port,
    path: spec.path.replaceAll('{i}', String(index)),
    localAddress: spec.sources[index % spec.sources.length],
    index,
  };
}

/**
 * Opens spec.count connections, at most spec.concurrency attempts at a time. A failed
 * attempt is retried up to spec.retries times (as a reconnecting client would); every
 * failure reason is counted, retried or not.
 */
function openAll<C extends Connection>(
  spec: ConnectSpec,
  make: (target: SseTarget, onOpen: (conn: C, error?: string) => void) => C,
  into: C[],
): Promise<OpenResult> {
  return new Promise((resolve) => {
    const result: OpenResult = {
      opened: 0,
      failed: 0,
      retried: 0,
      errors: {},
      startedAt: epochMs(),
      doneAt: 0,
    };
    const pending = new Map<C, number>();
    const attempts = new Uint8Array(spec.count);
    const queue: number[] = [];
    let next = 0;
    let isFinished = false;
    const finish = () => {
      if (isFinished) return;
      isFinished = true;
      clearTimeout(timer);
      for (const conn of pending.keys()) {
        conn.close();
        result.failed++;
        result.errors.timeout = (result.errors.timeout ?? 0) + 1;
      }
      // Attempts queued for a retry, and connections never tried, did not open either.
      const untried = queue.length + (spec.count - next);
      result.failed += untried;
      if (untried > 0) result.errors['not tried in time'] = untried;
      pending.clear();
      result.doneAt = epochMs();
      resolve(result);
    };
    const onOpen = (conn: C, error?: string) => {
      if (isFinished) return;
      const index = pending.get(conn)!;
      pending.delete(conn);
      if (error === undefined) {
        result.opened++;
        into.push(conn);
      } else {
        result.errors[error] = (result.errors[error] ?? 0) + 1;
        if (attempts[index] <= spec.retries) {
          result.retried++;
          queue.push(index);
        } else {
          result.failed++;
        }
      }
      if (result.opened + result.failed === spec.count) finish();
      else launch();
    };
    const launch = () => {
      while (pending.size < spec.concurrency && (queue.length > 0 || next < spec.count)) {
        const index = queue.length > 0 ? queue.shift()! : next++;
        attempts[index]++;
        pending.set(make(targetOf(spec, spec.first + index), onOpen), index);
      }
    };
    const timer = setTimeout(finish, spec.timeoutMs);
    if (spec.count === 0) finish();
    else launch();
  });
}

function httpLoad(spec: ConnectSpec, durationMs: number): Promise<LoadResult> {
  return new Promise((resolve) => {
    const load: RequestStats = { responses: 0, statuses: {}, errors: {}, latency: new Histogram() };
    const startedAt = performance.now();
    const deadline = startedAt + durationMs;
    const isRunning = () => performance.now() < deadline;
    let running = spec.count;
    const done = () => {
      clearTimeout(hardStop);
      resolve({
        ...load,
        latency: load.latency.toData(),
        elapsedMs: performance.now() - startedAt,
      });
    };
    const onDone = () => {
      if (--running === 0) done();
    };
    // A response that never comes must not hold the phase: report what finished.
    const hardStop = setTimeout(() => {
      load.errors['no response at end'] = running;
      running = -1;
      done();
    }, durationMs + 10_000);
    for (let i = 0; i < spec.count; i++) {
      new RequestLoop(targetOf(spec, spec.first + i), load, isRunning, onDone); // owned by its socket
    }
  });
}

/** Waits until `isDone()` or `ms` passed, checking every poll interval. */
function waitFor(isDone: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  return new Promise((resolve) => {
    const check = () => {
      if (isDone() || Date.now() >= deadline) resolve();
      else setTimeout(check, pollMs);
    };
    check();
  });
}

function closedReasons(): Record<string, number> {
  const closed: Record<string, number> = {};
  for (const conn of ws)
    if (conn.closeReason) closed[conn.closeReason] = (closed[conn.closeReason] ?? 0) + 1;
  return closed;
}

async function wsEcho(window: number, durationMs: number, drainMs: number): Promise<EchoResult> {
  resetEcho();
  const startedAt = performance.now();
  for (const conn of ws) {
    conn.echoBudget = Number.MAX_SAFE_INTEGER;
    conn.sendEchoes(window);
  }
  await waitFor(() => false, durationMs);
  for (const conn of ws) conn.echoBudget = 0;
  await waitFor(() => echo.received >= echo.sent, drainMs);
  return echoResult(startedAt);
}

async function wsBurst(messages: number, drainMs: number): Promise<EchoResult> {
  resetEcho();
  const startedAt = performance.now();
  for (const conn of ws) conn.sendEchoes(messages);
  await waitFor(() => echo.received >= echo.sent, drainMs);
  return echoResult(startedAt);
}

function resetEcho(): void {
  echo.sent = 0;
  echo.received = 0;
  echo.rtt.reset();
}

function echoResult(startedAt: number): EchoResult {
  return {
    sent: echo.sent,
    received: echo.received,
    rtt: echo.rtt.toData(),
    elapsedMs: performance.now() - startedAt,
    closed: closedReasons(),
  };
}

function closeAll(): void {
  for (const conn of sse) conn.close();
  for (const conn of ws) conn.close();
  sse = [];
  ws = [];
  stats.clear();
}

async function run(task: Task): Promise<TaskResult> {
  switch (task.type) {
    case 'open-sse':
      return openAll(task.spec, (target, onOpen) => new SseConnection(target, stats, onOpen), sse);
    case 'open-ws':
      return openAll(
        task.spec,
        (target, onOpen) => new WsConnection(target, stats, echo, onOpen),
        ws,
      );
    case 'http-load':
      return httpLoad(task.spec, task.durationMs);
    case 'ws-echo':
      return wsEcho(task.window, task.durationMs, task.drainMs);
    case 'ws-burst':
      return wsBurst(task.messages, task.drainMs);
    case 'counts':
      return stats.counts();
    case 'probed-indices':
      return sse.filter((conn) => conn.isProbed && !conn.isClosed).map((conn) => conn.target.index);
    case 'report':
      return stats.report();
    case 'reset':
      stats.reset();
      return null;
    case 'close-all':
      closeAll();
      return null;
  }
}

process.on('message', (message: TaskMessage) => {
  run(message.task).then(
    (result) => process.send?.({ id: message.id, result } satisfies ResultMessage),
    (err: unknown) =>
      process.send?.({ id: message.id, error: (err as Error).message } satisfies ResultMessage),
  );
});
// The bench main owns this process: when it goes, so does the generator.
process.on('disconnect', () => {
  closeAll();
  process.exit(0);
});
