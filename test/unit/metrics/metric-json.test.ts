import { describe, expect, it } from 'vitest';
import { BucketCounts } from '../../../src/metrics/bucket-counts.js';
import {
  counterJson,
  gaugeJson,
  histogramJson,
  labelPerWorker,
  renderMetrics,
} from '../../../src/metrics/metric-json.js';
import { decodeWorkerReport, encodeWorkerReport } from '../../../src/ipc/worker-report.js';

describe('bucket counts', () => {
  it('puts a value in the first bucket whose bound is not below it, and past the last in +Inf', () => {
    const counts = new BucketCounts([1, 5]);
    counts.observe(0.5);
    counts.observe(1);
    counts.observe(3, 4);
    counts.observe(9);
    expect([...counts.counts]).toEqual([2, 4, 1]);
    expect(counts.count).toBe(7);
    expect(counts.sum).toBe(0.5 + 1 + 12 + 9);
  });
});

describe('metric JSON rendered by prom-client', () => {
  it('writes counters, gauges and cumulative histogram buckets in the exposition format', async () => {
    const latency = new BucketCounts([0.1, 1]);
    latency.observe(0.05, 2);
    latency.observe(0.5);
    const text = await renderMetrics([
      [
        counterJson('t_items_total', 'Items', [[{ reason: 'a' }, 3]]),
        gaugeJson('t_open', 'Open', [[{}, 2]]),
        histogramJson('t_latency_seconds', 'Latency', [[{}, latency]]),
      ],
    ]);
    expect(text).toContain('# TYPE t_items_total counter\nt_items_total{reason="a"} 3');
    expect(text).toContain('# TYPE t_open gauge\nt_open 2');
    expect(text).toContain('t_latency_seconds_bucket{le="0.1"} 2');
    expect(text).toContain('t_latency_seconds_bucket{le="1"} 3');
    expect(text).toContain('t_latency_seconds_bucket{le="+Inf"} 3');
    expect(text).toContain('t_latency_seconds_count 3');
  });

  it('keeps workers apart by label and sums their histograms', async () => {
    const latency = (times: number): BucketCounts => {
      const counts = new BucketCounts([1]);
      counts.observe(0.5, times);
      return counts;
    };
    const worker = (n: number) => [
      counterJson('t_deliveries_total', 'Deliveries', [[{}, n]]),
      histogramJson('t_latency_seconds', 'Latency', [[{}, latency(n)]]),
    ];
    const text = await renderMetrics([
      labelPerWorker(worker(2), 'proxy-0'),
      labelPerWorker(worker(3), 'proxy-1'),
    ]);
    expect(text).toContain('t_deliveries_total{worker="proxy-0"} 2');
    expect(text).toContain('t_deliveries_total{worker="proxy-1"} 3');
    expect(text).toContain('t_latency_seconds_count 5');
    expect(text).not.toMatch(/t_latency_seconds_count\{worker/);
  });
});

describe('worker report codec', () => {
  it('round-trips a report', () => {
    const report = {
      worker: 'proxy-0',
      pid: 12,
      metrics: [gaugeJson('t_open', 'Open', [[{}, 1]])],
      channels: [['news', 3]] as [string, number][],
      errors: [{ at: 1, kind: 'drop' as const, text: 'slow_client' }],
    };
    expect(decodeWorkerReport(encodeWorkerReport(report))).toEqual(report);
  });

  it.each([
    ['not JSON', 'J{'],
    ['not an object', '3'],
    ['no worker', '{"pid":1,"metrics":[],"channels":[],"errors":[]}'],
    ['metrics not a list', '{"worker":"a","pid":1,"metrics":{},"channels":[],"errors":[]}'],
    [
      'a metric without values',
      '{"worker":"a","pid":1,"metrics":[{"name":"x","help":"h","type":"gauge"}],"channels":[],"errors":[]}',
    ],
  ])('refuses %s', (_label, text) => {
    expect(decodeWorkerReport(Buffer.from(text))).toBeUndefined();
  });
});
