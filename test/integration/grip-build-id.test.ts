import type http from 'node:http';
import { EventSource, type FetchLike } from 'eventsource';
import { fetch as undiciFetch } from 'undici';
import { describe, expect, it } from 'vitest';
import { answer, openStream, publishOk, uniqueName } from '../support/grip.js';
import { waitForSubscribed } from '../support/channel-events.js';
import { useGripSuite } from '../support/grip-suite.js';

/*
 * The build-id filter end to end, with a backend that speaks django-eventstream's storage
 * ("reliable delivery") mode on the wire: its stream hold (prev-id, filter=build-id,
 * id_format sub meta, next link with recover=true), its `%`-escaped events with ids
 * `<channel>:<id>`, and send_event's publish (`id: %I`, content-filters build-id, id and
 * prev-id from its storage).
 */

const suite = useGripSuite({
  routes: (target) => `* ${target}\n`,
  // Debug logs include the handler's bus subscribe lines: proof that a hold is in place.
  args: ['--log-level', 'debug'],
});

interface StoredEvent {
  id: number;
  type: string;
  data: string;
}

/** django_eventstream.utils.sse_encode_event with escape=True: `%` doubled for build-id. */
function sseEvent(type: string, data: string, id: string, escape = true): string {
  const esc = (s: string) => (escape ? s.replaceAll('%', '%%') : s);
  const lines = esc(data)
    .split(/\r\n|\r|\n/)
    .map((line) => `data: ${line}\n`)
    .join('');
  return `event: ${esc(type)}\nid: ${id}\n${lines}\n`;
}

/** One django-eventstream channel with its event storage, served at `path`. */
class EventStreamBackend {
  readonly events: StoredEvent[] = [];
  readonly gripChannel: string;
  readonly path = `/${uniqueName('events')}/`;

  constructor(readonly channel: string) {
    this.gripChannel = `events-${channel}`;
    suite.backend.on(this.path, (req, res) => this.serve(req, res));
  }

  /** storage.append_event, without the publish (an event the client missed). */
  append(type: string, data: string): StoredEvent {
    const event = { id: this.events.length + 1, type, data };
    this.events.push(event);
    return event;
  }

  /** send_event: stores the event and publishes it as django-eventstream does. */
  async send(type: string, data: string): Promise<void> {
    const event = this.append(type, data);
    await publishOk(suite.thumbtack, {
      channel: this.gripChannel,
      id: String(event.id),
      'prev-id': String(event.id - 1),
      formats: {
        'http-stream': {
          content: sseEvent(type, data, '%I'),
          'content-filters': ['build-id'],
        },
      },
    });
  }

  /** EventResponse.to_grip_response for one reliable channel and an anonymous user. */
  private serve(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://backend');
    const isNext = url.searchParams.get('link') === 'next';
    let lastId: number | undefined;
    if (url.searchParams.get('recover') === 'true') {
      for (const part of String(req.headers['grip-last'] ?? '').split(',')) {
        const [name, param] = part.split(';').map((s) => s.trim());
        if (name === this.gripChannel) lastId = Number(param!.replace('last-id=', ''));
      }
    } else if (req.headers['last-event-id']) {
      for (const part of String(req.headers['last-event-id']).split(',')) {
        const [name, id] = part.split(':');
        if (name === this.channel) lastId = Number(id);
      }
    }
    let body = isNext ? '' : `:${' '.repeat(2048)}\n\nevent: stream-open\ndata:\n\n`;
    let last = lastId ?? this.events.length;
    if (lastId !== undefined) {
      for (const event of this.events.filter((e) => e.id > lastId)) {
        last = event.id;
        body += sseEvent(event.type, event.data, `${this.channel}:${event.id}`);
      }
    }
    const next = `${this.path}?link=next&recover=true`;
    res.writeHead(200, {
      'Content-Type': 'text/event-stream',
      'Cache-Control': 'no-cache',
      'X-Accel-Buffering': 'no',
      'Grip-Hold': 'stream',
      'Grip-Channel': `${this.gripChannel}; prev-id=${last}; filter=build-id; filter=skip-users, user-anonymous; filter=require-sub`,
      'Grip-Keep-Alive': 'event: keep-alive\\ndata:\\n\\n; format=cstring; timeout=20',
      'Grip-Set-Meta': `id_format="${this.channel}:%(${this.gripChannel})s", user="anonymous"`,
      'Grip-Link': `<${next}>; rel=next`,
    });
    res.end(body);
  }
}

interface ReceivedEvent {
  type: string;
  data: string;
  id: string;
}

/** An eventsource client recording the given event types, with a bounded wait. */
function listen(url: string, types: string[]) {
  const source = new EventSource(url, { fetch: undiciFetch as unknown as FetchLike });
  const events: ReceivedEvent[] = [];
  const wake = new Set<() => void>();
  for (const type of types) {
    source.addEventListener(type, (event: MessageEvent<string>) => {
      events.push({ type: event.type, data: event.data, id: event.lastEventId });
      for (const fn of wake) fn();
    });
  }
  const waitForEvents = (count: number) =>
    new Promise<ReceivedEvent[]>((resolve, reject) => {
      const check = () => {
        if (events.length < count) return;
        clearTimeout(timer);
        wake.delete(check);
        resolve(events);
      };
      const timer = setTimeout(() => {
        wake.delete(check);
        reject(new Error(`only ${JSON.stringify(events)} within 5 s`));
      }, 5_000);
      wake.add(check);
      check();
    });
  return { source, events, waitForEvents };
}

describe('build-id with django-eventstream storage mode', () => {
  it('live events get their id: line from id_format, %% becomes %, and a Last-Event-ID reconnect replays with single %', async () => {
    const backend = new EventStreamBackend(uniqueName('room'));
    backend.append('message', '{"text": "old"}');
    backend.append('message', '{"text": "older"}');
    backend.append('message', '{"text": "oldest"}');
    const client = listen(`${suite.thumbtack.url}${backend.path}`, ['stream-open', 'message']);
    try {
      await Promise.all([
        client.waitForEvents(1),
        waitForSubscribed(suite.thumbtack, backend.gripChannel),
      ]);
      const [first] = suite.backend.requestsTo(backend.path);
      expect(String(first!.headers['grip-feature']).split(', ')).toContain('filter:build-id');

      await backend.send('message', '{"text": "100% percent sign"}');
      await backend.send('message', '{"text": "second, 50%"}');
      expect(await client.waitForEvents(3)).toEqual([
        { type: 'stream-open', data: '', id: '' },
        { type: 'message', data: '{"text": "100% percent sign"}', id: `${backend.channel}:4` },
        { type: 'message', data: '{"text": "second, 50%"}', id: `${backend.channel}:5` },
      ]);
    } finally {
      client.source.close();
    }

    // Missed while away: the reconnect's initial body replays them, %-escaped by Django.
    backend.append('message', '{"text": "missed 100% percent sign"}');
    const reconnect = await openStream(`${suite.thumbtack.url}${backend.path}`, {
      headers: { 'Last-Event-ID': `${backend.channel}:5` },
    });
    suite.streams.push(reconnect);
    const replayed = `event: message\nid: ${backend.channel}:6\ndata: {"text": "missed 100% percent sign"}\n\n`;
    expect(await reconnect.waitForText(replayed)).toContain(replayed);
    expect(reconnect.text()).not.toContain('%%');

    // The hold now follows on from 6; the next live event gets id 7.
    await waitForSubscribed(suite.thumbtack, backend.gripChannel);
    await backend.send('message', '{"text": "live again, 1%"}');
    const live = `event: message\nid: ${backend.channel}:7\ndata: {"text": "live again, 1%"}\n\n`;
    expect(await reconnect.waitForText(live)).toContain(live);
  });

  it("a gap makes the proxy fetch the next link; that body's %% become % too", async () => {
    const backend = new EventStreamBackend(uniqueName('room'));
    backend.append('message', '{"text": "before"}');
    const [stream] = await Promise.all([
      openStream(`${suite.thumbtack.url}${backend.path}`),
      waitForSubscribed(suite.thumbtack, backend.gripChannel),
    ]);
    suite.streams.push(stream);
    await backend.send('message', '{"text": "live 2%"}');
    await stream.waitForText('data: {"text": "live 2%"}\n\n');
    // Event 3's publish was lost; event 4's prev-id (3) does not follow the hold's 2. The
    // handler holds event 4 back for up to 5 s waiting for 3 (as Pushpin does), then sends it.
    backend.append('message', '{"text": "lost 3%"}');
    await backend.send('message', '{"text": "after the gap 4%"}');
    const recovered =
      `event: message\nid: ${backend.channel}:3\ndata: {"text": "lost 3%"}\n\n` +
      `event: message\nid: ${backend.channel}:4\ndata: {"text": "after the gap 4%"}\n\n`;
    expect(await stream.waitForText(recovered, 10_000)).toContain(
      `id: ${backend.channel}:2\ndata: {"text": "live 2%"}\n\n${recovered}`,
    );
    const [, nextLink] = suite.backend.requestsTo(backend.path);
    expect(nextLink!.url).toContain('link=next&recover=true');
    expect(nextLink!.headers['grip-last']).toBe(`${backend.gripChannel}; last-id=2`);
  });

  it('backend bodies through build-id: without id_format a stream ends and an unheld response is a 502; with it, %% becomes %', async () => {
    const channel = uniqueName('bad');
    const streamPath = `/${uniqueName('bad-stream')}`;
    suite.backend.on(
      streamPath,
      answer(
        { 'Grip-Hold': 'stream', 'Grip-Channel': `${channel}; filter=build-id` },
        'data: 100%% sure\n\n',
      ),
    );
    const stream = await openStream(`${suite.thumbtack.url}${streamPath}`);
    expect(stream.status).toBe(200);
    expect(await stream.waitForEnd()).toBe('');
    const warning = await suite.thumbtack.waitForLog(
      (l) => l.msg === 'filter error in a backend response; ending the stream',
    );
    expect(warning['err']).toBe("build-id: no sub meta 'id_format'");

    const plainPath = `/${uniqueName('bad-plain')}`;
    suite.backend.on(
      plainPath,
      answer({ 'Grip-Channel': `${channel}; filter=build-id` }, 'data: 100%% sure\n\n'),
    );
    const plain = await openStream(`${suite.thumbtack.url}${plainPath}`);
    expect(plain.status).toBe(502);

    // With id_format, the same unheld response gets single % signs, as from Pushpin.
    const goodPath = `/${uniqueName('good-plain')}`;
    suite.backend.on(
      goodPath,
      answer(
        { 'Grip-Channel': `${channel}; filter=build-id`, 'Grip-Set-Meta': 'id_format="x"' },
        'data: 100%% sure\n\n',
      ),
    );
    const good = await openStream(`${suite.thumbtack.url}${goodPath}`);
    expect(good.status).toBe(200);
    expect(await good.waitForEnd()).toBe('data: 100% sure\n\n');
  });
});
