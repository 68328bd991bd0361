import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/errors.js';
import { mapPushpinConf, type PushpinConfMapping } from '../../../src/config/pushpin-conf-map.js';
import { parsePushpinConf } from '../../../src/config/pushpin-conf.js';

const FILE = '/etc/pushpin/pushpin.conf';

const map = (text: string): PushpinConfMapping =>
  mapPushpinConf(parsePushpinConf(text, FILE), FILE);
/** The mapped settings as name → value. */
const values = (text: string): Record<string, unknown> =>
  Object.fromEntries(Object.entries(map(text).settings).map(([k, v]) => [k, v.value]));
const ignoredKeys = (text: string): string[] => map(text).ignored.map((n) => n.key);
const refusedKeys = (text: string): string[] => map(text).refused.map((n) => n.key);

function mapError(text: string): string {
  try {
    map(text);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('mapped without error');
}

/**
 * Every key of the pushpin.conf Pushpin 1.36 packages (Debian's /etc/pushpin/pushpin.conf),
 * plus the keys later releases added (stats_connection_send, allow_compression, cdn_loop,
 * update_on_first_subscription), with their packaged values.
 */
const packaged = `
[global]
include={libdir}/internal.conf
rundir=/var/run/pushpin
ipc_prefix=pushpin-
port_offset=0
stats_connection_ttl=120
stats_connection_send=true
[runner]
services=condure,pushpin-proxy,pushpin-handler
http_port=7999
logdir=/var/log/pushpin
log_level=2
client_buffer_size=8192
client_maxconn=50000
allow_compression=false
condure_bin=condure
mongrel2_bin=mongrel2
m2sh_bin=m2sh
zurl_bin=zurl
[proxy]
routesfile=routes
debug=false
auto_cross_origin=false
accept_x_forwarded_protocol=false
set_x_forwarded_protocol=proto-only
x_forwarded_for=
x_forwarded_for_trusted=
orig_headers_need_mark=
accept_pushpin_route=false
cdn_loop=
log_from=false
log_user_agent=false
sig_iss=pushpin
sig_key=changeme
upstream_key=
sockjs_url=http://cdn.jsdelivr.net/sockjs/0.3.4/sockjs.min.js
updates_check=off
organization_name=
[handler]
push_in_spec=tcp://127.0.0.1:5560
push_in_sub_specs=tcp://127.0.0.1:5562
push_in_sub_connect=false
push_in_http_addr=127.0.0.1
push_in_http_port=5561
push_in_http_max_headers_size=10000
push_in_http_max_body_size=1000000
stats_spec=ipc://{rundir}/{ipc_prefix}stats
command_spec=tcp://127.0.0.1:5563
message_rate=2500
message_hwm=25000
message_wait=5000
id_cache_ttl=60
update_on_first_subscription=true
connection_subscription_max=20
subscription_linger=60
stats_subscription_ttl=60
stats_report_interval=10
stats_format=tnetstring
`;

describe('mapPushpinConf: the packaged pushpin.conf', () => {
  it('takes every setting thumbtack has, with paths relative to the conf folder', () => {
    const mapping = map(packaged);
    expect(values(packaged)).toEqual({
      port: 7999,
      logLevel: 'info',
      wsCompression: false,
      routes: '/etc/pushpin/routes',
      xForwardedProto: true,
      xForwardedFor: 'off',
      accessLogClient: false,
      sigIss: 'pushpin',
      sigKey: 'changeme',
      zmqPull: 'tcp://127.0.0.1:5560',
      zmqSub: 'tcp://127.0.0.1:5562',
      zmqSubConnect: false,
      controlHost: '127.0.0.1',
      controlPort: 5561,
      publishBodyMax: 1000000,
      subscriptionMax: 20,
      subscriptionLinger: 60,
      upstreamKey: '',
    });
    expect(mapping.nodeConnections).toEqual({ value: 50000, key: '[runner] client_maxconn' });
    expect(mapping.settings.routes?.key).toBe('[proxy] routesfile');
  });

  it('refuses nothing, and names each key without effect with its reason', () => {
    const mapping = map(packaged);
    expect(mapping.refused).toEqual([]);
    expect(mapping.ignored.map((n) => n.key)).toEqual([
      '[global] include',
      '[global] rundir',
      '[global] ipc_prefix',
      '[global] stats_connection_ttl',
      '[global] stats_connection_send',
      '[runner] services',
      '[runner] logdir',
      '[runner] client_buffer_size',
      '[runner] condure_bin',
      '[runner] mongrel2_bin',
      '[runner] m2sh_bin',
      '[runner] zurl_bin',
      '[proxy] sockjs_url',
      '[handler] stats_spec',
      '[handler] command_spec',
      '[handler] message_rate',
      '[handler] message_hwm',
      '[handler] update_on_first_subscription',
      '[handler] stats_subscription_ttl',
      '[handler] stats_report_interval',
      '[handler] stats_format',
    ]);
    for (const note of mapping.ignored) expect(note.reason).toMatch(/\w{4,}/);
  });
});

describe('mapPushpinConf: [runner]', () => {
  it.each([
    ['7999', { port: 7999 }],
    ['0.0.0.0:7999', { port: 7999, host: '0.0.0.0' }],
    ['127.0.0.1:8080', { port: 8080, host: '127.0.0.1' }],
    ['[::]:7999', { port: 7999, host: '::' }],
    [' 7999 ', { port: 7999 }],
    ['', {}],
  ])('http_port=%s', (value, expected) => {
    expect(values(`[runner]\nhttp_port=${value}\n`)).toEqual(expected);
  });

  it.each(['abc', '70000', '-1', '0.0.0.0:', 'localhost:x'])(
    'http_port=%s is a bad value naming the file, section and key',
    (value) => {
      expect(mapError(`[runner]\nhttp_port=${value}\n`)).toBe(
        `${FILE}: [runner] http_port: bad value ${JSON.stringify(value)}; allowed: a port 0-65535, or address:port`,
      );
    },
  );

  it('https_ports: the port, with Pushpin’s default certificate for it from runner/certs', () => {
    expect(values('[runner]\nhttp_port=\nhttps_ports=0.0.0.0:8443\n')).toEqual({
      port: 8443,
      host: '0.0.0.0',
      tlsCert: '/etc/pushpin/runner/certs/default_8443.crt',
      tlsKey: '/etc/pushpin/runner/certs/default_8443.key',
    });
  });

  it('refuses two client ports (plain and TLS, or a list), unless --port overrides them', () => {
    const both = map('[runner]\nhttp_port=7999\nhttps_ports=443\n');
    expect(both.refused.map((n) => [n.key, n.overriddenBy])).toEqual([
      ['[runner] http_port', ['port']],
      ['[runner] https_ports', ['port']],
    ]);
    expect(both.settings).toEqual({});
    expect(refusedKeys('[runner]\nhttp_port=7999,8000\n')).toEqual(['[runner] http_port']);
  });

  it('refuses Unix socket listeners, and services without both proxy and handler', () => {
    expect(refusedKeys('[runner]\nlocal_ports=/run/pushpin.sock\n')).toEqual([
      '[runner] local_ports',
    ]);
    expect(refusedKeys('[runner]\nlocal_ports=\n')).toEqual([]);
    expect(refusedKeys('[runner]\nservices=condure,pushpin-proxy\n')).toEqual([
      '[runner] services',
    ]);
    expect(refusedKeys('[runner]\nservices=connmgr,proxy,handler\n')).toEqual([]);
  });

  it.each([
    ['0', 'error'],
    ['1', 'warn'],
    ['2', 'info'],
    ['3', 'debug'],
    ['5', 'debug'],
  ])('log_level=%s is --log-level %s', (level, expected) => {
    expect(values(`[runner]\nlog_level=${level}\n`)).toEqual({ logLevel: expected });
  });

  it('log_level: per-process levels are named as ignored, the plain level is taken', () => {
    const text = '[runner]\nlog_level=proxy:3,1\n';
    expect(values(text)).toEqual({ logLevel: 'warn' });
    expect(ignoredKeys(text)).toEqual(['[runner] log_level']);
    expect(mapError('[runner]\nlog_level=verbose\n')).toContain('[runner] log_level: bad value');
  });

  it('allow_compression is --ws-compression; a bad boolean names the key', () => {
    expect(values('[runner]\nallow_compression=true\n')).toEqual({ wsCompression: true });
    expect(mapError('[runner]\nallow_compression=maybe\n')).toBe(
      `${FILE}: [runner] allow_compression: bad value "maybe"; allowed: true or false`,
    );
  });
});

describe('mapPushpinConf: [proxy]', () => {
  it.each([
    ['', 'off'],
    ['append', 'append'],
    ['truncate:0,append', 'replace'],
    ['append,truncate:0', 'replace'],
  ])('x_forwarded_for=%s is --x-forwarded-for %s', (value, expected) => {
    expect(values(`[proxy]\nx_forwarded_for=${value}\n`)).toEqual({ xForwardedFor: expected });
  });

  it('x_forwarded_for: trimming the header is refused unless overridden; nonsense is a bad value', () => {
    const mapping = map('[proxy]\nx_forwarded_for=truncate:1,append\n');
    expect(mapping.refused).toMatchObject([
      { key: '[proxy] x_forwarded_for', overriddenBy: ['xForwardedFor'] },
    ]);
    expect(mapError('[proxy]\nx_forwarded_for=prepend\n')).toContain(
      '[proxy] x_forwarded_for: bad value "prepend"',
    );
  });

  it.each([
    ['true', true, ['[proxy] set_x_forwarded_protocol']],
    ['proto-only', true, []],
    ['false', false, []],
  ])('set_x_forwarded_protocol=%s', (value, expected, ignored) => {
    const text = `[proxy]\nset_x_forwarded_protocol=${value}\n`;
    expect(values(text)).toEqual({ xForwardedProto: expected });
    expect(ignoredKeys(text)).toEqual(ignored);
  });

  it('log_from and log_user_agent: one switch, on when either is', () => {
    expect(values('[proxy]\nlog_from=true\nlog_user_agent=true\n')).toEqual({
      accessLogClient: true,
    });
    const mixed = '[proxy]\nlog_from=false\nlog_user_agent=true\n';
    expect(values(mixed)).toEqual({ accessLogClient: true });
    expect(ignoredKeys(mixed)).toEqual(['[proxy] log_user_agent']);
    expect(values('[proxy]\nlog_from=true\nlog_user_agent=false\n')).toEqual({
      accessLogClient: true,
    });
  });

  it('routesfile and a file: sig_key are relative to the conf folder, as in Pushpin', () => {
    expect(values('[proxy]\nroutesfile=conf/routes\nsig_key=file:keys/sig.pem\n')).toEqual({
      routes: '/etc/pushpin/conf/routes',
      sigKey: 'file:/etc/pushpin/keys/sig.pem',
    });
    expect(values('[proxy]\nroutesfile=/srv/routes\nsig_key=base64:YWJj\n')).toEqual({
      routes: '/srv/routes',
      sigKey: 'base64:YWJj',
    });
  });

  it('a value that asks for what thumbtack does anyway is taken silently; another is named', () => {
    const quiet = '[proxy]\ndebug=false\nupdates_check=off\ncdn_loop=\nmax_open_requests=-1\n';
    expect(map(quiet)).toEqual({ settings: {}, ignored: [], refused: [] });
    expect(
      ignoredKeys('[proxy]\ndebug=true\nupdates_check=report\ncdn_loop=x\nmax_open_requests=9\n'),
    ).toEqual([
      '[proxy] debug',
      '[proxy] updates_check',
      '[proxy] cdn_loop',
      '[proxy] max_open_requests',
    ]);
  });

  it('refuses what clients or backends would miss: CORS, Pushpin-Route, trusting X-Forwarded-Proto', () => {
    expect(
      refusedKeys(
        '[proxy]\nauto_cross_origin=true\naccept_pushpin_route=true\naccept_x_forwarded_protocol=true\n',
      ),
    ).toEqual([
      '[proxy] auto_cross_origin',
      '[proxy] accept_pushpin_route',
      '[proxy] accept_x_forwarded_protocol',
    ]);
  });

  it('upstream_key becomes --upstream-key, a file: key relative to the conf folder', () => {
    expect(values('[proxy]\nupstream_key=edge-secret\n')).toEqual({ upstreamKey: 'edge-secret' });
    expect(values('[proxy]\nupstream_key=file:keys/edge.pem\n')).toEqual({
      upstreamKey: 'file:/etc/pushpin/keys/edge.pem',
    });
  });

  it('prometheus_port: one metrics port for proxy and handler', () => {
    expect(values('[proxy]\nprometheus_port=9100\n[handler]\nprometheus_port=9100\n')).toEqual({
      metricsPort: 9100,
    });
    const two = '[proxy]\nprometheus_port=9100\n[handler]\nprometheus_port=127.0.0.1:9101\n';
    expect(values(two)).toEqual({ metricsPort: 9100 });
    expect(map(two).ignored).toMatchObject([
      {
        key: '[handler] prometheus_port',
        reason: expect.stringContaining('[proxy] prometheus_port'),
      },
    ]);
  });

  it('workers is --workers', () => {
    expect(values('[proxy]\nworkers=4\n')).toEqual({ workers: 4 });
  });
});

describe('mapPushpinConf: [handler] and [global]', () => {
  it('port_offset moves tcp:// publish inputs and the control port, as Pushpin does', () => {
    const text =
      '[global]\nport_offset=10\n[handler]\npush_in_spec=tcp://127.0.0.1:5560\npush_in_sub_specs=ipc:///run/sub\npush_in_http_port=5561\n';
    expect(values(text)).toEqual({
      zmqPull: 'tcp://127.0.0.1:5570',
      zmqSub: 'ipc:///run/sub',
      controlPort: 5571,
    });
  });

  it('fills in {rundir}, {ipc_prefix} and {configdir}', () => {
    const text =
      '[global]\nrundir=/run/pp\nipc_prefix=x-\n[handler]\npush_in_spec=ipc://{rundir}/{ipc_prefix}in\n[proxy]\nroutesfile={configdir}/r\n';
    expect(values(text)).toMatchObject({ zmqPull: 'ipc:///run/pp/x-in', routes: '/etc/pushpin/r' });
  });

  it('push_in_sub_spec (the old name) works too; several SUB specs are refused', () => {
    expect(values('[handler]\npush_in_sub_spec=tcp://127.0.0.1:1\n')).toEqual({
      zmqSub: 'tcp://127.0.0.1:1',
    });
    expect(map('[handler]\npush_in_sub_specs=tcp://a:1,tcp://b:2\n').refused).toMatchObject([
      { key: '[handler] push_in_sub_specs', overriddenBy: ['zmqSub'] },
    ]);
  });

  it('a bad push_in_http_port names the file, section and key', () => {
    expect(mapError('[handler]\npush_in_http_port=99999\n')).toBe(
      `${FILE}: [handler] push_in_http_port: bad value "99999"; allowed: a port 0-65535, or address:port`,
    );
  });

  it('an include other than internal.conf is refused: its settings would be lost', () => {
    expect(refusedKeys('[global]\ninclude=/etc/pushpin/more.conf\n')).toEqual(['[global] include']);
  });

  it('names unknown keys and sections, and Pushpin-internal specs, as ignored', () => {
    const mapping = map(
      '[proxy]\nbogus=1\ncondure_in_specs=ipc://x\n[handler]\nproxy_accept_spec=ipc://y\n[extra]\nk=v\n',
    );
    expect(mapping.ignored).toEqual([
      { key: '[proxy] bogus', reason: 'not a Pushpin setting' },
      { key: '[proxy] condure_in_specs', reason: expect.stringContaining('wiring') },
      { key: '[handler] proxy_accept_spec', reason: expect.stringContaining('wiring') },
      { key: '[extra] k', reason: 'not a Pushpin section' },
    ]);
  });
});
