import type { TemplatedApp, WebSocket } from 'uWebSockets.js';
import { describe, expect, it } from 'vitest';
import { WsTopics } from '../../../../proxy/ws/topics.js';
import type { Delivery, DeliveryHeader } from '../../../../src/ipc/delivery.js';

/*
 * WsTopics against small fakes of the two uWS calls it makes: WebSocket.subscribe /
 * unsubscribe and TemplatedApp.publish.
 */

function fakeApp() {
  const published: { topic: string; content: string; isBinary: boolean }[] = [];
  const app = {
    publish(topic: string, content: Buffer, isBinary: boolean) {
      published.push({ topic, content: content.toString('latin1'), isBinary });
      return true;
    },
  } as unknown as TemplatedApp;
  return { app, published };
}

function fakeSocket() {
  const topics = new Set<string>();
  const ws = {
    subscribe: (topic: string) => topics.add(topic),
    unsubscribe: (topic: string) => topics.delete(topic),
  } as unknown as WebSocket<unknown>;
  return { ws, topics };
}

const hex = (channel: string) => Buffer.from(channel).toString('hex');

function wsDelivery(
  channel: string,
  ws: DeliveryHeader['ws'] | undefined,
  time = 1_000,
  content = 'hello',
): Delivery {
  return { channel, header: { seq: 1, time, ws }, payload: [Buffer.from(content)] };
}

const text = { action: 'send', type: 'text', content: 0 } as const;

describe('WsTopics', () => {
  it('joins a socket to the channel’s hex-named topic, opaque to uWS wildcards', () => {
    const topics = new WsTopics(fakeApp().app);
    const socket = fakeSocket();
    topics.join(socket.ws, 'scores/+/#', 0);
    expect([...socket.topics]).toEqual([hex('scores/+/#')]);
  });

  const sends: [string, DeliveryHeader['ws'], boolean][] = [
    ['a text message', text, false],
    ['a binary message', { action: 'send', type: 'binary', content: 0 }, true],
  ];
  it.each(sends)('publishes %s once to the topic, binary flag set to match', (_n, ws, isBinary) => {
    const { app, published } = fakeApp();
    const topics = new WsTopics(app);
    topics.join(fakeSocket().ws, 'c', 0);
    topics.join(fakeSocket().ws, 'c', 0);
    expect(topics.publish('c', wsDelivery('c', ws))).toBe(true);
    expect(published).toEqual([{ topic: hex('c'), content: 'hello', isBinary }]);
  });

  const refused: [string, Delivery][] = [
    ['an item without ws-message', wsDelivery('c', undefined)],
    ['a close', wsDelivery('c', { action: 'close', type: 'text', content: 0, code: 1000 })],
    ['a message with content filters', wsDelivery('c', { ...text, contentFilters: ['x'] })],
    ['a ping', wsDelivery('c', { action: 'send', type: 'ping', content: 0 })],
    ['a channel nobody joined', wsDelivery('other', text)],
    ['an item accepted before the latest member subscribed', wsDelivery('c', text, 499)],
  ];
  it.each(refused)('leaves %s to each client (returns false, publishes nothing)', (_n, d) => {
    const { app, published } = fakeApp();
    const topics = new WsTopics(app);
    topics.join(fakeSocket().ws, 'c', 100);
    topics.join(fakeSocket().ws, 'c', 500);
    topics.join(fakeSocket().ws, 'c', 300);
    expect(topics.publish(d.channel, d)).toBe(false);
    expect(published).toEqual([]);
  });

  it('publishes an item accepted at the latest member’s subscription time', () => {
    const topics = new WsTopics(fakeApp().app);
    topics.join(fakeSocket().ws, 'c', 500);
    expect(topics.publish('c', wsDelivery('c', text, 500))).toBe(true);
  });

  it('publishes empty content when the payload frame is missing', () => {
    const { app, published } = fakeApp();
    const topics = new WsTopics(app);
    topics.join(fakeSocket().ws, 'c', 0);
    const delivery: Delivery = { channel: 'c', header: { seq: 1, time: 1, ws: text }, payload: [] };
    expect(topics.publish('c', delivery)).toBe(true);
    expect(published[0]!.content).toBe('');
  });

  it('forgets the topic once its last member leaves, closed sockets included', () => {
    const { app, published } = fakeApp();
    const topics = new WsTopics(app);
    const a = fakeSocket();
    const b = fakeSocket();
    topics.join(a.ws, 'c', 0);
    topics.join(b.ws, 'c', 500);
    topics.leave(a.ws, 'c');
    expect(a.topics.size).toBe(0);
    expect(topics.publish('c', wsDelivery('c', text))).toBe(true);
    // A closed socket: uWS already dropped its subscriptions, only the count goes down.
    topics.leave(undefined, 'c');
    expect(topics.publish('c', wsDelivery('c', text))).toBe(false);
    expect(published).toHaveLength(1);
    // A later join starts the topic afresh (its since no longer raised by the members gone).
    topics.join(a.ws, 'c', 0);
    expect(topics.publish('c', wsDelivery('c', text, 1))).toBe(true);
  });

  it('ignores leaving a channel never joined', () => {
    const topics = new WsTopics(fakeApp().app);
    const socket = fakeSocket();
    topics.leave(socket.ws, 'never');
    expect(topics.publish('never', wsDelivery('never', text))).toBe(false);
  });
});
