import type { Scenario } from './record.js';

/** Every chaos scenario, in the order `npm run chaos` runs them. */
export const scenarios: Scenario[] = [];

import { slowConsumers } from './scenarios/slow-consumers.js';
scenarios.push(slowConsumers);

import { fdExhaustion } from './scenarios/fd-exhaustion.js';
scenarios.push(fdExhaustion);

import { memoryChurn } from './scenarios/memory-churn.js';
scenarios.push(memoryChurn);
