import { describe, expect, it } from 'vitest';
import { RoutesSyntaxError } from '../../../src/errors.js';
import { parseRoutes } from '../../../src/routes/parse.js';
import { rewritePath } from '../../../src/routes/route.js';
import {
  hostWithoutPort,
  buildRouteTable,
  matchRoute,
  type RouteRequest,
  type RouteTable,
} from '../../../src/routes/route-table.js';

function tableOf(text: string): RouteTable {
  const { table, warnings } = buildRouteTable(parseRoutes(text, 'routes'));
  expect(warnings).toEqual([]);
  return table;
}

function request(overrides: Partial<RouteRequest>): RouteRequest {
  return { host: 'example.com', path: '/', isTls: false, isWebSocket: false, ...overrides };
}

describe('matchRoute: precedence', () => {
  it.each<[string, string[], Partial<RouteRequest>, string | undefined]>([
    ['"*" matches any host', ['* a:1'], { host: 'whatever.test' }, '*,*,*,*'],
    ['no rules: no route', [], {}, undefined],
    ['exact host beats "*"', ['* a:1', 'example.com b:1'], {}, 'example.com,*,*,*'],
    [
      'exact host is case-insensitive',
      ['Example.com a:1', '* b:1'],
      { host: 'EXAMPLE.com' },
      'example.com,*,*,*',
    ],
    ['other hosts fall to "*"', ['* a:1', 'example.com b:1'], { host: 'other.com' }, '*,*,*,*'],
    [
      'a host with rules never falls through to "*" (as Pushpin)',
      ['*,id=any a:1', 'example.com,path_beg=/api/,id=api a:1'],
      { path: '/other' },
      undefined,
    ],
    ['path_beg must prefix the path', ['*,path_beg=/api/ a:1'], { path: '/ap' }, undefined],
    [
      'path_beg compares the encoded path',
      ['*,path_beg=/a%20b/ a:1'],
      { path: '/a%20b/c' },
      '*,*,*,/a%20b/',
    ],
    [
      'longer path_beg wins regardless of line order',
      ['*,path_beg=/api/v1/,id=long a:1', '*,path_beg=/api/,id=short a:1', '*,id=none a:1'],
      { path: '/api/v1/x' },
      'long',
    ],
    [
      'shorter path_beg still matches its own paths',
      ['*,path_beg=/api/v1/,id=long a:1', '*,path_beg=/api/,id=short a:1', '*,id=none a:1'],
      { path: '/api/v2' },
      'short',
    ],
    [
      'proto beats a longer path_beg',
      ['*,path_beg=/ws/chat/,id=path a:1', '*,proto=ws,id=proto a:1'],
      { path: '/ws/chat/1', isWebSocket: true },
      'proto',
    ],
    [
      'proto=ws does not match plain HTTP',
      ['*,proto=ws,id=ws a:1', '*,id=any a:1'],
      { isWebSocket: false },
      'any',
    ],
    [
      'proto=http does not match WebSocket',
      ['*,proto=http,id=http a:1', '*,id=any a:1'],
      { isWebSocket: true },
      'any',
    ],
    ['proto=http matches plain HTTP', ['*,proto=http,id=http a:1', '*,id=any a:1'], {}, 'http'],
    [
      'ssl breaks a path_beg tie',
      ['*,path_beg=/x,id=plain a:1', '*,path_beg=/x,ssl=yes,id=tls a:1'],
      { path: '/x', isTls: true },
      'tls',
    ],
    [
      'longer path_beg beats ssl',
      ['*,path_beg=/x,ssl=yes,id=tls a:1', '*,path_beg=/x/y,id=long a:1'],
      { path: '/x/y', isTls: true },
      'long',
    ],
    [
      'ssl=yes does not match plaintext',
      ['*,ssl=yes,id=tls a:1', '*,id=any a:1'],
      { isTls: false },
      'any',
    ],
    ['ssl=no matches plaintext', ['*,ssl=no,id=plain a:1', '*,id=any a:1'], {}, 'plain'],
    ['ssl=no does not match TLS', ['*,ssl=no,id=plain a:1'], { isTls: true }, undefined],
    ['domain-less routes are never matched by host', ['id=internal a:1'], {}, undefined],
  ])('%s', (_name, lines, overrides, id) => {
    expect(matchRoute(tableOf(lines.join('\n')), request(overrides))?.id).toBe(id);
  });
});

describe('matchRoute: wildcard hosts', () => {
  const table = tableOf(
    [
      '*,id=any a:1',
      '*.example.com,id=sub a:1',
      'api.example.com,id=api a:1',
      '*.eu.example.com,id=eu a:1',
      'api-*.example.com,id=api-star a:1',
      '*.example.org,path_beg=/only/,id=org a:1',
    ].join('\n'),
  );

  it.each<[string, string | undefined]>([
    ['api.example.com', 'api'],
    ['API.Example.Com', 'api'],
    ['www.example.com', 'sub'],
    ['a.b.example.com', 'sub'],
    ['x.eu.example.com', 'eu'],
    ['api-v2.example.com', 'api-star'],
    ['example.com', 'any'],
    ['www.example.com.evil.test', 'any'],
    ['xexample.com', 'any'],
    ['www.example.org', undefined],
  ])('host %s → %s', (host, id) => {
    expect(matchRoute(table, request({ host }))?.id).toBe(id);
  });

  it('a matching wildcard host with rules hides "*" as an exact host does', () => {
    expect(matchRoute(table, request({ host: 'www.example.org', path: '/only/x' }))?.id).toBe(
      'org',
    );
  });

  it('equally specific patterns keep file order', () => {
    const tie = tableOf('a*.test,id=first a:1\n*b.test,id=second a:1');
    expect(matchRoute(tie, request({ host: 'ab.test' }))?.id).toBe('first');
  });
});

describe('buildRouteTable', () => {
  it('keeps the first of two routes with the same condition and warns about the second', () => {
    const routes = parseRoutes(
      ['* a:1', 'example.com,path_beg=/x b:1', '# c', 'Example.com,path_beg=/x,id=again c:1'].join(
        '\n',
      ),
      'routes',
    );
    const { table, warnings } = buildRouteTable(routes);
    expect(warnings).toEqual(['routes:4: skipping route "again": same condition as routes:2']);
    expect(table.routes.map((route) => route.line)).toEqual([1, 2]);
    expect(table.routes.find((route) => route.id === 'again')).toBeUndefined();
    expect(matchRoute(table, request({ path: '/x' }))?.targets[0].host).toBe('b');
  });

  it('warns about equal default ids as duplicate conditions, not id clashes', () => {
    const { table, warnings } = buildRouteTable(parseRoutes('* a:1\n* b:1', 'routes'));
    expect(warnings).toEqual(['routes:2: skipping route "*,*,*,*": same condition as routes:1']);
    expect(table.routes.find((route) => route.id === '*,*,*,*')?.targets[0].host).toBe('a');
  });

  it('does not treat different proto, ssl or path_beg as duplicates', () => {
    const text = ['* a:1', '*,proto=ws a:1', '*,ssl=yes a:1', '*,ssl=no a:1', '*,path_beg=/a a:1'];
    expect(tableOf(text.join('\n')).routes).toHaveLength(5);
  });

  it('keeps each route with its explicit or default id, including domain-less ones', () => {
    const table = tableOf('id=internal a:1\nexample.com,proto=ws b:1');
    expect(table.routes.find((route) => route.id === 'internal')?.line).toBe(1);
    expect(table.routes.find((route) => route.id === 'example.com,ws,*,*')?.line).toBe(2);
    expect(table.routes.find((route) => route.id === 'missing')).toBeUndefined();
  });

  it('throws naming both places when ids clash across sources', () => {
    const routes = [
      ...parseRoutes('*,id=main a:1', 'routes'),
      ...parseRoutes('example.com,id=main b:1', '<route>'),
    ];
    expect(() => buildRouteTable(routes)).toThrow(RoutesSyntaxError);
    expect(() => buildRouteTable(routes)).toThrow(
      '<route>:1: route id "main" is already used at routes:1',
    );
  });
});

describe('rewritePath', () => {
  it.each<[string, string, string]>([
    ['* a:1', '/api/x', '/api/x'],
    ['*,path_rem=4 a:1', '/api/x', '/x'],
    ['*,path_rem=4 a:1', '/api/x?q=1', '/x?q=1'],
    ['*,path_rem=0 a:1', '/api/x', '/api/x'],
    ['*,path_rem=3 a:1', '/api/x', '/i/x'],
    ['*,path_rem=100 a:1', '/api', '/'],
    ['*,path_beg=/api/,replace_beg=/v2/ a:1', '/api/x', '/v2/x'],
    ['*,path_beg=/api/,replace_beg=/ a:1', '/api/x?y', '/x?y'],
    ['*,path_beg=/api,replace_beg= a:1', '/api/x', '/x'],
    ['*,path_beg=/api/,replace_beg= a:1', '/api/x', '/x'],
    ['*,path_beg=/api/,replace_beg=/ a:1', '/api/', '/'],
    ['*,path_beg=/old,replace_beg=/new a:1', '/old', '/new'],
  ])('%s: %s → %s', (line, path, expected) => {
    const [route] = parseRoutes(line, 'routes');
    expect(rewritePath(route, path)).toBe(expected);
  });
});

describe('hostWithoutPort', () => {
  it.each([
    ['example.com:8080', 'example.com'],
    ['example.com', 'example.com'],
    ['[::1]:7999', '[::1]'],
    ['[::1]', '[::1]'],
    ['', ''],
  ])('%s → %s', (host, expected) => {
    expect(hostWithoutPort(host)).toBe(expected);
  });
});
