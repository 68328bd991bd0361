import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { createControlAuth } from '../../../handler/control-auth.js';

/*
 * The control API's auth cannot be bypassed (issue 16's security checks): only the
 * configured token or an HS256 JWT signed with the configured key gets through.
 */

const key = 'control-jwt-key';
const auth = createControlAuth({ token: 'the-token', jwtKey: key })!;
const secret = new TextEncoder().encode(key);
const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

function jwt(alg: 'HS256' | 'HS384' | 'HS512', signingKey: Uint8Array, expiresIn?: string) {
  const token = new SignJWT({ iss: 'publisher' }).setProtectedHeader({ alg }).setIssuedAt();
  if (expiresIn) token.setExpirationTime(expiresIn);
  return token.sign(signingKey);
}

describe('control API auth', () => {
  it('accepts the token and an HS256 JWT signed with the key', async () => {
    expect(await auth.check('Bearer the-token')).toBeUndefined();
    expect(await auth.check(`Bearer ${await jwt('HS256', secret, '1m')}`)).toBeUndefined();
  });

  it.each([
    ['no header', undefined],
    ['another scheme', 'Basic dGhlLXRva2Vu'],
    ['an empty bearer', 'Bearer '],
    ['a wrong token', 'Bearer not-the-token'],
    ['the token with a suffix', 'Bearer the-token2'],
    ['a malformed JWT', 'Bearer a.b.c'],
    [
      'an unsigned JWT (alg none)',
      `Bearer ${base64url({ alg: 'none', typ: 'JWT' })}.${base64url({ iss: 'publisher' })}.`,
    ],
  ])('refuses %s', async (_name, header) => {
    expect(await auth.check(header)).toEqual(expect.any(String));
  });

  it('refuses a JWT signed with another key, another algorithm, or expired', async () => {
    const other = new TextEncoder().encode('another-key');
    const refused = [
      await jwt('HS256', other, '1m'),
      await jwt('HS512', secret, '1m'),
      await jwt('HS384', secret, '1m'),
      await jwt('HS256', secret, '-1m'),
    ];
    for (const token of refused) {
      expect(await auth.check(`Bearer ${token}`), token).toEqual(expect.any(String));
    }
  });

  it('with auth off (no token, no key) there is nothing to check', () => {
    expect(createControlAuth({ token: '', jwtKey: '' })).toBeUndefined();
  });
});
