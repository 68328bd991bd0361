import { request } from 'undici';
import type { ItemReceipt } from '../../handler/receipts/asked-publishes.js';
import type { Thumbtack } from './thumbtack.js';

export interface AskedResult {
  status: number;
  text: string;
  /** The parsed JSON answer, when it is one. */
  message?: string;
  items: ItemReceipt[];
}

/** POSTs `{"items": items}` to `/publish/?<query>` (receipt, ack, one, timeout). */
export async function publishAsked(
  instance: Pick<Thumbtack, 'controlUrl'>,
  query: string,
  items: unknown[],
): Promise<AskedResult> {
  const res = await request(`${instance.controlUrl}/publish/?${query}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ items }),
  });
  const text = await res.body.text();
  let parsed: { message?: string; items?: ItemReceipt[] } = {};
  try {
    parsed = JSON.parse(text) as typeof parsed;
  } catch {
    // a text answer (400, 503): `text` has it
  }
  return { status: res.statusCode, text, message: parsed.message, items: parsed.items ?? [] };
}

/**
 * Publishes `probe` with a receipt until Redis says `nodes` nodes got it (each node's
 * subscription to the channel is active), bounded. The probe should carry only a format
 * the test's clients ignore.
 */
export async function waitForNodes(
  instance: Pick<Thumbtack, 'controlUrl'>,
  probe: unknown,
  nodes: number,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = await publishAsked(instance, 'receipt&timeout=1', [probe]);
    if ((result.items[0]?.nodes?.asked ?? 0) >= nodes) return;
    if (Date.now() > deadline) throw new Error(`only ${result.text} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
