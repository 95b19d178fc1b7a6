'use strict';
// The whole HTTP contract on the embedded SQLite store, behind each web
// server with its shipped configuration.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { describe, it } = require('node:test');
const { contractSuite, expectJson, show } = require('../lib/contract');
const { startStack, assertNoSanitizerReport, request } = require('../lib/stack');
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

// Two apps on one SQLite file, as two instances of the service on one host
// would be, each behind its own web server and writing with 16 requests in
// flight while the other does too. No write may fail or be lost, and a 200
// means committed: the name is readable through the other app at once.
describe('sqlite: two apps writing one file', () => {
  const INFLIGHT = 16;
  const PER_APP = 128;

  it(`${INFLIGHT} writers in each, every name readable through the other after its 200`, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'candidates-shared-'));
    // The default deadline: this is about contention, not outages.
    const shared = { CANDIDATES_STORE: 'sqlite', CANDIDATES_SQLITE_PATH: path.join(dir, 'candidates.db') };
    const stacks = [];
    try {
      stacks.push(await startStack({ web: 'nginx', env: shared }));
      stacks.push(await startStack({ web: 'lighttpd', env: shared }));
      const write = async (me, other, lane) => {
        for (let i = lane; i < PER_APP; i += INFLIGHT) {
          const name = `app${me}-${i}`;
          const put = await request(stacks[me].url, 'POST', `/candidate/${name}`);
          expectJson(put, 200, { CandidateName: name });
          const got = await request(stacks[other].url, 'GET', `/candidate/${name}`);
          assert.equal(got.status, 200, `${name}: 200 from app ${me}, then ${show(got)} from app ${1 - me}`);
        }
      };
      const lanes = [];
      for (let lane = 0; lane < INFLIGHT; lane++) lanes.push(write(0, 1, lane), write(1, 0, lane));
      await Promise.all(lanes);
      for (const [n, s] of stacks.entries()) {
        const res = await request(s.url, 'GET', '/candidates');
        assert.equal(res.status, 200, `app ${n}: ${show(res)}`);
        assert.equal(res.json().length, 2 * PER_APP, `app ${n} lists every name once`);
      }
    } finally {
      for (const s of stacks) {
        await s.stop();
        assertNoSanitizerReport(s.logText());
      }
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
