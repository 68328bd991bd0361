import { loadGripKey, verifyGripSig, type GripKey } from '../../src/grip/grip-sig.js';

/** An HTTP request or a passthrough WebSocket, which an upstream proxy may have sent. */
export interface UpstreamCandidate {
  readonly isAborted: boolean;
  trustUpstream(): void;
  start(): void;
}

/** Tokens remembered at most; an upstream proxy re-signs about once an hour, per issuer. */
const rememberedMax = 1000;

/**
 * `--upstream-key` (Pushpin's `upstream_key`): whether a request's Grip-Sig comes from an
 * upstream GRIP proxy. A verified token is remembered until its `exp`, so that only the
 * first request carrying it waits for the (asynchronous) signature check.
 */
export class UpstreamTrust {
  private readonly verified = new Map<string, number>();

  private constructor(private readonly key: GripKey) {}

  /** Undefined for an empty key (no upstream proxy is trusted). */
  static async load(config: string): Promise<UpstreamTrust | undefined> {
    const key = await loadGripKey(config, process.cwd(), 'verify');
    return key && new UpstreamTrust(key);
  }

  /** True or false at once for a token seen before, else once the signature is checked. */
  isTrusted(token: string): boolean | Promise<boolean> {
    const expiresAt = this.verified.get(token);
    if (expiresAt !== undefined) {
      if (expiresAt > Date.now()) return true;
      this.verified.delete(token);
    }
    return verifyGripSig(token, this.key).then((validUntil) => {
      if (validUntil === undefined) return false;
      if (this.verified.size >= rememberedMax) this.verified.clear();
      this.verified.set(token, validUntil);
      return true;
    });
  }

  /**
   * Starts `request` once its Grip-Sig (`token`, '' when it has none) is checked, marked as
   * an upstream proxy's when it verifies: at once for a token seen before.
   */
  start(request: UpstreamCandidate, token: string): void {
    const isTrusted = token === '' ? false : this.isTrusted(token);
    if (typeof isTrusted === 'boolean') {
      if (isTrusted) request.trustUpstream();
      request.start();
      return;
    }
    void isTrusted.then((isFromUpstream) => {
      if (request.isAborted) return;
      if (isFromUpstream) request.trustUpstream();
      request.start();
    });
  }
}
