import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, afterEach, beforeAll, expect, test, vi } from 'vitest';
import { startBackend, stopAllBackends, type Backend } from '../support/backend.js';
import { send } from '../support/client.js';
import {
  proxyWorkerPids,
  readMemory,
  startThumbtack,
  stopAllThumbtacks,
  waitUntil,
  type Thumbtack,
} from '../support/thumbtack.js';

// Real processes on a machine that may be busy: generous bounds, all still finite.
vi.setConfig({ testTimeout: 40_000, hookTimeout: 60_000 });

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const chunkSize = 64 * 1024;
/** What a worker may grow by while 1 GiB passes through; buffering the body would be 1 GiB. */
const rssGrowthMax = 96 * MiB;
/** Bytes that may pile up between a stalled reader and the writer (socket buffers, a chunk or two). */
const inFlightMax = 64 * MiB;

// Chunks are slices of one random block at shifting offsets: cheap to make, never repeating
// in a way that would hide a dropped, doubled or reordered chunk from the hash.
const block = randomBytes(MiB);

function* bodyChunks(total: number, onChunk?: (chunk: Buffer) => void): Generator<Buffer> {
  for (let offset = 0, k = 0; offset < total; offset += chunkSize, k++) {
    const start = (k * 4099) % (block.length - chunkSize);
    const chunk = block.subarray(start, start + Math.min(chunkSize, total - offset));
    onChunk?.(chunk);
    yield chunk;
  }
}

function digestOf(total: number): string {
  const hash = createHash('sha1');
  for (const chunk of bodyChunks(total)) hash.update(chunk);
  return hash.digest('hex');
}

const digests = new Map<number, string>();
function expectedDigest(total: number): string {
  let digest = digests.get(total);
  if (digest === undefined) digests.set(total, (digest = digestOf(total)));
  return digest;
}

/** Samples a process's resident memory until stopped; `peak` is the largest sample. */
function sampleMemory(pid: number): { stop(): number } {
  let peak = readMemory(pid);
  const timer = setInterval(() => {
    peak = Math.max(peak, readMemory(pid));
  }, 50);
  return {
    stop: () => {
      clearInterval(timer);
      return Math.max(peak, readMemory(pid));
    },
  };
}

/** Resolves once `read()` has not changed for `quietMs` (a writer blocked by backpressure). */
async function waitForStall(
  read: () => number,
  quietMs = 300,
  timeoutMs = 15_000,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let last = read();
  let since = Date.now();
  for (;;) {
    await new Promise((r) => setTimeout(r, 50));
    const now = read();
    if (now !== last) {
      last = now;
      since = Date.now();
    } else if (Date.now() - since >= quietMs && now > 0) {
      return now;
    }
    if (Date.now() > deadline) throw new Error(`writer never stalled; at ${now} bytes`);
  }
}

interface Upload {
  req: http.IncomingMessage;
  res: http.ServerResponse;
}

let tt: Thumbtack;
let backend: Backend;
let workerPid: number;
/** Uploads to /hold-upload wait here until the test consumes them. */
const heldUploads: Upload[] = [];
/** Bytes the backend has produced for the current download. */
let downloadProduced = 0;

/** Hashes a request body and answers with its size and digest. */
function consumeUpload({ req, res }: Upload): void {
  const hash = createHash('sha1');
  let bytes = 0;
  req.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    hash.update(chunk);
  });
  req.on('end', () => res.end(JSON.stringify({ bytes, digest: hash.digest('hex') })));
}

function backendHandler(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url!, 'http://x');
  if (url.pathname.endsWith('/upload')) {
    consumeUpload({ req, res });
    return;
  }
  if (url.pathname.endsWith('/hold-upload')) {
    heldUploads.push({ req, res });
    return;
  }
  if (url.pathname.endsWith('/download')) {
    const total = Number(url.searchParams.get('bytes'));
    const isChunked = url.searchParams.get('framing') === 'chunked';
    res.writeHead(200, isChunked ? {} : { 'content-length': String(total) });
    downloadProduced = 0;
    const source = Readable.from(bodyChunks(total, (chunk) => (downloadProduced += chunk.length)));
    pipeline(source, res).catch(() => undefined);
    return;
  }
  res.end('ok');
}

beforeAll(async () => {
  backend = await startBackend(backendHandler);
  tt = await startThumbtack({
    routes: [
      `*,id=grip ${backend.target}`,
      `*,id=plain,path_beg=/plain/,no_grip ${backend.target}`,
    ].join('\n'),
  });
  [workerPid] = proxyWorkerPids(tt) as [number];
  // Warm the worker up (JIT, pools, buffers) so the baseline is its steady state.
  const warm = await upload('/upload', 16 * MiB, false);
  expect(warm.bytes).toBe(16 * MiB);
  await download('/download', 16 * MiB, 'length');
}, 60_000);

afterEach(() => {
  for (const { res } of heldUploads.splice(0)) res.destroy();
});

afterAll(async () => {
  await stopAllThumbtacks();
  await stopAllBackends();
});

function upload(
  path: string,
  total: number,
  withLength: boolean,
  onChunk?: (chunk: Buffer) => void,
): Promise<{ bytes: number; digest: string }> {
  return send(tt.url + path, {
    method: 'POST',
    headers: withLength ? { 'content-length': String(total) } : {},
    body: Readable.from(bodyChunks(total, onChunk)),
    timeoutMs: 60_000,
  }).then((res) => {
    expect(res.status).toBe(200);
    return JSON.parse(res.body.toString()) as { bytes: number; digest: string };
  });
}

interface Download {
  response: Promise<http.IncomingMessage>;
  /** Resolves with size and digest once the whole body was read. */
  done: Promise<{ bytes: number; digest: string; headers: http.IncomingHttpHeaders }>;
}

function startDownload(
  path: string,
  total: number,
  framing: 'length' | 'chunked',
  pauseAfterFirst: boolean,
): Download {
  let resolveResponse!: (res: http.IncomingMessage) => void;
  const response = new Promise<http.IncomingMessage>((r) => (resolveResponse = r));
  const done = new Promise<{ bytes: number; digest: string; headers: http.IncomingHttpHeaders }>(
    (resolve, reject) => {
      const req = http.get(`${tt.url}${path}?bytes=${total}&framing=${framing}`, { agent: false });
      req.on('error', reject);
      req.on('response', (res) => {
        const hash = createHash('sha1');
        let bytes = 0;
        res.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          hash.update(chunk);
          if (pauseAfterFirst && bytes === chunk.length) res.pause();
        });
        res.on('aborted', () => reject(new Error(`download aborted after ${bytes} bytes`)));
        res.on('error', reject);
        res.on('end', () => resolve({ bytes, digest: hash.digest('hex'), headers: res.headers }));
        resolveResponse(res);
      });
    },
  );
  return { response, done };
}

async function download(path: string, total: number, framing: 'length' | 'chunked') {
  return startDownload(path, total, framing, false).done;
}

test('a 1 GiB chunked upload streams through to the backend with the worker memory flat', async () => {
  const baseline = readMemory(workerPid);
  const memory = sampleMemory(workerPid);
  const result = await upload('/upload', GiB, false);
  const peak = memory.stop();
  expect(result.bytes).toBe(GiB);
  expect(result.digest).toBe(expectedDigest(GiB));
  expect(peak - baseline).toBeLessThan(rssGrowthMax);
}, 120_000);

test('a 1 GiB Content-Length download streams through to the client with the worker memory flat', async () => {
  const baseline = readMemory(workerPid);
  const memory = sampleMemory(workerPid);
  const result = await download('/download', GiB, 'length');
  const peak = memory.stop();
  expect(result.headers['content-length']).toBe(String(GiB));
  expect(result.bytes).toBe(GiB);
  expect(result.digest).toBe(expectedDigest(GiB));
  expect(peak - baseline).toBeLessThan(rssGrowthMax);
}, 120_000);

test('a backend that stops reading stalls the client upload instead of filling the proxy (Content-Length)', async () => {
  const total = 512 * MiB;
  let produced = 0;
  const baseline = readMemory(workerPid);
  const result = upload('/plain/hold-upload', total, true, (chunk) => (produced += chunk.length));
  await waitUntil(() => heldUploads.length === 1);
  const stalledAt = await waitForStall(() => produced);
  expect(stalledAt).toBeLessThan(inFlightMax);
  expect(readMemory(workerPid) - baseline).toBeLessThan(rssGrowthMax);
  consumeUpload(heldUploads[0]!);
  const body = await result;
  expect(body.bytes).toBe(total);
  expect(body.digest).toBe(expectedDigest(total));
}, 60_000);

test('a client that stops reading stalls the backend download instead of filling the proxy (chunked)', async () => {
  const total = 512 * MiB;
  const baseline = readMemory(workerPid);
  const { response, done } = startDownload('/plain/download', total, 'chunked', true);
  const res = await response;
  const stalledAt = await waitForStall(() => downloadProduced);
  expect(stalledAt).toBeLessThan(inFlightMax);
  expect(readMemory(workerPid) - baseline).toBeLessThan(rssGrowthMax);
  expect(res.headers['transfer-encoding']).toBe('chunked');
  res.resume();
  const result = await done;
  expect(result.bytes).toBe(total);
  expect(result.digest).toBe(expectedDigest(total));
}, 60_000);
