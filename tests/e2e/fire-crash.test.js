'use strict';
// Issue 6, item 3: a worker dies. kill -9 of the app under load, through
// each web server: stack.sh starts it again at once (as systemd's
// Restart=on-failure does on a VM), the requests that fail are counted and
// bounded, the service answers again within a second (not yet behind
// lighttpd: see SLOW_RECOVERY), every write that was acknowledged with 200
// is there afterwards, and no web server retries a POST it may already
// have delivered.
//
// What fails: the requests the dead process had accepted (nginx and
// lighttpd answer 502/503 for them) and those that arrive while no
// process listens on the socket (a refused connect: 502/503 at once).

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { describe, it, after } = require('node:test');
const { ROOT, startStack, request, assertNoSanitizerReport, sleep } = require('../lib/stack');
const { startLoad, watchExit } = require('../soak/load');

const figures = [];
after(() => console.log(['worker-dies figures:', ...figures.map((f) => `  ${f}`)].join('\n')));

function figure(t, text) {
  figures.push(text);
  t.diagnostic(text);
}

function readPid(dir) {
  return Number(fs.readFileSync(path.join(dir, 'app.pid'), 'utf8').trim());
}

async function waitForNewPid(dir, old, ms) {
  const end = Date.now() + ms;
  for (;;) {
    let pid = null;
    try { pid = readPid(dir); } catch { /* being rewritten */ }
    if (pid && pid !== old) return pid;
    assert.ok(Date.now() < end, `no new app within ${ms} ms`);
    await sleep(5);
  }
}

// The names a listing holds.
async function listed(url) {
  const res = await request(url, 'GET', '/candidates', { timeoutMs: 30000 });
  assert.equal(res.status, 200, `listing: ${res.status}`);
  return new Set(res.json().map((x) => x.CandidateName));
}

describe('no web server config retries a POST it may have delivered', () => {
  it('nginx: fastcgi_next_upstream never has non_idempotent', () => {
    const conf = fs.readFileSync(path.join(ROOT, 'nginx-conf', 'nginx.conf'), 'utf8')
      .replace(/#.*$/gm, '');
    assert.doesNotMatch(conf, /non_idempotent/);
  });
});

// lighttpd disables a backend whose connect was refused and re-enables it
// from a once-a-second timer, so every request gets 503 for 1 to 3 s after
// the app dies, however fast it is back. Keeping the listening socket open
// across the restart (connections then wait in its backlog) removes that;
// see the report of issue 6.
const SLOW_RECOVERY = {
  lighttpd: 'lighttpd answers 503 for 1-3 s after a refused connect ' +
    '(backend disable timer); needs the socket kept open across restarts',
};

for (const web of ['nginx', 'lighttpd']) {
  describe(`kill -9 of the app under load, behind ${web}`, () => {
    const seen = {};

    it('bounded failures, only the web server\'s own, no acknowledged write lost',
      async (t) => {
        const stack = await startStack({ web });
        const results = [];
        // 12 clients: below the app's 14 store slots, so every failure
        // counted here is the kill's.
        const load = startLoad({ url: stack.url, clients: 12, names: `crash-${web}`,
          poolSize: 1e9, routes: ['post', 'get', 'gtg', 'get-missing'],
          onResult: (r) => results.push(r) });
        try {
          await sleep(1500);
          const old = readPid(stack.dir);
          const tKill = Date.now();
          process.kill(old, 'SIGKILL');
          assert.notEqual(await watchExit(old, 5000), null, 'the app survived SIGKILL');
          const fresh = await waitForNewPid(stack.dir, old, 5000);
          const tNew = Date.now();
          await sleep(4000);
          const stats = await load.stop();
          assert.match(stack.outputText() + stack.logText(), /died of signal 9/);

          const after = results.filter((r) => r.start >= tKill);
          const failed = results.filter((r) => !r.ok);
          const firstOk = after.filter((r) => r.ok).sort((a, b) => a.end - b.end)[0];
          const lastFail = failed.reduce((m, r) => Math.max(m, r.end), tKill);
          const how = {};
          for (const r of failed) {
            const k = `${r.method} ${r.err ? 'no answer' : r.status}`;
            how[k] = (how[k] || 0) + 1;
          }
          const before = results.filter((r) => r.end < tKill);
          const rate = Math.round(before.length / ((tKill - before[0].start) / 1000));
          seen.recovery = firstOk ? firstOk.end - tKill : Infinity;
          seen.lastFail = lastFail - tKill;
          figure(t, `${web}: kill -9 at ~${rate} req/s (12 clients): ${failed.length} of ` +
            `${stats.requests} requests failed (${JSON.stringify(how)}); new app after ` +
            `${tNew - tKill} ms; first answer after the kill at +${seen.recovery} ms; ` +
            `last failure at +${seen.lastFail} ms; ${stats.acked.size} writes acknowledged, ` +
            'all readable');

          // Failures only from the kill on, and only the web server's own
          // (the app's own answers are never the failure).
          for (const r of failed) {
            assert.ok(r.end >= tKill, `${r.method} ${r.target} failed before the kill`);
            assert.ok([500, 502, 503].includes(r.status),
              `${r.method} ${r.target}: ${r.status ?? r.err}`);
          }
          // Bounded in time; and in number, where the outage is short:
          // the requests in flight plus a second's worth at the rate before.
          assert.ok(seen.lastFail < 4000, `still failing ${seen.lastFail} ms after the kill`);
          if (!SLOW_RECOVERY[web]) assert.ok(failed.length <= 12 + rate, `${failed.length} failed`);

          // Every acknowledged write is there.
          const have = await listed(stack.url);
          const lost = [...stats.acked.keys()].filter((n) => !have.has(n));
          assert.deepEqual(lost.slice(0, 5), [], `${lost.length} acknowledged writes lost`);
          assert.ok(stats.acked.size > 100, `only ${stats.acked.size} writes acknowledged`);
          assert.equal((await request(stack.url, 'GET', '/gtg')).status, 200);
          assert.equal(readPid(stack.dir), fresh, 'the app died again');
        } finally {
          await load.stop();
          const r = await stack.stop();
          assertNoSanitizerReport(stack.logText());
          assert.deepEqual({ code: r.code, signal: r.signal }, { code: 0, signal: null });
        }
      });

    it('answering again within 1 s of the kill', { todo: SLOW_RECOVERY[web] ?? false }, () => {
      assert.ok(seen.recovery !== undefined, 'the kill test did not run');
      assert.ok(seen.recovery < 1000 && seen.lastFail < 1000,
        `first answer +${seen.recovery} ms, last failure +${seen.lastFail} ms`);
    });
  });
}

describe('a crash loop stops the stack instead of spinning', () => {
  it('six deaths within 10 s: stack.sh gives up', async () => {
    const stack = await startStack({});
    try {
      let pid = stack.appPid;
      for (let i = 0; i < 6; i++) {
        process.kill(pid, 'SIGKILL');
        if (i === 5) break;
        pid = await waitForNewPid(stack.dir, pid, 5000);
        // Serving again before the next kill: a death, not a failed start.
        const until = Date.now() + 5000;
        while ((await request(stack.url, 'GET', '/gtg').catch(() => ({}))).status !== 200) {
          assert.ok(Date.now() < until, 'the restarted app never answered');
          await sleep(20);
        }
      }
      const r = await Promise.race([stack.exited, sleep(5000).then(() => null)]);
      assert.notEqual(r, null, 'stack.sh still running after six deaths');
      assert.match(stack.outputText(), /keeps dying/);
    } finally {
      await stack.stop();
    }
  });
});
