/**
 * Items written to a connection whose publisher waits for the client's acknowledgement,
 * by connection id and item id: an entry lives only while its ack is awaited, so no held
 * connection pays for the feature.
 */
export class PendingAcks {
  private readonly pending = new Map<string, { receipt: number; timer: NodeJS.Timeout }>();

  /** The ack of `item` on `connection` answers `receipt`, if it comes within `ms`. */
  expect(connection: string, item: string, receipt: number, ms: number): void {
    const key = ackKey(connection, item);
    clearTimeout(this.pending.get(key)?.timer);
    const timer = setTimeout(() => this.pending.delete(key), ms);
    timer.unref();
    this.pending.set(key, { receipt, timer });
  }

  /** The receipt the ack answers; undefined for an item nobody waits for (any more). */
  take(connection: string, item: string): number | undefined {
    const key = ackKey(connection, item);
    const entry = this.pending.get(key);
    if (!entry) return undefined;
    clearTimeout(entry.timer);
    this.pending.delete(key);
    return entry.receipt;
  }

  close(): void {
    for (const { timer } of this.pending.values()) clearTimeout(timer);
    this.pending.clear();
  }
}

function ackKey(connection: string, item: string): string {
  return `${connection}\n${item}`;
}
