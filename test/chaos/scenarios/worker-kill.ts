import { setTimeout as sleep } from 'node:timers/promises';
import {
  proxyWorkerPids,
  startThumbtack,
  waitForRestart,
  workerPidForClientPort,
  workerPidsForClientPorts,
  type Thumbtack,
} from '../../support/thumbtack.js';
import { chaosRoutes, startChaosBackend } from '../load/chaos-backend.js';
import { waitFor, type Holder } from '../load/holder.js';
import { startMixedLoad, stopMixedLoad, type LoadSize } from '../load/mixed-load.js';
import type { PlainResult } from '../load/plain-load.js';
import { SseHolder } from '../load/sse-holder.js';
import type { ChaosRecord, Scenario, ScenarioOptions } from '../record.js';

const full: LoadSize = {
  sse: 400,
  ws: 100,
  longPoll: 50,
  plainLoops: 4,
  plainPauseMs: 20,
  publishIntervalMs: 50,
};
const short: LoadSize = {
  sse: 24,
  ws: 8,
  longPoll: 4,
  plainLoops: 2,
  plainPauseMs: 20,
  publishIntervalMs: 50,
};

/** A dead worker's client is told at once (its socket closes); later than this is a hang. */
const closeBoundMs = 2_000;

async function run({ short: isShort }: ScenarioOptions): Promise<ChaosRecord> {
  const size = isShort ? short : full;
  const steadyMs = isShort ? 300 : 3_000;
  // EventSource's usual retry: long enough for the runner to have restarted the worker.
  const reconnectAfterMs = isShort ? 1_000 : 3_000;
  const backend = await startChaosBackend();
  let tt: Thumbtack | undefined;
  const extraHolders: Holder[] = [];
  try {
    tt = await startThumbtack({
      routes: chaosRoutes(backend.target),
      workers: 2,
      // A busy machine (the whole test suite beside it) can take this long to start node.
      readyTimeoutMs: 60_000,
    });
    const instance = tt;
    const load = await startMixedLoad({
      size,
      channel: 'chaos-worker-kill',
      clientUrls: [tt.url],
      controlUrls: [tt.controlUrl],
      reconnectAfterMs,
    });
    await sleep(steadyMs);

    const holders = load.holders();
    const byPort = workerPidsForClientPorts(
      tt,
      holders.map((h) => h.current.localPort!),
    );
    const workerOf = new Map(holders.map((h) => [h, byPort.get(h.current.localPort!)]));
    const workers = proxyWorkerPids(tt);
    const victimPid = workerOf.get(holders[0]!)!;
    const victims = holders.filter((h) => workerOf.get(h) === victimPid);
    const survivors = holders.filter((h) => workerOf.get(h) !== victimPid);
    const failures: string[] = [];
    if (workerOf.get(holders[0]!) === undefined || [...workerOf.values()].includes(undefined)) {
      failures.push('some held connections were found on no proxy worker');
    }
    if (survivors.length === 0 || workers.length !== 2) {
      failures.push(
        `the held connections are not spread over two workers (workers ${workers.join(', ')})`,
      );
    }
    const victimName = tt.logs.find(
      (l) => l.msg === 'child started' && l['childPid'] === victimPid,
    )!['child'] as string;

    const killedAt = Date.now();
    process.kill(victimPid, 'SIGKILL');
    await tt.waitForLog(
      (l) => l.msg === 'child exited unexpectedly; restarting' && l['child'] === victimName,
      30_000,
    );
    const exitSeenAt = Date.now();
    const newPid = await waitForRestart(tt, victimName, victimPid, 60_000);
    await tt.waitForLog((l) => l.msg === 'proxy ready' && l.pid === newPid, 60_000);
    const restartedAt = Date.now();

    // The dead worker's clients were told (closed, not hung) and are back on a connection.
    await waitFor(
      () => victims.every((h) => h.segments.length >= 2 && h.isOpen()),
      Date.now() + 60_000,
      () => `${victims.filter((h) => !h.isOpen()).length} of ${victims.length} victims not back`,
    ).catch((err: Error) => failures.push(err.message));
    const closeMs = victims.map((h) => (h.segments[0]!.closedAt ?? Infinity) - killedAt);
    const hung = closeMs.filter((ms) => ms > closeBoundMs).length;
    if (hung > 0)
      failures.push(`${hung} of the dead worker's clients not closed within ${closeBoundMs} ms`);
    const backPorts = workerPidsForClientPorts(
      tt,
      victims.map((h) => h.current.localPort ?? 0),
    );
    const onNewWorker = victims.filter((h) => backPorts.get(h.current.localPort ?? 0) === newPid);

    // The restarted worker takes new clients and delivers to them.
    let fresh: SseHolder | undefined;
    for (let i = 0; i < 64 && !fresh; i++) {
      const holder = new SseHolder(`${tt.url}/sse?ch=chaos-worker-kill&fresh=${i}`).start();
      extraHolders.push(holder);
      await waitFor(
        () => holder.current.openedAt !== undefined || holder.current.closedAt !== undefined,
        Date.now() + 5_000,
        () => 'a new SSE client did not open',
      );
      if (workerPidForClientPort(instance, holder.current.localPort ?? 0) === newPid)
        fresh = holder;
    }
    if (!fresh) failures.push('no new connection reached the restarted worker in 64 tries');
    else {
      const before = fresh.received.length;
      await waitFor(
        () => fresh!.received.length > before,
        Date.now() + 5_000,
        () => 'the restarted worker delivered nothing to a new client',
      ).catch((err: Error) => failures.push(err.message));
    }
    await sleep(steadyMs);

    const inFlightAtKill = (r: PlainResult): boolean =>
      r.startedAt <= exitSeenAt && r.endedAt >= killedAt;
    const isFailed = (r: PlainResult): boolean => r.status !== 200 || r.error !== undefined;
    const outcome = await stopMixedLoad(load, (r) => isFailed(r) && !inFlightAtKill(r));
    const { fields } = outcome;
    const survivorLosses = survivors.reduce((n, h) => n + h.losses.length, 0);
    if (fields.requestsFailed > 0) {
      failures.push(
        `${fields.requestsFailed} plain requests failed that were not in flight at the kill; expected 0`,
      );
    }
    if (survivorLosses > 0) {
      failures.push(`${survivorLosses} connections on the other worker lost; expected 0`);
    }
    if (fields.itemsLost > 0) {
      failures.push(
        `${fields.itemsLost} items not delivered to open connections: ${outcome.lostExamples.join('; ')}`,
      );
    }
    if (fields.itemsDuplicated > 0)
      failures.push(`${fields.itemsDuplicated} items delivered twice`);
    return {
      scenario: 'worker-kill',
      ...fields,
      load: `${fields.load}, 2 workers`,
      connectionsLost: survivorLosses,
      faultsInjected: 1,
      recoveryMs: restartedAt - killedAt,
      extra: {
        deadWorkerClients: victims.length,
        deadWorkerClientsClosedMaxMs: Math.max(...closeMs),
        deadWorkerClientsBack: victims.filter((h) => h.isOpen() || h.segments.length >= 2).length,
        backOnRestartedWorker: onNewWorker.length,
        plainFailedInFlightAtKill: outcome.plain.filter((r) => isFailed(r) && inFlightAtKill(r))
          .length,
      },
      failures,
    };
  } finally {
    for (const holder of extraHolders) holder.stop();
    await tt?.stop();
    await backend.close();
  }
}

export const workerKill: Scenario = {
  name: 'worker-kill',
  summary:
    "one of 2 proxy workers SIGKILLed under load [the other worker's clients: 0 errors; the dead " +
    "worker's clients closed, not hung, and back; the runner restarts it, recovery time reported]",
  run,
};
