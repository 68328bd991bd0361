import { describe, expect, it } from 'vitest';
import { defaults, generatorCount, parseOptions, usage } from '../../../bench/options.js';

describe('bench parseOptions', () => {
  it('gives the defaults without arguments', () => {
    expect(parseOptions([])).toEqual(defaults);
  });

  it('applies --quick sizes, then explicit flags wherever they stand', () => {
    const options = parseOptions(['--hold', '700', '--quick', '--duration', '3']);
    expect(options.hold).toBe(700);
    expect(options.duration).toBe(3);
    expect(options.fanout).toBe(1_000); // from --quick
    expect(options.channelRates).toEqual([2_000, 5_000]);
    expect(options.proxyConnections).toEqual(defaults.proxyConnections);
  });

  it('takes --flag=value as well as --flag value', () => {
    const options = parseOptions([
      '--ws-window=4',
      '--out',
      '/tmp/x',
      '--ref-forwarder=undici',
      '--ref-ws-echo',
      'backend',
      '--proxy-generator',
      'node',
    ]);
    expect(options.wsWindow).toBe(4);
    expect(options.out).toBe('/tmp/x');
    expect(options.refForwarder).toBe('undici');
    expect(options.refWsEcho).toBe('backend');
    expect(options.proxyGenerator).toBe('node');
  });

  it('splits lists on commas', () => {
    const options = parseOptions([
      '--proxy-connections',
      '64,256',
      '--sut',
      'thumbtack, ref',
      '--workloads=proxy,hold-ws',
    ]);
    expect(options.proxyConnections).toEqual([64, 256]);
    expect(options.sut).toEqual(['thumbtack', 'ref']);
    expect(options.workloads).toEqual(['proxy', 'hold-ws']);
  });

  it('takes --profile as a switch and allows 0 where 0 means none or automatic', () => {
    const options = parseOptions(['--profile', '--warmup', '0', '--workers', '0']);
    expect(options.profile).toBe(true);
    expect(options.warmup).toBe(0);
    expect(options.workers).toBe(0);
  });

  it('runs nodes by default, last, with 10,000 subscribers and one worker per node', () => {
    const options = parseOptions([]);
    expect(options.workloads.at(-1)).toBe('nodes');
    expect(options.nodeSubscribers).toBe(10_000);
    expect(options.nodeWorkers).toBe(1);
    expect(parseOptions(['--quick']).nodeSubscribers).toBe(1_000);
  });

  it('takes --node-subscribers and --node-workers, and nodes alone as a workload', () => {
    const options = parseOptions([
      '--workloads',
      'nodes',
      '--node-subscribers=3000',
      '--node-workers',
      '2',
    ]);
    expect(options.workloads).toEqual(['nodes']);
    expect(options.nodeSubscribers).toBe(3_000);
    expect(options.nodeWorkers).toBe(2);
    expect(usage).toContain('--node-subscribers N');
    expect(usage).toContain('--node-workers N');
  });

  it('sizes the generators for --node-subscribers like the other connection counts', () => {
    const options = parseOptions(['--quick', '--node-subscribers', '40000']);
    expect(generatorCount(options)).toBe(3);
  });

  it('takes direct with 10,000 connections and a 1,000–20,000/s ramp by default, small with --quick', () => {
    const options = parseOptions(['--workloads', 'direct', '--direct-rates=100,300']);
    expect(options.workloads).toEqual(['direct']);
    expect(options.direct).toBe(10_000);
    expect(options.directRates).toEqual([100, 300]);
    expect(options.directStep).toBe(3);
    expect(defaults.directRates).toEqual([1_000, 2_000, 5_000, 10_000, 20_000]);
    const quick = parseOptions(['--quick']);
    expect(quick.direct).toBe(500);
    expect(quick.directStep).toBe(2);
    expect(generatorCount(parseOptions(['--quick', '--direct', '40000']))).toBe(3);
    expect(usage).toContain('--direct-rates LIST');
  });

  it('refuses 0 subscribers or workers per node', () => {
    expect(() => parseOptions(['--node-subscribers', '0'])).toThrow(
      '--node-subscribers wants a positive number, not "0"',
    );
    expect(() => parseOptions(['--node-workers=0'])).toThrow(
      '--node-workers wants a positive number, not "0"',
    );
  });

  it('refuses an unknown flag, naming it, with the usage', () => {
    expect(() => parseOptions(['--bogus', '1'])).toThrow(/--bogus/);
    expect(() => parseOptions(['--bogus', '1'])).toThrow(usage);
  });

  it('refuses a flag without its value, and a switch with one', () => {
    expect(() => parseOptions(['--duration'])).toThrow(/--duration/);
    expect(() => parseOptions(['--profile=yes'])).toThrow(/--profile/);
  });

  it('refuses bad numbers, naming the flag and the value', () => {
    expect(() => parseOptions(['--duration', '0'])).toThrow(
      '--duration wants a positive number, not "0"',
    );
    expect(() => parseOptions(['--hold=lots'])).toThrow(
      '--hold wants a positive number, not "lots"',
    );
    expect(() => parseOptions(['--warmup=-1'])).toThrow('--warmup wants a number ≥ 0, not "-1"');
    expect(() => parseOptions(['--proxy-connections', '64,0'])).toThrow(
      '--proxy-connections wants a positive number, not "0"',
    );
  });

  it('refuses an unknown sut, workload, ref forwarder, ref echo or proxy generator, naming the value', () => {
    expect(() => parseOptions(['--sut', 'thumbtack,nginx'])).toThrow('unknown --sut "nginx"');
    expect(() => parseOptions(['--workloads', 'proxy,bogus'])).toThrow('unknown workload "bogus"');
    expect(() => parseOptions(['--ref-forwarder', 'fetch'])).toThrow(
      '--ref-forwarder must be raw or undici, not "fetch"',
    );
    expect(() => parseOptions(['--ref-ws-echo', 'remote'])).toThrow(
      '--ref-ws-echo must be local or backend, not "remote"',
    );
    expect(() => parseOptions(['--proxy-generator', 'ab'])).toThrow(
      '--proxy-generator must be auto, wrk, node, not "ab"',
    );
  });
});
