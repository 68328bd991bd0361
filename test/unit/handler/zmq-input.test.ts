import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import * as zmq from 'zeromq';
import { ZmqInput } from '../../../handler/inputs/zmq-input.js';
import { waitUntil } from '../../support/thumbtack.js';

/** The shared lifecycle, seen through the smallest input: every message is recorded. */
class RecordingInput extends ZmqInput<zmq.Pull> {
  readonly messages: string[][] = [];
  readonly logLines: Record<string, unknown>[];

  constructor(endpoint: string) {
    const logLines: Record<string, unknown>[] = [];
    const logger = pino(
      { level: 'debug' },
      { write: (line: string) => logLines.push(JSON.parse(line)) },
    );
    super(
      new zmq.Pull({ linger: 0 }),
      { endpoint, maxMessageSize: -1, logger, publish: () => {} },
      'zmq test',
    );
    this.logLines = logLines;
  }

  protected handle(message: Buffer[]): void {
    this.messages.push(message.map((part) => part.toString()));
  }
}

const opened: { close(): unknown }[] = [];

afterEach(async () => {
  for (const socket of opened.splice(0)) await socket.close();
});

describe('ZmqInput', () => {
  it('reports the endpoint before start and the bound address after', async () => {
    const input = new RecordingInput('tcp://127.0.0.1:*');
    opened.push(input);
    expect(input.address).toBe('tcp://127.0.0.1:*');
    await input.start();
    expect(input.address).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);
  });

  it('hands every received message to handle, in order, parts kept', async () => {
    const input = new RecordingInput('tcp://127.0.0.1:*');
    opened.push(input);
    await input.start();
    const push = new zmq.Push({ linger: 0 });
    opened.push(push);
    push.connect(input.address);
    await push.send('one');
    await push.send(['two', 'parts']);
    await waitUntil(() => input.messages.length === 2, 2_000);
    expect(input.messages).toEqual([['one'], ['two', 'parts']]);
  });

  it('closes quietly, twice, and before start', async () => {
    const input = new RecordingInput('tcp://127.0.0.1:*');
    await input.start();
    await input.close();
    await input.close();
    const unstarted = new RecordingInput('tcp://127.0.0.1:*');
    await unstarted.close();
    const errors = [...input.logLines, ...unstarted.logLines].filter((l) => l['level'] === 50);
    expect(errors).toEqual([]);
  });
});
