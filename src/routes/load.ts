import fs from 'node:fs';
import { ConfigError } from '../errors.js';
import { parseRoutes } from './parse.js';
import { buildRouteTable, type RouteTable } from './route-table.js';

/** Reads, parses and arranges a routes file; throws with `file:line` on any problem. */
export function loadRoutesFile(fileName: string): { table: RouteTable; warnings: string[] } {
  let text: string;
  try {
    text = fs.readFileSync(fileName, 'utf8');
  } catch (err) {
    throw new ConfigError(
      `--routes: cannot read "${fileName}" (${(err as NodeJS.ErrnoException).code ?? 'error'}); give an existing Pushpin routes file`,
    );
  }
  const table = buildRouteTable(parseRoutes(text, fileName));
  if (table.table.routes.length === 0) {
    throw new ConfigError(
      `--routes: "${fileName}" has no routes; add a line such as "* localhost:8000"`,
    );
  }
  return table;
}
