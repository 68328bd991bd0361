import { describe, expect, it } from 'vitest';
import { requestProblem } from '../../../../proxy/http/request-refusal.js';

describe('requestProblem: body framing', () => {
  const cases: [string, [string, string][], string | undefined][] = [
    ['no body headers', [['host', 'x']], undefined],
    ['one Content-Length', [['content-length', '5']], undefined],
    ['Transfer-Encoding alone', [['transfer-encoding', 'chunked']], undefined],
    [
      'two Content-Length headers that differ',
      [
        ['content-length', '0'],
        ['content-length', '37'],
      ],
      'more than one Content-Length header',
    ],
    [
      'two equal Content-Length headers',
      [
        ['content-length', '5'],
        ['content-length', '5'],
      ],
      'more than one Content-Length header',
    ],
    [
      'a Content-Length list',
      [['content-length', '5, 5']],
      'Content-Length "5, 5" is not a number',
    ],
    ['a signed Content-Length', [['content-length', '+5']], 'Content-Length "+5" is not a number'],
    ['an empty Content-Length', [['content-length', '']], 'Content-Length "" is not a number'],
    [
      'Content-Length and Transfer-Encoding',
      [
        ['content-length', '5'],
        ['transfer-encoding', 'chunked'],
      ],
      'both Content-Length and Transfer-Encoding',
    ],
    [
      'Transfer-Encoding before Content-Length',
      [
        ['transfer-encoding', 'chunked'],
        ['content-length', '5'],
      ],
      'both Content-Length and Transfer-Encoding',
    ],
  ];
  it.each(cases)('%s', (_name, headers, expected) => {
    expect(requestProblem(headers, '/')).toBe(expected);
  });
});

describe('requestProblem: dot segments', () => {
  const dot = 'the path has a . or .. segment';
  const cases: [string, string | undefined][] = [
    ['/', undefined],
    ['/flap', undefined],
    ['/a.b/c..d/.e/f.', undefined],
    ['/...', undefined],
    ['/x/../flap', dot],
    ['/../flap', dot],
    ['/./flap', dot],
    ['/flap/..', dot],
    ['/flap/.', dot],
    ['/x/%2e%2e/flap', dot],
    ['/x/%2E./flap', dot],
    ['/x/%2e/flap', dot],
  ];
  it.each(cases)('%s', (path, expected) => {
    expect(requestProblem([], path)).toBe(expected);
  });
});
