import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { validateSig } from '@fanoutio/grip';
import { afterEach, beforeAll, describe, expect, test, vi } from 'vitest';
import { commandLine, isAlive, processTree } from '../../bench/process-tree.js';
import { startBackend, stopAllBackends, type Backend } from '../support/backend.js';
import { send } from '../support/client.js';
import { freePort } from '../support/free-port.js';
import {
  childPid,
  projectRoot,
  proxyWorkerPids,
  runThumbtackToExit,
  startThumbtack,
  stopAllThumbtacks,
  waitForRestart,
  waitUntil,
  type ExitResult,
  type Thumbtack,
} from '../support/thumbtack.js';

// Real processes on a machine that may be busy: generous bounds, all still finite.
vi.setConfig({ testTimeout: 40_000, hookTimeout: 60_000 });

const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'thumbtack-runner-'));
const validRoutes = path.join(tmpDir, 'valid-routes');
fs.writeFileSync(validRoutes, '* 127.0.0.1:9\n');

afterEach(async () => {
  await stopAllThumbtacks();
  await stopAllBackends();
});

/** Writes a file into this run's temp dir and returns its path. */
function writeTemp(name: string, text: string): string {
  const file = path.join(tmpDir, name);
  fs.writeFileSync(file, text);
  return file;
}

/** Start-up failures: exit code 2 and exactly one line on stderr holding every `parts`. */
function expectOneLineFailure(result: ExitResult, ...parts: string[]): void {
  expect(result.code, result.stderr).toBe(2);
  const lines = result.stderr.trimEnd().split('\n');
  expect(lines, result.stderr).toHaveLength(1);
  for (const part of parts) expect(lines[0]).toContain(part);
}

/** Pids of the workers that logged access lines so far. */
function accessPids(tt: Thumbtack): number[] {
  return tt.logs.filter((l) => l.msg === 'request').map((l) => l.pid as number);
}

function exitOf(tt: Thumbtack): Promise<number | null> {
  if (tt.process.exitCode !== null) return Promise.resolve(tt.process.exitCode);
  return new Promise((resolve) => tt.process.once('exit', (code) => resolve(code)));
}

/** Backend whose `/slow...` requests wait until the test calls `release()`. */
interface SlowBackend extends Backend {
  waiting: http.ServerResponse[];
  release(body: string): void;
}

async function startSlowBackend(name: string): Promise<SlowBackend> {
  const waiting: http.ServerResponse[] = [];
  const backend = await startBackend((req, res) => {
    req.resume();
    if (req.url!.includes('/slow')) waiting.push(res);
    else res.end(`${name}:${req.url}`);
  });
  return Object.assign(backend, {
    waiting,
    release: (body: string) => {
      for (const res of waiting.splice(0)) res.end(body);
    },
  });
}

describe('command line', () => {
  test('--help prints the usage with every flag and exits 0', async () => {
    const result = await runThumbtackToExit(['--help']);
    expect(result.code).toBe(0);
    for (const flag of [
      '--routes',
      '--port',
      '--control-port',
      '--zmq-pull',
      '--zmq-sub',
      '--workers',
    ]) {
      expect(result.stdout).toContain(flag);
    }
  });

  test('--version prints the package version and exits 0', async () => {
    const { version } = JSON.parse(
      fs.readFileSync(path.join(projectRoot, 'package.json'), 'utf8'),
    ) as {
      version: string;
    };
    const result = await runThumbtackToExit(['--version']);
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toBe(`thumbtack ${version}`);
  });

  test.concurrent.each([
    [
      ['--port', 'abc'],
      ['--port', '"abc"', 'allowed'],
    ],
    [
      ['--port', '70000'],
      ['--port', '70000', 'allowed'],
    ],
    [['--workers=-1'], ['--workers', '-1', 'allowed']],
    [
      ['--x-forwarded-for', 'sometimes'],
      ['--x-forwarded-for', 'sometimes', 'append, replace, off'],
    ],
    [
      ['--backend-timeout', '0'],
      ['--backend-timeout', '"0"', 'allowed'],
    ],
    [
      ['--ws-retry-delay', '2147484'],
      ['--ws-retry-delay', '2147484', '<= 2147483'],
    ],
    [
      ['--trusted-proxies', '10.0.0.1,proxy.local'],
      ['--trusted-proxies', 'proxy.local', 'IP addresses'],
    ],
    [
      ['--log-level', 'loud'],
      ['--log-level', 'loud', 'allowed'],
    ],
    [
      ['--zmq-pull', 'nonsense'],
      ['--zmq-pull', 'nonsense', 'allowed'],
    ],
    [['--no-such-flag'], ['no-such-flag']],
    [
      ['--tls-cert', '/tmp/cert.pem'],
      ['--tls-cert', '--tls-key'],
    ],
  ])('bad flags %j stop start-up with exit 2 and one line naming them', async (args, parts) => {
    expectOneLineFailure(await runThumbtackToExit(['--routes', validRoutes, ...args]), ...parts);
  });

  test.concurrent.each([
    [{ THUMBTACK_PORT: '99999' }, ['THUMBTACK_PORT', '99999', 'allowed']],
    [
      { THUMBTACK_X_FORWARDED_PROTO: 'maybe' },
      ['THUMBTACK_X_FORWARDED_PROTO', 'maybe', 'true or false'],
    ],
    [{ THUMBTACK_DRAIN_TIMEOUT: 'soon' }, ['THUMBTACK_DRAIN_TIMEOUT', 'soon', 'allowed']],
  ])('bad environment %j stops start-up with exit 2 and one line naming it', async (env, parts) => {
    expectOneLineFailure(await runThumbtackToExit(['--routes', validRoutes], { env }), ...parts);
  });

  test.concurrent.each([
    [
      'bad-value.json',
      '{"backendTimeout": "soon"}',
      ['bad-value.json', 'backendTimeout', 'soon', 'allowed'],
    ],
    ['unknown-key.json', '{"noSuchSetting": 1}', ['unknown-key.json', 'noSuchSetting']],
    ['not-json.json', '{"port": ', ['not-json.json', 'JSON']],
  ])(
    'a bad config file (%s) stops start-up with exit 2 and one line naming it',
    async (name, text, parts) => {
      const file = writeTemp(name, text);
      expectOneLineFailure(
        await runThumbtackToExit(['--routes', validRoutes, '--config', file]),
        ...parts,
      );
    },
  );

  test('a missing config file stops start-up with exit 2 naming it', async () => {
    const file = path.join(tmpDir, 'no-such-config.json');
    expectOneLineFailure(
      await runThumbtackToExit(['--routes', validRoutes, '--config', file]),
      file,
    );
  });

  test.concurrent.each([
    ['one-section', '# comment\n\nnot-a-route\n', 3, ['target']],
    ['bad-option', '* 127.0.0.1:1\n*,path_beg=/x/,bogus_option 127.0.0.1:1\n', 2, ['bogus_option']],
    ['unsupported', '*,aco 127.0.0.1:1\n', 1, ['aco', 'not supported']],
    ['no-port', '* 127.0.0.1\n', 1, ['port']],
    ['bad-quote', '*,path_beg="/x 127.0.0.1:1\n', 1, []],
    ['no-routes', '# only a comment\n', 0, ['no routes']],
  ])(
    'a broken routes file (%s) stops start-up with exit 2 naming file:line',
    async (name, text, line, parts) => {
      const file = writeTemp(name, text);
      const where = line > 0 ? `${file}:${line}` : file;
      expectOneLineFailure(await runThumbtackToExit(['--routes', file]), where, ...parts);
    },
  );

  test('a missing routes file stops start-up with exit 2 naming it', async () => {
    const file = path.join(tmpDir, 'no-such-routes');
    expectOneLineFailure(await runThumbtackToExit(['--routes', file]), file);
  });
});

/** A single-process command (`thumbtack proxy`, `thumbtack handler`) with its JSON log lines. */
function startCommand(args: string[]): {
  child: ChildProcess;
  exit: Promise<number | null>;
  waitForLog(msg: string): Promise<void>;
} {
  const child = spawn(process.execPath, [path.join(projectRoot, 'bin/thumbtack.js'), ...args], {
    cwd: projectRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  commands.add(child);
  let stdout = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.resume();
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const waitForLog = async (msg: string) => {
    await waitUntil(() => stdout.split('\n').some((l) => l.includes(`"msg":"${msg}"`)));
  };
  return { child, exit, waitForLog };
}

const commands = new Set<ChildProcess>();

afterEach(() => {
  for (const child of commands)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  commands.clear();
});

describe('single-process commands', () => {
  test('thumbtack proxy runs one proxy worker alone, serves, and exits 0 on SIGTERM', async () => {
    const backend = await startBackend((_req, res) => res.end('alone'));
    const routes = writeTemp('proxy-alone-routes', `*,no_grip ${backend.target}\n`);
    const port = await freePort();
    const proxy = startCommand([
      'proxy',
      '--routes',
      routes,
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
    ]);
    await proxy.waitForLog('proxy ready');
    expect(commandLine(proxy.child.pid!)).toMatch(/\bproxy\b/);
    expect((await send(`http://127.0.0.1:${port}/`)).body.toString()).toBe('alone');
    proxy.child.kill('SIGTERM');
    expect(await proxy.exit).toBe(0);
  });

  test('thumbtack handler runs the handler alone and exits 0 on SIGTERM', async () => {
    const [controlPort, pullPort, subPort] = await Promise.all([
      freePort(),
      freePort(),
      freePort(),
    ]);
    // prettier-ignore
    const handler = startCommand([
      'handler', '--control-port', String(controlPort), '--zmq-pull', `tcp://127.0.0.1:${pullPort}`,
      '--zmq-sub', `tcp://127.0.0.1:${subPort}`, '--bus', `ipc://${path.join(tmpDir, 'alone.bus')}`,
      '--stats', `ipc://${path.join(tmpDir, 'alone.stats')}`,
    ]);
    await handler.waitForLog('handler ready');
    await connectOnce(controlPort);
    handler.child.kill('SIGTERM');
    expect(await handler.exit).toBe(0);
  });

  test('thumbtack proxy with a bad flag exits 2 with one line naming it', async () => {
    expectOneLineFailure(
      await runThumbtackToExit(['proxy', '--routes', validRoutes, '--port', 'x']),
      '--port',
      '"x"',
    );
  });
});

describe('settings precedence', () => {
  test('flags win over THUMBTACK_* variables, which win over the config file', async () => {
    const backend = await startBackend((req, res) => res.end(JSON.stringify(req.headers)));
    const config = writeTemp(
      'precedence.json',
      JSON.stringify({ sigKey: 'file-key', sigIss: 'file-iss', xForwardedFor: 'off' }),
    );
    const tt = await startThumbtack({
      routes: `* ${backend.target}`,
      args: ['--config', config, '--sig-iss', 'flag-iss'],
      env: { THUMBTACK_SIG_KEY: 'env-key', THUMBTACK_SIG_ISS: 'env-iss' },
    });
    const res = await send(tt.url + '/', { headers: { 'x-forwarded-for': '203.0.113.7' } });
    const headers = JSON.parse(res.body.toString()) as Record<string, string>;
    // sigIss: flag over env over file; sigKey: env over file; xForwardedFor: file over default.
    expect(await validateSig(headers['grip-sig']!, 'env-key', 'flag-iss')).toBe(true);
    expect(headers['x-forwarded-for']).toBe('203.0.113.7');
  });
});

describe('supervision', () => {
  test('--workers 2 starts two proxy workers that share the client port', async () => {
    const backend = await startSlowBackend('b');
    const tt = await startThumbtack({ routes: `*,no_grip ${backend.target}`, workers: 2 });
    const pids = proxyWorkerPids(tt);
    expect(pids).toHaveLength(2);
    // The kernel spreads fresh connections over both listeners (SO_REUSEPORT).
    for (let i = 0; i < 40 && new Set(accessPids(tt)).size < 2; i++) {
      expect((await send(tt.url + `/spread-${i}`)).status).toBe(200);
      await tt.waitForLog((l) => l.msg === 'request' && l.path === `/spread-${i}`);
    }
    expect(new Set(accessPids(tt))).toEqual(new Set(pids));
  });

  test('a proxy worker killed with SIGKILL is restarted with growing backoff, logged, and requests keep flowing', async () => {
    const backend = await startSlowBackend('b');
    const tt = await startThumbtack({ routes: `*,no_grip ${backend.target}`, workers: 2 });
    const before = proxyWorkerPids(tt);
    expect(before).toHaveLength(2);
    process.kill(before[0]!, 'SIGKILL');
    const first = await tt.waitForLog(
      (l) => l.msg.includes('restarting') && l.signal === 'SIGKILL',
    );
    expect(first.level).toBe('warn');
    expect(String(first.child)).toMatch(/^proxy/);
    await waitUntil(() => proxyWorkerPids(tt).length === 2);
    const after = proxyWorkerPids(tt);
    expect(after).toContain(before[1]);
    expect(after).not.toContain(before[0]);
    for (let i = 0; i < 10; i++) expect((await send(tt.url + `/after-${i}`)).status).toBe(200);

    // The replacement dying soon after waits longer before its own restart.
    const replacement = after.find((pid) => pid !== before[1])!;
    process.kill(replacement, 'SIGKILL');
    const second = await tt.waitForLog(
      (l) => l.msg.includes('restarting') && l.child === first.child && l !== first,
    );
    expect(second.restartInMs as number).toBeGreaterThan(first.restartInMs as number);
    await waitUntil(() => proxyWorkerPids(tt).length === 2);
  });

  test('a handler killed with SIGKILL is restarted and logged', async () => {
    const tt = await startThumbtack({ routes: `* 127.0.0.1:9` });
    // The running handler, and what is logged after the kill (see ws-publish's restart test).
    const pid = childPid(tt, 'handler')!;
    const seen = tt.logs.length;
    process.kill(pid, 'SIGKILL');
    await waitForRestart(tt, 'handler', pid);
    await waitUntil(() =>
      tt.logs.slice(seen).some((l) => l.msg.includes('restarting') && l.child === 'handler'),
    );
    await waitUntil(() => tt.logs.slice(seen).some((l) => l.msg === 'handler ready'));
  });

  test('SIGHUP reloads the routes (and settings) in every worker without dropping requests or connections', async () => {
    const oldBackend = await startSlowBackend('old');
    const newBackend = await startSlowBackend('new');
    const tt = await startThumbtack({
      routes: `*,id=old,path_beg=/old/,no_grip ${oldBackend.target}\n`,
      workers: 2,
    });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      expect((await send(tt.url + '/old/warm', { agent })).body.toString()).toBe('old:/old/warm');
      expect((await send(tt.url + '/new/x')).status).toBe(502);
      const slow = send(tt.url + '/old/slow');
      slow.catch(() => undefined);
      await waitUntil(() => oldBackend.waiting.length === 1);

      fs.writeFileSync(
        tt.routesFile,
        `*,id=old,path_beg=/old/,no_grip ${oldBackend.target}\n*,id=new,path_beg=/new/,no_grip ${newBackend.target}\n`,
      );
      tt.process.kill('SIGHUP');
      await waitUntil(
        () => tt.logs.filter((l) => l.msg === 'reloaded settings and routes').length === 2,
      );

      // Fresh connections land on either worker; every one of them must know the new route.
      for (let i = 0; i < 10; i++) {
        expect((await send(tt.url + `/new/${i}`)).body.toString()).toBe(`new:/new/${i}`);
      }
      oldBackend.release('slow done');
      const slowRes = await slow;
      expect(slowRes.status).toBe(200);
      expect(slowRes.body.toString()).toBe('slow done');
      const again = await send(tt.url + '/old/again', { agent });
      expect(again.isReusedSocket).toBe(true);
      expect(again.body.toString()).toBe('old:/old/again');
    } finally {
      agent.destroy();
    }
  });

  test('SIGHUP with a broken routes file keeps the old routes and logs why', async () => {
    const backend = await startSlowBackend('b');
    const tt = await startThumbtack({ routes: `*,no_grip ${backend.target}\n` });
    fs.writeFileSync(tt.routesFile, `*,no_grip ${backend.target}\n*,bogus_option 127.0.0.1:1\n`);
    tt.process.kill('SIGHUP');
    const line = await tt.waitForLog((l) => l.level === 'error' && /reload/.test(l.msg));
    expect(JSON.stringify(line)).toContain(`${tt.routesFile}:2`);
    expect((await send(tt.url + '/still')).body.toString()).toBe('b:/still');
    expect(tt.process.exitCode).toBeNull();
  });
});

describe('health', () => {
  test("the control port's /readyz turns ready once every worker is on the handler's bus", async () => {
    const tt = await startThumbtack({ routes: `* 127.0.0.1:9`, workers: 2 });
    const readyz = async () => {
      const res = await fetch(`${tt.controlUrl}/readyz`);
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    let state = await readyz();
    for (let i = 0; i < 50 && state.body['workers'] !== 2; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      state = await readyz();
    }
    expect(state).toEqual({ status: 200, body: { ready: true, workers: 2 } });
    expect((await fetch(`${tt.controlUrl}/healthz`)).status).toBe(200);
  });
});

describe('worker health port', () => {
  test('--health-port: each worker answers /healthz, and /readyz says whether it is on the handler bus', async () => {
    const healthPort = await freePort();
    const tt = await startThumbtack({
      routes: `* 127.0.0.1:9`,
      workers: 2,
      args: ['--health-port', String(healthPort)],
    });
    const probe = async (path: string) => {
      const res = await fetch(`http://127.0.0.1:${healthPort}${path}`);
      return { status: res.status, body: await res.text() };
    };
    /** Probes until `isWanted` (bounded): the bus connects and reconnects on its own time. */
    const probeUntil = async (isWanted: (status: number) => boolean) => {
      let result = await probe('/readyz');
      for (let i = 0; i < 100 && !isWanted(result.status); i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        result = await probe('/readyz');
      }
      return result;
    };
    expect(await probe('/healthz')).toEqual({ status: 200, body: '{"status":"ok"}\n' });
    expect((await probe('/elsewhere')).status).toBe(404);
    expect(await probeUntil((status) => status === 200)).toEqual({
      status: 200,
      body: '{"ready":true}\n',
    });

    // Without the handler a worker still proxies, but publishes cannot reach it: not ready.
    const handler = childPid(tt, 'handler')!;
    process.kill(handler, 'SIGKILL');
    const down = await probeUntil((status) => status === 503);
    expect(down.status).toBe(503);
    expect(JSON.parse(down.body)).toEqual({
      ready: false,
      problems: ['not connected to the handler bus: publishes cannot reach this worker'],
    });
    await waitForRestart(tt, 'handler', handler);
    expect((await probeUntil((status) => status === 200)).status).toBe(200);
  });
});

describe('stopping', () => {
  test('SIGTERM stops accepting, lets an in-flight request finish, and exits 0', async () => {
    const backend = await startSlowBackend('b');
    const tt = await startThumbtack({ routes: `*,no_grip ${backend.target}` });
    const children = tt.logs
      .filter((l) => l.msg === 'child started')
      .map((l) => l.childPid as number);
    const slow = send(tt.url + '/slow');
    slow.catch(() => undefined);
    await waitUntil(() => backend.waiting.length === 1);
    const exit = exitOf(tt);
    tt.process.kill('SIGTERM');
    await tt.waitForLog((l) => l.msg === 'draining');
    // The worker logs `draining` just before it closes its listener: poll for the refusal.
    await waitForRefusal(tt.port, Date.now() + 2_000);
    expect(backend.waiting).toHaveLength(1);
    backend.release('finished while draining');
    const res = await slow;
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('finished while draining');
    expect(await exit).toBe(0);
    for (const pid of children) expect(isAlive(pid), `child ${pid}`).toBe(false);
  });

  test('a request still running at --drain-timeout is cut and the runner exits 0', async () => {
    const backend = await startSlowBackend('b');
    const tt = await startThumbtack({
      routes: `*,no_grip ${backend.target}`,
      args: ['--drain-timeout', '0.5'],
    });
    const slow = send(tt.url + '/slow');
    slow.catch(() => undefined);
    await waitUntil(() => backend.waiting.length === 1);
    const exit = exitOf(tt);
    const started = Date.now();
    tt.process.kill('SIGTERM');
    expect(await exit).toBe(0);
    // 0.5 s of drain, then the worker exits by itself: the runner never has to kill it.
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(tt.logs.filter((l) => l.msg.includes('killing'))).toEqual([]);
    await tt.waitForLog((l) => l.process === 'proxy' && l.msg.includes('drain timeout'));
    // Cut: the client gets a 502 from the worker on its way out, or a closed connection.
    expect(
      await slow.then(
        (res) => res.status,
        () => 'closed',
      ),
    ).toBeOneOf([502, 'closed']);
  });

  test('SIGINT to the whole process group (Ctrl-C) drains and exits 0', async () => {
    const backend = await startSlowBackend('b');
    const tt = await startThumbtack({ routes: `*,no_grip ${backend.target}`, detached: true });
    const slow = send(tt.url + '/slow');
    slow.catch(() => undefined);
    await waitUntil(() => backend.waiting.length === 1);
    const exit = exitOf(tt);
    process.kill(-tt.process.pid!, 'SIGINT');
    await tt.waitForLog((l) => l.msg === 'draining');
    backend.release('finished after Ctrl-C');
    expect((await slow).body.toString()).toBe('finished after Ctrl-C');
    expect(await exit).toBe(0);
  });
});

function connectOnce(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
    socket.once('error', reject);
  });
}

/** Polls TCP connects until one is refused (the listener is closed) or the deadline passes. */
async function waitForRefusal(port: number, deadline: number): Promise<void> {
  for (;;) {
    try {
      await connectOnce(port);
    } catch (err) {
      expect((err as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
      return;
    }
    if (Date.now() > deadline) throw new Error(`port ${port} still accepting connections`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

interface NpxRun {
  child: ChildProcess;
  exit: Promise<number | null>;
  port: number;
  /** The runner's JSON log lines (stdout), which outlive npx if npx dies first. */
  stdout(): string;
}

const npxRuns = new Set<NpxRun>();

afterEach(() => {
  for (const run of npxRuns) if (run.child.exitCode === null) run.child.kill('SIGKILL');
  npxRuns.clear();
});

/** Starts thumbtack exactly as outside harnesses do and waits for all four ports. */
async function startNpx(backend: Backend): Promise<NpxRun> {
  const routes = writeTemp(`npx-routes-${npxRuns.size}`, `* ${backend.target}\n`);
  const [port, controlPort, pullPort, subPort] = await Promise.all([
    freePort(),
    freePort(),
    freePort(),
    freePort(),
  ]);
  // prettier-ignore
  const child = spawn('npx', [
    '--no', '--', 'thumbtack', '--routes', routes, '--port', String(port),
    '--control-port', String(controlPort), '--zmq-pull', `tcp://127.0.0.1:${pullPort}`,
    '--zmq-sub', `tcp://127.0.0.1:${subPort}`,
  ], { cwd: projectRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.resume();
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const run: NpxRun = { child, exit, port, stdout: () => stdout };
  npxRuns.add(run);
  // "Within a few seconds" in the contract; the bound leaves room for a busy machine.
  const deadline = Date.now() + 15_000;
  for (const p of [port, controlPort, pullPort, subPort]) await waitForPort(p, deadline);
  return run;
}

describe('the npx contract used by outside harnesses', () => {
  // npm 11 installs a project's own bin into its npx cache on the first `npx` in a clone
  // (several seconds, and a run killed meanwhile leaves a cache every later npx fails on).
  // That is npm's one-time set-up, not thumbtack's start-up: it happens here, to completion.
  beforeAll(async () => {
    await new Promise<void>((resolve, reject) => {
      execFile('npx', ['--no', '--', 'thumbtack', '--help'], { cwd: projectRoot }, (err) =>
        err ? reject(err) : resolve(),
      );
    });
  }, 120_000);

  test('npx --no -- thumbtack serves on all four ports with handler and proxy children, and SIGTERM drains every process', async () => {
    const backend = await startBackend((_req, res) => res.end('through npx'));
    const run = await startNpx(backend);
    const tree = processTree(run.child.pid!).slice(1); // the root comes first
    const lines = tree.map(commandLine);
    expect(
      lines.filter((l) => /\bhandler\b/.test(l)),
      lines.join('\n'),
    ).toHaveLength(1);
    expect(
      lines.filter((l) => /\bproxy\b/.test(l)),
      lines.join('\n'),
    ).toHaveLength(os.availableParallelism());
    expect((await send(`http://127.0.0.1:${run.port}/`)).body.toString()).toBe('through npx');

    run.child.kill('SIGTERM');
    await run.exit;
    await waitUntil(() => tree.every((pid) => !isAlive(pid)), 15_000);
    const logs = run
      .stdout()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { msg: string; process: string });
    expect(logs.some((l) => l.process === 'proxy' && l.msg === 'draining')).toBe(true);
    expect(logs.some((l) => l.process === 'runner' && l.msg === 'stopped')).toBe(true);
  }, 60_000);

  // npm runs the bin through its script shell; the project's .npmrc makes that bash, which
  // execs the single command, so the SIGTERM reaches the runner and npx exits with its 0.
  test('npx itself exits 0 after SIGTERM', async () => {
    const backend = await startBackend((_req, res) => res.end('through npx'));
    const run = await startNpx(backend);
    const tree = processTree(run.child.pid!).slice(1); // the root comes first
    run.child.kill('SIGTERM');
    const code = await run.exit;
    await waitUntil(() => tree.every((pid) => !isAlive(pid)), 15_000);
    expect(code).toBe(0);
  }, 60_000);
});

/** Polls a TCP connect until it succeeds or the deadline passes. */
async function waitForPort(port: number, deadline: number): Promise<void> {
  for (;;) {
    try {
      await connectOnce(port);
      return;
    } catch (err) {
      if (Date.now() > deadline) {
        throw new Error(`port ${port} not accepting: ${(err as Error).message}`, { cause: err });
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

describe('uWebSockets.js fallback', () => {
  test('the slow JavaScript emulation is detected at start-up and logged as a warning', async () => {
    const backend = await startBackend((_req, res) => res.end('ok'));
    const tt = await startThumbtack({
      routes: `*,no_grip ${backend.target}`,
      env: { UWS_USE_FALLBACK: '1' },
    });
    const line = await tt.waitForLog(
      (l) => l.level === 'warn' && /emulation|fallback|fell back/i.test(l.msg),
    );
    expect(line.process).toBe('proxy');
  });
});
