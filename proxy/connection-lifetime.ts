/*
 * Connection lifetime (--connection-max-lifetime, route `max_lifetime=`): a held connection
 * older than its lifetime, plus a random dither of its own, is asked to reconnect the way its
 * transport understands. The dither spreads the reconnects of clients that connected
 * together (a deploy, a network blip) evenly over the dither window, so that recycling
 * rebalances clients over nodes without a thundering herd.
 *
 * With a close grace (--close-grace), a WebSocket or SSE client is first sent Zuul Push's
 * go-away notice and given the grace to close by itself: a client that understands it
 * opens its next connection before leaving this one, and misses nothing in between.
 *
 * One timer per worker walks coarse slots of due times instead of a timer per connection:
 * a held connection costs one Set entry here, not a Timeout object.
 */

/** Zuul Push's go-away notice: a WebSocket text message, and the data of an SSE `goaway` event. */
export const goAwayNotice = '_CLOSE_';

/** A held connection that can be asked to reconnect. */
export interface Recyclable {
  /** Ask the client to reconnect now (SSE `retry:`, long-poll timeout response, close 1001). */
  recycle(): void;
  /** Sends the go-away notice; false when the transport has none (then it is recycled at once). */
  sendGoAway(): boolean;
}

/** Due times are rounded up to slots of this many ms; one tick per slot. */
const slotMs = 250;

export class ConnectionLifetimes {
  /** Slot number (due time / slotMs, rounded up) → connections due in it. */
  private readonly slots = new Map<number, Set<Recyclable>>();
  private readonly dueSlot = new Map<Recyclable, number>();
  /** Connections sent the go-away notice, due to be recycled when their grace is over. */
  private readonly noticed = new Set<Recyclable>();
  private timer: NodeJS.Timeout | undefined;
  /** Every slot up to this one has been recycled. */
  private doneSlot: number;

  constructor(
    /** --close-grace, read when a lifetime ends (a reload changes it for every connection). */
    private readonly closeGraceS: () => number = () => 0,
    private readonly now: () => number = Date.now,
  ) {
    this.doneSlot = Math.floor(now() / slotMs);
  }

  get size(): number {
    return this.dueSlot.size;
  }

  /**
   * Recycles `connection` after `lifetimeS` seconds plus a uniform random part of
   * `ditherS`, unless it is forgotten first. A lifetime of 0 means none.
   */
  track(connection: Recyclable, lifetimeS: number, ditherS: number): void {
    if (lifetimeS <= 0 || this.dueSlot.has(connection)) return;
    this.schedule(connection, this.now() + (lifetimeS + Math.random() * ditherS) * 1000);
  }

  private schedule(connection: Recyclable, dueAt: number): void {
    const slot = Math.max(Math.ceil(dueAt / slotMs), this.doneSlot + 1);
    let members = this.slots.get(slot);
    if (!members) {
      members = new Set();
      this.slots.set(slot, members);
    }
    members.add(connection);
    this.dueSlot.set(connection, slot);
    if (this.timer === undefined) {
      this.doneSlot = Math.max(this.doneSlot, Math.floor(this.now() / slotMs) - 1);
      // Lifetimes never keep a stopping worker alive.
      this.timer = setInterval(this.tick, slotMs).unref();
    }
  }

  /** The connection ended on its own: it is not recycled. */
  forget(connection: Recyclable): void {
    const slot = this.dueSlot.get(connection);
    if (slot === undefined) return;
    this.dueSlot.delete(connection);
    this.noticed.delete(connection);
    const members = this.slots.get(slot)!;
    members.delete(connection);
    if (members.size === 0) this.slots.delete(slot);
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.slots.clear();
    this.dueSlot.clear();
    this.noticed.clear();
  }

  /** Recycles every slot that has come due since the last tick, in order. */
  private readonly tick = (): void => {
    const current = Math.floor(this.now() / slotMs);
    const graceMs = this.closeGraceS() * 1000;
    for (let slot = this.doneSlot + 1; slot <= current; slot++) {
      const members = this.slots.get(slot);
      if (!members) continue;
      this.slots.delete(slot);
      for (const connection of members) {
        this.dueSlot.delete(connection);
        try {
          if (this.noticed.delete(connection) || graceMs <= 0 || !connection.sendGoAway()) {
            connection.recycle();
          } else {
            this.noticed.add(connection);
            this.schedule(connection, this.now() + graceMs);
          }
        } catch {
          // A client that went away while being recycled is simply gone.
        }
      }
    }
    this.doneSlot = Math.max(this.doneSlot, current);
    if (this.dueSlot.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  };
}
