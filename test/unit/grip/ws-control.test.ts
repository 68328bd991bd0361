import { describe, expect, it } from 'vitest';
import { WsControlError } from '../../../src/errors.js';
import {
  classifyBackendMessage,
  parseGripExtension,
  parseWsControlMessage,
  type WsControlMessage,
} from '../../../src/grip/ws-control.js';

describe('parseGripExtension', () => {
  const cases: [string, string[], string | undefined][] = [
    ['plain grip: default prefix m:', ['grip'], 'm:'],
    ['explicit prefix', ['grip; message-prefix="m:"'], 'm:'],
    ['empty quoted prefix disables it', ['grip; message-prefix=""'], ''],
    ['parameter without value means no prefix', ['grip; message-prefix'], ''],
    ['unquoted prefix', ['grip; message-prefix=>'], '>'],
    ['among other extensions', ['permessage-deflate, grip; message-prefix="x:"'], 'x:'],
    ['in a second header line', ['permessage-deflate', 'grip'], 'm:'],
    ['absent', ['permessage-deflate'], undefined],
    ['no header', [], undefined],
    ['name must match exactly', ['grip-ext', 'Grip'], undefined],
    ['unterminated quote does not count', ['grip; message-prefix="m:'], undefined],
  ];
  it.each(cases)('%s', (_name, values, prefix) => {
    const extension = parseGripExtension(values);
    expect(extension?.messagePrefix.toString('latin1')).toBe(prefix);
  });
});

describe('classifyBackendMessage', () => {
  const mPrefix = { messagePrefix: Buffer.from('m:') };
  const noPrefix = { messagePrefix: Buffer.alloc(0) };
  const b = (s: string) => Buffer.from(s);

  it('a text message starting with c: is a control message', () => {
    expect(classifyBackendMessage(b('c:{"type":"detach"}'), true, mPrefix)).toEqual({
      kind: 'control',
      json: b('{"type":"detach"}'),
    });
  });
  it('c: is a control prefix even when the message prefix is empty', () => {
    expect(classifyBackendMessage(b('c:{}'), true, noPrefix).kind).toBe('control');
  });
  it('a binary message starting with c: is not a control message', () => {
    expect(classifyBackendMessage(b('c:x'), false, mPrefix)).toEqual({ kind: 'drop' });
  });
  it('the message prefix is stripped from text and binary messages', () => {
    expect(classifyBackendMessage(b('m:hello'), true, mPrefix)).toEqual({
      kind: 'relay',
      content: b('hello'),
    });
    expect(classifyBackendMessage(b('m:\x00\x01'), false, mPrefix)).toEqual({
      kind: 'relay',
      content: b('\x00\x01'),
    });
  });
  it('a message without the prefix is dropped', () => {
    expect(classifyBackendMessage(b('hello'), true, mPrefix)).toEqual({ kind: 'drop' });
    expect(classifyBackendMessage(b('m'), true, mPrefix)).toEqual({ kind: 'drop' });
  });
  it('with an empty prefix everything that is not control is relayed as is', () => {
    expect(classifyBackendMessage(b('hello'), true, noPrefix)).toEqual({
      kind: 'relay',
      content: b('hello'),
    });
    expect(classifyBackendMessage(b(''), false, noPrefix)).toEqual({
      kind: 'relay',
      content: b(''),
    });
  });
});

describe('parseWsControlMessage', () => {
  const valid: [string, string, WsControlMessage][] = [
    [
      'subscribe',
      '{"type":"subscribe","channel":"news"}',
      { type: 'subscribe', channel: 'news', filters: [] },
    ],
    [
      'subscribe with filters',
      '{"type":"subscribe","channel":"c","filters":["skip-self","var-subst"]}',
      { type: 'subscribe', channel: 'c', filters: ['skip-self', 'var-subst'] },
    ],
    [
      'subscribe from a position (thumbtack resume)',
      '{"type":"subscribe","channel":"c","prev-id":"42"}',
      { type: 'subscribe', channel: 'c', filters: [], prevId: '42' },
    ],
    [
      'unsubscribe',
      '{"type":"unsubscribe","channel":"news"}',
      { type: 'unsubscribe', channel: 'news' },
    ],
    ['detach', '{"type":"detach"}', { type: 'detach' }],
    [
      'set-meta',
      '{"type":"set-meta","name":"user","value":"alice"}',
      { type: 'set-meta', name: 'user', value: 'alice' },
    ],
    [
      'set-meta null removes',
      '{"type":"set-meta","name":"user","value":null}',
      { type: 'set-meta', name: 'user', value: undefined },
    ],
    [
      'set-meta absent removes',
      '{"type":"set-meta","name":"user"}',
      { type: 'set-meta', name: 'user', value: undefined },
    ],
    [
      'keep-alive documented example',
      '{"type": "keep-alive", "content": "{}", "timeout": 30}',
      {
        type: 'keep-alive',
        keepAlive: { content: Buffer.from('{}'), messageType: 'text', timeout: 30, mode: 'idle' },
      },
    ],
    [
      'keep-alive content-bin without message-type is still text (Pushpin quirk)',
      '{"type":"keep-alive","content-bin":"AAEC"}',
      {
        type: 'keep-alive',
        keepAlive: {
          content: Buffer.from([0, 1, 2]),
          messageType: 'text',
          timeout: 55,
          mode: 'idle',
        },
      },
    ],
    [
      'keep-alive timeout past what a Node timer holds is clamped to 2147483 s',
      '{"type":"keep-alive","content":"k","timeout":2147484}',
      {
        type: 'keep-alive',
        keepAlive: {
          content: Buffer.from('k'),
          messageType: 'text',
          timeout: 2147483,
          mode: 'idle',
        },
      },
    ],
    [
      'keep-alive ping on an interval, timeout 0 means 55',
      '{"type":"keep-alive","content":"","message-type":"ping","timeout":0,"mode":"interval"}',
      {
        type: 'keep-alive',
        keepAlive: { content: Buffer.alloc(0), messageType: 'ping', timeout: 55, mode: 'interval' },
      },
    ],
    [
      'keep-alive without content turns it off',
      '{"type":"keep-alive","timeout":10}',
      { type: 'keep-alive', keepAlive: undefined },
    ],
  ];
  it.each(valid)('%s', (_name, json, expected) => {
    expect(parseWsControlMessage(json)).toEqual(expected);
    expect(parseWsControlMessage(Buffer.from(json))).toEqual(expected);
  });

  const invalid: [string, string][] = [
    ['not JSON', '{"type":'],
    ['empty', ''],
    ['an array', '[]'],
    ['a string', '"subscribe"'],
    ['null', 'null'],
    ['no type', '{"channel":"x"}'],
    ['unknown type', '{"type":"close","code":1000}'],
    ['session is out of scope', '{"type":"session","id":"x"}'],
    ['subscribe without channel', '{"type":"subscribe"}'],
    ['subscribe with empty channel', '{"type":"subscribe","channel":""}'],
    ['subscribe with a NUL in the channel', '{"type":"subscribe","channel":"a\\u0000b"}'],
    ['unsubscribe with a NUL in the channel', '{"type":"unsubscribe","channel":"\\u0000x"}'],
    ['subscribe with a numeric channel', '{"type":"subscribe","channel":5}'],
    ['subscribe with a numeric prev-id', '{"type":"subscribe","channel":"c","prev-id":42}'],
    ['subscribe with an empty prev-id', '{"type":"subscribe","channel":"c","prev-id":""}'],
    ['subscribe with non-string filters', '{"type":"subscribe","channel":"c","filters":[1]}'],
    [
      'subscribe with filters not an array',
      '{"type":"subscribe","channel":"c","filters":"skip-self"}',
    ],
    ['unsubscribe without channel', '{"type":"unsubscribe"}'],
    ['set-meta without name', '{"type":"set-meta","value":"x"}'],
    ['set-meta with a numeric value', '{"type":"set-meta","name":"n","value":1}'],
    [
      'keep-alive with an unknown message-type',
      '{"type":"keep-alive","content":"x","message-type":"close"}',
    ],
    ['keep-alive with a negative timeout', '{"type":"keep-alive","content":"x","timeout":-1}'],
    ['keep-alive with a text timeout', '{"type":"keep-alive","content":"x","timeout":"30"}'],
    ['keep-alive with an unknown mode', '{"type":"keep-alive","content":"x","mode":"sometimes"}'],
    ['keep-alive with numeric content', '{"type":"keep-alive","content":5}'],
  ];
  it.each(invalid)('refuses %s', (_name, json) => {
    expect(() => parseWsControlMessage(json)).toThrow(WsControlError);
  });

  it('more than five filters are returned for the caller to refuse', () => {
    const json = JSON.stringify({
      type: 'subscribe',
      channel: 'c',
      filters: ['a', 'b', 'c', 'd', 'e', 'f'],
    });
    expect(parseWsControlMessage(json)).toMatchObject({ filters: ['a', 'b', 'c', 'd', 'e', 'f'] });
  });
});
