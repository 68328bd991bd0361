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
    const deviating = ofRoute.filter((r) => r.deviations.length > 0);
    if (deviating.length > 0) lines.push(`Deviations (${route}):`, '');
    for (const result of deviating) {
      const known = knownDeviation(result.testCase.id);
      lines.push(
        `- ${result.testCase.id} ${result.testCase.title}: ${result.deviations.join('; ')}` +
          ` [${known ? `known: ${known}` : 'NEW'}]`,
      );
    }
    if (deviating.length > 0) lines.push('');
  }
  return lines.join('\n');
}
