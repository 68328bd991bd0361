import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { RoutesSyntaxError } from '../../../src/errors.js';
import { parseRoutes } from '../../../src/routes/parse.js';
import type { Route } from '../../../src/routes/route.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

function parseLine(line: string): Route {
  const routes = parseRoutes(line, '/etc/thumbtack/routes');
  expect(routes).toHaveLength(1);
  return routes[0];
}

function syntaxError(text: string): RoutesSyntaxError {
  try {
    parseRoutes(text, 'routes');
  } catch (error) {
    expect(error).toBeInstanceOf(RoutesSyntaxError);
    return error as RoutesSyntaxError;
  }
  throw new Error(`expected a RoutesSyntaxError for ${JSON.stringify(text)}`);
}

describe('parseRoutes: line syntax', () => {
  it.each<[string, string]>([
    ['empty text', ''],
    ['blank lines', '\n   \n\t\n'],
    ['comment lines', '# a comment\n   # indented comment\n#*,path_beg=/x localhost:1'],
  ])('%s yield no routes', (_name, text) => {
    expect(parseRoutes(text, 'routes')).toEqual([]);
  });

  it.each<[string, string, Partial<Route>]>([
    ['comment after content', '* localhost:8000 # to the demo', { domain: '*' }],
    ['comment right after a target', '* localhost:8000#comment', { domain: '*' }],
    ['comment right after a target option', '*,debug localhost:1,over_http# x', { isDebug: true }],
    ['"#" inside quotes', '*,prefix="a#b" localhost:8000', { channelPrefix: 'a#b' }],
    [
      'spaces and commas inside quotes',
      '*,prefix="a, b c" localhost:8000',
      { channelPrefix: 'a, b c' },
    ],
    [
      'escaped backslash and quote',
      String.raw`*,prefix="a\\b\"c" localhost:8000`,
      { channelPrefix: 'a\\b"c' },
    ],
    [
      'quote in the middle of a value',
      '*,prefix=pre"fix x" localhost:8000',
      { channelPrefix: 'prefix x' },
    ],
    ['empty quotes', '*,prefix="" localhost:8000', { channelPrefix: '' }],
    ['"=" inside a quoted value', '*,prefix="a=b" localhost:8000', { channelPrefix: 'a=b' }],
    ['"=" inside an unquoted value', '*,prefix=a=b localhost:8000', { channelPrefix: 'a=b' }],
    [
      'backslash outside quotes is literal',
      String.raw`*,prefix=a\b localhost:8000`,
      { channelPrefix: 'a\\b' },
    ],
    ['runs of spaces and tabs', '  *,debug \t  localhost:8000   ', { isDebug: true }],
    ['a quoted domain', '"example.com" localhost:8000', { domain: 'example.com' }],
  ])('%s', (_name, line, expected) => {
    expect(parseLine(line)).toMatchObject(expected);
  });

  it('numbers lines counting blank and comment lines, with LF or CRLF endings', () => {
    const text = '# header\r\n\r\n* localhost:1\r\nexample.com localhost:2\n';
    expect(parseRoutes(text, 'routes').map((route) => route.line)).toEqual([3, 4]);
  });

  it('ignores a byte order mark at the start of the file', () => {
    expect(parseRoutes('\uFEFF* localhost:8000', 'routes')[0].domain).toBe('*');
  });

  it('keeps every route in file order with its file name', () => {
    const routes = parseRoutes('a.com localhost:1\nb.com localhost:2', 'conf/routes');
    expect(routes.map((route) => [route.domain, route.fileName])).toEqual([
      ['a.com', 'conf/routes'],
      ['b.com', 'conf/routes'],
    ]);
  });
});

describe('parseRoutes: condition', () => {
  it('gives a bare "*" route Pushpin defaults', () => {
    expect(parseLine('* localhost:8000')).toEqual({
      id: '*,*,*,*',
      hasExplicitId: false,
      fileName: '/etc/thumbtack/routes',
      line: 1,
      domain: '*',
      proto: undefined,
      isSsl: undefined,
      pathBeg: undefined,
      channelPrefix: '',
      sigKey: undefined,
      sigIss: undefined,
      isNoGrip: false,
      pathRemove: 0,
      replaceBeg: undefined,
      asHost: undefined,
      setHeaders: [],
      removeHeaders: [],
      isDebug: false,
      isSseResume: false,
      logLevel: undefined,
      targets: [
        {
          host: 'localhost',
          port: 8000,
          isSsl: false,
          isInsecure: false,
          hostHeader: undefined,
          isTrustConnectHost: false,
          isOverHttp: false,
          isRest: false,
          subscriptions: [],
        },
      ],
    } satisfies Route);
  });

  it.each<[string, string, Partial<Route>]>([
    ['exact host, lower-cased', 'Example.COM localhost:1', { domain: 'example.com' }],
    ['wildcard host', '*.Example.com localhost:1', { domain: '*.example.com' }],
    ['inner wildcard host', 'api-*.example.com localhost:1', { domain: 'api-*.example.com' }],
    ['IPv6 literal host', '[::1] localhost:1', { domain: '[::1]' }],
    ['omitted domain with id', 'id=internal localhost:1', { domain: undefined, id: 'internal' }],
    [
      'omitted domain before a comma',
      ',id=internal localhost:1',
      { domain: undefined, id: 'internal' },
    ],
    ['path_beg', '*,path_beg=/api/ localhost:1', { pathBeg: '/api/' }],
    ['proto=http', '*,proto=http localhost:1', { proto: 'http' }],
    ['proto=ws', '*,proto=ws localhost:1', { proto: 'ws' }],
    ['ssl=yes', '*,ssl=yes localhost:1', { isSsl: true }],
    ['ssl=no', '*,ssl=no localhost:1', { isSsl: false }],
    ['id', '*,id=events localhost:1', { id: 'events', hasExplicitId: true }],
    ['prefix', '*,prefix=app1- localhost:1', { channelPrefix: 'app1-' }],
    ['empty prefix', '*,prefix= localhost:1', { channelPrefix: '' }],
    ['plain sig_key', '*,sig_key=secret localhost:1', { sigKey: 'secret' }],
    ['base64 sig_key', '*,sig_key=base64:c2VjcmV0 localhost:1', { sigKey: 'base64:c2VjcmV0' }],
    [
      'absolute file sig_key',
      '*,sig_key=file:/keys/k.pem localhost:1',
      { sigKey: 'file:/keys/k.pem' },
    ],
    ['sig_iss', '*,sig_iss=my-proxy localhost:1', { sigIss: 'my-proxy' }],
    ['no_grip', '*,no_grip localhost:1', { isNoGrip: true }],
    ['path_rem', '*,path_rem=4 localhost:1', { pathRemove: 4, replaceBeg: undefined }],
    ['path_rem=0', '*,path_rem=0 localhost:1', { pathRemove: 0 }],
    [
      'replace_beg removes path_beg',
      '*,path_beg=/api/v1/,replace_beg=/ localhost:1',
      { pathBeg: '/api/v1/', pathRemove: 8, replaceBeg: '/' },
    ],
    [
      'empty replace_beg',
      '*,path_beg=/x,replace_beg= localhost:1',
      { pathRemove: 2, replaceBeg: '' },
    ],
    ['as_host', '*,as_host=api.internal localhost:1', { asHost: 'api.internal' }],
    [
      'as_host with port',
      '*,as_host=api.internal:8080 localhost:1',
      { asHost: 'api.internal:8080' },
    ],
    ['as_host IPv6', '*,as_host=[::1]:8080 localhost:1', { asHost: '[::1]:8080' }],
    [
      'header sets, lower-cased and trimmed',
      '*,header=X-Api-Key:abc,header="X-Two: b c " localhost:1',
      {
        setHeaders: [
          { name: 'x-api-key', value: 'abc' },
          { name: 'x-two', value: 'b c' },
        ],
        removeHeaders: [],
      },
    ],
    [
      'header with an empty value removes',
      '*,header=Cookie:,header="Authorization: " localhost:1',
      { setHeaders: [], removeHeaders: ['cookie', 'authorization'] },
    ],
    [
      'header value with a colon',
      '*,header=X-Url:http://a localhost:1',
      { setHeaders: [{ name: 'x-url', value: 'http://a' }] },
    ],
    ['debug', '*,debug localhost:1', { isDebug: true }],
    ['sse_resume', '*,sse_resume localhost:1', { isSseResume: true }],
    ['log_level', '*,log_level=3 localhost:1', { logLevel: 3 }],
    ['max_lifetime', '*,max_lifetime=3600 localhost:1', { maxLifetime: 3600 }],
    ['max_lifetime off', '*,max_lifetime=0 localhost:1', { maxLifetime: 0 }],
  ])('%s', (_name, line, expected) => {
    expect(parseLine(line)).toMatchObject(expected);
  });

  it.each<[string, string]>([
    ['* localhost:1', '*,*,*,*'],
    ['Example.com localhost:1', 'example.com,*,*,*'],
    ['*,proto=http localhost:1', '*,http,*,*'],
    ['*,proto=ws localhost:1', '*,ws,*,*'],
    ['*,ssl=yes localhost:1', '*,*,ssl,*'],
    ['*,ssl=no localhost:1', '*,*,no-ssl,*'],
    ['*,path_beg=/api/ localhost:1', '*,*,*,/api/'],
    ['a.com,path_beg=/x,ssl=yes,proto=ws localhost:1', 'a.com,ws,ssl,/x'],
    ['*,path_beg=/x,id=mine localhost:1', 'mine'],
  ])('default id of "%s" is "%s"', (line, id) => {
    expect(parseLine(line).id).toBe(id);
  });

  it('resolves a relative sig_key file against the routes file directory', () => {
    const [route] = parseRoutes('*,sig_key=file:keys/grip.pem localhost:1', '/etc/tt/routes');
    expect(route.sigKey).toBe('file:/etc/tt/keys/grip.pem');
  });

  it('resolves a relative routes file name against the current directory', () => {
    const [route] = parseRoutes('*,sig_key=file:../k.hex localhost:1', 'conf/routes');
    expect(route.sigKey).toBe(`file:${path.resolve('k.hex')}`);
  });

  it('resolves a relative sig_key file against baseDir when given', () => {
    const [route] = parseRoutes('*,sig_key=file:k.pem localhost:1', '<route>', { baseDir: '/srv' });
    expect(route.sigKey).toBe('file:/srv/k.pem');
  });
});

describe('parseRoutes: targets', () => {
  it.each<[string, string, Partial<Route['targets'][number]>[]]>([
    ['DNS name', '* backend.example.com:8080', [{ host: 'backend.example.com', port: 8080 }]],
    ['IPv4', '* 10.0.0.1:80', [{ host: '10.0.0.1', port: 80 }]],
    ['IPv6 in brackets', '* [::1]:8000', [{ host: '::1', port: 8000 }]],
    ['full IPv6', '* [2001:db8::17]:443,ssl', [{ host: '2001:db8::17', port: 443, isSsl: true }]],
    ['highest port', '* localhost:65535', [{ port: 65535 }]],
    [
      'several targets in order',
      '* 10.0.0.1:8000 10.0.0.2:8000',
      [{ host: '10.0.0.1' }, { host: '10.0.0.2' }],
    ],
    ['ssl', '* a:443,ssl', [{ isSsl: true, isInsecure: false }]],
    ['insecure', '* a:443,ssl,insecure', [{ isSsl: true, isInsecure: true }]],
    ['host=', '* 10.0.0.1:443,ssl,host=api.example.com', [{ hostHeader: 'api.example.com' }]],
    [
      'host= with port',
      '* 10.0.0.1:80,host=api.example.com:8080',
      [{ hostHeader: 'api.example.com:8080' }],
    ],
    ['over_http', '* a:1,over_http', [{ isOverHttp: true, isRest: false }]],
    ['over_http=rest', '* a:1,over_http=rest', [{ isOverHttp: true, isRest: true }]],
    ['sub repeated', '* a:1,over_http,sub=news,sub="a b"', [{ subscriptions: ['news', 'a b'] }]],
    ['trust_connect_host', '* a:1,ssl,trust_connect_host', [{ isTrustConnectHost: true }]],
    [
      'options apply to their own target only',
      '* a:1,ssl b:2',
      [
        { host: 'a', isSsl: true },
        { host: 'b', isSsl: false },
      ],
    ],
  ])('%s', (_name, line, expected) => {
    expect(parseLine(line).targets).toMatchObject(expected);
  });
});

describe('parseRoutes: errors', () => {
  it.each<[string, string, string]>([
    // line syntax
    [
      'unterminated quote',
      '*,prefix="abc localhost:1',
      'routes:1: unterminated quote at column 10',
    ],
    [
      'bad escape in quotes',
      String.raw`*,prefix="a\nb" localhost:1`,
      'routes:1: bad escape "\\n" inside quotes',
    ],
    ['backslash at the end of a quote', '*,prefix="a\\', 'routes:1: bad escape "\\" inside quotes'],
    ['trailing comma', '*,debug, localhost:1', 'routes:1: expected an option after ","'],
    [
      'comma before a blank',
      '*, localhost:1',
      'routes:1: expected an option after "," (not a blank, "," or end of line)',
    ],
    ['double comma', '*,,debug localhost:1', 'routes:1: expected an option after ","'],
    ['option without a name', '*,=x localhost:1', 'routes:1: option "=x" has no name'],
    ['no target', '*,path_beg=/x', 'routes:1: a route needs a condition and at least one target'],
    ['no target after a comment', '* # localhost:1', 'routes:1: a route needs a condition'],
    // condition
    [
      'unknown condition option',
      '*,pathbeg=/x localhost:1',
      'routes:1: unknown condition option "pathbeg"; known: path_beg, ssl, proto, id, prefix, sig_key, sig_iss, no_grip, path_rem, replace_beg, as_host, header, debug, log_level',
    ],
    [
      'domain with a port',
      'example.com:7999 localhost:1',
      'routes:1: domain "example.com:7999" must not include a port',
    ],
    [
      'domain with a slash',
      'example.com/x localhost:1',
      'routes:1: domain "example.com/x" is not a host name',
    ],
    [
      'no domain and no id',
      ',path_beg=/x localhost:1',
      'routes:1: the condition has neither a domain nor an id=',
    ],
    ['empty path_beg', '*,path_beg= localhost:1', 'routes:1: path_beg cannot be empty'],
    [
      'path_beg without "/"',
      '*,path_beg=api/ localhost:1',
      'routes:1: path_beg "api/" never matches',
    ],
    [
      'path_beg as a flag',
      '*,path_beg localhost:1',
      'routes:1: condition option "path_beg" needs a value (path_beg=...)',
    ],
    ['bad proto', '*,proto=foo localhost:1', 'routes:1: proto must be http or ws, not "foo"'],
    ['bad ssl', '*,ssl=maybe localhost:1', 'routes:1: ssl must be yes or no, not "maybe"'],
    ['ssl as a flag', '*,ssl localhost:1', 'routes:1: condition option "ssl" needs a value'],
    ['empty id', '*,id= localhost:1', 'routes:1: id cannot be empty'],
    ['empty sig_key', '*,sig_key= localhost:1', 'routes:1: sig_key cannot be empty'],
    [
      'sig_key file without path',
      '*,sig_key=file: localhost:1',
      'routes:1: sig_key=file: needs a path',
    ],
    [
      'bad base64 sig_key',
      '*,sig_key=base64:a*b localhost:1',
      'routes:1: sig_key "base64:a*b" is not valid base64',
    ],
    ['empty sig_iss', '*,sig_iss= localhost:1', 'routes:1: sig_iss cannot be empty'],
    [
      'non-numeric path_rem',
      '*,path_rem=abc localhost:1',
      'routes:1: path_rem must be a whole number of bytes, not "abc"',
    ],
    [
      'negative path_rem',
      '*,path_rem=-1 localhost:1',
      'routes:1: path_rem must be a whole number of bytes, not "-1"',
    ],
    [
      'replace_beg without path_beg',
      '*,replace_beg=/ localhost:1',
      'routes:1: replace_beg needs path_beg',
    ],
    [
      'replace_beg with path_rem',
      '*,path_beg=/a,replace_beg=/,path_rem=1 localhost:1',
      'routes:1: path_rem and replace_beg cannot be combined',
    ],
    ['empty as_host', '*,as_host= localhost:1', 'routes:1: as_host cannot be empty'],
    [
      'bad as_host port',
      '*,as_host=a:0 localhost:1',
      'routes:1: as_host must be host[:port], not "a:0"',
    ],
    [
      'bad as_host host',
      '*,as_host=a/b localhost:1',
      'routes:1: as_host must be host[:port], not "a/b"',
    ],
    [
      'header without colon',
      '*,header=X-A localhost:1',
      'routes:1: header must be Name:value, not "X-A"',
    ],
    [
      'header without name',
      '*,header=:v localhost:1',
      'routes:1: header must be Name:value, not ":v"',
    ],
    [
      'header bad name',
      '*,header="X A:v" localhost:1',
      'routes:1: header name "X A" is not a valid HTTP header name',
    ],
    [
      'header twice',
      '*,header=X-A:1,header=x-a:2 localhost:1',
      'routes:1: header "x-a" is given twice',
    ],
    [
      'header control character',
      '*,header="X-A:a\0b" localhost:1',
      'routes:1: header "x-a" value contains a control character',
    ],
    [
      'debug with a value',
      '*,debug=false localhost:1',
      'routes:1: condition option "debug" takes no value (got "debug=false")',
    ],
    [
      'no_grip with a value',
      '*,no_grip=yes localhost:1',
      'routes:1: condition option "no_grip" takes no value',
    ],
    [
      'bad log_level',
      '*,log_level=high localhost:1',
      'routes:1: log_level must be a whole number, not "high"',
    ],
    [
      'bad max_lifetime',
      '*,max_lifetime=1h localhost:1',
      'routes:1: max_lifetime must be a whole number of seconds, not "1h"',
    ],
    [
      'option given twice',
      '*,path_beg=/a,path_beg=/b localhost:1',
      'routes:1: condition option "path_beg" is given twice',
    ],
    // targets
    ['target without port', '* localhost', 'routes:1: target "localhost" needs a port (host:port)'],
    [
      'target empty port',
      '* localhost:',
      'routes:1: target "localhost:" has an invalid port (1-65535)',
    ],
    [
      'target port 0',
      '* localhost:0',
      'routes:1: target "localhost:0" has an invalid port (1-65535)',
    ],
    [
      'target port too big',
      '* localhost:65536',
      'routes:1: target "localhost:65536" has an invalid port',
    ],
    [
      'target port not a number',
      '* localhost:http',
      'routes:1: target "localhost:http" has an invalid port',
    ],
    ['target without host', '* :8000', 'routes:1: target ":8000" has no valid host'],
    [
      'unbracketed IPv6 target',
      '* ::1:8000',
      'routes:1: target "::1:8000" looks like an IPv6 address',
    ],
    ['bracketed IPv6 without port', '* [::1]', 'routes:1: target "[::1]" must be [ipv6]:port'],
    [
      'bracketed non-IPv6',
      '* [abc]:80',
      'routes:1: target "[abc]:80" does not hold a valid IPv6 address',
    ],
    ['empty target', '* ,ssl', 'routes:1: a target needs an address (host:port)'],
    [
      'over_http with another value',
      '* a:1,over_http=events',
      'routes:1: over_http takes no value or "rest" (ws2api\'s REST calls), not "events"',
    ],
    [
      'unknown target option',
      '* a:1,tls',
      'routes:1: unknown target option "tls"; known: ssl, insecure, host, over_http, sub, trust_connect_host',
    ],
    ['target ssl with a value', '* a:1,ssl=yes', 'routes:1: target option "ssl" takes no value'],
    ['empty target host=', '* a:1,host=', 'routes:1: target host= must be host[:port], not ""'],
    ['empty sub', '* a:1,sub=', 'routes:1: target "a:1" has an empty sub='],
    ['sub as a flag', '* a:1,sub', 'routes:1: target option "sub" needs a value'],
    [
      'option error on a later target',
      '* a:1 b:2,bogus',
      'routes:1: unknown target option "bogus"',
    ],
    // duplicate ids
    [
      'duplicate explicit ids',
      '*,id=x a:1\n\nb.com,id=x a:1',
      'routes:3: route id "x" is already used on line 1',
    ],
    [
      'explicit id equal to a default id',
      '* a:1\nb.com,id="*,*,*,*" a:1',
      'routes:2: route id "*,*,*,*" is already used on line 1',
    ],
    ['error on a later line', '* a:1\n# c\n*,proto=bad a:1', 'routes:3: proto must be http or ws'],
  ])('%s', (_name, text, message) => {
    expect(syntaxError(text).message.startsWith(message)).toBe(true);
  });

  it.each([
    'aco',
    'jsonp_mode=basic',
    'jsonp_cb=cb',
    'jsonp_body=body',
    'jsonp_defcb=cb',
    'jsonp_defmethod=POST',
    'session',
    'sockjs=/sockjs',
    'sockjs_as_path=/ws',
    'orig_headers',
  ])('refuses the Pushpin-only condition option %s by name', (option) => {
    const name = option.split('=')[0];
    expect(syntaxError(`*,${option} localhost:1`).message).toBe(
      `routes:1: condition option "${name}" is not supported by thumbtack`,
    );
  });

  it.each([
    ['one_event', 'target option "one_event" is not supported by thumbtack'],
    ['untrusted', 'target option "untrusted" is not supported by thumbtack'],
    ['client_cert=c.pem', 'target option "client_cert" is not supported by thumbtack'],
    ['client_key=k.pem', 'target option "client_key" is not supported by thumbtack'],
    ['ipc_file_mode=777', 'target option "ipc_file_mode" is not supported by thumbtack'],
  ])('refuses the Pushpin-only target option %s by name', (option, message) => {
    expect(syntaxError(`* localhost:1,${option}`).message).toBe(`routes:1: ${message}`);
  });

  it.each([
    ['test', 'the built-in "test" target is not supported by thumbtack'],
    [
      'zhttp/tcp://127.0.0.1:5000',
      'ZeroMQ targets ("zhttp/tcp://127.0.0.1:5000") are not supported',
    ],
    [
      'zhttpreq/tcp://127.0.0.1:5000',
      'ZeroMQ targets ("zhttpreq/tcp://127.0.0.1:5000") are not supported',
    ],
  ])('refuses the Pushpin-only target %s', (target, message) => {
    expect(syntaxError(`* ${target}`).message.startsWith(`routes:1: ${message}`)).toBe(true);
  });

  it('carries the E_ROUTES_SYNTAX code', () => {
    expect(syntaxError('* nope').code).toBe('E_ROUTES_SYNTAX');
  });

  it('leaves routes with equal conditions and default ids to the table (no error)', () => {
    const routes = parseRoutes('* a:1\n* b:2', 'routes');
    expect(routes.map((route) => route.id)).toEqual(['*,*,*,*', '*,*,*,*']);
  });
});

describe('parseRoutes: protocol section 5.1 examples', () => {
  it('parses the examples, with "aco" left out since thumbtack does not implement it', () => {
    const text = [
      '# condition                                   targets',
      '*                                             localhost:8000',
      'example.com,path_beg=/api/,sig_key=secret     10.0.0.1:8000 10.0.0.2:8000',
      '*,path_beg=/ws/,proto=ws                      localhost:8000,over_http',
      '*,id=events,path_beg=/events,debug            localhost:9000',
      '*,path_beg=/nogrip/,no_grip                   localhost:8000',
    ].join('\n');
    const routes = parseRoutes(text, 'routes');
    expect(routes.map((route) => route.id)).toEqual([
      '*,*,*,*',
      'example.com,*,*,/api/',
      '*,ws,*,/ws/',
      'events',
      '*,*,*,/nogrip/',
    ]);
    expect(routes[1]).toMatchObject({
      domain: 'example.com',
      pathBeg: '/api/',
      sigKey: 'secret',
      targets: [
        { host: '10.0.0.1', port: 8000 },
        { host: '10.0.0.2', port: 8000 },
      ],
    });
    expect(routes[2]).toMatchObject({ proto: 'ws', targets: [{ isOverHttp: true }] });
    expect(routes[3]).toMatchObject({ hasExplicitId: true, isDebug: true, pathBeg: '/events' });
    expect(routes[4]).toMatchObject({ isNoGrip: true });
  });

  it('refuses the "aco" example line by name', () => {
    const message = syntaxError('*,id=events,path_beg=/events,aco,debug localhost:9000').message;
    expect(message).toBe('routes:1: condition option "aco" is not supported by thumbtack');
  });
});

describe('config/routes', () => {
  it('is a valid routes file sending every host to the demo backend', () => {
    const file = path.join(repoRoot, 'config/routes');
    const routes = parseRoutes(readFileSync(file, 'utf8'), file);
    expect(routes).toHaveLength(1);
    expect(routes[0]).toMatchObject({
      domain: '*',
      targets: [{ host: 'localhost', port: 8000, isSsl: false }],
    });
  });
});
