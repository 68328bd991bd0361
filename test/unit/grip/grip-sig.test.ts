import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateSig } from '@fanoutio/grip';
import { SignJWT } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/errors.js';
import {
  GripSigner,
  loadGripKey,
  signGripSig,
  verifyGripSig,
  type GripSignerOptions,
} from '../../../src/grip/grip-sig.js';

const NOW = Date.UTC(2026, 0, 1, 12, 0, 0);

let dir: string;
const signers: GripSigner[] = [];

const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ec384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const spki = (k: KeyObject) => k.export({ type: 'spki', format: 'pem' }).toString();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'thumbtack-grip-sig-'));
  await writeFile(join(dir, 'secret.hex'), 'deadbeef00ff\n');
  await writeFile(
    join(dir, 'ec-pkcs8.pem'),
    ec.privateKey.export({ type: 'pkcs8', format: 'pem' }),
  );
  await writeFile(join(dir, 'ec-sec1.pem'), ec.privateKey.export({ type: 'sec1', format: 'pem' }));
  await writeFile(join(dir, 'ec-public.pem'), spki(ec.publicKey));
  await writeFile(
    join(dir, 'ec384.pem'),
    ec384.privateKey.export({ type: 'pkcs8', format: 'pem' }),
  );
  await writeFile(
    join(dir, 'rsa-pkcs1.pem'),
    rsa.privateKey.export({ type: 'pkcs1', format: 'pem' }),
  );
  await writeFile(join(dir, 'garbage.pem'), '-----BEGIN PRIVATE KEY-----\nnope\n');
});

afterEach(() => {
  for (const signer of signers.splice(0)) signer.close();
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function createSigner(options: Partial<GripSignerOptions> = {}): Promise<GripSigner> {
  const signer = await GripSigner.create({
    key: 'changeme',
    issuer: 'pushpin',
    baseDir: dir,
    now: () => NOW,
    ...options,
  });
  signers.push(signer);
  return signer;
}

function decodePart(token: string, index: number): string {
  return Buffer.from(token.split('.')[index], 'base64url').toString('utf8');
}

describe('GripSigner', () => {
  it('signs like Pushpin: header {typ, alg}, claims exactly {exp: now + 3600, iss}', async () => {
    const token = (await createSigner()).current()!;
    expect(decodePart(token, 0)).toBe('{"typ":"JWT","alg":"HS256"}');
    expect(decodePart(token, 1)).toBe(`{"exp":${NOW / 1000 + 3600},"iss":"pushpin"}`);
  });

  const accepted: [string, string, string, Parameters<typeof validateSig>[1]][] = [
    ['a plain secret', 'changeme', 'HS256', 'changeme'],
    ['a base64: secret', 'base64:c2VjcmV0IGJ5dGVz', 'HS256', 'base64:c2VjcmV0IGJ5dGVz'],
    [
      'a file: hex secret',
      'file:secret.hex',
      'HS256',
      new Uint8Array([0xde, 0xad, 0xbe, 0xef, 0, 0xff]),
    ],
    ['a file: PKCS#8 EC key', 'file:ec-pkcs8.pem', 'ES256', spki(ec.publicKey)],
    ['a file: SEC1 EC key', 'file:ec-sec1.pem', 'ES256', spki(ec.publicKey)],
    ['a file: PKCS#1 RSA key', 'file:rsa-pkcs1.pem', 'RS256', spki(rsa.publicKey)],
  ];
  it.each(accepted)(
    'js-grip validateSig accepts tokens from %s',
    async (_name, key, alg, verifyKey) => {
      const signer = await createSigner({ key, issuer: 'thumbtack', now: Date.now });
      expect(signer.algorithm).toBe(alg);
      const token = signer.current()!;
      expect(JSON.parse(decodePart(token, 0))).toEqual({ typ: 'JWT', alg });
      expect(await validateSig(token, verifyKey, 'thumbtack')).toBe(true);
      expect(await validateSig(token, verifyKey, 'pushpin')).toBe(false);
    },
  );

  it('js-grip rejects a token signed with another secret', async () => {
    const token = (await createSigner({ now: Date.now })).current()!;
    expect(await validateSig(token, 'other')).toBe(false);
  });

  it('accepts an absolute file: path', async () => {
    const signer = await createSigner({ key: `file:${join(dir, 'secret.hex')}`, baseDir: '/' });
    expect(signer.algorithm).toBe('HS256');
  });

  it('an empty key signs nothing', async () => {
    const signer = await createSigner({ key: '' });
    expect(signer.algorithm).toBeUndefined();
    expect(signer.current()).toBeUndefined();
    expect(await signer.refresh()).toBeUndefined();
  });

  it('keeps the cached token for 60 s, then re-signs in the background', async () => {
    let now = NOW;
    const signer = await createSigner({ now: () => now });
    const first = signer.current()!;
    now += 59_999;
    expect(signer.current()).toBe(first);
    now += 1;
    // The stale token is still returned at once; the fresh one follows.
    expect(signer.current()).toBe(first);
    const second = await signer.refresh();
    expect(second).not.toBe(first);
    expect(signer.current()).toBe(second);
    expect(JSON.parse(decodePart(second!, 1)).exp).toBe((NOW + 60_000) / 1000 + 3600);
  });

  it('shares one signing between concurrent refreshes', async () => {
    const signer = await createSigner();
    const a = signer.refresh();
    const b = signer.refresh();
    expect(a).toBe(b);
    await a;
  });

  const broken: [string, string, RegExp][] = [
    ['a missing file', 'file:nope.pem', /cannot read key file/],
    ['a PEM that does not parse', 'file:garbage.pem', /not a usable PEM key/],
    ['an EC key on another curve', 'file:ec384.pem', /RSA or EC P-256/],
    ['a public key for signing', 'file:ec-public.pem', /not a usable PEM key/],
    ['an empty base64 secret', 'base64:', /empty secret/],
  ];
  it.each(broken)('refuses %s with ConfigError', async (_name, key, message) => {
    const attempt = GripSigner.create({ key, issuer: 'pushpin', baseDir: dir });
    await expect(attempt).rejects.toThrow(ConfigError);
    await expect(GripSigner.create({ key, issuer: 'pushpin', baseDir: dir })).rejects.toThrow(
      message,
    );
  });
});

describe('verifyGripSig', () => {
  it('accepts own HS256 tokens until they expire', async () => {
    const key = (await loadGripKey('changeme', dir, 'verify'))!;
    const token = await signGripSig(key, 'pushpin', NOW);
    expect(await verifyGripSig(token, key, NOW)).toBe(Math.floor(NOW / 1000) * 1000 + 3_600_000);
    expect(await verifyGripSig(token, key, NOW + 3_599_000)).toBeGreaterThan(NOW + 3_599_000);
    expect(await verifyGripSig(token, key, NOW + 3_600_000)).toBeUndefined();
  });

  it('does not check the issuer (Pushpin does not)', async () => {
    const key = (await loadGripKey('changeme', dir, 'verify'))!;
    expect(await verifyGripSig(await signGripSig(key, 'anyone', NOW), key, NOW)).toBeGreaterThan(
      NOW,
    );
  });

  it('refuses another secret, garbage and a token without exp', async () => {
    const key = (await loadGripKey('changeme', dir, 'verify'))!;
    const other = (await loadGripKey('other', dir, 'verify'))!;
    expect(await verifyGripSig(await signGripSig(other, 'pushpin', NOW), key, NOW)).toBeUndefined();
    expect(await verifyGripSig('not.a.jwt', key, NOW)).toBeUndefined();
    const noExp = await new SignJWT({ iss: 'pushpin' })
      .setProtectedHeader({ alg: 'HS256' })
      .sign(new TextEncoder().encode('changeme'));
    expect(await verifyGripSig(noExp, key, NOW)).toBeUndefined();
  });

  it('verifies ES256 with a public or private PEM file as the upstream key', async () => {
    const signing = (await loadGripKey('file:ec-pkcs8.pem', dir, 'sign'))!;
    const token = await signGripSig(signing, 'upstream', NOW);
    for (const file of ['file:ec-public.pem', 'file:ec-sec1.pem']) {
      const verifying = (await loadGripKey(file, dir, 'verify'))!;
      expect(verifying.alg).toBe('ES256');
      expect(await verifyGripSig(token, verifying, NOW)).toBeGreaterThan(NOW);
    }
  });

  it('refuses a token whose algorithm does not match the key', async () => {
    const hs = await signGripSig((await loadGripKey('changeme', dir, 'sign'))!, 'x', NOW);
    const rsaKey = (await loadGripKey('file:rsa-pkcs1.pem', dir, 'verify'))!;
    expect(await verifyGripSig(hs, rsaKey, NOW)).toBeUndefined();
  });
});
