import type { HttpResponse } from 'uWebSockets.js';
/**
 * Backend response headers the proxy never relays: hop-by-hop ones, framing (uWS frames the
 * body itself) and Date (uWS always writes its own, and two Date headers confuse caches).
 */
const notRelayed = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'content-length',
  'trailer',
  'upgrade',
  'date',
]);

/** The lengths of the names above: a name of any other length is relayed without being read. */
const notRelayedLengths = new Set([...notRelayed].map((name) => name.length));

/**
 * Writes every backend header a client may see from undici's raw header list, minus the
 * fixed hop-by-hop set and whatever the backend's Connection header names (RFC 9110 7.6.1).
 * Names and values go out as the bytes the backend sent; a name is only decoded when its
 * length says it may be one to drop. Call inside a cork.
 */
export function writeRelayedRawHeaders(
  res: { writeHeader(name: string | Buffer, value: string | Buffer): unknown },
  raw: readonly (Buffer | string)[],
): void {
  const nominated = connectionNominated(raw);
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    if (nominated || notRelayedLengths.has(name.length)) {
      const lower = latin1(name).toLowerCase();
      if (notRelayed.has(lower) || nominated?.has(lower)) continue;
    }
    res.writeHeader(name, raw[i + 1]!);
  }
}

/** Header names listed in Connection headers; undefined (no allocation) in the usual case. */
function connectionNominated(raw: readonly (Buffer | string)[]): Set<string> | undefined {
  let names: Set<string> | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length !== 10 || name.toString().toLowerCase() !== 'connection') continue;
    for (const token of raw[i + 1]!.toString().split(',')) {
      const option = token.trim().toLowerCase();
      if (option && option !== 'close' && option !== 'keep-alive')
        (names ??= new Set()).add(option);
    }
  }
  return names;
}

/**
 * [name, value] pairs from undici's raw header list, names as the backend wrote them and
 * values as latin1 byte strings, which is what the GRIP codecs expect.
 */
export function rawHeaderPairs(raw: readonly (Buffer | string)[]): [string, string][] {
  const pairs: [string, string][] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    pairs.push([latin1(raw[i]!), latin1(raw[i + 1]!)]);
  }
  return pairs;
}

function latin1(value: Buffer | string): string {
  return typeof value === 'string' ? value : value.toString('latin1');
}

export function isRelayedHeader(name: string): boolean {
  return !notRelayed.has(name.toLowerCase());
}

/**
 * Writes [name, value] pairs of a GRIP stored or published response, minus what is not
 * relayed. Values are latin1 byte strings (as undici reads them), so they go out as bytes.
 */
export function writeRelayedHeaders(
  res: { writeHeader(name: string, value: string | Buffer): unknown },
  headers: readonly [string, string][],
): void {
  for (const [name, value] of headers) {
    if (!notRelayed.has(name.toLowerCase())) res.writeHeader(name, Buffer.from(value, 'latin1'));
  }
}

/** Ends `res` with a whole GRIP response (stored, published or a retry's answer), corked. */
export function sendCompleteResponse(
  res: HttpResponse,
  response: { code: number; reason: string; headers: readonly [string, string][]; body: Buffer },
): void {
  res.cork(() => {
    res.writeStatus(`${response.code} ${response.reason}`);
    writeRelayedHeaders(res, response.headers);
    res.end(response.body);
  });
}
