import { createHash, timingSafeEqual } from 'node:crypto';
import { jwtVerify } from 'jose';
import { secretBytes } from '../src/grip/grip-sig.js';
import { parseChannelsClaim } from './channel-scope.js';

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

export interface AuthOutcome {
  /** What is wrong with the credentials; undefined when they are accepted. */
  problem?: string;
  /** A JWT's `channels` claim (handler/channel-scope.ts); undefined: any channel. */
  channels?: readonly string[];
}

export interface ControlAuth {
  /** Resolves to undefined when the header is acceptable, else to what is wrong with it. */
  check(authorization: string | undefined): Promise<string | undefined>;
  /** As check(), with the channels the credentials may publish to. */
  verify(authorization: string | undefined): Promise<AuthOutcome>;
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

  verify(authorization: string | undefined): Promise<AuthOutcome> {
    return this.auth ? this.auth.verify(authorization) : Promise.resolve({});
  }
}

/** Returns undefined when neither a token nor a JWT key is configured (auth off). */
export function createControlAuth(options: ControlAuthOptions): ControlAuth | undefined {
  if (!options.token && !options.jwtKey) return undefined;
  const tokenDigest = options.token ? digest(options.token) : undefined;
  const jwtKey = options.jwtKey ? secretBytes(options.jwtKey) : undefined;
  const verify = async (authorization: string | undefined): Promise<AuthOutcome> => {
    if (!authorization) {
      return { problem: 'Authorization required: send "Authorization: Bearer <token>".' };
    }
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization);
    if (!match) return { problem: 'Authorization must use the Bearer scheme.' };
    const credential = match[1]!;
    // Comparing digests keeps the comparison constant-time whatever the lengths.
    if (tokenDigest && timingSafeEqual(digest(credential), tokenDigest)) return {};
    if (!jwtKey) return { problem: 'Invalid bearer token.' };
    let payload;
    try {
      ({ payload } = await jwtVerify(credential, jwtKey, { algorithms: ['HS256'] }));
    } catch (err) {
      const reason = (err as Error).message;
      return {
        problem: tokenDigest
          ? `Invalid bearer token: not the control token, and not a valid JWT (${reason}).`
          : `Invalid JWT: ${reason}.`,
      };
    }
    if (payload['channels'] === undefined) return {};
    const channels = parseChannelsClaim(payload['channels']);
    return typeof channels === 'string' ? { problem: `Invalid JWT: ${channels}.` } : { channels };
  };
  return {
    verify,
    check: async (authorization) => (await verify(authorization)).problem,
  };
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
