import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as zmq from 'zeromq';
import { afterEach, describe, expect, it } from 'vitest';
import { stopAllBackends, startBackend } from '../support/backend.js';
import { freePort } from '../support/free-port.js';
import {
  openStream,
  postPublish,
  streamItem,
  uniqueName,
  type StreamClient,
} from '../support/grip.js';
import { watchLogs, type LogWatcher } from '../support/log-watcher.js';
import { thumbtackBin } from '../support/thumbtack.js';

/*
 * The runner started with nothing but --pushpin-config (and --workers): its client port,
 * control port, ZeroMQ inputs and routes file all come from a pushpin.conf written the way
 * Pushpin packages it.
 */

interface Runner {
  child: ChildProcess;
  watcher: LogWatcher;
  exited: Promise<number | null>;
}

const runners = new Set<Runner>();
const dirs: string[] = [];
const streams: StreamClient[] = [];
const sockets: zmq.Push[] = [];

afterEach(async () => {
  for (const stream of streams.splice(0)) stream.close();
  for (const socket of sockets.splice(0)) socket.close();
  await Promise.all(
    [...runners].map(async (runner) => {
      runners.delete(runner);
      if (runner.child.exitCode === null && runner.child.signalCode === null) {
        runner.child.kill('SIGTERM');
      }
      await runner.exited;
    }),
  );
  await stopAllBackends();
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thumbtack-pushpin-conf-'));
  dirs.push(dir);
  return dir;
}

/** Starts bin/thumbtack.js from a folder other than the conf's, so relative paths must resolve against the conf. */
function startRunner(args: string[]): Runner {
  const child = spawn(process.execPath, [thumbtackBin, ...args], {
    cwd: os.tmpdir(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const watcher = watchLogs(child);
  // 'close', not 'exit': stderr is read to its end by then.
  const exited = new Promise<number | null>((resolve) =>
    child.once('close', (code) => resolve(code)),
  );
  const runner = { child, watcher, exited };
  runners.add(runner);
  return runner;
}

async function exitOf(runner: Runner, timeoutMs = 10_000): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`still running after ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([runner.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describe('thumbtack --pushpin-config', () => {
  it('runs from a packaged-style pushpin.conf: its ports, its routes file, and one line naming what it ignores', async () => {
    const channel = uniqueName('pushpin-conf');
    const backend = await startBackend((_req, res) => {
      res.writeHead(200, {
        'content-type': 'text/plain',
        'grip-hold': 'stream',
        'grip-channel': channel,
      });
      res.end('start\n');
    });
    const [port, controlPort, pullPort, subPort] = await Promise.all([
      freePort(),
      freePort(),
      freePort(),
      freePort(),
    ]);
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'routes'), `* ${backend.target}\n`);
    const conf = path.join(dir, 'pushpin.conf');
    fs.writeFileSync(
      conf,
      [
        '[global]',
        'include={libdir}/internal.conf',
        'rundir=/var/run/pushpin',
        'port_offset=0',
        '',
        '[runner]',
        'services=condure,pushpin-proxy,pushpin-handler',
        `http_port=127.0.0.1:${port}`,
        '# logging level. 2 = info, >2 = verbose',
        'log_level=2',
        'logdir=/var/log/pushpin',
        '',
        '[proxy]',
        '# routes config file (path relative to location of this file)',
        'routesfile=routes',
        'debug=false',
        'sig_key=changeme',
        '',
        '[handler]',
        `push_in_spec=tcp://127.0.0.1:${pullPort}`,
        `push_in_sub_specs=tcp://127.0.0.1:${subPort}`,
        'push_in_http_addr=127.0.0.1',
        `push_in_http_port=${controlPort}`,
        'message_rate=2500',
        'frobnicate=yes',
        '',
      ].join('\n'),
    );

    const runner = startRunner(['--pushpin-config', conf, '--workers', '1']);
    const { watcher } = runner;
    await Promise.race([
      Promise.all([
        watcher.waitForLog((l) => l.msg === 'handler ready', 20_000),
        watcher.waitForLog((l) => l.msg === 'proxy ready', 20_000),
      ]),
      runner.exited.then((code) => {
        throw new Error(`thumbtack exited with ${code}: ${watcher.stderr()}`);
      }),
    ]);

    // What the conf asked for that thumbtack does not do: one line, from the runner only.
    const ignoredLines = watcher.logs.filter((l) => l['pushpinConfig'] === conf);
    expect(ignoredLines).toHaveLength(1);
    expect(ignoredLines[0]).toMatchObject({ level: 'warn', process: 'runner' });
    expect(Object.keys(ignoredLines[0]!['ignored'] as object)).toEqual([
      '[global] include',
      '[global] rundir',
      '[runner] services',
      '[runner] logdir',
      '[handler] message_rate',
      '[handler] frobnicate',
    ]);
    expect(ignoredLines[0]!.msg).toContain('[handler] frobnicate');
    expect(ignoredLines[0]!['ignored']).toMatchObject({
      '[handler] frobnicate': 'not a Pushpin setting',
    });

    // The client port from http_port, the route from the routes file next to the conf.
    const stream = await openStream(`http://127.0.0.1:${port}/events`);
    streams.push(stream);
    expect(stream.status).toBe(200);
    await stream.waitForText('start\n');
    expect(backend.requests).toHaveLength(1);

    // A publish on the control port from push_in_http_port ...
    const published = await postPublish(
      { controlUrl: `http://127.0.0.1:${controlPort}` },
      JSON.stringify({ items: [streamItem(channel, 'over http\n')] }),
    );
    expect(published.status).toBe(200);
    await stream.waitForText('over http\n');

    // ... and one on the ZeroMQ PULL input from push_in_spec.
    const push = new zmq.Push({ linger: 0 });
    sockets.push(push);
    push.connect(`tcp://127.0.0.1:${pullPort}`);
    await push.send('J' + JSON.stringify(streamItem(channel, 'over zmq\n')));
    await stream.waitForText('over zmq\n');
  });

  it('thumbtack handler run alone names the ignored keys itself', async () => {
    const dir = tempDir();
    const conf = path.join(dir, 'pushpin.conf');
    const [controlPort, pullPort, subPort] = await Promise.all([
      freePort(),
      freePort(),
      freePort(),
    ]);
    fs.writeFileSync(
      conf,
      [
        '[handler]',
        `push_in_spec=tcp://127.0.0.1:${pullPort}`,
        `push_in_sub_specs=tcp://127.0.0.1:${subPort}`,
        `push_in_http_port=${controlPort}`,
        'frobnicate=yes',
        '',
      ].join('\n'),
    );
    const { watcher } = startRunner(['handler', '--pushpin-config', conf]);
    const line = await watcher.waitForLog((l) => l['pushpinConfig'] === conf, 20_000);
    expect(line).toMatchObject({ level: 'warn', process: 'handler' });
    expect(line['ignored']).toMatchObject({ '[handler] frobnicate': 'not a Pushpin setting' });
    await watcher.waitForLog((l) => l.msg === 'handler ready', 20_000);
    expect(watcher.logs.filter((l) => l['pushpinConfig'] === conf)).toHaveLength(1);
  });

  it('a syntax error: exit 2, one stderr line naming the file, line and problem', async () => {
    const conf = path.join(tempDir(), 'pushpin.conf');
    fs.writeFileSync(conf, '[runner]\nhttp_port=7999\n[proxy\nroutesfile=routes\n');
    const runner = startRunner(['--pushpin-config', conf]);
    expect(await exitOf(runner)).toBe(2);
    expect(runner.watcher.stderr()).toBe(
      `thumbtack: ${conf}:3: "[proxy" is not a section header; write [name]\n`,
    );
    expect(runner.watcher.logs).toEqual([]);
  });

  it('a value thumbtack cannot accept: exit 2, naming the file, section and key', async () => {
    const conf = path.join(tempDir(), 'pushpin.conf');
    fs.writeFileSync(conf, '[runner]\nhttp_port=0.0.0.0:79999\n');
    const runner = startRunner(['--pushpin-config', conf]);
    expect(await exitOf(runner)).toBe(2);
    expect(runner.watcher.stderr()).toBe(
      `thumbtack: ${conf}: [runner] http_port: bad value "0.0.0.0:79999"; allowed: a port 0-65535, or address:port\n`,
    );
  });

  it('a key it refuses: exit 2, naming the key and why, in one line', async () => {
    const conf = path.join(tempDir(), 'pushpin.conf');
    fs.writeFileSync(conf, '[proxy]\nauto_cross_origin=true\n');
    const runner = startRunner(['--pushpin-config', conf]);
    expect(await exitOf(runner)).toBe(2);
    const stderr = runner.watcher.stderr();
    expect(stderr).toMatch(
      new RegExp(
        `^thumbtack: ${conf}: cannot run as configured: \\[proxy\\] auto_cross_origin \\(.*CORS.*\\)\\n$`,
      ),
    );
  });

  it('--help says flags and the environment win over pushpin.conf', () => {
    const help = execFileSync(process.execPath, [thumbtackBin, '--help'], { encoding: 'utf8' });
    expect(help).toMatch(/--pushpin-config +Pushpin pushpin.conf/);
    expect(help).toContain('which wins over --pushpin-config');
  });
});
