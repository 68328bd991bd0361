import type { Holder } from './holder.js';
import type { PublishResult } from './publish-stream.js';

export interface ItemTally {
  /** Items accepted with 200 while a holder was open that it did not receive (summed). */
  lost: number;
  /** Items a holder received more than once (summed). */
  duplicated: number;
  /** Items received whose publish did not get a 200 (it failed at the publisher). */
  deliveredUnaccepted: number;
  /** The items some holder missed. */
  missed: Set<number>;
  /** A few of the losses, for a failure line: `<kind> holder <n> missed i<seq>...`. */
  examples: string[];
}

/**
 * Compares what the holders received with what the control API accepted. A holder is owed
 * every item accepted with 200 that was sent after its current connection opened, if that
 * connection is still open or was stopped by the scenario (one that closed by itself counts
 * as a lost connection, not as lost items).
 * Long-poll holders are not owed items (they miss what comes between polls).
 */
export function tallyItems(holders: Holder[], results: PublishResult[]): ItemTally {
  const accepted = results.filter((r) => r.status === 200);
  const acceptedSeqs = new Set(accepted.map((r) => r.seq));
  const tally: ItemTally = {
    lost: 0,
    duplicated: 0,
    deliveredUnaccepted: 0,
    missed: new Set(),
    examples: [],
  };
  const unaccepted = new Set<number>();
  holders.forEach((holder, index) => {
    const seen = new Set<number>();
    for (const seq of holder.received) {
      if (seen.has(seq)) tally.duplicated++;
      seen.add(seq);
      if (!acceptedSeqs.has(seq)) unaccepted.add(seq);
    }
    if (holder.kind === 'long-poll') return;
    const segment = holder.current;
    const isLost = segment.closedAt !== undefined && segment.closeReason !== 'stopped';
    if (segment.openedAt === undefined || isLost) return;
    const missed = accepted.filter((r) => r.sentAt >= segment.openedAt! && !seen.has(r.seq));
    tally.lost += missed.length;
    for (const r of missed) tally.missed.add(r.seq);
    if (missed.length > 0 && tally.examples.length < 5) {
      const seqs = missed.slice(0, 5).map((r) => `i${r.seq}`);
      tally.examples.push(`${holder.kind} holder ${index} missed ${seqs.join(' ')}`);
    }
  });
  tally.deliveredUnaccepted = unaccepted.size;
  return tally;
}

/** Connections that ended without the scenario asking, by reason. */
export function lostConnections(holders: Holder[]): { count: number; reasons: string } {
  const reasons = new Map<string, number>();
  let count = 0;
  for (const holder of holders) {
    for (const segment of holder.losses) {
      count++;
      const key = `${holder.kind} ${segment.closeReason}`;
      reasons.set(key, (reasons.get(key) ?? 0) + 1);
    }
  }
  return { count, reasons: [...reasons].map(([k, n]) => `${n} × ${k}`).join(', ') };
}

/** Waits (bounded) until every open holder has every item it is owed; resolves either way. */
export async function settleDelivery(
  holders: Holder[],
  results: PublishResult[],
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (tallyItems(holders, results).lost > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
