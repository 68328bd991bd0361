/*
 * On SIGTERM a worker tells every held client to reconnect, but not all at once: the
 * hints are spread evenly over most of the drain window, in random order, so the clients
 * of a restarting node do not all reconnect in the same instant (a thundering herd on the
 * nodes that remain). One timer walks the whole schedule.
 */

/** The last hint goes out at this fraction of the window: time is left to write it. */
const spreadFraction = 0.8;

/** Calls every `hint` once, evenly over `windowMs * 0.8`, in random order; resolves after the last. */
export function spreadOverWindow(hints: (() => void)[], windowMs: number): Promise<void> {
  const order = shuffled(hints);
  const count = order.length;
  if (count === 0) return Promise.resolve();
  const spreadMs = windowMs * spreadFraction;
  const startedAt = Date.now();
  let next = 0;
  return new Promise((resolve) => {
    const tick = (): void => {
      const elapsed = Date.now() - startedAt;
      // Hint i is due at i/count of the spread: the first at once, the last before 0.8 W.
      while (next < count && (next / count) * spreadMs <= elapsed) {
        try {
          order[next]!();
        } catch {
          // A client that went away while being hinted is simply gone.
        }
        next++;
      }
      if (next === count) {
        resolve();
        return;
      }
      setTimeout(tick, Math.max(1, (next / count) * spreadMs - elapsed));
    };
    tick();
  });
}

/** Fisher–Yates: which client goes first must not depend on when it connected. */
function shuffled<T>(items: T[]): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy;
}

/** A reconnect delay for one client: 1–5 s, random, so reconnects spread out further. */
export function reconnectDelayMs(): number {
  return 1000 + Math.floor(Math.random() * 4000);
}
