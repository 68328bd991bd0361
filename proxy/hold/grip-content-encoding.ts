import zlib from 'node:zlib';
import { GripInstructError } from '../../src/errors.js';
import type { BackendReply } from '../backend/backend-request.js';

/**
 * The client's Accept-Encoding reaches the backend, so plain answers keep their compression.
 * A GRIP answer is different: the proxy reads it, and a stream hold appends published
 * items to its body. So its body is decoded here and Content-Encoding dropped; Pushpin
 * strips Accept-Encoding instead, which costs every plain answer its compression.
 * `max` bounds the decoded size as the wire size is bounded (no decompression bombs).
 */
export function decodeGripReply(reply: BackendReply, max: number): BackendReply {
  if (!reply.headers.some(([name]) => name.toLowerCase() === 'content-encoding')) return reply;
  const codings: string[] = [];
  const headers: [string, string][] = [];
  for (const pair of reply.headers) {
    if (pair[0].toLowerCase() !== 'content-encoding') headers.push(pair);
    else for (const coding of pair[1].split(',')) if (coding.trim()) codings.push(coding.trim());
  }
  if (codings.length === 0) return reply;
  let body = reply.body;
  // Codings are listed in the order they were applied.
  for (const coding of codings.reverse()) body = decode(coding, body, max);
  return { ...reply, headers, body };
}

function decode(coding: string, body: Buffer, max: number): Buffer {
  const options = { maxOutputLength: max };
  try {
    switch (coding.toLowerCase()) {
      case 'identity':
        return body;
      case 'gzip':
      case 'x-gzip':
        return zlib.gunzipSync(body, options);
      case 'deflate':
        return zlib.inflateSync(body, options);
      case 'br':
        return zlib.brotliDecompressSync(body, options);
    }
  } catch (err) {
    const reason =
      (err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE'
        ? `decodes to more than ${max} bytes`
        : 'is corrupt';
    throw new GripInstructError('Content-Encoding', `Content-Encoding ${coding}: body ${reason}`);
  }
  throw new GripInstructError(
    'Content-Encoding',
    `Content-Encoding ${coding} is not supported on GRIP answers (gzip, deflate, br)`,
  );
}
