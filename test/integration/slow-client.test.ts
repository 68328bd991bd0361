import http from 'node:http';
import net from 'node:net';
import { afterEach, expect, test } from 'vitest';
import { startBackend, stopAllBackends } from '../support/backend.js';
import {
  closeAllHeldClients,
  openHeldClient,
  publishItems,
  streamItem,
} from '../support/held-client.js';
import {
  proxyWorkerPids,
  readMemory,
  startThumbtack,
  stopAllThumbtacks,
} from '../support/thumbtack.js';

/*
 * A stream client that stops reading while 64 KiB items keep coming: once what the worker
 * buffers for it passes --stream-buffer-max it is cut off and counted, the worker's memory
 * stays bounded, and a client on the same channel that reads gets every item in order.
 */

const bufferMax = 256 * 1024;
const itemSize = 64 * 1024;

function stream(_req: http.IncomingMessage, res: http.ServerResponse): void {
  res.writeHead(200, {
    'content-type': 'text/plain',
    'grip-hold': 'stream',
    'grip-channel': 'slow',
  });
  res.end('open\n');
}

/** Item k: a numbered line padded to 64 KiB, so a reader can check order and completeness. */
function itemText(k: number): string {
  const head = `<${k}>`;
  return head + '.'.repeat(itemSize - head.length - 1) + '\n';
}

/** A raw client that reads the head and initial body, then stops reading. */
function openPausedClient(port: number): Promise<{ socket: net.Socket; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const closed = new Promise<void>((done) => socket.once('close', () => done()));
    let received = '';
    socket.on('error', () => undefined);
    socket.setEncoding('latin1');
    const onData = (chunk: string): void => {
      received += chunk;
      if (!received.includes('open\n')) return;
      socket.off('data', onData);
      socket.pause();
      resolve({ socket, closed });
    };
    socket.on('data', onData);
    socket.once('close', () => reject(new Error(`closed before the stream opened: ${received}`)));
    socket.write('GET /stream HTTP/1.1\r\nHost: localhost\r\n\r\n');
  });
}

afterEach(async () => {
  closeAllHeldClients();
  await stopAllThumbtacks();
  await stopAllBackends();
});

test(
  'a stream client that stops reading is cut off at --stream-buffer-max; memory stays bounded; readers get everything',
  { timeout: 60_000 },
  async () => {
    const backend = await startBackend(stream);
    const tt = await startThumbtack({
      routes: `* ${backend.target}`,
      workers: 1,
      args: ['--stream-buffer-max', String(bufferMax)],
    });
    const [workerPid] = proxyWorkerPids(tt);
    const reader = openHeldClient(`${tt.url}/stream`);
    await reader.waitFor('open\n');
    const slow = await openPausedClient(tt.port);

    const isCutOff = (): boolean =>
      tt.logs.some((l) => l.msg === 'disconnecting a stream client that reads too slowly');
    let published = 0;
    const expectedLength = (): number => 'open\n'.length + published * itemSize;
    /**
     * Publishes three numbered items in one request, then waits until the reader has them:
     * what the worker buffers for the reader stays under the bound however loaded the host is.
     */
    const publishBatch = async (): Promise<void> => {
      const items = Array.from({ length: 3 }, (_, i) =>
        streamItem('slow', itemText(published + i)),
      );
      const res = await publishItems(tt.controlUrl, items);
      expect(res.status).toBe(200);
      published += items.length;
      await reader.waitForLength(expectedLength(), 10_000);
    };
    for (let i = 0; i < 4; i++) await publishBatch();

    // Until the slow client is cut off: the kernel's socket buffers take some megabytes first.
    while (!isCutOff()) {
      expect(published).toBeLessThan(600);
      await publishBatch();
    }
    const cutLines = tt.logs.filter(
      (l) => l.msg === 'disconnecting a stream client that reads too slowly',
    );
    expect(cutLines).toHaveLength(1);
    expect(cutLines[0]!['limit']).toBe(bufferMax);
    // Cut at the write that would pass the limit: at most one item buffered beyond it.
    const backlog = cutLines[0]!['backlog'] as number;
    const refused = cutLines[0]!['refused'] as number;
    expect(backlog + refused).toBeGreaterThan(bufferMax);
    expect(backlog).toBeLessThanOrEqual(bufferMax + itemSize + 1024);

    // Then 32 MiB to let the heap and allocator settle, and 64 MiB more measured: an unbounded
    // worker would keep all of it for the client that stopped reading.
    while (published * itemSize < 32 * 1024 * 1024) await publishBatch();
    const settled = readMemory(workerPid!);
    const measuredFrom = published;
    while ((published - measuredFrom) * itemSize < 64 * 1024 * 1024) await publishBatch();
    const grown = readMemory(workerPid!) - settled;
    expect(grown).toBeLessThan(((published - measuredFrom) * itemSize) / 2);

    // The reader got every item, in order.
    const body = reader.text();
    const numbers = [...body.matchAll(/<(\d+)>/g)].map((m) => Number(m[1]));
    expect(numbers).toEqual(Array.from({ length: published }, (_, k) => k));
    expect(body.length).toBe(expectedLength());
    expect(
      tt.logs.filter((l) => l.msg === 'disconnecting a stream client that reads too slowly'),
    ).toHaveLength(1);
    expect(reader.isClosed()).toBe(false);

    // The slow client's connection was closed by the worker: reading again finds the end.
    slow.socket.resume();
    await slow.closed;

    // The cut-off is counted: the worker reports it when it drains.
    await tt.stop();
    const draining = tt.logs.find((l) => l.msg === 'draining' && l.pid === workerPid);
    expect(draining?.['slowClients']).toBe(1);
  },
);
