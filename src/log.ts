import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/** Every child of a process's logger, so that a reload can change their level too. */
const children: Logger[] = [];

/** One root logger per process, JSON lines with the level as a word (`"level":"warn"`). */
export function createLogger(processName: string, level: string): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid, process: processName },
      formatters: { level: (label) => ({ level: label }) },
      // Components take their child loggers once, at start; they live as long as the process.
      onChild: (child) => children.push(child),
    },
    stdoutInWindows(),
  );
}

/** SIGHUP: a new --log-level for the logger and every child it gave out. */
export function setLogLevel(logger: Logger, level: string): void {
  logger.level = level;
  for (const child of children) child.level = level;
}

/** A child with a level of its own, which a reload of `--log-level` leaves as it is. */
export function childAtLevel(logger: Logger, level: string): Logger {
  const child = logger.child({}, { level });
  const at = children.indexOf(child);
  if (at >= 0) children.splice(at, 1);
  return child;
}

/** More pending text than this is written out at once rather than held. */
const pendingMax = 64 * 1024;
/** How long a line may wait for others to share its write. */
const flushDelayMs = 10;

/*
 * The lines of a short window leave stdout in one write: a worker logs an access line per
 * request, and a write per line cost a syscall per request. A window rather than an
 * event-loop turn: below saturation each request has a turn of its own, so a write per turn
 * was still one per request. The lines are gathered here rather than in sonic-boom's own
 * buffer, whose write() measures the whole buffered text on every line. sonic-boom (pino's
 * destination) does the writing, with its retries on a full pipe; what is left at exit
 * (an uncaught exception included) is written before the process ends.
 */
function stdoutInWindows(): DestinationStream {
  const boom = pino.destination({ dest: 1, sync: true });
  let pending = '';
  let isScheduled = false;
  const flush = (): void => {
    isScheduled = false;
    if (pending === '') return;
    const lines = pending;
    pending = '';
    boom.write(lines);
  };
  process.on('exit', flush);
  return {
    write(line: string): void {
      pending += line;
      if (pending.length >= pendingMax) flush();
      else if (!isScheduled) {
        isScheduled = true;
        // Unref'd: a process with nothing else to do exits, and writes the rest on 'exit'.
        setTimeout(flush, flushDelayMs).unref();
      }
    },
  };
}
