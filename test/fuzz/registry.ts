import type { FuzzTarget } from './target.js';
import { configTargets } from './targets/config.js';
import { gripContentTargets } from './targets/grip-content.js';
import { gripHeaderTargets } from './targets/grip-headers.js';
import { gripSigTargets } from './targets/grip-sig.js';
import { gripWireTargets } from './targets/grip-wire.js';

/** Every fuzz target, in the order `npm test` and `npm run fuzz` run them. */
export const fuzzTargets: readonly FuzzTarget[] = [
  ...gripWireTargets,
  ...gripHeaderTargets,
  ...gripContentTargets,
  ...gripSigTargets,
  ...configTargets,
];
