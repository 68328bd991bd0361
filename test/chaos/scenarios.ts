import type { Scenario } from './record.js';
import { backendFlap } from './scenarios/backend-flap.js';
import { handlerKill } from './scenarios/handler-kill.js';
import { redisOutage } from './scenarios/redis-outage.js';
import { workerKill } from './scenarios/worker-kill.js';
import { slowConsumers } from './scenarios/slow-consumers.js';
import { fdExhaustion } from './scenarios/fd-exhaustion.js';
import { memoryChurn } from './scenarios/memory-churn.js';

/** Every chaos scenario, in the order `npm run chaos` runs them. */
export const scenarios: Scenario[] = [
  handlerKill,
  workerKill,
  backendFlap,
  redisOutage,
  slowConsumers,
  fdExhaustion,
  memoryChurn,
];
