import fs from 'node:fs';
import http from 'node:http';
import { Publisher } from '@fanoutio/grip';
import { fetch as undiciFetch } from 'undici';
import { afterEach, describe, expect, test } from 'vitest';
import { startBackend, stopAllBackends, type Backend } from '../support/backend.js';
import { send } from '../support/client.js';
import {
  closeAllHeldClients,
  openHeldClient,
  publishItems,
  responseItem,
  streamItem,
  type HeldClient,
} from '../support/held-client.js';
import {
  childPid,
  proxyWorkerPids,
  startThumbtack,
  stopAllThumbtacks,
  waitForRestart,
  waitUntil,
  workerPidForClientPort,
  type Thumbtack,
} from '../support/thumbtack.js';

/*
 * The property the process split exists for: the handler or one proxy worker dies with
 * SIGKILL while clients are held and plain traffic flows, and nothing else notices.
 */

// Importing undici 7 makes Node 20's built-in fetch refuse js-grip's Content-Length header.
const publisherOptions = { fetch: undiciFetch as unknown as typeof fetch };

const keepAlive = 'ka\\n; format=cstring; timeout=1';

/** /plain answers at once; /stream and /response hold on ?channel= (response: ?timeout=). */
function gripBackend(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url!, 'http://backend');
  const channel = url.searchParams.get('channel') ?? 'none';
  if (url.pathname === '/stream') {
    res.writeHead(200, {
      'content-type': 'text/plain',
      'grip-hold': 'stream',
      'grip-channel': channel,
      'grip-keep-alive': keepAlive,
    });
    res.end(`open ${channel}\n`);
    return;
  }
  if (url.pathname === '/response') {
    res.writeHead(200, {
      'content-type': 'text/plain',
      'grip-hold': 'response',
      'grip-channel': channel,
      'grip-timeout': url.searchParams.get('timeout') ?? '30',
    });
    res.end(`timed out ${channel}\n`);
    return;
  }
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end('plain ok');
}

interface PlainResult {
  startedAt: number;
  endedAt: number;
  status: number | undefined;
  error: string | undefined;
}

/** Loops of plain requests, each on a new connection (so both workers get some), until stopped. */
function startPlainTraffic(
  instance: Thumbtack,
  loops: number,
): { results: PlainResult[]; stop(): Promise<void> } {
  const results: PlainResult[] = [];
  let isStopped = false;
  const loop = async (): Promise<void> => {
    // Bounded: the test stops the loops; this cap only guards a runaway test.
    for (let i = 0; i < 5_000 && !isStopped; i++) {
      const startedAt = Date.now();
      try {
        const res = await send(`${instance.url}/plain?i=${i}`, { timeoutMs: 5_000 });
        const body = res.body.toString();
        results.push({
          startedAt,
          endedAt: Date.now(),
          status: res.status,
          error: body === 'plain ok' ? undefined : `body ${JSON.stringify(body)}`,
        });
      } catch (err) {
        results.push({
          startedAt,
          endedAt: Date.now(),
          status: undefined,
          error: (err as Error).message,
        });
      }
    }
  };
  const running = Array.from({ length: loops }, () => loop());
  return {
    results,
    stop: async () => {
      isStopped = true;
      await Promise.all(running);
    },
  };
}

/**
 * Gone but not reaped (the paused runner cannot wait for it): a zombie whose other threads
 * have exited too, so its sockets are closed. The leader turns zombie before the rest.
 */
function isDead(pid: number): boolean {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const isZombie = stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  return isZombie && fs.readdirSync(`/proc/${pid}/task`).length === 1;
}

function keepAliveCount(client: HeldClient): number {
  return client.text().split('ka\n').length - 1;
}

let runnerToResume: number | undefined;

afterEach(async () => {
  // A failed test must not leave the runner stopped: it could not be asked to exit.
  if (runnerToResume !== undefined) process.kill(runnerToResume, 'SIGCONT');
  runnerToResume = undefined;
  closeAllHeldClients();
  await stopAllThumbtacks();
  await stopAllBackends();
});

describe('fault isolation', () => {
  test('handler SIGKILL: plain requests, keep-alives and hold timeouts go on; publishes are refused while it is down and reach the old holds after the restart', async () => {
    const backend: Backend = await startBackend(gripBackend);
    const tt = await startThumbtack({ routes: `* ${backend.target}`, workers: 2 });
    const streams = Array.from({ length: 6 }, (_, i) =>
      openHeldClient(`${tt.url}/stream?channel=${i % 2 === 0 ? 'fi-shared' : `fi-own-${i}`}`),
    );
    await Promise.all(
      streams.map((s, i) => s.waitFor(`open ${i % 2 === 0 ? 'fi-shared' : `fi-own-${i}`}\n`)),
    );
    const longPoll = openHeldClient(`${tt.url}/response?channel=fi-poll&timeout=30`);
    // 5 s: the shortest Grip-Timeout (Pushpin clamps lower values to it).
    const shortPoll = openHeldClient(`${tt.url}/response?channel=fi-short&timeout=5`);
    // Both workers hold something: the check below is about every worker, not one.
    const ports = await Promise.all([...streams, longPoll, shortPoll].map((c) => c.localPort));
    const holders = new Set(ports.map((port) => workerPidForClientPort(tt, port)));
    expect(holders.has(undefined)).toBe(false);

    // Delivery works before the kill (and the holds are subscribed by now).
    const publisher = new Publisher({ control_uri: tt.controlUrl }, publisherOptions);
    await publisher.publishHttpStream('fi-shared', 'before\n');
    for (const i of [0, 2, 4]) await streams[i]!.waitFor('before\n');

    const traffic = startPlainTraffic(tt, 2);
    const handlerPid = childPid(tt, 'handler')!;
    expect(handlerPid).toBeGreaterThan(0);
    // The runner is paused while the handler is dead so the outage lasts long enough to
    // see keep-alives and a hold timeout happen in it; SIGCONT lets it restart the handler.
    runnerToResume = tt.process.pid!;
    process.kill(runnerToResume, 'SIGSTOP');
    process.kill(handlerPid, 'SIGKILL');
    const killedAt = Date.now();
    await waitUntil(() => isDead(handlerPid));
    const keepAlivesAtKill = streams.map(keepAliveCount);

    // While it is down: publishes fail at the publisher, never a 200 that vanishes. A
    // kept-alive control connection fails as closed rather than refused.
    await expect(
      publishItems(tt.controlUrl, [streamItem('fi-shared', 'lost?\n')]),
    ).rejects.toMatchObject({
      code: expect.stringMatching(/^(ECONNREFUSED|ECONNRESET|UND_ERR_SOCKET)$/) as unknown,
    });
    await expect(publisher.publishHttpStream('fi-shared', 'lost?\n')).rejects.toBeTruthy();

    // Keep-alives keep coming (two more periods of 1 s) and the 5 s timeout still fires.
    await Promise.all(
      streams.map((s, i) => s.waitForCount('ka\n', keepAlivesAtKill[i]! + 2, 4_000)),
    );
    await shortPoll.waitFor('timed out fi-short\n', 7_000);
    expect(await shortPoll.status).toBe(200);
    expect(await shortPoll.closed).toBe('end');
    const outageEnd = Date.now();

    process.kill(runnerToResume, 'SIGCONT');
    runnerToResume = undefined;
    await waitForRestart(tt, 'handler', handlerPid);
    await tt.waitForLog((l) => l.msg === 'handler ready' && l.pid !== handlerPid);

    // The clients do nothing: the workers' SUB sockets reconnect and subscribe again.
    await publisher.publishHttpStream('fi-shared', 'after shared\n');
    for (let i = 1; i < 6; i += 2)
      await publisher.publishHttpStream(`fi-own-${i}`, `after own ${i}\n`);
    await publishItems(tt.controlUrl, [responseItem('fi-poll', 'after poll\n')]);
    await Promise.all(
      streams.map((s, i) => s.waitFor(i % 2 === 0 ? 'after shared\n' : `after own ${i}\n`)),
    );
    await longPoll.waitFor('after poll\n');
    expect(await longPoll.status).toBe(200);
    expect(streams.every((s) => !s.isClosed())).toBe(true);
    expect(streams.every((s) => !s.text().includes('lost?'))).toBe(true);

    await traffic.stop();
    const duringOutage = traffic.results.filter(
      (r) => r.startedAt >= killedAt && r.endedAt <= outageEnd,
    );
    expect(duringOutage.length).toBeGreaterThan(5);
    expect(traffic.results.filter((r) => r.error !== undefined || r.status !== 200)).toEqual([]);
  }, 30_000);

  test('proxy worker SIGKILL: the other worker and the handler keep serving, and the runner restarts it', async () => {
    const backend = await startBackend(gripBackend);
    const tt = await startThumbtack({ routes: `* ${backend.target}`, workers: 2 });
    const [firstPid, secondPid] = proxyWorkerPids(tt);
    expect(secondPid).toBeDefined();

    // Held streams until both workers hold some (the kernel spreads connections by hash).
    const held: { client: HeldClient; pid: number; channel: string }[] = [];
    for (let i = 0; i < 64; i++) {
      const client = openHeldClient(`${tt.url}/stream?channel=wk-${i}`);
      await client.waitFor(`open wk-${i}\n`);
      held.push({
        client,
        pid: workerPidForClientPort(tt, await client.localPort)!,
        channel: `wk-${i}`,
      });
      const pids = new Set(held.map((h) => h.pid));
      if (held.length >= 6 && pids.has(firstPid!) && pids.has(secondPid!)) break;
    }
    const victim = held[0]!.pid;
    const survivors = held.filter((h) => h.pid !== victim);
    const victims = held.filter((h) => h.pid === victim);
    expect(survivors.length).toBeGreaterThan(0);
    const victimName = tt.logs.find((l) => l.msg === 'child started' && l['childPid'] === victim)![
      'child'
    ] as string;

    process.kill(victim, 'SIGKILL');
    await Promise.all(victims.map((h) => h.client.closed));

    // The other worker and the handler go on: held streams get publishes, new requests work.
    for (const { client, channel } of survivors) {
      const res = await publishItems(tt.controlUrl, [
        streamItem(channel, `still here ${channel}\n`),
      ]);
      expect(res.status).toBe(200);
      await client.waitFor(`still here ${channel}\n`);
    }
    for (let i = 0; i < 10; i++) {
      const res = await send(`${tt.url}/plain?after-kill=${i}`);
      expect(res.status).toBe(200);
    }

    // The runner starts a new worker, which serves holds too.
    const newPid = await waitForRestart(tt, victimName, victim);
    await tt.waitForLog((l) => l.msg === 'proxy ready' && l.pid === newPid);
    let onNew: HeldClient | undefined;
    for (let i = 0; i < 64 && !onNew; i++) {
      const client = openHeldClient(`${tt.url}/stream?channel=wk-new`);
      await client.waitFor('open wk-new\n');
      if (workerPidForClientPort(tt, await client.localPort) === newPid) onNew = client;
    }
    expect(onNew).toBeDefined();
    await publishItems(tt.controlUrl, [streamItem('wk-new', 'from the new worker\n')]);
    await onNew!.waitFor('from the new worker\n');
    expect(survivors.every((h) => !h.client.isClosed())).toBe(true);
  });
});
