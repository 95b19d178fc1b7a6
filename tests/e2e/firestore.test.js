'use strict';
// The Firestore store (issue 12), proven on Google's own Firestore
// emulator with the official @google-cloud/firestore as the oracle for the
// data (it reads what the service wrote and writes what the service must
// read, names compared byte for byte). The emulator checks no token, so
// the credential paths are proven against the verifying fakes: a token
// endpoint that checks each JWT grant's RS256 signature and claims, a
// metadata server that insists on Metadata-Flavor, and a token-checking
// proxy in front of the emulator (tests/lib/firestore-proxy.js) that lets
// through only unexpired tokens those fakes issued ("owner" only for the
// runs that play an emulator user), over HTTPS with a throwaway CA that
// the app trusts through SSL_CERT_FILE. The proxy also plays the faults.
//
// Without the emulator every test is skipped with one line saying so.
// The figures (time to 503, retries observed, token fetches, listing
// pages) are printed as test diagnostics and once more at the end.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');
const {
  startStack, request, assertNoSanitizerReport, freePort, ROOT, SAN_APP, SANITIZER_ENV, waitForLog,
  sleep,
} = require('../lib/stack');
const { contractSuite, expectJson, expectText, show } = require('../lib/contract');
const { findEmulator, startEmulator, SKIP_MESSAGE } = require('../lib/firestore-emulator');
const {
  GoogleTokenRegistry, startTokenServer, makeServiceAccount, SCOPES,
} = require('../lib/fake-google-token');
const { startMetadata } = require('../lib/fake-gce-metadata');
const { startFirestoreProxy, UNAUTHENTICATED } = require('../lib/firestore-proxy');
const { makeTestCerts } = require('../lib/sigv4-proxy');

const PROJECT = 'demo-candidates';
const INSTANCE_ID = '4520031799277581759';
// The app's total deadline per store call, retries included; short, to
// keep the outage tests short. SLACK_MS is the round trip through the web
// server under the sanitizers on a busy two-core box.
const TIMEOUT_MS = 2000;
const CONNECT_TIMEOUT_MS = 500;
const SLACK_MS = 1500;
const MAX_ATTEMPTS = 3;		// cloud/retry.h's RETRY_ATTEMPTS
// METADATA_START_MS in fcgi-app/stores/firestore/firestore.c.
const METADATA_START_MS = 1000;
const STARTUP_MS = 5000;
const PAGE_SIZE = 300;		// FIRESTORE_PAGE_SIZE

const enc = encodeURIComponent;

// Every variable of the store's: each test says which it sets, and the
// rest are unset in the app's environment whatever this shell holds.
const STORE_VARS = ['FIRESTORE_EMULATOR_HOST', 'FIRESTORE_ENDPOINT', 'GOOGLE_APPLICATION_CREDENTIALS',
  'GOOGLE_CLOUD_PROJECT', 'FIRESTORE_DATABASE', 'GCE_METADATA_HOST', 'SSL_CERT_FILE', 'http_proxy',
  'https_proxy', 'HTTPS_PROXY', 'ALL_PROXY', 'all_proxy', 'NO_PROXY', 'no_proxy'];

const fx = { secrets: [] };	// the shared stand-ins, made in before()
const stacks = [];		// every stack started, for the log checks at the end
const figures = [];		// what the summary prints
const clients = new Map();	// "host project database" -> Firestore

function figure(t, text) {
  figures.push(text);
  t.diagnostic(text);
}

// The app's environment. creds: 'emulator' (FIRESTORE_EMULATOR_HOST at the
// plain proxy, "owner"), 'key' (GOOGLE_APPLICATION_CREDENTIALS) or
// 'metadata' (the VM's service account), the last two at the HTTPS
// proxy's FIRESTORE_ENDPOINT. A key set to undefined is unset.
function appEnv(extra = {}, { creds = 'emulator', proxy = null, md = fx.md, key = fx.sa } = {}) {
  const env = Object.fromEntries(STORE_VARS.map((k) => [k, undefined]));
  Object.assign(env, {
    CANDIDATES_STORE: 'firestore',
    CANDIDATES_TIMEOUT_MS: String(TIMEOUT_MS),
    CANDIDATES_CONNECT_TIMEOUT_MS: String(CONNECT_TIMEOUT_MS),
    GOOGLE_CLOUD_PROJECT: PROJECT,
    GCE_METADATA_HOST: md.host,
  });
  if (creds === 'emulator') {
    env.FIRESTORE_EMULATOR_HOST = (proxy ?? fx.plain).host;
  } else {
    env.FIRESTORE_ENDPOINT = (proxy ?? fx.tls).url;
    env.SSL_CERT_FILE = fx.certs.ca;
    if (creds === 'key') env.GOOGLE_APPLICATION_CREDENTIALS = key.keyFile;
  }
  return { ...env, ...extra };
}

async function stackWith(env, web = 'nginx') {
  const s = await startStack({ web, env });
  stacks.push(s);
  return s;
}

// The official client on the emulator at host, as an emulator user.
function sdk(project = PROJECT, database = '(default)', host = fx.emu.host) {
  const { Firestore } = require('@google-cloud/firestore');
  const k = `${host} ${project} ${database}`;
  if (!clients.has(k)) clients.set(k, new Firestore({ projectId: project, databaseId: database, host, ssl: false }));
  return clients.get(k);
}

const col = (db) => db.collection('candidates');

// Every document id of a collection, by the official client.
async function sdkIds(db) {
  return (await col(db).listDocuments()).map((r) => r.id);
}

// Writes names with the official client's BulkWriter.
async function bulkWrite(db, names) {
  const w = db.bulkWriter();
  for (const n of names) w.set(col(db).doc(n), { CandidateName: n });
  await w.close();
}

// GET /candidates as a list of names, strictly.
async function listNames(url) {
  const res = await request(url, 'GET', '/candidates', { timeoutMs: 60000 });
  if (res.status === 404) return [];
  assert.equal(res.status, 200, show(res));
  const v = res.json();
  assert.ok(Array.isArray(v), show(res));
  for (const item of v) assert.deepEqual(Object.keys(item), ['CandidateName'], JSON.stringify(item));
  return v.map((i) => i.CandidateName);
}

function assertSameNames(got, want, what) {
  const dupes = got.filter((n, i) => got.indexOf(n) !== i);
  const gotSet = new Set(got);
  const wantSet = new Set(want);
  const missing = [...wantSet].filter((n) => !gotSet.has(n));
  const extra = [...gotSet].filter((n) => !wantSet.has(n));
  const cut = (a) => a.slice(0, 5).map((n) => (n.length > 40 ? `${n.slice(0, 40)}...` : n));
  assert.deepEqual({ dupes: dupes.length, missing: missing.length, extra: extra.length },
    { dupes: 0, missing: 0, extra: 0 },
    `${what}: dupes ${JSON.stringify(cut(dupes))} missing ${JSON.stringify(cut(missing))} ` +
    `extra ${JSON.stringify(cut(extra))}`);
}

const hex = (s) => Buffer.from(s).toString('hex');
const seen = (proxy, op) => proxy.stats.ops[op] || 0;

async function timed(fn) {
  const t0 = Date.now();
  const r = await fn();
  return [r, Date.now() - t0];
}

const logLines = (text, re) => text.split('\n').filter((l) => re.test(l));

function appAlive(stack) {
  return stack.firstWorkerPid !== null && stack.workerPid === stack.firstWorkerPid;
}

// The process tree under root: [pid, start time] of each, so a PID the
// kernel hands out again later is not taken for one of them.
function processTree(root) {
  const kids = new Map();
  const start = new Map();
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (!kids.has(Number(f[1]))) kids.set(Number(f[1]), []);
      kids.get(Number(f[1])).push(Number(e));
      start.set(Number(e), f[19]);
    } catch {
      // Exited while we looked.
    }
  }
  const out = [];
  for (const todo = [root]; todo.length > 0;) {
    const pid = todo.pop();
    if (start.has(pid)) out.push([pid, start.get(pid)]);
    todo.push(...(kids.get(pid) || []));
  }
  return out;
}

function stillRunning([pid, started]) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return f[19] === started && f[0] !== 'Z';
  } catch {
    return false;
  }
}

if (!findEmulator()) {
  it('the Firestore store', { skip: SKIP_MESSAGE }, () => {});
} else {
  defineTests();
}

function defineTests() {
  let savedEnv;

  before(async () => {
    // The official client must never look for a metadata server of its
    // own (169.254.169.254), nor be steered by this shell.
    savedEnv = Object.fromEntries([...STORE_VARS, 'METADATA_SERVER_DETECTION']
      .map((k) => [k, process.env[k]]));
    for (const k of STORE_VARS) delete process.env[k];
    process.env.METADATA_SERVER_DETECTION = 'none';
    fx.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'firestore-test-'));
    fx.certs = makeTestCerts(path.join(fx.dir, 'certs'));
    fx.emu = await startEmulator();
    fx.registry = new GoogleTokenRegistry();
    fx.tok = await startTokenServer({ registry: fx.registry, tls: fx.certs, requireKid: true });
    fx.sa = makeServiceAccount(path.join(fx.dir, 'sa'), { tokenUri: fx.tok.tokenUri, projectId: PROJECT });
    fx.tok.addAccount(fx.sa);
    fx.md = await startMetadata({ registry: fx.registry, projectId: PROJECT, instanceId: INSTANCE_ID });
    // The emulator as its users reach it ("owner"), and Firestore as a
    // VM reaches it (HTTPS, real tokens only).
    fx.plain = await startFirestoreProxy({ registry: fx.registry, upstream: fx.emu.host, allowOwner: true });
    fx.tls = await startFirestoreProxy({ registry: fx.registry, upstream: fx.emu.host, tls: fx.certs });
  });

  after(async () => {
    for (const c of clients.values()) await c.terminate();
    for (const s of stacks) await s.stop();
    await fx.plain?.stop();
    await fx.tls?.stop();
    await fx.tok?.stop();
    await fx.md?.stop();
    await fx.emu?.stop();
    if (fx.dir) fs.rmSync(fx.dir, { recursive: true, force: true });
    for (const [k, v] of Object.entries(savedEnv || {})) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    console.log(['firestore figures:', ...figures.map((f) => `  ${f}`)].join('\n'));
  });

  describe('the token-checking proxy, judged by the official client', () => {
    const P = 'demo-judged';
    let proxy;
    // The official client in its REST mode, which sends what the store
    // sends (batchGet, commit, documents.list), with the bearer given, held
    // by google-auth-library's own client.
    const client = (bearer) => {
      const { Firestore } = require('@google-cloud/firestore');
      const { OAuth2Client } = require('google-auth-library');
      const authClient = new OAuth2Client();
      authClient.setCredentials({ access_token: bearer, expiry_date: Date.now() + 3600000 });
      const db = new Firestore({ projectId: P, host: proxy.host, ssl: false, preferRest: true, authClient,
        customHeaders: { Authorization: `Bearer ${bearer}` } });
      clients.set(`judged ${bearer}`, db);
      return db;
    };
    const mdToken = async () => JSON.parse(await (await fetch(`${fx.md.url}/computeMetadata/v1/instance/` +
      'service-accounts/default/token', { headers: { 'Metadata-Flavor': 'Google' } })).text()).access_token;

    before(async () => {
      proxy = await startFirestoreProxy({ registry: fx.registry, upstream: fx.emu.host });
    });
    after(async () => { await proxy?.stop(); });

    it('lets a token of the fakes through: the client writes, reads and lists', async () => {
      const db = client(await mdToken());
      await col(db).doc(' judged ').set({ CandidateName: ' judged ' });
      assert.deepEqual((await col(db).doc(' judged ').get()).data(), { CandidateName: ' judged ' });
      assert.deepEqual(await sdkIds(db), [' judged ']);
      assert.deepEqual(Object.keys(proxy.stats.ops).sort(), ['get', 'list', 'put']);
      assert.deepEqual(Object.keys(proxy.stats.sources), ['metadata']);
      assert.deepEqual(proxy.stats.rejected, {});
    });

    it('refuses owner, an expired token, one nobody issued and one without Firestore\'s scope', async () => {
      const expired = fx.registry.issue({ email: 'x@demo.iam.gserviceaccount.com', scope: SCOPES.datastore,
        lifetimeSec: 1, source: 'token' });
      const unscoped = fx.registry.issue({ email: 'x@demo.iam.gserviceaccount.com',
        scope: 'https://www.googleapis.com/auth/devstorage.read_only', lifetimeSec: 60, source: 'token' });
      await sleep(1100);
      const rows = [
        ['owner', 'owner', 'owner', /UNAUTHENTICATED|invalid authentication/i],
        ['an expired token', expired.token, 'expired', /UNAUTHENTICATED|invalid authentication/i],
        ['a token nobody issued', 'ya29.c.made-up', 'unknown', /UNAUTHENTICATED|invalid authentication/i],
        ['a token of another scope', unscoped.token, 'scope', /PERMISSION_DENIED|insufficient/i],
      ];
      for (const [row, bearer, why, err] of rows) {
        const before = proxy.stats.rejected[why] || 0;
        await assert.rejects(col(client(bearer)).doc(`refused ${row}`).set({ CandidateName: row }),
          (e) => { assert.match(`${e.code} ${e.message}`, err, row); return true; }, row);
        assert.ok((proxy.stats.rejected[why] || 0) > before, `${row}: ${JSON.stringify(proxy.stats.rejected)}`);
      }
      assert.deepEqual(await sdkIds(sdk(P)), [' judged '], 'a refused write was stored');
    });
  });

  // The whole contract, through each web server: nginx as an emulator
  // user; lighttpd as a VM would run, on the metadata server's token over
  // HTTPS, with the project from the metadata server and a named
  // database, as the GCP Terraform passes FIRESTORE_DATABASE. Each on a
  // project of its own, so each starts on an empty store.
  const CONTRACT = [
    { web: 'nginx', instanceId: INSTANCE_ID, proxy: () => fx.plain,
      env: () => appEnv({ GOOGLE_CLOUD_PROJECT: 'demo-contract-nginx' }) },
    { web: 'lighttpd', instanceId: '1000000000000000001', proxy: () => fx.tls,
      env: async () => {
        fx.mdContract = await startMetadata({ registry: fx.registry, projectId: 'demo-contract-lt',
          instanceId: '1000000000000000001' });
        return appEnv({ GOOGLE_CLOUD_PROJECT: undefined, FIRESTORE_DATABASE: 'contract-db' },
          { creds: 'metadata', md: fx.mdContract });
      } },
  ];
  for (const c of CONTRACT) {
    contractSuite(`firestore/${c.web}`, async () => stackWith(await c.env(), c.web), {
      instanceId: c.instanceId,
      outage: {
        begin: () => c.proxy().down(),
        end: () => c.proxy().up(),
        readsFail: true,
        maxMs: TIMEOUT_MS + SLACK_MS,
      },
    });
  }

  describe('firestore: what the app sent during the contract suites', () => {
    after(async () => { await fx.mdContract?.stop(); });

    it('only a batchGet of one document, a commit of one whole document, and documents.list with the mask', () => {
      const bad = [];
      const check = (proxy, project, database, source) => {
        const log = proxy.stats.log.filter((e) => e.status !== 0 && e.status !== -1);
        assert.ok(log.length > 100, `only ${log.length} requests`);
        const coll = `projects/${project}/databases/${database}/documents/candidates/`;
        for (const e of log) {
          const q = Object.fromEntries(e.query);
          const b = JSON.stringify(e.body);
          if (e.op === 'other') bad.push(`${e.method} ${e.path}`);
          else if (e.source !== source) bad.push(`${e.op} as ${e.source}`);
          else if (!e.path.startsWith(`/v1/projects/${project}/databases/${database}/`)) {
            bad.push(`path ${e.path}`);
          } else if (e.op !== 'list' && e.query.length !== 0) {
            bad.push(`${e.op} with ${JSON.stringify(e.query)}`);
          } else if (e.op === 'put') {
            // The official client's set(): one update, no mask, no precondition.
            const name = e.body?.writes?.[0]?.update?.name ?? '';
            const id = name.slice(coll.length);
            if (!name.startsWith(coll) || b !== JSON.stringify({ writes: [{ update: { name,
              fields: { CandidateName: { stringValue: id } } } }] })) bad.push(`commit ${b}`);
          } else if (e.op === 'get') {
            const name = e.body?.documents?.[0] ?? '';
            if (!name.startsWith(coll) || b !== JSON.stringify({ documents: [name],
              mask: { fieldPaths: ['CandidateName'] } })) bad.push(`batchGet ${b}`);
          } else if (q.pageSize !== String(PAGE_SIZE) || q['mask.fieldPaths'] !== 'CandidateName') {
            bad.push(`list with ${JSON.stringify(e.query)}`);
          }
        }
      };
      check(fx.plain, 'demo-contract-nginx', '(default)', 'owner');
      check(fx.tls, 'demo-contract-lt', 'contract-db', 'metadata');
      assert.deepEqual([...new Set(bad)], []);
      assert.deepEqual(fx.tls.stats.rejected, {}, 'the HTTPS proxy refused a bearer');
    });

    it('the official client reads what the service wrote, in the right project and database', async () => {
      const nginx = await sdkIds(sdk('demo-contract-nginx'));
      const lt = await sdkIds(sdk('demo-contract-lt', 'contract-db'));
      assert.ok(nginx.includes('after-outage') && lt.includes('after-outage'), 'the last writes');
      assert.ok(!nginx.includes('during-outage') && !lt.includes('during-outage'), 'a 503 write stored');
      assert.deepEqual(await sdkIds(sdk('demo-contract-lt')), [], 'the (default) database was written');
    });
  });

  describe('firestore/nginx with one worker: the official client as oracle, pagination, connection reuse', () => {
    const P = 'demo-interop';
    let stack, db;
    const written = [];

    before(async () => {
      db = sdk(P);
      stack = await stackWith(appEnv({ GOOGLE_CLOUD_PROJECT: P, CANDIDATES_THREADS: '1' }, { creds: 'key' }));
    });
    after(async () => {
      await stack?.stop();
      assertNoSanitizerReport(stack.logText());
    });

    // Valid names the service writes; the official client reads them back.
    const SERVICE_NAMES = [
      'two words', ' padded ', 'double "quotes"', "single 'quotes'", 'emoji 😀🎉', 'é ü ß 中文 עברית',
      'percent %41 literal', '%2F', 'plus+sign & amp=eq;semi', '<b>tag<b>', 'nbsp\u00a0here', '~tilde.dot-_',
      'a'.repeat(255), `${'😀'.repeat(63)}abc`, `${'é'.repeat(127)}x`, `${'中'.repeat(85)}`,
    ];
    // Documents the official client writes: the service serves the valid
    // names and lists all of them (a database the original filled may
    // hold any id Firestore takes).
    const SDK_NAMES = [
      ['sdk two words', true], ['sdk "quoted"', true], ['sdk 🎉', true], [`sdk ${'b'.repeat(251)}`, true],
      ['sdk back\\slash', false], ['sdk\u0001control', false], ['sdk?query', false],
      [`sdk ${'c'.repeat(300)}`, false], ['sdk\u2028line sep', true],
    ];

    it('names the service wrote are read back byte-exact by the official client', async () => {
      for (const n of SERVICE_NAMES) {
        assert.ok(Buffer.byteLength(n) <= 255, n);
        expectJson(await request(stack.url, 'POST', `/candidate/${enc(n)}`), 200, { CandidateName: n });
        written.push(n);
        const snap = await col(db).doc(n).get();
        assert.ok(snap.exists, `the official client finds no ${JSON.stringify(n)}`);
        assert.equal(hex(snap.id), hex(n));
        assert.deepEqual(snap.data(), { CandidateName: n }, 'the whole document, one field');
      }
      assertSameNames(await sdkIds(db), written, 'the official client\'s listing');
    });

    it('a write replaces the whole document, as the original\'s set() did', async () => {
      await col(db).doc('replaced').set({ CandidateName: 'replaced', Extra: 1, Nested: { a: true } });
      expectJson(await request(stack.url, 'POST', '/candidate/replaced'), 200, { CandidateName: 'replaced' });
      assert.deepEqual((await col(db).doc('replaced').get()).data(), { CandidateName: 'replaced' });
      written.push('replaced');
    });

    it('documents the official client wrote are served', async () => {
      for (const [n, valid] of SDK_NAMES) {
        await col(db).doc(n).set({ CandidateName: n });
        written.push(n);
        const res = await request(stack.url, 'GET', `/candidate/${enc(n)}`);
        if (valid) expectJson(res, 200, [{ CandidateName: n }]);
        else assert.equal(res.status, 400, `${JSON.stringify(n)}: ${show(res)}`);
      }
      assertSameNames(await listNames(stack.url), written, 'GET /candidates');
    });

    it('a collection of many pages comes back whole, short and empty pages included', async (t) => {
      const bulk = Array.from({ length: 2000 }, (_, i) => `bulk-${String(i).padStart(5, '0')}-${'p'.repeat(200)}`);
      const [, writeMs] = await timed(() => bulkWrite(db, bulk));
      written.push(...bulk);
      const l0 = seen(fx.tls, 'list');
      const [names, ms] = await timed(() => listNames(stack.url));
      const pages = seen(fx.tls, 'list') - l0;
      assertSameNames(names, written, `GET /candidates of ${written.length} names`);
      assert.ok(pages >= Math.ceil(written.length / PAGE_SIZE), `${pages} pages`);
      figure(t, `pagination: ${names.length} names in ${pages} pages (the emulator cuts pages at ` +
        `150 of the ${PAGE_SIZE} asked), ${ms} ms (bulk load ${writeMs} ms)`);

      // Pages cut short, and empty pages that still carry a token, two of
      // them in a row: nothing lost, nothing twice.
      fx.tls.inject('shortPage', { count: 5 });
      fx.tls.inject('emptyPage', { count: 2 });
      fx.tls.inject('shortPage', { count: 1 });
      fx.tls.inject('emptyPage', { count: 1 });
      const l1 = seen(fx.tls, 'list');
      const again = await listNames(stack.url);
      assert.equal(fx.tls.faults.length, 0, 'faults left unserved');
      assertSameNames(again, written, 'GET /candidates with short and empty pages');
      figure(t, `pagination with 6 short and 3 empty pages: ${seen(fx.tls, 'list') - l1} pages, ` +
        'every name once');
    });

    it('a page token that does not move on ends the listing with 503, and says so', async () => {
      fx.tls.inject('stuckToken', { count: 2 });
      const res = await request(stack.url, 'GET', '/candidates');
      expectJson(res, 503, { error: 'store unavailable' });
      await waitForLog(stack, /GET \/candidates: 503 list: firestore documents\.list page 2: nextPageToken did not advance/);
      assertSameNames(await listNames(stack.url), written, 'the next listing');
    });

    it('1000 requests through one worker reuse a handful of connections, and one token', async (t) => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      try {
        for (let i = 0; i < 10; i++) {
          assert.equal((await request(stack.url, 'GET', '/candidate/two%20words', { agent })).status, 200);
        }
        const c0 = fx.tls.stats.connections;
        const h0 = fx.tls.stats.tlsHandshakes;
        const r0 = fx.tls.stats.requests;
        const g0 = fx.tok.issued.length;
        const t0 = Date.now();
        for (let i = 0; i < 1000; i++) {
          const res = i % 10 === 9 ?
            await request(stack.url, 'POST', `/candidate/reuse-${i}`, { agent }) :
            await request(stack.url, 'GET', '/candidate/two%20words', { agent });
          assert.equal(res.status, 200, `request ${i}: ${show(res)}`);
          if (i % 10 === 9) written.push(`reuse-${i}`);
        }
        const ms = Date.now() - t0;
        const conns = fx.tls.stats.connections - c0;
        const hs = fx.tls.stats.tlsHandshakes - h0;
        const reqs = fx.tls.stats.requests - r0;
        figure(t, `connection reuse: ${conns} new TCP connections (${hs} TLS handshakes) and ` +
          `${fx.tok.issued.length - g0} token fetches for 1000 requests (${reqs} Firestore calls) ` +
          `through one worker after warm-up, ${ms} ms`);
        assert.equal(reqs, 1000, 'one Firestore call per request');
        assert.ok(conns <= 3, `${conns} TCP connections for 1000 requests`);
        assert.ok(hs <= 3, `${hs} TLS handshakes for 1000 requests`);
        assert.equal(fx.tok.issued.length - g0, 0, 'a token fetched while the first was good');
      } finally {
        agent.destroy();
      }
    });

    it('a listing of slow pages: 503 at the listing\'s one deadline, not page times pages', async (t) => {
      const LIST_MS = 1500;
      const slow = await stackWith(appEnv({ GOOGLE_CLOUD_PROJECT: P, CANDIDATES_LIST_TIMEOUT_MS: String(LIST_MS) },
        { creds: 'key' }));
      try {
        // Each page alone is well within CANDIDATES_TIMEOUT_MS (2 s); all
        // of them are not within the listing's 1.5 s.
        fx.tls.inject('delay', { op: 'list', ms: 400, count: 1000 });
        const l0 = seen(fx.tls, 'list');
        const [res, ms] = await timed(() => request(slow.url, 'GET', '/candidates', { timeoutMs: 30000 }));
        const pages = seen(fx.tls, 'list') - l0;
        fx.tls.clearFaults();
        expectJson(res, 503, { error: 'store unavailable' });
        figure(t, `list deadline: each page 400 ms late: 503 after ${ms} ms and ${pages} pages ` +
          `(CANDIDATES_LIST_TIMEOUT_MS=${LIST_MS})`);
        assert.ok(ms >= LIST_MS - 100 && ms <= LIST_MS + SLACK_MS, `503 after ${ms} ms`);
        assert.ok(pages >= 3 && pages <= 5, `${pages} pages asked for`);
        await waitForLog(slow, /GET \/candidates: 503 list: firestore documents\.list/);
      } finally {
        await slow.stop();
      }
    });
  });

  describe('firestore: credentials, proven against the verifying fakes', () => {
    it('a key file: the JWT grant verified at its token_uri, the project from the key, one token for many requests', async (t) => {
      fx.tok.resetStats();
      fx.tls.resetStats();
      const stack = await stackWith(appEnv({ GOOGLE_CLOUD_PROJECT: undefined, CANDIDATES_THREADS: '4' },
        { creds: 'key' }));
      try {
        assert.match(stack.logText(), new RegExp(`^firestore: project ${PROJECT}, database \\(default\\) at ` +
          `${fx.tls.url.replace(/\./g, '\\.')}, credentials: the key file of ${fx.sa.email.replace(/\./g, '\\.')}$`, 'm'));
        // Twenty writes at once, then twenty reads of them at once.
        for (const m of ['POST', 'GET']) {
          const jobs = Array.from({ length: 20 }, (_, i) => request(stack.url, m, `/candidate/key-file-${i}`));
          for (const res of await Promise.all(jobs)) assert.equal(res.status, 200, `${m}: ${show(res)}`);
        }
        assert.equal(fx.tok.issued.length, 1, 'one grant for every thread');
        assert.deepEqual(fx.tok.refused, []);
        const c = fx.tok.lastClaims;
        assert.deepEqual([c.iss, c.aud, c.scope, c.exp - c.iat], [fx.sa.email, fx.tok.tokenUri,
          SCOPES.datastore, 3600]);
        assert.ok(Math.abs(c.iat - Date.now() / 1000) < 60, 'iat is now');
        assert.deepEqual(fx.tok.lastHeader, { alg: 'RS256', typ: 'JWT', kid: fx.sa.keyId });
        assert.deepEqual(fx.tls.stats.sources, { token: 40 });
        assert.deepEqual([...fx.tls.stats.tokens.keys()], [fx.tok.issued[0].token]);
        assert.ok(fx.tls.stats.log.every((e) => e.path.startsWith(`/v1/projects/${PROJECT}/`)), 'the key\'s project');
        figure(t, `key file: 40 requests on 4 threads, 1 JWT grant at the token endpoint`);
      } finally {
        await stack.stop();
      }
    });

    it('the metadata server: Metadata-Flavor always, the project and the instance id from it, one token', async (t) => {
      const md = await startMetadata({ registry: fx.registry, projectId: 'demo-from-metadata',
        instanceId: '2000000000000000002' });
      fx.tls.resetStats();
      const stack = await stackWith(appEnv({ GOOGLE_CLOUD_PROJECT: undefined, CANDIDATES_THREADS: '4' },
        { creds: 'metadata', md }));
      try {
        expectJson(await request(stack.url, 'GET', '/gtg?details'), 200,
          { connected: 'true', 'instance-id': '2000000000000000002' });
        // Twenty writes at once, then twenty reads of them at once.
        for (const m of ['POST', 'GET']) {
          const jobs = Array.from({ length: 20 }, (_, i) => request(stack.url, m, `/candidate/metadata-${i}`));
          for (const res of await Promise.all(jobs)) assert.equal(res.status, 200, `${m}: ${show(res)}`);
        }
        assert.equal(md.tokenGets, 1, 'one token for every thread');
        assert.equal(md.forbidden, 0, 'a request without Metadata-Flavor');
        assert.deepEqual(Object.keys(md.calls).sort(), ['GET /computeMetadata/v1/instance/id',
          'GET /computeMetadata/v1/instance/service-accounts/default/token',
          'GET /computeMetadata/v1/project/project-id']);
        assert.deepEqual(fx.tls.stats.sources, { metadata: 40 });
        assert.ok(fx.tls.stats.log.every((e) => e.path.startsWith('/v1/projects/demo-from-metadata/')),
          'the metadata server\'s project');
        assert.ok((await col(sdk('demo-from-metadata')).doc('metadata-0').get()).exists);
        figure(t, `metadata server: 40 requests on 4 threads, ${md.total} metadata calls in all, 1 token`);
      } finally {
        await stack.stop();
        await md.stop();
      }
    });

    it('an answer without Metadata-Flavor: Google is not the metadata server\'s', async () => {
      // Something else on the metadata address, such as a captive portal.
      const impostor = http.createServer((req, res) => {
        req.resume();
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ access_token: 'ya29.impostor', expires_in: 3599, token_type: 'Bearer' }));
      });
      await new Promise((r) => impostor.listen(0, '127.0.0.1', r));
      const host = `127.0.0.1:${impostor.address().port}`;
      try {
        const stack = await stackWith(appEnv({}, { creds: 'metadata', md: { host } }));
        try {
          fx.tls.resetStats();
          expectJson(await request(stack.url, 'GET', '/candidate/impostor'), 503, { error: 'store unavailable' });
          assert.equal(fx.tls.stats.requests, 0, 'the impostor\'s token was sent to Firestore');
          await waitForLog(stack, /without Metadata-Flavor: Google/);
        } finally {
          await stack.stop();
        }
      } finally {
        impostor.close();
      }
    });

    it('http_proxy and HTTPS_PROXY carry the store\'s calls, never the metadata server\'s', async (t) => {
      // A forward proxy that tunnels CONNECT and relays plain requests, and
      // records both: as every HTTP proxy would, it could reach the
      // metadata server.
      const seenBy = { connect: [], plain: [] };
      const relay = http.createServer((req, res) => {
        seenBy.plain.push(req.url);
        const u = new URL(req.url);
        const up = http.request({ host: u.hostname, port: u.port, path: u.pathname + u.search,
          method: req.method, headers: req.headers }, (r) => {
          res.writeHead(r.statusCode, r.headers);
          r.pipe(res);
        });
        up.on('error', () => res.destroy());
        req.pipe(up);
      });
      relay.on('connect', (req, sock, head) => {
        seenBy.connect.push(req.url);
        const [host, port] = req.url.split(':');
        const up = net.connect(Number(port), host, () => {
          sock.write('HTTP/1.1 200 Connection Established\r\n\r\n');
          up.write(head);
          up.pipe(sock);
          sock.pipe(up);
        });
        up.on('error', () => sock.destroy());
        sock.on('error', () => up.destroy());
      });
      await new Promise((r) => relay.listen(0, '127.0.0.1', r));
      const proxyUrl = `http://127.0.0.1:${relay.address().port}`;
      const md = await startMetadata({ registry: fx.registry, projectId: PROJECT, instanceId: '3000000000000000003' });
      try {
        const stack = await stackWith(appEnv({ http_proxy: proxyUrl, HTTPS_PROXY: proxyUrl,
          ALL_PROXY: proxyUrl, GOOGLE_CLOUD_PROJECT: undefined }, { creds: 'metadata', md }));
        try {
          expectJson(await request(stack.url, 'GET', '/gtg?details'), 200,
            { connected: 'true', 'instance-id': '3000000000000000003' });
          expectJson(await request(stack.url, 'POST', '/candidate/via-proxy'), 200, { CandidateName: 'via-proxy' });
        } finally {
          await stack.stop();
        }
        t.diagnostic(`metadata answered ${md.total} calls directly; the proxy saw ${seenBy.connect.length} ` +
          `CONNECT and ${seenBy.plain.length} plain requests`);
        assert.ok(md.total >= 3, `the metadata server was asked ${md.total} times`);
        assert.deepEqual(seenBy.plain.filter((u) => u.includes(md.host)), [],
          'metadata calls went through the proxy');
        assert.ok(seenBy.connect.includes(fx.tls.host), `the store's calls ignored the proxy: ${seenBy.connect}`);
      } finally {
        await md.stop();
        await new Promise((r) => relay.close(r));
      }
    });

    describe('tokens that expire during the test: three clients for 20 s on each source', () => {
      const LIFETIME_S = 10;
      const RUN_MS = 20000;
      let short, sa, md;

      before(async () => {
        short = await startTokenServer({ registry: fx.registry, tls: fx.certs, lifetimeSec: LIFETIME_S });
        sa = makeServiceAccount(path.join(fx.dir, 'short'), { tokenUri: short.tokenUri, projectId: PROJECT,
          name: 'candidates-short' });
        short.addAccount(sa);
        md = await startMetadata({ registry: fx.registry, projectId: PROJECT, lifetimeSec: LIFETIME_S,
          instanceId: '4000000000000000004' });
      });
      after(async () => {
        await short?.stop();
        await md?.stop();
      });

      it('refresh before expiry: no request fails, no token is refused, a bounded number of fetches', async (t) => {
        fx.tls.resetStats();
        const runs = [
          { what: 'key file', source: 'token', env: appEnv({ CANDIDATES_THREADS: '4' }, { creds: 'key', key: sa }),
            fetches: () => short.requests, issued: () => short.issued.length },
          { what: 'metadata server', source: 'metadata', env: appEnv({ CANDIDATES_THREADS: '4' },
            { creds: 'metadata', md }), fetches: () => md.tokenGets, issued: () => md.issued.length },
        ];
        const started = [];
        try {
          for (const r of runs) started.push(await stackWith(r.env));
          const t0 = Date.now();
          const failures = [];
          const ok = [0, 0];
          const loop = async (k, w) => {
            for (let i = 0; Date.now() - t0 < RUN_MS; i++) {
              const name = `expiry-${k}-${w}-${i}`;
              for (const [m, want] of [['POST', 200], ['GET', 200]]) {
                const res = await request(started[k].url, m, `/candidate/${name}`);
                if (res.status === want) ok[k]++;
                else failures.push(`${runs[k].what} ${((Date.now() - t0) / 1000).toFixed(1)} s ${m} ${name}: ${show(res)}`);
              }
              await sleep(20);
            }
          };
          await Promise.all([0, 1].flatMap((k) => [0, 1, 2].map((w) => loop(k, w))));
          const elapsed = Date.now() - t0;
          assert.deepEqual(failures.slice(0, 10), [], `${failures.length} requests failed`);
          assert.deepEqual(fx.tls.stats.rejected, {}, 'tokens refused (expired?) by the proxy');
          runs.forEach((r, k) => {
            const used = fx.tls.tokensFrom(r.source);
            // A refresh at half the token's life, and some room: far below
            // one per request. The metadata server hands out the same token
            // until little of its life is left, so it is asked twice as often.
            const bound = (r.source === 'metadata' ? 2 : 1) * Math.ceil(elapsed / (LIFETIME_S * 500)) + 2;
            figure(t, `token expiry (${r.what}): ${ok[k]} requests over ${(elapsed / 1000).toFixed(1)} s ` +
              `with ${LIFETIME_S} s tokens: ${used} tokens used, ${r.fetches()} token fetches ` +
              `(bound ${bound}), ${r.issued()} issued`);
            assert.ok(used >= 2, `${r.what}: only ${used} tokens used in ${elapsed} ms: no refresh`);
            assert.ok(r.fetches() <= bound, `${r.what}: ${r.fetches()} token fetches (bound ${bound})`);
          });
          assert.equal(md.forbidden, 0);
          assert.deepEqual(short.refused, []);
        } finally {
          for (const s of started) await s.stop();
        }
      });
    });

    describe('a token the store rejects (401 UNAUTHENTICATED)', () => {
      const rows = [
        { row: 'key file, token revoked', creds: 'key', fetches: () => fx.tok.issued.length,
          reject: (proxy) => proxy.revoked.add(fx.tok.issued[fx.tok.issued.length - 1].token), newToken: true },
        { row: 'metadata server, one 401', creds: 'metadata', fetches: () => fx.md.tokenGets,
          reject: (proxy) => proxy.inject('unauthenticated', { count: 1 }), newToken: false },
      ];
      for (const r of rows) {
        it(`${r.row}: fetched again once, the request succeeds; always rejected: 503 after two attempts`, async (t) => {
          const stack = await stackWith(appEnv({}, { creds: r.creds }));
          try {
            expectText(await request(stack.url, 'GET', '/candidate/warm-up'), 404, 'Not Found');
            const f0 = r.fetches();
            const tokens0 = fx.tls.stats.tokens.size;
            r.reject(fx.tls);
            const g0 = seen(fx.tls, 'get');
            expectText(await request(stack.url, 'GET', '/candidate/after-reject'), 404, 'Not Found');
            assert.equal(seen(fx.tls, 'get') - g0, 2, 'one rejected attempt, one with the new token');
            assert.equal(r.fetches() - f0, 1, 'the token fetched once again');
            if (r.newToken) assert.equal(fx.tls.stats.tokens.size, tokens0 + 1, 'a new token used');

            // Rejected however often it is fetched: one refresh, then 503.
            fx.tls.inject('unauthenticated', { count: 2 });
            const f1 = r.fetches();
            const g1 = seen(fx.tls, 'get');
            const [res, ms] = await timed(() => request(stack.url, 'GET', '/candidate/always-rejected'));
            expectJson(res, 503, { error: 'store unavailable' });
            assert.equal(seen(fx.tls, 'get') - g1, 2, 'attempts');
            assert.equal(r.fetches() - f1, 1, 'token fetches');
            assert.equal(fx.tls.faults.length, 0);
            await waitForLog(stack, /always-rejected/);
            // Google's message, cut where the app's one line ends.
            const said = logLines(stack.logText(), /always-rejected/);
            assert.equal(said.length, 1, said.join('\n'));
            assert.ok(('GET /candidate/always-rejected: 503 get: firestore documents.batchGet: HTTP 401 ' +
              `UNAUTHENTICATED: ${UNAUTHENTICATED}`).startsWith(said[0]) && said[0].length > 150, said[0]);
            figure(t, `rejected token (${r.row}): refreshed once and served; always rejected: 503 in ` +
              `${ms} ms after 2 attempts and 1 fetch`);
          } finally {
            await stack.stop();
          }
        });
      }
    });

    it('a key the token endpoint refuses: 503, and the log says why', async () => {
      const stranger = makeServiceAccount(path.join(fx.dir, 'stranger'), { tokenUri: fx.tok.tokenUri,
        projectId: PROJECT, name: 'stranger' });
      fx.tls.resetStats();
      const stack = await stackWith(appEnv({}, { creds: 'key', key: stranger }));
      try {
        expectJson(await request(stack.url, 'GET', '/candidate/stranger'), 503, { error: 'store unavailable' });
        assert.equal(fx.tls.stats.requests, 0, 'a request went to Firestore without a token');
        await waitForLog(stack, /GET \/candidate\/stranger: 503 get: firestore documents\.batchGet: Google access token from the key file: token endpoint: HTTP 400 invalid_grant: Invalid grant: account not found/);
        fx.secrets.push(['a stranger\'s private key', stranger.privateKeyPem]);
      } finally {
        await stack.stop();
      }
    });

    describe('TLS peers are verified', () => {
      let otherCa;
      before(() => { otherCa = makeTestCerts(path.join(fx.dir, 'other-ca')).ca; });
      for (const [row, file] of [['no SSL_CERT_FILE (the system CAs only)', () => undefined],
        ['an SSL_CERT_FILE that does not hold the issuer', () => otherCa]]) {
        it(`${row}: 503, and the log says why`, async () => {
          const stack = await stackWith(appEnv({ SSL_CERT_FILE: file() }, { creds: 'metadata' }));
          try {
            const r0 = fx.tls.stats.requests;
            expectJson(await request(stack.url, 'GET', '/candidate/tls'), 503, { error: 'store unavailable' });
            assert.equal(fx.tls.stats.requests, r0, 'a request got through an unverified TLS session');
            await waitForLog(stack, /certificate|SSL|TLS|verif/i);
          } finally {
            await stack.stop();
          }
        });
      }
    });
  });

  describe('firestore: faults injected by the proxy', () => {
    const P = 'demo-faults';
    let emu, proxy, stack, retries = 0;
    const db = () => sdk(P, '(default)', emu.host);

    before(async () => {
      // An emulator of its own, to be killed.
      emu = await startEmulator();
      proxy = await startFirestoreProxy({ registry: fx.registry, upstream: emu.host, allowOwner: true });
      await col(db()).doc('alice').set({ CandidateName: 'alice' });
      stack = await stackWith(appEnv({ GOOGLE_CLOUD_PROJECT: P, CANDIDATES_THREADS: '4' }, { proxy }));
    });
    after(async () => {
      await stack?.stop();
      assertNoSanitizerReport(stack.logText());
      await proxy?.stop();
      await emu?.stop();
    });

    it('each transient fault twice, then success: the request succeeds on the third attempt', async (t) => {
      const rows = [
        ['GET', '/candidate/alice', 'get', 'throttle', 200],
        ['POST', '/candidate/bob', 'put', 'throttle', 200],
        ['GET', '/candidates', 'list', 'throttle', 200],
        ['GET', '/candidate/alice', 'get', 'unavailable', 200],
        ['POST', '/candidate/carol', 'put', 'aborted', 200],
        ['GET', '/candidate/alice', 'get', 'deadline', 200],
        ['GET', '/candidates', 'list', 'internal', 200],
        ['POST', '/candidate/dan', 'put', 'badGateway', 200],
        ['GET', '/candidate/alice', 'get', 'close', 200],
      ];
      for (const [m, target, op, kind, status] of rows) {
        const row = `${m} ${target} after 2 x ${kind}`;
        proxy.inject(kind, { count: 2, op });
        const n0 = seen(proxy, op);
        const [res, ms] = await timed(() => request(stack.url, m, target));
        assert.equal(res.status, status, `${row}: ${show(res)}`);
        assert.equal(seen(proxy, op) - n0, 3, `${row}: attempts`);
        assert.equal(proxy.faults.length, 0, `${row}: faults left unused`);
        retries += 2;
        t.diagnostic(`${row}: ${status} in ${ms} ms`);
      }
      for (const n of ['bob', 'carol', 'dan']) assert.ok((await col(db()).doc(n).get()).exists, n);
      figure(t, `retries: ${retries} retried attempts observed over ${rows.length} requests, all succeeded`);
    });

    it('throttled past the retry budget: 503 with Retry-After after at most 3 attempts, nothing written', async (t) => {
      for (const [m, target, op] of [['GET', '/candidate/alice', 'get'], ['POST', '/candidate/eve', 'put'],
        ['GET', '/candidates', 'list']]) {
        proxy.inject('throttle', { count: 100, op });
        const n0 = seen(proxy, op);
        const [res, ms] = await timed(() => request(stack.url, m, target));
        proxy.clearFaults();
        const attempts = seen(proxy, op) - n0;
        expectJson(res, 503, { error: 'store unavailable' });
        assert.equal(res.headers['retry-after'], '1', `${m} ${target}`);
        assert.ok(attempts >= 2 && attempts <= MAX_ATTEMPTS, `${m} ${target}: ${attempts} attempts`);
        assert.ok(ms <= TIMEOUT_MS + SLACK_MS, `${m} ${target}: 503 after ${ms} ms`);
        figure(t, `throttled throughout (${m} ${target}): 503 after ${attempts} attempts, ${ms} ms`);
      }
      assert.equal((await col(db()).doc('eve').get()).exists, false, 'the throttled write was stored');
      await waitForLog(stack, /POST \/candidate\/eve: 503 put: firestore documents\.commit: HTTP 429 RESOURCE_EXHAUSTED: /);
    });

    it('what the store refuses is a 500, tried once; a write is "Unable to update"', async () => {
      const rows = [
        ['POST', '/candidate/refused', 'put', 'denied', (r) => expectText(r, 500, 'Unable to update'),
          'POST /candidate/refused: 500 put: firestore documents.commit: HTTP 403 PERMISSION_DENIED: ' +
          'Missing or insufficient permissions.'],
        ['POST', '/candidate/invalid', 'put', 'invalid', (r) => expectText(r, 500, 'Unable to update'),
          'POST /candidate/invalid: 500 put: firestore documents.commit: HTTP 400 INVALID_ARGUMENT: ' +
          'Document name is invalid.'],
        ['GET', '/candidate/alice', 'get', 'denied',
          (r) => expectJson(r, 500, { error: 'store refused the request' }), null],
        ['GET', '/candidates', 'list', 'unimplemented',
          (r) => expectJson(r, 500, { error: 'store refused the request' }), null],
      ];
      for (const [m, target, op, kind, check, line] of rows) {
        proxy.inject(kind, { count: 1, op });
        const n0 = seen(proxy, op);
        check(await request(stack.url, m, target));
        assert.equal(seen(proxy, op) - n0, 1, `${m} ${target} ${kind}: attempts`);
        if (line) {
          await waitForLog(stack, new RegExp(target));
          assert.deepEqual(logLines(stack.logText(), new RegExp(`^${m} ${target}:`)), [line]);
        }
      }
      for (const n of ['refused', 'invalid']) assert.equal((await col(db()).doc(n).get()).exists, false, n);
    });

    it('garbage from the store: 503, and the app lives on', async () => {
      const doc = (name) => JSON.stringify({ name: `projects/${P}/databases/(default)/documents/candidates/${name}`,
        fields: { CandidateName: { stringValue: name } } });
      const found = (name) => `[{"found":${doc(name)},"readTime":"2026-12-04T18:25:01Z"}]`;
      const rows = [
        ['HTML', 'GET', '/candidate/alice', 'get', '<html><body>It works!</body></html>', 200],
        ['truncated JSON', 'GET', '/candidate/alice', 'get', found('alice').slice(0, 40), 200],
        ['another document', 'GET', '/candidate/alice', 'get', found('mallory'), 200],
        ['another collection', 'GET', '/candidate/alice', 'get', found('alice').replace('/candidates/', '/others/'), 200],
        ['the document, not a batchGet answer', 'GET', '/candidate/alice', 'get', doc('alice'), 200],
        ['two results', 'GET', '/candidate/alice', 'get', `[${found('alice').slice(1, -1)},${found('alice').slice(1, -1)}]`, 200],
        ['neither found nor missing', 'GET', '/candidate/alice', 'get', '[{"readTime":"2026-12-04T18:25:01Z"}]', 200],
        ['empty body', 'GET', '/candidate/alice', 'get', '', 200],
        ['deeply nested', 'GET', '/candidate/alice', 'get', '['.repeat(100000), 200],
        ['a 404 that is not Google\'s', 'GET', '/candidate/alice', 'get', '<h1>Not Found</h1>', 404],
        ['a 400 that is not Google\'s', 'POST', '/candidate/garbage', 'put', 'Bad Request', 400],
        ['HTML', 'POST', '/candidate/garbage', 'put', 'Internal Server Error', 200],
        ['no writeResults', 'POST', '/candidate/garbage', 'put', '{"commitTime":"2026-12-04T18:25:01Z"}', 200],
        ['HTML', 'GET', '/candidates', 'list', '\u0000\u0001garbage', 200],
        ['documents not a list', 'GET', '/candidates', 'list', '{"documents":"alice"}', 200],
        ['a token that is not one', 'GET', '/candidates', 'list', '{"nextPageToken":"a b"}', 200],
        ['a document of another collection', 'GET', '/candidates', 'list',
          `{"documents":[${doc('x').replace('/candidates/', '/others/')}]}`, 200],
      ];
      const bad = [];
      for (const [row, m, target, op, body, status] of rows) {
        proxy.inject('garbage', { count: MAX_ATTEMPTS, op, body, status });
        const res = await request(stack.url, m, target);
        proxy.clearFaults();
        try {
          expectJson(res, 503, { error: 'store unavailable' });
        } catch {
          bad.push(`${row} (${m} ${target}): ${show(res)}`);
        }
        assert.ok(appAlive(stack), `${row} (${op}): the app died`);
        assert.equal((await request(stack.url, 'GET', '/gtg')).status, 200, `${row} (${op}): /gtg`);
      }
      assert.deepEqual(bad, [], 'garbage answered as if it were data');
      assert.equal((await col(db()).doc('garbage').get()).exists, false);
      expectJson(await request(stack.url, 'GET', '/candidate/alice'), 200, [{ CandidateName: 'alice' }]);
    });

    it('a store that hangs: 503 within the deadline, and /gtg stays quick', async (t) => {
      proxy.inject('hang', { count: 1000 });
      const [res, ms] = await timed(() => request(stack.url, 'GET', '/candidate/alice'));
      expectJson(res, 503, { error: 'store unavailable' });
      assert.equal(res.headers['retry-after'], '1');
      assert.ok(ms <= TIMEOUT_MS + SLACK_MS, `503 after ${ms} ms, deadline ${TIMEOUT_MS} ms`);
      figure(t, `hang: time to 503 when the store hangs: ${ms} ms (CANDIDATES_TIMEOUT_MS=${TIMEOUT_MS})`);
      const jobs = Array.from({ length: 8 }, (_, i) =>
        timed(() => request(stack.url, i % 2 ? 'GET' : 'POST', `/candidate/hang-${i}`)));
      await sleep(200);
      const [gtg, gtgMs] = await timed(() => request(stack.url, 'GET', '/gtg'));
      for (const [i, [r, jms]] of (await Promise.all(jobs)).entries()) {
        expectJson(r, 503, { error: 'store unavailable' });
        assert.ok(jms <= 2 * (TIMEOUT_MS + SLACK_MS), `hanging request ${i}: ${jms} ms`);
      }
      assert.equal(gtg.status, 200);
      assert.ok(gtgMs < 1500, `/gtg took ${gtgMs} ms while the store hung`);
      figure(t, `hang: /gtg while 8 requests hung on 4 workers: ${gtgMs} ms`);
      proxy.clearFaults();
      for (let i = 0; i < 10; i++) {
        const [r, rms] = await timed(() => request(stack.url, 'GET', '/candidate/alice'));
        expectJson(r, 200, [{ CandidateName: 'alice' }]);
        assert.ok(rms < 1000, `request ${i} after the hang took ${rms} ms`);
      }
    });

    it('a store that is down: 503 with Retry-After within the deadline, /gtg 200 at once, then recovery', async (t) => {
      const rows = [
        ['emulator killed', async () => { await emu.kill(); }, async () => {
          emu = await startEmulator();
          proxy.setUpstream(emu.host);
          await col(db()).doc('alice').set({ CandidateName: 'alice' });
        }],
        ['endpoint refusing connections', () => proxy.down(), () => proxy.up()],
      ];
      for (const [row, down, up] of rows) {
        await down();
        for (const [m, target] of [['GET', '/candidate/alice'], ['POST', '/candidate/while-down'],
          ['GET', '/candidates']]) {
          const [res, ms] = await timed(() => request(stack.url, m, target));
          expectJson(res, 503, { error: 'store unavailable' });
          assert.equal(res.headers['retry-after'], '1', `${row}: ${m} ${target}`);
          assert.ok(ms <= TIMEOUT_MS + SLACK_MS, `${row}: ${m} ${target}: 503 after ${ms} ms`);
          figure(t, `down (${row}): ${m} ${target} 503 in ${ms} ms`);
        }
        const pending = request(stack.url, 'GET', '/candidate/alice');
        const [gtg, gtgMs] = await timed(() => request(stack.url, 'GET', '/gtg'));
        assert.equal(gtg.status, 200, `${row}: /gtg`);
        assert.ok(gtgMs < 500, `${row}: /gtg took ${gtgMs} ms`);
        await pending;
        await up();
        expectJson(await request(stack.url, 'GET', '/candidate/alice'), 200, [{ CandidateName: 'alice' }]);
        expectText(await request(stack.url, 'GET', '/candidate/while-down'), 404, 'Not Found');
      }
    });
  });

  describe('firestore: no metadata server at start-up: the host name is the instance id', () => {
    const rows = [
      { row: 'a closed loopback port', silent: false, why: /refused|connect/i },
      { row: 'a server that accepts and never answers', silent: true, why: /time/i },
    ];
    for (const r of rows) {
      it(`${r.row}: /gtg?details says os.hostname(), and the start waits at most ${METADATA_START_MS} ms for it`, async (t) => {
        let server = null;
        const held = [];
        let host;
        if (r.silent) {
          server = net.createServer((sock) => {
            const c = [Date.now(), null];
            held.push(c);
            sock.on('error', () => {});
            sock.on('close', () => { c[1] = Date.now(); });
            sock.resume();
          });
          await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
          host = `127.0.0.1:${server.address().port}`;
        } else {
          host = `127.0.0.1:${await freePort()}`;
        }
        try {
          const [stack, readyMs] = await timed(() => stackWith(appEnv({}, { md: { host } })));
          try {
            expectJson(await request(stack.url, 'GET', '/gtg?details'), 200,
              { connected: 'true', 'instance-id': os.hostname() });
            const said = logLines(stack.logText(), /no instance id, using the host name/);
            assert.equal(said.length, 1, `the log should say so once:\n${stack.logText()}`);
            assert.match(said[0], r.why);
            assert.ok(readyMs <= METADATA_START_MS + STARTUP_MS, `ready after ${readyMs} ms`);
            if (r.silent) {
              assert.equal(held.length, 1, `${held.length} connections to the metadata address`);
              const [opened, closed] = held[0];
              assert.ok(closed !== null, 'the app never gave up on the metadata server');
              const ms = closed - opened;
              assert.ok(ms >= METADATA_START_MS - 100 && ms <= METADATA_START_MS + 700,
                `the app waited ${ms} ms for the metadata server (deadline ${METADATA_START_MS} ms)`);
              figure(t, `no metadata server (${r.row}): gave up after ${ms} ms, ready in ${readyMs} ms`);
            } else {
              figure(t, `no metadata server (${r.row}): ready in ${readyMs} ms`);
            }
          } finally {
            await stack.stop();
          }
        } finally {
          server?.close();
        }
      });
    }
  });

  describe('firestore: configuration is checked at start-up', () => {
    // A bad value stops the start with one line naming the variable.
    const rows = [
      ['FIRESTORE_EMULATOR_HOST', 'no port', () => ({ FIRESTORE_EMULATOR_HOST: 'localhost' })],
      ['FIRESTORE_ENDPOINT', 'plain http', () => appEnv({ FIRESTORE_ENDPOINT: 'http://127.0.0.1:1' },
        { creds: 'metadata' })],
      ['FIRESTORE_ENDPOINT', 'and FIRESTORE_EMULATOR_HOST both', () => ({ FIRESTORE_ENDPOINT: fx.tls.url })],
      ['GOOGLE_CLOUD_PROJECT', 'not a project id', () => ({ GOOGLE_CLOUD_PROJECT: 'Not_A_Project' })],
      ['GOOGLE_CLOUD_PROJECT', 'unset, and no metadata server', () => ({ GOOGLE_CLOUD_PROJECT: undefined,
        GCE_METADATA_HOST: '127.0.0.1:9' })],
      ['FIRESTORE_DATABASE', 'not a database id', () => ({ FIRESTORE_DATABASE: 'no spaces' })],
      ['GOOGLE_APPLICATION_CREDENTIALS', 'no such file', () => appEnv({
        GOOGLE_APPLICATION_CREDENTIALS: '/nonexistent/key.json' }, { creds: 'key' })],
      ['GCE_METADATA_HOST', 'a URL', () => ({ GCE_METADATA_HOST: 'http://169.254.169.254' })],
      ['SSL_CERT_FILE', 'no such file', () => appEnv({ SSL_CERT_FILE: '/nonexistent/ca.pem' }, { creds: 'metadata' })],
      ['SSL_CERT_FILE', 'no certificate in it', () => appEnv({ SSL_CERT_FILE: fx.sa.keyFile }, { creds: 'metadata' })],
      ['CANDIDATES_TIMEOUT_MS', 'not a number', () => ({ CANDIDATES_TIMEOUT_MS: 'soon' })],
    ];
    for (const [name, row, extra] of rows) {
      it(`${name} (${row}) stops the start, naming it`, () => {
        const x = extra();
        const env = { ...process.env, ...SANITIZER_ENV, ...(x.CANDIDATES_STORE ? x : appEnv(x)) };
        const r = spawnSync(SAN_APP, [], { env, timeout: 10000, stdio: ['ignore', 'pipe', 'pipe'] });
        const err = r.stderr.toString();
        assert.equal(r.status, 1, `exit ${r.status} ${r.signal || ''}: ${err}`);
        assert.match(err, new RegExp(`^candidates: ${name}[ :]`), err);
        assert.equal(err.trim().split('\n').length, 1, `more than one line:\n${err}`);
      });
    }
  });

  describe('make run STORE=firestore', () => {
    // A developer's shell may hold Google settings of its own; the local
    // stand-ins must not be steered by them.
    const DEV_SHELL = {
      GOOGLE_APPLICATION_CREDENTIALS: '/home/dev/.config/gcloud/my-key.json',
      FIRESTORE_ENDPOINT: 'https://firestore.example.invalid',
      GCE_METADATA_HOST: 'metadata.example.invalid',
      GOOGLE_CLOUD_PROJECT: 'demo-make-run',
    };
    function makeRunCommand(port, dir) {
      const env = { ...process.env };
      for (const k of ['MAKEFLAGS', 'MFLAGS', 'MAKELEVEL']) delete env[k];
      const r = spawnSync('make', ['-n', '-s', 'run', 'STORE=firestore', 'WEB=nginx', `PORT=${port}`],
        { cwd: ROOT, env, encoding: 'utf8', timeout: 30000 });
      assert.equal(r.status, 0, `make -n run: ${r.stderr}`);
      const line = r.stdout.split('\n').find((l) => /local-firestore\.js/.test(l));
      assert.ok(line, `make run STORE=firestore does not start tests/lib/local-firestore.js:\n${r.stdout}`);
      const argv = line.trim().split(/\s+/);
      let dirs = 0;
      let apps = 0;
      for (let i = 1; i < argv.length; i++) {
        if (argv[i - 1] === '--dir') { argv[i] = dir; dirs++; }
        if (argv[i - 1] === '--app') { argv[i] = SAN_APP; apps++; }
      }
      assert.deepEqual({ dirs, apps, stack: argv.includes('tests/stack.sh') }, { dirs: 2, apps: 1, stack: true },
        `make run's command changed shape: ${line}`);
      return argv;
    }
    const rows = [
      { row: 'Ctrl-C: SIGINT to the whole process group', signal: 'SIGINT', group: true },
      { row: 'SIGTERM to the wrapper alone', signal: 'SIGTERM', group: false },
    ];
    for (const r of rows) {
      it(`answers the README's curl commands on the local emulator, and ${r.row} stops every process`, async (t) => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'make-run-'));
        const argv = makeRunCommand(await freePort(), dir);
        const env = { ...process.env, ...SANITIZER_ENV, ...DEV_SHELL };
        for (const k of Object.keys(env)) if (k.startsWith('CANDIDATES_')) delete env[k];
        const child = spawn(argv[0], argv.slice(1), { cwd: ROOT, env, detached: true,
          stdio: ['ignore', 'pipe', 'pipe'] });
        let output = '';
        child.stdout.on('data', (d) => { output += d; });
        child.stderr.on('data', (d) => { output += d; });
        const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
        const live = () => child.exitCode === null && child.signalCode === null;
        let tree = [];
        try {
          const t0 = Date.now();
          while (!/^ready: http:\/\//m.test(output) && live() && Date.now() - t0 < 60000) await sleep(50);
          const url = /^ready: (http:\/\/\S+)/m.exec(output)?.[1];
          assert.ok(url, `make run did not become ready:\n${output}`);
          tree = processTree(child.pid);
          const pids = tree.map(([p]) => p);
          for (const f of ['app.pid', 'web.pid']) {
            const pid = Number(fs.readFileSync(path.join(dir, f), 'utf8'));
            assert.ok(pids.includes(pid), `${f} (${pid}) is not under the wrapper: ${pids}`);
          }
          // The README's commands, in order, with a name of this row's.
          const name = `made run ${r.signal}`;
          assert.equal((await request(url, 'GET', '/gtg')).status, 200);
          expectJson(await request(url, 'GET', '/gtg?details=true'), 200,
            { connected: 'true', 'instance-id': '7310000000000000042' });
          expectJson(await request(url, 'POST', `/candidate/${enc(name)}`), 200, { CandidateName: name });
          expectJson(await request(url, 'GET', `/candidate/${enc(name)}`), 200, [{ CandidateName: name }]);
          const listing = await request(url, 'GET', '/candidates');
          assert.equal(listing.status, 200, show(listing));
          assert.ok(listing.json().some((c) => c.CandidateName === name), show(listing));
          const slash = await request(url, 'GET', '/candidate/a%2Fb');
          assert.equal(slash.status, 400, show(slash));
          // In the emulator, in the developer's project, by the official client.
          const host = /the emulator on http:\/\/(127\.0\.0\.1:\d+)/.exec(output)?.[1];
          assert.ok(host, output);
          const db = sdk(DEV_SHELL.GOOGLE_CLOUD_PROJECT, '(default)', host);
          assert.deepEqual((await col(db).doc(name).get()).data(), { CandidateName: name });
          await db.terminate();
          clients.delete(`${host} ${DEV_SHELL.GOOGLE_CLOUD_PROJECT} (default)`);

          const [end, ms] = await timed(async () => {
            process.kill(r.group ? -child.pid : child.pid, r.signal);
            return Promise.race([exited, sleep(20000).then(() => null)]);
          });
          assert.deepEqual(end, { code: 0, signal: null }, `make run's exit after ${r.signal}:\n${output}`);
          const t1 = Date.now();
          while (tree.some(stillRunning) && Date.now() - t1 < 10000) await sleep(50);
          const left = tree.filter(stillRunning).map(([p]) => {
            try { return `${p} ${fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ')}`; } catch { return `${p}`; }
          });
          assert.deepEqual(left, [], `still running after ${r.signal}`);
          assertNoSanitizerReport(output, 'make run output');
          figure(t, `make run STORE=firestore: ${tree.length} processes (the JVM included), all gone ` +
            `${ms} ms after ${r.row}`);
        } finally {
          for (const p of tree.filter(stillRunning)) {
            try { process.kill(p[0], 'SIGKILL'); } catch { /* gone */ }
          }
          if (live()) {
            try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ }
          }
          await exited;
          fs.rmSync(dir, { recursive: true, force: true });
        }
      });
    }

    it('without the emulator: one line that says so, and exit 1', () => {
      const r = spawnSync('node', ['tests/lib/local-firestore.js', '--', 'true'], { cwd: ROOT,
        env: { ...process.env, FIRESTORE_EMULATOR_JAR: '/nonexistent/emulator.jar' }, encoding: 'utf8',
        timeout: 30000 });
      assert.equal(r.status, 1, r.stderr);
      assert.equal(r.stderr, `local-firestore: ${SKIP_MESSAGE}\n`);
      assert.equal(r.stdout, '');
    });
  });

  describe('firestore: the logs', () => {
    it('hold no token, no key, and no sanitizer report', async () => {
      for (const s of stacks) await s.stop();
      const all = [...fx.secrets, ['the private key', fx.sa.privateKeyPem],
        ...[...fx.registry.tokens.keys()].map((k) => ['an access token', k])];
      assert.ok(all.length >= 10, `${all.length} secrets to look for`);
      for (const [i, s] of stacks.entries()) {
        const text = s.logText() + s.outputText();
        for (const [what, value] of all) {
          const body = value.replace(/-----[A-Z ]+-----/g, '').replace(/\s/g, '');
          const mid = Math.floor(body.length / 2);
          for (const probe of [body.slice(mid - 8, mid + 8), body.slice(-16)]) {
            assert.ok(!text.includes(probe), `stack ${i} (${s.web}) logged ${what}`);
          }
        }
        assertNoSanitizerReport(s.logText(), `stack ${i} (${s.web}) log`);
      }
    });
  });
}

