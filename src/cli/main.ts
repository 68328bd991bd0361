import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSettings } from '../config/load.js';
import { defaultWorkers, envName, flagName, settingsSchema } from '../config/schema.js';
import { ThumbtackError } from '../errors.js';
import { isRedisMode } from '../redis-mode.js';
import { createLogger, setLogLevel } from '../log.js';
import { reloadSettings } from '../config/reload.js';
import { watchRoutesFile } from '../routes/watch.js';
import { loadRoutesFile } from '../routes/load.js';
import { logPushpinIgnored } from '../config/pushpin-conf-log.js';
import { workerNodeFlags } from '../runner/worker-flags.js';
import { Supervisor } from '../runner/supervisor.js';
import { thumbtackVersion } from './version.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

function usage(): string {
  const lines = [
    'Usage: thumbtack [run] [options]      start the handler and proxy workers (default)',
    '       thumbtack proxy [options]      run one proxy worker alone',
    '       thumbtack handler [options]    run the handler alone',
    '       thumbtack publish CHANNEL [content] [--help]',
    "       thumbtack health [options]     exit 0 when this host's thumbtack answers (health checks)",
    '',
    'Options (each also THUMBTACK_<NAME> in the environment or a key of --config FILE;',
    'a flag wins over the environment, which wins over --config, which wins over --pushpin-config):',
  ];
  for (const [name, spec] of Object.entries(settingsSchema)) {
    const flag = `--${flagName(name)}`;
    const shown = spec.default === '' ? '' : ` (default ${String(spec.default)})`;
    lines.push(`  ${flag.padEnd(22)} ${spec.help}${shown}  [${envName(name)}]`);
  }
  lines.push('  --help, --version');
  return lines.join('\n') + '\n';
}

async function main(argv: string[]): Promise<number> {
  // Each command loads only what it uses (undici, ioredis): a health check or a publish
  // from a script starts in a third of the time.
  if (argv[0] === 'publish') return (await import('./publish.js')).runPublish(argv.slice(1));
  if (argv[0] === 'health') return (await import('./health.js')).runHealth(argv.slice(1));
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(usage());
    return 0;
  }
  if (argv.includes('--version')) {
    process.stdout.write(`thumbtack ${thumbtackVersion()}\n`);
    return 0;
  }
  const args = argv[0] === 'run' ? argv.slice(1) : argv;
  const loaded = loadSettings(args);
  let settings = loaded.settings;
  const { positionals } = loaded;
  if (positionals.length > 0) {
    throw new ThumbtackError(
      'E_USAGE',
      `unknown command "${positionals[0]}"; see thumbtack --help`,
    );
  }
  // Fail fast on a broken routes file: restarting workers that cannot start helps nobody.
  loadRoutesFile(settings.routes);
  // And on a Redis that cannot be used (address, password): a handler restarted forever
  // would only repeat it.
  if (isRedisMode(settings)) {
    const { connectRedis } = await import('../redis-connection.js');
    (await connectRedis(settings, 'commands')).disconnect();
  }
  const log = createLogger('runner', settings.logLevel);
  logPushpinIgnored(log, loaded);
  const childArgs = [...args];
  if (settings.bus === settingsSchema.bus.default) {
    // A private bus per runner, so that several instances on one host never meet.
    childArgs.push('--bus', `ipc://${path.join(os.tmpdir(), `thumbtack-${process.pid}.bus`)}`);
  }
  if (settings.stats === settingsSchema.stats.default) {
    childArgs.push('--stats', `ipc://${path.join(os.tmpdir(), `thumbtack-${process.pid}.stats`)}`);
  }
  const supervisor = new Supervisor(log);
  supervisor.start({
    name: 'handler',
    entry: path.join(root, 'dist/handler/main.js'),
    args: childArgs,
  });
  const workers = settings.workers || defaultWorkers();
  for (let i = 0; i < workers; i++) {
    supervisor.start({
      name: `proxy-${i}`,
      entry: path.join(root, 'dist/proxy/main.js'),
      args: childArgs,
      nodeFlags: workerNodeFlags(),
    });
  }
  log.info({ workers, port: settings.port, controlPort: settings.controlPort }, 'runner started');

  return new Promise((resolve) => {
    let isStopping = false;
    let parentWatch: NodeJS.Timeout | undefined;
    const stop = (signal: NodeJS.Signals | 'parent exited') => {
      if (isStopping) return;
      isStopping = true;
      clearInterval(parentWatch);
      log.info({ signal }, 'stopping: draining children');
      void supervisor.stop(Math.round(settings.drainTimeout * 1000) + 2_000).then(() => {
        log.info('stopped');
        resolve(0);
      });
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    if (process.env['npm_command'] !== undefined) {
      // Under `npx thumbtack` npm signals its `sh -c` wrapper, which dies without passing the
      // signal on; we are then re-parented, and draining is the only way not to outlive it.
      const parent = process.ppid;
      parentWatch = setInterval(() => {
        if (process.ppid !== parent) stop('parent exited');
      }, 250).unref();
    }
    const reload = (): void => {
      // Validated here first, so a broken file is reported once and no child reloads it.
      let change;
      try {
        const reloaded = loadSettings(args);
        change = reloadSettings(settings, reloaded.settings);
        loadRoutesFile(change.settings.routes);
        logPushpinIgnored(log, reloaded);
      } catch (err) {
        log.error(
          { err: (err as Error).message },
          'reload refused; keeping every setting and route',
        );
        return;
      }
      settings = change.settings;
      setLogLevel(log, settings.logLevel);
      log.info('reloading settings and routes in the handler and every proxy worker');
      supervisor.signal('SIGHUP', '');
    };
    process.on('SIGHUP', reload);
    if (settings.routesWatch) watchRoutesFile(settings.routes, reload);
  });
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof ThumbtackError) {
      process.stderr.write(`thumbtack: ${err.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`thumbtack: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
