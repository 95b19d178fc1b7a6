'use strict';
// How the app ends a FastCGI connection, straight on its socket.
//
// libfcgi closes with a "lingering close" (shutdown, then read until the
// web server closes its end), which holds the worker until the web server
// gets round to closing. The app skips it when it has read the whole
// request, as nothing is left to discard and, on a unix socket, close()
// cannot lose what it wrote. When a body is left unread (declared or sent
// past 16 KiB), it still drains it, so a web server still sending the body
// reads the 413 without an error first.
//
// - One worker, and a web server that never closes its end: the next
//   connection is answered at once, not after libfcgi's 2 s linger.
// - A large body left unread: the 413 arrives whole, the sender gets no
//   error, the connection is not kept (the rest of the body would be taken
//   for the next request), and the worker is free afterwards.

const assert = require('node:assert/strict');
const net = require('node:net');
const path = require('node:path');
const { once } = require('node:events');
const { describe, it, before, after } = require('node:test');
const { startStack, assertNoSanitizerReport, sleep } = require('../lib/stack');
const { FcgiConn } = require('../soak/fcgi-client');

const GET = (uri) => ({ REQUEST_METHOD: 'GET', REQUEST_URI: uri });
const POST = (uri) => ({ REQUEST_METHOD: 'POST', REQUEST_URI: uri });

// A FastCGI connection whose errors are recorded, not swallowed; with
// halfOpen it keeps its end open after the app has closed its own, as a
// web server slow to close would.
async function connect(sock, { halfOpen = false } = {}) {
  const s = net.connect({ path: sock, allowHalfOpen: halfOpen });
  await once(s, 'connect');
  const c = new FcgiConn(s);
  c.errors = [];
  c.ended = new Promise((resolve) => s.once('end', resolve));
  s.on('error', (e) => c.errors.push(e.code || e.message));
  return c;
}

function within(ms, p, what) {
  return Promise.race([p, sleep(ms).then(() => { throw new Error(`${what}: not within ${ms} ms`); })]);
}

describe('the app closes FastCGI connections without lingering', () => {
  let stack;
  let sock;
  before(async () => {
    stack = await startStack({ env: { CANDIDATES_THREADS: '1' } });
    sock = path.join(stack.dir, 'fcgi.sock');
  });
  after(async () => {
    await stack.stop();
    assertNoSanitizerReport(stack.logText());
  });

  it('a web server that keeps its end open does not hold the only worker', async () => {
    const held = await connect(sock, { halfOpen: true });
    try {
      const t0 = Date.now();
      const r = await within(1000, held.request(GET('/gtg'), undefined, { keep: false }), 'first');
      assert.equal(r.status, 200);
      await within(1000, held.ended, 'the app closing its end');
      // held never closes; libfcgi's linger would keep the worker 2 s.
      const next = await connect(sock);
      try {
        const r2 = await within(1000, next.request(GET('/gtg?details')), 'second');
        assert.equal(r2.status, 200);
        const ms = Date.now() - t0;
        assert.ok(ms < 1000, `two requests took ${ms} ms`);
      } finally {
        next.destroy();
      }
      assert.deepEqual(held.errors, []);
    } finally {
      held.destroy();
    }
  });

  // name, CONTENT_LENGTH (null: the body's length), body bytes
  const rows = [
    ['declared and sent over 16 KiB', null, 1 << 20],
    ['declared small, sent over 16 KiB', '100', 256 * 1024],
    ['declared over 16 KiB, nothing sent', String(1 << 20), 0],
  ];
  for (const [name, declared, size] of rows) {
    it(`a body left unread (${name}): 413 whole, no error, not kept`, async () => {
      const c = await connect(sock);
      try {
        const env = POST(`/candidate/unread-${size}`);
        if (declared !== null) env.CONTENT_LENGTH = declared;
        const r = await within(5000, c.request(env, Buffer.alloc(size, 0x61)), name);
        assert.equal(r.status, 413, `${name}: ${r.status} ${r.body}`);
        await within(5000, c.closed, `${name}: the app closing the connection`);
        assert.deepEqual(c.errors, [], name);
      } finally {
        c.destroy();
      }
      // The only worker is free again, and nothing was written.
      const next = await connect(sock);
      try {
        const r = await within(1000, next.request(GET(`/candidate/unread-${size}`)), 'after');
        assert.equal(r.status, 404, `${name}: a refused body was written`);
      } finally {
        next.destroy();
      }
    });
  }
});

// A new connection keeps the listening socket to itself until its first
// request is in (fcgi-app/server.c, take_new), so that connections made
// meanwhile wait in the backlog instead of waking workers before their
// request is written. A connector that sends nothing may hold it only
// FIRST_REQUEST_MS (5 ms): the others are still accepted.
describe('a connection that sends nothing does not keep others waiting', () => {
  let stack;
  let sock;
  before(async () => {
    stack = await startStack({ env: { CANDIDATES_THREADS: '3' } });
    sock = path.join(stack.dir, 'fcgi.sock');
  });
  after(async () => {
    await stack.stop();
    assertNoSanitizerReport(stack.logText());
  });

  it('two silent connections, then requests on new ones are answered at once', async () => {
    const silent = [await connect(sock), await connect(sock)];
    try {
      // Each takes a worker, once accepted; the third worker serves.
      await sleep(100);
      for (const uri of ['/gtg', '/gtg?details', '/candidate/nobody']) {
        const c = await connect(sock);
        try {
          const t0 = Date.now();
          const r = await within(1000, c.request(GET(uri)), uri);
          assert.ok([200, 404].includes(r.status), `${uri}: ${r.status}`);
          const ms = Date.now() - t0;
          assert.ok(ms < 500, `${uri} took ${ms} ms behind silent connections`);
        } finally {
          c.destroy();
        }
      }
    } finally {
      for (const s of silent) s.destroy();
    }
  });
});
