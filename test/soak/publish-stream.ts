import { epochMs } from '../../bench/clock.js';
import { Histogram } from '../../bench/histogram.js';
import type { HttpPublisher, PublishItem } from '../../bench/publisher.js';
import { itemText } from './channel-receiver.js';
import type { PublishLog } from './publish-log.js';

/** Items per publish request at most: a late stream catches up in bounded bodies. */
const batchMax = 200;
const attemptsMax = 5;
const retryPauseMs = 500;

export interface PublishPlan {
  /** Items in all, the warm-up included. */
  total: number;
  durationMs: number;
  /** Test the checker: the item with this number (1 = first after the warm-up) is logged as
   * published and acknowledged but never sent, as if thumbtack had lost it. */
  withheld?: number;
}

export function channelName(channel: number): string {
  return `soak-${channel}`;
}

/**
 * Publishes the soak's items over HTTP at an even rate, each to a random channel, one
 * request at a time so a channel's positions reach thumbtack in order. An item carries its
 * position as id (and the one before as prev-id) and text `m<position> <send time> <channel>` in every format. A refused
 * request is sent again (the ids make a repeat harmless); one refused five times ends the run.
 */
export class PublishStream {
  sent = 0;
  requests = 0;
  retries = 0;
  readonly requestLatency = new Histogram();
  /** Items sent by the warm-up; undefined while it runs. */
  private afterWarm: number | undefined;

  constructor(
    private readonly publisher: HttpPublisher,
    private readonly log: PublishLog,
    private readonly plan: PublishPlan,
  ) {}

  /** Position 1 on every channel, so a long-poll always has a position to resume from. */
  async warm(): Promise<void> {
    for (let from = 0; from < this.log.channels; from += batchMax) {
      const channels: number[] = [];
      for (let c = from; c < Math.min(this.log.channels, from + batchMax); c++) channels.push(c);
      await this.send(channels);
    }
    this.afterWarm = this.sent;
  }

  /** Publishes the rest over the plan's duration; returns when all are sent or `isStopped()`. */
  async run(isStopped: () => boolean): Promise<void> {
    const startedAt = Date.now();
    const afterWarm = this.afterWarm ?? 0;
    const rest = this.plan.total - afterWarm;
    while (this.sent < this.plan.total && !isStopped()) {
      const share = Math.min(1, (Date.now() - startedAt) / this.plan.durationMs);
      const due = afterWarm + Math.floor(rest * share);
      const count = Math.min(batchMax, due - this.sent);
      if (count <= 0) {
        await new Promise((resolve) => setTimeout(resolve, 5));
        continue;
      }
      const channels: number[] = [];
      for (let i = 0; i < count; i++) channels.push(Math.floor(Math.random() * this.log.channels));
      await this.send(channels);
    }
  }

  private async send(channels: number[]): Promise<void> {
    const stamp = epochMs();
    const items: PublishItem[] = [];
    const positions: number[] = [];
    for (const channel of channels) {
      const seq = this.log.next(channel, stamp);
      positions.push(seq);
      this.sent++;
      if (this.afterWarm !== undefined && this.sent - this.afterWarm === this.plan.withheld)
        continue;
      const text = itemText(seq, stamp, channel);
      items.push({
        channel: channelName(channel),
        id: String(seq),
        // Chained as a publisher for prev-id holds does: a long-poll at position seq - 1
        // takes this live item as its next one.
        ...(seq > 1 ? { 'prev-id': String(seq - 1) } : {}),
        formats: {
          'http-stream': { content: `data: ${text}\n\n` },
          'http-response': { body: `${text}\n` },
          'ws-message': { content: text },
        },
      });
    }
    for (let attempt = 1; items.length > 0; attempt++) {
      const began = performance.now();
      this.requests++;
      try {
        await this.publisher.publish(items);
        this.requestLatency.record(performance.now() - began);
        break;
      } catch (err) {
        if (attempt >= attemptsMax)
          throw new Error(`publish refused ${attempt} times: ${(err as Error).message}`, {
            cause: err,
          });
        this.retries++;
        await new Promise((resolve) => setTimeout(resolve, retryPauseMs));
      }
    }
    channels.forEach((channel, i) => this.log.ack(channel, positions[i]));
  }
}
