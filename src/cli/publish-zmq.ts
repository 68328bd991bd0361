import { Worker } from 'node:worker_threads';
import type { PushJob, PushReport } from './zmq-push-worker.js';

/*
 * A publish over ZeroMQ PUSH may only be reported once libzmq has written it to a connected
 * peer. libzmq writes from its own I/O thread; zeromq.js waits for that only when the
 * context terminates, which it does when the last thread that loaded zeromq ends — and
 * never on process.exit(). So the socket lives in a worker thread (zmq-push-worker.ts), and
 * the worker's exit, within the deadline, is the proof the message went out. This thread
 * must not load zeromq: the context would then outlive the worker and its exit prove nothing.
 */

/** Time for the worker to end after its deadline when it has nothing left to write. */
const teardownMs = 1_000;

/** Resolves once `frame` was written to a PULL peer at `spec`; rejects naming what failed. */
export function pushOverZmq(spec: string, frame: Buffer, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const job: PushJob = { spec, frame, deadline, timeoutMs };
  const worker = new Worker(new URL('./zmq-push-worker.js', import.meta.url), {
    workerData: job,
    stdout: false,
    stderr: false,
  });
  const seconds = `${timeoutMs / 1000} s`;
  return new Promise<void>((resolve, reject) => {
    let report: PushReport | undefined;
    const fail = (why: string): void => {
      clearTimeout(stuck);
      reject(new Error(`cannot publish to ${spec}: ${why}`));
    };
    // Past the deadline the linger has run out; a worker still alive is stuck.
    const stuck = setTimeout(() => {
      fail(`not written out within ${seconds}`);
      void worker.terminate();
    }, timeoutMs + teardownMs);
    worker.on('message', (message: PushReport) => (report = message));
    worker.on('error', (err) => fail(err.message));
    worker.on('exit', () => {
      if (report === undefined) return fail('the publishing thread ended without a word');
      if (!report.isSent) return fail(report.error);
      // Exiting at the deadline means the linger ran out with the message still queued.
      if (Date.now() >= deadline) return fail(`sent, but not written out within ${seconds}`);
      clearTimeout(stuck);
      resolve();
    });
  });
}
