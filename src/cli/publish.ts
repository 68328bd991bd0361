import { parseArgs } from 'node:util';
import { parsePublishMessage } from '../grip/publish-item.js';
import { buildItem } from './publish-content.js';
import { resolveTarget } from './publish-target.js';
import { pushOverZmq } from './publish-zmq.js';
import { UsageError } from './usage-error.js';
import { thumbtackVersion } from './version.js';

/*
 * `thumbtack publish CHANNEL [content]`: pushpin-publish's options, taking the same
 * scripts, plus thumbtack's own (--format, --file, --control-uri, --token, ...).
 */

const USAGE = `Usage: thumbtack publish CHANNEL [content] [options]

Publishes one item to CHANNEL, as pushpin-publish does. Content comes from the argument
(HTTP payloads get a trailing newline), as raw bytes from @PATH or --file PATH, or from
standard input when absent or "-".

Options (pushpin-publish's):
  --spec SPEC           where to publish (default GRIP_URL, else the control API below):
                        a GRIP URL (http://host:5561?iss=ISS&key=KEY: POST /publish/ there),
                        or a ZeroMQ PUSH spec (tcp://127.0.0.1:5560, ipc://PATH) connecting to
                        the handler's PULL input (--zmq-pull); "Published" is printed only
                        once the item was written to a connected peer, within --timeout
  --id ID               item id
  --prev-id ID          id of the previous item on the channel
  --sender NAME         meta "sender" (for the skip-self filter)
  -M, --meta K=V        meta value, repeatable
  --no-seq              bypass the reorder buffer
  --close               close streams and WebSockets instead of sending content
  --hint                send a hint instead of content
  --patch               the content is a JSON Patch (RFC 6902), sent as http-response
                        body-patch to long-polls whose held body is JSON
  --code N              HTTP response code for http-response (default 200)
  -H, --header 'N: V'   HTTP response header for http-response, repeatable
  --no-eol              do not append a newline to HTTP payloads (also --no-newline)
  -u, --user USER:PASS  refused: the control API takes Bearer credentials, not basic auth
                        (use --token, --jwt-key or a GRIP URL's key)
  -V, --version         print thumbtack's version
  -h, --help

Options (thumbtack's):
  --format NAME         http-stream, http-response, ws-message or all (default all);
                        repeat or comma-separate for several
  --file PATH           read the content from a file, sent as is (as @PATH)
  --control-uri URI     control API base (default http://127.0.0.1:<THUMBTACK_CONTROL_PORT or 5561>)
  --token TOKEN         send Authorization: Bearer TOKEN (default THUMBTACK_CONTROL_TOKEN)
  --jwt-key KEY         send a Bearer JWT signed HS256 with KEY (default THUMBTACK_CONTROL_JWT_KEY)
  --timeout SECONDS     give up after this long, exit 1 (default 10)

Environment: GRIP_URL, as the GRIP libraries and pushpin-publish read it
(http://host:5561?iss=ISS&key=KEY, key may be base64:...), gives the control API and its
credentials when the flags above do not: with iss, a JWT {iss} signed HS256 with key; with
key alone, Bearer key. As in pushpin-publish, it may also be a ZeroMQ spec.
`;

const defaultTimeoutSeconds = 10;

/** Runs the command with the arguments after `publish`; resolves to the exit code. */
export async function runPublish(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        spec: { type: 'string' },
        format: { type: 'string', multiple: true },
        id: { type: 'string' },
        'prev-id': { type: 'string' },
        sender: { type: 'string' },
        meta: { type: 'string', short: 'M', multiple: true },
        'no-seq': { type: 'boolean' },
        close: { type: 'boolean' },
        hint: { type: 'boolean' },
        patch: { type: 'boolean' },
        code: { type: 'string' },
        header: { type: 'string', short: 'H', multiple: true },
        file: { type: 'string' },
        'no-eol': { type: 'boolean' },
        'no-newline': { type: 'boolean' },
        'control-uri': { type: 'string' },
        token: { type: 'string' },
        'jwt-key': { type: 'string' },
        user: { type: 'string', short: 'u' },
        timeout: { type: 'string' },
        version: { type: 'boolean', short: 'V' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    return usageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (values.version) {
    process.stdout.write(`thumbtack ${thumbtackVersion()}\n`);
    return 0;
  }

  let item: Record<string, unknown>;
  let target;
  let timeoutMs: number;
  try {
    if (values.user !== undefined) {
      throw new UsageError(
        "-u/--user (basic auth) is not supported: the control API takes Authorization: Bearer only; use --token TOKEN (the handler's --control-token), --jwt-key KEY (--control-jwt-key), or a GRIP URL with key= (--spec or GRIP_URL)",
      );
    }
    if (positionals.length < 1) throw new UsageError('missing CHANNEL');
    if (positionals.length > 2) throw new UsageError(`unexpected argument "${positionals[2]}"`);
    timeoutMs = parseTimeout(values.timeout);
    target = await resolveTarget({
      spec: values.spec,
      controlUri: values['control-uri'],
      token: values.token,
      jwtKey: values['jwt-key'],
      env: process.env,
    });
    item = await buildItem({
      channel: positionals[0]!,
      content: positionals[1],
      file: values.file,
      format: values.format,
      id: values.id,
      prevId: values['prev-id'],
      sender: values.sender,
      meta: values.meta ?? [],
      code: values.code,
      header: values.header ?? [],
      isNoSeq: values['no-seq'] ?? false,
      isClose: values.close ?? false,
      isHint: values.hint ?? false,
      isPatch: values.patch ?? false,
      isNoEol: (values['no-eol'] ?? false) || (values['no-newline'] ?? false),
    });
  } catch (err) {
    if (err instanceof UsageError) return usageError(err.message);
    return failure((err as Error).message);
  }

  if (target.kind === 'zmq') {
    const frame = Buffer.from('J' + JSON.stringify(item), 'utf8');
    try {
      // Nothing answers a ZeroMQ publish, so refuse here what the handler would log and skip.
      parsePublishMessage(frame);
      await pushOverZmq(target.spec, frame, timeoutMs);
    } catch (err) {
      return failure((err as Error).message);
    }
    process.stdout.write('Published\n');
    return 0;
  }

  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (target.authorization) headers['authorization'] = target.authorization;
  try {
    // Loaded here: a publish over ZeroMQ does without it.
    const { request } = await import('undici');
    const response = await request(target.url, {
      method: 'POST',
      headers,
      body: JSON.stringify({ items: [item] }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await response.body.text();
    if (response.statusCode < 200 || response.statusCode >= 300) {
      process.stderr.write(text || `HTTP ${response.statusCode}\n`);
      return 1;
    }
    process.stdout.write('Published\n');
    return 0;
  } catch (err) {
    const why =
      (err as Error).name === 'TimeoutError'
        ? `no answer within ${timeoutMs / 1000} s`
        : (err as Error).message;
    return failure(`cannot reach ${target.url}: ${why}`);
  }
}

function usageError(message: string): number {
  process.stderr.write(`thumbtack publish: ${message}\n\n${USAGE}`);
  return 2;
}

function failure(message: string): number {
  process.stderr.write(`thumbtack publish: ${message}\n`);
  return 1;
}

function parseTimeout(text: string | undefined): number {
  if (text === undefined) return defaultTimeoutSeconds * 1000;
  const seconds = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || seconds <= 0) {
    throw new UsageError(`--timeout must be a number of seconds above 0, got "${text}"`);
  }
  return Math.round(seconds * 1000);
}
