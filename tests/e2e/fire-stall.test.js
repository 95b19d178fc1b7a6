'use strict';
// Peers that stall, straight on the app's FastCGI socket: none may hold a
// worker for ever, nor keep SIGTERM from finishing (fcgi-app/server.c).
//
// - A connection that sends nothing, or half a request, waits in epoll
//   and holds no thread: with two threads, two of each and /gtg through
//   nginx is still answered at once, and a half request is served when
//   its rest comes.
// - Half a request too big to judge from a peek (over FCGI_PEEK_MAX) is
//   read by a worker, and that read ends at FCGI_IO_TIMEOUT_MS; so does
//   writing an answer nobody reads.
// - SIGTERM with all of those open: the app exits 0 at once; one whose
//   answer nobody reads is cut at the end of the drain's grace period.

const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const net = require('node:net');
const path = require('node:path');
const { once } = require('node:events');
const { describe, it } = require('node:test');
const { startStack, stopCleanly, request, sleep, waitFor } = require('../lib/stack');
const { FcgiConn } = require('../soak/fcgi-client');

// fcgi-app/server.h and fcgi_peek.h.
const FCGI_IO_TIMEOUT_MS = 5000;
const FCGI_PEEK_MAX = 8192;

const BEGIN_REQUEST = 1;
const PARAMS = 4;
const STDIN = 5;

function record(type, content = Buffer.alloc(0)) {
  const pad = (8 - (content.length % 8)) % 8;
  const h = Buffer.alloc(8);
  h.writeUInt8(1, 0);
  h.writeUInt8(type, 1);
  h.writeUInt16BE(1, 2);
  h.writeUInt16BE(content.length, 4);
  h.writeUInt8(pad, 6);
  return Buffer.concat([h, content, Buffer.alloc(pad)]);
}

function nv(name, value) {
  const n = Buffer.from(name);
  const v = Buffer.from(value);
  const len = (x) => (x < 128 ? Buffer.from([x]) :
    Buffer.from([0x80 | (x >> 24), (x >> 16) & 0xff, (x >> 8) & 0xff, x & 0xff]));
  return Buffer.concat([len(n.length), len(v.length), n, v]);
}

// A whole GET request, as bytes; FCGI_KEEP_CONN only if keep.
function getRequest(uri, extraParams = Buffer.alloc(0), keep = false) {
  const begin = Buffer.from([0, 1, keep ? 1 : 0, 0, 0, 0, 0, 0]);
  return Buffer.concat([
    record(BEGIN_REQUEST, begin),
    record(PARAMS, Buffer.concat([nv('REQUEST_METHOD', 'GET'), nv('REQUEST_URI', uri),
      extraParams])),
    record(PARAMS),
    record(STDIN),
  ]);
}

const gtgRequest = (extraParams, keep) => getRequest('/gtg', extraParams, keep);

// Fills the table with n names, straight through sqlite3.
function seed(stack, n, prefix) {
  const db = path.join(stack.dir, 'candidates.db');
  const sql = 'WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n ' +
    `WHERE i < ${n}) INSERT OR IGNORE INTO candidates SELECT ` +
    `'${prefix}' || i FROM n;`;
  const r = spawnSync('sqlite3', [db, sql], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
}

// A raw connection that collects what the app sends and notices its end.
async function raw(sock) {
  const s = net.connect({ path: sock });
  await once(s, 'connect');
  const c = { s, data: [], ended: null };
  s.on('data', (d) => c.data.push(d));
  s.on('error', () => {});
  c.ended = new Promise((resolve) => s.once('close', () => resolve(Date.now())));
  return c;
}

function within(ms, p, what) {
  return Promise.race([p, sleep(ms).then(() => { throw new Error(`${what}: not within ${ms} ms`); })]);
}

async function timedGtg(url) {
  const t0 = Date.now();
  const r = await request(url, 'GET', '/gtg', { timeoutMs: 10000 });
  return [r, Date.now() - t0];
}

describe('stalled FastCGI peers hold no worker (two threads)', () => {
  it('two silent connections and two half requests: /gtg at once, the halves served when whole', async (t) => {
    const stack = await startStack({ env: { CANDIDATES_THREADS: '2' } });
    const sock = path.join(stack.dir, 'fcgi.sock');
    const held = [];
    try {
      const whole = gtgRequest();
      for (let i = 0; i < 2; i++) held.push(await raw(sock));
      const halves = [];
      for (let i = 0; i < 2; i++) {
        const c = await raw(sock);
        c.s.write(whole.subarray(0, 20 + i * 17));
        halves.push(c);
        held.push(c);
      }
      await sleep(300);
      for (let i = 0; i < 5; i++) {
        const [r, ms] = await timedGtg(stack.url);
        assert.equal(r.status, 200);
        assert.ok(ms < 1000, `/gtg took ${ms} ms behind stalled connections`);
        t.diagnostic(`/gtg ${i + 1} behind 4 stalled connections: ${ms} ms`);
      }
      // The rest of each half request arrives: each is answered whole.
      for (const [i, c] of halves.entries()) {
        c.s.write(whole.subarray(20 + i * 17));
        await within(2000, c.ended, `half request ${i} answered and closed`);
        const out = Buffer.concat(c.data).toString('latin1');
        assert.match(out, /Status: 200 OK/, `half request ${i}: ${out}`);
      }
    } finally {
      for (const c of held) c.s.destroy();
      await stopCleanly(stack);
    }
  });

  // A new connection is given its timeouts before the read; a kept one
  // was given them when it went into epoll after its first request.
  for (const kept of [false, true]) it('half a request bigger than a peek is read, and the read ends at ' +
      `the socket timeout (${kept ? 'a kept connection' : 'a new connection'})`, async (t) => {
    const stack = await startStack({ env: { CANDIDATES_THREADS: '2' } });
    const sock = path.join(stack.dir, 'fcgi.sock');
    let c;
    try {
      const padding = nv('HTTP_X_PAD', 'p'.repeat(FCGI_PEEK_MAX + 1000));
      const big = gtgRequest(padding);
      c = await raw(sock);
      if (kept) {
        c.s.write(gtgRequest(undefined, true));
        // Its answer ends with END_REQUEST (type 3, 16 bytes).
        await waitFor(() => {
          const d = Buffer.concat(c.data);
          return d.length >= 16 && d[d.length - 15] === 3;
        }, 2000, 'the first request answered');
      }
      const t0 = Date.now();
      // All but the end of the params: nothing more ever comes.
      c.s.write(big.subarray(0, FCGI_PEEK_MAX + 500));
      await sleep(200);
      const [r, ms] = await timedGtg(stack.url);
      assert.equal(r.status, 200);
      assert.ok(ms < 1000, `/gtg took ${ms} ms while a worker read a stalled request`);
      const ended = await within(FCGI_IO_TIMEOUT_MS + 3000, c.ended, 'the app ending the read');
      const waited = ended - t0;
      t.diagnostic(`a stalled ${FCGI_PEEK_MAX + 500}-byte half request was dropped after ${waited} ms`);
      assert.ok(waited >= FCGI_IO_TIMEOUT_MS - 200, `dropped after ${waited} ms`);
    } finally {
      c?.s.destroy();
      await stopCleanly(stack);
    }
  });

  // The request is whole in the peek, so nothing bounded the connection
  // at accept: the big answer's write must bound it itself.
  it('an answer nobody reads ends at the socket timeout, cut, on a connection of one request', async (t) => {
    const stack = await startStack({ env: { CANDIDATES_THREADS: '2' } });
    const sock = path.join(stack.dir, 'fcgi.sock');
    let c;
    try {
      seed(stack, 20000, 'unread-answer-name-');
      const whole = (await request(stack.url, 'GET', '/candidates', { timeoutMs: 10000 })).body;
      c = await raw(sock);
      c.s.pause();
      const t0 = Date.now();
      c.s.write(getRequest('/candidates'));
      await sleep(500);
      const [r, ms] = await timedGtg(stack.url);
      assert.equal(r.status, 200);
      assert.ok(ms < 1000, `/gtg took ${ms} ms while a worker wrote to a stalled reader`);
      // The kernel restarts the timeout for each piece of the socket's
      // buffer a write waits for: giving up may take a few of them.
      const cut = await waitFor(() =>
        /GET \/candidates: answer cut: the web server read none of it/.test(stack.logText()),
      4 * FCGI_IO_TIMEOUT_MS, 'the app giving up on the write');
      c.s.resume();
      const ended = await within(3000, c.ended, 'the app closing the connection');
      const got = Buffer.concat(c.data);
      t.diagnostic(`${got.length} of ${whole.length} bytes sent before the write timed out, ` +
        `${cut - t0} ms after the request`);
      assert.ok(cut - t0 >= FCGI_IO_TIMEOUT_MS - 200, `cut after ${cut - t0} ms`);
      assert.ok(got.length > 0 && got.length < whole.length,
        `${got.length} bytes arrived of a ${whole.length}-byte answer`);
      // Cut in the middle of a record: no END_REQUEST (type 3) at the end.
      assert.notEqual(got.length >= 16 ? got[got.length - 15] : -1, 3,
        'the answer was ended as if whole');
    } finally {
      c?.s.destroy();
      await stopCleanly(stack);
    }
  });
});

describe('SIGTERM with stalled peers', () => {
  it('silent connections and half requests: exit 0 at once, each of them closed', async (t) => {
    const stack = await startStack({ env: { CANDIDATES_THREADS: '2' } });
    const sock = path.join(stack.dir, 'fcgi.sock');
    const held = [];
    try {
      const whole = gtgRequest();
      for (let i = 0; i < 2; i++) held.push(await raw(sock));
      for (let i = 0; i < 2; i++) {
        const c = await raw(sock);
        c.s.write(whole.subarray(0, 30));
        held.push(c);
      }
      await sleep(300);
      const t0 = Date.now();
      process.kill(stack.appPid, 'SIGTERM');
      const ends = await within(3000, Promise.all(held.map((c) => c.ended)),
        'stalled connections closed by the drain');
      const ms = Math.max(...ends) - t0;
      t.diagnostic(`SIGTERM: 4 stalled connections closed within ${ms} ms`);
      assert.ok(ms < 2000, `the drain took ${ms} ms`);
    } finally {
      for (const c of held) c.s.destroy();
      const r = await stack.stop();
      assert.match(stack.logText(), /candidates: stopped/);
      assert.equal(r.signal, null);
    }
  });

  it('an answer nobody reads is cut at the end of the grace period', async (t) => {
    // Short deadlines make a short grace (the longest of them and 1 s:
    // 2.5 s), below the socket's own write timeout.
    const stack = await startStack({ env: {
      CANDIDATES_THREADS: '2', CANDIDATES_TIMEOUT_MS: '300', CANDIDATES_LIST_TIMEOUT_MS: '1500',
    } });
    const sock = path.join(stack.dir, 'fcgi.sock');
    let c;
    try {
      // A listing far bigger than the socket's buffers.
      seed(stack, 40000, 'stalled-reader-name-');
      c = await FcgiConn.connect(sock);
      c.sock.pause();	// reads nothing: the app's write blocks
      c.request({ REQUEST_METHOD: 'GET', REQUEST_URI: '/candidates' }).catch(() => {});
      await sleep(1000);
      const t0 = Date.now();
      process.kill(stack.appPid, 'SIGTERM');
      await within(FCGI_IO_TIMEOUT_MS, stack.exited, 'the stack exiting');
      const ms = Date.now() - t0;
      t.diagnostic(`SIGTERM with an unread 1.1 MB answer: the app exited after ${ms} ms`);
      assert.ok(ms < FCGI_IO_TIMEOUT_MS, `exit after ${ms} ms`);
      assert.match(stack.logText(), /drain: grace period over, 1 stalled connection cut/);
    } finally {
      c?.destroy();
      await stack.stop();
    }
  });
});
