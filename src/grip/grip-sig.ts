import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { jwtVerify, SignJWT } from 'jose';
import { ConfigError } from '../errors.js';

/** `Grip-Sig` request signing and verification (protocol 6.1, 6.4). */

export type GripSigAlgorithm = 'HS256' | 'ES256' | 'RS256';

export interface GripKey {
  alg: GripSigAlgorithm;
  /** Secret bytes for HS256; a private (signing) or public (verifying) key otherwise. */
  key: Uint8Array | KeyObject;
}

export interface GripSignerOptions {
  /** Pushpin `sig_key` syntax (see loadGripKey); empty means requests are not signed. */
  key: string;
  /** `sig_iss`. */
  issuer: string;
  /** Directory `file:` keys are relative to: the config or routes file's directory. */
  baseDir: string;
  /** Clock in milliseconds; tests replace it. */
  now?: () => number;
}

/** Pushpin signs every token with exp = signing time + 3600 s. */
const TOKEN_LIFETIME_S = 3600;
/** Tokens are re-signed at this age, so every token sent has well over 59 minutes left. */
const REFRESH_AFTER_MS = 60_000;

/**
 * Keeps a current `Grip-Sig` token for one key and issuer, so that the request path reads it
 * synchronously (`current()`) while signing, which is async in jose, happens off that path.
 * Tokens are re-signed every 60 s by an unref'd timer, and also when `current()` finds the
 * token older than that (e.g. after the process was suspended). `close()` stops the timer:
 * call it when the route table that owns the signer is replaced.
 */
export class GripSigner {
  readonly issuer: string;
  private readonly key: GripKey | undefined;
  private readonly now: () => number;
  private token: string | undefined;
  private signedAt = 0;
  private signing: Promise<string | undefined> | undefined;
  private timer: NodeJS.Timeout | undefined;

  private constructor(key: GripKey | undefined, issuer: string, now: () => number) {
    this.key = key;
    this.issuer = issuer;
    this.now = now;
  }

  /**
   * Loads the key and signs the first token, so `current()` has a token as soon as this
   * resolves. Throws ConfigError for a key that cannot be read or used.
   */
  static async create(options: GripSignerOptions): Promise<GripSigner> {
    const key = await loadGripKey(options.key, options.baseDir, 'sign');
    const signer = new GripSigner(key, options.issuer, options.now ?? Date.now);
    if (key) {
      await signer.refresh();
      signer.timer = setInterval(() => signer.refreshQuietly(), REFRESH_AFTER_MS).unref();
    }
    return signer;
  }

  /** undefined when the key is empty (no Grip-Sig is sent). */
  get algorithm(): GripSigAlgorithm | undefined {
    return this.key?.alg;
  }

  /** The token to send now; undefined when the key is empty. Never waits. */
  current(): string | undefined {
    if (this.token !== undefined && this.now() - this.signedAt >= REFRESH_AFTER_MS) {
      this.refreshQuietly();
    }
    return this.token;
  }

  /** Signs a fresh token now; concurrent calls share one signing. */
  refresh(): Promise<string | undefined> {
    const key = this.key;
    if (!key) return Promise.resolve(undefined);
    this.signing ??= (async () => {
      try {
        const signedAt = this.now();
        this.token = await signGripSig(key, this.issuer, signedAt);
        this.signedAt = signedAt;
        return this.token;
      } finally {
        this.signing = undefined;
      }
    })();
    return this.signing;
  }

  /** Stops the refresh timer; `current()` keeps answering (and refreshing on demand). */
  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private refreshQuietly(): void {
    // A failed re-sign keeps the previous token, still valid for most of an hour; the next
    // call tries again.
    this.refresh().catch(() => undefined);
  }
}

/** A compact JWS exactly like Pushpin's: header `{typ, alg}`, claims `{exp, iss}`. */
export async function signGripSig(
  key: GripKey,
  issuer: string,
  nowMs = Date.now(),
): Promise<string> {
  const exp = Math.floor(nowMs / 1000) + TOKEN_LIFETIME_S;
  return new SignJWT({ exp, iss: issuer })
    .setProtectedHeader({ typ: 'JWT', alg: key.alg })
    .sign(key.key);
}

/**
 * When a Grip-Sig stops being valid (its `exp`, in ms since the epoch), or undefined when
 * `token` is not signed by `key` with the key's algorithm or has no `exp` in the future
 * (what Pushpin checks for a trusted upstream proxy; the issuer is not checked).
 */
export async function verifyGripSig(
  token: string,
  key: GripKey,
  nowMs = Date.now(),
): Promise<number | undefined> {
  try {
    const { payload } = await jwtVerify(token, key.key, {
      algorithms: [key.alg],
      requiredClaims: ['exp'],
      currentDate: new Date(nowMs),
    });
    return payload.exp! * 1000;
  } catch {
    return undefined;
  }
}

/** A shared secret as configured: `base64:<b64>` for binary secrets, else UTF-8 text. */
export function secretBytes(text: string): Buffer {
  return text.startsWith('base64:')
    ? Buffer.from(text.slice('base64:'.length), 'base64')
    : Buffer.from(text, 'utf8');
}

/**
 * Loads a key written in Pushpin's `sig_key` / `upstream_key` syntax: a plain string is the
 * HMAC secret (UTF-8), `base64:<b64>` a Base64 secret, `file:<path>` (relative to baseDir) a
 * PEM key (EC P-256 → ES256, RSA → RS256) or a hex-encoded secret. Empty → undefined.
 * For `verify`, a PEM private key stands for its public half.
 */
export async function loadGripKey(
  config: string,
  baseDir: string,
  use: 'sign' | 'verify',
): Promise<GripKey | undefined> {
  if (config === '') return undefined;
  if (!config.startsWith('file:')) {
    return secretKey(secretBytes(config), 'key');
  }

  const path = resolve(baseDir, config.slice(5));
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch (err) {
    throw new ConfigError(`cannot read key file ${path}: ${(err as Error).message}`);
  }
  if (!data.subarray(0, 10).equals(Buffer.from('-----BEGIN'))) {
    return secretKey(Buffer.from(data.toString('latin1').trim(), 'hex'), `key file ${path}`);
  }

  let key: KeyObject;
  try {
    key = use === 'sign' ? createPrivateKey(data) : createPublicKey(data);
  } catch (err) {
    throw new ConfigError(`key file ${path} is not a usable PEM key: ${(err as Error).message}`);
  }
  if (key.asymmetricKeyType === 'rsa') return { alg: 'RS256', key };
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') {
    return { alg: 'ES256', key };
  }
  throw new ConfigError(`key file ${path} must hold an RSA or EC P-256 key`);
}

function secretKey(secret: Buffer, what: string): GripKey {
  // Never echo the secret itself into an error message.
  if (secret.length === 0) throw new ConfigError(`${what} decodes to an empty secret`);
  return { alg: 'HS256', key: new Uint8Array(secret) };
}
