import { WorkerStats } from '../../../proxy/worker-stats.js';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { BackendPools } from '../../../proxy/backend/backend-pools.js';
import { ProxyContext } from '../../../proxy/proxy-context.js';
import { RouteSigners } from '../../../proxy/backend/route-signers.js';
import { loadSettings } from '../../../src/config/load.js';
import { gripFeatureHeader } from '../../../src/grip/instruct.js';
import { parseRoutes } from '../../../src/routes/parse.js';
import type { Route } from '../../../src/routes/route.js';
import { buildRouteTable } from '../../../src/routes/route-table.js';

const { table } = buildRouteTable(
  parseRoutes('id=grip 127.0.0.1:1\nid=plain,no_grip 127.0.0.1:1', 'routes'),
);
const route = (id: string): Route => table.routes.find((candidate) => candidate.id === id)!;
const opened: RouteSigners[] = [];

/** A worker's context whose GRIP routes sign with `sigKey` (empty: no signing). */
async function contextSigningWith(sigKey: string): Promise<ProxyContext> {
  const signers = new RouteSigners(sigKey, 'pushpin');
  opened.push(signers);
  await signers.prepare(table);
  const { settings } = loadSettings([], {});
  return new ProxyContext(
    settings,
    pino({ level: 'silent' }),
    table,
    new BackendPools(1000),
    signers,
    new WorkerStats(),
  );
}

afterAll(() => {
  for (const signers of opened) signers.close();
});

describe('ProxyContext.appendGripRequestHeaders', () => {
  it('appends Grip-Sig then Grip-Feature after what the list holds', async () => {
    const ctx = await contextSigningWith('changeme');
    const headers = ['host', 'example.com'];
    ctx.appendGripRequestHeaders(route('grip'), headers);
    expect(headers).toEqual([
      'host',
      'example.com',
      'grip-sig',
      ctx.signers.current(route('grip')),
      'grip-feature',
      gripFeatureHeader,
    ]);
    expect(headers[3]).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
  });

  it('appends only Grip-Feature when there is no signing key', async () => {
    const ctx = await contextSigningWith('');
    const headers = ['host', 'example.com'];
    ctx.appendGripRequestHeaders(route('grip'), headers);
    expect(headers).toEqual(['host', 'example.com', 'grip-feature', gripFeatureHeader]);
  });

  it('appends nothing for a no_grip route', async () => {
    const ctx = await contextSigningWith('changeme');
    const headers = ['host', 'example.com'];
    ctx.appendGripRequestHeaders(route('plain'), headers);
    expect(headers).toEqual(['host', 'example.com']);
  });
});
