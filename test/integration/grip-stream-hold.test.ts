import { EventSource, type FetchLike } from 'eventsource';
import { fetch as undiciFetch } from 'undici';
import { describe, expect, it } from 'vitest';
import {
  answer,
  openStream,
  publishOk,
  streamItem,
  uniqueName,
  type StreamClient,
  verifyGripSigHeader,
} from '../support/grip.js';
import { useGripSuite } from '../support/grip-suite.js';
import {
  isChannelEvent,
  waitForSubscribed,
  waitForUnsubscribed,
  type ChannelEvent,
} from '../support/channel-events.js';

/*
 * Stream holds (`Grip-Hold: stream`) and next-link paging end to end: a real backend, the
 * real runner, publishes through the control API, clients reading with undici and
 * `eventsource`.
 */

const suite = useGripSuite({
  routes: (target) => `* ${target}\n`,
  // Debug logs include the handler's bus (un)subscribe lines: proof that a hold is in place.
  args: ['--log-level', 'debug'],
});

/** Registers a path answering with a stream hold on `channel`. */
function streamOn(
  channel: string,
  headers: Record<string, string> = {},
  body = 'opened\n',
): string {
  const path = `/${uniqueName('stream')}`;
  suite.backend.on(
    path,
    answer(
      {
        'Content-Type': 'text/plain',
        'Content-Length': String(Buffer.byteLength(body)),
        'Grip-Hold': 'stream',
        'Grip-Channel': channel,
        ...headers,
      },
      body,
    ),
  );
  return path;
}

/** Opens a stream and resolves once it is held on `channel`. */
async function holdStream(path: string, channel: string): Promise<StreamClient> {
  const [stream] = await Promise.all([
    openStream(`${suite.thumbtack.url}${path}`),
    waitForSubscribed(suite.thumbtack, channel),
  ]);
  suite.streams.push(stream);
  return stream;
}

describe('stream hold', () => {
  it('sends status, headers and initial body at once, chunked, then appends items in order', async () => {
    const channel = uniqueName('sh');
    const path = streamOn(channel, { 'X-Stored': 'yes', 'Grip-Keep-Alive': '\\n; format=cstring' });
    const stream = await holdStream(path, channel);
    expect(stream.status).toBe(200);
    expect(stream.headers['x-stored']).toBe('yes');
    expect(stream.headers['content-type']).toBe('text/plain');
    expect(stream.headers['transfer-encoding']).toBe('chunked');
    expect(stream.headers['content-length']).toBeUndefined();
    expect(Object.keys(stream.headers).filter((n) => n.startsWith('grip-'))).toEqual([]);
    await stream.waitForText('opened\n');
    await publishOk(suite.thumbtack, streamItem(channel, 'one\n'));
    await publishOk(suite.thumbtack, streamItem(channel, 'two\n'), streamItem(channel, 'three\n'));
    await publishOk(suite.thumbtack, streamItem(channel, ''));
    await publishOk(suite.thumbtack, streamItem(channel, 'four\n'));
    expect(await stream.waitForText('four\n')).toBe('opened\none\ntwo\nthree\nfour\n');
    expect(stream.isEnded).toBe(false);
  });

  it('writes content-bin as raw bytes', async () => {
    const channel = uniqueName('sh');
    const stream = await holdStream(streamOn(channel, {}, 'open\n'), channel);
    const bytes = Buffer.from([0, 1, 2, 3, 0xff, 0x0a]);
    await publishOk(suite.thumbtack, {
      channel,
      formats: { 'http-stream': { 'content-bin': bytes.toString('base64') } },
    });
    await publishOk(suite.thumbtack, streamItem(channel, 'end'));
    await stream.waitForText('end');
    expect(stream.received()).toEqual(
      Buffer.concat([Buffer.from('open\n'), bytes, Buffer.from('end')]),
    );
  });

  it('action close ends the response after the earlier content, and unsubscribes', async () => {
    const channel = uniqueName('sh');
    const stream = await holdStream(streamOn(channel), channel);
    await publishOk(
      suite.thumbtack,
      streamItem(channel, 'last words\n'),
      // js-grip sends close with an empty content; extra fields are harmless.
      { channel, formats: { 'http-stream': { action: 'close', content: '' } } },
    );
    expect(await stream.waitForEnd()).toBe('opened\nlast words\n');
    await waitForUnsubscribed(suite.thumbtack, channel);
  });

  it('a client that leaves is unsubscribed at once', async () => {
    const [a, b] = [uniqueName('sh'), uniqueName('sh')];
    const path = streamOn(`${a}, ${b}`);
    const [stream] = await Promise.all([
      openStream(`${suite.thumbtack.url}${path}`),
      waitForSubscribed(suite.thumbtack, a),
      waitForSubscribed(suite.thumbtack, b),
    ]);
    stream.close();
    // "At once" means before anything that starts after the client left: a stream opened
    // next (a TCP handshake, a backend round trip, a bus subscription later) must find both
    // channels already unsubscribed. A lingering unsubscribe (Pushpin keeps 60 s) comes after.
    const later = uniqueName('sh');
    const [next] = await Promise.all([
      openStream(`${suite.thumbtack.url}${streamOn(later)}`),
      waitForSubscribed(suite.thumbtack, later),
    ]);
    suite.streams.push(next);
    await Promise.all([
      waitForUnsubscribed(suite.thumbtack, a),
      waitForUnsubscribed(suite.thumbtack, b),
    ]);
    // All three lines are the handler's, so their order in the log is the order it saw.
    const position = (event: ChannelEvent, channel: string) =>
      suite.thumbtack.logs.findIndex(isChannelEvent(event, channel));
    const laterSubscribed = position('channel.subscribed', later);
    expect(position('channel.unsubscribed', a)).toBeLessThan(laterSubscribed);
    expect(position('channel.unsubscribed', b)).toBeLessThan(laterSubscribed);
  });

  it('ignores http-response and ws-message items', async () => {
    const channel = uniqueName('sh');
    const stream = await holdStream(streamOn(channel, {}, 'open\n'), channel);
    await publishOk(
      suite.thumbtack,
      { channel, formats: { 'http-response': { body: 'response\n' } } },
      { channel, formats: { 'ws-message': { content: 'ws\n' } } },
      { channel, formats: { 'http-stream': { action: 'refresh' } } },
      streamItem(channel, 'stream\n'),
    );
    expect(await stream.waitForText('stream\n')).toBe('open\nstream\n');
  });

  it('a stream hold with prev-id but no next link sends the initial body and ends', async () => {
    const channel = uniqueName('sh');
    const path = streamOn(`${channel}; prev-id=1`, {}, 'initial\n');
    const stream = await openStream(`${suite.thumbtack.url}${path}`);
    expect(stream.status).toBe(200);
    expect(await stream.waitForEnd()).toBe('initial\n');
  });
});

describe('keep-alive', () => {
  it('idle mode writes the data after `timeout` seconds without traffic, and not while items flow', async () => {
    const channel = uniqueName('ka');
    const idle = await holdStream(
      streamOn(channel, { 'Grip-Keep-Alive': 'ka\\n; format=cstring; timeout=1; mode=idle' }, '>'),
      channel,
    );
    const interval = await holdStream(
      streamOn(
        channel,
        { 'Grip-Keep-Alive': 'KA\\n; format=cstring; timeout=1; mode=interval' },
        'open\n',
      ),
      channel,
    );
    await publishOk(suite.thumbtack, streamItem(channel, 'go\n'));
    await Promise.all([idle.waitForText('go\n'), interval.waitForText('go\n')]);
    // Items back to back for 2.5 keep-alive periods.
    const until = Date.now() + 2_500;
    let n = 0;
    while (Date.now() < until) await publishOk(suite.thumbtack, streamItem(channel, `${n++},`));
    await publishOk(suite.thumbtack, streamItem(channel, 'stop\n'));
    const [idleText, intervalText] = await Promise.all([
      idle.waitForText('stop\n'),
      interval.waitForText('stop\n'),
    ]);
    expect(idleText.slice(idleText.indexOf('go\n'))).not.toContain('ka');
    const whileBusy = intervalText.slice(intervalText.indexOf('go\n'));
    expect(whileBusy.split('KA\n').length - 1).toBeGreaterThanOrEqual(2);
    // Quiet now: the idle stream gets its keep-alive within a period (plus timer slack).
    await idle.waitForText('stop\nka\n', 2_500);
  });

  it('base64 data is written after the idle timeout', async () => {
    const channel = uniqueName('ka');
    const data = Buffer.from(':\n\n').toString('base64');
    const stream = await holdStream(
      streamOn(channel, { 'Grip-Keep-Alive': `${data}; format=base64; timeout=1` }, '>'),
      channel,
    );
    const started = Date.now();
    expect(await stream.waitForText(':\n\n', 3_000)).toBe('>:\n\n');
    expect(Date.now() - started).toBeGreaterThanOrEqual(800);
  });

  it('an empty initial body starts with the keep-alive data, so the head goes out at once', async () => {
    const channel = uniqueName('ka-empty');
    const path = streamOn(
      channel,
      {
        'Grip-Keep-Alive': ':\\n\\n; format=cstring; timeout=30',
        'Content-Type': 'text/event-stream',
      },
      '',
    );
    const started = Date.now();
    const stream = await holdStream(path, channel);
    expect(await stream.waitForText(':\n\n', 3_000)).toBe(':\n\n');
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(stream.headers['content-type']).toBe('text/event-stream');
  });
});

describe('Server-Sent Events', () => {
  it('an eventsource client receives published events through a stream hold', async () => {
    const channel = uniqueName('sse');
    const path = `/${uniqueName('sse')}`;
    suite.backend.on(path, (req, res) => {
      res.writeHead(200, {
        'Content-Type': 'text/event-stream',
        'Grip-Hold': 'stream',
        'Grip-Channel': channel,
        'Grip-Keep-Alive': ':\\n\\n; format=cstring; timeout=1',
        'X-Last-Event-Id': String(req.headers['last-event-id'] ?? ''),
      });
      res.end('event: hello\ndata: welcome\n\n');
    });
    const source = new EventSource(`${suite.thumbtack.url}${path}`, {
      fetch: undiciFetch as unknown as FetchLike,
    });
    try {
      const events: { type: string; data: string; id: string }[] = [];
      const wake = new Set<() => void>();
      const record = (event: MessageEvent<string>) => {
        events.push({ type: event.type, data: event.data, id: event.lastEventId });
        for (const fn of wake) fn();
      };
      source.addEventListener('hello', record);
      source.addEventListener('message', record);
      source.addEventListener('update', record);
      const waitForEvents = (count: number) =>
        new Promise<void>((resolve, reject) => {
          const check = () => {
            if (events.length < count) return;
            clearTimeout(timer);
            wake.delete(check);
            resolve();
          };
          const timer = setTimeout(
            () => reject(new Error(`only ${JSON.stringify(events)} within 5 s`)),
            5_000,
          );
          wake.add(check);
          check();
        });
      await Promise.all([waitForEvents(1), waitForSubscribed(suite.thumbtack, channel)]);
      await publishOk(suite.thumbtack, streamItem(channel, 'data: {"x":1}\nid: 41\n\n'));
      await publishOk(
        suite.thumbtack,
        streamItem(channel, 'event: update\ndata: two\ndata: lines\nid: 42\n\n'),
      );
      await waitForEvents(3);
      expect(events).toEqual([
        { type: 'hello', data: 'welcome', id: '' },
        { type: 'message', data: '{"x":1}', id: '41' },
        { type: 'update', data: 'two\nlines', id: '42' },
      ]);
      expect(source.readyState).toBe(EventSource.OPEN);
    } finally {
      source.close();
    }
  });
});

describe('next links', () => {
  it('without a hold, pages through next links until a response has none, with Grip-Sig and no client headers', async () => {
    const base = `/${uniqueName('page')}`;
    suite.backend.on(`${base}/1`, answer({ 'Grip-Link': `<${base}/2?from=1>; rel=next` }, 'one\n'));
    suite.backend.on(`${base}/2`, answer({ 'Grip-Link': `<3>; rel=next` }, 'two\n'));
    suite.backend.on(`${base}/3`, answer({ 'Content-Type': 'text/other' }, 'three\n'));
    const stream = await openStream(`${suite.thumbtack.url}${base}/1`, {
      headers: { 'x-client': 'c' },
    });
    expect(stream.headers['content-length']).toBeUndefined();
    expect(await stream.waitForEnd()).toBe('one\ntwo\nthree\n');
    const [second] = suite.backend.requestsTo(`${base}/2`);
    expect(second!.method).toBe('GET');
    expect(second!.url).toBe(`${base}/2?from=1`);
    await expect(verifyGripSigHeader(second!.headers['grip-sig'])).resolves.toMatchObject({
      iss: 'pushpin',
    });
    expect(second!.headers['accept']).toBe('*/*');
    expect(second!.headers['x-client']).toBeUndefined();
    // A relative link resolves against the request that carried it.
    expect(suite.backend.requestsTo(`${base}/3`)).toHaveLength(1);
  });

  it('a paged response may turn into a stream hold', async () => {
    const channel = uniqueName('nl');
    const base = `/${uniqueName('page')}`;
    suite.backend.on(`${base}/1`, answer({ 'Grip-Link': `<${base}/2>; rel=next` }, 'page one\n'));
    suite.backend.on(
      `${base}/2`,
      answer({ 'Grip-Hold': 'stream', 'Grip-Channel': channel }, 'now live\n'),
    );
    const stream = await holdStream(`${base}/1`, channel);
    await stream.waitForText('now live\n');
    await publishOk(suite.thumbtack, streamItem(channel, 'pushed\n'));
    expect(await stream.waitForText('pushed\n')).toBe('page one\nnow live\npushed\n');
  });

  it('a next link answering with a response hold ends the stream', async () => {
    const base = `/${uniqueName('page')}`;
    suite.backend.on(`${base}/1`, answer({ 'Grip-Link': `<${base}/2>; rel=next` }, 'one\n'));
    suite.backend.on(`${base}/2`, answer({ 'Grip-Hold': 'response', 'Grip-Channel': 'x' }, 'no\n'));
    const stream = await openStream(`${suite.thumbtack.url}${base}/1`);
    expect(await stream.waitForEnd()).toBe('one\nno\n');
  });

  it('recovers a gap: an item that does not follow the prev-id fetches the next link with Grip-Last', async () => {
    const channel = uniqueName('nl');
    const base = `/${uniqueName('rec')}`;
    const hold = (prevId: string) => ({
      'Grip-Hold': 'stream',
      'Grip-Channel': `${channel}; prev-id=${prevId}`,
      'Grip-Link': `<${base}/next>; rel=next`,
    });
    suite.backend.on(base, answer(hold('1'), 'start\n'));
    let fetches = 0;
    suite.backend.on(`${base}/next`, (_req, res) => {
      fetches++;
      if (fetches === 1) {
        res.writeHead(200, hold('3'));
        res.end('recovered 2 and 3\n');
      } else {
        res.end('recovered 5 and 6, done\n');
      }
    });
    const stream = await holdStream(base, channel);
    // The hold starts after item 1; item 3 follows 2, which it never saw.
    await publishOk(suite.thumbtack, streamItem(channel, 'three\n', { id: '3', 'prev-id': '2' }));
    const [first] = await suite.backend.waitForRequests(`${base}/next`, 1);
    expect(first!.headers['grip-last']).toBe(`${channel}; last-id=1`);
    await expect(verifyGripSigHeader(first!.headers['grip-sig'])).resolves.toMatchObject({
      iss: 'pushpin',
    });
    await stream.waitForText('recovered 2 and 3\n');
    // Item 4 follows on: delivered, and the position moves to 4.
    await publishOk(suite.thumbtack, streamItem(channel, 'four\n', { id: '4', 'prev-id': '3' }));
    await stream.waitForText('four\n');
    // no-seq: past the handler's reorder buffer, which would hold it 5 s waiting for id 5.
    await publishOk(
      suite.thumbtack,
      streamItem(channel, 'six\n', { id: '6', 'prev-id': '5', 'no-seq': true }),
    );
    const [, second] = await suite.backend.waitForRequests(`${base}/next`, 2);
    expect(second!.headers['grip-last']).toBe(`${channel}; last-id=4`);
    expect(await stream.waitForEnd()).toBe(
      'start\nrecovered 2 and 3\nfour\nrecovered 5 and 6, done\n',
    );
  });

  it('a hint fetches the next link; its answer without a hold ends the stream', async () => {
    const channel = uniqueName('nl');
    const base = `/${uniqueName('hint')}`;
    suite.backend.on(
      base,
      answer(
        {
          'Grip-Hold': 'stream',
          'Grip-Channel': `${channel}; prev-id=7`,
          'Grip-Link': `<${base}/next>; rel=next`,
        },
        'start\n',
      ),
    );
    suite.backend.on(`${base}/next`, answer({}, 'all caught up\n'));
    const stream = await holdStream(base, channel);
    await publishOk(suite.thumbtack, { channel, formats: { 'http-stream': { action: 'hint' } } });
    expect(await stream.waitForEnd()).toBe('start\nall caught up\n');
    expect(suite.backend.requestsTo(`${base}/next`)[0]!.headers['grip-last']).toBe(
      `${channel}; last-id=7`,
    );
  });

  it('an idle stream refetches its next link after the link timeout', async () => {
    const channel = uniqueName('nl');
    const base = `/${uniqueName('idle')}`;
    const hold = {
      'Grip-Hold': 'stream',
      'Grip-Channel': channel,
      'Grip-Link': `<${base}/next>; rel=next; timeout=1`,
    };
    suite.backend.on(base, answer(hold, 'start\n'));
    suite.backend.on(`${base}/next`, answer(hold, 'refreshed\n'));
    const stream = await holdStream(base, channel);
    const started = Date.now();
    await stream.waitForText('refreshed\nrefreshed\n', 5_000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_500);
  });
});

describe('gone link', () => {
  it('POSTs the gone link, signed and empty, when the client leaves', async () => {
    const channel = uniqueName('gone');
    const base = `/${uniqueName('gone')}`;
    suite.backend.on(`${base}/gone`, answer({}, '', 204));
    const path = streamOn(channel, { 'Grip-Link': `<${base}/gone?who=1>; rel=gone` });
    const stream = await holdStream(path, channel);
    expect(suite.backend.requestsTo(`${base}/gone`)).toHaveLength(0);
    stream.close();
    const [gone] = await suite.backend.waitForRequests(`${base}/gone`, 1);
    expect(gone!.method).toBe('POST');
    expect(gone!.url).toBe(`${base}/gone?who=1`);
    expect(gone!.headers['content-length']).toBe('0');
    await expect(verifyGripSigHeader(gone!.headers['grip-sig'])).resolves.toMatchObject({
      iss: 'pushpin',
    });
  });

  it('POSTs the gone link once when a long-poll is answered', async () => {
    const channel = uniqueName('gone');
    const base = `/${uniqueName('gone')}`;
    suite.backend.on(`${base}/gone`, answer({}, '', 204));
    suite.backend.on(
      base,
      answer(
        {
          'Grip-Hold': 'response',
          'Grip-Channel': channel,
          'Grip-Link': `<${base}/gone>; rel=gone`,
        },
        'timeout\n',
      ),
    );
    const poll = openStream(`${suite.thumbtack.url}${base}`);
    await waitForSubscribed(suite.thumbtack, channel);
    await publishOk(suite.thumbtack, {
      channel,
      formats: { 'http-response': { body: 'answer\n' } },
    });
    expect(await (await poll).waitForEnd()).toBe('answer\n');
    await suite.backend.waitForRequests(`${base}/gone`, 1);
    // A second publish has nobody to answer; the gone link stays fired once.
    await publishOk(suite.thumbtack, {
      channel,
      formats: { 'http-response': { body: 'again\n' } },
    });
    await publishOk(suite.thumbtack, streamItem(uniqueName('other'), 'x'));
    expect(suite.backend.requestsTo(`${base}/gone`)).toHaveLength(1);
  });
});

describe('filters on streams', () => {
  it('skip-users, require-sub and var-subst apply per subscriber, and content-filters mismatches are skipped', async () => {
    const channel = uniqueName('flt');
    const members = uniqueName('members');
    const filtered = await holdStream(
      streamOn(
        `${channel}; filter=skip-users; filter=require-sub; filter=var-subst, ${members}`,
        {
          'Grip-Set-Meta': 'user="alice", nick="Al"',
        },
        'open\n',
      ),
      channel,
    );
    const plain = await holdStream(streamOn(channel, {}, 'open\n'), channel);
    await publishOk(
      suite.thumbtack,
      streamItem(channel, 'a:skipped-for-alice;', { meta: { skip_users: 'bob, alice' } }),
      streamItem(channel, 'b:needs-other;', { meta: { require_sub: 'other' } }),
      streamItem(channel, `c:needs-members;`, { meta: { require_sub: members } }),
      streamItem(channel, 'd:hi %(nick)s;'),
      {
        channel,
        formats: { 'http-stream': { content: 'e:mismatch;', 'content-filters': [] } },
      },
      {
        channel,
        formats: { 'http-stream': { content: 'f:%(user)s;', 'content-filters': ['var-subst'] } },
      },
      streamItem(channel, 'g:%(unknown)s;'),
      streamItem(channel, 'h:end\n'),
    );
    expect(await filtered.waitForText('end\n')).toBe(
      'open\nc:needs-members;d:hi Al;f:alice;h:end\n',
    );
    expect(await plain.waitForText('end\n')).toBe(
      'open\na:skipped-for-alice;b:needs-other;c:needs-members;d:hi %(nick)s;e:mismatch;g:%(unknown)s;h:end\n',
    );
  });

  it('unknown filters are logged once per hold and ignored', async () => {
    const channel = uniqueName('flt');
    const path = streamOn(
      `${channel}; filter=no-such-filter; filter=other-typo; filter=skip-self`,
      {
        'Grip-Set-Meta': 'user="alice"',
      },
      'open\n',
    );
    const stream = await holdStream(path, channel);
    const warning = await suite.thumbtack.waitForLog(
      (l) =>
        l.msg === 'ignoring GRIP filters thumbtack does not implement' && l['route'] !== undefined,
    );
    expect(warning.level).toBe('warn');
    expect(warning['filters']).toEqual(['no-such-filter', 'other-typo']);
    await publishOk(
      suite.thumbtack,
      streamItem(channel, 'mine;', { meta: { sender: 'alice' } }),
      streamItem(channel, '%I;'),
      {
        channel,
        formats: {
          'http-stream': { content: 'unknown;', 'content-filters': ['no-such-filter'] },
        },
      },
      streamItem(channel, 'end\n'),
    );
    expect(await stream.waitForText('end\n')).toBe('open\n%I;end\n');
  });

  it('a hold naming http-check or http-modify is refused with 502 and a warning naming them', async () => {
    const channel = uniqueName('net');
    const path = streamOn(`${channel}; filter=http-check, other; filter=http-modify`);
    const refused = await openStream(`${suite.thumbtack.url}${path}`);
    expect(refused.status).toBe(502);
    await refused.waitForEnd();
    const warning = await suite.thumbtack.waitForLog(
      (l) => l.msg === 'refusing a hold: thumbtack does not implement these GRIP filters',
    );
    expect(warning.level).toBe('warn');
    expect(warning['route']).toBeDefined();
    expect(warning['filters']).toEqual(['http-check', 'http-modify']);
  });

  it('a next link naming http-check ends the stream after what was sent', async () => {
    const channel = uniqueName('net');
    const base = `/${uniqueName('page')}`;
    suite.backend.on(`${base}/1`, answer({ 'Grip-Link': `<${base}/2>; rel=next` }, 'one\n'));
    suite.backend.on(
      `${base}/2`,
      answer({ 'Grip-Hold': 'stream', 'Grip-Channel': `${channel}; filter=http-check` }, 'two\n'),
    );
    const stream = await openStream(`${suite.thumbtack.url}${base}/1`);
    expect(stream.status).toBe(200);
    expect(await stream.waitForEnd()).toBe('one\n');
  });
});
