/**
 * What one chaos scenario reports: the same fields for every scenario, so that runs can be
 * compared and the README's Reliability table can be built from the JSON lines.
 */
export interface ChaosRecord {
  scenario: string;
  /** The load held during the fault, in words ("500 SSE + 120 req/s + 20 publishes/s"). */
  load: string;
  faultsInjected: number;
  requestsSent: number;
  requestsFailed: number;
  connectionsHeld: number;
  connectionsLost: number;
  itemsPublished: number;
  itemsLost: number;
  itemsDuplicated: number;
  /** Worst time from a fault's end to full service again, in ms; null when not applicable. */
  recoveryMs: number | null;
  /** Figures particular to the scenario (peak RSS, refused publishes...), named with units. */
  extra: Record<string, number | string>;
  /** Every expectation that did not hold, in words; empty when the scenario passed. */
  failures: string[];
}

export interface ScenarioOptions {
  /** The short form run by `npm test`: the same fault, a smaller load and fewer repeats. */
  short: boolean;
  /** Where scenario processes may write files (routes, logs). */
  dir: string;
}

export interface Scenario {
  /** Kebab-case name, used by `npm run chaos -- --scenario NAME`. */
  name: string;
  /** One line: the fault and the expected figures in brackets. */
  summary: string;
  run(options: ScenarioOptions): Promise<ChaosRecord>;
}

/** The one human line printed for a record. */
export function describeRecord(r: ChaosRecord): string {
  const recovery = r.recoveryMs === null ? 'n/a' : `${r.recoveryMs} ms`;
  const extra = Object.entries(r.extra)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  return (
    `${r.failures.length === 0 ? 'PASS' : 'FAIL'} ${r.scenario}: ${r.load}; ` +
    `${r.faultsInjected} faults; requests failed ${r.requestsFailed}/${r.requestsSent}; ` +
    `connections lost ${r.connectionsLost}/${r.connectionsHeld}; ` +
    `items lost ${r.itemsLost}, duplicated ${r.itemsDuplicated} of ${r.itemsPublished}; ` +
    `recovery ${recovery}${extra ? `; ${extra}` : ''}` +
    r.failures.map((f) => `\n  - ${f}`).join('')
  );
}
