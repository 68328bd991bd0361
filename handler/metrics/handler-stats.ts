import { collectDefaultMetrics, Registry } from 'prom-client';
import {
  counterJson,
  gaugeJson,
  labelPerWorker,
  type Labels,
  type MetricJson,
} from '../../src/metrics/metric-json.js';
import type { OutcomeCounter, PublishOutcome } from '../inputs/publish-input.js';

export type InputName = 'http' | 'zmq-pull' | 'zmq-sub' | 'redis';

/** What the handler knows at scrape time besides its counts. */
export interface HandlerState {
  /** Proxy workers on the handler's bus. */
  workers: number;
  /** Channels with a listener anywhere on this node. */
  channels: number;
  /** Undefined without --redis. */
  isRedisConnected?: boolean;
  restarts: number;
}

/** The handler's own counts: publishes by input and outcome, items nobody listened to. */
export class HandlerStats {
  private readonly publishes = new Map<string, [Labels, number]>();
  noListener = 0;
  /** Client acknowledgements by outcome (acked push, README: Direct push and receipts). */
  private readonly clientAcks = { acknowledged: 0, late: 0, unknown: 0 };
  private readonly registry = new Registry();

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  counter(input: InputName): OutcomeCounter {
    return (outcome: PublishOutcome, items = 1) => {
      if (items <= 0) return;
      const key = `${input} ${outcome}`;
      const entry = this.publishes.get(key);
      if (entry) entry[1] += items;
      else this.publishes.set(key, [{ input, outcome }, items]);
    };
  }

  countClientAcks(outcome: keyof HandlerStats['clientAcks'], count: number): void {
    this.clientAcks[outcome] += count;
  }

  /** Accepted publishes, every input. */
  get accepted(): number {
    let total = 0;
    for (const [labels, count] of this.publishes.values()) {
      if (labels['outcome'] === 'accepted') total += count;
    }
    return total;
  }

  async figures(state: HandlerState): Promise<MetricJson[]> {
    const own = [
      counterJson(
        'thumbtack_publishes_total',
        'Publish items received, by input and outcome (refused requests count once)',
        [...this.publishes.values()],
      ),
      counterJson(
        'thumbtack_drops_total',
        'Published items not written to a listening connection, by reason',
        [[{ reason: 'no_listener' }, this.noListener]],
      ),
      counterJson(
        'thumbtack_client_acks_total',
        'Client acknowledgements of acked pushes: acknowledged, late (after the publisher stopped waiting), unknown (no such item waited for; ignored)',
        Object.entries(this.clientAcks).map(([outcome, count]) => [{ outcome }, count]),
      ),
      gaugeJson('thumbtack_bus_workers', 'Proxy workers connected to the handler bus', [
        [{}, state.workers],
      ]),
      gaugeJson('thumbtack_channels', 'Channels with a listener on this node', [
        [{}, state.channels],
      ]),
      counterJson('thumbtack_restarts_total', 'Times the runner restarted this process', [
        [{ worker: 'handler' }, state.restarts],
      ]),
    ];
    if (state.isRedisConnected !== undefined) {
      own.push(
        gaugeJson('thumbtack_redis_connected', '1 while the node is connected to Redis', [
          [{}, state.isRedisConnected ? 1 : 0],
        ]),
      );
    }
    const process = (await this.registry.getMetricsAsJSON()) as unknown as MetricJson[];
    return [...own, ...labelPerWorker(process, 'handler')];
  }
}
