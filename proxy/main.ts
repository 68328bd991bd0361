import uws from 'uWebSockets.js';
import { loadSettings } from '../src/config/load.js';
import { logPushpinIgnored } from '../src/config/pushpin-conf-log.js';
import { ThumbtackError } from '../src/errors.js';
import { createLogger } from '../src/log.js';
import { childNameVariable } from '../src/runner/child-env.js';
import { watchRoutesFile } from '../src/routes/watch.js';
import { startWorker } from './worker.js';

/*
 * Process entry: `node dist/proxy/main.js [proxy] [flags]` (also `thumbtack proxy`).
 * Exit codes: 0 after SIGTERM/SIGINT, 1 when the worker cannot start, 2 on bad settings.
 */

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const args = argv[0] === 'proxy' ? argv.slice(1) : argv;
  const loaded = loadSettings(args);
  const { settings } = loaded;
  const log = createLogger('proxy', settings.logLevel);
  // Under the runner, the runner names the ignored pushpin.conf keys once for all.
  if (!process.env[childNameVariable]) logPushpinIgnored(log, loaded);
  // A stray rejection in one request must not take every client connection of the worker
  // down with it (the handler does the same).
  process.on('unhandledRejection', (err) => log.error({ err }, 'unhandled rejection'));
  if (!Function.prototype.toString.call(uws.App).includes('[native code]')) {
    log.warn(
      'uWebSockets.js fell back to its slow JavaScript emulation: its native binary did not load on this platform',
    );
  }
  const worker = await startWorker(settings, log, () => loadSettings(args).settings);
  log.info(
    {
      host: settings.host,
      port: worker.port,
      routes: worker.routeCount,
      maxConnections: worker.maxConnections,
    },
    'proxy ready',
  );

  process.on('SIGHUP', () => void worker.reload());
  // Under the runner, the runner watches the file (one reload, one log line for a broken edit).
  if (settings.routesWatch && !process.env[childNameVariable]) {
    watchRoutesFile(settings.routes, () => void worker.reload());
  }
  let isStopping = false;
  const stop = (signal: string): void => {
    // Ctrl-C reaches the whole process group and the runner forwards SIGTERM too.
    if (isStopping) return;
    isStopping = true;
    void worker.drain(signal).finally(() => process.exit(0));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  if (err instanceof ThumbtackError) {
    process.stderr.write(`thumbtack proxy: ${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`thumbtack proxy: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
