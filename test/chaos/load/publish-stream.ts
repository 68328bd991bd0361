import { Agent, request } from 'undici';
import { itemText, probeText } from './holder.js';

/** One publish of the stream and what the control API made of it. */
export interface PublishResult {
  seq: number;
  sentAt: number;
  doneAt: number;
  /** The control API's status; undefined when the request failed. */
  status?: number;
  /** The error code of a failed request, or `Retry-After` absent on a 503. */
  error?: string;
  retryAfter?: string;
}

export interface PublishStream {
  results: PublishResult[];
  /** Publishes answered 200, by sequence number. */
  accepted(): Map<number, PublishResult>;
  /** Stops publishing and waits for the publishes in flight. */
  stop(): Promise<PublishResult[]>;
}

/** One item carrying `text` in every format the holders read. */
export function publishBody(channel: string, text: string, id?: string): string {
  return JSON.stringify({
    items: [
      {
        channel,
        ...(id ? { id } : {}),
        formats: {
          'http-stream': { content: `data: ${text}\n\n` },
          'http-response': { body: text },
          'ws-message': { content: text },
        },
      },
    ],
  });
}

/** POST /publish/ with a bounded wait; never rejects. */
async function postPublish(
  controlUrl: string,
  body: string,
  timeoutMs: number,
  dispatcher?: Agent,
): Promise<Pick<PublishResult, 'status' | 'error' | 'retryAfter'>> {
  try {
    const res = await request(`${controlUrl}/publish/`, {
      method: 'POST',
      dispatcher,
      headers: { 'content-type': 'application/json' },
      body,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    await res.body.text();
    const retryAfter = res.headers['retry-after'];
    return {
      status: res.statusCode,
      retryAfter: typeof retryAfter === 'string' ? retryAfter : undefined,
    };
  } catch (err) {
    return { error: (err as NodeJS.ErrnoException).code ?? (err as Error).message };
  }
}

/**
 * Publishes `i0`, `i1`, ... on `channel`, one every `intervalMs` without waiting for the
 * previous answer, to the control URLs in turn, at most `maxItems`; each item has id `i<seq>`.
 */
export function startPublishStream(options: {
  controlUrls: string[];
  channel: string;
  intervalMs: number;
  maxItems: number;
  timeoutMs?: number;
}): PublishStream {
  const results: PublishResult[] = [];
  const agent = new Agent({ keepAliveTimeout: 10_000, connections: 8 });
  const inFlight = new Set<Promise<void>>();
  let seq = 0;
  const tick = (): void => {
    if (seq >= options.maxItems) {
      clearInterval(timer);
      return;
    }
    const n = seq++;
    const url = options.controlUrls[n % options.controlUrls.length]!;
    const sentAt = Date.now();
    const sent = postPublish(
      url,
      publishBody(options.channel, itemText(n), itemText(n)),
      options.timeoutMs ?? 10_000,
      agent,
    ).then((outcome) => {
      results.push({ seq: n, sentAt, doneAt: Date.now(), ...outcome });
      inFlight.delete(sent);
    });
    inFlight.add(sent);
  };
  const timer = setInterval(tick, options.intervalMs);
  return {
    results,
    accepted: () => new Map(results.filter((r) => r.status === 200).map((r) => [r.seq, r])),
    stop: async () => {
      clearInterval(timer);
      await Promise.all(inFlight);
      await agent.close();
      return results.sort((a, b) => a.seq - b.seq);
    },
  };
}

/** Publishes a probe every 200 ms until `isDone()` (bounded); rejects naming what is missing. */
export async function probeUntil(
  controlUrl: string,
  channel: string,
  isDone: () => boolean,
  what: () => string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!isDone()) {
    if (Date.now() > deadline) throw new Error(`probes not received: ${what()}`);
    await postPublish(controlUrl, publishBody(channel, probeText), 5_000);
    const until = Date.now() + 200;
    while (!isDone() && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  }
}
