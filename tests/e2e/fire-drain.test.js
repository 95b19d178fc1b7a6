'use strict';
// Issue 6, item 4: SIGTERM drain, which is what scale-in and instance
// refresh do to the app, including on FastCGI connections kept open
// between requests (nginx's fastcgi_keep_conn: with libfcgi a worker
// thread waits on such a connection for its next request).
//
// - Straight on the app's socket, as nginx with keep-alive would hold it:
//   idle kept connections are closed by the app at once, requests in
//   flight finish with 200, and so do those already queued on the socket
//   (the web server sent them before the signal), a new connection is
//   refused, and the app exits 0 as soon as the last request is done.
//   Drain times are printed.
// - Through the shipped nginx config under load: every request answered
//   before the signal is a 200, and after it the client sees either a 200
//   or the web server's own 502/503, never a hang or a reset mid-answer.

const assert = require('node:assert/strict');
const path = require('node:path');
const { describe, it, after } = require('node:test');
const { startStack, request, assertNoSanitizerReport, sleep } = require('../lib/stack');
const { holdWriteLock } = require('../lib/sqlite');
const { FcgiConn } = require('../soak/fcgi-client');
const { startLoad, watchExit, formatCounts } = require('../soak/load');

const figures = [];
after(() => console.log(['drain figures:', ...figures.map((f) => `  ${f}`)].join('\n')));

function figure(t, text) {
  figures.push(text);
  t.diagnostic(text);
}

const GET = (uri) => ({ REQUEST_METHOD: 'GET', REQUEST_URI: uri });
const POST = (uri) => ({ REQUEST_METHOD: 'POST', REQUEST_URI: uri });

// Resolves to 'refused' when nothing accepts a new connection, else to
// what became of a request sent on it.
async function tryNew(sock) {
  let c;
  try {
    c = await FcgiConn.connect(sock);
  } catch (err) {
    return err.code === 'ECONNREFUSED' || err.code === 'ENOENT' ? 'refused' : err.code;
  }
  try {
    const r = await Promise.race([c.request(GET('/gtg')), sleep(5000).then(() => 'hang')]);
    return r === 'hang' ? 'hang' : `answered ${r.status}`;
  } catch {
    return 'closed unanswered';
  } finally {
    c.destroy();
  }
}

describe('SIGTERM drain on kept-alive FastCGI connections', () => {
  it('idle kept connections close at once; the app exits 0 within 1 s', async (t) => {
    const stack = await startStack({ env: { CANDIDATES_THREADS: '8' } });
    const sock = path.join(stack.dir, 'fcgi.sock');
    const conns = [];
    try {
      // Six of the eight workers now wait on a kept connection.
      for (let i = 0; i < 6; i++) {
        const c = await FcgiConn.connect(sock);
        conns.push(c);
        const r = await c.request(GET('/gtg'));
        assert.equal(r.status, 200);
        // A second request on the same connection: it really is kept.
        assert.equal((await c.request(GET('/gtg?details'))).status, 200);
      }
      const gone = watchExit(stack.appPid, 10000);
      const t0 = Date.now();
      process.kill(stack.appPid, 'SIGTERM');
      const closedAt = await Promise.all(conns.map((c) => c.closed.then(() => Date.now())));
      const exitAt = await gone;
      assert.notEqual(exitAt, null, 'the app did not exit within 10 s');
      const r = await stack.exited;
      assert.deepEqual({ code: r.code, signal: r.signal }, { code: 0, signal: null },
        stack.logText());
      const lastClose = Math.max(...closedAt) - t0;
      figure(t, `drain with 6 idle kept connections and nothing in flight: ` +
        `connections closed after ${lastClose} ms, exit 0 after ${exitAt - t0} ms`);
      assert.ok(exitAt - t0 < 1000, `drain took ${exitAt - t0} ms`);
      assertNoSanitizerReport(stack.logText());
    } finally {
      for (const c of conns) c.destroy();
      await stack.stop();
    }
  });

  it('in-flight requests finish with 200, new connections are refused, exit 0', async (t) => {
    const stack = await startStack({ env: { CANDIDATES_THREADS: '8' } });
    const sock = path.join(stack.dir, 'fcgi.sock');
    const idle = [];
    const busy = [];
    let lock = null;
    try {
      for (let i = 0; i < 3; i++) {
        const c = await FcgiConn.connect(sock);
        idle.push(c);
        assert.equal((await c.request(GET('/candidate/nobody'))).status, 404);
      }
      // Three writes wait in the app for the lock another process holds.
      lock = await holdWriteLock(path.join(stack.dir, 'candidates.db'));
      const writes = [];
      for (let i = 0; i < 3; i++) {
        const c = await FcgiConn.connect(sock);
        busy.push(c);
        const w = { name: `drain-kept-${i}`, res: null, err: null };
        w.done = c.request(POST(`/candidate/${w.name}`))
          .then((res) => { w.res = res; }, (err) => { w.err = err; });
        writes.push(w);
      }
      await sleep(300);
      assert.deepEqual(writes.filter((w) => w.res || w.err).map((w) => w.name), [],
        'writes finished while the lock was held: nothing is in flight');

      const gone = watchExit(stack.appPid, 20000);
      const t0 = Date.now();
      process.kill(stack.appPid, 'SIGTERM');
      const idleClosed = await Promise.race([
        Promise.all(idle.map((c) => c.closed)).then(() => Date.now() - t0),
        sleep(2000).then(() => null)]);
      assert.notEqual(idleClosed, null, 'idle kept connections still open 2 s after SIGTERM');
      // While the writes are still waiting, a new connection gets nothing.
      const fresh = await tryNew(sock);
      assert.ok(['refused', 'closed unanswered'].includes(fresh),
        `a new connection during the drain: ${fresh}`);
      // The store stays slow well into the drain.
      await sleep(700);
      const released = Date.now();
      await lock.release();
      lock = null;
      await Promise.all(writes.map((w) => w.done));
      for (const w of writes) {
        assert.equal(w.err, null, `${w.name}: ${w.err}`);
        assert.equal(w.res.status, 200, `${w.name}: ${w.res.status}`);
      }
      const exitAt = await gone;
      assert.notEqual(exitAt, null, 'the app did not exit within 20 s');
      const r = await stack.exited;
      assert.deepEqual({ code: r.code, signal: r.signal }, { code: 0, signal: null },
        stack.logText());
      figure(t, `drain with 3 writes in flight (store lock held ${released - t0} ms after ` +
        `SIGTERM) and 3 idle kept connections: idle closed after ${idleClosed} ms, ` +
        `new connection ${fresh}, exit 0 after ${exitAt - t0} ms ` +
        `(${exitAt - released} ms after the store let go)`);
      assert.ok(exitAt - released < 1000, `exit ${exitAt - released} ms after the last write`);
      assertNoSanitizerReport(stack.logText());
    } finally {
      if (lock) await lock.release().catch(() => {});
      for (const c of [...idle, ...busy]) c.destroy();
      await stack.stop();
    }
  });

  it('requests queued on the socket before the signal are answered, not reset', async (t) => {
    // One worker, held by a write: new connections wait in the socket's
    // queue, their requests sent, as a web server's do under load.
    const stack = await startStack({ env: { CANDIDATES_THREADS: '1' } });
    const sock = path.join(stack.dir, 'fcgi.sock');
    const conns = [];
    let lock = null;
    try {
      lock = await holdWriteLock(path.join(stack.dir, 'candidates.db'));
      const c = await FcgiConn.connect(sock);
      conns.push(c);
      const write = c.request(POST('/candidate/drain-queued')).then((r) => r, (e) => e);
      await sleep(200);
      const queued = [];
      for (let i = 0; i < 3; i++) {
        const q = await FcgiConn.connect(sock);
        conns.push(q);
        queued.push(q.request(GET('/gtg'), undefined, { keep: false }).then((r) => r, (e) => e));
      }
      await sleep(200);
      const gone = watchExit(stack.appPid, 20000);
      const t0 = Date.now();
      process.kill(stack.appPid, 'SIGTERM');
      await sleep(300);
      const fresh = await tryNew(sock);
      assert.ok(['refused', 'closed unanswered'].includes(fresh),
        `a new connection during the drain: ${fresh}`);
      await lock.release();
      lock = null;
      const w = await write;
      assert.equal(w.status, 200, `the write in flight: ${w.status ?? w}`);
      const answers = await Promise.all(queued);
      assert.deepEqual(answers.map((r) => r.status ?? String(r)), [200, 200, 200],
        'queued requests');
      const exitAt = await gone;
      assert.notEqual(exitAt, null, 'the app did not exit within 20 s');
      const r = await stack.exited;
      assert.deepEqual({ code: r.code, signal: r.signal }, { code: 0, signal: null },
        stack.logText());
      figure(t, `drain with 3 requests queued on the socket behind a write: all answered 200, ` +
        `new connection ${fresh}, exit 0 after ${exitAt - t0} ms`);
      assertNoSanitizerReport(stack.logText());
    } finally {
      if (lock) await lock.release().catch(() => {});
      for (const c of conns) c.destroy();
      await stack.stop();
    }
  });
});

describe('SIGTERM drain through the shipped nginx config, under load', () => {
  it('answers before the signal are 200; after it 200 or the web server\'s 502/503', async (t) => {
    const stack = await startStack({ web: 'nginx', env: { CANDIDATES_THREADS: '8' } });
    const load = startLoad({ url: stack.url, clients: 32, names: 'drain-nginx', poolSize: 200,
      routes: ['gtg', 'gtg-details', 'post', 'get', 'head', 'get-missing', 'list'] });
    try {
      await sleep(1500);
      const before = { ...load.stats, unexpected: [...load.stats.unexpected] };
      assert.deepEqual(before.unexpected, [], 'unexpected answers before the signal');
      assert.equal(before.errors, 0, `errors before the signal: ${before.errorSamples}`);
      const requestsBefore = before.requests;
      const gone = watchExit(stack.appPid, 20000);
      const t0 = Date.now();
      process.kill(stack.appPid, 'SIGTERM');
      const exitAt = await gone;
      assert.notEqual(exitAt, null, 'the app did not exit within 20 s');
      // stack.sh follows the app down, and nginx with it.
      const r = await stack.exited;
      const stats = await load.stop();
      assert.deepEqual({ code: r.code, signal: r.signal }, { code: 0, signal: null },
        stack.logText());
      // After the signal only the web server's own refusals may appear
      // (or nothing at all once stack.sh has stopped nginx).
      const bad = stats.unexpected.filter((u) => !/: 50[23] /.test(u));
      assert.deepEqual(bad, [], 'answers after the signal that are neither 200 nor 502/503');
      figure(t, `drain under load through nginx (32 clients, ${requestsBefore} requests before ` +
        `the signal): exit 0 after ${exitAt - t0} ms; afterwards ` +
        `${stats.unexpectedCount} answered 502/503 by nginx, ${stats.errors} refused ` +
        `once nginx stopped`);
      t.diagnostic(formatCounts(stats.counts));
      assert.ok(exitAt - t0 < 2000, `drain took ${exitAt - t0} ms`);
      assertNoSanitizerReport(stack.logText());
    } finally {
      await load.stop();
      await stack.stop();
    }
  });
});
