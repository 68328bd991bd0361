import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { GeneratorReply, GeneratorSample, GeneratorTask } from './messages.js';

const entry = fileURLToPath(new URL('./generator.js', import.meta.url));

/**
 * The soak's load generator processes (generator.ts), each asked by IPC. A generator that
 * exits or misses a reply deadline fails the call: the run cannot count its connections.
 */
export class SoakGenerators {
  private readonly children: ChildProcess[] = [];
  private readonly waiting = new Map<
    number,
    { resolve: (s: GeneratorSample | undefined) => void; reject: (e: Error) => void }
  >();
  private nextId = 1;
  private isStopping = false;

  constructor(count: number) {
    // Generators never inherit profiling or other NODE_OPTIONS meant for thumbtack.
    const env = { ...process.env };
    delete env.NODE_OPTIONS;
    for (let i = 0; i < count; i++) {
      const child = fork(entry, [], {
        env,
        execArgv: [],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      child.on('message', (reply: GeneratorReply) => {
        const waiter = this.waiting.get(reply.id);
        this.waiting.delete(reply.id);
        if (reply.error !== undefined) waiter?.reject(new Error(`generator: ${reply.error}`));
        else waiter?.resolve(reply.sample);
      });
      child.on('exit', (code, signal) => {
        if (this.isStopping) return;
        const error = new Error(`a load generator exited (${signal ?? `code ${code}`})`);
        for (const waiter of this.waiting.values()) waiter.reject(error);
        this.waiting.clear();
      });
      this.children.push(child);
    }
  }

  get size(): number {
    return this.children.length;
  }

  /** A task with no reply (the acknowledged positions). */
  tell(task: GeneratorTask): void {
    for (const child of this.children) if (child.connected) child.send({ id: 0, task });
  }

  ask(index: number, task: GeneratorTask, timeoutMs: number): Promise<GeneratorSample | undefined> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`a load generator did not answer "${task.type}" in ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(id, {
        resolve: (s) => {
          clearTimeout(timer);
          resolve(s);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.children[index].send({ id, task });
    });
  }

  async all(task: GeneratorTask, timeoutMs: number): Promise<GeneratorSample[]> {
    const samples = await Promise.all(this.children.map((_, i) => this.ask(i, task, timeoutMs)));
    return samples.filter((s): s is GeneratorSample => s !== undefined);
  }

  stop(): void {
    this.isStopping = true;
    for (const child of this.children) if (child.connected) child.disconnect();
  }
}
