import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { startRedisServer, type RedisServer } from '../../support/redis-server.js';
import { startThumbtack, type Thumbtack } from '../../support/thumbtack.js';
import { chaosRoutes, startChaosBackend } from '../load/chaos-backend.js';
import { waitFor } from '../load/holder.js';
import { startMixedLoad, stopMixedLoad, type LoadSize } from '../load/mixed-load.js';
import { describePlain } from '../load/plain-load.js';
import type { PublishResult } from '../load/publish-stream.js';
import type { ChaosRecord, Scenario, ScenarioOptions } from '../record.js';

/*
 * README "Many nodes", "When Redis goes away": held connections, plain proxying, keep-alives
 * carry on; publishes are refused with 503 and `Retry-After: 1` (never a 200 that vanishes);
 * /readyz answers 503 naming Redis; the outage and the recovery are logged once; when Redis
 * is back each node resubscribes and reads what was stored after the last item it saw. The
 * Redis here keeps its data across the restart (append-only file, fsync always), as a
 * production Redis with persistence does.
 */
const full: LoadSize = {
  sse: 300,
  ws: 60,
  longPoll: 40,
  plainLoops: 4,
  plainPauseMs: 20,
  publishIntervalMs: 50,
};
const short: LoadSize = {
  sse: 16,
  ws: 8,
  longPoll: 4,
  plainLoops: 2,
  plainPauseMs: 20,
  publishIntervalMs: 50,
};

interface Outage {
  downAt: number;
  upAt: number;
  /** Both nodes accepted a publish sent after Redis was back. */
  recoveredAt: number;
}

async function readyz(controlUrl: string): Promise<{ status: number; body: string }> {
  const res = await request(`${controlUrl}/readyz`, { headersTimeout: 5_000, bodyTimeout: 5_000 });
  return { status: res.statusCode, body: await res.body.text() };
}

async function run({ short: isShort }: ScenarioOptions): Promise<ChaosRecord> {
  const size = isShort ? short : full;
  const outageCount = isShort ? 1 : 3;
  const outageMs = isShort ? 1_000 : 5_000;
  const steadyMs = isShort ? 300 : 3_000;
  const redis: RedisServer = await startRedisServer([
    '--appendonly',
    'yes',
    '--appendfsync',
    'always',
  ]);
  const backend = await startChaosBackend();
  const nodes: Thumbtack[] = [];
  try {
    const startNode = (): Promise<Thumbtack> =>
      startThumbtack({
        routes: chaosRoutes(backend.target),
        workers: 1,
        readyTimeoutMs: 60_000,
        args: ['--redis', redis.url],
      });
    nodes.push(...(await Promise.all([startNode(), startNode()])));
    const load = await startMixedLoad({
      size,
      channel: 'chaos-redis-outage',
      clientUrls: nodes.map((n) => n.url),
      controlUrls: nodes.map((n) => n.controlUrl),
    });
    await sleep(steadyMs);

    const failures: string[] = [];
    const outages: Outage[] = [];
    const readyzSeen: string[] = [];
    for (let k = 0; k < outageCount; k++) {
      const downAt = Date.now();
      await redis.kill();
      await sleep(outageMs / 2);
      for (const node of nodes) {
        const probe = await readyz(node.controlUrl).catch((err: Error) => ({
          status: 0,
          body: err.message,
        }));
        readyzSeen.push(String(probe.status));
        if (probe.status !== 503 || !/redis/i.test(probe.body)) {
          failures.push(
            `/readyz during the outage answered ${probe.status} ${probe.body.trim()}; expected 503 naming Redis`,
          );
        }
      }
      await sleep(outageMs / 2);
      await redis.restart();
      const upAt = Date.now();
      const acceptedBy = (url: string): PublishResult | undefined =>
        load.stream.results.find(
          (r) =>
            r.sentAt > upAt && r.status === 200 && nodes[r.seq % nodes.length]!.controlUrl === url,
        );
      await waitFor(
        () => nodes.every((n) => acceptedBy(n.controlUrl) !== undefined),
        Date.now() + 30_000,
        () => 'a node accepted no publish after Redis came back',
      );
      outages.push({
        downAt,
        upAt,
        recoveredAt: Math.max(...nodes.map((n) => acceptedBy(n.controlUrl)!.doneAt)),
      });
      await sleep(steadyMs);
    }
    const outcome = await stopMixedLoad(load);
    const { fields } = outcome;

    const inOutage = (r: PublishResult): boolean =>
      outages.some((o) => r.doneAt >= o.downAt && r.sentAt <= o.recoveredAt);
    const refused = outcome.published.filter((r) => r.status !== 200);
    const acceptedInOutage = outcome.published.filter(
      (r) => r.status === 200 && outages.some((o) => r.sentAt >= o.downAt && r.doneAt <= o.upAt),
    );
    const outside = refused.filter((r) => !inOutage(r));
    if (outside.length > 0) failures.push(`${outside.length} publishes refused while Redis was up`);
    const notAsPromised = refused.filter((r) => r.status !== 503 || r.retryAfter !== '1');
    if (notAsPromised.length > 0) {
      const kinds = [
        ...new Set(
          notAsPromised.map(
            (r) =>
              `${r.status ?? r.error}${r.status === 503 ? ` Retry-After ${r.retryAfter}` : ''}`,
          ),
        ),
      ];
      failures.push(
        `${notAsPromised.length} publishes refused otherwise than 503 with Retry-After: 1 (${kinds.join(', ')})`,
      );
    }
    if (fields.requestsFailed > 0) {
      const kinds = outcome.plain
        .filter((r) => r.status !== 200 || r.error !== undefined)
        .map(describePlain);
      failures.push(
        `${fields.requestsFailed} plain requests failed (${[...new Set(kinds)].join(', ')}); expected 0`,
      );
    }
    if (fields.connectionsLost > 0) {
      failures.push(
        `${fields.connectionsLost} held connections lost (${outcome.lostReasons}); expected 0`,
      );
    }
    if (fields.itemsLost > 0) {
      failures.push(
        `${fields.itemsLost} items accepted with 200 and not delivered: ${outcome.lostExamples.join('; ')}`,
      );
    }
    if (fields.itemsDuplicated > 0)
      failures.push(`${fields.itemsDuplicated} items delivered twice`);
    // Logged once per outage by each node's handler, not once per failed command.
    for (const [index, node] of nodes.entries()) {
      const down = node.logs.filter((l) => String(l.msg).startsWith('Redis unreachable')).length;
      const back = node.logs.filter((l) =>
        String(l.msg).startsWith('Redis reachable again'),
      ).length;
      if (down !== outages.length || back !== outages.length) {
        failures.push(
          `node ${index} logged ${down} outages and ${back} recoveries for ${outages.length} outages`,
        );
      }
    }
    const recovery = outages.map((o) => o.recoveredAt - o.upAt);
    return {
      scenario: 'redis-outage',
      ...fields,
      load: `${fields.load}, over 2 nodes and one Redis`,
      faultsInjected: outages.length,
      recoveryMs: Math.max(...recovery),
      extra: {
        outage: `${outageCount} × ${outageMs / 1000} s (redis-server SIGKILL, restarted with its data)`,
        recoveryEachMs: recovery.join('/'),
        publishesRefusedInOutage: refused.length - outside.length,
        refusedAs:
          [...new Set(refused.map((r) => String(r.status ?? r.error)))].join('/') || 'none',
        publishesAcceptedInOutage: acceptedInOutage.length,
        readyzInOutage: readyzSeen.join('/'),
        deliveredThoughRefused: outcome.deliveredUnaccepted,
      },
      failures,
    };
  } finally {
    await Promise.all(nodes.map((n) => n.stop()));
    await backend.close();
    await redis.stop();
  }
}

export const redisOutage: Scenario = {
  name: 'redis-outage',
  summary:
    'Redis stopped and restarted under load, two nodes [publishes refused with 503 + Retry-After: 1 in the outage, ' +
    'accepted after; held connections lost 0; plain requests failed 0; items accepted and not delivered 0]',
  run,
};
