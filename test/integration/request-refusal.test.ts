import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBackend, stopAllBackends, type Backend } from '../support/backend.js';
import { parseRawResponse, send, sendRaw } from '../support/client.js';
import { startThumbtack, stopAllThumbtacks, type Thumbtack } from '../support/thumbtack.js';

/*
 * Requests two hops could read differently are refused with 400 before routing: those whose
 * body length is ambiguous (RFC 9112 §6.3), with their connection closed before anything
 * after them is read, so a request hidden in the body (smuggling behind a front proxy that
 * frames differently) never reaches a backend; and paths with dot segments, which would
 * be routed as written but resolved by the backend.
 */

let backend: Backend;
let admin: Backend;
let tt: Thumbtack;

beforeAll(async () => {
  backend = await startBackend((req, res) => {
    req.resume();
    req.on('end', () => res.end('ok\n'));
  });
  admin = await startBackend((_req, res) => res.end('admin\n'));
  tt = await startThumbtack({ routes: `*,path_beg=/admin ${admin.target}\n* ${backend.target}\n` });
});

afterAll(async () => {
  await stopAllThumbtacks();
  await stopAllBackends();
});

const smuggled = 'GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n';

/** The paths the backend saw, once a plain request sent afterwards has reached it. */
async function backendPathsAfterwards(): Promise<string[]> {
  const marker = `/after-${backend.requests.length}`;
  expect((await send(`${tt.url}${marker}`)).status).toBe(200);
  const paths = backend.requests.map((req) => req.url ?? '');
  expect(paths).toContain(marker);
  return paths;
}

describe('ambiguous request framing', () => {
  it.each([
    [
      'conflicting Content-Length headers',
      `Content-Length: 0\r\nContent-Length: ${smuggled.length}`,
    ],
    [
      'Content-Length and Transfer-Encoding',
      `Content-Length: ${smuggled.length + 5}\r\nTransfer-Encoding: chunked`,
    ],
  ])('%s: the request hidden in the body never reaches the backend', async (_name, framing) => {
    const body = framing.includes('chunked') ? `0\r\n\r\n${smuggled}` : smuggled;
    const text = await sendRaw(
      '127.0.0.1',
      tt.port,
      `POST /x HTTP/1.1\r\nHost: x\r\n${framing}\r\n\r\n${body}`,
    );
    // The connection is closed: with another request right behind it uWS drops it before the
    // 400 leaves, otherwise the 400 comes; either way nothing else is answered on it.
    expect(text === '' || parseRawResponse(text).statusLine.startsWith('HTTP/1.1 400')).toBe(true);
    expect(text).not.toContain('ok\n');
    const paths = await backendPathsAfterwards();
    expect(paths).not.toContain('/smuggled');
    expect(paths).not.toContain('/x');
  });

  it.each([
    [
      'two equal Content-Length headers',
      'Content-Length: 5\r\nContent-Length: 5',
      'hello',
      'more than one Content-Length header',
    ],
    [
      'two different Content-Length headers',
      'Content-Length: 5\r\nContent-Length: 3',
      'hello',
      'more than one Content-Length header',
    ],
  ])(
    '%s: 400 naming the problem, then the connection closes',
    async (_name, framing, body, problem) => {
      const before = backend.requests.length;
      const text = await sendRaw(
        '127.0.0.1',
        tt.port,
        `POST /x HTTP/1.1\r\nHost: x\r\n${framing}\r\n\r\n${body}`,
      );
      const response = parseRawResponse(text);
      expect(response.statusLine).toBe('HTTP/1.1 400 Bad Request');
      expect(response.headers).toContainEqual(['connection', 'close']);
      expect(response.body).toBe(`Bad request: ${problem}.\n`);
      const paths = (await backendPathsAfterwards()).slice(before);
      expect(paths).not.toContain('/x');
      const line = await tt.waitForLog(
        (l) => l.msg === 'request' && l['status'] === 400 && l['err'] === problem,
      );
      expect(line['path']).toBe('/x');
    },
  );

  // uWS 20.30 itself drops these connections, without an answer, before thumbtack sees them.
  it.each([
    [
      'Content-Length with Transfer-Encoding',
      'Content-Length: 5\r\nTransfer-Encoding: chunked',
      '0\r\n\r\n',
    ],
    ['a Content-Length list with bytes after it', 'Content-Length: 5, 5', 'hello'],
  ])(
    '%s: the connection closes unanswered and nothing reaches the backend',
    async (_name, framing, body) => {
      const before = backend.requests.length;
      const text = await sendRaw(
        '127.0.0.1',
        tt.port,
        `POST /x HTTP/1.1\r\nHost: x\r\n${framing}\r\n\r\n${body}`,
      );
      expect(text).toBe('');
      expect((await backendPathsAfterwards()).slice(before)).not.toContain('/x');
    },
  );

  it('a WebSocket upgrade with conflicting Content-Length headers is refused the same way', async () => {
    const text = await sendRaw(
      '127.0.0.1',
      tt.port,
      'GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n' +
        'Content-Length: 0\r\nContent-Length: 4\r\n\r\nabcd',
    );
    const response = parseRawResponse(text);
    expect(response.statusLine).toBe('HTTP/1.1 400 Bad Request');
    expect(response.body).toBe('Bad request: more than one Content-Length header.\n');
  });
});

describe('dot segments in the path', () => {
  it.each(['/x/../admin', '/x/%2e%2e/admin', '/x/%2E%2e/admin/', '/./admin', '/admin/../x'])(
    '%s is refused with 400 and reaches no backend',
    async (path) => {
      const before = backend.requests.length;
      const text = await sendRaw('127.0.0.1', tt.port, `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
      const response = parseRawResponse(text);
      expect(response.statusLine).toBe('HTTP/1.1 400 Bad Request');
      expect(response.body).toBe('Bad request: the path has a . or .. segment.\n');
      expect(admin.requests).toHaveLength(0);
      expect((await backendPathsAfterwards()).slice(before)).not.toContain(path);
    },
  );

  it('paths with dots inside segments are routed as usual', async () => {
    const res = await send(`${tt.url}/admin/v1.2/..x/.hidden`);
    expect(res.body.toString()).toBe('admin\n');
    expect(admin.requests.at(-1)?.url).toBe('/admin/v1.2/..x/.hidden');
  });
});
