import { describe, expect, it } from 'vitest';
import { send } from '../support/client.js';
import { answer, openStream, publishOk, streamItem, uniqueName } from '../support/grip.js';
import { useGripSuite } from '../support/grip-suite.js';
import { waitForSubscribed } from '../support/channel-events.js';

/*
 * Durations past what a Node timer holds (2^31 - 1 ms): Node fires such a timer after 1 ms,
 * so a backend asking for "a very long time" used to get the opposite. thumbtack clamps them
 * to 2,147,483 s; these holds must simply stay quiet until a publish.
 */

const HUGE = '2147484'; // one second past the longest timer

const suite = useGripSuite({
  routes: (target) => `* ${target}\n`,
  args: ['--log-level', 'debug'],
});

function holdPath(headers: Record<string, string>, body: string): string {
  const path = `/${uniqueName('timer')}`;
  suite.backend.on(path, answer({ 'Content-Type': 'text/plain', ...headers }, body));
  return path;
}

describe('durations past the timer limit', () => {
  it(`a long-poll with Grip-Timeout: ${HUGE} stays held and answers with the publish`, async () => {
    const channel = uniqueName('lp');
    const path = holdPath(
      { 'Grip-Hold': 'response', 'Grip-Channel': channel, 'Grip-Timeout': HUGE },
      'timed out\n',
    );
    const done = send(`${suite.thumbtack.url}${path}`);
    done.catch(() => undefined);
    await waitForSubscribed(suite.thumbtack, channel);
    await publishOk(suite.thumbtack, {
      channel,
      formats: { 'http-response': { body: 'published\n' } },
    });
    expect((await done).body.toString()).toBe('published\n');
  });

  it(`an interval keep-alive with timeout=${HUGE} sends nothing before the next item`, async () => {
    const channel = uniqueName('ka');
    const path = holdPath(
      {
        'Grip-Hold': 'stream',
        'Grip-Channel': channel,
        'Grip-Keep-Alive': `KA; mode=interval; timeout=${HUGE}`,
      },
      'opened\n',
    );
    const [stream] = await Promise.all([
      openStream(`${suite.thumbtack.url}${path}`),
      waitForSubscribed(suite.thumbtack, channel),
    ]);
    suite.streams.push(stream);
    await stream.waitForText('opened\n');
    await publishOk(suite.thumbtack, streamItem(channel, 'item\n'));
    expect(await stream.waitForText('item\n')).toBe('opened\nitem\n');
  });

  it(`a next link with timeout=${HUGE} is not fetched while the stream is quiet`, async () => {
    const channel = uniqueName('link');
    const next = `/${uniqueName('next')}`;
    suite.backend.on(next, answer({ 'Content-Type': 'text/plain' }, 'next page\n'));
    const path = holdPath(
      {
        'Grip-Hold': 'stream',
        'Grip-Channel': channel,
        'Grip-Link': `<${next}>; rel=next; timeout=${HUGE}`,
      },
      'opened\n',
    );
    const [stream] = await Promise.all([
      openStream(`${suite.thumbtack.url}${path}`),
      waitForSubscribed(suite.thumbtack, channel),
    ]);
    suite.streams.push(stream);
    await publishOk(suite.thumbtack, streamItem(channel, 'item\n'));
    expect(await stream.waitForText('item\n')).toBe('opened\nitem\n');
    expect(suite.backend.requestsTo(next)).toHaveLength(0);
  });
});
