import { setTimeout as sleep } from 'node:timers/promises';
import {
  childPid,
  startThumbtack,
  waitForRestart,
  type Thumbtack,
} from '../../support/thumbtack.js';
import { chaosRoutes, startChaosBackend } from '../load/chaos-backend.js';
import { waitFor } from '../load/holder.js';
import { startMixedLoad, stopMixedLoad, type LoadSize } from '../load/mixed-load.js';
import type { PublishResult } from '../load/publish-stream.js';
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
  sse: 20,
  ws: 10,
  longPoll: 5,
  plainLoops: 2,
  plainPauseMs: 20,
  publishIntervalMs: 50,
};

/** A publish refused while the handler was down: the publisher sees the failure. */
const outageErrors = new Set(['ECONNREFUSED', 'ECONNRESET', 'UND_ERR_SOCKET', 'EPIPE']);

interface Outage {
  killedAt: number;
  /** The new handler's `handler ready` line arrived. */
  readyAt: number;
  /** The first publish sent after the kill that was accepted came back. */
  recoveredAt: number;
}

async function run({ short: isShort }: ScenarioOptions): Promise<ChaosRecord> {
  const size = isShort ? short : full;
  const kills = isShort ? 1 : 5;
  const steadyMs = isShort ? 300 : 3_000;
  const backend = await startChaosBackend();
  let tt: Thumbtack | undefined;
  try {
    tt = await startThumbtack({
      routes: chaosRoutes(backend.target),
      workers: 2,
      // A busy machine (the whole test suite beside it) can take this long to start node.
      readyTimeoutMs: 60_000,
    });
    const load = await startMixedLoad({
      size,
      channel: 'chaos-handler-kill',
      clientUrls: [tt.url],
      controlUrls: [tt.controlUrl],
    });
    await sleep(steadyMs);
    const outages: Outage[] = [];
    for (let k = 0; k < kills; k++) {
      const pid = childPid(tt, 'handler')!;
      const killedAt = Date.now();
      process.kill(pid, 'SIGKILL');
      // Bounds as long as a start (readyTimeoutMs): a busy machine starts node slowly.
      const newPid = await waitForRestart(tt, 'handler', pid, 60_000);
      await tt.waitForLog((l) => l.msg === 'handler ready' && l.pid === newPid, 60_000);
      const readyAt = Date.now();
      const firstAccepted = (): PublishResult | undefined =>
        load.stream.results.find((r) => r.sentAt > killedAt && r.status === 200);
      await waitFor(
        () => firstAccepted() !== undefined,
        Date.now() + 60_000,
        () => 'no publish accepted after the handler came back',
      );
      outages.push({ killedAt, readyAt, recoveredAt: firstAccepted()!.doneAt });
      await sleep(steadyMs);
    }
    const outcome = await stopMixedLoad(load);

    const inOutage = (r: PublishResult): boolean =>
      outages.some((o) => r.doneAt >= o.killedAt && r.sentAt <= o.recoveredAt);
    const refused = outcome.published.filter((r) => r.status !== 200);
    const refusedInOutage = refused.filter(inOutage);
    const refusedReasons = new Map<string, number>();
    for (const r of refused) {
      const key = String(r.status ?? r.error);
      refusedReasons.set(key, (refusedReasons.get(key) ?? 0) + 1);
    }
    const failures: string[] = [];
    const { fields } = outcome;
    if (fields.requestsFailed > 0) {
      const failed = outcome.plain.filter((r) => r.status !== 200 || r.error !== undefined);
      const kinds = [...new Set(failed.map((r) => String(r.status ?? r.error)))].join(', ');
      failures.push(`${fields.requestsFailed} plain requests failed (${kinds}); expected 0`);
    }
    if (fields.connectionsLost > 0) {
      failures.push(
        `${fields.connectionsLost} held connections lost (${outcome.lostReasons}); expected 0`,
      );
    }
    if (fields.itemsLost > 0) {
      // When each missed item was answered, relative to the next kill.
      const timing = [...outcome.missed].map((seq) => {
        const r = outcome.published.find((p) => p.seq === seq)!;
        const kill = outages.find((o) => o.killedAt >= r.sentAt);
        return `i${seq} answered ${kill ? `${kill.killedAt - r.doneAt} ms before a kill` : 'after the last kill'}`;
      });
      failures.push(
        `${fields.itemsLost} items accepted with 200 and not delivered; expected 0: ` +
          `${outcome.lostExamples.join('; ')} (${timing.slice(0, 5).join(', ')})`,
      );
    }
    if (fields.itemsDuplicated > 0)
      failures.push(`${fields.itemsDuplicated} items delivered twice`);
    if (refused.length > refusedInOutage.length) {
      failures.push(
        `${refused.length - refusedInOutage.length} publishes refused while the handler was up`,
      );
    }
    const odd = refusedInOutage.filter(
      (r) => r.status !== undefined || !outageErrors.has(r.error!),
    );
    if (odd.length > 0) {
      failures.push(
        `${odd.length} publishes during an outage ended otherwise than refused or reset: ` +
          [...new Set(odd.map((r) => String(r.status ?? r.error)))].join(', '),
      );
    }
    const recovery = outages.map((o) => o.recoveredAt - o.killedAt);
    return {
      scenario: 'handler-kill',
      ...fields,
      faultsInjected: outages.length,
      recoveryMs: Math.max(...recovery),
      extra: {
        recoveryEachMs: recovery.join('/'),
        handlerReadyMaxMs: Math.max(...outages.map((o) => o.readyAt - o.killedAt)),
        publishesRefusedInOutage: refusedInOutage.length,
        refusedAs: [...refusedReasons].map(([k, n]) => `${n} ${k}`).join(' ') || 'none',
        deliveredThoughRefused: outcome.deliveredUnaccepted,
      },
      failures,
    };
  } finally {
    await tt?.stop();
    await backend.close();
  }
}

export const handlerKill: Scenario = {
  name: 'handler-kill',
  summary:
    'the handler SIGKILLed under load, 5 times in a row [plain requests failed 0, held connections lost 0, ' +
    'publishes accepted and not delivered 0; publishes refused in the outage and recovery time reported]',
  run,
};
