import fc from 'fast-check';
import { ConfigError, PushpinConfSyntaxError, RoutesSyntaxError } from '../../../src/errors.js';
import { parseCfsQuota, parseCpuMax, workersForCpus } from '../../../src/config/cpu-quota.js';
import { loadSettings } from '../../../src/config/load.js';
import { parsePushpinConf } from '../../../src/config/pushpin-conf.js';
import { mapPushpinConf } from '../../../src/config/pushpin-conf-map.js';
import { parseRoutes } from '../../../src/routes/parse.js';
import { rewritePath } from '../../../src/routes/route.js';
import { buildRouteTable, matchRoute } from '../../../src/routes/route-table.js';
import {
  defineTarget,
  expectEqual,
  ensure,
  mutatedText,
  returnsOrThrows,
  wireText,
} from '../target.js';

/* What an operator writes: routes files, flags and environment, pushpin.conf, cgroup files. */

const routeLine = fc.oneof(
  wireText,
  fc
    .array(
      fc.constantFrom(
        '*',
        'example.com',
        '*.example.com',
        '[::1]',
        ',path_beg=/x',
        ',path_rem=2',
        ',replace_beg=/y',
        ',ssl=yes',
        ',proto=ws',
        ',id=a',
        ',prefix=p',
        ',as_host=h:1',
        ',header=X-A:b',
        ',sig_key=base64:aGk=',
        ',debug',
        ' localhost:1',
        ' 127.0.0.1:8080',
        ' [::1]:2',
        ',over_http',
        ',sub=c',
        ',host=h',
        ',ssl',
        '"q\\"x"',
        ' #c',
        ',',
        ' ',
        '\t',
      ),
      { maxLength: 8 },
    )
    .map((parts) => parts.join('')),
);
const routesText = fc.array(routeLine, { maxLength: 4 }).map((lines) => lines.join('\n'));

const pushpinKey = fc.constantFrom(
  'http_port',
  'https_ports',
  'client_maxconn',
  'port_offset',
  'routesfile',
  'push_in_spec',
  'push_in_sub_specs',
  'push_in_http_port',
  'push_in_http_max_body_size',
  'connection_subscription_max',
  'sig_key',
  'log_level',
  'services',
  'stats_spec',
  'libdir',
  'rundir',
  'include',
  'unknown_key',
);
const pushpinValue = fc.oneof(
  fc.constantFrom(
    '',
    '0',
    '7999',
    '-1',
    '65536',
    'x',
    'tcp://*:5560',
    '{configdir}/r',
    'a,b',
    '1.5',
  ),
  fc.string({ maxLength: 12 }),
);
/** Sections of key=value entries with values INI text carries unchanged. */
const pushpinConf = fc.dictionary(
  fc.oneof(
    fc.constantFrom('global', 'runner', 'proxy', 'handler'),
    fc.stringMatching(/^[a-z]{1,6}$/),
  ),
  fc.dictionary(
    fc.oneof(pushpinKey, fc.stringMatching(/^[a-z_]{1,8}$/)),
    fc.oneof(pushpinValue.filter((v) => !/[\r\n]/.test(v)).map((v) => v.trim())),
    { maxKeys: 4 },
  ),
  { maxKeys: 3 },
);

function writePushpinConf(conf: Record<string, Record<string, string>>): string {
  return Object.entries(conf)
    .map(([section, entries]) =>
      [`[${section}]`, ...Object.entries(entries).map(([k, v]) => `${k} = "${v}"`)].join('\n'),
    )
    .join('\n\n');
}

export const configTargets = [
  defineTarget({
    name: 'routes',
    summary: 'routes files: any text parses or throws RoutesSyntaxError',
    arbitrary: fc.oneof(routesText, mutatedText(routesText)),
    check: (text) => {
      const routes = returnsOrThrows(RoutesSyntaxError, () => parseRoutes(text, 'routes'));
      for (const route of routes ?? []) {
        ensure(route.targets.length > 0, 'a route without a target');
        for (const target of route.targets) {
          ensure(target.port >= 1 && target.port <= 65535, `port ${target.port}`);
        }
      }
    },
  }),
  defineTarget({
    name: 'route-match',
    summary: 'route table: any request matches a route or none; paths rewrite to /...',
    arbitrary: fc.record({
      text: routesText,
      host: fc.oneof(fc.constantFrom('example.com', 'a.example.com', '[::1]', ''), wireText),
      path: fc.oneof(
        fc.constantFrom('/', '/x', '/x/y?z', '/y'),
        wireText.map((t) => '/' + t),
        wireText,
      ),
      isTls: fc.boolean(),
      isWebSocket: fc.boolean(),
    }),
    check: ({ text, ...request }) => {
      const routes = returnsOrThrows(RoutesSyntaxError, () => parseRoutes(text, 'routes'));
      if (!routes) return;
      const built = returnsOrThrows(RoutesSyntaxError, () => buildRouteTable(routes));
      if (!built) return;
      const route = matchRoute(built.table, request);
      // Request targets in origin form start with `/`; a rewrite must keep it there.
      if (route && request.path.startsWith('/')) {
        ensure(rewritePath(route, request.path).startsWith('/'), 'a rewritten path without /');
      }
    },
  }),
  defineTarget({
    name: 'settings',
    summary: 'settings: any flags and environment load or throw ConfigError',
    arbitrary: fc.tuple(
      fc.array(
        fc.oneof(
          fc.constantFrom(
            '--port',
            '--control-port',
            '--workers',
            '--backend-timeout',
            '--log-level',
            '--zmq-pull',
            '--x-forwarded-for',
            '--trusted-proxies',
            '--publish-body-max',
            '--ws-retry-delay',
            '--redis',
            '--no-bind-all',
            '--bogus',
            '-x',
            '--',
          ),
          wireText,
        ),
        { maxLength: 6 },
      ),
      fc.dictionary(
        fc.constantFrom(
          'THUMBTACK_PORT',
          'THUMBTACK_DRAIN_TIMEOUT',
          'THUMBTACK_LOG_LEVEL',
          'THUMBTACK_REDIS_CLUSTER',
          'THUMBTACK_TRUSTED_PROXIES',
        ),
        wireText,
      ),
    ),
    testRuns: 500,
    check: ([argv, env]) => {
      returnsOrThrows(ConfigError, () => loadSettings(['--routes', 'config/routes', ...argv], env));
    },
  }),
  defineTarget({
    name: 'pushpin-conf',
    summary: 'pushpin.conf: any text parses and maps or throws its typed error',
    arbitrary: fc.oneof(
      wireText,
      pushpinConf.map(writePushpinConf),
      mutatedText(pushpinConf.map(writePushpinConf)),
    ),
    check: (text) => {
      const conf = returnsOrThrows(PushpinConfSyntaxError, () =>
        parsePushpinConf(text, '/etc/pushpin/pushpin.conf'),
      );
      if (conf) {
        returnsOrThrows(ConfigError, () => mapPushpinConf(conf, '/etc/pushpin/pushpin.conf'));
      }
    },
  }),
  defineTarget({
    name: 'pushpin-conf-round-trip',
    summary: 'pushpin.conf: sections and keys written as INI read back as written',
    arbitrary: pushpinConf,
    check: (conf) => {
      const parsed = parsePushpinConf(writePushpinConf(conf), 'pushpin.conf');
      const read = Object.fromEntries(
        [...parsed].map(([section, entries]) => [
          section,
          Object.fromEntries([...entries].map(([k, e]) => [k, e.value])),
        ]),
      );
      expectEqual(read, JSON.parse(JSON.stringify(conf)));
    },
  }),
  defineTarget({
    name: 'cpu-quota',
    summary: 'cgroup CPU quota: any file text reads as a positive CPU count or none',
    arbitrary: fc.tuple(
      fc.oneof(wireText, fc.constantFrom('max 100000', '150000 100000', '-1', '0 0', ' 1  2 ')),
      wireText,
      fc.integer({ min: 1, max: 512 }),
    ),
    check: ([a, b, parallelism]) => {
      for (const cpus of [parseCpuMax(a), parseCfsQuota(a, b)]) {
        ensure(cpus === undefined || (cpus > 0 && Number.isFinite(cpus)), `cpus ${cpus}`);
        const workers = workersForCpus(parallelism, cpus);
        ensure(Number.isInteger(workers) && workers >= 1 && workers <= parallelism, `${workers}`);
      }
    },
  }),
];
