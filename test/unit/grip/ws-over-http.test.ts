import { describe, expect, it } from 'vitest';
import {
  applySetMeta,
  isReplayedClientHeader,
  isSwitchingProtocolsHeader,
  isWsEventsResponse,
  parseKeepAliveInterval,
} from '../../../src/grip/ws-over-http.js';

describe('isReplayedClientHeader', () => {
  const cases: [string, boolean][] = [
    ['cookie', true],
    ['authorization', true],
    ['origin', true],
    ['sec-websocket-key', true],
    ['sec-websocket-version', true],
    ['sec-websocket-protocol', true],
    ['user-agent', true],
    ['upgrade', false],
    ['connection', false],
    ['keep-alive', false],
    ['accept', false],
    ['connection-id', false],
    ['content-length', false],
    ['content-type', false],
    ['accept-encoding', false],
    ['content-encoding', false],
    ['transfer-encoding', false],
    ['expect', false],
    ['sec-websocket-extensions', false],
    ['meta-user', false],
    ['grip-sig', false],
  ];
  it.each(cases)('%s → %s', (name, expected) => {
    expect(isReplayedClientHeader(name)).toBe(expected);
  });
});

describe('isSwitchingProtocolsHeader', () => {
  const cases: [string, boolean][] = [
    ['X-Custom', true],
    ['Set-Cookie', true],
    ['Content-Type', false],
    ['Content-Length', false],
    ['Keep-Alive-Interval', false],
    ['Set-Meta-User', false],
    ['set-meta-user', false],
    ['Sec-WebSocket-Extensions', false],
    ['Sec-WebSocket-Protocol', false],
    ['Sec-WebSocket-Accept', false],
  ];
  it.each(cases)('%s → %s', (name, expected) => {
    expect(isSwitchingProtocolsHeader(name)).toBe(expected);
  });
});

describe('parseKeepAliveInterval', () => {
  const cases: [string, [string, string][], number | undefined][] = [
    ['absent keeps the previous setting', [['Content-Type', 'x']], undefined],
    ['a value', [['Keep-Alive-Interval', '120']], 120],
    ['below 20 is raised to 20', [['keep-alive-interval', '5']], 20],
    ['0 disables', [['Keep-Alive-Interval', '0']], 0],
    ['negative disables', [['Keep-Alive-Interval', '-3']], 0],
    ['unparseable disables', [['Keep-Alive-Interval', 'soon']], 0],
    ['surrounding spaces', [['Keep-Alive-Interval', ' 30 ']], 30],
    ['past what a Node timer holds is clamped', [['Keep-Alive-Interval', '9999999999']], 2147483],
  ];
  it.each(cases)('%s', (_name, headers, expected) => {
    expect(parseKeepAliveInterval(headers)).toBe(expected);
  });
});

describe('applySetMeta', () => {
  it('sets, replaces case-insensitively, and deletes with an empty value', () => {
    const meta = new Map<string, string>();
    expect(
      applySetMeta(meta, [
        ['Set-Meta-User', 'alice'],
        ['Set-Meta-Room', 'r1'],
      ]),
    ).toBe(true);
    expect([...meta]).toEqual([
      ['User', 'alice'],
      ['Room', 'r1'],
    ]);
    applySetMeta(meta, [['set-meta-user', 'bob']]);
    expect([...meta]).toEqual([
      ['Room', 'r1'],
      ['user', 'bob'],
    ]);
    applySetMeta(meta, [['Set-Meta-Room', '']]);
    expect([...meta]).toEqual([['user', 'bob']]);
  });
  it('ignores other headers and a bare Set-Meta- prefix', () => {
    const meta = new Map<string, string>();
    expect(
      applySetMeta(meta, [
        ['Meta-User', 'x'],
        ['Set-Meta-', 'y'],
        ['X-Set-Meta-A', 'z'],
      ]),
    ).toBe(false);
    expect(meta.size).toBe(0);
  });
});

describe('isWsEventsResponse', () => {
  it('wants the exact media type, without parameters', () => {
    expect(isWsEventsResponse([['Content-Type', 'application/websocket-events']])).toBe(true);
    expect(
      isWsEventsResponse([['content-type', 'application/websocket-events; charset=utf-8']]),
    ).toBe(false);
    expect(isWsEventsResponse([['Content-Type', 'text/plain']])).toBe(false);
    expect(isWsEventsResponse([])).toBe(false);
  });
});
