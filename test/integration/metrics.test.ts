import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import * as zmq from 'zeromq';
import { startBackend, stopAllBackends, type Backend } from '../support/backend.js';
import { freePort } from '../support/free-port.js';
import { closeAllHeldClients, openHeldClient } from '../support/held-client.js';
import { startThumbtack, stopAllThumbtacks, type Thumbtack } from '../support/thumbtack.js';

/*
 * Prometheus metrics of a whole node: the handler's own figures and every worker's, read
 * from the exposition text a scraper gets.
 */

afterEach(async () => {
  closeAllHeldClients();
  await stopAllThumbtacks();
  await stopAllBackends();
});

type Sample = { name: string; labels: Record<string, string>; value: number };

function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      labels[pair[1]!] = pair[2]!;
    }
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The sum of the samples with that name whose labels include `labels`. */
function total(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

async function scrape(url: string, headers: Record<string, string> = {}): Promise<Sample[]> {
  const res = await request(url, { headers });
  const text = await res.body.text();
  expect(res.statusCode, text).toBe(200);
  expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseExposition(text);
}

/** Scrapes until `check` passes (reports arrive once a second), bounded. */
async function scrapeUntil(
  url: string,
  check: (samples: Sample[]) => boolean,
  timeoutMs = 10_000,
): Promise<Sample[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const samples = await scrape(url);
    if (check(samples)) return samples;
    if (Date.now() > deadline) throw new Error('metrics never matched the check');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function gripBackend(): Promise<Backend> {
  return startBackend((req, res) => {
    if (req.url!.startsWith('/sse')) {
      res.writeHead(200, {
        'Content-Type': 'text/event-stream',
        'Grip-Hold': 'stream',
        'Grip-Channel': 'news',
      });
      res.end(':open\n\n');
    } else if (req.url!.startsWith('/poll')) {
      res.writeHead(200, { 'Grip-Hold': 'response', 'Grip-Channel': 'news', 'Grip-Timeout': '60' });
      res.end('nothing\n');
    } else {
      res.end('plain\n');
    }
  });
}

async function publish(tt: Thumbtack, body: unknown): Promise<number> {
  const res = await request(`${tt.controlUrl}/publish/`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  await res.body.text();
  return res.statusCode;
}

const newsItem = {
  items: [
    {
      channel: 'news',
      formats: {
        'http-stream': { content: 'data: hello\n\n' },
        'http-response': { body: 'hello\n' },
      },
    },
  ],
};

describe('Prometheus metrics', () => {
  it('one scrape of the control port shows the node: connections, holds, publishes, deliveries, disconnects, latency, backends, per worker', async () => {
    const backend = await gripBackend();
    const deadPort = await freePort();
    const tt = await startThumbtack({
      routes: `*,path_beg=/down 127.0.0.1:${deadPort}\n* ${backend.target}\n`,
      workers: 2,
    });
    const metricsUrl = `${tt.controlUrl}/metrics`;
    const sse = openHeldClient(`${tt.url}/sse`);
    await sse.waitFor(':open');
    const poll = openHeldClient(`${tt.url}/poll`);
    const plain = await request(`${tt.url}/plain`);
    expect(await plain.body.text()).toBe('plain\n');
    const down = await request(`${tt.url}/down`);
    await down.body.text();
    expect(down.statusCode).toBe(502);

    let samples = await scrapeUntil(
      metricsUrl,
      (s) => total(s, 'thumbtack_holds') === 2 && total(s, 'thumbtack_subscriptions') === 2,
    );
    expect(total(samples, 'thumbtack_connections', { transport: 'sse' })).toBe(1);
    expect(total(samples, 'thumbtack_connections', { transport: 'http' })).toBe(1);
    expect(total(samples, 'thumbtack_holds', { kind: 'stream' })).toBe(1);
    expect(total(samples, 'thumbtack_holds', { kind: 'response' })).toBe(1);
    expect(total(samples, 'thumbtack_channels')).toBe(1);
    expect(total(samples, 'thumbtack_bus_workers')).toBe(2);
    // Every worker is in the scrape, by name, with its process figures.
    const workers = new Set(
      samples.filter((s) => s.name === 'thumbtack_deliveries_total').map((s) => s.labels['worker']),
    );
    expect([...workers].sort()).toEqual(['proxy-0', 'proxy-1']);
    expect(total(samples, 'process_resident_memory_bytes', { worker: 'proxy-1' })).toBeGreaterThan(
      0,
    );
    expect(total(samples, 'process_resident_memory_bytes', { worker: 'handler' })).toBeGreaterThan(
      0,
    );
    expect(total(samples, 'thumbtack_restarts_total')).toBe(0);

    expect(await publish(tt, newsItem)).toBe(200);
    expect(
      await publish(tt, {
        items: [{ channel: 'nobody', formats: { 'http-stream': { content: 'x' } } }],
      }),
    ).toBe(200);
    expect(await publish(tt, { items: [{ formats: {} }] })).toBe(400);
    await sse.waitFor('data: hello');
    await poll.waitFor('hello');

    samples = await scrapeUntil(metricsUrl, (s) => total(s, 'thumbtack_deliveries_total') === 2);
    expect(
      total(samples, 'thumbtack_publishes_total', { input: 'http', outcome: 'accepted' }),
    ).toBe(2);
    expect(total(samples, 'thumbtack_publishes_total', { input: 'http', outcome: 'invalid' })).toBe(
      1,
    );
    expect(total(samples, 'thumbtack_drops_total', { reason: 'no_listener' })).toBe(1);
    expect(total(samples, 'thumbtack_disconnects_total', { reason: 'answered' })).toBe(1);
    expect(total(samples, 'thumbtack_holds', { kind: 'response' })).toBe(0);
    // One histogram for the node (summed over workers): both writes are in it.
    expect(total(samples, 'thumbtack_delivery_latency_seconds_count')).toBe(2);
    expect(total(samples, 'thumbtack_delivery_latency_seconds_bucket', { le: '+Inf' })).toBe(2);
    expect(total(samples, 'thumbtack_delivery_latency_seconds_sum')).toBeGreaterThan(0);
    const route = `*,*,*,*`;
    expect(
      total(samples, 'thumbtack_backend_responses_total', { route, code: '200' }),
    ).toBeGreaterThanOrEqual(2); // the plain request and the answered long-poll
    expect(total(samples, 'thumbtack_gateway_errors_total', { code: '502' })).toBe(1);
    expect(total(samples, 'thumbtack_backend_request_duration_seconds_count', { route })).toBe(3);

    sse.destroy();
    samples = await scrapeUntil(
      metricsUrl,
      (s) => total(s, 'thumbtack_disconnects_total', { reason: 'client' }) === 1,
    );
    expect(total(samples, 'thumbtack_connections')).toBe(0);
  });

  it("a handler restart loses none of the workers' counters and counts the restart", async () => {
    const backend = await gripBackend();
    const tt = await startThumbtack({ routes: `* ${backend.target}\n`, workers: 1 });
    const sse = openHeldClient(`${tt.url}/sse`);
    await sse.waitFor(':open');
    await scrapeUntil(`${tt.controlUrl}/metrics`, (s) => total(s, 'thumbtack_subscriptions') === 1);
    expect(await publish(tt, newsItem)).toBe(200);
    await sse.waitFor('data: hello');
    await scrapeUntil(
      `${tt.controlUrl}/metrics`,
      (s) => total(s, 'thumbtack_deliveries_total') === 1,
    );

    const handlerPid = tt.logs.find((l) => l.msg === 'handler ready')!.pid as number;
    process.kill(handlerPid, 'SIGKILL');
    await tt.waitForLog((l) => l.msg === 'handler ready' && l.pid !== handlerPid);
    // The first scrape of the new handler already has the worker, with its counts.
    const samples = await scrape(`${tt.controlUrl}/metrics`);
    expect(total(samples, 'thumbtack_deliveries_total', { worker: 'proxy-0' })).toBe(1);
    expect(total(samples, 'thumbtack_holds', { worker: 'proxy-0' })).toBe(1);
    expect(total(samples, 'thumbtack_restarts_total', { worker: 'handler' })).toBe(1);
    expect(total(samples, 'thumbtack_restarts_total', { worker: 'proxy-0' })).toBe(0);
  });

  it('ZeroMQ PULL publishes are counted by input and outcome', async () => {
    const backend = await gripBackend();
    const tt = await startThumbtack({ routes: `* ${backend.target}\n` });
    const push = new zmq.Push({ linger: 0 });
    try {
      push.connect(tt.zmqPull);
      await push.send(
        'J' + JSON.stringify({ channel: 'x', formats: { 'http-stream': { content: 'x' } } }),
      );
      await push.send('J{not json');
      await scrapeUntil(
        `${tt.controlUrl}/metrics`,
        (s) =>
          total(s, 'thumbtack_publishes_total', { input: 'zmq-pull', outcome: 'accepted' }) === 1 &&
          total(s, 'thumbtack_publishes_total', { input: 'zmq-pull', outcome: 'invalid' }) === 1,
      );
    } finally {
      push.close();
    }
  });

  it('--metrics-port serves /metrics alone; --no-metrics answers 404; a control token guards it', async () => {
    const backend = await gripBackend();
    const metricsPort = await freePort();
    const tt = await startThumbtack({
      routes: `* ${backend.target}\n`,
      args: ['--metrics-port', String(metricsPort), '--control-token', 'sesame'],
    });
    const auth = { authorization: 'Bearer sesame' };
    const dedicated = `http://127.0.0.1:${metricsPort}`;
    const samples = await scrape(`${dedicated}/metrics`, auth);
    expect(samples.some((s) => s.name === 'thumbtack_bus_workers')).toBe(true);
    expect((await request(`${dedicated}/metrics`)).statusCode).toBe(401);
    const other = await request(`${dedicated}/status`, { headers: auth });
    await other.body.text();
    expect(other.statusCode).toBe(404);
    const unauthorised = await request(`${tt.controlUrl}/metrics`);
    expect(await unauthorised.body.text()).toMatch(/Bearer/i);
    expect(unauthorised.statusCode).toBe(401);
    await scrape(`${tt.controlUrl}/metrics`, auth);
    await tt.stop();

    const off = await startThumbtack({ routes: `* ${backend.target}\n`, args: ['--no-metrics'] });
    const res = await request(`${off.controlUrl}/metrics`);
    await res.body.text();
    expect(res.statusCode).toBe(404);
  });

  it('a worker run alone serves its own /metrics on --health-port', async () => {
    const backend = await gripBackend();
    const healthPort = await freePort();
    const tt = await startThumbtack({
      routes: `* ${backend.target}\n`,
      args: ['--health-port', String(healthPort)],
    });
    await request(`${tt.url}/plain`).then((r) => r.body.text());
    const samples = await scrape(`http://127.0.0.1:${healthPort}/metrics`);
    expect(total(samples, 'thumbtack_backend_responses_total', { code: '200' })).toBe(1);
    expect(samples.every((s) => s.name.startsWith('thumbtack_bus') === false)).toBe(true);
  });
});
