'use strict';
// The whole HTTP contract on the embedded SQLite store, behind each web
// server with its shipped configuration.

const path = require('node:path');
const { contractSuite } = require('../lib/contract');
const { startStack } = require('../lib/stack');
const { holdWriteLock } = require('../lib/sqlite');

// A short deadline, so a write that waits for a lock another process
// holds gives up quickly with 503.
const TIMEOUT_MS = 1000;
const env = { CANDIDATES_STORE: 'sqlite', CANDIDATES_TIMEOUT_MS: String(TIMEOUT_MS) };

for (const web of ['nginx', 'lighttpd']) {
  let lock = null;
  contractSuite(`sqlite/${web}`, () => startStack({ web, env }), {
    outage: {
      async begin(stack) {
        lock = await holdWriteLock(path.join(stack.dir, 'candidates.db'));
      },
      async end() {
        if (lock !== null) await lock.release();
        lock = null;
      },
      // WAL readers do not wait for the writer's lock.
      readsFail: false,
      // The deadline covers the whole store call; the rest is the round
      // trip under the sanitizers.
      maxMs: TIMEOUT_MS + 1500,
    },
  });
}
