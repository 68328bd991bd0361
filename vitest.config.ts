import { configDefaults, defineConfig } from 'vitest/config';

/**
 * Load tests that measure delivery under churn: they run after the rest of the suite, alone,
 * so that the other files' processes do not starve the backend they run in-process (a
 * backend answering late is a 502/504 the test counts, not a thumbtack loss).
 */
const loadTests = ['test/integration/resume-drops.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 20_000,
    hookTimeout: 20_000,
    // Integration tests start real processes; two cores do not gain from more forks.
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    projects: [
      {
        extends: true,
        test: {
          name: 'suite',
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, ...loadTests],
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: { name: 'load', include: loadTests, sequence: { groupOrder: 1 } },
      },
    ],
  },
});
