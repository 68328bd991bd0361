import uws from 'uWebSockets.js';
import { loadSettings } from '../src/config/load.js';
import { ThumbtackError } from '../src/errors.js';
import { createLogger, type Logger } from '../src/log.js';
import { loadRoutesFile } from '../src/routes/load.js';
import { BackendPools } from './backend/backend-pools.js';
import { ChannelSubscriptions } from './bus/channel-subscriptions.js';
import { ConnectionCap, defaultConnectionLimit } from './connection-cap.js';
import { GripResponder } from './hold/grip-responder.js';
import { ProxyContext } from './proxy-context.js';
import { RouteSigners } from './backend/route-signers.js';
import { ClientServer } from './http/client-server.js';

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const { settings } = loadSettings(argv[0] === 'proxy' ? argv.slice(1) : argv);
  const log = createLogger('proxy', settings.logLevel);
  if (!Function.prototype.toString.call(uws.App).includes('[native code]')) {
    log.warn(
      'uWebSockets.js fell back to its slow JavaScript emulation: its native binary did not load on this platform',
    );
  }
  const { table, warnings } = loadRoutesFile(settings.routes);
  for (const warning of warnings) log.warn(warning);
  const signers = new RouteSigners(settings.sigKey, settings.sigIss);
  await signers.prepare(table);
  const pools = new BackendPools(Math.round(settings.backendTimeout * 1000));
  const subscriptions = new ChannelSubscriptions(
    settings.bus,
    log.child({ component: 'proxy.subscriptions' }),
  );
  const ctx = new ProxyContext(
    settings,
    log.child({ component: 'proxy.request' }),
    table,
    pools,
    signers,
  );
  const grip = new GripResponder(
    ctx,
    subscriptions,
    log.child({ component: 'proxy.hold' }),
    settings.streamBufferMax,
    settings.subscriptionMax,
  );
  const { holds } = grip;
  const server = new ClientServer(ctx, grip);
  const port = await server.listen(settings.host, settings.port);
  const connectionLimit = settings.maxConnections || defaultConnectionLimit();
  if (connectionLimit !== undefined) {
    server.connectionCap = new ConnectionCap(
      connectionLimit,
      server,
      log.child({ component: 'proxy.cap' }),
    );
  }
  log.info(
    { host: settings.host, port, routes: table.routes.length, maxConnections: connectionLimit },
    'proxy ready',
  );

  process.on('SIGHUP', () => void reloadRoutes(settings.routes, ctx, signers, log));
  let isStopping = false;
  const stop = (signal: string) => {
    if (isStopping) return;
    isStopping = true;
    log.info(
      {
        signal,
        inFlight: ctx.inFlight.size,
        holds: holds.size,
        channels: subscriptions.channelCount,
        // Timers that keep the process alive: hold timeouts and keep-alives; a leak shows here.
        timers: process.getActiveResourcesInfo().filter((type) => type === 'Timeout').length,
        slowClients: grip.slowClients,
      },
      'draining',
    );
    server.stopListening();
    grip.isDraining = true;
    for (const hold of [...holds]) hold.end();
    for (const session of [...server.webSockets]) session.shutdown();
    const deadline = Date.now() + settings.drainTimeout * 1000;
    const check = setInterval(() => {
      if (ctx.inFlight.size > 0 && Date.now() < deadline) return;
      clearInterval(check);
      if (ctx.inFlight.size > 0) {
        log.warn({ inFlight: ctx.inFlight.size }, 'drain timeout: cutting requests');
      }
      subscriptions.close();
      signers.close();
      server.connectionCap?.close();
      server.stopListening();
      void pools.close().finally(() => process.exit(0));
    }, 50);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

async function reloadRoutes(
  file: string,
  ctx: ProxyContext,
  signers: RouteSigners,
  log: Logger,
): Promise<void> {
  try {
    const { table, warnings } = loadRoutesFile(file);
    for (const warning of warnings) log.warn(warning);
    await signers.prepare(table);
    ctx.routes = table;
    log.info({ routes: table.routes.length }, 'routes reloaded');
  } catch (err) {
    log.error({ err: (err as Error).message }, 'routes reload failed; keeping the old routes');
  }
}

main().catch((err: unknown) => {
  if (err instanceof ThumbtackError) {
    process.stderr.write(`thumbtack proxy: ${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`thumbtack proxy: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
