import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { createSecureContext } from 'node:tls';
import { ConfigError } from '../src/errors.js';

/** `--control-tls-cert` and `--control-tls-key`, read once at start. */
export interface ControlTls {
  cert: Buffer;
  key: Buffer;
}

/** Undefined without TLS; a ConfigError (exit 2) naming the flag for a file that will not do. */
export function readControlTls(certFile: string, keyFile: string): ControlTls | undefined {
  if (!certFile) return undefined;
  const read = (file: string, flag: string): Buffer => {
    try {
      return fs.readFileSync(file);
    } catch (err) {
      throw new ConfigError(
        `${flag}: cannot read "${file}": ${(err as NodeJS.ErrnoException).code}`,
      );
    }
  };
  const tls = {
    cert: read(certFile, '--control-tls-cert'),
    key: read(keyFile, '--control-tls-key'),
  };
  try {
    createSecureContext(tls);
  } catch (err) {
    throw new ConfigError(
      `--control-tls-cert/--control-tls-key: not a usable PEM certificate and key (${(err as Error).message})`,
    );
  }
  return tls;
}

/** An HTTP server, or an HTTPS one with the control port's certificate. */
export function createControlServer(
  tls: ControlTls | undefined,
  options: http.ServerOptions,
  listener?: http.RequestListener,
): http.Server {
  return tls
    ? https.createServer({ ...options, ...tls }, listener)
    : http.createServer(options, listener);
}
