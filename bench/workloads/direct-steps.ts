/** The bound on the receipt answer's p99 for direct publishes. */
export const directTargetP99Ms = 50;
/** A step is sustained when it answers this share of its target rate with nothing lost. */
export const sustainedShare = 0.9;

/** One rate step of `direct`: what was sent, how it was answered, what arrived. */
export interface DirectStep {
  /** Target publishes/s. */
  target: number;
  sent: number;
  /** Publishes answered with any HTTP status. */
  answered: number;
  /** Publishes/s answered over the step (its duration, or until the last answer). */
  achieved: number;
  /** Publishes whose receipt said the item was written to its connection. */
  written: number;
  /** Measured items the clients received. */
  received: number;
  /** Items received again, or after a later one to the same connection (not in `received`). */
  duplicates: number;
  /** Publish sent → HTTP answer with the receipt, ms. */
  receiptP50: number | null;
  receiptP99: number | null;
  receiptMax: number | null;
  /** Publish sent → the client read the item, ms. */
  deliveryP50: number | null;
  deliveryP99: number | null;
  /** Receipt said written, the client never got it. */
  writtenNotReceived: number;
  /** Receipt said not written (404, `written` 0), or no receipt came at all. */
  notWritten: number;
  /** The client got items whose receipt said not written: a wrong receipt. */
  receivedNotWritten: number;
  /** Sent items that did not reach their client. */
  lost: number;
  /** Answers other than 200, by status. */
  non200: Record<string, number>;
  /** Publishes that got no HTTP answer, by error. */
  errors: Record<string, number>;
  isSustained: boolean;
}

export interface StepLoss {
  lost: number;
  writtenNotReceived: number;
  notWritten: number;
  receivedNotWritten: number;
}

/** Splits what did not arrive by what the receipts said about it. */
export function stepLoss(sent: number, written: number, received: number): StepLoss {
  return {
    lost: Math.max(0, sent - received),
    writtenNotReceived: Math.max(0, written - received),
    notWritten: sent - written,
    receivedNotWritten: Math.max(0, received - written),
  };
}

/** Sustained: every publish answered 200 and delivered once, at ≥ 90 % of the target rate. */
export function isSustained(
  step: Pick<DirectStep, 'target' | 'achieved' | 'lost' | 'duplicates' | 'non200' | 'errors'>,
): boolean {
  return (
    step.lost === 0 &&
    step.duplicates === 0 &&
    Object.keys(step.non200).length === 0 &&
    Object.keys(step.errors).length === 0 &&
    step.achieved >= sustainedShare * step.target
  );
}

export interface DirectHeadline {
  /** The fastest sustained step whose receipt p99 is within the target, if any. */
  best: DirectStep | undefined;
  /** Highest publishes/s answered in any step, sustained or not. */
  maxAchieved: number;
}

export function directHeadline(steps: DirectStep[]): DirectHeadline {
  let best: DirectStep | undefined;
  for (const step of steps) {
    const isWithin =
      step.isSustained && step.receiptP99 !== null && step.receiptP99 <= directTargetP99Ms;
    if (isWithin && (best === undefined || step.achieved > best.achieved)) best = step;
  }
  return { best, maxAchieved: Math.max(0, ...steps.map((s) => s.achieved)) };
}
