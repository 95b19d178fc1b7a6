'use strict';
// What the shipped web server configurations promise beyond the API:
// client keep-alive that outlasts every load balancer in front (the ALB's
// idle timeout in infra/aws, GCP's 600 s backend connections), checked in
// the files and on a live connection; and nginx's own 400s in the
// contract's JSON, for requests it refuses before the app sees them.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const hcl = require('@cdktf/hcl2json');
const { describe, it, before, after } = require('node:test');
const { ROOT, startStack, stopCleanly, rawRequest, sleep } = require('../lib/stack');
const { expectJson, expectText, show } = require('../lib/contract');

// GCP's external HTTP(S) load balancer keeps connections to backends for
// 600 s and does not let that be changed.
const GCP_BACKEND_KEEPALIVE_S = 600;
// Longer than lighttpd's default keep-alive idle of 5 s, which the live
// test must outlast.
const IDLE_MS = 6500;

function read(rel) {
  return fs.readFileSync(path.join(ROOT, rel), 'utf8');
}

// Every uncommented "<directive> <value>" line of a config file.
function settings(text, re) {
  return text.split('\n').map((l) => l.replace(/#.*/, ''))
    .map((l) => re.exec(l)).filter(Boolean);
}

const NGINX_UNITS = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 };

// Each server's client keep-alive in seconds, from the shipped file:
// one setting, so no later line or block quietly overrides it.
const KEEPALIVE = {
  nginx() {
    const m = settings(read('nginx-conf/nginx.conf'),
      /^\s*keepalive_timeout\s+(\d+)(ms|s|m|h|d)?[\s;]/);
    assert.equal(m.length, 1, 'one keepalive_timeout in nginx.conf');
    return Number(m[0][1]) * NGINX_UNITS[m[0][2] ?? 's'];
  },
  lighttpd() {
    const m = settings(read('lighttpd-conf/lighttpd.conf'),
      /^\s*server\.max-keep-alive-idle\s*=\s*(\d+)\s*$/);
    assert.equal(m.length, 1, 'one server.max-keep-alive-idle in lighttpd.conf');
    return Number(m[0][1]);
  },
};

// The ALB's idle timeout: the default of var.idle_timeout in
// infra/aws/variables.tf, and the upper bound its validation puts on it.
async function albIdleTimeout() {
  const file = 'infra/aws/variables.tf';
  const doc = await hcl.parse(file, read(file));
  const v = doc.variable?.idle_timeout?.[0];
  assert.ok(v, `no variable "idle_timeout" in ${file}`);
  assert.equal(typeof v.default, 'number', `default of idle_timeout: ${JSON.stringify(v)}`);
  const bound = (v.validation ?? []).map((x) =>
    /var\.idle_timeout\s*<\s*(\d+)/.exec(x.condition)).find(Boolean);
  return { def: v.default, bound: bound ? Number(bound[1]) : null };
}

describe('shipped configuration: client keep-alive outlasts the load balancers', () => {
  for (const web of Object.keys(KEEPALIVE)) {
    it(`${web}: keep-alive > the ALB's idle_timeout default and >= GCP's ${GCP_BACKEND_KEEPALIVE_S} s`, async () => {
      const alb = await albIdleTimeout();
      const s = KEEPALIVE[web]();
      assert.ok(s > alb.def, `${web} keeps idle clients ${s} s, not longer ` +
        `than the ALB's idle_timeout default of ${alb.def} s`);
      assert.ok(s >= GCP_BACKEND_KEEPALIVE_S, `${web} keeps idle clients ` +
        `${s} s, less than GCP's ${GCP_BACKEND_KEEPALIVE_S} s`);
      // Terraform must refuse an idle_timeout the web server would not outlast.
      if (alb.bound !== null) {
        assert.ok(alb.bound <= s, `infra/aws lets idle_timeout reach ` +
          `${alb.bound - 1} s, not below ${web}'s ${s} s`);
      }
    });
  }
});

// How long each web server waits for the app's answer, from the shipped
// file, against the app's own deadlines (fcgi-app/config.h): the app must
// give up first, so a client gets its 503 and never the web server's 504.
const FASTCGI_READ_TIMEOUT = {
  nginx() {
    const m = settings(read('nginx-conf/nginx.conf'),
      /^\s*fastcgi_read_timeout\s+(\d+)(ms|s|m|h|d)?[\s;]/);
    assert.equal(m.length, 1, 'one fastcgi_read_timeout in nginx.conf');
    return Number(m[0][1]) * NGINX_UNITS[m[0][2] ?? 's'];
  },
  lighttpd() {
    const m = settings(read('lighttpd-conf/lighttpd.conf'),
      /^\s*"read-timeout"\s*=>\s*(\d+)\s*,?\s*$/);
    assert.equal(m.length, 1, 'one "read-timeout" in lighttpd.conf');
    return Number(m[0][1]);
  },
};

function appDefaultMs(name) {
  const m = new RegExp(`^#define\\s+${name}\\s+(\\d+)`, 'm').exec(read('fcgi-app/config.h'));
  assert.ok(m, `no ${name} in fcgi-app/config.h`);
  return Number(m[1]);
}

describe('shipped configuration: the app gives up before the web server', () => {
  for (const web of Object.keys(FASTCGI_READ_TIMEOUT)) {
    it(`${web}: FastCGI read timeout > the app's store and listing deadlines`, () => {
      const s = FASTCGI_READ_TIMEOUT[web]();
      for (const name of ['STORE_TIMEOUT_DEFAULT_MS', 'LIST_TIMEOUT_DEFAULT_MS']) {
        const ms = appDefaultMs(name);
        assert.ok(s * 1000 > ms + 1000, `${web} waits ${s} s for the app, not ` +
          `clearly longer than its ${name} of ${ms} ms`);
      }
    });
  }
});

// One HTTP/1.1 connection the test drives by hand: request() sends one
// request and resolves to its answer, read by Content-Length.
function connection(url) {
  const u = new URL(url);
  const sock = net.connect({ host: u.hostname, port: Number(u.port) });
  let buf = Buffer.alloc(0);
  let waiter = null;
  let closed = null;
  const check = () => {
    if (waiter === null) return;
    const end = buf.indexOf('\r\n\r\n');
    if (end >= 0) {
      const head = buf.subarray(0, end).toString('latin1');
      const len = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      if (len === null) {
        waiter.reject(new Error(`no Content-Length in ${JSON.stringify(head)}`));
        waiter = null;
        return;
      }
      const total = end + 4 + Number(len[1]);
      if (buf.length >= total) {
        const res = {
          head,
          status: Number(head.split(' ')[1]),
          body: buf.subarray(end + 4, total),
        };
        buf = buf.subarray(total);
        waiter.resolve(res);
        waiter = null;
        return;
      }
    }
    if (closed !== null) {
      waiter.reject(new Error(`connection ${closed} after ${buf.length} bytes`));
      waiter = null;
    }
  };
  sock.on('data', (d) => { buf = Buffer.concat([buf, d]); check(); });
  sock.on('end', () => { closed = closed ?? 'closed by the server'; check(); });
  sock.on('error', (e) => { closed = closed ?? `failed: ${e.message}`; check(); });
  const ready = new Promise((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  return {
    get closed() { return closed; },
    get localPort() { return sock.localPort; },
    async request(target) {
      await ready;
      assert.equal(closed, null, `connection ${closed} before GET ${target}`);
      const answer = new Promise((resolve, reject) => { waiter = { resolve, reject }; });
      sock.write(`GET ${target} HTTP/1.1\r\nHost: ${u.host}\r\n\r\n`);
      return answer;
    },
    destroy() { sock.destroy(); },
  };
}

// Requests nginx refuses itself, without a name in them: its own 400 must
// be the contract's JSON too (HEAD without a body), and the app's own 400
// must pass through as the app wrote it.
const NGINX_400 = [
  ['no Host header in HTTP/1.1',
    Buffer.from('GET /gtg HTTP/1.1\r\nConnection: close\r\n\r\n')],
  ['two Host headers',
    Buffer.from('GET /gtg HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n')],
  ['a Host header with a slash',
    Buffer.from('GET /gtg HTTP/1.1\r\nHost: a/b\r\nConnection: close\r\n\r\n')],
  ['a chunked body with a bad chunk size',
    Buffer.from('POST /candidate/chunky HTTP/1.1\r\nHost: a\r\nConnection: close\r\n' +
      'Transfer-Encoding: chunked\r\n\r\nzz\r\nx\r\n0\r\n\r\n')],
];

// Sends bytes as they are and resolves to everything the server sent
// back until it closed.
function sendRaw(url, bytes) {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const chunks = [];
    const sock = net.connect({ host: u.hostname, port: Number(u.port) });
    sock.setTimeout(10000, () => sock.destroy(new Error('no answer in 10 s')));
    sock.on('data', (d) => chunks.push(d));
    sock.on('error', reject);
    sock.on('close', () => resolve(Buffer.concat(chunks)));
    sock.write(bytes);
  });
}

function parse(raw) {
  const end = raw.indexOf('\r\n\r\n');
  assert.ok(end > 0, `not an HTTP answer: ${JSON.stringify(raw.toString('latin1'))}`);
  const lines = raw.subarray(0, end).toString('latin1').split('\r\n');
  const headers = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  const body = raw.subarray(end + 4);
  return {
    status: Number(lines[0].split(' ')[1]),
    headers,
    body,
    json: () => JSON.parse(body.toString('utf8')),
  };
}

// Both servers at once, so the idle wait is paid once.
describe('live stacks', { concurrency: true }, () => {
  for (const web of ['nginx', 'lighttpd']) {
    describe(web, { concurrency: true }, () => {
      let stack = null;
      before(async () => { stack = await startStack({ web }); });
      after(async () => {
        if (stack !== null) await stopCleanly(stack);
      });

      it(`a keep-alive connection idle for ${IDLE_MS / 1000} s still answers, on the same socket`, async () => {
        const c = connection(stack.url);
        try {
          const first = await c.request('/gtg');
          assert.equal(first.status, 200, first.head);
          assert.doesNotMatch(first.head, /\r\nconnection:\s*close/i, first.head);
          const port = c.localPort;
          await sleep(IDLE_MS);
          assert.equal(c.closed, null, `${web} closed the connection within ` +
            `${IDLE_MS} ms of idling`);
          const second = await c.request('/gtg?details');
          assert.equal(second.status, 200, second.head);
          assert.equal(JSON.parse(second.body.toString('utf8')).connected, 'true');
          assert.equal(c.localPort, port, 'the answer came on another connection');
        } finally {
          c.destroy();
        }
      });

      if (web === 'nginx') {
        for (const [what, bytes] of NGINX_400) {
          it(`nginx's own 400 is JSON: ${what}`, async () => {
            const res = parse(await sendRaw(stack.url, bytes));
            expectJson(res, 400, { error: 'malformed request' });
            const head = parse(await sendRaw(stack.url,
              Buffer.from(bytes.toString('latin1').replace(/^(GET|POST)/, 'HEAD'), 'latin1')));
            assert.equal(head.status, 400, show(head));
            assert.equal(head.body.length, 0, `HEAD has a body: ${show(head)}`);
          });
        }
        it("the app's own 400 passes through nginx as the app wrote it", async () => {
          expectJson(await rawRequest(stack.url, 'GET', '/'), 400, { status: 'invalid request' });
        });
        it('no client reaches the location of those 400s', async () => {
          for (const target of ['//bad-request', '/%2Fbad-request', '/./bad-request']) {
            expectText(await rawRequest(stack.url, 'GET', target), 404, 'Not Found');
          }
        });
      }
    });
  }
});
