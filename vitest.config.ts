// The suite in three vitest projects: `unit` for the quick loop, `integration` for real sockets on
// loopback, `slow` for what CI runs on one Node line only (end to end, browser, soak, fleet).
import { defineConfig } from 'vitest/config';

// How a new test file lands in a project: by its folder. test/unit/** is `unit`,
// test/integration/** is `integration`, test/e2e/** and test/browser/** are `slow`. A file under
// test/integration/ that takes more than ~20 s on its own goes in SLOW below, by path; nothing else
// needs listing, so a new file never touches this config unless it is slow.
const SLOW = [
  'test/integration/soak.test.ts', // 15 s of churn plus the soak's own start and settle
  'test/integration/store/fleet.test.ts', // two gateways on a real PostgreSQL, with an outage
  // Three gateway starts on the embedded store: 38-130 s alone on PGlite. Re-measure when the store
  // moves to node:sqlite; under ~20 s it belongs back in `integration`, on every Node line.
  'test/integration/store/embedded.test.ts',
];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default'],
    expect: {
      // A test that asserts nothing fails: finishing is not passing.
      requireAssertions: true,
      // expect.poll's own default (1 s) is too short on a loaded machine; a test may pass its own.
      poll: { timeout: 10_000 },
    },
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        extends: true,
        test: { name: 'integration', include: ['test/integration/**/*.test.ts'], exclude: SLOW },
      },
      {
        extends: true,
        test: { name: 'slow', include: ['test/e2e/**/*.test.ts', 'test/browser/**/*.test.ts', ...SLOW] },
      },
    ],
  },
});
