import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Publisher } from '@fanoutio/grip';
import { ServeGrip } from '@fanoutio/serve-grip';
import express from 'express';
import { createProxyServer } from 'http-proxy-3';
import { fetch as undiciFetch } from 'undici';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { send } from '../support/client.js';
import { closeAllHeldClients, openHeldClient } from '../support/held-client.js';
import {
  startThumbtack,
  stopAllThumbtacks,
  waitUntil,
  type Thumbtack,
} from '../support/thumbtack.js';

/*
 * thumbtack → an http-proxy-3 "API gateway" → a backend written with @fanoutio/serve-grip.
 * The gateway only relays: GRIP instructions in responses and Grip-Sig in requests cross it
 * untouched, so holds and publishes work as with the backend directly behind thumbtack.
 */

let tt: Thumbtack;
let gatewayServer: http.Server;
let backendServer: http.Server;
/** Requests as the backend saw them: path, whether via the gateway, whether signed. */
const seen: { path: string; viaGateway: boolean; isSigned: boolean }[] = [];

function listen(server: http.Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
  );
}

function closeServer(server: http.Server | undefined): Promise<void> {
  if (!server) return Promise.resolve();
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

beforeAll(async () => {
  // The control URI is known once thumbtack runs: the publisher is configured then.
  const publisher = new Publisher();
  const app = express();
  app.use((req, _res, next) => {
    const sig = req.headers['grip-sig'];
    publisher.validateGripSig(typeof sig === 'string' ? sig : null).then(({ isSigned }) => {
      seen.push({
        path: req.path,
        viaGateway: req.headers['x-gateway'] === 'http-proxy-3',
        isSigned,
      });
      next();
    }, next);
  });
  app.use(new ServeGrip({ grip: publisher, gripProxyRequired: true }));
  app.get('/plain', (_req, res) => {
    res.type('text/plain').send('plain through the gateway');
  });
  app.get('/stream', (req, res) => {
    const instruct = res.grip!.startInstruct();
    instruct.addChannel(String(req.query['channel']));
    instruct.setHoldStream();
    res.type('text/plain').end('[stream open]\n');
  });
  app.get('/poll', (req, res) => {
    const instruct = res.grip!.startInstruct();
    instruct.addChannel(String(req.query['channel']));
    instruct.setHoldLongPoll(Number(req.query['timeout']));
    res.type('text/plain').end('no news\n');
  });
  app.post('/say', (req, res) => {
    const channel = String(req.query['channel']);
    const text = String(req.query['text']);
    const publish =
      req.query['kind'] === 'response'
        ? publisher.publishHttpResponse(channel, text)
        : publisher.publishHttpStream(channel, text);
    publish.then(
      () => res.type('text/plain').send('sent\n'),
      (err: unknown) => res.status(500).send(String(err)),
    );
  });
  backendServer = http.createServer(app);
  const backendPort = await listen(backendServer);

  const gateway = createProxyServer({
    target: `http://127.0.0.1:${backendPort}`,
    headers: { 'x-gateway': 'http-proxy-3' },
  });
  gateway.on('error', (_err, _req, res) => {
    if (res instanceof http.ServerResponse && !res.headersSent)
      res.writeHead(502).end('gateway error\n');
  });
  gatewayServer = http.createServer((req, res) => gateway.web(req, res));
  const gatewayPort = await listen(gatewayServer);

  tt = await startThumbtack({ routes: `* 127.0.0.1:${gatewayPort}`, workers: 2 });
  // Node's own fetch refuses js-grip's Content-Length once undici 7 is loaded.
  publisher.applyConfig(
    { control_uri: tt.controlUrl, verify_key: 'changeme', verify_iss: 'pushpin' },
    { fetch: undiciFetch as unknown as typeof fetch },
  );
});

afterAll(async () => {
  closeAllHeldClients();
  await stopAllThumbtacks();
  await closeServer(gatewayServer);
  await closeServer(backendServer);
});

describe('gateway chaining: thumbtack → http-proxy-3 → serve-grip backend', () => {
  test('plain requests pass through both proxies, signed by thumbtack', async () => {
    for (let i = 0; i < 5; i++) {
      const res = await send(`${tt.url}/plain?i=${i}`);
      expect(res.status).toBe(200);
      expect(res.body.toString()).toBe('plain through the gateway');
    }
    const plain = seen.filter((s) => s.path === '/plain');
    expect(plain).toHaveLength(5);
    expect(plain.every((s) => s.viaGateway && s.isSigned)).toBe(true);
  });

  test('a held stream gets what the backend publishes when asked through the same chain', async () => {
    const streams = [
      openHeldClient(`${tt.url}/stream?channel=gw-stream`),
      openHeldClient(`${tt.url}/stream?channel=gw-stream`),
    ];
    for (const stream of streams) await stream.waitFor('[stream open]\n');
    for (const text of ['one\n', 'two\n', 'three\n']) {
      const res = await send(`${tt.url}/say?channel=gw-stream&text=${encodeURIComponent(text)}`, {
        method: 'POST',
      });
      expect(res.body.toString()).toBe('sent\n');
    }
    for (const stream of streams) {
      await stream.waitFor('three\n');
      expect(stream.text()).toBe('[stream open]\none\ntwo\nthree\n');
      expect(stream.isClosed()).toBe(false);
    }
    expect(seen.filter((s) => s.path === '/stream').every((s) => s.viaGateway && s.isSigned)).toBe(
      true,
    );
  });

  test('a response hold is answered by what the backend publishes', async () => {
    const poll = openHeldClient(`${tt.url}/poll?channel=gw-poll&timeout=30`);
    // Published once the backend has seen the poll: thumbtack may not hold it yet.
    await waitUntil(() => seen.some((s) => s.path === '/poll'));
    const res = await send(`${tt.url}/say?channel=gw-poll&kind=response&text=news`, {
      method: 'POST',
    });
    expect(res.body.toString()).toBe('sent\n');
    expect(await poll.closed).toBe('end');
    expect(await poll.status).toBe(200);
    expect(poll.text()).toBe('news');
    expect(seen.filter((s) => s.path === '/poll').every((s) => s.viaGateway && s.isSigned)).toBe(
      true,
    );
  });
});
