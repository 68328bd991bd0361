import fs from 'node:fs';
import type { Logger } from '../src/log.js';

/** Descriptors are counted this often near the cap (a listing costs ms per thousand)... */
const nearSampleMs = 250;
/** ...and this often below this share of it, so a worker idly holding many stays idle. */
const farSampleMs = 2_000;
const nearRatio = 0.8;
/** Accepting resumes once connections fall this far below the cap. */
const resumeRatio = 0.95;

export interface Listener {
  pauseAccepting(): void;
  resumeAccepting(): void;
}

/**
 * Keeps a worker's client connections below its open-files limit. At that limit uWS's
 * accept loop fails with EMFILE and spins a core; instead, the worker stops listening
 * (the kernel refuses new connections, or hands them to another worker on the shared
 * port), logs it once, and listens again when connections have fallen below the cap.
 * Connections are counted as open descriptors beyond those the worker had at start-up;
 * requests between two counts are added as if each were a new connection, so a burst is
 * caught before the next count.
 */
export class ConnectionCap {
  private readonly baseline: number;
  private counted: number;
  private arrivedSinceCount = 0;
  isPaused = false;
  /** Times the cap stopped accepting (the kernel refuses the connections, so they cannot be counted). */
  timesReached = 0;
  private timer: NodeJS.Timeout;

  constructor(
    readonly limit: number,
    private readonly listener: Listener,
    private readonly log: Logger,
  ) {
    this.baseline = countDescriptors();
    this.counted = 0;
    this.timer = setTimeout(() => this.sample(), farSampleMs);
    this.timer.unref();
  }

  private sample(): void {
    this.recount();
    const isNear = this.isPaused || this.counted >= this.limit * nearRatio;
    this.timer = setTimeout(() => this.sample(), isNear ? nearSampleMs : farSampleMs);
    this.timer.unref();
  }

  /** A request or upgrade arrived: maybe on a new connection. */
  onArrival(): void {
    if (++this.arrivedSinceCount + this.counted >= this.limit) this.recount();
  }

  close(): void {
    clearTimeout(this.timer);
  }

  private recount(): void {
    this.counted = countDescriptors() - this.baseline;
    this.arrivedSinceCount = 0;
    if (!this.isPaused && this.counted >= this.limit) {
      this.isPaused = true;
      this.timesReached++;
      this.listener.pauseAccepting();
      this.log.warn(
        { connections: this.counted, limit: this.limit },
        'connection cap reached: refusing new connections until some close (see --max-connections)',
      );
    } else if (this.isPaused && this.counted < this.limit * resumeRatio) {
      this.isPaused = false;
      this.listener.resumeAccepting();
      this.log.info(
        { connections: this.counted, limit: this.limit },
        'accepting connections again',
      );
    }
  }
}

/**
 * The default cap: the soft open-files limit minus a reserve for backend connections,
 * the bus, the publish inputs and logs (5 %, at least 100). undefined where the limit
 * cannot be read (not Linux): no cap then.
 */
export function defaultConnectionLimit(): number | undefined {
  let limits: string;
  try {
    limits = fs.readFileSync('/proc/self/limits', 'utf8');
  } catch {
    return undefined;
  }
  const match = /^Max open files\s+(\d+|unlimited)/m.exec(limits);
  if (!match || match[1] === 'unlimited') return undefined;
  const soft = Number(match[1]);
  return Math.max(1, soft - Math.max(100, Math.ceil(soft * 0.05)) - countDescriptors());
}

/**
 * Open descriptors; Infinity when none is left to even list them (EMFILE). Linux 6.2+
 * gives the count as the size of /proc/self/fd, without listing thousands of entries four
 * times a second near the cap and at every arrival at its edge.
 */
export function countDescriptors(): number {
  try {
    const { size } = fs.statSync('/proc/self/fd');
    if (size > 0) return size;
    return fs.readdirSync('/proc/self/fd').length;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EMFILE' ? Infinity : 0;
  }
}
