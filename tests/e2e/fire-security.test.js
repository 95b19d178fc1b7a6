'use strict';
// Issue 6, item 7: the inputs and outputs, reviewed as an attacker would.
// - No response header can be injected from a name or a query (CR, LF and
//   friends, encoded or raw), through nginx and lighttpd.
// - No secret (the secret key, the session token) appears in any log line
//   or error body, from a run with credentials in the environment that
//   provokes every kind of store error: a wrong secret (DynamoDB's answer
//   then quotes the canonical request, which holds the token), a store
//   that is down, and garbage from it.
// - The FastCGI socket is not world-writable, here and in the image.
// - The app runs unprivileged on the VM (the image's systemd units).

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { describe, it, before, after } = require('node:test');
const {
  ROOT, startStack, request, rawRequest, assertNoSanitizerReport,
} = require('../lib/stack');
const { startDynamo } = require('../soak/load');

// Every header the service and its web servers may send. Anything else in
// an answer would have come from the request.
const HEADERS = new Set(['server', 'date', 'content-type', 'content-length', 'connection',
  'keep-alive', 'allow', 'retry-after', 'transfer-encoding', 'accept-ranges']);

// Targets that try to end the header block or add a header of their own.
const INJECTIONS = [
  '/candidate/a%0d%0aSet-Cookie:%20injected=1',
  '/candidate/a%0aX-Injected:%201',
  '/candidate/a%0dX-Injected:%201',
  '/candidate/a%0d%0a%0d%0a<html>',
  '/candidate/a%E5%98%8A%E5%98%8DX-Injected:%201',	// U+560A U+560D: CR LF in the low bytes
  '/candidate/a%C4%8D%C4%8AX-Injected:%201',		// U+010D U+010A
  '/candidate/a%25%30d%25%30aX-Injected:1',		// double-encoded, a valid name
  '/candidate/a%00%0d%0aX-Injected:1',
  '/gtg?details=%0d%0aX-Injected:%201',
  '/gtg?%0d%0aX-Injected:%201&details',
  '/candidates?%0d%0aX-Injected:%201',
  '/%0d%0aX-Injected:%201',
];

function assertNoInjectedHeader(res, what) {
  const extra = Object.keys(res.headers).filter((h) => !HEADERS.has(h));
  assert.deepEqual(extra, [], `${what}: unexpected headers ${JSON.stringify(res.headers)}`);
  for (const [k, v] of Object.entries(res.headers)) {
    assert.doesNotMatch(String(v), /injected|[\r\n]/i, `${what}: header ${k}: ${v}`);
  }
}

for (const web of ['nginx', 'lighttpd']) {
  describe(`no header injection through ${web}`, () => {
    let stack;
    before(async () => { stack = await startStack({ web }); });
    after(async () => {
      const r = await stack.stop();
      assertNoSanitizerReport(stack.logText());
      assert.deepEqual(r, { code: 0, signal: null });
    });

    for (const target of INJECTIONS) {
      for (const method of ['GET', 'POST', 'HEAD']) {
        it(`${method} ${target}`, async () => {
          const res = await rawRequest(stack.url, method, target);
          assert.ok(res.status < 500, `status ${res.status}`);
          assertNoInjectedHeader(res, `${method} ${target}`);
          // A name that held a CR or LF was refused: nothing to echo.
          if (/%0[da]/i.test(target) && target.startsWith('/candidate/')) {
            assert.equal(res.status, 400, `${method} ${target} was accepted`);
          }
        });
      }
    }

    it('raw CR, LF and NUL bytes in the target are refused before the app', async () => {
      for (const bytes of ['/candidate/a\rX-Injected: 1', '/candidate/a\x00b',
        '/gtg?details\rX-Injected: 1']) {
        let res;
        try {
          res = await rawRequest(stack.url, 'GET', bytes);
        } catch {
          continue;	// the server hung up on it: also fine
        }
        assert.equal(res.status, 400, `${JSON.stringify(bytes)}: ${res.status}`);
        assertNoInjectedHeader(res, JSON.stringify(bytes));
      }
    });

    it('a stored name full of header syntax stays in the JSON body', async () => {
      const name = 'Status: 302\u2028Location: evil X-Injected: 1\r\n'.slice(0, -2);
      const enc = encodeURIComponent(name);
      for (const [method, target] of [['POST', `/candidate/${enc}`],
        ['GET', `/candidate/${enc}`], ['GET', '/candidates']]) {
        const res = await request(stack.url, method, target);
        assert.equal(res.status, 200, `${method} ${target}`);
        assertNoInjectedHeader(res, `${method} ${target}`);
        assert.ok(JSON.stringify(res.json()).includes('X-Injected'), 'the name is in the body');
      }
    });
  });
}

describe('no secret in any log line or error body (DynamoDB with credentials)', () => {
  let dyn;
  const bodies = [];
  const logs = [];
  before(async () => { dyn = await startDynamo(); });
  after(async () => { await dyn?.stop(); });

  // Sends every route and keeps what came back.
  async function exercise(stack, what) {
    for (const [m, t] of [['GET', '/candidate/bob'], ['POST', '/candidate/bob'],
      ['GET', '/candidates'], ['GET', '/gtg?details'], ['GET', '/candidate/%C0%AF']]) {
      const res = await request(stack.url, m, t, { timeoutMs: 20000 });
      bodies.push({ what: `${what}: ${m} ${t} ${res.status}`, text: res.body.toString('latin1'),
        headers: JSON.stringify(res.headers) });
    }
  }

  it('a wrong secret: every data request fails, the log says why', async () => {
    // The right access key and token, a wrong secret: the proxy answers
    // InvalidSignatureException with the canonical request in its message.
    const stack = await startStack({ env: dyn.env({
      AWS_SECRET_ACCESS_KEY: 'WRONG/secret+key/0123456789abcdefGHIJKLMN',
      CANDIDATES_TIMEOUT_MS: '2000',
    }) });
    try {
      await exercise(stack, 'wrong secret');
    } finally {
      await stack.stop();
      logs.push({ what: 'wrong secret', text: stack.logText() + stack.outputText() });
    }
    assert.match(logs.at(-1).text, /InvalidSignature/, 'the log does not name the error');
    dyn.secrets.push('WRONG/secret+key/0123456789abcdefGHIJKLMN');
  });

  it('the store down, then garbage from it', async () => {
    const stack = await startStack({ env: dyn.env({ CANDIDATES_TIMEOUT_MS: '1500' }) });
    try {
      await exercise(stack, 'healthy');
      await dyn.proxy.down();
      await exercise(stack, 'down');
      await dyn.proxy.up();
      dyn.proxy.inject('garbage', { count: 100, body: `{"Count": "${dyn.creds.sessionToken}"` });
      await exercise(stack, 'garbage');
      dyn.proxy.clearFaults();
    } finally {
      await stack.stop();
      logs.push({ what: 'down and garbage', text: stack.logText() + stack.outputText() });
    }
    assert.ok(bodies.some((b) => b.what.startsWith('down') && / 503$/.test(b.what)),
      'the outage did not show as 503');
  });

  it('no log line and no answer holds a secret or a piece of one', () => {
    assert.ok(logs.length === 2 && bodies.length >= 20, 'the runs above did not all happen');
    for (const secret of dyn.secrets) {
      // Any 16-byte piece: a truncated secret in a log is still a leak.
      const pieces = [];
      for (let i = 0; i + 16 <= secret.length; i += 8) pieces.push(secret.slice(i, i + 16));
      for (const { what, text } of [...logs, ...bodies.map((b) => ({
        what: b.what, text: b.text + b.headers,
      }))]) {
        for (const p of pieces) {
          assert.ok(!text.includes(p), `${what}: holds a piece of a secret (${p.slice(0, 4)}...)`);
        }
      }
    }
  });
});

describe('the FastCGI socket and the process owner', () => {
  it('the socket stack.sh makes is not writable by others (0600)', async () => {
    const stack = await startStack({});
    try {
      const st = fs.statSync(path.join(stack.dir, 'fcgi.sock'));
      assert.ok(st.isSocket());
      assert.equal(st.mode & 0o002, 0, `mode ${(st.mode & 0o777).toString(8)}`);
      assert.equal(st.mode & 0o777, 0o600, `mode ${(st.mode & 0o777).toString(8)}`);
    } finally {
      await stack.stop();
    }
  });

  // The image's units: whatever starts spawn-fcgi must give the socket a
  // mode without o+w and run the app as a user that is not root.
  it('the image runs the app unprivileged on a socket others cannot write', (t) => {
    const units = [];
    const walk = (d) => {
      if (!fs.existsSync(d)) return;
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (/^\s*ExecStart=.*spawn-fcgi/m.test(fs.readFileSync(p, 'latin1'))) units.push(p);
      }
    };
    walk(path.join(ROOT, 'images'));
    if (units.length === 0) {
      t.skip('no unit in images/ starts spawn-fcgi yet');
      return;
    }
    for (const f of units) {
      const text = fs.readFileSync(f, 'utf8');
      const line = text.split('\n').find((l) => /^\s*ExecStart=.*spawn-fcgi/.test(l));
      const mode = /\s-M\s+(0?[0-7]{3,4})/.exec(line);
      assert.ok(mode, `${f}: spawn-fcgi without -M (the mode would be the umask's)`);
      assert.equal(parseInt(mode[1], 8) & 0o002, 0, `${f}: socket mode ${mode[1]} is world-writable`);
      const user = /^\s*User=(\S+)/m.exec(text);
      const dropTo = /\s-u\s+(\S+)/.exec(line);
      const who = dropTo ? dropTo[1] : user ? user[1] : 'root';
      assert.notEqual(who, 'root', `${f}: the app runs as root`);
      assert.notEqual(who, '0', `${f}: the app runs as root`);
    }
  });
});
