import fc from 'fast-check';
import { ConfigError } from '../../../src/errors.js';
import {
  loadGripKey,
  secretBytes,
  signGripSig,
  verifyGripSig,
  type GripKey,
} from '../../../src/grip/grip-sig.js';
import { defineTarget, expectEqual, ensure, wireText } from '../target.js';

/* Grip-Sig tokens: what is signed verifies; nothing else does, and nothing throws. */

const NOW = Date.UTC(2026, 11, 6);
const secret = fc.uint8Array({ minLength: 1, maxLength: 40 });

function hsKey(bytes: Uint8Array): GripKey {
  return { alg: 'HS256', key: bytes };
}

/** base64url of a JSON value, as a JWS segment. */
function segment(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

export const gripSigTargets = [
  defineTarget({
    name: 'grip-sig-round-trip',
    testRuns: 150,
    summary: 'Grip-Sig: a signed token verifies with its key to its expiry, and not with another',
    arbitrary: fc.tuple(secret, secret, fc.string({ maxLength: 20 }), fc.nat({ max: 2 ** 40 })),
    isAsync: true,
    check: async ([key, other, issuer, now]) => {
      const token = await signGripSig(hsKey(key), issuer, now);
      expectEqual(
        await verifyGripSig(token, hsKey(key), now),
        (Math.floor(now / 1000) + 3600) * 1000,
      );
      if (!Buffer.from(key).equals(Buffer.from(other))) {
        expectEqual(await verifyGripSig(token, hsKey(other), now), undefined);
      }
      // An hour and more later it has expired.
      expectEqual(await verifyGripSig(token, hsKey(key), now + 3601_000), undefined);
    },
  }),
  defineTarget({
    name: 'grip-sig-forged',
    summary: 'Grip-Sig: any token, unsigned or tampered with, is refused without throwing',
    arbitrary: fc.tuple(
      secret,
      fc.oneof(
        wireText,
        fc
          .tuple(
            fc.record(
              {
                alg: fc.constantFrom('none', 'HS256', 'HS512', 'RS256', 'ES256', ''),
                typ: fc.constantFrom('JWT', 'x'),
                crit: fc.jsonValue({ maxDepth: 1 }),
                b64: fc.boolean(),
              },
              { requiredKeys: ['alg'] },
            ),
            fc.record(
              { exp: fc.jsonValue({ maxDepth: 0 }), iss: fc.jsonValue({ maxDepth: 0 }) },
              {
                requiredKeys: [],
              },
            ),
            fc.oneof(fc.constant(''), fc.base64String({ maxLength: 60 })),
          )
          .map(([header, claims, sig]) => `${segment(header)}.${segment(claims)}.${sig}`),
      ),
    ),
    isAsync: true,
    testRuns: 500,
    check: async ([key, token]) => {
      // None of these was signed with the key, so none may verify.
      expectEqual(await verifyGripSig(token, hsKey(key), NOW), undefined);
    },
  }),
  defineTarget({
    name: 'grip-key-config',
    summary: 'sig_key: any inline value loads a key or throws ConfigError',
    arbitrary: fc.oneof(
      wireText,
      wireText.map((t) => 'base64:' + t),
    ),
    isAsync: true,
    testRuns: 1000,
    check: async (config) => {
      secretBytes(config);
      if (config.startsWith('file:')) return;
      try {
        const key = await loadGripKey(config, '/nonexistent', 'verify');
        ensure(key === undefined || key.alg === 'HS256', 'an inline key that is not HS256');
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
      }
    },
  }),
];
