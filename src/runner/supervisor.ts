import { spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from '../log.js';
import { childNameVariable, childRestartsVariable } from './child-env.js';

export interface ChildSpec {
  /** `handler` or `proxy-N`: appears in logs. */
  name: string;
  /** Absolute path of the compiled entry; its path names the process (`.../proxy/main.js`). */
  entry: string;
  args: string[];
  /** Node's own flags, before the entry (e.g. V8 heap sizing). */
  nodeFlags?: string[];
  env?: NodeJS.ProcessEnv;
}

const backoffStartMs = 100;
const backoffMaxMs = 5_000;
/** A child that ran this long before dying is considered healthy: backoff starts over. */
const healthyAfterMs = 10_000;

/**
 * Keeps child processes running: restarts one that exits unexpectedly after an
 * exponential backoff, and on stop() forwards SIGTERM and waits for all to exit.
 */
export class Supervisor {
  private readonly children = new Map<string, SupervisedChild>();
  private isStopping = false;

  constructor(private readonly log: Logger) {}

  start(spec: ChildSpec): void {
    const child = new SupervisedChild(spec, this.log, () => this.isStopping);
    this.children.set(spec.name, child);
    child.spawn();
  }

  signal(signal: NodeJS.Signals, namePrefix: string): void {
    for (const [name, child] of this.children)
      if (name.startsWith(namePrefix)) child.process?.kill(signal);
  }

  /** SIGTERM to every child; SIGKILL to any still alive after `graceMs`. */
  async stop(graceMs: number): Promise<void> {
    this.isStopping = true;
    await Promise.all([...this.children.values()].map((child) => child.stop(graceMs)));
  }
}

class SupervisedChild {
  process: ChildProcess | undefined;
  private restarts = 0;
  /** Every restart since the runner started (`restarts` starts over once a child is healthy). */
  private restartsTotal = 0;
  private startedAt = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private exited: Promise<void> = Promise.resolve();

  constructor(
    private readonly spec: ChildSpec,
    private readonly log: Logger,
    private readonly isStopping: () => boolean,
  ) {}

  spawn(): void {
    this.startedAt = Date.now();
    const { nodeFlags = [], entry, args } = this.spec;
    const child = spawn(process.execPath, [...nodeFlags, entry, ...args], {
      stdio: ['ignore', 'inherit', 'inherit'],
      // The child's name and restart count label its metrics (thumbtack_restarts_total).
      env: {
        ...(this.spec.env ?? process.env),
        [childNameVariable]: this.spec.name,
        [childRestartsVariable]: String(this.restartsTotal),
      },
    });
    this.process = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    child.once('exit', (code, signal) => this.onExit(code, signal));
    this.log.info({ child: this.spec.name, childPid: child.pid }, 'child started');
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null): void {
    this.process = undefined;
    if (this.isStopping()) return;
    if (Date.now() - this.startedAt > healthyAfterMs) this.restarts = 0;
    const delay = Math.min(backoffMaxMs, backoffStartMs * 2 ** this.restarts);
    this.restarts++;
    this.restartsTotal++;
    this.log.warn(
      {
        child: this.spec.name,
        exitCode: code,
        signal,
        restartInMs: delay,
        restarts: this.restarts,
      },
      'child exited unexpectedly; restarting',
    );
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (!this.isStopping()) this.spawn();
    }, delay);
  }

  async stop(graceMs: number): Promise<void> {
    clearTimeout(this.restartTimer);
    const child = this.process;
    if (!child) return;
    child.kill('SIGTERM');
    const killTimer = setTimeout(() => {
      this.log.warn({ child: this.spec.name }, 'child did not exit in time; killing it');
      child.kill('SIGKILL');
    }, graceMs);
    await this.exited;
    clearTimeout(killTimer);
  }
}
