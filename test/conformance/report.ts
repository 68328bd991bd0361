import type { CaseGroup } from './case.js';
import { knownDeviation } from './known-deviations.js';
import { routeKinds, type CaseResult } from './run-case.js';

/** Per route: a table of groups (cases, conform, deviate), then every deviation with its reason. */
export function formatReport(groups: readonly CaseGroup[], results: readonly CaseResult[]): string {
  const lines: string[] = [];
  for (const route of routeKinds) {
    const ofRoute = results.filter((r) => r.route === route);
    if (ofRoute.length === 0) continue;
    lines.push(
      `### ${route}`,
      '',
      '| group | cases | conform | deviate |',
      '| --- | ---: | ---: | ---: |',
    );
    let total = 0;
    let conform = 0;
    for (const group of groups) {
      const ids = new Set(group.cases.map((c) => c.id));
      const inGroup = ofRoute.filter((r) => ids.has(r.testCase.id));
      const ok = inGroup.filter((r) => r.deviations.length === 0).length;
      total += inGroup.length;
      conform += ok;
      lines.push(
        `| ${group.id} ${group.title} | ${inGroup.length} | ${ok} | ${inGroup.length - ok} |`,
      );
    }
    lines.push(`| all | ${total} | ${conform} | ${total - conform} |`, '');
    // Grouped by reason, each reason once: most deviations share one uWS behaviour.
    const byReason = new Map<string, CaseResult[]>();
    for (const result of ofRoute.filter((r) => r.deviations.length > 0)) {
      const known = knownDeviation(result.testCase.id);
      const reason = known ? `known: ${known}` : 'NEW (not a known uWS deviation)';
      byReason.set(reason, [...(byReason.get(reason) ?? []), result]);
    }
    if (byReason.size > 0) lines.push(`Deviations (${route}):`, '');
    for (const [reason, deviating] of byReason) {
      lines.push(`- ${reason}`);
      for (const result of deviating) {
        const { id, title } = result.testCase;
        lines.push(`  - ${id} ${title}: ${result.deviations.join('; ')}`);
      }
    }
    if (byReason.size > 0) lines.push('');
  }
  return lines.join('\n');
}
