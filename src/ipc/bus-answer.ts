/*
 * What proxy workers tell the handler about asked items (src/ipc/delivery.ts DeliveryAsk):
 * per receipt, the connections an item was written to and why not; a channel's connection
 * ids (deliver-to-one); a client's acknowledgement; and holds' resume requests. They travel on the stats socket
 * (`--stats`, ZeroMQ PUSH → PULL) beside the once-a-second worker reports, batched per
 * event-loop turn, and start with a byte no JSON report starts with.
 */

/** A worker's count for one receipt: connections that listened, written, dropped by reason. */
export interface Tally {
  listeners: number;
  written: number;
  /** Drop reasons as thumbtack_drops_total names them; only those that happened. */
  dropped: Record<string, number>;
}

export type BusAnswer =
  | ({ kind: 'tally'; receipt: number; worker: string } & Tally)
  | { kind: 'listeners'; receipt: number; worker: string; connections: string[] }
  /** The client acknowledged the item of this receipt. */
  | { kind: 'ack'; receipt: number }
  /**
   * A client acknowledged `item` on a worker that does not hold `connection` (an HTTP ack
   * request lands on any worker, any node): the handler passes it on to the holder.
   */
  | { kind: 'client-ack'; connection: string; item: string }
  /** Acknowledgements for items nobody waits for (unknown, already acknowledged, late). */
  | { kind: 'unknown-acks'; count: number }
  /**
   * A hold's resume request (src/ipc/delivery.ts encodeResumeTopic) on a channel whose bus
   * subscription the handler has seen already; answered on the bus like a subscribed topic.
   */
  | { kind: 'resume'; topic: string };

const ANSWERS_MARK = 0x01;

export function encodeBusAnswers(answers: readonly BusAnswer[]): Buffer {
  const json = JSON.stringify(answers);
  const message = Buffer.allocUnsafe(1 + Buffer.byteLength(json));
  message[0] = ANSWERS_MARK;
  message.write(json, 1, 'utf8');
  return message;
}

/** Whether a stats-socket message is a batch of answers rather than a worker report. */
export function isBusAnswers(message: Buffer): boolean {
  return message[0] === ANSWERS_MARK;
}

/** The well-formed answers of a batch (a malformed one is left out); undefined: not a batch. */
export function decodeBusAnswers(message: Buffer): BusAnswer[] | undefined {
  if (!isBusAnswers(message)) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(message.toString('utf8', 1));
  } catch {
    return undefined;
  }
  if (!Array.isArray(value)) return undefined;
  return value.filter(isBusAnswer);
}

function isCount(value: unknown): value is number {
  return Number.isInteger(value) && (value as number) >= 0;
}

function isBusAnswer(value: unknown): value is BusAnswer {
  if (typeof value !== 'object' || value === null) return false;
  const answer = value as Record<string, unknown>;
  switch (answer['kind']) {
    case 'tally':
      return (
        isCount(answer['receipt']) &&
        typeof answer['worker'] === 'string' &&
        isCount(answer['listeners']) &&
        isCount(answer['written']) &&
        isDropCounts(answer['dropped'])
      );
    case 'listeners':
      return (
        isCount(answer['receipt']) &&
        typeof answer['worker'] === 'string' &&
        Array.isArray(answer['connections']) &&
        answer['connections'].every((id) => typeof id === 'string')
      );
    case 'ack':
      return isCount(answer['receipt']);
    case 'client-ack':
      return typeof answer['connection'] === 'string' && typeof answer['item'] === 'string';
    case 'unknown-acks':
      return isCount(answer['count']);
    case 'resume':
      return typeof answer['topic'] === 'string';
    default:
      return false;
  }
}

export function isDropCounts(value: unknown): value is Record<string, number> {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    Object.values(value).every(isCount)
  );
}
