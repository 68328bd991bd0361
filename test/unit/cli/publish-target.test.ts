import { decodeJwt } from 'jose';
import { describe, expect, it } from 'vitest';
import { resolveTarget, type TargetRequest } from '../../../src/cli/publish-target.js';
import { UsageError } from '../../../src/cli/usage-error.js';

function target(changes: Partial<TargetRequest>) {
  return resolveTarget({
    spec: undefined,
    controlUri: undefined,
    token: undefined,
    jwtKey: undefined,
    env: {},
    ...changes,
  });
}

describe('resolveTarget: --spec, --control-uri and GRIP_URL', () => {
  it('defaults to the local control API, THUMBTACK_CONTROL_PORT and _TOKEN included', async () => {
    expect(await target({})).toEqual({
      kind: 'http',
      url: 'http://127.0.0.1:5561/publish/',
      authorization: undefined,
    });
    expect(
      await target({ env: { THUMBTACK_CONTROL_PORT: '6000', THUMBTACK_CONTROL_TOKEN: 't' } }),
    ).toEqual({ kind: 'http', url: 'http://127.0.0.1:6000/publish/', authorization: 'Bearer t' });
  });

  it.each<[string, Partial<TargetRequest>]>([
    ['--spec', { spec: 'tcp://127.0.0.1:5560' }],
    ['--spec ipc://', { spec: 'ipc:///tmp/push' }],
    ['GRIP_URL (as pushpin-publish, whose --spec it defaults)', { env: { GRIP_URL: 'tcp://h:1' } }],
  ])('a ZeroMQ spec from %s publishes over PUSH', async (_name, changes) => {
    const spec = changes.spec ?? changes.env?.['GRIP_URL'];
    expect(await target(changes)).toEqual({ kind: 'zmq', spec });
  });

  it('--spec GRIP URL: its path gets /publish/, its iss and key sign a JWT', async () => {
    const resolved = await target({ spec: 'https://h:5561/base/?iss=me&key=k', env: {} });
    expect(resolved.kind === 'http' && resolved.url).toBe('https://h:5561/base/publish/');
    const token = resolved.kind === 'http' ? resolved.authorization!.slice('Bearer '.length) : '';
    expect(decodeJwt(token).iss).toBe('me');
  });

  it('--spec wins over GRIP_URL; --control-uri wins over a GRIP_URL ZeroMQ spec', async () => {
    expect(await target({ spec: 'tcp://a:1', env: { GRIP_URL: 'http://b:2?key=k' } })).toEqual({
      kind: 'zmq',
      spec: 'tcp://a:1',
    });
    expect(await target({ controlUri: 'http://c:3', env: { GRIP_URL: 'tcp://a:1' } })).toEqual({
      kind: 'http',
      url: 'http://c:3/publish/',
      authorization: undefined,
    });
  });

  it.each<[string, Partial<TargetRequest>, string]>([
    [
      '--spec with --control-uri',
      { spec: 'tcp://a:1', controlUri: 'http://b:2' },
      'give --spec or --control-uri, not both',
    ],
    [
      '--token with a ZeroMQ spec',
      { spec: 'tcp://a:1', token: 't' },
      '--token is for the control API; the ZeroMQ input at tcp://a:1 takes no credentials',
    ],
    [
      '--jwt-key with a ZeroMQ GRIP_URL',
      { jwtKey: 'k', env: { GRIP_URL: 'tcp://a:1' } },
      '--jwt-key is for the control API; the ZeroMQ input at tcp://a:1 takes no credentials',
    ],
    [
      'a spec of another scheme',
      { spec: 'inproc://x' },
      '--spec "inproc://x" must be an http:// or https:// URL, or a ZeroMQ tcp:// or ipc:// spec',
    ],
    ['a spec that is not a URL', { spec: '5560' }, '--spec "5560" is not a URL'],
  ])('refuses %s', async (_name, changes, message) => {
    const resolved = target(changes);
    await expect(resolved).rejects.toThrow(UsageError);
    await expect(resolved).rejects.toThrow(message);
  });
});
