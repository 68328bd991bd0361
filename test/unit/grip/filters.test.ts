import { describe, expect, it } from 'vitest';
import {
  applyFilters,
  filterResponseBody,
  isFilterDrop,
  prepareFilters,
  refusedFilters,
  substituteVariables,
  unsupportedFilters,
  type FilterDrop,
  type SubscriptionFilters,
} from '../../../src/grip/filters.js';
import type { ChannelSubscription } from '../../../src/grip/instruct-types.js';

const meta = { user: 'alice', nick: 'Al', empty: '' };

function sub(
  filters: string[],
  subMeta: Record<string, string> = meta,
  more: ChannelSubscription[] = [],
): SubscriptionFilters {
  const prepared = prepareFilters([{ name: 'c', filters }, ...more], subMeta);
  if (!prepared) throw new Error('expected filters');
  return prepared;
}

function run(
  subscription: SubscriptionFilters | undefined,
  publishMeta: Record<string, string> | undefined,
  content = 'hi',
  contentFilters?: string[],
): string | FilterDrop {
  const out = applyFilters(subscription, 'c', publishMeta, Buffer.from(content), contentFilters);
  return isFilterDrop(out) ? out : out.toString();
}

const dropped = expect.objectContaining({ isError: false });
const failed = expect.objectContaining({ isError: true });

describe('substituteVariables', () => {
  const cases: [string, string, string][] = [
    ['no directive', 'plain text', 'plain text'],
    ['one variable', 'to %(nick)s!', 'to Al!'],
    ['Pushpin example', 'from bob to %(nick)s 100%%', 'from bob to Al 100%'],
    ['two variables and %%', '%(user)s%%%(nick)s', 'alice%Al'],
    ['an empty value', '[%(empty)s]', '[]'],
    ['an escaped parenthesis in the name', '%(ni\\ck)s', 'Al'],
    ['multi-byte text around it', 'é %(nick)s ü', 'é Al ü'],
  ];
  it.each(cases)('%s', (_name, input, expected) => {
    const out = substituteVariables(Buffer.from(input), meta);
    expect(Buffer.isBuffer(out) && out.toString()).toBe(expected);
  });

  it('returns the same buffer when there is no % at all', () => {
    const content = Buffer.from('nothing to do');
    expect(substituteVariables(content, meta)).toBe(content);
  });

  const bad: [string, string, string][] = [
    ['an unknown variable', 'hi %(who)s', "No such variable 'who' at position 9"],
    ['a prototype name is not a variable', '%(constructor)s', "No such variable 'constructor'"],
    ['a trailing %', 'hi %', "Expected directive after '%' at position 3"],
    ['an unknown directive letter', '%d', "Unknown directive 'd' at position 1"],
    ['a bare %s', '%s', "Directive 's' requires argument at position 1"],
    ['a non-letter directive', '% x', "Unknown directive ' ' at position 1"],
    ['an unterminated field', '%(nick', 'Unterminated field starting at position 1'],
    ['a field with no directive', '%(nick)', "Expected directive after ')' at position 6"],
    ['a field directive other than s', '%(nick)d', "Unknown directive 'd' at position 7"],
    ['a lone (', '%(', "Expected character after '(' at position 1"],
    ['a trailing backslash in a field', '%(a\\', "Expected character after '\\' at position 3"],
  ];
  it.each(bad)('fails on %s', (_name, input, message) => {
    const out = substituteVariables(Buffer.from(input), meta);
    expect(typeof out).toBe('string');
    expect(out).toContain(message);
  });
});

describe('applyFilters', () => {
  it('delivers unchanged when the subscription has no filters and the item no content-filters', () => {
    const content = Buffer.from('x');
    expect(applyFilters(undefined, 'c', { sender: 'alice' }, content)).toBe(content);
  });

  const deliveryCases: [
    string,
    string[],
    Record<string, string>,
    Record<string, string> | undefined,
    boolean,
  ][] = [
    ['skip-self drops the sender own item', ['skip-self'], meta, { sender: 'alice' }, false],
    ['skip-self keeps another sender', ['skip-self'], meta, { sender: 'bob' }, true],
    ['skip-self keeps an item without meta', ['skip-self'], meta, undefined, true],
    ['skip-self needs a user in the sub meta', ['skip-self'], {}, { sender: '' }, true],
    ['skip-self with an empty user and sender', ['skip-self'], { user: '' }, { sender: '' }, true],
    [
      'skip-users drops a listed user',
      ['skip-users'],
      meta,
      { skip_users: 'bob, alice ,carol' },
      false,
    ],
    ['skip-users keeps an unlisted user', ['skip-users'], meta, { skip_users: 'bob,alicia' }, true],
    ['skip-users ignores empty entries', ['skip-users'], { user: '' }, { skip_users: ',,' }, true],
    ['skip-users without a sub user', ['skip-users'], {}, { skip_users: 'alice' }, true],
    [
      'require-sub drops when not subscribed',
      ['require-sub'],
      meta,
      { require_sub: 'other' },
      false,
    ],
    ['require-sub keeps when subscribed', ['require-sub'], meta, { require_sub: 'c' }, true],
    ['require-sub keeps without require_sub', ['require-sub'], meta, { sender: 'x' }, true],
    [
      'filters run in order: drop wins',
      ['var-subst', 'skip-self'],
      meta,
      { sender: 'alice' },
      false,
    ],
    ['an unimplemented filter is ignored', ['http-check', 'typo'], meta, { sender: 'alice' }, true],
  ];
  it.each(deliveryCases)('%s', (_name, filters, subMeta, publishMeta, isDelivered) => {
    const prepared = prepareFilters([{ name: 'c', filters }], subMeta);
    const out = run(prepared, publishMeta);
    if (isDelivered) expect(out).toBe('hi');
    else expect(out).toEqual(dropped);
  });

  it('require-sub counts every channel of the connection, without the route prefix', () => {
    const prepared = prepareFilters(
      [
        { name: 'p.c', filters: ['require-sub'] },
        { name: 'p.members', filters: [] },
      ],
      meta,
      'p.',
    );
    expect(
      isFilterDrop(applyFilters(prepared, 'p.c', { require_sub: 'members' }, Buffer.from('x'))),
    ).toBe(false);
    expect(
      isFilterDrop(applyFilters(prepared, 'p.c', { require_sub: 'p.members' }, Buffer.from('x'))),
    ).toBe(true);
  });

  it('runs only the filters of the item channel', () => {
    const prepared = sub(['skip-self'], meta, [{ name: 'd', filters: [] }]);
    expect(isFilterDrop(applyFilters(prepared, 'd', { sender: 'alice' }, Buffer.from('x')))).toBe(
      false,
    );
  });

  it('var-subst rewrites content with the subscription meta', () => {
    expect(run(sub(['var-subst']), { sender: 'bob' }, 'from bob to %(nick)s 100%%')).toBe(
      'from bob to Al 100%',
    );
  });

  it('var-subst failure drops the item as a filter error', () => {
    expect(run(sub(['var-subst']), undefined, 'hi %(nope)s')).toEqual(failed);
  });

  describe('content-filters', () => {
    it('delivers when they equal the channel content filters', () => {
      expect(run(sub(['skip-self', 'var-subst']), undefined, '%(nick)s', ['var-subst'])).toBe('Al');
    });
    it('an empty list matches a channel without content filters', () => {
      expect(run(sub(['skip-self']), undefined, 'x', [])).toBe('x');
      expect(run(undefined, undefined, 'x', [])).toBe('x');
    });
    it('drops when the channel lacks a named filter', () => {
      expect(run(sub(['skip-self']), undefined, 'x', ['var-subst'])).toEqual(dropped);
      expect(run(undefined, undefined, 'x', ['var-subst'])).toEqual(dropped);
    });
    it('drops when the channel has a content filter the item does not name', () => {
      expect(run(sub(['var-subst']), undefined, 'x', [])).toEqual(dropped);
    });
    it('drops an item naming a filter thumbtack does not implement', () => {
      const prepared = prepareFilters([{ name: 'c', filters: ['http-modify'] }], meta);
      expect(run(prepared, undefined, 'x', ['http-modify'])).toEqual(dropped);
    });
    it('build-id is a content filter', () => {
      const prepared = sub(['skip-users', 'build-id'], { id_format: 'fixed' });
      expect(run(prepared, undefined, 'id: %I', ['build-id'])).toBe('id: fixed');
      expect(run(prepared, undefined, 'x', [])).toEqual(dropped);
    });
    it('names both lists in the reason', () => {
      const out = run(sub(['var-subst']), undefined, 'x', ['a', 'b']);
      expect(out).toEqual({
        reason: 'content filter mismatch: subscription=var-subst message=a,b',
        isError: false,
      });
    });
  });
});

describe('prepareFilters', () => {
  it('is undefined when no channel has a filter thumbtack applies', () => {
    expect(prepareFilters([{ name: 'a', filters: [] }], meta)).toBeUndefined();
    expect(prepareFilters([{ name: 'a', filters: ['http-check', 'typo'] }], meta)).toBeUndefined();
  });
  it('keeps supported filters per channel in order', () => {
    const prepared = prepareFilters(
      [
        { name: 'a', filters: ['var-subst', 'http-modify', 'skip-self'] },
        { name: 'b', filters: [] },
      ],
      meta,
    );
    expect([...prepared!.byChannel]).toEqual([['a', ['var-subst', 'skip-self']]]);
    expect([...prepared!.contentByChannel]).toEqual([['a', ['var-subst']]]);
    expect([...prepared!.channels]).toEqual([
      ['a', 'a'],
      ['b', 'b'],
    ]);
  });
});

describe('unsupportedFilters', () => {
  it('lists each unknown filter once; refused ones are not in it', () => {
    expect(
      unsupportedFilters([
        { name: 'a', filters: ['skip-self', 'build-id', 'http-check', 'typo'] },
        { name: 'b', filters: ['build-id', 'http-modify', 'var-subst', 'typo', 'other'] },
      ]),
    ).toEqual(['typo', 'other']);
  });
  it('is empty when every filter is applied', () => {
    expect(
      unsupportedFilters([{ name: 'a', filters: ['skip-users', 'require-sub', 'build-id'] }]),
    ).toEqual([]);
  });
});

describe('build-id in applyFilters', () => {
  const event = Buffer.from('event: message\nid: %I\ndata: 100%% percent sign\n\n');
  const idFormat = { id_format: 'test:%(events-test)s,other:%(events-other)s', user: 'u' };
  const channels: ChannelSubscription[] = [
    { name: 'p.events-test', prevId: '6', filters: ['build-id', 'skip-users'] },
    { name: 'p.events-other', prevId: 'x9', filters: [] },
    { name: 'p.user-u', filters: ['require-sub'] },
  ];
  const positions = new Map([
    ['p.events-test', '6'],
    ['p.events-other', 'x9'],
  ]);
  const prepared = prepareFilters(channels, idFormat, 'p.', positions)!;

  function deliver(itemId: string | undefined, content = event): string | FilterDrop {
    const out = applyFilters(prepared, 'p.events-test', undefined, content, ['build-id'], itemId);
    return isFilterDrop(out) ? out : out.toString();
  }

  it("writes the item's own id for its channel and the others' current positions", () => {
    expect(deliver('7')).toBe('event: message\nid: test:7,other:x9\ndata: 100% percent sign\n\n');
  });
  it("reads the hold's positions as they move on", () => {
    positions.set('p.events-other', 'x10');
    expect(deliver('8')).toContain('id: test:8,other:x10\n');
    positions.set('p.events-other', 'x9');
  });
  it('without an item id, writes the current position', () => {
    expect(deliver(undefined)).toContain('id: test:6,other:x9\n');
  });
  it('an id_format naming a channel without position is a filter error', () => {
    const noIds = prepareFilters(channels, { id_format: '%(user-u)s' }, 'p.', positions)!;
    expect(applyFilters(noIds, 'p.events-test', undefined, event, ['build-id'], '7')).toEqual({
      reason: "build-id: failed to render ID: No such variable 'user-u' at position 9",
      isError: true,
    });
  });
  it('a lone % in content is a filter error', () => {
    expect(deliver('7', Buffer.from('100% sure'))).toEqual(failed);
  });
  it('without positions (WebSocket), a template naming a channel fails, a literal one works', () => {
    const ws = prepareFilters([{ name: 'c', filters: ['build-id'] }], { id_format: 'fixed' })!;
    expect(run(ws, undefined, 'id: %I', ['build-id'])).toBe('id: fixed');
    const named = prepareFilters([{ name: 'c', filters: ['build-id'] }], { id_format: '%(c)s' })!;
    expect(run(named, undefined, 'id: %I', ['build-id'])).toEqual(failed);
  });
});

describe('filterResponseBody', () => {
  const body = Buffer.from('data: 100%% percent sign\n\n');
  const meta = { id_format: 'test:%(events-test)s' };
  it('turns %% into % when a channel has build-id', () => {
    const channels = [
      { name: 'user-u', filters: ['require-sub'] },
      { name: 'events-test', prevId: '3', filters: ['build-id'] },
    ];
    expect(filterResponseBody(channels, meta, body).toString()).toBe('data: 100% percent sign\n\n');
  });
  it('leaves the body alone without build-id', () => {
    expect(filterResponseBody([{ name: 'c', filters: ['var-subst'] }], meta, body)).toBe(body);
    expect(filterResponseBody([], meta, body)).toBe(body);
  });
  it('a bare %I has no id to write', () => {
    const channels = [{ name: 'c', filters: ['build-id'] }];
    expect(filterResponseBody(channels, meta, Buffer.from('id: %I\n'))).toBe(
      'build-id: No ID specified and no default ID in context at position 5',
    );
  });
  it('needs id_format even for an empty body', () => {
    const channels = [{ name: 'c', filters: ['build-id'] }];
    expect(filterResponseBody(channels, {}, Buffer.alloc(0))).toBe(
      "build-id: no sub meta 'id_format'",
    );
  });
});

describe('refusedFilters', () => {
  it('lists http-check and http-modify once each, in order', () => {
    expect(
      refusedFilters([
        { name: 'a', filters: ['skip-self', 'http-modify'] },
        { name: 'b', filters: ['http-check', 'typo', 'http-modify'] },
      ]),
    ).toEqual(['http-modify', 'http-check']);
  });
  it('is empty for implemented and unknown filters', () => {
    expect(refusedFilters([{ name: 'a', filters: ['build-id', 'var-subst', 'typo'] }])).toEqual([]);
  });
});
