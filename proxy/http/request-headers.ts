import { isGripRequestHeader } from '../../src/grip/header-field.js';
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import type { Settings } from '../../src/config/schema.js';
import type { RouteHeader } from '../../src/routes/route.js';

/** Request headers that describe one hop, never forwarded (RFC 9110 7.6.1 and common practice). */
const hopByHop = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'expect',
  'host',
]);

export interface ClientRequestInfo {
  method: string;
  /** Path and query as the client sent them. */
  url: string;
  /** Lower-cased names, in arrival order; repeated names kept. */
  headers: [string, string][];
  remoteAddress: string;
  isTls: boolean;
  host: string;
  /** For the access line; '' when the client sent none. */
  userAgent: string;
}

export interface ForwardOptions {
  xForwardedFor: Settings['xForwardedFor'];
  xForwardedProto: boolean;
  trustedProxies: ReadonlySet<string>;
  /** Host header toward the backend. */
  host: string;
  /** Route `header=` options (lower-case names). */
  setHeaders: readonly RouteHeader[];
  removeHeaders: readonly string[];
  /** The client is a trusted upstream GRIP proxy: its `Grip-*` headers go on. */
  isGripKept?: boolean;
  /** `Connection-Id` of the held connection this request may become (GRIP routes). */
  connectionId?: string;
}

/**
 * Builds the flat [name, value, ...] header list undici sends to the backend: hop-by-hop
 * headers and every client `Grip-*` header removed (only the proxy may speak GRIP to the
 * backend, or an upstream GRIP proxy it trusts), X-Forwarded-For/-Proto applied, route
 * headers added.
 */
export function buildBackendHeaders(client: ClientRequestInfo, options: ForwardOptions): string[] {
  const out: string[] = ['host', options.host];
  const dropped = connectionTokens(client.headers);
  const isTrustedPeer = options.trustedProxies.has(client.remoteAddress);
  let forwardedFor: string | undefined;
  for (const [name, value] of client.headers) {
    if (
      hopByHop.has(name) ||
      (isGripRequestHeader(name) && !options.isGripKept) ||
      (dropped && dropped.has(name)) ||
      (name === 'connection-id' && options.connectionId !== undefined)
    )
      continue;
    if (options.removeHeaders.includes(name) || options.setHeaders.some((h) => h.name === name))
      continue;
    if (name === 'x-forwarded-for') {
      forwardedFor = forwardedFor === undefined ? value : `${forwardedFor}, ${value}`;
      continue;
    }
    if (
      (name === 'x-forwarded-proto' || name === 'x-forwarded-protocol') &&
      options.xForwardedProto &&
      !isTrustedPeer
    ) {
      continue;
    }
    out.push(name, value);
  }
  switch (options.xForwardedFor) {
    case 'append':
      out.push(
        'x-forwarded-for',
        forwardedFor ? `${forwardedFor}, ${client.remoteAddress}` : client.remoteAddress,
      );
      break;
    case 'replace':
      out.push(
        'x-forwarded-for',
        isTrustedPeer && forwardedFor
          ? `${forwardedFor}, ${client.remoteAddress}`
          : client.remoteAddress,
      );
      break;
    case 'off':
      if (forwardedFor !== undefined) out.push('x-forwarded-for', forwardedFor);
      break;
  }
  if (
    options.xForwardedProto &&
    !(isTrustedPeer && hasHeader(client.headers, 'x-forwarded-proto'))
  ) {
    out.push('x-forwarded-proto', client.isTls ? 'https' : 'http');
  }
  for (const header of options.setHeaders) out.push(header.name, header.value);
  if (options.connectionId !== undefined) out.push('connection-id', options.connectionId);
  return out;
}

/**
 * An IP address in the form X-Forwarded-For and --trusted-proxies use: uWS reports IPv6
 * peers fully expanded (`0000:...:0001`), so IPv6 is compressed (RFC 5952) and an
 * IPv4-mapped address (a dual-stack listener) becomes plain dotted IPv4.
 */
export function canonicalIp(address: string): string {
  if (!address.includes(':')) return address;
  let host: string;
  try {
    host = new URL(`http://[${address}]/`).hostname.slice(1, -1);
  } catch {
    return address;
  }
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(host);
  if (!mapped) return host;
  const high = parseInt(mapped[1]!, 16);
  const low = parseInt(mapped[2]!, 16);
  return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
}

/**
 * The peer address as canonicalIp writes it, from uWS's binary form (4 bytes for IPv4, 16
 * for IPv6): asking uWS for its text form costs an allocation and a formatting per request.
 */
export function ipFromBytes(bytes: Uint8Array): string {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  if (bytes.length !== 16) return '';
  if (isIpv4Mapped(bytes)) return `${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  return canonicalIp(groups.join(':'));
}

/** `::ffff:a.b.c.d`, how a dual-stack listener sees an IPv4 peer. */
function isIpv4Mapped(bytes: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false;
  return bytes[10] === 0xff && bytes[11] === 0xff;
}

function connectionTokens(headers: [string, string][]): Set<string> | undefined {
  let tokens: Set<string> | undefined;
  for (const [name, value] of headers) {
    if (name !== 'connection') continue;
    for (const token of value.split(',')) {
      const t = token.trim().toLowerCase();
      if (t && t !== 'close' && t !== 'keep-alive') (tokens ??= new Set()).add(t);
    }
  }
  return tokens;
}

function hasHeader(headers: [string, string][], name: string): boolean {
  for (const [n] of headers) if (n === name) return true;
  return false;
}

const nonAscii = /[^\t\x20-\x7e]/;

/** A client request as uWS hands it over, read synchronously (`req` dies after the handler). */
export function readClientRequest(
  res: HttpResponse,
  req: HttpRequest,
  isTls: boolean,
): ClientRequestInfo {
  const headers: [string, string][] = [];
  req.forEach((name, value) => {
    // forEach decodes values as UTF-8, undici writes them as latin1: hand undici one char
    // per original byte, or non-ASCII values come out mangled (or refused, past U+00FF).
    headers.push([
      name,
      nonAscii.test(value) ? Buffer.from(value, 'utf8').toString('latin1') : value,
    ]);
  });
  const query = req.getQuery();
  return {
    method: req.getCaseSensitiveMethod(),
    url: query ? `${req.getUrl()}?${query}` : req.getUrl(),
    headers,
    remoteAddress: ipFromBytes(new Uint8Array(res.getRemoteAddress())),
    isTls,
    host: req.getHeader('host'),
    userAgent: req.getHeader('user-agent'),
  };
}
