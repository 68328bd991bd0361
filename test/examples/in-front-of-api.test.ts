import { EventSource, type FetchLike } from 'eventsource';
import { fetch as undiciFetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitForSubscribed } from '../support/channel-events.js';
import { startExample, type ExampleProcess } from '../support/example-process.js';
import { freePort } from '../support/free-port.js';

/*
 * examples/in-front-of-api as its README walks through it: the todo API behind thumbtack,
 * `curl -N /todos/events` (here an EventSource), `curl /todos/changes?after=N`, then the
 * README's POST and DELETE, all through thumbtack's port.
 */

let example: ExampleProcess;
let source: EventSource | undefined;
const events: MessageEvent<string>[] = [];
const wakers = new Set<() => void>();

beforeAll(async () => {
  example = await startExample('in-front-of-api', {
    API_PORT: String(await freePort()),
    // The handler's channel events show when a hold has reached it.
    THUMBTACK_LOG_LEVEL: 'debug',
  });
});
afterAll(async () => {
  source?.close();
  await example?.stop();
});

/** The SSE events after the first `skip`, once there are `count` of them (bounded). */
function nextEvents(skip: number, count: number): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const check = (): void => {
      if (events.length < skip + count) return;
      clearTimeout(timer);
      wakers.delete(check);
      resolve(events.slice(skip, skip + count).map((event) => JSON.parse(event.data)));
    };
    const timer = setTimeout(() => {
      wakers.delete(check);
      reject(new Error(`SSE events so far: ${JSON.stringify(events.map((e) => e.data))}`));
    }, 5_000);
    wakers.add(check);
    check();
  });
}

const json = { 'content-type': 'application/json' };

describe('examples/in-front-of-api', () => {
  it('GET /todos passes through thumbtack to the API unchanged', async () => {
    const res = await undiciFetch(`${example.url}/todos`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(res.headers.get('x-powered-by')).toBe('Express');
    expect(await res.json()).toEqual([]);
  });

  it('a todo POSTed through thumbtack reaches the SSE feed and the held long-poll', async () => {
    // The long-poll first, alone on the channel: its subscription shows the hold is set,
    // so the POST below is answered through the publish, not the `after=` catch-up.
    const subscribed = waitForSubscribed(example, 'todos');
    const longPoll = undiciFetch(`${example.url}/todos/changes?after=0`);
    await subscribed;

    source = new EventSource(`${example.url}/todos/events`, {
      fetch: undiciFetch as unknown as FetchLike,
    });
    source.addEventListener('message', (event) => {
      events.push(event);
      for (const wake of [...wakers]) wake();
    });
    expect(await nextEvents(0, 1)).toEqual([{ type: 'snapshot', rev: 0, todos: [] }]);

    const created = await undiciFetch(`${example.url}/todos`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ title: 'buy milk' }),
    });
    expect(created.status).toBe(201);
    const todo = { id: '1', title: 'buy milk', done: false };
    expect(await created.json()).toEqual(todo);

    const change = { rev: 1, type: 'created', todo };
    expect(await nextEvents(1, 1)).toEqual([change]);
    expect(events[1]!.lastEventId).toBe('1');
    const answer = await longPoll;
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(await answer.json()).toEqual({ changes: [change] });
  });

  it('PATCH and DELETE reach the feed too; a long-poll behind on changes is answered at once', async () => {
    const patched = await undiciFetch(`${example.url}/todos/1`, {
      method: 'PATCH',
      headers: json,
      body: JSON.stringify({ done: true }),
    });
    const todo = { id: '1', title: 'buy milk', done: true };
    expect(await patched.json()).toEqual(todo);
    const deleted = await undiciFetch(`${example.url}/todos/1`, { method: 'DELETE' });
    expect(deleted.status).toBe(204);
    const updates = [
      { rev: 2, type: 'updated', todo },
      { rev: 3, type: 'deleted', todo },
    ];
    expect(await nextEvents(2, 2)).toEqual(updates);

    const list = await undiciFetch(`${example.url}/todos`);
    expect(await list.json()).toEqual([]);
    const caughtUp = await undiciFetch(`${example.url}/todos/changes?after=0`);
    expect(await caughtUp.json()).toEqual({
      changes: [{ rev: 1, type: 'created', todo: { ...todo, done: false } }, ...updates],
    });
  });
});
