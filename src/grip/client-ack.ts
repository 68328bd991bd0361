/*
 * How a client acknowledges an item published to its connection with `ack` (README:
 * Direct push and receipts), without an SDK: a WebSocket client sends the text frame `{"thumbtack-ack":"<item id>"}`; an
 * HTTP client (SSE, stream, long-poll) sends `POST /_thumbtack/ack/<connection id>/<item id>`
 * (the item id percent-encoded) to the proxy's client port. thumbtack consumes both; neither
 * reaches a backend.
 */

const framePrefix = Buffer.from('{"thumbtack-ack":');
/** Larger frames are the application's own, whatever they start with. */
const frameMax = 1024;
export const ackPathPrefix = '/_thumbtack/ack/';

/**
 * The item id a client message acknowledges; `null` for a message shaped as an ack that
 * names no item (consumed and counted, never forwarded); undefined for any other message.
 */
export function parseAckFrame(message: Uint8Array, isBinary: boolean): string | null | undefined {
  if (isBinary || message.length > frameMax || message.length < framePrefix.length) {
    return undefined;
  }
  for (let i = 0; i < framePrefix.length; i++) {
    if (message[i] !== framePrefix[i]) return undefined;
  }
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(message).toString('utf8'));
  } catch {
    return null;
  }
  const item = (value as Record<string, unknown>)['thumbtack-ack'];
  return typeof item === 'string' && item !== '' ? item : null;
}

/** The connection and item an ack request names; null for a malformed one under the prefix. */
export function parseAckPath(path: string): { connection: string; item: string } | null {
  const rest = path.slice(ackPathPrefix.length).split('/');
  if (rest.length !== 2 || rest[0] === '' || rest[1] === '') return null;
  try {
    return { connection: decodeURIComponent(rest[0]!), item: decodeURIComponent(rest[1]!) };
  } catch {
    return null;
  }
}

/** The text frame a WebSocket client sends to acknowledge `item`. */
export function ackFrame(item: string): string {
  return JSON.stringify({ 'thumbtack-ack': item });
}
