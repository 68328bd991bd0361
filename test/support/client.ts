import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { Readable } from 'node:stream';

export interface ClientResponse {
  status: number;
  /** The reason phrase as received. */
  reason: string;
  headers: http.IncomingHttpHeaders;
  /** Names as sent, values in order: repeated headers show up repeatedly. */
  rawHeaders: string[];
  body: Buffer;
  /** Whether node:http reused a kept-alive connection for this request. */
  isReusedSocket: boolean;
}

export interface SendOptions {
  method?: string;
  headers?: http.OutgoingHttpHeaders | string[];
  /** A Readable is streamed (chunked unless a content-length header is given). */
  body?: string | Buffer | Readable;
  agent?: http.Agent | false;
  /** For https URLs: the CA to trust (a self-signed certificate). */
  ca?: string;
  timeoutMs?: number;
}

/**
 * One HTTP(S) request with node:http, which exposes what undici hides from a client
 * (reason phrase, raw header names, socket reuse) and sends hop-by-hop headers as given.
 */
export function send(url: string, options: SendOptions = {}): Promise<ClientResponse> {
  const isHttps = url.startsWith('https:');
  return new Promise((resolve, reject) => {
    const req = (isHttps ? https : http).request(url, {
      method: options.method ?? 'GET',
      headers: options.headers,
      agent: options.agent ?? false,
      ...(isHttps ? { ca: options.ca, servername: 'localhost' } : {}),
    });
    const timer = setTimeout(() => {
      req.destroy(new Error(`no response from ${url} within ${options.timeoutMs ?? 10_000} ms`));
    }, options.timeoutMs ?? 10_000);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('aborted', () => reject(new Error('response aborted')));
      res.on('end', () => {
        clearTimeout(timer);
        resolve({
          status: res.statusCode!,
          reason: res.statusMessage ?? '',
          headers: res.headers,
          rawHeaders: res.rawHeaders,
          body: Buffer.concat(chunks),
          isReusedSocket: req.reusedSocket,
        });
      });
    });
    const body = options.body;
    if (body instanceof Readable) body.pipe(req);
    else req.end(body);
  });
}

/**
 * Writes `request` on a fresh TCP connection and returns everything read until the server
 * closes it (send `Connection: close`), for requests node:http would rewrite.
 */
export function sendRaw(
  host: string,
  port: number,
  request: string | Buffer,
  timeoutMs = 10_000,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, host);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`connection to ${host}:${port} not closed within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
    // A string is one char per byte (latin1), so tests can spell out exact bytes.
    socket.write(typeof request === 'string' ? Buffer.from(request, 'latin1') : request);
  });
}

/** Splits a raw HTTP/1.1 response into status line, lower-cased header pairs and body. */
export function parseRawResponse(text: string): {
  statusLine: string;
  headers: [string, string][];
  body: string;
} {
  const end = text.indexOf('\r\n\r\n');
  const head = end === -1 ? text : text.slice(0, end);
  const [statusLine = '', ...lines] = head.split('\r\n');
  const headers = lines.map((line): [string, string] => {
    const colon = line.indexOf(':');
    return [line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()];
  });
  return { statusLine, headers, body: end === -1 ? '' : text.slice(end + 4) };
}
