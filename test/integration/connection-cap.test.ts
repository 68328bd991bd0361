import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { startBackend, stopAllBackends } from '../support/backend.js';
import { closeAllHeldClients, openHeldClient, type HeldClient } from '../support/held-client.js';
import { proxyWorkerPids, startThumbtack, stopAllThumbtacks } from '../support/thumbtack.js';

afterEach(async () => {
  closeAllHeldClients();
  await stopAllThumbtacks();
  await stopAllBackends();
});

/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

describe('connection cap', () => {
  it('a worker at its cap stops accepting, logs it once, does not spin, and accepts again once clients leave', async () => {
    const backend = await startBackend((_req, res) => {
      res.writeHead(200, { 'Grip-Hold': 'stream', 'Grip-Channel': 'cap' });
      res.end('held\n');
    });
    const thumbtack = await startThumbtack({
      routes: `* ${backend.target}\n`,
      args: ['--max-connections', '40'],
    });
    const [worker] = proxyWorkerPids(thumbtack);
    const held: HeldClient[] = [];
    let refused = 0;
    // One at a time, as clients trickle in: the cap must catch a steady climb exactly.
    for (let i = 0; i < 80; i++) {
      const client = openHeldClient(`${thumbtack.url}/`);
      const outcome = await Promise.race([
        client.waitFor('held\n', 5_000).then(() => 'held' as const),
        client.closed.then(() => 'closed' as const),
      ]);
      if (outcome === 'held') held.push(client);
      else refused++;
    }
    expect(held.length).toBeGreaterThan(0);
    expect(held.length).toBeLessThanOrEqual(40);
    expect(refused).toBeGreaterThan(0);
    const capLines = thumbtack.logs.filter((l) => l.msg.startsWith('connection cap reached'));
    expect(capLines).toHaveLength(1);
    expect(capLines[0]!['limit']).toBe(40);

    // At the cap the worker idles: no accept loop burning a core.
    const before = cpuSeconds(worker!);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(cpuSeconds(worker!) - before).toBeLessThan(0.3);

    for (const client of held) client.destroy();
    await thumbtack.waitForLog((l) => l.msg === 'accepting connections again');
    const again = openHeldClient(`${thumbtack.url}/`);
    await again.waitFor('held\n');
  });
});
