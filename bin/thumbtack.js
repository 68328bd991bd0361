#!/usr/bin/env node
// Dispatches to the compiled entry of one process so `thumbtack proxy` and
// `thumbtack handler` run that process alone, and the runner spawns the same files.
const command = process.argv[2];
const entry =
  command === 'proxy'
    ? '../dist/proxy/main.js'
    : command === 'handler'
      ? '../dist/handler/main.js'
      : '../dist/src/cli/main.js';
await import(new URL(entry, import.meta.url).href);
