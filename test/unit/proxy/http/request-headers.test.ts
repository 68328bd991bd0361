import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { describe, expect, it } from 'vitest';
import {
  buildBackendHeaders,
  canonicalIp,
  ipFromBytes,
  readClientRequest,
  type ClientRequestInfo,
  type ForwardOptions,
} from '../../../../proxy/http/request-headers.js';

const client = (headers: [string, string][], more: Partial<ClientRequestInfo> = {}) => ({
  method: 'GET',
  url: '/x',
  headers,
  remoteAddress: '10.0.0.9',
  isTls: false,
  host: 'api.example',
  userAgent: '',
  ...more,
});

const options = (more: Partial<ForwardOptions> = {}): ForwardOptions => ({
  xForwardedFor: 'off',
  xForwardedProto: false,
  trustedProxies: new Set(),
  host: 'backend:8080',
  setHeaders: [],
  removeHeaders: [],
  ...more,
});

/** The flat list as [name, value] pairs, easier to read in expectations. */
function pairs(flat: string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i]!, flat[i + 1]!]);
  return out;
}

describe('buildBackendHeaders', () => {
  it('replaces a client Connection-Id with the held connection id it is given', () => {
    const request = client([
      ['connection-id', 'forged'],
      ['accept', '*/*'],
    ]);
    expect(pairs(buildBackendHeaders(request, options({ connectionId: 'c-1' })))).toEqual([
      ['host', 'backend:8080'],
      ['accept', '*/*'],
      ['connection-id', 'c-1'],
    ]);
    // Without one (no_grip routes, a trusted upstream GRIP proxy) the client's goes on.
    expect(pairs(buildBackendHeaders(request, options()))).toContainEqual([
      'connection-id',
      'forged',
    ]);
  });

  const cases: [string, ClientRequestInfo, ForwardOptions, [string, string][]][] = [
    [
      'sets Host to the backend host and keeps end-to-end headers in order, repeats included',
      client([
        ['host', 'api.example'],
        ['accept', 'text/plain'],
        ['cookie', 'a=1'],
        ['cookie', 'b=2'],
      ]),
      options(),
      [
        ['host', 'backend:8080'],
        ['accept', 'text/plain'],
        ['cookie', 'a=1'],
        ['cookie', 'b=2'],
      ],
    ],
    [
      'drops hop-by-hop headers',
      client([
        ['connection', 'keep-alive'],
        ['keep-alive', 'timeout=5'],
        ['proxy-connection', 'keep-alive'],
        ['transfer-encoding', 'chunked'],
        ['te', 'trailers'],
        ['trailer', 'x-sum'],
        ['upgrade', 'h2c'],
        ['expect', '100-continue'],
        ['accept', '*/*'],
      ]),
      options(),
      [
        ['host', 'backend:8080'],
        ['accept', '*/*'],
      ],
    ],
    [
      'drops headers the client names in Connection, but not close or keep-alive',
      client([
        ['connection', 'close, X-Private , keep-alive'],
        ['x-private', 'secret'],
        ['x-public', 'ok'],
      ]),
      options(),
      [
        ['host', 'backend:8080'],
        ['x-public', 'ok'],
      ],
    ],
    [
      'drops every client Grip-* header, and Grip_* (CGI backends read it as Grip-*)',
      client([
        ['grip-sig', 'forged'],
        ['grip-hold', 'stream'],
        ['grip_sig', 'forged'],
        ['gripper', 'kept: not a Grip- header'],
      ]),
      options(),
      [
        ['host', 'backend:8080'],
        ['gripper', 'kept: not a Grip- header'],
      ],
    ],
    [
      'append: the peer address follows every X-Forwarded-For the client sent',
      client([
        ['x-forwarded-for', '1.1.1.1'],
        ['x-forwarded-for', '2.2.2.2'],
      ]),
      options({ xForwardedFor: 'append' }),
      [
        ['host', 'backend:8080'],
        ['x-forwarded-for', '1.1.1.1, 2.2.2.2, 10.0.0.9'],
      ],
    ],
    [
      'append without a client header: the peer address alone',
      client([]),
      options({ xForwardedFor: 'append' }),
      [
        ['host', 'backend:8080'],
        ['x-forwarded-for', '10.0.0.9'],
      ],
    ],
    [
      'replace, untrusted peer: the client header is discarded',
      client([['x-forwarded-for', '6.6.6.6']]),
      options({ xForwardedFor: 'replace' }),
      [
        ['host', 'backend:8080'],
        ['x-forwarded-for', '10.0.0.9'],
      ],
    ],
    [
      'replace, trusted peer: the client header is kept and the peer appended',
      client([['x-forwarded-for', '1.1.1.1']]),
      options({ xForwardedFor: 'replace', trustedProxies: new Set(['10.0.0.9']) }),
      [
        ['host', 'backend:8080'],
        ['x-forwarded-for', '1.1.1.1, 10.0.0.9'],
      ],
    ],
    [
      'off: the client X-Forwarded-For passes untouched (repeats joined), no peer added',
      client([
        ['x-forwarded-for', '1.1.1.1'],
        ['x-forwarded-for', '2.2.2.2'],
      ]),
      options({ xForwardedFor: 'off' }),
      [
        ['host', 'backend:8080'],
        ['x-forwarded-for', '1.1.1.1, 2.2.2.2'],
      ],
    ],
    [
      'X-Forwarded-Proto from an untrusted peer is replaced by the real scheme',
      client(
        [
          ['x-forwarded-proto', 'http'],
          ['x-forwarded-protocol', 'http'],
        ],
        { isTls: true },
      ),
      options({ xForwardedProto: true }),
      [
        ['host', 'backend:8080'],
        ['x-forwarded-proto', 'https'],
      ],
    ],
    [
      'X-Forwarded-Proto from a trusted peer is kept and not added again',
      client([['x-forwarded-proto', 'https']]),
      options({ xForwardedProto: true, trustedProxies: new Set(['10.0.0.9']) }),
      [
        ['host', 'backend:8080'],
        ['x-forwarded-proto', 'https'],
      ],
    ],
    [
      'X-Forwarded-Proto off: client values pass, none added',
      client([['x-forwarded-proto', 'https']]),
      options({ xForwardedProto: false }),
      [
        ['host', 'backend:8080'],
        ['x-forwarded-proto', 'https'],
      ],
    ],
    [
      'route header= options replace client headers of that name; removed ones go',
      client([
        ['x-tenant', 'from-client'],
        ['x-debug', '1'],
        ['accept', '*/*'],
      ]),
      options({ setHeaders: [{ name: 'x-tenant', value: 'route' }], removeHeaders: ['x-debug'] }),
      [
        ['host', 'backend:8080'],
        ['accept', '*/*'],
        ['x-tenant', 'route'],
      ],
    ],
    [
      'route headers come last, after X-Forwarded-*',
      client([]),
      options({
        xForwardedFor: 'append',
        xForwardedProto: true,
        setHeaders: [{ name: 'x-a', value: '1' }],
      }),
      [
        ['host', 'backend:8080'],
        ['x-forwarded-for', '10.0.0.9'],
        ['x-forwarded-proto', 'http'],
        ['x-a', '1'],
      ],
    ],
  ];
  it.each(cases)('%s', (_name, request, forward, expected) => {
    expect(pairs(buildBackendHeaders(request, forward))).toEqual(expected);
  });
});

describe('canonicalIp', () => {
  const cases: [string, string][] = [
    ['127.0.0.1', '127.0.0.1'],
    ['0000:0000:0000:0000:0000:0000:0000:0001', '::1'],
    ['2001:0db8:0000:0000:0000:0000:0000:00ff', '2001:db8::ff'],
    ['0000:0000:0000:0000:0000:ffff:7f00:0001', '127.0.0.1'],
    ['0000:0000:0000:0000:0000:ffff:c0a8:0a01', '192.168.10.1'],
    ['not:an:address', 'not:an:address'],
  ];
  it.each(cases)('%s -> %s', (address, expected) => {
    expect(canonicalIp(address)).toBe(expected);
  });
});

describe('ipFromBytes', () => {
  const cases: [string, number[], string][] = [
    ['IPv4', [127, 0, 0, 1], '127.0.0.1'],
    ['IPv6 loopback', [...Array<number>(15).fill(0), 1], '::1'],
    ['IPv6', [0x20, 0x01, 0x0d, 0xb8, ...Array<number>(11).fill(0), 0xff], '2001:db8::ff'],
    [
      'IPv4-mapped IPv6',
      [...Array<number>(10).fill(0), 0xff, 0xff, 192, 168, 10, 1],
      '192.168.10.1',
    ],
    ['no address', [], ''],
  ];
  it.each(cases)('%s', (_name, bytes, expected) => {
    expect(ipFromBytes(Uint8Array.from(bytes))).toBe(expected);
  });
});

describe('readClientRequest', () => {
  /** The few uWS request and response calls it makes, answering like uWS does. */
  function fakeUws(request: {
    method: string;
    url: string;
    query: string;
    headers: [string, string][];
    /** As uWS hands it over: 4 bytes for IPv4, 16 for IPv6. */
    remote: number[];
  }) {
    const req = {
      forEach: (visit: (name: string, value: string) => void) => {
        for (const [name, value] of request.headers) visit(name, value);
      },
      getQuery: () => request.query,
      getUrl: () => request.url,
      getCaseSensitiveMethod: () => request.method,
      getHeader: (name: string) => request.headers.find(([n]) => n === name)?.[1] ?? '',
    } as unknown as HttpRequest;
    const res = {
      getRemoteAddress: () => Uint8Array.from(request.remote).buffer,
    } as unknown as HttpResponse;
    return { req, res };
  }

  it('reads method, path with query, headers, host, user agent and the canonical peer address', () => {
    const { req, res } = fakeUws({
      method: 'PATCH',
      url: '/items/1',
      query: 'a=1&b',
      headers: [
        ['host', 'api.example'],
        ['x-a', '1'],
        ['x-a', '2'],
        ['user-agent', 'curl/8'],
      ],
      remote: [...Array<number>(10).fill(0), 0xff, 0xff, 127, 0, 0, 1],
    });
    expect(readClientRequest(res, req, true)).toEqual({
      method: 'PATCH',
      url: '/items/1?a=1&b',
      headers: [
        ['host', 'api.example'],
        ['x-a', '1'],
        ['x-a', '2'],
        ['user-agent', 'curl/8'],
      ],
      remoteAddress: '127.0.0.1',
      isTls: true,
      host: 'api.example',
      userAgent: 'curl/8',
    });
  });

  it('leaves the path alone when there is no query', () => {
    const { req, res } = fakeUws({
      method: 'GET',
      url: '/plain',
      query: '',
      headers: [],
      remote: [10, 1, 2, 3],
    });
    expect(readClientRequest(res, req, false).url).toBe('/plain');
  });

  it('hands on non-ASCII values as one latin1 char per original UTF-8 byte', () => {
    const { req, res } = fakeUws({
      method: 'GET',
      url: '/',
      query: '',
      headers: [['x-name', 'José']],
      remote: [10, 1, 2, 3],
    });
    const [[, value]] = readClientRequest(res, req, false).headers;
    expect(Buffer.from(value!, 'latin1')).toEqual(Buffer.from('José', 'utf8'));
  });
});
