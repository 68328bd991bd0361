import { parentPort, workerData } from 'node:worker_threads';
import * as zmq from 'zeromq';

/*
 * The worker thread of `thumbtack publish --spec tcp://...` (see publish-zmq.ts): one PUSH
 * socket, one message, then the thread ends, and its teardown terminates the ZeroMQ
 * context, which waits (up to the linger) until libzmq has written the message out.
 */

export interface PushJob {
  spec: string;
  frame: Uint8Array;
  /** Date.now() by which the message must be written out. */
  deadline: number;
  /** The whole bound, for messages: `within 10 s`. */
  timeoutMs: number;
}

/** Posted once: the message is queued on a connection that finished its handshake, or why not. */
export type PushReport = { isSent: true } | { isSent: false; error: string };

const job = workerData as PushJob;
const report = (message: PushReport): void => parentPort!.postMessage(message);

// `immediate`: queue only on a connection whose handshake is done, never on a pending one
// the process could end before it carries anything.
const socket = new zmq.Push({ immediate: true, linger: 0 });
const within = `within ${job.timeoutMs / 1000} s`;
let problem = `nothing accepted a connection ${within} (is thumbtack's PULL input, --zmq-pull, listening there?)`;
const handshake = new Promise<void>((resolve) => {
  socket.events.on('handshake', () => resolve());
  socket.events.on('connect', () => {
    problem = `a connection opened but the ZeroMQ handshake did not finish ${within}`;
  });
  // libzmq drops a peer of the wrong socket type (SUB, PUSH, ...) without an event of its own.
  socket.events.on('disconnect', () => {
    problem = 'the peer closed the connection in the ZeroMQ handshake: is it a PULL socket?';
  });
  const onHandshakeError = ({ error }: { error: Error }): void => {
    problem = `the ZeroMQ handshake failed (${error.message}): is it a PULL socket?`;
  };
  socket.events.on('handshake:error:protocol', onHandshakeError);
  socket.events.on('handshake:error:other', onHandshakeError);
});

try {
  socket.connect(job.spec);
  let timer: NodeJS.Timeout | undefined;
  const isConnected = await Promise.race([
    handshake.then(() => true),
    new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), Math.max(0, job.deadline - Date.now()));
    }),
  ]);
  clearTimeout(timer);
  if (!isConnected) {
    report({ isSent: false, error: problem });
  } else {
    socket.sendTimeout = Math.max(0, job.deadline - Date.now());
    await socket.send(job.frame);
    // The time left is how long the context's termination may wait for the write.
    socket.linger = Math.max(0, job.deadline - Date.now());
    report({ isSent: true });
  }
} catch (err) {
  const isFull = (err as { code?: string }).code === 'EAGAIN';
  report({
    isSent: false,
    error: isFull ? `the peer took nothing ${within}` : (err as Error).message,
  });
} finally {
  socket.close();
}
