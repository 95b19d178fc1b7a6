'use strict';
// Runs the Postman collection users run against a live deployment, with
// newman, against the local stack: every pm.test must pass.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { describe, it, before, after } = require('node:test');
const newman = require('newman');
const { startStack, assertNoSanitizerReport, request } = require('../lib/stack');

const dir = path.join(__dirname, '..', 'postman');
const collection = JSON.parse(
  fs.readFileSync(path.join(dir, 'candidates.postman_collection.json'), 'utf8'));
const environment = JSON.parse(
  fs.readFileSync(path.join(dir, 'local.postman_environment.json'), 'utf8'));

function run(baseUrl) {
  return new Promise((resolve, reject) => {
    newman.run({
      collection,
      environment,
      envVar: [{ key: 'baseUrl', value: baseUrl }],
      reporters: [],
      timeoutRequest: 15000,
    }, (err, summary) => (err ? reject(err) : resolve(summary)));
  });
}

// "<request>: <assertion>: <message>" for each failure newman saw,
// assertion failures and request errors alike.
function failures(summary) {
  return summary.run.failures.map((f) => `${f.source?.name ?? '?'}: ` +
    `${f.error?.test ?? f.at ?? ''}: ${f.error?.message ?? f.error}`);
}

describe('postman collection through newman', () => {
  for (const web of ['nginx', 'lighttpd']) {
    describe(web, () => {
      let stack = null;
      before(async () => { stack = await startStack({ web }); });
      after(async () => {
        const r = await stack.stop();
        assertNoSanitizerReport(stack.logText());
        assert.deepEqual(r, { code: 0, signal: null });
      });

      it('every assertion passes, twice in a row on the same store', async () => {
        const tests = collection.item.reduce((n, item) => n + (item.event ?? [])
          .filter((e) => e.listen === 'test')
          .reduce((m, e) => m + e.script.exec.join('\n').split('pm.test(').length - 1, 0), 0);
        for (let i = 0; i < 2; i++) {
          const summary = await run(stack.url);
          assert.deepEqual(failures(summary), [], `run ${i + 1}`);
          const { requests, assertions } = summary.run.stats;
          assert.equal(requests.total, collection.item.length, 'requests sent');
          assert.equal(assertions.failed, 0);
          assert.equal(assertions.total, tests, 'pm.test assertions run');
        }
        // Each run wrote its two names and nothing else: four in all.
        const res = await request(stack.url, 'GET', '/candidates');
        assert.equal(res.status, 200);
        const names = res.json().map((x) => x.CandidateName);
        assert.equal(names.length, 4, JSON.stringify(names));
        assert.equal(names.filter((n) => /^postman-[0-9a-z]+$/.test(n)).length, 2,
          JSON.stringify(names));
        assert.equal(names.filter((n) => /^postman José 候选人 😀 [0-9a-z]+$/.test(n)).length,
          2, JSON.stringify(names));
      });
    });
  }
});
