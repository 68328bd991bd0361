import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { freePort } from './free-port.js';

/*
 * A private redis-server per test file, on a free loopback port, persisting nothing. A
 * machine without redis-server fails the test with one line saying what to install:
 * `.ci/run` installs it, and a skip would count as a pass.
 */

export interface RedisServer {
  port: number;
  url: string;
  /** SIGKILL: an outage as nodes see it. */
  kill(): Promise<void>;
  /** Starts it again on the same port (after kill), empty. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

const running = new Set<RedisServer>();

function requireRedisServer(): void {
  const found = spawnSync('redis-server', ['--version'], { stdio: 'ignore' });
  if (found.error || found.status !== 0) {
    throw new Error(
      'redis-server is not installed: install it (Debian: apt-get install -y redis-server) to run the Redis tests',
    );
  }
}

async function launch(port: number, dir: string, extra: string[]): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
      ...extra,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`redis-server did not start: ${output}`)),
      10_000,
    );
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited with ${code}: ${output}`));
    });
  });
  child.stdout!.resume();
  child.stderr!.resume();
  return child;
}

function ended(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

export async function startRedisServer(extra: string[] = []): Promise<RedisServer> {
  requireRedisServer();
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thumbtack-redis-'));
  let child = await launch(port, dir, extra);
  const server: RedisServer = {
    port,
    url: `redis://127.0.0.1:${port}`,
    kill: async () => {
      child.kill('SIGKILL');
      await ended(child);
    },
    restart: async () => {
      child = await launch(port, dir, extra);
    },
    stop: async () => {
      running.delete(server);
      child.kill('SIGKILL');
      await ended(child);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  running.add(server);
  return server;
}

export interface RedisCluster {
  /** Seed nodes for --redis-cluster. */
  seeds: string;
  ports: number[];
  stop(): Promise<void>;
}

/** Three masters on loopback, no replicas, every slot assigned, the cluster state ok. */
export async function startRedisCluster(): Promise<RedisCluster> {
  const servers: RedisServer[] = [];
  for (let i = 0; i < 3; i++) {
    const busPort = await freePort();
    servers.push(
      await startRedisServer([
        '--cluster-enabled',
        'yes',
        '--cluster-port',
        String(busPort),
        '--cluster-config-file',
        `nodes-${process.pid}-${busPort}.conf`,
      ]),
    );
  }
  const addresses = servers.map((server) => `127.0.0.1:${server.port}`);
  const created = spawnSync(
    'redis-cli',
    ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes'],
    { encoding: 'utf8', timeout: 30_000 },
  );
  if (created.status !== 0) {
    throw new Error(`redis-cli --cluster create failed: ${created.stdout}${created.stderr}`);
  }
  const deadline = Date.now() + 20_000;
  for (const server of servers) {
    for (;;) {
      const info = spawnSync('redis-cli', ['-p', String(server.port), 'cluster', 'info'], {
        encoding: 'utf8',
      });
      if (info.stdout.includes('cluster_state:ok')) break;
      if (Date.now() > deadline) throw new Error(`cluster not ok: ${info.stdout}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  return {
    seeds: addresses.join(','),
    ports: servers.map((server) => server.port),
    stop: async () => {
      await Promise.all(servers.map((server) => server.stop()));
    },
  };
}

export async function stopAllRedisServers(): Promise<void> {
  await Promise.all([...running].map((server) => server.stop()));
  await Promise.all([...relays].map((relay) => relay.close()));
}

/**
 * A TCP relay in front of a redis-server: a test can cut it (one node's partition) or hold
 * back what Redis sends its subscribed connections (pub/sub messages arriving late, while
 * commands, and the node's clock measurement on its commands connection, do not).
 */
export interface RedisRelay {
  url: string;
  /** From now on, what Redis sends a subscribed connection waits this long; order is kept. */
  subscriberDelayMs: number;
  /** Drops every connection through it and refuses new ones (they close at once). */
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

const relays = new Set<RedisRelay>();

export async function startRedisRelay(
  target: RedisServer,
  subscriberDelayMs = 0,
): Promise<RedisRelay> {
  const sockets = new Set<net.Socket>();
  let isCut = false;
  const server = net.createServer((client) => {
    if (isCut) {
      client.destroy();
      return;
    }
    const upstream = net.connect(target.port, '127.0.0.1');
    let isSubscriber = false;
    let lastDue = 0;
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('data', (data: Buffer) => {
      if (/subscribe/i.test(data.toString('latin1'))) isSubscriber = true;
      upstream.write(data);
    });
    // Never due before the bytes ahead of it, so a shorter delay keeps the order.
    upstream.on('data', (data: Buffer) => {
      if (!isSubscriber || (relay.subscriberDelayMs === 0 && lastDue <= Date.now())) {
        client.write(data);
        return;
      }
      lastDue = Math.max(Date.now() + relay.subscriberDelayMs, lastDue);
      setTimeout(() => client.write(data), lastDue - Date.now());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const relay: RedisRelay = {
    url: `redis://127.0.0.1:${port}`,
    subscriberDelayMs,
    cut: () => {
      isCut = true;
      for (const socket of sockets) socket.destroy();
    },
    restore: () => {
      isCut = false;
    },
    close: async () => {
      relays.delete(relay);
      relay.cut();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  relays.add(relay);
  return relay;
}
