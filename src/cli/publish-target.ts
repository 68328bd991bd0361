import { SignJWT } from 'jose';
import { envName } from '../config/schema.js';
import { secretBytes } from '../grip/grip-sig.js';
import { UsageError } from './usage-error.js';

/*
 * Where `thumbtack publish` sends its item. As in pushpin-publish, `--spec` (default
 * GRIP_URL) is either a GRIP URL, whose control API gets `POST /publish/`, or a ZeroMQ spec
 * a PUSH socket connects to (Pushpin's push_in_spec, thumbtack's --zmq-pull).
 */

export type PublishTarget =
  { kind: 'http'; url: string; authorization: string | undefined } | { kind: 'zmq'; spec: string };

export interface TargetRequest {
  spec: string | undefined;
  controlUri: string | undefined;
  token: string | undefined;
  jwtKey: string | undefined;
  env: NodeJS.ProcessEnv;
}

type Spec =
  { kind: 'http'; controlUri: string; iss?: string; key?: string } | { kind: 'zmq'; spec: string };

export async function resolveTarget(request: TargetRequest): Promise<PublishTarget> {
  if (request.spec !== undefined && request.controlUri !== undefined) {
    throw new UsageError('give --spec or --control-uri, not both');
  }
  const gripUrl = request.env['GRIP_URL'];
  const spec =
    request.spec !== undefined
      ? parseSpec(request.spec, '--spec')
      : gripUrl
        ? parseSpec(gripUrl, 'GRIP_URL')
        : undefined;
  if (spec?.kind === 'zmq' && request.controlUri === undefined) {
    const credential = request.token !== undefined ? '--token' : request.jwtKey && '--jwt-key';
    if (credential) {
      throw new UsageError(
        `${credential} is for the control API; the ZeroMQ input at ${spec.spec} takes no credentials`,
      );
    }
    return spec;
  }
  const grip = spec?.kind === 'http' ? spec : undefined;
  const base = request.controlUri ?? grip?.controlUri ?? defaultControlUri(request.env);
  const url = base.replace(/\/+$/, '') + '/publish/';
  // Credentials: the flags, then the GRIP URL's, then (without a GRIP URL) THUMBTACK_*.
  const isFromEnv = grip === undefined;
  const token = request.token ?? (isFromEnv ? request.env[envName('controlToken')] : undefined);
  const jwtKey = request.jwtKey ?? (isFromEnv ? request.env[envName('controlJwtKey')] : undefined);
  let authorization: string | undefined;
  if (token) authorization = `Bearer ${token}`;
  else if (jwtKey) authorization = `Bearer ${await signJwt(jwtKey, 'thumbtack')}`;
  else if (grip?.key && grip.iss) authorization = `Bearer ${await signJwt(grip.key, grip.iss)}`;
  else if (grip?.key) authorization = `Bearer ${grip.key}`;
  return { kind: 'http', url, authorization };
}

/**
 * A GRIP URL as the GRIP libraries read it (the control URI, with `iss` and `key` in its
 * query), or a ZeroMQ `tcp://` / `ipc://` spec. `label` names where the text came from.
 */
function parseSpec(text: string, label: string): Spec {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(
      `${label} "${text}" is not a URL (e.g. http://127.0.0.1:5561?iss=me&key=secret)`,
    );
  }
  if (url.protocol === 'tcp:' || url.protocol === 'ipc:') return { kind: 'zmq', spec: text };
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(
      `${label} "${text}" must be an http:// or https:// URL, or a ZeroMQ tcp:// or ipc:// spec`,
    );
  }
  const iss = url.searchParams.get('iss') ?? undefined;
  const key = url.searchParams.get('key') ?? undefined;
  if (iss !== undefined && !key) throw new UsageError(`${label} "${text}" has iss but no key`);
  url.search = '';
  url.hash = '';
  return { kind: 'http', controlUri: url.toString(), iss, key };
}

function defaultControlUri(env: NodeJS.ProcessEnv): string {
  const port = env[envName('controlPort')] || '5561';
  return `http://127.0.0.1:${port}`;
}

function signJwt(key: string, iss: string): Promise<string> {
  return new SignJWT({ iss })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime('10m')
    .sign(secretBytes(key));
}
