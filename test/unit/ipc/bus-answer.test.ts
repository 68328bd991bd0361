import { describe, expect, it } from 'vitest';
import {
  decodeBusAnswers,
  encodeBusAnswers,
  isBusAnswers,
  type BusAnswer,
} from '../../../src/ipc/bus-answer.js';
import { decodeNodeReply, encodeNodeReply, type NodeReply } from '../../../src/ipc/node-reply.js';
import { encodeWorkerReport } from '../../../src/ipc/worker-report.js';

describe('bus answers (worker → handler)', () => {
  const every: BusAnswer[] = [
    { kind: 'tally', receipt: 1, worker: 'w', listeners: 3, written: 2, dropped: { filter: 1 } },
    { kind: 'listeners', receipt: 2, worker: 'w', connections: ['a', 'b'] },
    { kind: 'ack', receipt: 3 },
    { kind: 'client-ack', connection: 'c', item: 'i' },
    { kind: 'unknown-acks', count: 4 },
    { kind: 'resume', topic: '\u0000resume:["w:1","ch","7"]' },
  ];

  it('round-trips every kind in one batch, told apart from a worker report', () => {
    const message = encodeBusAnswers(every);
    expect(isBusAnswers(message)).toBe(true);
    expect(decodeBusAnswers(message)).toEqual(every);
    const report = encodeWorkerReport({
      worker: 'w',
      pid: 1,
      metrics: [],
      channels: [],
      errors: [],
    });
    expect(isBusAnswers(report)).toBe(false);
    expect(decodeBusAnswers(report)).toBeUndefined();
  });

  it('leaves out malformed answers and refuses what is not a batch', () => {
    const bad = [
      { kind: 'tally', receipt: -1, worker: 'w', listeners: 0, written: 0, dropped: {} },
      { kind: 'tally', receipt: 1, worker: 'w', listeners: 0, written: 0, dropped: { x: 'y' } },
      { kind: 'listeners', receipt: 1, worker: 'w', connections: [1] },
      { kind: 'ack' },
      { kind: 'client-ack', connection: 'c' },
      { kind: 'unknown-acks', count: 1.5 },
      { kind: 'resume', topic: 7 },
      { kind: 'other' },
      null,
      'text',
    ];
    const mixed = Buffer.concat([
      Buffer.from([1]),
      Buffer.from(JSON.stringify([...bad, every[2]])),
    ]);
    expect(decodeBusAnswers(mixed)).toEqual([every[2]]);
    expect(decodeBusAnswers(Buffer.from([1, 0x7b]))).toBeUndefined();
    expect(decodeBusAnswers(Buffer.concat([Buffer.from([1]), Buffer.from('{}')]))).toBeUndefined();
  });
});

describe('node replies (node → origin node, Redis)', () => {
  it('round-trips an answer and an ack, and refuses malformed replies', () => {
    const answer: NodeReply = {
      kind: 'answer',
      receipt: 9,
      node: 'n',
      listeners: 2,
      written: 1,
      dropped: { slow_client: 1 },
      connections: ['x'],
      workers: { answered: 2, asked: 2 },
    };
    expect(decodeNodeReply(encodeNodeReply(answer))).toEqual(answer);
    expect(decodeNodeReply(Buffer.from(encodeNodeReply({ kind: 'ack', receipt: 9 })))).toEqual({
      kind: 'ack',
      receipt: 9,
    });
    for (const bad of [
      'nope',
      '{}',
      JSON.stringify({ ...answer, workers: undefined }),
      JSON.stringify({ ...answer, connections: 'x' }),
      JSON.stringify({ ...answer, receipt: 'x' }),
      JSON.stringify({ ...answer, kind: 'other' }),
    ]) {
      expect(decodeNodeReply(bad)).toBeUndefined();
    }
  });
});
