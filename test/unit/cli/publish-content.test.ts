import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildItem, type ItemRequest } from '../../../src/cli/publish-content.js';
import { UsageError } from '../../../src/cli/usage-error.js';

/** A request as `thumbtack publish ch hello` makes it; each case changes what it names. */
function request(changes: Partial<ItemRequest> = {}): ItemRequest {
  return {
    channel: 'ch',
    content: 'hello',
    file: undefined,
    format: undefined,
    id: undefined,
    prevId: undefined,
    sender: undefined,
    meta: [],
    code: undefined,
    header: [],
    isNoSeq: false,
    isClose: false,
    isHint: false,
    isPatch: false,
    isNoEol: false,
    ...changes,
  };
}

describe('buildItem: the item pushpin-publish builds for the same options', () => {
  it.each<[string, Partial<ItemRequest>, Record<string, unknown>]>([
    [
      'content: every format, a newline on the HTTP payloads',
      {},
      {
        channel: 'ch',
        formats: {
          'http-response': { code: 200, body: 'hello\n' },
          'http-stream': { content: 'hello\n' },
          'ws-message': { content: 'hello' },
        },
      },
    ],
    [
      '--no-eol, --id, --prev-id, --sender, -M, --no-seq, --code, -H',
      {
        isNoEol: true,
        id: 'a',
        prevId: 'b',
        sender: 's',
        meta: ['k= v'],
        isNoSeq: true,
        code: '404',
        header: ['X-A:  b '],
      },
      {
        channel: 'ch',
        id: 'a',
        'prev-id': 'b',
        meta: { sender: 's', k: 'v' },
        'no-seq': true,
        formats: {
          'http-response': { code: 404, body: 'hello', headers: [['X-A', 'b']] },
          'http-stream': { content: 'hello' },
          'ws-message': { content: 'hello' },
        },
      },
    ],
    [
      '--hint: a hint in every format',
      { isHint: true, content: undefined },
      {
        channel: 'ch',
        formats: {
          'http-response': { action: 'hint' },
          'http-stream': { action: 'hint' },
          'ws-message': { action: 'hint' },
        },
      },
    ],
    [
      '--close: streams and WebSockets',
      { isClose: true, content: undefined },
      {
        channel: 'ch',
        formats: { 'http-stream': { action: 'close' }, 'ws-message': { action: 'close' } },
      },
    ],
    [
      '--patch: http-response body-patch alone, with code and headers',
      {
        isPatch: true,
        content: '[{"op":"add","path":"/a","value":1}]',
        code: '201',
        header: ['X-A: b'],
      },
      {
        channel: 'ch',
        formats: {
          'http-response': {
            code: 201,
            'body-patch': [{ op: 'add', path: '/a', value: 1 }],
            headers: [['X-A', 'b']],
          },
        },
      },
    ],
    [
      '--patch --format http-response',
      { isPatch: true, content: '[]', format: ['http-response'] },
      { channel: 'ch', formats: { 'http-response': { code: 200, 'body-patch': [] } } },
    ],
  ])('%s', async (_name, changes, item) => {
    expect(await buildItem(request(changes))).toEqual(item);
  });

  it('@PATH content is the file bytes as they are (no newline), binary as -bin', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thumbtack-unit-'));
    try {
      const file = path.join(dir, 'bytes');
      fs.writeFileSync(file, Buffer.from([0xff, 0x00, 0x41]));
      expect(await buildItem(request({ content: `@${file}`, format: ['http-stream'] }))).toEqual({
        channel: 'ch',
        formats: { 'http-stream': { 'content-bin': '/wBB' } },
      });
      await expect(buildItem(request({ content: `@${dir}/missing` }))).rejects.toThrow(
        `cannot read ${dir}/missing: ENOENT`,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each<[string, Partial<ItemRequest>, string]>([
    [
      '--close with --hint',
      { isClose: true, isHint: true },
      '--close and --hint exclude each other',
    ],
    [
      '--hint with --patch',
      { isHint: true, isPatch: true },
      '--hint and --patch exclude each other',
    ],
    [
      '--patch with other formats',
      { isPatch: true, format: ['http-response,ws-message'] },
      '--patch publishes http-response only, not ws-message',
    ],
    [
      '--close to long-polls only',
      { isClose: true, format: ['http-response'] },
      'nothing to publish: --close applies to http-stream and ws-message only',
    ],
    ['a code past 999', { code: '1000' }, '--code must be an integer between 0 and 999'],
    ['a header without a colon', { header: ['X-A'] }, 'header must be in the form "Name: value"'],
    ['meta without =', { meta: ['k'] }, 'meta must be in the form "name=value"'],
    ['an unknown format', { format: ['sse'] }, 'unknown format "sse"'],
  ])('refuses %s as a usage error', async (_name, changes, message) => {
    const built = buildItem(request(changes));
    await expect(built).rejects.toThrow(UsageError);
    await expect(built).rejects.toThrow(message);
  });

  it.each([
    ['not JSON', '[{', '--patch content is not JSON: '],
    ['an object', '{"op":"add"}', '--patch content must be a JSON array of RFC 6902 operations'],
  ])('refuses --patch content that is %s', async (_name, content, message) => {
    const built = buildItem(request({ isPatch: true, content }));
    await expect(built).rejects.toThrow(message);
    await expect(built).rejects.not.toThrow(UsageError);
  });
});
