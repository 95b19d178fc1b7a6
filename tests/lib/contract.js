'use strict';
// The whole HTTP contract of docs/contract.md as one reusable suite:
//
//   contractSuite('sqlite/nginx', () => startStack({ web: 'nginx' }));
//
// start() must hand over a running stack on an EMPTY store and resolve to
// what startStack returns (url, logText(), stop()). Nothing here knows
// which store is behind the app. Every table row is its own test, named
// after the row, so a failure says which one.

const assert = require('node:assert/strict');
const http = require('node:http');
const os = require('node:os');
const { describe, it, before, after } = require('node:test');
const {
  request, rawRequest, assertNoSanitizerReport, stopCleanly,
} = require('./stack');

const enc = encodeURIComponent;

function mediaType(res) {
  return (res.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
}

function show(res) {
  const t = res.body.toString('latin1');
  return `${res.status} [${res.headers['content-type'] ?? 'no content-type'}] ` +
    JSON.stringify(t.length > 300 ? `${t.slice(0, 300)}...` : t);
}

function assertContentType(res, want) {
  assert.equal(mediaType(res), want, `Content-Type of ${show(res)}`);
  const cs = /charset=([^;\s]+)/i.exec(res.headers['content-type']);
  if (cs) assert.equal(cs[1].toLowerCase(), 'utf-8', `charset of ${show(res)}`);
}

// A JSON answer: status, type and the exact bytes json-c writes (compact,
// then "\n"), which also proves the body is valid UTF-8.
function expectJson(res, status, value) {
  assert.equal(res.status, status, `status of ${show(res)}`);
  assertContentType(res, 'application/json');
  let text;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(res.body);
  } catch {
    assert.fail(`body is not valid UTF-8: ${show(res)}`);
  }
  assert.equal(text, `${JSON.stringify(value)}\n`, `body of ${show(res)}`);
}

function expectText(res, status, text) {
  assert.equal(res.status, status, `status of ${show(res)}`);
  assertContentType(res, 'text/plain');
  assert.equal(res.body.toString('utf8'), text, `body of ${show(res)}`);
}

// A HEAD answer: what GET would say, without a body.
function expectHead(res, status, type) {
  assert.equal(res.status, status, `status of ${show(res)}`);
  if (type !== null) assertContentType(res, type);
  assert.equal(res.body.length, 0, `HEAD has a body: ${show(res)}`);
}

function expectAllow(res, allow) {
  assert.equal(res.status, 405, `status of ${show(res)}`);
  const got = (res.headers.allow ?? '').split(',').map((m) => m.trim())
    .filter(Boolean).sort();
  assert.deepEqual(got, allow.split(', ').sort(),
    `Allow header ${JSON.stringify(res.headers.allow)} of ${show(res)}`);
  assertContentType(res, 'text/plain');
  assert.equal(res.body.toString('utf8'), 'Method Not Allowed', `body of ${show(res)}`);
}

// A web server's own 400, for targets it will not pass on: nginx answers
// with the contract's JSON (nginx-conf/nginx.conf, error_page 400);
// lighttpd 1.4 has no clean way to answer JSON and sends its HTML page
// (lighttpd-conf/lighttpd.conf says why).
const WEB_400 = {
  nginx(res) {
    expectJson(res, 400, { error: 'malformed request' });
  },
  lighttpd(res) {
    assert.equal(res.status, 400, `status of ${show(res)}`);
    assertContentType(res, 'text/html');
    assert.match(res.body.toString('latin1'), /<title>400 Bad Request<\/title>/,
      `not lighttpd's 400 page: ${show(res)}`);
  },
};

// Who answered a refused name: 'web' for that web server's own 400
// (above), else 'app', whose 400 says what is wrong: {"error":"name ..."}.
function badNameFrom(res, web) {
  assert.ok(WEB_400[web], `unknown web server ${JSON.stringify(web)}`);
  assert.equal(res.status, 400, `status of ${show(res)}`);
  if (mediaType(res) === 'text/html' ||
      res.body.toString('latin1') === '{"error":"malformed request"}\n') {
    WEB_400[web](res);
    return 'web';
  }
  assertContentType(res, 'application/json');
  const v = res.json();
  assert.deepEqual(Object.keys(v), ['error'], `keys of ${show(res)}`);
  assert.match(v.error, /^name \S/, `an error that does not say what is ` +
    `wrong with the name: ${show(res)}`);
  assert.equal(res.body.toString('utf8'), `${JSON.stringify(v)}\n`,
    `not compact json-c output: ${show(res)}`);
  return 'app';
}

// A refused name, answered by whom its row says: the web servers in by
// refuse it themselves, behind any other the app does. A row that moves
// from one to the other fails, either way.
function expectBadName(res, web, by) {
  const want = by.includes(web) ? 'web' : 'app';
  assert.equal(badNameFrom(res, web), want,
    `${want === 'web' ? web : 'the app'} should have refused this: ${show(res)}`);
}

// Names the app must accept: [label, raw path segment, name it stores].
const VALID = [
  ['ASCII letters', 'alice', 'alice'],
  ['one byte', 'a', 'a'],
  ['digits', '12345', '12345'],
  ['mixed case is kept', 'AbC', 'AbC'],
  ['dash, underscore, tilde', 'a-b_c~d', 'a-b_c~d'],
  ['"+" is literal, not a space', 'a+b', 'a+b'],
  ['%2B decodes to the same "+" name', 'a%2Bb', 'a+b'],
  ['%20 is a space', 'a%20b', 'a b'],
  ['leading and trailing spaces', '%20x%20', ' x '],
  ['%252F decodes once to the literal %2F', '%252F', '%2F'],
  ['%2525 decodes once to %25', '%2525', '%25'],
  ['%25 alone is a percent sign', '100%25', '100%'],
  ['sub-delims and ":@" unescaped', "a!$&'()*,;=:@b", "a!$&'()*,;=:@b"],
  ['lowercase escapes', 'jos%c3%a9', 'josé'],
  ['uppercase escapes', 'Jos%C3%A9', 'José'],
  ['double quotes', '%22quoted%22', '"quoted"'],
  ['apostrophe', "it's", "it's"],
  ['HTML specials', '%3Cb%3E%26amp%3B', '<b>&amp;'],
  ['CJK', enc('候选人'), '候选人'],
  ['emoji (4-byte UTF-8)', enc('😀'), '😀'],
  ['emoji ZWJ sequence', enc('👩‍💻'), '👩‍💻'],
  ['combining accent', enc('e\u0301'), 'e\u0301'],
  ['right-to-left text', enc('مرشح'), 'مرشح'],
  ['U+0080 (a C1 control is not excluded)', '%C2%80', '\u0080'],
  ['U+2028 line separator', '%E2%80%A8', '\u2028'],
  ['U+FEFF byte order mark', '%EF%BB%BF', '\ufeff'],
  ['U+D7FF, below the surrogates', '%ED%9F%BF', '\ud7ff'],
  ['U+E000, above the surrogates', '%EE%80%80', '\ue000'],
  ['U+FFFF', '%EF%BF%BF', '\uffff'],
  ['U+10FFFF, the last code point', '%F4%8F%BF%BF', '\u{10ffff}'],
  ['three dots', '...', '...'],
  ['leading dot', '.hidden', '.hidden'],
  ['dot dot and more', '..a', '..a'],
  ['encoded dots and more', '%2e%2ex', '..x'],
  ['two underscores', '__', '__'],
  ['three underscores', '___', '___'],
  ['underscores at the start only', '__x', '__x'],
  ['underscores at the end only', 'x__', 'x__'],
  ['one underscore each side', '_x_', '_x_'],
  ['__x__ inside a longer name', 'a__x__', 'a__x__'],
  ['255 ASCII bytes', 'n'.repeat(255), 'n'.repeat(255)],
  ['255 bytes, every one escaped', '%62'.repeat(255), 'b'.repeat(255)],
  ['255 bytes of 3-byte characters', enc('日'.repeat(85)), '日'.repeat(85)],
  ['255 bytes ending in ASCII', enc(`${'é'.repeat(127)}x`), `${'é'.repeat(127)}x`],
];

// Names that must be refused: [label, raw path segment, the web servers
// that refuse it themselves]. A Buffer segment is sent byte for byte with
// rawRequest (a client library would refuse it). The app refuses every
// row a web server passes on; which rows each server keeps is pinned, so
// that a row moving either way is noticed.
const APP = [];
const N = ['nginx'];
const L = ['lighttpd'];
const NL = ['nginx', 'lighttpd'];
const INVALID = [
  ['empty name', '', APP],
  ['%2F slash', '%2F', APP],
  ['%2f lowercase slash', 'a%2fb', APP],
  ['%5C backslash', '%5C', APP],
  ['%5C backslash inside', 'a%5Cb', APP],
  ['%3F question mark', '%3F', APP],
  ['%23 hash', 'a%23b', APP],
  ['%00 NUL', '%00', NL],
  ['%00 NUL inside', 'a%00b', NL],
  ['%01', '%01', L],
  ['%09 tab', 'a%09b', L],
  ['%0A newline', 'a%0Ab', L],
  ['%0D carriage return', 'a%0Db', L],
  ['%1F', '%1F', L],
  ['%7F DEL', 'a%7F', L],
  ['overlong NUL %C0%80', '%C0%80', L],
  ['overlong "/" %C0%AF', '%C0%AF', L],
  ['overlong %C1%BF', '%C1%BF', L],
  ['overlong 3-byte %E0%80%AF', '%E0%80%AF', APP],
  ['overlong 3-byte %E0%9F%BF', '%E0%9F%BF', APP],
  ['overlong 4-byte %F0%80%80%AF', '%F0%80%80%AF', APP],
  ['overlong 4-byte %F0%8F%BF%BF', '%F0%8F%BF%BF', APP],
  ['surrogate U+D800 %ED%A0%80', '%ED%A0%80', APP],
  ['surrogate U+DFFF %ED%BF%BF', '%ED%BF%BF', APP],
  ['CESU-8 surrogate pair', '%ED%A0%BD%ED%B8%80', APP],
  ['over U+10FFFF %F4%90%80%80', '%F4%90%80%80', APP],
  ['%F5 lead byte', '%F5%80%80%80', L],
  ['5-byte form %F8', '%F8%88%80%80%80', L],
  ['%FF', '%FF', L],
  ['%FE', 'a%FE', L],
  ['lone continuation byte %80', '%80', APP],
  ['truncated 2-byte %C3', 'a%C3', APP],
  ['truncated 3-byte %E6%97', '%E6%97', APP],
  ['bad continuation %C3%28', '%C3%28', APP],
  ['Latin-1 é (%E9) is not UTF-8', 'caf%E9', APP],
  ['"."', '.', APP],
  ['".."', '..', APP],
  ['%2e', '%2e', APP],
  ['%2e%2e', '%2e%2e', APP],
  ['.%2E', '.%2E', APP],
  ['__x__', '__x__', APP],
  ['____', '____', APP],
  ['__é__', '__%C3%A9__', APP],
  ['escaped underscores %5F%5Fx%5F%5F', '%5F%5Fx%5F%5F', APP],
  ['bad escape %zz', '%zz', N],
  ['bad escape %4 (one digit)', 'a%4', N],
  ['bad escape % at the end', 'a%', N],
  ['bad escape %g0', '%g0', N],
  ['bad escape %4g', '%4g', N],
  ['bad escape %%41', '%%41', N],
  ['256 ASCII bytes', 'c'.repeat(256), APP],
  ['256 bytes, every one escaped', '%63'.repeat(256), APP],
  ['256 bytes of 2-byte characters', enc('é'.repeat(128)), APP],
  ['256 bytes: 85 CJK and one ASCII', enc(`${'日'.repeat(85)}x`), APP],
  ['4096 bytes', 'd'.repeat(4096), APP],
  ['raw control byte 0x01', Buffer.from('a\x01b', 'latin1'), NL],
  ['raw DEL 0x7F', Buffer.from('a\x7fb', 'latin1'), NL],
  ['raw tab', Buffer.from('a\tb', 'latin1'), NL],
  ['raw byte 0xFF', Buffer.from('a\xffb', 'latin1'), L],
  ['raw overlong C0 AF', Buffer.from('\xc0\xaf', 'latin1'), L],
  ['raw surrogate ED A0 80', Buffer.from('\xed\xa0\x80', 'latin1'), APP],
  ['raw backslash', Buffer.from('a\\b', 'latin1'), APP],
];

// Unknown paths, for any method: 404 "Not Found". The last two are
// nginx's internal location for its own 400s, which no client reaches.
const UNKNOWN = [
  '/nope', '/index.html', '/favicon.ico', '/candidate', '/candidates/',
  '/candidatesx', '/Candidates', '/CANDIDATE/x', '/gtg/', '/gtgx',
  '/gtg/details', '/candidate/a/b', '/candidate/x/', '/candidate//x',
  '/%2Fcandidates', '/candidates%2F', '//bad-request', '/%2Fbad-request',
];

// A known path with a method it does not answer: 405 and Allow.
const LIST_ALLOW = 'GET, HEAD';
const NAME_ALLOW = 'GET, HEAD, POST';
const WRONG_METHOD = [
  ['POST', '/', LIST_ALLOW],
  ['POST', '/gtg', LIST_ALLOW],
  ['POST', '/gtg?details', LIST_ALLOW],
  ['POST', '/candidates', LIST_ALLOW],
  ['PUT', '/', LIST_ALLOW],
  ['PUT', '/gtg', LIST_ALLOW],
  ['PUT', '/candidates', LIST_ALLOW],
  ['DELETE', '/gtg', LIST_ALLOW],
  ['DELETE', '/candidates', LIST_ALLOW],
  ['PATCH', '/candidates', LIST_ALLOW],
  ['OPTIONS', '/gtg', LIST_ALLOW],
  ['OPTIONS', '/candidates', LIST_ALLOW],
  ['PUT', '/candidate/method-kept', NAME_ALLOW],
  ['DELETE', '/candidate/method-kept', NAME_ALLOW],
  ['PATCH', '/candidate/method-kept', NAME_ALLOW],
  ['OPTIONS', '/candidate/method-kept', NAME_ALLOW],
  ['PUT', '/candidate/method-new', NAME_ALLOW],
  ['PATCH', '/candidate/method-new', NAME_ALLOW],
];

function chunked(body) {
  return Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body,
    Buffer.from('\r\n0\r\n\r\n')]);
}

/*
 * label: "<store>/<web>", e.g. "sqlite/nginx"; the app's store errors
 *   begin with the store's name ("sqlite put: database is locked").
 * opts.instanceId: what /gtg?details must report (default os.hostname();
 *   null: any non-empty string).
 * opts.outage: { begin(stack), end(stack), readsFail, maxMs } for stores
 *   whose outage a test can cause; writes (and reads when readsFail) must
 *   then be 503 with Retry-After, never 404 or 200, while /gtg stays 200;
 *   maxMs bounds how long the 503 may take (the configured deadline).
 * opts.bulk: how many distinct names the concurrency test writes (500).
 */
function contractSuite(label, start, opts = {}) {
  // "<store>/<web>": the store's name begins every reason it gives.
  const store = label.split('/')[0];
  const instanceId = opts.instanceId === undefined ? os.hostname() : opts.instanceId;
  const bulk = opts.bulk ?? 500;

  describe(label, () => {
    let stack = null;
    // Every name a write was acknowledged for: the store must hold
    // exactly these, since start() hands over an empty store.
    const stored = new Set();

    const req = (method, target, o) => request(stack.url, method, target, o);
    const raw = (method, target, o) => rawRequest(stack.url, method, target, o);

    async function listNames() {
      const res = await req('GET', '/candidates');
      if (res.status === 404) {
        expectText(res, 404, 'Not Found');
        return [];
      }
      assert.equal(res.status, 200, `GET /candidates: ${show(res)}`);
      assertContentType(res, 'application/json');
      const v = res.json();
      assert.ok(Array.isArray(v), `listing is not a list: ${show(res)}`);
      assert.equal(res.body.toString('utf8'), `${JSON.stringify(v)}\n`,
        'listing is not compact json-c output');
      for (const item of v) {
        assert.deepEqual(Object.keys(item), ['CandidateName'],
          `listing item ${JSON.stringify(item)}`);
        assert.equal(typeof item.CandidateName, 'string');
      }
      return v.map((item) => item.CandidateName);
    }

    // The store holds exactly what was acknowledged: nothing lost,
    // nothing extra (a refused write), no name twice.
    async function assertStoreHoldsExactly() {
      const names = await listNames();
      const dupes = names.filter((n, i) => names.indexOf(n) !== i);
      assert.deepEqual(dupes, [], 'names listed twice');
      const extra = names.filter((n) => !stored.has(n));
      const missing = [...stored].filter((n) => !names.includes(n));
      assert.deepEqual({ extra, missing }, { extra: [], missing: [] },
        'GET /candidates differs from what was written');
    }

    async function postOk(segment, name, o = {}) {
      const res = await req('POST', `/candidate/${segment}`, o);
      expectJson(res, 200, { CandidateName: name });
      stored.add(name);
    }

    async function getOk(segment, name) {
      expectJson(await req('GET', `/candidate/${segment}`), 200,
        [{ CandidateName: name }]);
    }

    async function getMissing(segment) {
      expectText(await req('GET', `/candidate/${segment}`), 404, 'Not Found');
    }

    before(async () => {
      stack = await start();
    });

    after(async () => {
      if (stack !== null) await stopCleanly(stack);
    });

    describe('an empty store', () => {
      it('GET /candidates is 404 "Not Found"', async () => {
        expectText(await req('GET', '/candidates'), 404, 'Not Found');
      });
      it('HEAD /candidates is 404 without a body', async () => {
        expectHead(await req('HEAD', '/candidates'), 404, 'text/plain');
      });
      it('GET /candidate/<absent> is 404 "Not Found"', async () => {
        await getMissing('nobody');
      });
    });

    describe('/gtg and /', () => {
      const details = (res) => {
        expectJson(res, 200, {
          connected: 'true',
          'instance-id': instanceId ?? res.json()['instance-id'],
        });
        assert.ok(res.json()['instance-id'].length > 0, 'empty instance-id');
      };
      const empty = (res) => {
        assert.equal(res.status, 200, show(res));
        assert.equal(res.body.length, 0, `/gtg has a body: ${show(res)}`);
      };
      const root = (res) => expectJson(res, 400, { status: 'invalid request' });
      const rows = [
        ['GET', '/gtg', empty],
        ['GET', '/gtg?x=1', empty],
        ['GET', '/gtg?foo=details', empty],
        ['GET', '/gtg?detailsx', empty],
        ['GET', '/gtg?details', details],
        ['GET', '/gtg?details=true', details],
        ['GET', '/gtg?details=', details],
        ['GET', '/gtg?details=false', details],
        ['GET', '/gtg?x=1&details', details],
        ['GET', '/gtg?details&x=1', details],
        ['GET', '/', root],
        ['GET', '/?details', root],
        ['HEAD', '/gtg', (res) => expectHead(res, 200, null)],
        ['HEAD', '/gtg?details', (res) => expectHead(res, 200, 'application/json')],
        ['HEAD', '/', (res) => expectHead(res, 400, 'application/json')],
      ];
      for (const [method, target, check] of rows) {
        it(`${method} ${target}`, async () => check(await req(method, target)));
      }
    });

    describe('valid names round-trip byte-exact (POST, GET, HEAD, list)', () => {
      for (const [what, segment, name] of VALID) {
        it(what, async () => {
          await postOk(segment, name);
          await getOk(segment, name);
          // The canonical encoding finds the same item.
          await getOk(enc(name), name);
          expectHead(await req('HEAD', `/candidate/${segment}`), 200,
            'application/json');
        });
      }
      it('HEAD /candidate/<absent> is 404 without a body', async () => {
        expectHead(await req('HEAD', '/candidate/absent'), 404, 'text/plain');
      });
      it('"a b", "a+b" and "a++b" are distinct names', async () => {
        // Both exist now; each must find exactly itself.
        await getOk('a%20b', 'a b');
        await getOk('a+b', 'a+b');
        await getOk('a%2bb', 'a+b');
        await getMissing('a%2B%2Bb');
        await getMissing('ab');
      });
      it('a second POST of a name is an upsert, listed once', async () => {
        await postOk('alice', 'alice');
        await postOk('alice', 'alice');
        await assertStoreHoldsExactly();
      });
      it('GET /candidates lists exactly the names written', async () => {
        await assertStoreHoldsExactly();
        expectHead(await req('HEAD', '/candidates'), 200, 'application/json');
        // The query string does not change the listing.
        const a = await req('GET', '/candidates');
        const b = await req('GET', '/candidates?limit=1');
        assert.equal(b.status, 200, show(b));
        assert.deepEqual(b.json(), a.json());
      });
    });

    describe('invalid names are 400 and store nothing', () => {
      for (const [what, segment, by] of INVALID) {
        it(what, async () => {
          const target = Buffer.concat([Buffer.from('/candidate/'),
            Buffer.isBuffer(segment) ? segment : Buffer.from(segment, 'latin1')]);
          const send = Buffer.isBuffer(segment) ? raw
            : (m, t, o) => req(m, t.toString('latin1'), o);
          expectBadName(await send('POST', target, { body: Buffer.from('x') }),
            stack.web, by);
          expectBadName(await send('GET', target), stack.web, by);
          expectHead(await send('HEAD', target), 400,
            by.includes(stack.web) && stack.web === 'lighttpd' ? 'text/html'
              : 'application/json');
          await assertStoreHoldsExactly();
        });
      }
      it('raw space: nginx refuses it, lighttpd stores "sp ace"', async () => {
        // Not valid HTTP: nginx refuses it; lighttpd passes it on and the
        // app decodes the segment once, like %20.
        const res = await raw('POST', '/candidate/sp ace', { body: Buffer.alloc(0) });
        if (stack.web === 'lighttpd') {
          expectJson(res, 200, { CandidateName: 'sp ace' });
          stored.add('sp ace');
        } else {
          expectBadName(res, stack.web, [stack.web]);
        }
        await assertStoreHoldsExactly();
      });
    });

    describe('unknown paths are 404 "Not Found" for every method', () => {
      for (const target of UNKNOWN) {
        it(target, async () => {
          for (const method of ['GET', 'POST', 'PUT', 'DELETE']) {
            const res = await req(method, target, { body: method === 'GET' ? null : 'x' });
            assert.equal(res.status, 404, `${method} ${target}: ${show(res)}`);
            expectText(res, 404, 'Not Found');
          }
          expectHead(await req('HEAD', target), 404, 'text/plain');
          await assertStoreHoldsExactly();
        });
      }
    });

    describe('a known path with another method is 405 with Allow', () => {
      before(async () => { await postOk('method-kept', 'method-kept'); });
      for (const [method, target, allow] of WRONG_METHOD) {
        it(`${method} ${target}`, async () => {
          expectAllow(await req(method, target, { body: 'x' }), allow);
          // Nothing written, nothing deleted.
          await assertStoreHoldsExactly();
        });
      }
      it('the candidate the wrong methods aimed at is still there', async () => {
        await getOk('method-kept', 'method-kept');
        await getMissing('method-new');
      });
    });

    describe('request bodies: ignored, bounded at 16 KiB', () => {
      const rows = [
        ['exactly 16 KiB is accepted', 'body-16k', { body: Buffer.alloc(16384, 'a') }, 200],
        ['16 KiB + 1 is 413', 'body-16k1', { body: Buffer.alloc(16385, 'a') }, 413],
        ['1 MiB is 413', 'body-1m', { body: Buffer.alloc(1 << 20, 'a') }, 413],
        ['chunked, 100 bytes, is accepted', 'body-chunked-small',
          { headers: { 'Transfer-Encoding': 'chunked' }, body: chunked(Buffer.alloc(100, 'b')) }, 200],
        ['chunked, 20 KiB, is 413', 'body-chunked-big',
          { headers: { 'Transfer-Encoding': 'chunked' }, body: chunked(Buffer.alloc(20480, 'b')) }, 413],
        ['a JSON body naming another candidate is ignored', 'body-json',
          { headers: { 'Content-Type': 'application/json' },
            body: Buffer.from('{"CandidateName":"body-other"}') }, 200],
        ['a form body is ignored', 'body-form',
          { headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
            body: Buffer.from('CandidateName=body-other') }, 200],
        ['binary with NUL bytes is ignored', 'body-binary',
          { headers: { 'Content-Type': 'application/octet-stream' },
            body: Buffer.from([0, 1, 2, 255, 0, 10, 13]) }, 200],
      ];
      for (const [what, name, o, status] of rows) {
        it(what, async () => {
          const res = await raw('POST', `/candidate/${name}`, o);
          if (status === 200) {
            expectJson(res, 200, { CandidateName: name });
            stored.add(name);
            await getOk(name, name);
          } else {
            assert.equal(res.status, 413, show(res));
            await getMissing(name);
          }
          await getMissing('body-other');
          await assertStoreHoldsExactly();
        });
      }
    });

    describe('concurrency', () => {
      let agent;
      before(() => { agent = new http.Agent({ keepAlive: true, maxSockets: 32 }); });
      after(() => agent.destroy());
      const marks = ['', '-é', '-日本', '-😀'];
      const names = Array.from({ length: bulk },
        (_, i) => `bulk-${String(i).padStart(4, '0')}${marks[i % marks.length]}`);

      it(`${bulk} distinct POSTs over 32 connections: none lost`, async () => {
        const failed = [];
        await Promise.all(names.map(async (n) => {
          const res = await req('POST', `/candidate/${enc(n)}`, { agent });
          try {
            expectJson(res, 200, { CandidateName: n });
            stored.add(n);
          } catch (e) {
            failed.push(`${n}: ${e.message}`);
          }
        }));
        assert.deepEqual(failed.slice(0, 5), [], `${failed.length} POSTs failed`);
        await assertStoreHoldsExactly();
      });

      it(`${bulk} GETs and 16 listings in parallel all find every name`, async () => {
        const failed = [];
        const gets = names.map(async (n) => {
          const res = await req('GET', `/candidate/${enc(n)}`, { agent });
          try {
            expectJson(res, 200, [{ CandidateName: n }]);
          } catch (e) {
            failed.push(`${n}: ${e.message}`);
          }
        });
        const lists = Array.from({ length: 16 }, async () => {
          const res = await req('GET', '/candidates', { agent });
          assert.equal(res.status, 200, show(res));
          assert.equal(res.json().length, stored.size, 'listing size');
        });
        await Promise.all([...gets, ...lists]);
        assert.deepEqual(failed.slice(0, 5), [], `${failed.length} GETs failed`);
      });

      it('POSTs of one name racing GETs and listings: all 200, listed once', async () => {
        await postOk('contended', 'contended');
        const jobs = [];
        for (let i = 0; i < 64; i++) {
          jobs.push(req('POST', '/candidate/contended', { agent })
            .then((r) => expectJson(r, 200, { CandidateName: 'contended' })));
          jobs.push(req('GET', '/candidate/contended', { agent })
            .then((r) => expectJson(r, 200, [{ CandidateName: 'contended' }])));
          if (i % 8 === 0) {
            jobs.push(req('GET', '/candidates', { agent }).then((r) => {
              assert.equal(r.status, 200, show(r));
              assert.ok(r.json().some((x) => x.CandidateName === 'contended'));
            }));
          }
        }
        await Promise.all(jobs);
        await assertStoreHoldsExactly();
      });

      it('new names written while listing: every listing is complete JSON', async () => {
        const before = new Set(stored);
        const fresh = Array.from({ length: 64 }, (_, i) => `during-list-${i}`);
        const jobs = fresh.map((n) => postOk(n, n, { agent }));
        for (let i = 0; i < 8; i++) {
          jobs.push(req('GET', '/candidates', { agent }).then((r) => {
            assert.equal(r.status, 200, show(r));
            const got = new Set(r.json().map((x) => x.CandidateName));
            const lost = [...before].filter((n) => !got.has(n));
            assert.deepEqual(lost, [], 'a listing lost names written earlier');
          }));
        }
        await Promise.all(jobs);
        await assertStoreHoldsExactly();
      });
    });

    if (opts.outage) {
      describe('store outage: 503 with Retry-After, never 404', () => {
        const o = opts.outage;
        let logBefore = '';
        // [method, target, operation] of each 503 answered so far: each
        // must have logged exactly one line saying why.
        const failed = [];
        before(async () => {
          logBefore = stack.logText();
          await o.begin(stack);
        });
        after(async () => { await o.end(stack); });

        async function unavailable(method, target, op) {
          const res = await req(method, target);
          expectJson(res, 503, { error: 'store unavailable' });
          assert.equal(res.headers['retry-after'], '1', show(res));
          failed.push([method, target, op]);
        }

        it('POST is 503 {"error":"store unavailable"} with Retry-After: 1', async () => {
          const t0 = Date.now();
          await unavailable('POST', '/candidate/during-outage', 'put');
          const ms = Date.now() - t0;
          if (o.maxMs !== undefined) {
            assert.ok(ms <= o.maxMs, `the 503 took ${ms} ms, over the ` +
              `deadline's ${o.maxMs} ms`);
          }
        });
        if (o.readsFail) {
          it('GET of a stored name is 503, not 404', async () => {
            await unavailable('GET', '/candidate/alice', 'get');
          });
          it('GET /candidates is 503, not 404', async () => {
            await unavailable('GET', '/candidates', 'list');
          });
        }
        it('/gtg stays 200 without touching the store', async () => {
          const res = await req('GET', '/gtg');
          assert.equal(res.status, 200, show(res));
        });
        it('the app logged one line saying why', async () => {
          const added = stack.logText().slice(logBefore.length).split('\n')
            .filter((l) => l.trim() !== '');
          assertNoSanitizerReport(added.join('\n'));
          assert.ok(failed.length > 0, 'no 503 to look for');
          // server.c: "<method> <target>: <status> <operation>: <reason>",
          // the reason being the store's: "<store> <call>: <why>".
          const esc = (t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
          const want = failed.map(([method, target, op]) => new RegExp(
            `^${esc(method)} ${esc(target)}: 503 ${op}: ${esc(store)} \\S+: \\S`));
          assert.equal(added.length, want.length,
            `${want.length} lines expected, one per 503:\n${added.join('\n')}`);
          added.forEach((line, i) => assert.match(line, want[i],
            `log line ${i + 1} for ${failed[i].join(' ')}`));
        });
      });
      describe('after the outage', () => {
        it('the refused write was not stored, and writes work again', async () => {
          await getMissing('during-outage');
          await postOk('after-outage', 'after-outage');
          await assertStoreHoldsExactly();
        });
      });
    }

    describe('finally', () => {
      it('the store holds exactly the acknowledged writes', async () => {
        await assertStoreHoldsExactly();
      });
      it('no sanitizer report so far', () => {
        assertNoSanitizerReport(stack.logText());
      });
    });
  });
}

module.exports = {
  contractSuite,
  expectJson,
  expectText,
  expectBadName,
  mediaType,
  show,
};
