import fs from 'node:fs';
import { afterEach, expect, it } from 'vitest';
import { countDescriptors } from '../../../proxy/connection-cap.js';

/*
 * The connection cap counts a worker's open descriptors four times a second near the cap
 * and at every arrival at its edge, so a listing of /proc/self/fd at tens of thousands of
 * connections is too costly (figures in the commit that changed it). Linux 6.2+ reports
 * the count as the directory's size.
 */

const opened: number[] = [];

afterEach(() => {
  for (const fd of opened.splice(0)) fs.closeSync(fd);
});

function listed(): number {
  // The listing's own descriptor is open while it lists.
  return fs.readdirSync('/proc/self/fd').length - 1;
}

const kernelCountsDescriptors = fs.statSync('/proc/self/fd').size > 0;

it('counts open descriptors as a listing of /proc/self/fd does', () => {
  const before = countDescriptors();
  for (let i = 0; i < 500; i++) opened.push(fs.openSync('/dev/null', 'r'));
  expect(countDescriptors() - before).toBe(500);
  expect(Math.abs(countDescriptors() - listed())).toBeLessThanOrEqual(1);
});

it.runIf(kernelCountsDescriptors)(
  'with 10,000 descriptors open a count costs a small share of a listing',
  () => {
    for (let i = 0; i < 10_000; i++) opened.push(fs.openSync('/dev/null', 'r'));
    const cpuOf = (count: () => number): number => {
      const start = process.cpuUsage();
      for (let i = 0; i < 20; i++) count();
      const used = process.cpuUsage(start);
      return used.user + used.system;
    };
    expect(cpuOf(countDescriptors) * 10).toBeLessThan(cpuOf(listed));
  },
);
