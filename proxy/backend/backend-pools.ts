import { Pool } from 'undici';

export interface BackendTarget {
  host: string;
  port: number;
  isSsl: boolean;
  isInsecure: boolean;
  hostHeader?: string;
}

/** One keep-alive undici Pool per backend target, shared by every route that names it. */
export class BackendPools {
  private readonly pools = new Map<string, Pool>();
  /** Each route target's pool, so a request does not build the target's key. */
  private readonly byTarget = new WeakMap<BackendTarget, Pool>();
  /** For pools made from now on (a reload changes it; open pools keep theirs). */
  connectTimeoutMs: number;

  constructor(connectTimeoutMs: number) {
    this.connectTimeoutMs = connectTimeoutMs;
  }

  get(target: BackendTarget): Pool {
    const known = this.byTarget.get(target);
    if (known && !known.destroyed) return known;
    const key = targetKey(target);
    let pool = this.pools.get(key);
    if (!pool) {
      const host = target.host.includes(':') ? `[${target.host}]` : target.host;
      pool = new Pool(`${target.isSsl ? 'https' : 'http'}://${host}:${target.port}`, {
        connections: 256,
        pipelining: 1,
        keepAliveTimeout: 4_000,
        connect: {
          timeout: this.connectTimeoutMs,
          rejectUnauthorized: !target.isInsecure,
          ...(target.hostHeader ? { servername: target.hostHeader.replace(/:\d+$/, '') } : {}),
        },
      });
      this.pools.set(key, pool);
    }
    this.byTarget.set(target, pool);
    return pool;
  }

  /**
   * Ends every pool at shutdown. Called once the drain is over, so anything still running
   * has outlived the drain timeout: destroy, because Pool.close() would wait for it forever.
   */
  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((pool) => pool.destroy()));
    this.pools.clear();
  }
}

function targetKey(target: BackendTarget): string {
  return `${target.isSsl ? 'https' : 'http'}://${target.host}:${target.port}${target.isInsecure ? '#insecure' : ''}${target.hostHeader ? '#' + target.hostHeader : ''}`;
}
