import { describe, expect, it } from 'vitest';
import {
  buildId,
  renderIdContent,
  renderIdFormat,
  type ChannelIds,
} from '../../../src/grip/id-format.js';

function text(out: Buffer | string): string {
  return typeof out === 'string' ? `error: ${out}` : out.toString();
}

const ids: ChannelIds = new Map([
  ['name', 'Alice'],
  ['food\\fruit(type)', 'apples'],
  ['events-test', '7'],
  ['events-a%20b', '3'],
]);

describe('renderIdFormat', () => {
  const cases: [string, string, string][] = [
    ['no directive', 'This template has no directives.', 'This template has no directives.'],
    // Pushpin's idformattest renderId case, escapes and all.
    [
      'variables with escaped names and %%',
      'My name is %(name)s and I eat %(food\\\\fruit(type\\))s 10%% of the time.',
      'My name is Alice and I eat apples 10% of the time.',
    ],
    ["django-eventstream's one-channel form", 'test:%(events-test)s', 'test:7'],
    [
      "django-eventstream's form for two channels, % in a name escaped",
      'test:%(events-test)s,a%%20b:%(events-a%20b)s',
      'test:7,a%20b:3',
    ],
    [
      'an unknown channel',
      'x:%(events-other)s',
      "error: No such variable 'events-other' at position 17",
    ],
    ['a bare %s', '%s', "error: Directive 's' requires argument at position 1"],
    ['a directive other than s', '%(name)I', "error: Unknown directive 'I' at position 7"],
    ['a trailing %', 'id%', "error: Expected directive after '%' at position 2"],
  ];
  it.each(cases)('%s', (_name, template, expected) => {
    expect(text(renderIdFormat(Buffer.from(template), ids))).toBe(expected);
  });

  it('a prototype name is not a channel', () => {
    expect(text(renderIdFormat(Buffer.from('%(constructor)s'), new Map()))).toContain(
      "No such variable 'constructor'",
    );
  });
});

describe('renderIdContent', () => {
  const id = Buffer.from('C3PO');
  const cases: [string, string, Buffer | undefined, boolean, string][] = [
    // Pushpin's idformattest renderContent cases.
    [
      'no directive',
      'This content has no directives.',
      id,
      false,
      'This content has no directives.',
    ],
    ['%I is the id', 'The ID is %I.', id, false, 'The ID is C3PO.'],
    ['%I in hex', 'The ID is %I.', id, true, 'The ID is 4333504f.'],
    ['%(x)I writes x, in hex too', 'The ID is %(R2D2)I.', id, true, 'The ID is 52324432.'],
    ['%(x)I needs no id', 'The ID is %(R2D2)I.', undefined, false, 'The ID is R2D2.'],
    [
      '%% is %',
      'id: %I\ndata: 100%% percent sign\n\n',
      id,
      false,
      'id: C3PO\ndata: 100% percent sign\n\n',
    ],
    [
      '%% is % without an id',
      'data: 100%% percent sign\n\n',
      undefined,
      false,
      'data: 100% percent sign\n\n',
    ],
    ['an empty id', '[%I]', Buffer.alloc(0), false, '[]'],
    ['hex of multi-byte text', '%I', Buffer.from('é'), true, 'c3a9'],
    [
      '%I without an id',
      'id: %I\n',
      undefined,
      false,
      'error: No ID specified and no default ID in context at position 5',
    ],
    ['a directive other than I', '%s', id, false, "error: Unknown directive 's' at position 1"],
    [
      'a lone % (not escaped)',
      '100% sure',
      id,
      false,
      "error: Unknown directive ' ' at position 4",
    ],
  ];
  it.each(cases)('%s', (_name, content, defaultId, isHex, expected) => {
    expect(text(renderIdContent(Buffer.from(content), defaultId, isHex))).toBe(expected);
  });
});

describe('buildId', () => {
  const event = 'event: message\nid: %I\ndata: {"text": "100%% percent sign"}\n\n';
  const cases: [string, Record<string, string>, ChannelIds | undefined, string, string][] = [
    [
      'a django-eventstream event',
      { id_format: 'test:%(events-test)s', user: 'anonymous' },
      ids,
      event,
      'event: message\nid: test:7\ndata: {"text": "100% percent sign"}\n\n',
    ],
    [
      'hex encoding',
      { id_format: '%(events-test)s-%(name)s', id_encoding: 'hex' },
      ids,
      '%I',
      '372d416c696365',
    ],
    [
      'a response body: %% only, no ids needed',
      { id_format: 'test:%(events-test)s' },
      undefined,
      'event: message\nid: test:6\ndata: 100%% percent sign\n\n',
      'event: message\nid: test:6\ndata: 100% percent sign\n\n',
    ],
    [
      'a response body with %I',
      { id_format: 'test:%(events-test)s' },
      undefined,
      'id: %I\n',
      'error: No ID specified and no default ID in context at position 5',
    ],
    ['no id_format', { user: 'x' }, ids, 'plain', "error: no sub meta 'id_format'"],
    ['no id_format, response body', {}, undefined, 'plain', "error: no sub meta 'id_format'"],
    ['an empty id_format renders an empty id', { id_format: '' }, ids, '[%I]', '[]'],
    [
      'an id_format naming a channel without id',
      { id_format: '%(events-other)s' },
      ids,
      'x',
      "error: failed to render ID: No such variable 'events-other' at position 15",
    ],
    [
      'another encoding',
      { id_format: 'x', id_encoding: 'base64' },
      ids,
      'x',
      'error: unsupported encoding: base64',
    ],
    [
      'an empty encoding',
      { id_format: 'x', id_encoding: '' },
      ids,
      'x',
      'error: unsupported encoding: ',
    ],
  ];
  it.each(cases)('%s', (_name, meta, channelIds, content, expected) => {
    expect(text(buildId(Buffer.from(content), meta, channelIds))).toBe(expected);
  });

  it('returns the same buffer when there is nothing to write', () => {
    const content = Buffer.from('no directives');
    expect(buildId(content, { id_format: 'x' }, ids)).toBe(content);
  });
});
