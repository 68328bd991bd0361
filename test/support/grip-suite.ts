import { afterAll, beforeAll } from 'vitest';
import { stopAllBackends } from './backend.js';
import { startPathBackend, type PathBackend, type StreamClient } from './grip.js';
import {
  startThumbtack,
  stopAllThumbtacks,
  type StartOptions,
  type Thumbtack,
} from './thumbtack.js';

/*
 * The shape most GRIP integration files share: one path backend and one thumbtack in
 * front of it for the whole file, plus the streams its tests open, all closed afterwards.
 */

export interface GripSuiteOptions extends Omit<StartOptions, 'routes'> {
  /** The routes file text, given the backend's `host:port`. */
  routes: (backendTarget: string) => string;
}

export interface GripSuite {
  /** Set in `beforeAll`. */
  readonly backend: PathBackend;
  /** Set in `beforeAll`. */
  readonly thumbtack: Thumbtack;
  /** Streams a test opened; closed in `afterAll`. */
  readonly streams: StreamClient[];
}

/** Registers this file's `beforeAll`/`afterAll` that start and stop the backend and thumbtack. */
export function useGripSuite(options: GripSuiteOptions): GripSuite {
  let backend: PathBackend | undefined;
  let thumbtack: Thumbtack | undefined;
  const streams: StreamClient[] = [];
  beforeAll(async () => {
    backend = await startPathBackend();
    thumbtack = await startThumbtack({ ...options, routes: options.routes(backend.target) });
  });
  afterAll(async () => {
    for (const stream of streams) stream.close();
    await stopAllThumbtacks();
    await stopAllBackends();
  });
  return {
    get backend() {
      if (!backend) throw new Error('the GRIP suite backend starts in beforeAll');
      return backend;
    },
    get thumbtack() {
      if (!thumbtack) throw new Error('the GRIP suite thumbtack starts in beforeAll');
      return thumbtack;
    },
    streams,
  };
}
