/*
 * How the bench and the soak run as scripts: everything a run starts is registered as a
 * cleanup, stopped in reverse order when the run ends, fails or is interrupted (Ctrl-C, or
 * SIGTERM from a CI bound), so that no process or file outlives it.
 */

/** Everything started by this run, stopped in reverse order on exit or interrupt. */
export const cleanups: (() => Promise<void>)[] = [];

let cleaning: Promise<void> | undefined;

/**
 * Stops everything once; a second caller (the run failing because an interrupt's cleanup
 * closed what it used) waits for the same stop instead of exiting before it is done.
 */
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const stop of cleanups.splice(0).reverse()) await stop().catch(() => undefined);
  })();
  return cleaning;
}

/** Runs `main` and exits with its code (2 when it throws), cleaning up first either way. */
export function runScript(name: string, main: () => Promise<number>): void {
  let isInterrupted = false;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (isInterrupted) return;
      isInterrupted = true;
      process.stderr.write(`${name}: ${signal}, stopping everything started\n`);
      void cleanup().finally(() => process.exit(130));
    });
  }
  main().then(
    async (code) => {
      await cleanup();
      process.exit(code);
    },
    async (err: unknown) => {
      process.stderr.write(`${name}: ${(err as Error).stack ?? String(err)}\n`);
      await cleanup();
      process.exit(2);
    },
  );
}
