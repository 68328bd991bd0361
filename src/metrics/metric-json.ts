import { AggregatorRegistry } from 'prom-client';
import type { BucketCounts } from './bucket-counts.js';

/*
 * Metrics cross process boundaries as prom-client's own JSON (what `getMetricsAsJSON`
 * returns): workers count in plain numbers and describe them in this shape once a second;
 * prom-client's AggregatorRegistry merges the shapes of every process and writes the
 * exposition text, so no part of the format is written by hand here.
 */

export type Labels = Record<string, string | number>;

export interface MetricValueJson {
  labels: Labels;
  value: number;
  /** `_bucket`, `_sum`, `_count` series of a histogram. */
  metricName?: string;
}

export interface MetricJson {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary';
  /** How prom-client merges the same series from several processes. */
  aggregator: 'sum';
  values: MetricValueJson[];
}

export function counterJson(name: string, help: string, values: [Labels, number][]): MetricJson {
  return { name, help, type: 'counter', aggregator: 'sum', values: valuesOf(values) };
}

export function gaugeJson(name: string, help: string, values: [Labels, number][]): MetricJson {
  return { name, help, type: 'gauge', aggregator: 'sum', values: valuesOf(values) };
}

function valuesOf(values: [Labels, number][]): MetricValueJson[] {
  return values.map(([labels, value]) => ({ labels, value }));
}

/** Cumulative `_bucket` series with `le`, then `_sum` and `_count`, as Prometheus expects. */
export function histogramJson(
  name: string,
  help: string,
  series: [Labels, BucketCounts][],
): MetricJson {
  const values: MetricValueJson[] = [];
  const bucket = `${name}_bucket`;
  for (const [labels, counts] of series) {
    let cumulative = 0;
    counts.bounds.forEach((bound, at) => {
      cumulative += counts.counts[at]!;
      values.push({ labels: { ...labels, le: bound }, value: cumulative, metricName: bucket });
    });
    values.push({ labels: { ...labels, le: '+Inf' }, value: counts.count, metricName: bucket });
    values.push({ labels, value: counts.sum, metricName: `${name}_sum` });
    values.push({ labels, value: counts.count, metricName: `${name}_count` });
  }
  return { name, help, type: 'histogram', aggregator: 'sum', values };
}

/**
 * Labels every series of a worker's counters and gauges with the worker, so that one
 * scrape shows each; histograms are left unlabelled, so that the node's distribution is
 * the sum of its workers' (what an operator reads a latency percentile from).
 */
export function labelPerWorker(metrics: MetricJson[], worker: string): MetricJson[] {
  return metrics.map((metric) =>
    metric.type === 'histogram'
      ? metric
      : {
          ...metric,
          values: metric.values.map((value) => ({
            ...value,
            labels: { ...value.labels, worker },
          })),
        },
  );
}

/**
 * The exposition text of several processes' metrics. Series with the same name and labels
 * are summed (prom-client's `sum` aggregator); series that differ by label stay apart.
 */
export function renderMetrics(groups: MetricJson[][]): Promise<string> {
  return AggregatorRegistry.aggregate(groups).metrics();
}

export { prometheusContentType as metricsContentType } from 'prom-client';
