import { pino, type Logger } from 'pino';

export type { Logger };

/** One root logger per process, JSON lines with the level as a word (`"level":"warn"`). */
export function createLogger(processName: string, level: string): Logger {
  return pino({
    level,
    base: { pid: process.pid, process: processName },
    formatters: { level: (label) => ({ level: label }) },
  });
}
