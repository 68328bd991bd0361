/**
 * The bench backend's own WebSocket-over-HTTP event codec (`application/websocket-events`,
 * protocol 4.2): `TYPE\r\n` or `TYPE <hex length>\r\n<content>\r\n`. Written apart from
 * src/grip/ws-events.ts on purpose: the benchmark measures that codec, and a bug in it must
 * not cancel itself out by encoding and decoding both ends of the exchange.
 */

/** The events the bench backend reads or writes. */
export type BenchWsEventType = 'OPEN' | 'TEXT' | 'CLOSE';

export interface BenchWsEvent<Type extends string = BenchWsEventType> {
  type: Type;
  /** undefined when the event was written without a length (`OPEN\r\n`). */
  content?: Buffer;
}

const CRLF = Buffer.from('\r\n', 'latin1');

/** Writes events; content, when present, always gets a length (even when empty). */
export function encodeBenchWsEvents(events: readonly BenchWsEvent[]): Buffer {
  const parts: Buffer[] = [];
  for (const { type, content } of events) {
    if (content === undefined) {
      parts.push(Buffer.from(`${type}\r\n`, 'latin1'));
    } else {
      parts.push(Buffer.from(`${type} ${content.length.toString(16)}\r\n`, 'latin1'));
      parts.push(content, CRLF);
    }
  }
  return Buffer.concat(parts);
}

/**
 * Reads every event of a body, whatever its type (the backend acts on OPEN, TEXT and CLOSE
 * only); throws Error on a body that does not follow the format.
 */
export function decodeBenchWsEvents(body: Buffer): BenchWsEvent<string>[] {
  const events: BenchWsEvent<string>[] = [];
  let pos = 0;
  while (pos < body.length) {
    const eol = body.indexOf(CRLF, pos);
    if (eol === -1) throw new Error(`event at offset ${pos}: no CRLF`);
    const line = body.toString('latin1', pos, eol);
    const space = line.indexOf(' ');
    if (space === -1) {
      events.push({ type: line });
      pos = eol + 2;
      continue;
    }
    const lengthText = line.slice(space + 1);
    if (!/^[0-9a-fA-F]+$/.test(lengthText)) {
      throw new Error(`event at offset ${pos}: bad length '${lengthText}'`);
    }
    const start = eol + 2;
    const end = start + parseInt(lengthText, 16);
    if (end + 2 > body.length || body[end] !== CRLF[0] || body[end + 1] !== CRLF[1]) {
      throw new Error(`event at offset ${pos}: content not followed by CRLF`);
    }
    events.push({ type: line.slice(0, space), content: body.subarray(start, end) });
    pos = end + 2;
  }
  return events;
}
