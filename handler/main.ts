import { loadSettings, type LoadedArgs } from '../src/config/load.js';
import { ConfigError } from '../src/errors.js';
import { createLogger } from '../src/log.js';
import { logPushpinIgnored } from '../src/config/pushpin-conf-log.js';
import { childNameVariable } from '../src/runner/child-env.js';
import { startHandler, type RunningHandler } from './handler.js';

/*
 * Process entry: `node dist/handler/main.js [handler] [flags]` (also `thumbtack handler`).
 * Exit codes: 0 after SIGTERM/SIGINT, 1 when an input cannot start, 2 on bad settings
 * (and on a Redis that cannot be used).
 */

function readSettings(): LoadedArgs {
  try {
    const loaded = loadSettings(process.argv.slice(2));
    const { positionals } = loaded;
    const rest = positionals[0] === 'handler' ? positionals.slice(1) : positionals;
    if (rest.length > 0) throw new ConfigError(`unexpected argument "${rest[0]}"`);
    return loaded;
  } catch (err) {
    const message = err instanceof ConfigError ? err.message : String(err);
    process.stderr.write(`thumbtack handler: ${message}\n`);
    process.exit(2);
  }
}

const loaded = readSettings();
const { settings } = loaded;
const logger = createLogger('handler', settings.logLevel);
// Under the runner, the runner names the ignored pushpin.conf keys once for all.
if (!process.env[childNameVariable]) logPushpinIgnored(logger, loaded);

// A stray rejection in one input must not take the control plane down.
process.on('unhandledRejection', (err) => logger.error({ err }, 'unhandled rejection'));

// Signals are caught from the start: one arriving during start-up stops the handler once
// it is up, and none can slip in between the ready line and the handlers being installed.
let handler: RunningHandler | undefined;
let isStopping = false;
const stop = (signal: NodeJS.Signals): void => {
  // Ctrl-C reaches the whole process group and the runner forwards SIGTERM too: a second
  // signal must not cut the graceful close short (the runner SIGKILLs after its grace).
  if (isStopping) return;
  isStopping = true;
  logger.info({ signal }, 'handler stopping');
  if (!handler) return;
  handler.close().then(
    () => process.exit(0),
    (err: unknown) => {
      logger.error({ err }, 'handler stopped with errors');
      process.exit(0);
    },
  );
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// Node ends a process on SIGHUP by default; here it reloads the settings.
process.on('SIGHUP', () => {
  if (!handler) return;
  let next;
  try {
    next = loadSettings(process.argv.slice(2)).settings;
  } catch (err) {
    const message = err instanceof ConfigError ? err.message : String(err);
    logger.error({ err: message }, 'reload refused; keeping every setting');
    return;
  }
  handler.reload(next);
});

try {
  handler = await startHandler(settings, logger);
} catch (err) {
  if (err instanceof ConfigError) {
    // A setting to fix (a Redis that cannot be used): one line, exit 2 as for bad flags.
    logger.fatal(err.message);
    process.stderr.write(`thumbtack handler: ${err.message}\n`);
    process.exit(2);
  }
  logger.fatal({ err }, 'handler could not start');
  process.exit(1);
}
if (isStopping) {
  await handler.close();
  process.exit(0);
}
logger.info(handler.addresses, 'handler ready');
