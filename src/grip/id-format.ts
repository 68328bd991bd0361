import { renderPercentFormat } from './percent-format.js';

/*
 * The build-id content filter (protocol 2.7), as Pushpin's BuildIdFilter
 * (src/handler/filter.cpp) and IdFormat (src/handler/idformat.cpp) run it: sub meta
 * `id_format` is a template whose `%(channel)s` are the connection's channels' current
 * ids; the rendered id replaces `%I` in the content (`%(x)I` writes x instead), hex-encoded
 * when sub meta `id_encoding` is `hex`, and `%%` becomes `%`. django-eventstream's storage
 * mode writes SSE `id: %I` lines and escapes `%` in its events this way.
 */

/** Channel name (as the backend named it) → its current id; absent: no id known. */
export interface ChannelIds {
  get(channel: string): string | undefined;
}

/**
 * Renders an `id_format` template: `%(name)s` becomes the id of channel `name`, `%%`
 * becomes `%`. Returns the id bytes or an error message (Pushpin's wording).
 */
export function renderIdFormat(template: Buffer, ids: ChannelIds): Buffer | string {
  return renderPercentFormat(template, idOfChannel, ids);
}

function idOfChannel(ids: ChannelIds, type: string, arg: Buffer | undefined): Buffer | string {
  if (type !== 's') return `Unknown directive '${type}'`;
  if (arg === undefined) return "Directive 's' requires argument";
  const name = arg.toString('utf8');
  const id = ids.get(name);
  if (id === undefined) return `No such variable '${name}'`;
  return Buffer.from(id, 'utf8');
}

interface ContentIds {
  id: Buffer | undefined;
  isHex: boolean;
}

/**
 * Writes ids into content: `%I` becomes `id` (an error when there is none), `%(x)I`
 * becomes x, `%%` becomes `%`; with `isHex` the id is written as lower-case hex.
 */
export function renderIdContent(
  content: Buffer,
  id: Buffer | undefined,
  isHex: boolean,
): Buffer | string {
  return renderPercentFormat(content, idOfContent, { id, isHex });
}

function idOfContent(context: ContentIds, type: string, arg: Buffer | undefined): Buffer | string {
  if (type !== 'I') return `Unknown directive '${type}'`;
  const id = arg ?? context.id;
  if (id === undefined) return 'No ID specified and no default ID in context';
  return context.isHex ? Buffer.from(id.toString('hex'), 'latin1') : id;
}

/**
 * The build-id filter on one piece of content. `ids` are the connection's channels'
 * current ids for a published item; undefined for a backend response body (initial or
 * next-link), which Pushpin filters without ids: there only `%%` and `%(x)I` work, and a
 * bare `%I` is an error. Returns the content or an error message (Pushpin's wording).
 */
export function buildId(
  content: Buffer,
  meta: Readonly<Record<string, string>>,
  ids: ChannelIds | undefined,
): Buffer | string {
  if (!Object.hasOwn(meta, 'id_format')) return "no sub meta 'id_format'";
  let id: Buffer | undefined;
  if (ids !== undefined) {
    const rendered = renderIdFormat(Buffer.from(meta['id_format']!, 'utf8'), ids);
    if (typeof rendered === 'string') return `failed to render ID: ${rendered}`;
    id = rendered;
  }
  let isHex = false;
  if (Object.hasOwn(meta, 'id_encoding')) {
    const encoding = meta['id_encoding']!;
    if (encoding !== 'hex') return `unsupported encoding: ${encoding}`;
    isHex = true;
  }
  return renderIdContent(content, id, isHex);
}
