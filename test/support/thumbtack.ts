import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { freePort } from './free-port.js';
import { watchLogs, type LogLine } from './log-watcher.js';

const supportRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The project folder, also when this file runs compiled from dist/test/support (npm run chaos). */
export const projectRoot =
  path.basename(supportRoot) === 'dist' ? path.dirname(supportRoot) : supportRoot;
export const thumbtackBin = path.join(projectRoot, 'bin/thumbtack.js');

export type { LogLine };

export interface Thumbtack {
  process: ChildProcess;
  port: number;
  controlPort: number;
  zmqPull: string;
  zmqSub: string;
  url: string;
  controlUrl: string;
  routesFile: string;
  logs: LogLine[];
  /** Resolves with the first log line (already seen or future) that matches. */
  waitForLog(match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

export interface StartOptions {
  routes: string;
  workers?: number;
  args?: string[];
  env?: NodeJS.ProcessEnv;
  /** Client listen address; default 127.0.0.1 (`::1` for IPv6). */
  host?: string;
  /** PEM files: clients are served over TLS and `url` is https. */
  tls?: { certFile: string; keyFile: string };
  /** Start the runner as a process group leader, so a test can signal the whole group (Ctrl-C). */
  detached?: boolean;
  /** How long the handler and every worker get to say they are ready; default 20 s. */
  readyTimeoutMs?: number;
}

const running = new Set<Thumbtack>();

/**
 * Starts the real runner (`bin/thumbtack.js`) on free ports with the given routes file
 * text and waits until the handler and every proxy worker say they are ready.
 */
export async function startThumbtack(options: StartOptions): Promise<Thumbtack> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thumbtack-test-'));
  const routesFile = path.join(dir, 'routes');
  fs.writeFileSync(routesFile, options.routes);
  const [port, controlPort, pullPort, subPort] = await Promise.all([
    freePort(),
    freePort(),
    freePort(),
    freePort(),
  ]);
  const workers = options.workers ?? 1;
  const host = options.host ?? '127.0.0.1';
  const tlsArgs = options.tls
    ? ['--tls-cert', options.tls.certFile, '--tls-key', options.tls.keyFile]
    : [];
  const zmqPull = `tcp://127.0.0.1:${pullPort}`;
  const zmqSub = `tcp://127.0.0.1:${subPort}`;
  const child = spawn(
    process.execPath,
    [
      thumbtackBin,
      '--routes',
      routesFile,
      '--host',
      host,
      '--port',
      String(port),
      '--control-port',
      String(controlPort),
      '--zmq-pull',
      zmqPull,
      '--zmq-sub',
      zmqSub,
      '--workers',
      String(workers),
      ...tlsArgs,
      ...(options.args ?? []),
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...options.env },
      detached: options.detached ?? false,
    },
  );
  const { logs, waitForLog, stderr } = watchLogs(child);
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );

  const instance: Thumbtack = {
    process: child,
    port,
    controlPort,
    zmqPull,
    zmqSub,
    url: `${options.tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`,
    controlUrl: `http://127.0.0.1:${controlPort}`,
    routesFile,
    logs,
    waitForLog,
    stop: async () => {
      running.delete(instance);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const code = await exited;
      fs.rmSync(dir, { recursive: true, force: true });
      return code;
    },
  };
  running.add(instance);
  const ready = Promise.all([
    waitForLog((l) => l.msg === 'handler ready', options.readyTimeoutMs ?? 20_000),
    waitUntil(
      () => logs.filter((l) => l.msg === 'proxy ready').length >= workers,
      options.readyTimeoutMs ?? 20_000,
    ),
  ]);
  // If start-up fails the race is lost by `ready`; its later timeout must not go unhandled.
  ready.catch(() => undefined);
  let isReady = false;
  const early = exited.then((code) => {
    if (!isReady) throw new Error(`thumbtack exited with ${code} during start-up: ${stderr()}`);
  });
  await Promise.race([ready, early]);
  isReady = true;
  return instance;
}

/** Pids of the proxy workers alive now, from their `proxy ready` log lines. */
export function proxyWorkerPids(instance: Thumbtack): number[] {
  return instance.logs
    .filter((l) => l.msg === 'proxy ready' && typeof l.pid === 'number')
    .map((l) => l.pid as number)
    .filter((pid) => fs.existsSync(`/proc/${pid}`));
}

/** Pid of the named child (`handler`, `proxy-0`, ...) as last started by the runner. */
export function childPid(instance: Thumbtack, name: string): number | undefined {
  for (let i = instance.logs.length - 1; i >= 0; i--) {
    const line = instance.logs[i]!;
    if (line.msg === 'child started' && line['child'] === name) return line['childPid'] as number;
  }
  return undefined;
}

/** Resolves when the runner has started the named child again, after `previousPid`. */
export async function waitForRestart(
  instance: Thumbtack,
  name: string,
  previousPid: number,
  timeoutMs = 10_000,
): Promise<number> {
  const line = await instance.waitForLog(
    (l) => l.msg === 'child started' && l['child'] === name && l['childPid'] !== previousPid,
    timeoutMs,
  );
  return line['childPid'] as number;
}

/**
 * The pid of the proxy worker holding the server side of a client connection, found from
 * /proc: the connection's socket inode (by the client's local port) among the workers' fds.
 */
export function workerPidForClientPort(
  instance: Thumbtack,
  clientPort: number,
): number | undefined {
  return workerPidsForClientPorts(instance, [clientPort]).get(clientPort);
}

/** `workerPidForClientPort` for many connections at once (one pass over /proc). */
export function workerPidsForClientPorts(
  instance: Thumbtack,
  clientPorts: number[],
): Map<number, number> {
  const wanted = new Set(clientPorts);
  const portOfInode = new Map(
    clientConnections(instance)
      .filter((c) => wanted.has(c.remotePort))
      .map((c) => [c.inode, c.remotePort]),
  );
  const out = new Map<number, number>();
  for (const pid of proxyWorkerPids(instance)) {
    for (const inode of socketInodes(pid)) {
      const port = portOfInode.get(inode);
      if (port !== undefined) out.set(port, pid);
    }
  }
  return out;
}

/** Client connections a worker has open now (server side, from /proc), to spot socket leaks. */
export function openClientConnections(instance: Thumbtack, workerPid: number): number {
  const owned = new Set(socketInodes(workerPid));
  return clientConnections(instance).filter((c) => owned.has(c.inode)).length;
}

/** Whether a process still holds the server side of the client connection from `remotePort`. */
export function holdsClientConnection(instance: Thumbtack, remotePort: number): boolean {
  return clientConnections(instance).some((c) => c.remotePort === remotePort);
}

/** Server-side TCP sockets on the client port other than the listener, from /proc/net. */
function clientConnections(instance: Thumbtack): { remotePort: number; inode: string }[] {
  const out: { remotePort: number; inode: string }[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = fs.readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const row of text.split('\n').slice(1)) {
      const fields = row.trim().split(/\s+/);
      // fields: sl, local, remote, state (0A = listening), ..., inode (0 once closed)
      if (fields.length < 10 || fields[3] === '0A' || fields[9] === '0') continue;
      const localPort = parseInt(fields[1]!.split(':')[1]!, 16);
      if (localPort !== instance.port) continue;
      out.push({ remotePort: parseInt(fields[2]!.split(':')[1]!, 16), inode: fields[9]! });
    }
  }
  return out;
}

function socketInodes(pid: number): string[] {
  let fds: string[];
  try {
    fds = fs.readdirSync(`/proc/${pid}/fd`);
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const fd of fds) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match) out.push(match[1]!);
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

/** Resident memory of a process in bytes, from /proc/<pid>/status (`VmRSS` or `VmHWM`). */
export function readMemory(pid: number, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  if (!match) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

export interface ExitResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `thumbtack ...args` to its exit (for start-up failures, --help, --version). */
export function runThumbtackToExit(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
): Promise<ExitResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [thumbtackBin, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...options.env },
      cwd: options.cwd ?? projectRoot,
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(
          `thumbtack ${args.join(' ')} did not exit within ${options.timeoutMs ?? 20_000} ms`,
        ),
      );
    }, options.timeoutMs ?? 20_000);
    // 'close', not 'exit': output can still be in the pipes when the process has exited.
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Stops every instance a test left running (call from afterEach). */
export async function stopAllThumbtacks(): Promise<void> {
  await Promise.all([...running].map((t) => t.stop()));
}

/** Polls a condition every 10 ms, bounded (for states with no event to wait on). */
export async function waitUntil(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Resolves once the node's handler counts `workers` proxy workers on its bus (`/readyz`): an
 * item addressed to one connection has no channel subscription to wait for, and one
 * published before the worker's bus subscription reached the handler goes nowhere.
 */
export async function busReady(instance: Thumbtack, workers = 1): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const res = await request(`${instance.controlUrl}/readyz`);
    const status = JSON.parse(await res.body.text()) as { workers?: number };
    if ((status.workers ?? 0) >= workers) return;
    if (Date.now() > deadline) throw new Error(`/readyz counts ${status.workers} workers`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
