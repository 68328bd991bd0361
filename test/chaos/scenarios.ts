import type { Scenario } from './record.js';
import { backendFlap } from './scenarios/backend-flap.js';
import { handlerKill } from './scenarios/handler-kill.js';
import { redisOutage } from './scenarios/redis-outage.js';
import { workerKill } from './scenarios/worker-kill.js';

/** Every chaos scenario, in the order `npm run chaos` runs them. */
export const scenarios: Scenario[] = [handlerKill, workerKill, backendFlap, redisOutage];
