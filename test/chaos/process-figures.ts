import fs from 'node:fs';
import { readMemory } from '../support/thumbtack.js';

/*
 * What a scenario measures of a process from /proc: CPU time used and resident memory over
 * a phase, so that "idle-cheap" and "bounded by its buffers" are figures, not impressions.
 */

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat. */
export function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces): state is [0], utime [11], stime [12].
  const fields = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / clockTicksPerSecond;
}

/** USER_HZ: 100 on every Linux this runs on (the kernel's ABI for /proc/<pid>/stat). */
const clockTicksPerSecond = 100;

/** Samples a process's RSS on an interval until stopped; keeps the peak. */
export class RssSampler {
  peak = 0;
  samples = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly pid: number,
    intervalMs = 50,
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  /** Takes one last sample and stops; returns the peak in bytes. */
  stop(): number {
    clearInterval(this.timer);
    this.sample();
    return this.peak;
  }

  private sample(): void {
    try {
      this.peak = Math.max(this.peak, readMemory(this.pid));
      this.samples++;
    } catch {
      // the process is gone: the scenario reports that on its own
    }
  }
}

export const MiB = 1024 * 1024;

/** Bytes as MiB with one decimal, for a record's `extra`. */
export function mib(bytes: number): number {
  return Math.round((bytes / MiB) * 10) / 10;
}
