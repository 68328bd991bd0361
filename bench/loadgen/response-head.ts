/** The parts of an HTTP/1.1 response head the load generator needs. */
export interface ResponseHead {
  status: number;
  /** Offset of the first body byte in the buffer the head was parsed from. */
  bodyStart: number;
  /** -1 when the head has no Content-Length. */
  contentLength: number;
  isChunked: boolean;
  isClose: boolean;
}

const headEnd = Buffer.from('\r\n\r\n');

/**
 * Parses a response head from the start of `buf`; undefined while it is incomplete. Only
 * the status and framing headers are read: the generator never looks at the rest.
 */
export function parseResponseHead(buf: Buffer): ResponseHead | undefined {
  const end = buf.indexOf(headEnd);
  if (end === -1) return undefined;
  const text = buf.toString('latin1', 0, end).toLowerCase();
  const status = Number(text.slice(9, 12));
  let contentLength = -1;
  let isChunked = false;
  let isClose = false;
  let pos = text.indexOf('\r\n');
  while (pos !== -1 && pos < text.length) {
    const next = text.indexOf('\r\n', pos + 2);
    const line = text.slice(pos + 2, next === -1 ? text.length : next);
    const colon = line.indexOf(':');
    if (colon > 0) {
      const name = line.slice(0, colon);
      if (name === 'content-length') contentLength = Number(line.slice(colon + 1).trim());
      else if (name === 'transfer-encoding') isChunked = line.includes('chunked');
      else if (name === 'connection') isClose = line.includes('close');
    }
    pos = next;
  }
  return { status, bodyStart: end + 4, contentLength, isChunked, isClose };
}
