import { setTimeout as sleep } from 'node:timers/promises';
import { startThumbtack, type Thumbtack } from '../../support/thumbtack.js';
import { chaosRoutes, startChaosBackend } from '../load/chaos-backend.js';
import { waitFor } from '../load/holder.js';
import { startMixedLoad, stopMixedLoad, type LoadSize } from '../load/mixed-load.js';
import { describePlain, type PlainResult } from '../load/plain-load.js';
import type { ChaosRecord, Scenario, ScenarioOptions } from '../record.js';

/*
 * Long-polls are left out: every answer sends the next poll to the backend, so a poll
 * answered while it is down is a plain request refused with 502, which the plain loops
 * already measure.
 */
const full: LoadSize = {
  sse: 300,
  ws: 50,
  longPoll: 0,
  plainLoops: 4,
  plainPauseMs: 20,
  publishIntervalMs: 100,
};
const short: LoadSize = {
  sse: 20,
  ws: 8,
  longPoll: 0,
  plainLoops: 2,
  plainPauseMs: 10,
  publishIntervalMs: 100,
};

/**
 * WebSocket-over-HTTP retries as this scenario configures them: 0.35 s, doubling, 6 times.
 * Not 0.25 s: its later delays (2, 4, 8 s plus under 0.25 s of jitter) are whole multiples of
 * the flap's 4 s period, so a message whose retry once lands in a downtime lands in the next
 * ones too: with downtimes a little over 2 s, some ran out of retries. A steady flap is
 * the worst case for this schedule (Pushpin's); 0.35 s keeps the same shape out of step.
 */
const retryDelaySeconds = 0.35;
const retryMax = 6;

interface Downtime {
  downAt: number;
  upAt: number;
}

async function run({ short: isShort }: ScenarioOptions): Promise<ChaosRecord> {
  const size = isShort ? short : full;
  const periodMs = isShort ? 750 : 2_000;
  const flapMs = isShort ? 3_000 : 30_000;
  const echoEveryMs = isShort ? 250 : 1_000;
  const backend = await startChaosBackend();
  let tt: Thumbtack | undefined;
  let echoTimer: NodeJS.Timeout | undefined;
  try {
    tt = await startThumbtack({
      routes: chaosRoutes(backend.target),
      workers: 2,
      readyTimeoutMs: 60_000,
      args: ['--ws-retry-delay', String(retryDelaySeconds), '--ws-retry-max', String(retryMax)],
    });
    const load = await startMixedLoad({
      size,
      channel: 'chaos-backend-flap',
      clientUrls: [tt.url],
      controlUrls: [tt.controlUrl],
    });
    let echoSeq = 0;
    echoTimer = setInterval(() => {
      for (const holder of load.ws) holder.sendEcho(echoSeq);
      echoSeq++;
    }, echoEveryMs);

    const downtimes: Downtime[] = [];
    const flapStart = Date.now();
    while (Date.now() - flapStart < flapMs) {
      await sleep(periodMs);
      const downAt = Date.now();
      await backend.down();
      await sleep(periodMs);
      await backend.up();
      downtimes.push({ downAt, upAt: Date.now() });
    }
    clearInterval(echoTimer);
    const failures: string[] = [];
    // Every message sent during a downtime is retried until it gets through.
    await waitFor(
      () => load.ws.every((h) => h.echoed.size === h.echoesSent),
      Date.now() + 20_000,
      () =>
        `${load.ws.reduce((n, h) => n + h.echoesSent - h.echoed.size, 0)} WebSocket messages not answered`,
    ).catch((err: Error) => failures.push(err.message));
    await sleep(isShort ? 200 : 1_000);

    const isGatewayError = (r: PlainResult): boolean => r.status === 502 || r.status === 504;
    // A request that overlaps a downtime may fail; one entirely while the backend is up may not.
    const overlapsDowntime = (r: PlainResult): boolean =>
      downtimes.some((d) => r.endedAt >= d.downAt && r.startedAt <= d.upAt);
    const isFailed = (r: PlainResult): boolean => r.status !== 200 || r.error !== undefined;
    const outcome = await stopMixedLoad(load, (r) => isFailed(r) && !overlapsDowntime(r));
    const { fields } = outcome;
    const whileDown = outcome.plain.filter((r) => isFailed(r) && overlapsDowntime(r));
    const otherStatus = whileDown.filter((r) => !isGatewayError(r));
    if (fields.requestsFailed > 0) {
      const kinds = outcome.plain
        .filter((r) => isFailed(r) && !overlapsDowntime(r))
        .map(describePlain);
      failures.push(
        `${fields.requestsFailed} plain requests failed while the backend was up: ${[...new Set(kinds)].join(', ')}`,
      );
    }
    if (otherStatus.length > 0) {
      failures.push(
        `${otherStatus.length} requests failed otherwise than 502/504 while the backend was down: ` +
          [...new Set(otherStatus.map(describePlain))].join(', '),
      );
    }
    // The access log names the route of every gateway error the clients saw.
    for (const status of [502, 504]) {
      const seen = outcome.plain.filter((r) => r.status === status).length;
      const named = tt.logs.filter(
        (l) =>
          l.msg === 'request' &&
          l['status'] === status &&
          l['route'] === 'chaos' &&
          String(l['path']).startsWith('/plain'),
      ).length;
      if (named !== seen)
        failures.push(`${seen} clients got ${status} but ${named} access lines name route chaos`);
    }
    if (fields.connectionsLost > 0) {
      failures.push(
        `${fields.connectionsLost} held connections lost (${outcome.lostReasons}); expected 0`,
      );
    }
    if (fields.itemsLost > 0) {
      failures.push(`${fields.itemsLost} items not delivered: ${outcome.lostExamples.join('; ')}`);
    }
    if (fields.itemsDuplicated > 0)
      failures.push(`${fields.itemsDuplicated} items delivered twice`);

    // Retries as configured: attempt n waits delay × 2^(n-1) plus up to one delay of jitter.
    const retries = tt.logs.filter((l) => l.msg === 'backend request failed; retrying');
    const baseMs = retryDelaySeconds * 1000;
    const offSchedule = retries.filter((l) => {
      const attempt = l['attempt'] as number;
      const delay = l['delayMs'] as number;
      const least = baseMs * 2 ** (attempt - 1);
      return attempt > retryMax || delay < least || delay >= least + baseMs;
    });
    if (offSchedule.length > 0) {
      failures.push(
        `${offSchedule.length} WebSocket-over-HTTP retries off the configured schedule`,
      );
    }
    const givenUp = tt.logs.filter(
      (l) => typeof l['err'] === 'string' && /retries/.test(l['err'] as string),
    );
    if (givenUp.length > 0)
      failures.push(`${givenUp.length} WebSocket-over-HTTP sessions gave up retrying`);

    const recovery = downtimes.map((d) => {
      const first = outcome.plain.find((r) => r.startedAt >= d.upAt && r.status === 200);
      return first ? first.endedAt - d.upAt : Infinity;
    });
    const echoesSent = load.ws.reduce((n, h) => n + h.echoesSent, 0);
    return {
      scenario: 'backend-flap',
      ...fields,
      load: `${fields.load}, ${load.ws.length} WebSocket messages every ${echoEveryMs} ms`,
      faultsInjected: downtimes.length,
      recoveryMs: Math.max(...recovery),
      extra: {
        flap: `down/up every ${periodMs / 1000} s for ${flapMs / 1000} s`,
        gatewayErrorsWhileDown: whileDown.filter(isGatewayError).length,
        statusesWhileDown: [...new Set(whileDown.map(describePlain))].join('/') || 'none',
        wsMessagesAnswered: `${load.ws.reduce((n, h) => n + h.echoed.size, 0)}/${echoesSent}`,
        wsRetries: retries.length,
        wsRetryMaxAttempt: Math.max(0, ...retries.map((l) => l['attempt'] as number)),
      },
      failures,
    };
  } finally {
    clearInterval(echoTimer);
    await tt?.stop();
    await backend.close();
  }
}

export const backendFlap: Scenario = {
  name: 'backend-flap',
  summary:
    'the backend down/up every 2 s for 30 s [errors only while down, as 502/504 with the route named; ' +
    'held connections lost 0; WebSocket-over-HTTP messages retried as configured, all answered]',
  run,
};
