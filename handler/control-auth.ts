import { createHash, timingSafeEqual } from 'node:crypto';
import { jwtVerify } from 'jose';
import { secretBytes } from '../src/grip/grip-sig.js';

/*
 * Optional authentication of the control API, a thumbtack extension: Pushpin ignores
 * Authorization. GRIP libraries send `Bearer <key>` when their GRIP URL has a key and no
 * iss, and `Bearer <HS256 JWT with {iss}>` when it has both; either can be required here.
 */

export interface ControlAuthOptions {
  /** Accept `Authorization: Bearer <token>`; empty turns it off. */
  token: string;
  /** Accept a Bearer JWT signed HS256 with this key (`base64:` prefix for binary keys, as in GRIP URLs). */
  jwtKey: string;
}

export interface ControlAuth {
  /** Resolves to undefined when the header is acceptable, else to what is wrong with it. */
  check(authorization: string | undefined): Promise<string | undefined>;
}

/**
 * The control API's auth as the settings say now: a reload (SIGHUP) swaps the credentials
 * in place, for the next request.
 */
export class ReloadableAuth implements ControlAuth {
  private auth: ControlAuth | undefined;

  constructor(options: ControlAuthOptions) {
    this.auth = createControlAuth(options);
  }

  set(options: ControlAuthOptions): void {
    this.auth = createControlAuth(options);
  }

  check(authorization: string | undefined): Promise<string | undefined> {
    return this.auth ? this.auth.check(authorization) : Promise.resolve(undefined);
  }
}

/** Returns undefined when neither a token nor a JWT key is configured (auth off). */
export function createControlAuth(options: ControlAuthOptions): ControlAuth | undefined {
  if (!options.token && !options.jwtKey) return undefined;
  const tokenDigest = options.token ? digest(options.token) : undefined;
  const jwtKey = options.jwtKey ? secretBytes(options.jwtKey) : undefined;
  return {
    async check(authorization) {
      if (!authorization) {
        return 'Authorization required: send "Authorization: Bearer <token>".';
      }
      const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization);
      if (!match) return 'Authorization must use the Bearer scheme.';
      const credential = match[1]!;
      // Comparing digests keeps the comparison constant-time whatever the lengths.
      if (tokenDigest && timingSafeEqual(digest(credential), tokenDigest)) return undefined;
      if (!jwtKey) return 'Invalid bearer token.';
      try {
        await jwtVerify(credential, jwtKey, { algorithms: ['HS256'] });
        return undefined;
      } catch (err) {
        const reason = (err as Error).message;
        return tokenDigest
          ? `Invalid bearer token: not the control token, and not a valid JWT (${reason}).`
          : `Invalid JWT: ${reason}.`;
      }
    },
  };
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
