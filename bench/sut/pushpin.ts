import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { freePorts } from '../free-port.js';
import { processTree, stopTree } from '../process-tree.js';
import { spawnLogged, stopGraceMs, waitForHttp, type Sut, type SutOptions } from './sut.js';

const packagedConfig = '/etc/pushpin/pushpin.conf';
const packagedInternal = '/usr/lib/pushpin/internal.conf';

/** Pushpin's version when its binary is on PATH, else undefined. */
export function pushpinVersion(): string | undefined {
  try {
    return execFileSync('pushpin', ['--version'], { encoding: 'utf8', timeout: 5_000 }).trim();
  } catch {
    return undefined;
  }
}

/** The packaged (Debian) values of the handler's publish limiter, reported next to ours. */
export function packagedLimiter(): { messageRate: string; messageHwm: string } | undefined {
  if (!fs.existsSync(packagedConfig)) return undefined;
  const handler = readIni(fs.readFileSync(packagedConfig, 'utf8')).get('handler');
  return {
    messageRate: handler?.get('message_rate') ?? '?',
    messageHwm: handler?.get('message_hwm') ?? '?',
  };
}

/**
 * A private Pushpin instance: the packaged pushpin.conf with every port moved to a free
 * loopback port, rundir/logdir in our work dir, zurl run by the runner on private IPC
 * sockets, and the publish limiter off (message_rate=0, message_hwm=0: any non-zero rate
 * stalls steady publish streams for seconds, so only 0 compares fairly).
 */
export async function startPushpin(options: SutOptions): Promise<Sut> {
  const [port, publishPort, pullPort, subPort, commandPort] = await freePorts(5);
  const dir = options.workDir;
  const internal = fs
    .readFileSync(packagedInternal, 'utf8')
    .replace(/^zurl_out_specs=.*$/m, 'zurl_out_specs=ipc://{rundir}/{ipc_prefix}zurl-in')
    .replace(
      /^zurl_out_stream_specs=.*$/m,
      'zurl_out_stream_specs=ipc://{rundir}/{ipc_prefix}zurl-in-stream',
    )
    .replace(/^zurl_in_specs=.*$/m, 'zurl_in_specs=ipc://{rundir}/{ipc_prefix}zurl-out');
  fs.writeFileSync(path.join(dir, 'internal.conf'), internal);
  fs.writeFileSync(
    path.join(dir, 'routes'),
    `*,path_beg=/ws/ 127.0.0.1:${options.backendPort},over_http\n* 127.0.0.1:${options.backendPort}\n`,
  );
  const config = editIni(fs.readFileSync(packagedConfig, 'utf8'), {
    global: {
      include: path.join(dir, 'internal.conf'),
      rundir: path.join(dir, 'run'),
    },
    runner: {
      services: 'condure,zurl,pushpin-proxy,pushpin-handler',
      http_port: `127.0.0.1:${port}`,
      logdir: path.join(dir, 'log'),
    },
    proxy: { routesfile: 'routes' },
    handler: {
      push_in_spec: `tcp://127.0.0.1:${pullPort}`,
      push_in_sub_specs: `tcp://127.0.0.1:${subPort}`,
      push_in_sub_connect: 'false',
      push_in_http_addr: '127.0.0.1',
      push_in_http_port: String(publishPort),
      command_spec: `tcp://127.0.0.1:${commandPort}`,
      message_rate: '0',
      message_hwm: '0',
    },
  });
  const configFile = path.join(dir, 'pushpin.conf');
  fs.writeFileSync(configFile, config);
  const logFile = path.join(dir, 'pushpin.log');
  const pid = spawnLogged('pushpin', ['--config', configFile], logFile, process.env, dir);
  await waitForHttp(port, '/plain/ready', 30_000).catch(async (err: unknown) => {
    await stopTree(pid, 2_000);
    throw err;
  });
  await waitForHttp(publishPort, '/', 10_000).catch(() => undefined); // the publish port answers 404 on /
  return {
    name: 'pushpin',
    clientPort: port,
    publishUrl: `http://127.0.0.1:${publishPort}/publish/`,
    zmqSub: `tcp://127.0.0.1:${subPort}`,
    processes: () => processTree(pid),
    description: 'condure+zurl+proxy+handler, message_rate=0, message_hwm=0',
    logFile,
    logFiles: [
      logFile,
      ...['condure', 'zurl', 'pushpin-proxy', 'pushpin-handler'].map((s) =>
        path.join(dir, 'log', `${s}.log`),
      ),
    ],
    stop: () => stopTree(pid, stopGraceMs),
  };
}

type Ini = Map<string, Map<string, string>>;

function readIni(text: string): Ini {
  const out: Ini = new Map();
  let section = out.get('') ?? new Map<string, string>();
  out.set('', section);
  for (const line of text.split('\n')) {
    const header = /^\[(.+)\]\s*$/.exec(line);
    if (header) {
      section = new Map();
      out.set(header[1], section);
      continue;
    }
    const kv = /^([A-Za-z0-9_]+)=(.*)$/.exec(line);
    if (kv) section.set(kv[1], kv[2]);
  }
  return out;
}

/** Sets keys in an INI text, keeping every other line (and comment) as packaged. */
export function editIni(text: string, changes: Record<string, Record<string, string>>): string {
  const pending = new Map(
    Object.entries(changes).map(([s, kv]) => [s, new Map(Object.entries(kv))]),
  );
  const out: string[] = [];
  let section = '';
  const flush = () => {
    const rest = pending.get(section);
    if (rest) for (const [key, value] of rest) out.push(`${key}=${value}`);
    pending.delete(section);
  };
  for (const line of text.split('\n')) {
    const header = /^\[(.+)\]\s*$/.exec(line);
    if (header) {
      flush();
      section = header[1];
      out.push(line);
      continue;
    }
    const kv = /^([A-Za-z0-9_]+)=/.exec(line);
    const wanted = kv ? pending.get(section)?.get(kv[1]) : undefined;
    if (kv && wanted !== undefined) {
      out.push(`${kv[1]}=${wanted}`);
      pending.get(section)!.delete(kv[1]);
    } else {
      out.push(line);
    }
  }
  flush();
  for (const [name, rest] of pending) {
    out.push(`[${name}]`);
    for (const [key, value] of rest) out.push(`${key}=${value}`);
  }
  return out.join('\n') + '\n';
}
