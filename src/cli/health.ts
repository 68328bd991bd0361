import net from 'node:net';
import { Agent, request } from 'undici';
import { loadSettings } from '../config/load.js';
import { ConfigError } from '../errors.js';

/*
 * `thumbtack health [options]`: exit 0 when this host's thumbtack answers, 1 when not.
 * For container health checks (the Dockerfile's HEALTHCHECK): it reads the same settings
 * as the server (flags, THUMBTACK_* variables, --config file), so it probes the ports the
 * server was configured with, on the loopback address.
 */

const timeoutMs = 2_500;

export async function runHealth(argv: string[]): Promise<number> {
  let settings;
  try {
    ({ settings } = loadSettings(argv));
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`thumbtack health: ${err.message}\n`);
    return 2;
  }
  const isTls = Boolean(settings.controlTlsCert);
  const control = `${isTls ? 'https' : 'http'}://127.0.0.1:${settings.controlPort}/healthz`;
  // A loopback probe of our own port: the certificate names the public host, not 127.0.0.1.
  const dispatcher = new Agent({ connect: { rejectUnauthorized: false } });
  try {
    const [status] = await Promise.all([
      request(control, { dispatcher, headersTimeout: timeoutMs, bodyTimeout: timeoutMs }).then(
        async (res) => {
          await res.body.text();
          return res.statusCode;
        },
      ),
      connectOnce(settings.port),
    ]);
    if (status !== 200) throw new Error(`${control} answered ${status}`);
    return 0;
  } catch (err) {
    process.stderr.write(`thumbtack health: ${(err as Error).message}\n`);
    return 1;
  } finally {
    await dispatcher.close();
  }
}

/** The client port accepts connections (any HTTP answer would do; the TCP accept is enough). */
function connectOnce(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.destroy();
      resolve();
    });
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`client port ${port}: timed out`)));
    socket.on('error', (err) => reject(new Error(`client port ${port}: ${err.message}`)));
  });
}
