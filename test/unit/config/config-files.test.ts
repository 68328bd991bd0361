import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadSettings } from '../../../src/config/load.js';
import { ConfigError } from '../../../src/errors.js';
import { PushpinConfSyntaxError } from '../../../src/errors.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thumbtack-config-files-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

let fileCount = 0;
/** Writes a file under a fresh subfolder of the temp dir; returns its path. */
function write(name: string, text: string): string {
  const file = path.join(dir, String(++fileCount), name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  return file;
}

function loadError(argv: string[], env: NodeJS.ProcessEnv = {}): Error {
  try {
    loadSettings(argv, env);
  } catch (err) {
    return err as Error;
  }
  throw new Error('loaded without error');
}

describe('--pushpin-config', () => {
  it('takes the conf values; flags, THUMBTACK_* and --config JSON each win over them', () => {
    const conf = write(
      'pushpin.conf',
      '[runner]\nhttp_port=7000\nlog_level=3\n[handler]\npush_in_http_port=6000\nconnection_subscription_max=7\n[proxy]\nsig_iss=conf\n',
    );
    const json = write('thumbtack.json', JSON.stringify({ subscriptionMax: 8 }));
    const { settings } = loadSettings(
      ['--pushpin-config', conf, '--config', json, '--port', '7100'],
      { THUMBTACK_CONTROL_PORT: '6100' },
    );
    expect(settings.port).toBe(7100);
    expect(settings.controlPort).toBe(6100);
    expect(settings.subscriptionMax).toBe(8);
    expect(settings.logLevel).toBe('debug');
    expect(settings.sigIss).toBe('conf');
    expect(settings.pushpinConfig).toBe(conf);
  });

  it('is also THUMBTACK_PUSHPIN_CONFIG, and the pushpinConfig key of --config (relative to it)', () => {
    const conf = write('pushpin.conf', '[runner]\nhttp_port=7001\n');
    expect(loadSettings([], { THUMBTACK_PUSHPIN_CONFIG: conf }).settings.port).toBe(7001);
    const json = path.join(path.dirname(conf), 'thumbtack.json');
    fs.writeFileSync(json, JSON.stringify({ pushpinConfig: 'pushpin.conf' }));
    expect(loadSettings(['--config', json], {}).settings.port).toBe(7001);
  });

  it('routesfile is relative to the conf folder', () => {
    const conf = write('pushpin.conf', '[proxy]\nroutesfile=routes\n');
    expect(loadSettings(['--pushpin-config', conf], {}).settings.routes).toBe(
      path.join(path.dirname(conf), 'routes'),
    );
  });

  it('returns the keys without effect for the runner to log', () => {
    const conf = write('pushpin.conf', '[runner]\nlogdir=/var/log\n[proxy]\nnot_a_key=1\n');
    expect(loadSettings(['--pushpin-config', conf], {}).pushpinIgnored).toEqual({
      file: conf,
      ignored: [
        { key: '[runner] logdir', reason: expect.stringContaining('stdout') },
        { key: '[proxy] not_a_key', reason: 'not a Pushpin setting' },
      ],
    });
  });

  it('a syntax error names the file and line', () => {
    const conf = write('pushpin.conf', '[runner]\nhttp_port\n');
    const error = loadError(['--pushpin-config', conf]);
    expect(error).toBeInstanceOf(PushpinConfSyntaxError);
    expect(error.message).toBe(`${conf}:2: "http_port" has no "="; write key=value`);
  });

  it('a value thumbtack refuses names the file, section and key, even when a flag overrides it', () => {
    const conf = write('pushpin.conf', '[handler]\npush_in_http_addr=not an address\n');
    for (const argv of [[], ['--control-host', '127.0.0.1']]) {
      const error = loadError(['--pushpin-config', conf, ...argv]);
      expect(error).toBeInstanceOf(ConfigError);
      expect(error.message).toBe(
        `${conf}: [handler] push_in_http_addr: bad value "not an address"; allowed: an IPv4/IPv6 address or host name`,
      );
    }
  });

  it('refused keys stop start-up in one line, unless a flag says what to do instead', () => {
    const conf = write(
      'pushpin.conf',
      '[runner]\nhttp_port=7999,8000\nlocal_ports=/run/p.sock\n[proxy]\nauto_cross_origin=true\n',
    );
    const error = loadError(['--pushpin-config', conf]);
    expect(error.message).toMatch(
      new RegExp(
        `^${conf}: cannot run as configured: \\[runner\\] http_port \\(.+\\); \\[runner\\] local_ports \\(.+\\); \\[proxy\\] auto_cross_origin \\(.+\\)$`,
      ),
    );
    const xff = write('pushpin.conf', '[proxy]\nx_forwarded_for=truncate:2\n');
    expect(loadError(['--pushpin-config', xff]).message).toContain('[proxy] x_forwarded_for');
    const loaded = loadSettings(['--pushpin-config', xff, '--x-forwarded-for', 'append'], {});
    expect(loaded.settings.xForwardedFor).toBe('append');
    expect(loaded.pushpinIgnored?.ignored).toEqual([
      { key: '[proxy] x_forwarded_for', reason: 'overridden by --x-forwarded-for' },
    ]);
  });

  it('client_maxconn caps the node: each worker gets its share', () => {
    const conf = write('pushpin.conf', '[runner]\nclient_maxconn=1000\n');
    expect(
      loadSettings(['--pushpin-config', conf, '--workers', '3'], {}).settings.maxConnections,
    ).toBe(334);
    expect(
      loadSettings(['--pushpin-config', conf, '--max-connections', '5'], {}).settings
        .maxConnections,
    ).toBe(5);
  });

  it("https_ports needs Pushpin's default certificate in runner/certs, and then serves TLS with it", () => {
    const conf = write('pushpin.conf', '[runner]\nhttp_port=\nhttps_ports=8443\n');
    const certs = path.join(path.dirname(conf), 'runner', 'certs');
    expect(loadError(['--pushpin-config', conf]).message).toBe(
      `${conf}: [runner] https_ports: cannot read "${path.join(certs, 'default_8443.crt')}" (ENOENT): put Pushpin's certificate and key there, or give --tls-cert and --tls-key`,
    );
    fs.mkdirSync(certs, { recursive: true });
    fs.writeFileSync(path.join(certs, 'default_8443.crt'), 'cert');
    fs.writeFileSync(path.join(certs, 'default_8443.key'), 'key');
    const { settings } = loadSettings(['--pushpin-config', conf], {});
    expect(settings.port).toBe(8443);
    expect(settings.tlsCert).toBe(path.join(certs, 'default_8443.crt'));
    expect(settings.tlsKey).toBe(path.join(certs, 'default_8443.key'));
  });

  it('a missing file is named', () => {
    expect(loadError(['--pushpin-config', path.join(dir, 'nope.conf')]).message).toBe(
      `pushpin config: cannot read "${path.join(dir, 'nope.conf')}": ENOENT`,
    );
  });
});

describe('--config JSON files', () => {
  it('paths are relative to the file’s folder: routes, certificates, a file: sig key', () => {
    const json = write(
      'thumbtack.json',
      JSON.stringify({
        routes: 'routes',
        tlsCert: 'tls/cert.pem',
        tlsKey: '/abs/key.pem',
        controlTlsCert: '../c.pem',
        controlTlsKey: 'k.pem',
        sigKey: 'file:keys/sig.pem',
      }),
    );
    const folder = path.dirname(json);
    const { settings } = loadSettings(['--config', json], {});
    expect(settings.routes).toBe(path.join(folder, 'routes'));
    expect(settings.tlsCert).toBe(path.join(folder, 'tls/cert.pem'));
    expect(settings.tlsKey).toBe('/abs/key.pem');
    expect(settings.controlTlsCert).toBe(path.join(path.dirname(folder), 'c.pem'));
    expect(settings.controlTlsKey).toBe(path.join(folder, 'k.pem'));
    expect(settings.sigKey).toBe(`file:${path.join(folder, 'keys/sig.pem')}`);
  });

  it('paths given as flags stay as given', () => {
    expect(loadSettings(['--routes', 'config/routes'], {}).settings.routes).toBe('config/routes');
  });

  it('an error for a value from the file names the file and key, not a flag', () => {
    const json = write('thumbtack.json', JSON.stringify({ port: 'x' }));
    expect(loadError(['--config', json]).message).toBe(
      `${json}: port: bad value "x"; allowed: an integer port 0-65535`,
    );
    const typed = write('thumbtack.json', JSON.stringify({ pushpinConfig: 7 }));
    expect(loadError(['--config', typed]).message).toBe(
      `${typed}: pushpinConfig: bad value 7; allowed: a string`,
    );
    const half = write('thumbtack.json', JSON.stringify({ tlsCert: 'c.pem' }));
    expect(loadError(['--config', half]).message).toBe(
      `${half}: tlsCert and --tls-key must be given together`,
    );
    const both = write('thumbtack.json', JSON.stringify({ redis: 'redis://h:1' }));
    expect(loadError(['--config', both, '--redis-cluster', 'h:2']).message).toBe(
      `${both}: redis and --redis-cluster cannot be given together; choose one`,
    );
  });
});
