import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { AddressInfo } from 'node:net';

export interface Backend {
  server: http.Server;
  port: number;
  /** `127.0.0.1:port` (or `[::1]:port`), as a routes file target. */
  target: string;
  /** Every request seen, in order (headers as node parsed them). */
  requests: http.IncomingMessage[];
  /** TCP connections accepted so far (keep-alive reuse shows as fewer connections). */
  connections: number;
  close(): Promise<void>;
}

export interface RawBackend {
  server: net.Server;
  port: number;
  target: string;
  close(): Promise<void>;
}

export interface BackendOptions {
  /** Listen address; default 127.0.0.1. */
  host?: string;
  /** PEM certificate and key: the backend speaks HTTPS. */
  tls?: { cert: string; key: string };
}

const running = new Set<{ close(): Promise<void> }>();

/** A real HTTP(S) backend with a free port on 127.0.0.1; `handler` answers each request. */
export async function startBackend(
  handler: http.RequestListener,
  options: BackendOptions = {},
): Promise<Backend> {
  const requests: http.IncomingMessage[] = [];
  const listener: http.RequestListener = (req, res) => {
    requests.push(req);
    handler(req, res);
  };
  const server: http.Server = options.tls
    ? https.createServer({ cert: options.tls.cert, key: options.tls.key }, listener)
    : http.createServer(listener);
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  const backend: Backend = {
    server,
    port,
    target: host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`,
    requests,
    connections: 0,
    close: () =>
      new Promise((resolve) => {
        running.delete(backend);
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  server.on(options.tls ? 'secureConnection' : 'connection', () => backend.connections++);
  running.add(backend);
  return backend;
}

/**
 * A TCP server on 127.0.0.1 that hands each connection to `onConnection`, for backends
 * that must misbehave in ways node:http would not (reset, odd framing, hop-by-hop headers).
 */
export async function startRawBackend(
  onConnection: (socket: net.Socket) => void,
): Promise<RawBackend> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    onConnection(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const backend: RawBackend = {
    server,
    port,
    target: `127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        running.delete(backend);
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
  running.add(backend);
  return backend;
}

export async function stopAllBackends(): Promise<void> {
  await Promise.all([...running].map((b) => b.close()));
}
