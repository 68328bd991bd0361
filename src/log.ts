import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/** One root logger per process, JSON lines with the level as a word (`"level":"warn"`). */
export function createLogger(processName: string, level: string): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid, process: processName },
      formatters: { level: (label) => ({ level: label }) },
    },
    stdoutPerTurn(),
  );
}

/** Larger than a busy turn's lines; past it sonic-boom writes at once anyway. */
const bufferMin = 32 * 1024;
const writeMax = 256 * 1024;

/*
 * The lines of one event-loop turn leave stdout in one write: a worker logs an access line
 * per request, and a write per line cost a syscall per request. sonic-boom (pino's own
 * destination) does the writing, with its retries on a full pipe; what is left at exit is
 * written before the process ends.
 */
function stdoutPerTurn(): DestinationStream {
  const boom = pino.destination({
    dest: 1,
    sync: true,
    minLength: bufferMin,
    maxWrite: writeMax,
  });
  let isScheduled = false;
  const flush = (): void => {
    isScheduled = false;
    boom.flush();
  };
  process.on('exit', () => boom.flushSync());
  return {
    write(line: string): void {
      boom.write(line);
      if (!isScheduled) {
        isScheduled = true;
        setImmediate(flush);
      }
    },
  };
}
