'use strict';
// Issue 6, item 3: a worker dies. The app (the pid in app.pid) keeps the
// FastCGI socket and serves from a worker process it forks
// (fcgi-app/supervise.h).
//
// - kill -9 of the worker under load, through each web server: the app
//   forks another at once while the socket stays open, so the web server
//   never meets a refused connect. The requests that fail are counted and
//   bounded (those the dead worker had accepted: nginx and lighttpd answer
//   502/503 for them), the service answers again within a second, every
//   write acknowledged with 200 is there afterwards, and no web server
//   retries a POST it may already have delivered.
// - kill -9 of the app itself: its worker dies with it (no orphan holding
//   the old socket), and stack.sh starts the app again, as systemd's
//   Restart=on-failure does on a VM.
// - a worker that keeps dying is replaced later and later (backoff), and
//   an app that keeps dying stops the stack.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { describe, it, after } = require('node:test');
const {
  ROOT, startStack, request, assertNoSanitizerReport, sleep, workerOf,
} = require('../lib/stack');
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

async function waitForNewPid(stack, old, ms) {
  const end = Date.now() + ms;
  for (;;) {
    let pid = null;
    try { pid = readPid(stack.dir); } catch { /* being rewritten */ }
    if (pid && pid !== old) return pid;
    assert.ok(Date.now() < end, `no new app within ${ms} ms; stack.sh said:\n` +
      `${stack.outputText()}\napp log:\n${stack.logText()}`);
    await sleep(5);
  }
}

// The app's worker once it is not old (null: any), polled every 2 ms.
async function waitForWorker(app, old, ms) {
  const end = Date.now() + ms;
  for (;;) {
    const w = workerOf(app);
    if (w !== null && w !== old) return w;
    assert.ok(Date.now() < end, `no new worker of ${app} within ${ms} ms`);
    await sleep(2);
  }
}

// Until /gtg answers 200; resolves to when it did.
async function waitForGtg(url, ms) {
  const end = Date.now() + ms;
  while ((await request(url, 'GET', '/gtg', { timeoutMs: ms }).catch(() => ({}))).status !== 200) {
    assert.ok(Date.now() < end, `/gtg not 200 within ${ms} ms`);
    await sleep(10);
  }
  return Date.now();
}

// The names a listing holds.
async function listed(url) {
  const res = await request(url, 'GET', '/candidates', { timeoutMs: 30000 });
  assert.equal(res.status, 200, `listing: ${res.status}`);
  return new Set(res.json().map((x) => x.CandidateName));
}

// supervise_delay() of fcgi-app/supervise.c: the wait before the next
// worker, from the last wait and how long the dead one lived.
function expectedDelay(last, lived) {
  if (lived >= 1000) return 0;
  if (last < 100) return 100;
  if (last > 2500) return 5000;
  return last * 2;
}

describe('no web server config retries a POST it may have delivered', () => {
  it('nginx: fastcgi_next_upstream never has non_idempotent', () => {
    const conf = fs.readFileSync(path.join(ROOT, 'nginx-conf', 'nginx.conf'), 'utf8')
      .replace(/#.*$/gm, '');
    assert.doesNotMatch(conf, /non_idempotent/);
  });
});

for (const web of ['nginx', 'lighttpd']) {
  describe(`kill -9 of the worker under load, behind ${web}`, () => {
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
          const app = readPid(stack.dir);
          const old = workerOf(app);
          assert.notEqual(old, null, 'the app has no worker');
          const tKill = Date.now();
          process.kill(old, 'SIGKILL');
          assert.notEqual(await watchExit(old, 5000), null, 'the worker survived SIGKILL');
          const fresh = await waitForWorker(app, old, 5000);
          const tNew = Date.now();
          await sleep(3000);
          const stats = await load.stop();
          assert.match(stack.logText(), /the worker \(pid \d+\) died of signal 9 .*starting another in 0 ms/);
          // The app itself lived on: stack.sh had nothing to restart.
          assert.equal(readPid(stack.dir), app, 'the app was restarted');
          assert.doesNotMatch(stack.outputText(), /died of signal/);

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
          figure(t, `${web}: kill -9 of the worker at ~${rate} req/s (12 clients): ` +
            `${failed.length} of ${stats.requests} requests failed (${JSON.stringify(how)}); ` +
            `new worker after ${tNew - tKill} ms; first answer after the kill at ` +
            `+${seen.recovery} ms; last failure at +${seen.lastFail} ms; ` +
            `${stats.acked.size} writes acknowledged, all readable`);

          // Failures only from the kill on, and only the web server's own
          // (the app's own answers are never the failure).
          for (const r of failed) {
            assert.ok(r.end >= tKill, `${r.method} ${r.target} failed before the kill`);
            assert.ok([500, 502, 503].includes(r.status),
              `${r.method} ${r.target}: ${r.status ?? r.err}`);
          }
          // Bounded in time, and in number: the requests in flight plus a
          // second's worth at the rate before.
          assert.ok(seen.lastFail < 3000, `still failing ${seen.lastFail} ms after the kill`);
          assert.ok(failed.length <= 12 + rate, `${failed.length} failed`);

          // Every acknowledged write is there.
          const have = await listed(stack.url);
          const lost = [...stats.acked.keys()].filter((n) => !have.has(n));
          assert.deepEqual(lost.slice(0, 5), [], `${lost.length} acknowledged writes lost`);
          assert.ok(stats.acked.size > 100, `only ${stats.acked.size} writes acknowledged`);
          assert.equal((await request(stack.url, 'GET', '/gtg')).status, 200);
          assert.equal(workerOf(app), fresh, 'the worker died again');
        } finally {
          await load.stop();
          const r = await stack.stop();
          assertNoSanitizerReport(stack.logText());
          assert.deepEqual({ code: r.code, signal: r.signal }, { code: 0, signal: null });
        }
      });

    it('answering again within 1 s of the kill', () => {
      assert.ok(seen.recovery !== undefined, 'the kill test did not run');
      assert.ok(seen.recovery < 1000 && seen.lastFail < 1000,
        `first answer +${seen.recovery} ms, last failure +${seen.lastFail} ms`);
    });
  });
}

describe('kill -9 of the app itself', () => {
  it('takes its worker with it, and stack.sh starts the app again', async (t) => {
    const stack = await startStack({ web: 'lighttpd' });
    try {
      const app = readPid(stack.dir);
      const worker = workerOf(app);
      assert.notEqual(worker, null, 'the app has no worker');
      const tKill = Date.now();
      process.kill(app, 'SIGKILL');
      // PR_SET_PDEATHSIG: no orphan keeps serving on the old socket.
      const gone = await watchExit(worker, 2000);
      assert.notEqual(gone, null, `worker ${worker} outlived the app`);
      const fresh = await waitForNewPid(stack, app, 5000);
      const back = await waitForGtg(stack.url, 10000);
      assert.notEqual(await waitForWorker(fresh, null, 1000), worker);
      assert.match(stack.outputText(), /the app died of signal 9, starting it again/);
      figure(t, `kill -9 of the app (lighttpd): worker gone +${gone - tKill} ms, ` +
        `answering again +${back - tKill} ms (a new socket: lighttpd meets refused connects ` +
        'meanwhile)');
    } finally {
      const r = await stack.stop();
      assertNoSanitizerReport(stack.logText());
      assert.deepEqual({ code: r.code, signal: r.signal }, { code: 0, signal: null });
    }
  });
});

describe('a worker that keeps dying', () => {
  it('is replaced later and later (backoff), and the app lives on', async (t) => {
    const stack = await startStack({});
    try {
      const app = stack.appPid;
      let worker = workerOf(app);
      // The first worker has lived past SUPERVISE_STABLE_MS: its death is
      // a crash, not yet a loop.
      await sleep(1100);
      const gaps = [];
      let tLast = 0;
      // Each new worker is killed as soon as it appears, six times.
      for (let i = 0; i < 6; i++) {
        tLast = Date.now();
        process.kill(worker, 'SIGKILL');
        worker = await waitForWorker(app, worker, 10000);
        gaps.push(Date.now() - tLast);
      }
      const back = await waitForGtg(stack.url, 10000);
      assert.equal(readPid(stack.dir), app, 'the app was restarted');

      // The app's own account, line by line: the wait follows the policy.
      const lines = [...stack.logText().matchAll(
        /died of signal 9 \(.*?\) after (\d+) ms; starting another in (\d+) ms/g)];
      assert.equal(lines.length, 6, stack.logText());
      let last = 0;
      const delays = lines.map(([, lived, delay], i) => {
        const want = expectedDelay(last, Number(lived));
        assert.equal(Number(delay), want, `death ${i + 1}: lived ${lived} ms, waited ${delay} ms`);
        last = want;
        return want;
      });
      // At once after a worker that lived, then doubling from 100 ms.
      assert.deepEqual(delays, [0, 100, 200, 400, 800, 1600]);
      // And it waited that long: a new worker never came sooner.
      for (let i = 0; i < 6; i++) {
        assert.ok(gaps[i] >= delays[i] - 5, `death ${i + 1}: a new worker after ${gaps[i]} ms, ` +
          `not ${delays[i]}`);
      }
      figure(t, `worker crash loop (6 kills, each as the worker appears): the app waited ` +
        `${delays.join(', ')} ms; new workers came ${gaps.join(', ')} ms after the kills; ` +
        `/gtg 200 again ${back - tLast} ms after the last kill`);
    } finally {
      const r = await stack.stop();
      assertNoSanitizerReport(stack.logText());
      assert.deepEqual({ code: r.code, signal: r.signal }, { code: 0, signal: null });
    }
  });
});

describe('an app that keeps dying stops the stack instead of spinning', () => {
  it('six deaths within 10 s: stack.sh gives up', async () => {
    const stack = await startStack({});
    try {
      let pid = stack.appPid;
      for (let i = 0; i < 6; i++) {
        const worker = workerOf(pid);
        process.kill(pid, 'SIGKILL');
        assert.notEqual(await watchExit(worker, 2000), null, `worker ${worker} outlived the app`);
        if (i === 5) break;
        pid = await waitForNewPid(stack, pid, 5000);
        // Serving again before the next kill: a death, not a failed start.
        await waitForGtg(stack.url, 5000);
      }
      const r = await Promise.race([stack.exited, sleep(5000).then(() => null)]);
      assert.notEqual(r, null, 'stack.sh still running after six deaths');
      assert.match(stack.outputText(), /keeps dying/);
    } finally {
      await stack.stop();
    }
  });
});
