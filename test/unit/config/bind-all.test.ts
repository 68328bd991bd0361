import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadSettings } from '../../../src/config/load.js';

const load = (argv: string[], env: NodeJS.ProcessEnv = {}) =>
  loadSettings(['--routes', 'config/routes', ...argv], env).settings;

describe('--bind-all', () => {
  it('leaves the loopback defaults alone when not given', () => {
    const settings = load([]);
    expect(settings.controlHost).toBe('127.0.0.1');
    expect(settings.zmqPull).toBe('tcp://127.0.0.1:5560');
    expect(settings.zmqSub).toBe('tcp://127.0.0.1:5562');
  });

  it('moves the control host and the ZeroMQ inputs to all interfaces, keeping the internal bus private', () => {
    const settings = load(['--bind-all']);
    expect(settings.controlHost).toBe('0.0.0.0');
    expect(settings.zmqPull).toBe('tcp://0.0.0.0:5560');
    expect(settings.zmqSub).toBe('tcp://0.0.0.0:5562');
    expect(settings.bus).toBe('tcp://127.0.0.1:5564');
    expect(settings.host).toBe('0.0.0.0');
  });

  it('is read from THUMBTACK_BIND_ALL and the config file too', () => {
    expect(load([], { THUMBTACK_BIND_ALL: 'true' }).controlHost).toBe('0.0.0.0');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thumbtack-bind-all-'));
    const file = path.join(dir, 'config.json');
    fs.writeFileSync(file, JSON.stringify({ bindAll: true }));
    try {
      expect(load(['--config', file]).zmqPull).toBe('tcp://0.0.0.0:5560');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('never overrides an address given explicitly, by flag or environment', () => {
    const settings = load(
      ['--bind-all', '--control-host', '10.1.2.3', '--zmq-pull', 'ipc:///tmp/pull'],
      { THUMBTACK_ZMQ_SUB: 'tcp://127.0.0.1:6000' },
    );
    expect(settings.controlHost).toBe('10.1.2.3');
    expect(settings.zmqPull).toBe('ipc:///tmp/pull');
    expect(settings.zmqSub).toBe('tcp://127.0.0.1:6000');
  });

  it('keeps the address of a SUB input that connects to a publisher', () => {
    const settings = load(['--bind-all', '--zmq-sub-connect']);
    expect(settings.zmqSub).toBe('tcp://127.0.0.1:5562');
    expect(settings.zmqPull).toBe('tcp://0.0.0.0:5560');
  });

  it('--no-bind-all after the environment turned it on keeps loopback', () => {
    expect(load(['--no-bind-all'], { THUMBTACK_BIND_ALL: '1' }).controlHost).toBe('127.0.0.1');
  });
});
