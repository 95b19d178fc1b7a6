'use strict';
// The Cosmos DB store (issue 11), proven against @vercel/cosmosdb-server
// behind the verifying proxy (every master-key signature recomputed, every
// Entra token checked against what the fake Azure IMDS issued), with the
// official @azure/cosmos as the oracle for the data. Everything goes over
// HTTPS with a throwaway CA that the app trusts through SSL_CERT_FILE.
//
// The figures (time to 503, retries, waits honoured, token fetches,
// connections, pages) are printed as test diagnostics and once more in a
// summary at the end.

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
const {
  startCosmosServer, cosmosClient, createCandidatesContainer, DATABASE, CONTAINER,
} = require('../lib/cosmosdb');
const { startCosmosProxy } = require('../lib/cosmos-proxy');
const { startAzureImds, TokenRegistry, COSMOS_RESOURCE } = require('../lib/fake-azure-imds');
const { makeTestCerts } = require('../lib/sigv4-proxy');

// The app's total deadline per store call, retries included. Short, to
// keep the outage tests short; SLACK_MS is the round trip through the web
// server under the sanitizers on a busy two-core box.
const TIMEOUT_MS = 2000;
const CONNECT_TIMEOUT_MS = 500;
const SLACK_MS = 1500;
// The shared policy's attempts, and those after 429 (fcgi-app/stores/
// cosmos/cosmos.c THROTTLE_ATTEMPTS, as the Cosmos DB SDKs retry 429).
const MAX_ATTEMPTS = 3;
const THROTTLE_ATTEMPTS = 10;
// The metadata read at start-up (IMDS_START_MS in cosmos.c).
const IMDS_START_MS = 1000;
const STARTUP_MS = 5000;
// Names per query page the app asks for (PAGE_ITEMS in cosmos.c).
const PAGE_ITEMS = 1000;
const CLIENT_ID = '3c1f0e2d-7a6b-4c5d-8e9f-0a1b2c3d4e5f';
const VM_ID = '8d5c1f3a-2b4e-4f60-9a7b-1c2d3e4f5a6b';
const VM_NAME = 'candidates-vmss_7';
const RFC7231 = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/;

const enc = encodeURIComponent;

const fx = {};			// the shared stand-ins, made in before()
const stacks = [];		// every stack started, for the log checks at the end
const figures = [];		// what the summary prints
const extraTokens = [];		// registries of other fake IMDSes, for the log check

function figure(t, text) {
  figures.push(text);
  t.diagnostic(text);
}

// The app's environment: the Cosmos DB store over HTTPS through the proxy,
// with the account key (or, with identity, the managed identity's token
// from the fake IMDS), and the fake IMDS for the VM's id: no test may
// reach 169.254.169.254. A key set to undefined is left out.
function appEnv(extra = {}, { identity = false, proxy = fx.proxy, imds = fx.imds } = {}) {
  const env = {
    CANDIDATES_STORE: 'cosmos',
    CANDIDATES_TIMEOUT_MS: String(TIMEOUT_MS),
    CANDIDATES_CONNECT_TIMEOUT_MS: String(CONNECT_TIMEOUT_MS),
    COSMOS_ENDPOINT: `${proxy.url}/`,
    COSMOS_KEY: identity ? undefined : proxy.accountKeys[0],
    AZURE_CLIENT_ID: identity ? CLIENT_ID : undefined,
    AZURE_POD_IDENTITY_AUTHORITY_HOST: imds.url,
    SSL_CERT_FILE: fx.certs.ca,
    COSMOS_DATABASE_NAME: undefined,
    COSMOS_CONTAINER_NAME: undefined,
    ...extra,
  };
  for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
  // stack.js passes our own environment through; what is unset here
  // stays unset there (a developer's shell may hold Azure settings).
  for (const k of ['COSMOS_ENDPOINT', 'COSMOS_KEY', 'COSMOS_DATABASE_NAME', 'COSMOS_CONTAINER_NAME',
    'AZURE_CLIENT_ID', 'AZURE_POD_IDENTITY_AUTHORITY_HOST', 'SSL_CERT_FILE', 'SSL_CERT_DIR',
    'http_proxy', 'https_proxy', 'HTTPS_PROXY', 'ALL_PROXY', 'all_proxy']) {
    if (!(k in env)) delete process.env[k];
  }
  return env;
}

async function stackWith(env, web = 'nginx') {
  const s = await startStack({ web, env });
  stacks.push(s);
  return s;
}

const container = (client, name = CONTAINER) => client.database(DATABASE).container(name);

// The item as the SDK reads it, or null when there is none.
async function sdkRead(coll, name) {
  const { resource } = await coll.item(name, name).read();
  return resource ?? null;
}

const sdkUpsert = (coll, name) => coll.items.upsert({ id: name, CandidateName: name });

// Upserts names 16 at a time through the proxy, signed by the SDK.
async function bulkWrite(coll, names) {
  let next = 0;
  const worker = async () => {
    while (next < names.length) {
      const n = names[next++];
      const r = await sdkUpsert(coll, n);
      assert.ok(r.statusCode === 200 || r.statusCode === 201, `${n}: ${r.statusCode}`);
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
}

// GET /candidates as a list of names, strictly: valid UTF-8, valid JSON,
// every item exactly {"CandidateName": string}.
async function listNames(url) {
  const res = await request(url, 'GET', '/candidates', { timeoutMs: 60000 });
  if (res.status === 404) return [];
  assert.equal(res.status, 200, show(res));
  const v = res.json();
  assert.ok(Array.isArray(v), show(res));
  for (const item of v) {
    assert.deepEqual(Object.keys(item), ['CandidateName'], JSON.stringify(item));
    assert.equal(typeof item.CandidateName, 'string');
  }
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

// The requests of one operation (read, upsert, query...) a proxy has seen.
const seen = (proxy, op) => proxy.stats.ops[op] || 0;

// The proxy's log of what the app sent: the SDK names itself in a
// User-Agent, the app (libcurl, told nothing) sends none.
const fromApp = (proxy) => proxy.stats.log.filter((e) => e.headers['user-agent'] === undefined);

// The Entra token an Authorization header carried.
function tokenOf(authorization) {
  const m = /^type=aad&ver=1\.0&sig=(.+)$/.exec(decodeURIComponent(authorization || ''));
  return m ? m[1] : null;
}

async function timed(fn) {
  const t0 = Date.now();
  const r = await fn();
  return [r, Date.now() - t0];
}

const logLines = (text, re) => text.split('\n').filter((l) => re.test(l));

// Up, and still on the worker it started with: the app replaces a worker
// that dies, so a live app alone would hide a crash.
function appAlive(stack) {
  return stack.firstWorkerPid !== null && stack.workerPid === stack.firstWorkerPid;
}

before(async () => {
  fx.certs = makeTestCerts(fs.mkdtempSync(path.join(os.tmpdir(), 'cosmos-test-')));
  fx.tokens = new TokenRegistry();
  fx.server = await startCosmosServer();
  fx.proxy = await startCosmosProxy({ upstreamPort: fx.server.port, tokens: fx.tokens, certs: fx.certs });
  fx.imds = await startAzureImds({ tokens: fx.tokens, identities: [CLIENT_ID], vmId: VM_ID, name: VM_NAME });
  fx.sdk = cosmosClient({ endpoint: fx.proxy.url, ca: fx.certs.ca, key: fx.proxy.accountKeys[0] });
  await createCandidatesContainer(fx.sdk);
});

after(async () => {
  fx.sdk?.dispose();
  await fx.proxy?.stop();
  await fx.imds?.stop();
  await fx.server?.stop();
  for (const s of stacks) await s.stop();
  console.log(['cosmos figures:', ...figures.map((f) => `  ${f}`)].join('\n'));
});

// The whole contract, through each web server: nginx signing with the
// account key, lighttpd with the managed identity's tokens from IMDS and
// a container named by COSMOS_CONTAINER_NAME.
const CONTRACT = [
  { web: 'nginx', container: CONTAINER, env: () => appEnv() },
  { web: 'lighttpd', container: 'CandidatesContract', env: () => appEnv({
    COSMOS_CONTAINER_NAME: 'CandidatesContract', COSMOS_DATABASE_NAME: DATABASE,
  }, { identity: true }) },
];
for (const c of CONTRACT) {
  contractSuite(`cosmos/${c.web}`, async () => {
    if (c.container !== CONTAINER) await createCandidatesContainer(fx.sdk, { container: c.container });
    return stackWith(c.env(), c.web);
  }, {
    instanceId: VM_ID,
    outage: {
      begin: () => fx.proxy.down(),
      end: () => fx.proxy.up(),
      readsFail: true,
      maxMs: TIMEOUT_MS + SLACK_MS,
    },
  });
}

describe('cosmos: what the app sent during the contract suites', () => {
  it('only point reads, upserts and the listing query, with @azure/cosmos\'s headers and no consistency header', () => {
    const log = fromApp(fx.proxy);
    assert.ok(log.length > 100, `only ${log.length} requests from the app`);
    const bad = [];
    const auth = { master: 0, aad: 0 };
    for (const e of log) {
      if (e.status === 0 || e.status === -1) continue;	// cut by the outage test
      const h = e.headers;
      const id = e.link && e.link.split('/').slice(5).join('/');
      if (!['read', 'upsert', 'query'].includes(e.op)) bad.push(`operation ${e.op} ${e.method} ${e.url}`);
      if (h['x-ms-version'] !== '2020-07-15') bad.push(`${e.op}: x-ms-version ${h['x-ms-version']}`);
      if (h['x-ms-consistency-level'] !== undefined) bad.push(`${e.op}: a consistency level`);
      if (!RFC7231.test(h['x-ms-date'] || '')) bad.push(`${e.op}: x-ms-date ${h['x-ms-date']}`);
      // A point read of a missing name is the one 4xx the app expects.
      if (e.status >= 400 && !(e.op === 'read' && e.status === 404)) {
        bad.push(`${e.op} answered ${e.status} ${e.error}`);
      }
      if (e.auth) auth[e.auth]++;
      if (e.auth === 'aad' && e.clientId !== CLIENT_ID) bad.push(`a token of ${e.clientId}`);
      const want = {
        read: { 'x-ms-documentdb-query-enablecrosspartition': 'True',
          'x-ms-documentdb-responsecontinuationtokenlimitinkb': '1' },
        upsert: { 'x-ms-documentdb-is-upsert': 'True', 'content-type': 'application/json' },
        query: { 'x-ms-documentdb-isquery': 'True', 'content-type': 'application/query+json',
          'x-ms-documentdb-query-enablecrosspartition': 'True',
          'x-ms-documentdb-responsecontinuationtokenlimitinkb': '1',
          'x-ms-max-item-count': String(PAGE_ITEMS), 'x-ms-documentdb-partitionkey': undefined },
      }[e.op] || {};
      for (const [k, v] of Object.entries(want)) {
        if (h[k] !== v) bad.push(`${e.op}: ${k} ${JSON.stringify(h[k])}, not ${JSON.stringify(v)}`);
      }
      if (e.op === 'read' && JSON.parse(h['x-ms-documentdb-partitionkey'] || '[]')[0] !== id) {
        bad.push(`read of ${JSON.stringify(id)}: partition key ${h['x-ms-documentdb-partitionkey']}`);
      }
      // Non-ASCII goes escaped, as @azure/cosmos sends it: a header stays ASCII.
      if (/[^\x20-\x7e]/.test(h['x-ms-documentdb-partitionkey'] || '')) bad.push(`${e.op}: a raw partition key`);
    }
    assert.deepEqual([...new Set(bad)].slice(0, 20), []);
    assert.ok(auth.master > 50, `nginx signed with the key ${auth.master} times`);
    assert.ok(auth.aad > 50, `lighttpd carried a token ${auth.aad} times`);
  });

  it('the items it wrote are the original\'s: {"id": name, "CandidateName": name}, partitioned by name', async () => {
    const c = container(fx.sdk);
    const { resources } = await c.items.query('SELECT * FROM c').fetchAll();
    assert.ok(resources.length >= 50, `${resources.length} items`);
    for (const d of resources) {
      assert.deepEqual(Object.keys(d).filter((k) => !k.startsWith('_')), ['id', 'CandidateName'],
        JSON.stringify(d));
      assert.equal(d.CandidateName, d.id);
    }
  });
});

describe('cosmos/nginx with one worker: interop, pagination, connection reuse', () => {
  const COLL = 'CandidatesOneWorker';
  let stack, coll;
  const written = [];	// every name in the container

  before(async () => {
    coll = await createCandidatesContainer(fx.sdk, { container: COLL });
    stack = await stackWith(appEnv({ COSMOS_CONTAINER_NAME: COLL, CANDIDATES_THREADS: '1' }));
  });
  after(async () => {
    await stack?.stop();
    assertNoSanitizerReport(stack.logText());
  });

  // Valid names (docs/contract.md) the service writes; the SDK reads them.
  const SERVICE_NAMES = [
    'two words', ' padded ', 'double "quotes"', "single 'quotes'", 'emoji 😀🎉', 'é ü ß 中文 עברית',
    'percent %41 literal', 'plus+sign & amp=eq;semi', '<b>tag<b>', 'nbsp\u00a0here', '...x',
    'a'.repeat(255), `${'😀'.repeat(63)}abc`, `${'é'.repeat(127)}x`, `${'中'.repeat(85)}`,
    '\u{10ffff}\uffff\ufeff',
  ];
  // Names the SDK writes; the service serves the valid ones, and lists all
  // of them (a container the original filled may hold anything).
  const SDK_NAMES = [
    ['sdk two words', true], ['sdk "quoted"', true], ['sdk 🎉', true], [`sdk ${'b'.repeat(251)}`, true],
    ['__sdk__', false], ['sdk\u0001control', false], ['sdk\u2028line sep', true],
  ];

  it('names the service wrote are read back byte-exact by the SDK, as the original\'s items', async () => {
    for (const n of SERVICE_NAMES) {
      assert.ok(Buffer.byteLength(n) <= 255, n);
      expectJson(await request(stack.url, 'POST', `/candidate/${enc(n)}`), 200, { CandidateName: n });
      written.push(n);
      const d = await sdkRead(coll, n);
      assert.ok(d, `the SDK finds no item ${JSON.stringify(n)}`);
      assert.deepEqual([Buffer.from(d.id).toString('hex'), Buffer.from(d.CandidateName).toString('hex')],
        [Buffer.from(n).toString('hex'), Buffer.from(n).toString('hex')], `SDK read of ${JSON.stringify(n)}`);
      assert.deepEqual(Object.keys(d).filter((k) => !k.startsWith('_')), ['id', 'CandidateName']);
    }
    // A second upsert replaces: still one item.
    expectJson(await request(stack.url, 'POST', `/candidate/${enc('two words')}`), 200,
      { CandidateName: 'two words' });
    const { resources } = await coll.items.query({ query: 'SELECT VALUE COUNT(1) FROM c WHERE c.id = @n',
      parameters: [{ name: '@n', value: 'two words' }] }).fetchAll();
    assert.deepEqual(resources, [1]);
  });

  it('items the SDK wrote are served by the service', async () => {
    for (const [n, valid] of SDK_NAMES) {
      await sdkUpsert(coll, n);
      written.push(n);
      const res = await request(stack.url, 'GET', `/candidate/${enc(n)}`);
      if (valid) expectJson(res, 200, [{ CandidateName: n }]);
      else assert.equal(res.status, 400, `${JSON.stringify(n)}: ${show(res)}`);
    }
    assertSameNames(await listNames(stack.url), written, 'GET /candidates');
  });

  it('a container of several pages comes back whole, through short and empty pages', async (t) => {
    const bulk = Array.from({ length: 2600 }, (_, i) => `bulk-${String(i).padStart(5, '0')}-${'p'.repeat(40)}`);
    const [, writeMs] = await timed(() => bulkWrite(coll, bulk));
    written.push(...bulk);
    const q0 = seen(fx.proxy, 'query');
    const [names, ms] = await timed(() => listNames(stack.url));
    const pages = seen(fx.proxy, 'query') - q0;
    assertSameNames(names, written, `GET /candidates of ${written.length} names`);
    assert.equal(pages, Math.ceil(written.length / PAGE_ITEMS), 'pages of PAGE_ITEMS names each');
    figure(t, `pagination: ${names.length} names in ${pages} query pages, ${ms} ms ` +
      `(bulk load by the SDK ${writeMs} ms)`);

    // Two empty pages that carry a continuation (the first from the top,
    // the second at the same place with its round trips counted on, as
    // Cosmos DB's tokens are), then three pages of one name each.
    fx.proxy.inject('emptyPage', { count: 2 });
    fx.proxy.inject('shortPage', { count: 3, items: 1 });
    const q1 = seen(fx.proxy, 'query');
    assertSameNames(await listNames(stack.url), written, 'GET /candidates with empty and short pages');
    assert.equal(fx.proxy.faults.length, 0, 'the empty and short pages were served');
    assert.equal(seen(fx.proxy, 'query') - q1, pages + 5, 'pages followed');

    // A continuation of 1.5 KB (a container of many partitions has long
    // ones) is sent back whole.
    const long = JSON.stringify({ token: `+RID:#RT:1#TRC:0#PAD:${'x'.repeat(1400)}`,
      range: { min: '', max: 'FF' } });
    fx.proxy.inject('emptyPage', { continuation: long });
    assertSameNames(await listNames(stack.url), written, 'GET /candidates after a 1.5 KB continuation');
    const sent = fromApp(fx.proxy).filter((e) => e.op === 'query' && e.headers['x-ms-continuation'] === long);
    assert.equal(sent.length, 1, 'the long continuation went back as it came');
    figure(t, `pagination: through 2 empty and 3 short pages; a ${long.length}-byte continuation sent back whole`);
  });

  it('a continuation that does not move on, or is too long to keep, ends the listing as a 503', async () => {
    const rows = [
      // The second page echoes the first's continuation.
      { row: 'the same continuation twice', inject: () => fx.proxy.inject('stuckPage', { count: 2 }),
        log: /GET \/candidates: 503 list: cosmos query page 2: x-ms-continuation did not advance/ },
      { row: 'a continuation of 3000 bytes', inject: () => fx.proxy.inject('emptyPage', {
        continuation: JSON.stringify({ token: `+RID:#RT:1#TRC:0#PAD:${'y'.repeat(3000)}` }) }),
        log: /GET \/candidates: 503 list: cosmos query page 1: x-ms-continuation of 2047 bytes is not one to send back/ },
    ];
    for (const r of rows) {
      r.inject();
      const q0 = seen(fx.proxy, 'query');
      const res = await request(stack.url, 'GET', '/candidates');
      fx.proxy.clearFaults();
      expectJson(res, 503, { error: 'store unavailable' });
      assert.ok(seen(fx.proxy, 'query') - q0 <= 2, `${r.row}: ${seen(fx.proxy, 'query') - q0} pages`);
      await waitForLog(stack, r.log);
    }
    assertSameNames(await listNames(stack.url), written, 'GET /candidates afterwards');
  });

  it('1000 requests through one worker reuse a handful of connections', async (t) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (let i = 0; i < 10; i++) {
        assert.equal((await request(stack.url, 'GET', '/candidate/two%20words', { agent })).status, 200);
      }
      const c0 = fx.proxy.stats.connections;
      const h0 = fx.proxy.stats.tlsHandshakes;
      const r0 = fx.proxy.stats.requests;
      const t0 = Date.now();
      for (let i = 0; i < 1000; i++) {
        const res = i % 10 === 9 ?
          await request(stack.url, 'POST', `/candidate/reuse-${i}`, { agent }) :
          await request(stack.url, 'GET', '/candidate/two%20words', { agent });
        assert.equal(res.status, 200, `request ${i}: ${show(res)}`);
        if (i % 10 === 9) written.push(`reuse-${i}`);
      }
      const ms = Date.now() - t0;
      const conns = fx.proxy.stats.connections - c0;
      const hs = fx.proxy.stats.tlsHandshakes - h0;
      const reqs = fx.proxy.stats.requests - r0;
      figure(t, `connection reuse: ${conns} new TCP connections (${hs} TLS handshakes) for 1000 ` +
        `requests (${reqs} Cosmos DB calls) through one worker after warm-up, ${ms} ms`);
      assert.equal(reqs, 1000, 'one Cosmos DB call per request');
      assert.ok(conns <= 3, `${conns} TCP connections for 1000 requests`);
      assert.ok(hs <= 3, `${hs} TLS handshakes for 1000 requests`);
    } finally {
      agent.destroy();
    }
  });
});

describe('cosmos: managed identity tokens that expire during the test', () => {
  const LIFETIME_MS = 10000;
  const RUN_MS = 20000;
  let imds, stack;

  before(async () => {
    imds = await startAzureImds({ tokens: fx.tokens, identities: [CLIENT_ID], lifetimeMs: LIFETIME_MS,
      vmId: VM_ID });
  });
  after(async () => {
    await stack?.stop();
    await imds?.stop();
  });

  it('refresh before expiry under load: no request fails, none carries an expired token, IMDS is asked a bounded number of times', async (t) => {
    fx.proxy.resetStats();
    stack = await stackWith(appEnv({ CANDIDATES_THREADS: '4' }, { identity: true, imds }));
    const t0 = Date.now();
    const failures = [];
    let ok = 0;
    const loop = async (w) => {
      for (let i = 0; Date.now() - t0 < RUN_MS; i++) {
        const name = `rotate-${w}-${i}`;
        for (const [m, want] of [['POST', 200], ['GET', 200]]) {
          const res = await request(stack.url, m, `/candidate/${name}`);
          if (res.status === want) ok++;
          else failures.push(`${((Date.now() - t0) / 1000).toFixed(1)} s ${m} ${name}: ${show(res)}`);
        }
        await sleep(20);
      }
    };
    await Promise.all([0, 1, 2].map(loop));
    const elapsed = Date.now() - t0;
    const used = new Set(fromApp(fx.proxy).map((e) => tokenOf(e.headers.authorization)).filter(Boolean));
    // A refresh at half the token's life, one IMDS answer each, and some
    // room: far below one per request.
    const bound = 2 * Math.ceil(elapsed / (LIFETIME_MS / 2)) + 2;
    const fetches = imds.stats.issued;
    figure(t, `token expiry under load: ${ok} requests over ${(elapsed / 1000).toFixed(1)} s with ` +
      `${LIFETIME_MS / 1000} s tokens from three clients: ${used.size} tokens used, ${fetches} token ` +
      `fetches from IMDS (bound ${bound}), ${fx.proxy.stats.refused.expiredToken} refused as expired`);
    assert.deepEqual(failures.slice(0, 10), [], `${failures.length} requests failed`);
    const r = fx.proxy.stats.refused;
    assert.deepEqual({ expired: r.expiredToken, unknown: r.unknownToken, malformed: r.malformedAuth,
      missing: r.missingAuth }, { expired: 0, unknown: 0, malformed: 0, missing: 0 });
    assert.ok(used.size >= 3, `only ${used.size} tokens used in ${elapsed} ms: no refresh`);
    assert.ok(fetches <= bound, `${fetches} token fetches (bound ${bound})`);
    assert.equal(fx.proxy.stats.auth.master, 0, 'a request signed with a key');
    // Every IMDS request carried Metadata: true, asked for Cosmos DB's
    // resource and this identity.
    const asks = imds.stats.log.filter((e) => e.path === '/metadata/identity/oauth2/token');
    assert.ok(asks.length >= fetches);
    for (const e of asks) {
      assert.deepEqual([e.headers.metadata, e.query.resource, e.query.client_id, e.query['api-version']],
        ['true', COSMOS_RESOURCE, CLIENT_ID, '2018-02-01']);
    }
    extraTokens.push(imds.tokens);
  });
});

describe('cosmos: a token Cosmos DB refuses is refreshed once', () => {
  let stack;
  before(async () => {
    stack = await stackWith(appEnv({ CANDIDATES_THREADS: '1' }, { identity: true }));
  });
  after(async () => {
    await stack?.stop();
    assertNoSanitizerReport(stack.logText());
  });

  it('revoked: the next request fetches one new token and succeeds; one nobody accepts: 503 after one refresh', async (t) => {
    expectText(await request(stack.url, 'GET', '/candidate/refresh-me'), 404, 'Not Found');
    const used = tokenOf(fx.proxy.last('read').headers.authorization);
    assert.ok(used, 'the read carried no token');
    fx.tokens.revoke(used);
    const i0 = fx.imds.stats.issued;
    const r0 = seen(fx.proxy, 'read');
    const u0 = fx.proxy.stats.refused.unknownToken;
    expectText(await request(stack.url, 'GET', '/candidate/refresh-me'), 404, 'Not Found');
    assert.deepEqual({ fetched: fx.imds.stats.issued - i0, attempts: seen(fx.proxy, 'read') - r0,
      refused: fx.proxy.stats.refused.unknownToken - u0 }, { fetched: 1, attempts: 2, refused: 1 });
    assert.notEqual(tokenOf(fx.proxy.last('read').headers.authorization), used);

    // An account that accepts none of IMDS's tokens: one refresh, then 503.
    const registry = fx.proxy.tokens;
    fx.proxy.tokens = new TokenRegistry();
    try {
      const i1 = fx.imds.stats.issued;
      const r1 = seen(fx.proxy, 'upsert');
      const [res, ms] = await timed(() => request(stack.url, 'POST', '/candidate/never-stored'));
      expectJson(res, 503, { error: 'store unavailable' });
      assert.deepEqual({ fetched: fx.imds.stats.issued - i1, attempts: seen(fx.proxy, 'upsert') - r1 },
        { fetched: 1, attempts: 2 });
      await waitForLog(stack, /POST \/candidate\/never-stored: 503 put: cosmos upsert: a new token was refused too: HTTP 401\/5000 Unauthorized: Request blocked by Auth /);
      figure(t, `rejected token: refreshed once (1 IMDS fetch, 2 attempts); refused again: 503 in ${ms} ms`);
    } finally {
      fx.proxy.tokens = registry;
    }
    assert.equal(await sdkRead(container(fx.sdk), 'never-stored'), null, 'nothing written');
  });

  it('IMDS refuses or is gone: 503 at once, and the log says IMDS\'s reason', async () => {
    const rows = [
      { row: 'an identity the VM does not have', env: { AZURE_CLIENT_ID: '00000000-0000-4000-8000-000000000000' },
        log: /503 get: cosmos read: Cosmos DB token from IMDS: IMDS token: HTTP 400: invalid_request: Identity not found/ },
      { row: 'no IMDS listening', env: async () => ({ AZURE_POD_IDENTITY_AUTHORITY_HOST: `http://127.0.0.1:${await freePort()}` }),
        log: /503 get: cosmos read: Cosmos DB token from IMDS: IMDS token: .*(refused|connect)/i },
    ];
    for (const r of rows) {
      const env = typeof r.env === 'function' ? await r.env() : r.env;
      const s = await stackWith(appEnv(env, { identity: true }));
      try {
        const [res, ms] = await timed(() => request(s.url, 'GET', '/candidate/alice'));
        expectJson(res, 503, { error: 'store unavailable' });
        assert.ok(ms <= TIMEOUT_MS + SLACK_MS, `${r.row}: 503 after ${ms} ms`);
        await waitForLog(s, r.log);
      } finally {
        await s.stop();
      }
    }
  });
});

describe('cosmos: faults injected by the proxy', () => {
  let server, proxy, stack, sdk, coll;
  let retries = 0;

  async function freshServer() {
    server = await startCosmosServer();
    proxy.setUpstream(server.port);
    coll = await createCandidatesContainer(sdk);
    await sdkUpsert(coll, 'alice');
  }

  before(async () => {
    server = await startCosmosServer();
    proxy = await startCosmosProxy({ upstreamPort: server.port, certs: fx.certs });
    sdk = cosmosClient({ endpoint: proxy.url, ca: fx.certs.ca, key: proxy.accountKeys[0] });
    coll = await createCandidatesContainer(sdk);
    await sdkUpsert(coll, 'alice');
    stack = await stackWith(appEnv({ CANDIDATES_THREADS: '4' }, { proxy }));
  });
  after(async () => {
    await stack?.stop();
    assertNoSanitizerReport(stack.logText());
    sdk?.dispose();
    await proxy?.stop();
    await server?.stop();
  });

  it('429, 449, 408, 5xx or a cut connection twice, then success: the request succeeds on the third attempt', async (t) => {
    const rows = [
      ['GET', '/candidate/alice', 'read', 'throttle', {}],
      ['POST', '/candidate/bob', 'upsert', 'throttle', {}],
      ['GET', '/candidates', 'query', 'throttle', {}],
      ['GET', '/candidate/alice', 'read', 'retryWith', {}],
      ['POST', '/candidate/carol', 'upsert', 'retryWith', {}],
      ['GET', '/candidate/alice', 'read', 'timeout', {}],
      ['GET', '/candidates', 'query', 'timeout', {}],
      ['GET', '/candidate/alice', 'read', 'unavailable', {}],
      ['POST', '/candidate/dave', 'upsert', 'unavailable', {}],
      ['GET', '/candidate/alice', 'read', 'error', { status: 500, message: 'Internal error' }],
      ['GET', '/candidate/alice', 'read', 'error', { status: 404, substatus: 1002,
        message: 'The read session is not available for the input session token.' }],
      ['GET', '/candidate/alice', 'read', 'close', {}],
    ];
    for (const [m, target, op, kind, opts] of rows) {
      const row = `${m} ${target} after 2 x ${kind}${opts.status ? ` ${opts.status}` : ''}`;
      proxy.inject(kind, { count: 2, op, ...opts });
      const n0 = seen(proxy, op);
      const [res, ms] = await timed(() => request(stack.url, m, target));
      assert.equal(res.status, 200, `${row}: ${show(res)}`);
      assert.equal(seen(proxy, op) - n0, 3, `${row}: attempts`);
      assert.equal(proxy.faults.length, 0, `${row}: faults left unused`);
      retries += 2;
      t.diagnostic(`${row}: 200 in ${ms} ms`);
    }
    figure(t, `retries: ${retries} retried attempts observed over ${rows.length} requests, all succeeded`);
  });

  it('429 waits what x-ms-retry-after-ms says, never less', async (t) => {
    const WAIT = 300;
    proxy.inject('throttle', { count: 2, op: 'read', ms: WAIT });
    const [res, ms] = await timed(() => request(stack.url, 'GET', '/candidate/alice'));
    expectJson(res, 200, [{ CandidateName: 'alice' }]);
    const tries = proxy.stats.log.filter((e) => e.op === 'read').slice(-3);
    const gaps = tries.slice(1).map((e, i) => e.at - tries[i].at);
    assert.ok(ms >= 2 * WAIT, `answered after ${ms} ms: the waits were cut`);
    assert.ok(gaps.every((g) => g >= WAIT - 5), `gaps between attempts ${gaps} ms`);
    figure(t, `429: two waits of ${WAIT} ms asked, attempts ${gaps.join(' and ')} ms apart, 200 after ${ms} ms`);
  });

  it('429 throughout: the SDKs\' ten attempts, then 503 within the deadline; a wait past the deadline is 503 at once', async (t) => {
    for (const [m, target, op] of [['GET', '/candidate/alice', 'read'], ['POST', '/candidate/erin', 'upsert'],
      ['GET', '/candidates', 'query']]) {
      proxy.inject('throttle', { count: 1000, op, ms: 20 });
      const n0 = seen(proxy, op);
      const [res, ms] = await timed(() => request(stack.url, m, target));
      proxy.clearFaults();
      const attempts = seen(proxy, op) - n0;
      expectJson(res, 503, { error: 'store unavailable' });
      assert.equal(res.headers['retry-after'], '1', `${m} ${target}`);
      assert.equal(attempts, THROTTLE_ATTEMPTS, `${m} ${target}: attempts`);
      assert.ok(ms <= TIMEOUT_MS + SLACK_MS, `${m} ${target}: 503 after ${ms} ms`);
      figure(t, `429 throughout (20 ms waits): ${m} ${target} 503 after ${attempts} attempts, ${ms} ms`);
    }
    await waitForLog(stack, /POST \/candidate\/erin: 503 put: cosmos upsert: 10 attempts made: HTTP 429\/3200 429: Message: .*Request rate is large/);
    proxy.inject('throttle', { count: 1000, op: 'read', ms: 5000 });
    const n0 = seen(proxy, 'read');
    const [res, ms] = await timed(() => request(stack.url, 'GET', '/candidate/alice'));
    proxy.clearFaults();
    expectJson(res, 503, { error: 'store unavailable' });
    assert.equal(seen(proxy, 'read') - n0, 1, 'retried before the wait the store asked for');
    assert.ok(ms < 1000, `503 after ${ms} ms`);
    await waitForLog(stack, /GET \/candidate\/alice: 503 get: cosmos read: asked to wait 5000 ms, more than the deadline leaves: HTTP 429\/3200 /);
    figure(t, `429 asking 5000 ms of a ${TIMEOUT_MS} ms deadline: 503 after 1 attempt, ${ms} ms`);
    assert.equal(await sdkRead(coll, 'erin'), null, 'the throttled write was not stored');
  });

  it('449, 408 and 503 throughout: 503 after the shared policy\'s three attempts', async (t) => {
    for (const kind of ['retryWith', 'timeout', 'unavailable']) {
      proxy.inject(kind, { count: 1000, op: 'upsert' });
      const n0 = seen(proxy, 'upsert');
      const [res, ms] = await timed(() => request(stack.url, 'POST', `/candidate/never-${kind}`));
      proxy.clearFaults();
      expectJson(res, 503, { error: 'store unavailable' });
      assert.equal(seen(proxy, 'upsert') - n0, MAX_ATTEMPTS, `${kind}: attempts`);
      assert.ok(ms <= TIMEOUT_MS + SLACK_MS, `${kind}: 503 after ${ms} ms`);
      t.diagnostic(`${kind} throughout: 503 after ${MAX_ATTEMPTS} attempts, ${ms} ms`);
    }
    await waitForLog(stack, /^POST \/candidate\/never-unavailable: 503 put: cosmos upsert: 3 attempts made: HTTP 503 ServiceUnavailable: Service is currently unavailable\. More info: https:\/\/aka\.ms\/cosmosdb-tsg-service-unavailable$/m);
  });

  it('what the store refuses is 500, not retried: "Unable to update" for a write', async () => {
    const rows = [
      ['POST', '/candidate/refused', 'upsert', { status: 400, code: 'BadRequest',
        message: 'One of the specified inputs is invalid' }, (res) => expectText(res, 500, 'Unable to update'),
      'POST /candidate/refused: 500 put: cosmos upsert: HTTP 400 BadRequest: One of the specified inputs is invalid'],
      ['POST', '/candidate/too-big', 'upsert', { status: 413, code: 'RequestEntityTooLarge',
        message: 'Request size is too large' }, (res) => expectText(res, 500, 'Unable to update'),
      'POST /candidate/too-big: 500 put: cosmos upsert: HTTP 413 RequestEntityTooLarge: Request size is too large'],
      ['GET', '/candidate/alice', 'read', { status: 403, code: 'Forbidden', message: 'Request blocked by Auth ' +
        'candidates-local : principal does not have required RBAC permissions to perform action ' +
        '[Microsoft.DocumentDB/databaseAccounts/readMetadata]' },
      (res) => expectJson(res, 500, { error: 'store refused the request' }),
      'GET /candidate/alice: 500 get: cosmos read: HTTP 403 Forbidden: Request blocked by Auth candidates-local ' +
        ': principal does not have required RBAC permissions to perform action ' +
        '[Microsoft.DocumentDB/databaseAccounts/readMetadata]'],
    ];
    for (const [m, target, op, opts, check, line] of rows) {
      proxy.inject('error', { count: 1, op, ...opts });
      const n0 = seen(proxy, op);
      check(await request(stack.url, m, target));
      assert.equal(seen(proxy, op) - n0, 1, `${m} ${target}: attempts`);
      await waitForLog(stack, new RegExp(line.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
      // Cosmos DB's code and message, without its ActivityId trailer.
      assert.deepEqual(logLines(stack.logText(), new RegExp(`^${m} ${target}: 500`)).slice(-1), [line]);
    }
    assert.equal(await sdkRead(coll, 'refused'), null, 'nothing written');
  });

  it('garbage from the store: 503 (never a 200 or a disguised 404), and the app lives on', async () => {
    const rows = [
      ['not JSON', 'GET', '/candidate/alice', 'read', 200, '<html><body>502 Bad Gateway</body></html>'],
      ['another item', 'GET', '/candidate/alice', 'read', 200, '{"id":"mallory","CandidateName":"mallory"}'],
      ['no id', 'GET', '/candidate/alice', 'read', 200, '{"CandidateName":"alice"}'],
      ['truncated JSON', 'GET', '/candidate/alice', 'read', 200, '{"id":"ali'],
      ['empty body', 'GET', '/candidate/alice', 'read', 200, ''],
      ['deeply nested', 'GET', '/candidate/alice', 'read', 200, '['.repeat(100000)],
      ['an HTML 404', 'GET', '/candidate/alice', 'read', 404, '<html>Not Found</html>'],
      ['a 404 of another kind', 'GET', '/candidate/alice', 'read', 404, '{"message":"no route"}'],
      ['a redirect', 'GET', '/candidate/alice', 'read', 302, 'moved'],
      ['a 400 not from Cosmos DB', 'GET', '/candidate/alice', 'read', 400, 'Bad Request'],
      ['not JSON', 'GET', '/candidates', 'query', 200, '\u0000\u0001\u0002garbage'],
      ['Documents not a list', 'GET', '/candidates', 'query', 200, '{"Documents":"alice","_count":1}'],
      ['an id not a string', 'GET', '/candidates', 'query', 200, '{"Documents":[{"id":"a"},{"id":7}],"_count":2}'],
      ['_count not the length', 'GET', '/candidates', 'query', 200, '{"Documents":[{"id":"a"}],"_count":2}'],
      ['no Documents', 'GET', '/candidates', 'query', 200, '{"_rid":"x","_count":0}'],
      ['not JSON', 'POST', '/candidate/garbage', 'upsert', 200, 'Internal Server Error'],
      ['another item', 'POST', '/candidate/garbage', 'upsert', 201, '{"id":"other","CandidateName":"other"}'],
    ];
    // Every row runs; the failures are listed together.
    const bad = [];
    for (const [row, m, target, op, status, body] of rows) {
      proxy.inject('garbage', { count: MAX_ATTEMPTS, op, status, body });
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
    expectJson(await request(stack.url, 'GET', '/candidate/alice'), 200, [{ CandidateName: 'alice' }]);
  });

  it('a store that hangs: 503 within the deadline, and no worker stays stuck', async (t) => {
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
    const done = await Promise.all(jobs);
    for (const [i, [r, jms]] of done.entries()) {
      expectJson(r, 503, { error: 'store unavailable' });
      assert.ok(jms <= 2 * (TIMEOUT_MS + SLACK_MS), `hanging request ${i}: ${jms} ms`);
    }
    assert.equal(gtg.status, 200);
    assert.ok(gtgMs < 1500, `/gtg took ${gtgMs} ms while the store hung`);
    figure(t, `hang: /gtg while 8 requests hung on 4 workers: ${gtgMs} ms`);
    proxy.clearFaults();
    for (let i = 0; i < 20; i++) {
      const [r, rms] = await timed(() => request(stack.url, 'GET', '/candidate/alice'));
      expectJson(r, 200, [{ CandidateName: 'alice' }]);
      assert.ok(rms < 1000, `request ${i} after the hang took ${rms} ms`);
    }
  });

  it('a store that is down: 503 with Retry-After within the deadline, /gtg 200 at once, then recovery', async (t) => {
    const rows = [
      ['cosmosdb-server killed (connections cut)', () => server.kill(), () => freshServer()],
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

  it('a skewed clock is corrected from the store\'s Date header', async (t) => {
    for (const offset of [20 * 60 * 1000, -20 * 60 * 1000, 0]) {
      proxy.clockOffsetMs = offset;
      const s0 = proxy.stats.refused.staleDate;
      for (let i = 0; i < 3; i++) {
        expectJson(await request(stack.url, 'GET', '/candidate/alice'), 200, [{ CandidateName: 'alice' }]);
      }
      const rejected = proxy.stats.refused.staleDate - s0;
      assert.ok(rejected <= 4, `clock off by ${offset / 60000} min: ${rejected} rejections for 3 requests`);
      t.diagnostic(`the store's clock ${offset / 60000} min off: ${rejected} requests refused, then none`);
    }
    await waitForLog(stack, /^cosmos: clock skew, dating requests 1(19[89]|20[01])s ahead from now on$/m);
  });
});

describe('cosmos: a container that does not exist', () => {
  it('404/1003 is a refusal (500), never "not found", and the log names it', async () => {
    const stack = await stackWith(appEnv({ COSMOS_CONTAINER_NAME: 'NoSuchContainer' }));
    try {
      expectJson(await request(stack.url, 'GET', '/candidate/alice'), 500, { error: 'store refused the request' });
      expectText(await request(stack.url, 'POST', '/candidate/alice'), 500, 'Unable to update');
      expectJson(await request(stack.url, 'GET', '/candidates'), 500, { error: 'store refused the request' });
      await waitForLog(stack, /GET \/candidate\/alice: 500 get: cosmos read: HTTP 404\/1003 NotFound: Message: /);
    } finally {
      await stack.stop();
    }
  });
});

describe('cosmos: one deadline for a whole listing, and a retry quota', () => {
  let server, proxy, sdk;

  before(async () => {
    server = await startCosmosServer();
    proxy = await startCosmosProxy({ upstreamPort: server.port, certs: fx.certs });
    sdk = cosmosClient({ endpoint: proxy.url, ca: fx.certs.ca, key: proxy.accountKeys[0] });
    await bulkWrite(await createCandidatesContainer(sdk), Array.from({ length: 20 }, (_, i) => `slow-${i}`));
  });
  after(async () => {
    sdk?.dispose();
    await proxy?.stop();
    await server?.stop();
  });

  it('a slow query page after page: 503 at the listing\'s deadline, not page times pages', async (t) => {
    const LIST_MS = 1500;
    const stack = await stackWith(appEnv({ CANDIDATES_LIST_TIMEOUT_MS: String(LIST_MS) }, { proxy }));
    try {
      assert.equal((await listNames(stack.url)).length, 20);
      // Pages of two names, each 400 ms late: each page alone is well
      // within CANDIDATES_TIMEOUT_MS (2 s); ten of them are not within
      // the listing's 1.5 s.
      proxy.inject('delay', { op: 'query', ms: 400, items: 2, count: 1000 });
      const n0 = seen(proxy, 'query');
      const [res, ms] = await timed(() => request(stack.url, 'GET', '/candidates', { timeoutMs: 30000 }));
      const pages = seen(proxy, 'query') - n0;
      proxy.clearFaults();
      expectJson(res, 503, { error: 'store unavailable' });
      figure(t, `listing deadline: pages of 2 names each 400 ms late: 503 after ${ms} ms and ` +
        `${pages} pages (CANDIDATES_LIST_TIMEOUT_MS=${LIST_MS})`);
      assert.ok(ms >= LIST_MS - 100 && ms <= LIST_MS + SLACK_MS, `503 after ${ms} ms`);
      assert.ok(pages >= 3 && pages < 10, `${pages} pages`);
      await waitForLog(stack, /GET \/candidates: 503 list: cosmos query: /);
    } finally {
      await stack.stop();
    }
  });

  it('an outage spends the retry quota: then each request makes one attempt', async (t) => {
    const stack = await stackWith(appEnv({ CANDIDATES_THREADS: '4' }, { proxy }));
    try {
      proxy.inject('error', { op: 'read', status: 500, message: 'Internal error', count: 100000 });
      const n0 = seen(proxy, 'read');
      const REQUESTS = 120;
      for (let i = 0; i < REQUESTS; i++) {
        expectJson(await request(stack.url, 'GET', `/candidate/outage-${i}`), 503, { error: 'store unavailable' });
      }
      const attempts = seen(proxy, 'read') - n0;
      proxy.clearFaults();
      // 500 tokens at 5 a retry: 100 retries in all, then none.
      const RETRIES = 500 / 5;
      figure(t, `retry quota: ${REQUESTS} requests in an outage: ${attempts} attempts ` +
        `(${attempts - REQUESTS} retries; without a quota ${REQUESTS * MAX_ATTEMPTS})`);
      assert.equal(attempts, REQUESTS + RETRIES);
      await waitForLog(stack, /retry quota spent/);
      expectText(await request(stack.url, 'GET', '/candidate/after-outage'), 404, 'Not Found');
    } finally {
      await stack.stop();
    }
  });
});

describe('cosmos: the metadata service is never asked through a proxy', () => {
  it('https_proxy and ALL_PROXY carry the store\'s calls, http_proxy and ALL_PROXY never IMDS\'s', async (t) => {
    // A forward proxy that tunnels CONNECT and relays plain requests, and
    // records both: as every HTTP proxy would, it could reach IMDS.
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
    const imds = await startAzureImds({ tokens: fx.tokens, identities: [CLIENT_ID], vmId: VM_ID });
    let stack;
    try {
      for (const v of ['http_proxy', 'HTTPS_PROXY', 'ALL_PROXY']) {
        seenBy.connect.length = 0;
        seenBy.plain.length = 0;
        imds.resetStats();
        stack = await stackWith(appEnv({ [v]: proxyUrl, NO_PROXY: '', no_proxy: '' },
          { identity: true, imds }));
        expectJson(await request(stack.url, 'GET', '/gtg?details'), 200,
          { connected: 'true', 'instance-id': VM_ID });
        expectJson(await request(stack.url, 'POST', `/candidate/via-${v}`), 200, { CandidateName: `via-${v}` });
        await stack.stop();
        const calls = imds.stats.requests;
        t.diagnostic(`${v}: IMDS answered ${calls} calls directly; the proxy saw ` +
          `${seenBy.connect.length} CONNECT and ${seenBy.plain.length} plain requests`);
        assert.ok(calls >= 2, `${v}: IMDS was asked ${calls} times (instance and token)`);
        assert.deepEqual(seenBy.plain.filter((u) => u.startsWith(imds.url)), [],
          `${v}: metadata calls went through the proxy`);
        assert.equal(imds.stats.log.filter((e) => e.headers['x-forwarded-for'] !== undefined).length, 0);
        // HTTPS to the store goes through the proxy, as the SDKs' does
        // (http_proxy is for http:// only, in libcurl as in the SDKs).
        if (v !== 'http_proxy') {
          assert.ok(seenBy.connect.length >= 1, `${v}: the store's calls ignored the proxy`);
        }
      }
    } finally {
      await stack?.stop();
      extraTokens.push(imds.tokens);
      await imds.stop();
      await new Promise((r) => relay.close(r));
    }
  });
});

describe('cosmos: TLS peers are verified', () => {
  let otherCa;
  before(() => {
    otherCa = makeTestCerts(fs.mkdtempSync(path.join(os.tmpdir(), 'other-ca-'))).ca;
  });
  for (const [row, bundle] of [['no SSL_CERT_FILE (system CAs only)', () => undefined],
    ['SSL_CERT_FILE of another CA', () => otherCa]]) {
    it(`${row}: 503, nothing reaches the store, and the log says why`, async () => {
      const stack = await stackWith(appEnv({ SSL_CERT_FILE: bundle() }));
      try {
        const r0 = fx.proxy.stats.requests;
        for (const [m, target] of [['GET', '/candidate/alice'], ['POST', '/candidate/unverified']]) {
          expectJson(await request(stack.url, m, target), 503, { error: 'store unavailable' });
        }
        assert.equal(fx.proxy.stats.requests, r0, 'a request got through an unverified TLS session');
        await waitForLog(stack, /certificate|SSL|TLS|verif/i);
        // Not retried: a peer we do not trust stays untrusted.
        assert.equal(logLines(stack.logText(), /attempts made/).length, 0, stack.logText());
      } finally {
        await stack.stop();
      }
    });
  }
});

describe('cosmos: the CAs are found as in production', () => {
  // With no SSL_CERT_FILE the system's bundle is not parsed: roots come
  // from a hashed directory when a handshake asks for one. SSL_CERT_DIR
  // points that lookup at a directory holding only the proxy's CA.
  it('SSL_CERT_DIR holding the CA, hashed, and no SSL_CERT_FILE: verified, 200', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ca-dir-'));
    try {
      fs.copyFileSync(fx.certs.ca, path.join(dir, 'proxy-ca.pem'));
      const r = spawnSync('openssl', ['rehash', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
      assert.equal(r.status, 0, r.stderr.toString());
      assert.ok(fs.readdirSync(dir).some((f) => /^[0-9a-f]{8}\.0$/.test(f)), 'no hash link made');
      const stack = await stackWith(appEnv({ SSL_CERT_FILE: undefined, SSL_CERT_DIR: dir }));
      try {
        expectJson(await request(stack.url, 'POST', '/candidate/by-dir'), 200, { CandidateName: 'by-dir' });
        expectJson(await request(stack.url, 'GET', '/candidate/by-dir'), 200, [{ CandidateName: 'by-dir' }]);
      } finally {
        await stack.stop();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('cosmos: configuration is checked at start-up', () => {
  // A bad value stops the start with one line naming the variable.
  const notPem = path.join(os.tmpdir(), `not-a-ca-${process.pid}.pem`);
  fs.writeFileSync(notPem, 'not a certificate\n');
  const rows = [
    ['COSMOS_ENDPOINT', 'missing', { COSMOS_ENDPOINT: undefined }],
    ['COSMOS_ENDPOINT', 'http://', () => ({ COSMOS_ENDPOINT: fx.proxy.url.replace('https:', 'http:') })],
    ['COSMOS_ENDPOINT', 'with a path', () => ({ COSMOS_ENDPOINT: `${fx.proxy.url}/dbs/x` })],
    ['COSMOS_DATABASE_NAME', 'a slash', { COSMOS_DATABASE_NAME: 'Candidate/Database' }],
    ['COSMOS_CONTAINER_NAME', 'a question mark', { COSMOS_CONTAINER_NAME: 'Candidates?' }],
    ['COSMOS_CONTAINER_NAME', '256 bytes', { COSMOS_CONTAINER_NAME: 'c'.repeat(256) }],
    ['COSMOS_KEY', 'not base64', { COSMOS_KEY: 'not a key!' }],
    ['COSMOS_KEY', 'base64 with a stray byte', () => ({ COSMOS_KEY: `${fx.proxy.accountKeys[0].slice(0, -4)} AAA` })],
    ['AZURE_CLIENT_ID', 'not a GUID', { AZURE_CLIENT_ID: 'candidates-identity' }],
    ['AZURE_POD_IDENTITY_AUTHORITY_HOST', 'no scheme', { AZURE_POD_IDENTITY_AUTHORITY_HOST: '169.254.169.254' }],
    ['SSL_CERT_FILE', 'a missing file', { SSL_CERT_FILE: '/nonexistent/ca.pem' }],
    ['SSL_CERT_FILE', 'a file with no certificate', { SSL_CERT_FILE: notPem }],
    ['CANDIDATES_TIMEOUT_MS', 'not a number', { CANDIDATES_TIMEOUT_MS: 'soon' }],
  ];
  for (const [name, row, extra] of rows) {
    it(`${name}: ${row} stops the start, naming it`, () => {
      const x = typeof extra === 'function' ? extra() : extra;
      const env = { ...process.env, ...SANITIZER_ENV, ...appEnv(x) };
      for (const [k, v] of Object.entries(x)) if (v === undefined) delete env[k];
      const r = spawnSync(SAN_APP, [], { env, timeout: 10000, stdio: ['ignore', 'pipe', 'pipe'] });
      const err = r.stderr.toString();
      assert.equal(r.status, 1, `exit ${r.status} ${r.signal || ''}: ${err}`);
      assert.match(err, new RegExp(`^candidates: ${name}`), err);
      assert.equal(err.trim().split('\n').length, 1, `more than one line:\n${err}`);
      for (const k of fx.proxy.accountKeys) assert.ok(!err.includes(k.slice(10, 30)), 'the key in the message');
    });
  }
  after(() => fs.rmSync(notPem, { force: true }));
});

describe('cosmos: /gtg?details and the instance metadata', () => {
  // Each row points AZURE_POD_IDENTITY_AUTHORITY_HOST somewhere; the app
  // signs with the key, so the VM's id is the only metadata read.
  const rows = [
    { row: 'a VM whose metadata has no vmId: its name', vmId: '', want: () => VM_NAME },
    { row: 'a closed loopback port: the host name', closed: true, want: () => os.hostname(), why: /refused|connect/i },
    { row: 'a server that accepts and never answers: the host name', silent: true, want: () => os.hostname(), why: /time/i },
  ];
  for (const r of rows) {
    it(`${r.row}`, async (t) => {
      let server = null;
      let imds = null;
      const held = [];		// [opened, closed] of each connection, ms
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
        host = `http://127.0.0.1:${server.address().port}`;
      } else if (r.closed) {
        host = `http://127.0.0.1:${await freePort()}`;
      } else {
        imds = await startAzureImds({ tokens: fx.tokens, identities: [CLIENT_ID], vmId: r.vmId, name: VM_NAME });
        host = imds.url;
      }
      try {
        const [stack, readyMs] = await timed(() => stackWith(appEnv({ AZURE_POD_IDENTITY_AUTHORITY_HOST: host })));
        try {
          expectJson(await request(stack.url, 'GET', '/gtg?details'), 200,
            { connected: 'true', 'instance-id': r.want() });
          const said = logLines(stack.logText(), /no instance id, using the host name/);
          assert.equal(said.length, r.why ? 1 : 0, `the log:\n${stack.logText()}`);
          if (r.why) assert.match(said[0], r.why);
          assert.ok(readyMs <= IMDS_START_MS + STARTUP_MS, `ready after ${readyMs} ms`);
          if (imds) {
            const e = imds.stats.log.find((x) => x.path === '/metadata/instance/compute');
            assert.ok(e, 'the compute metadata was not asked for');
            assert.deepEqual([e.headers.metadata, e.query['api-version'], e.query.format],
              ['true', '2021-02-01', 'json']);
          }
          if (r.silent) {
            assert.equal(held.length, 1, `${held.length} connections to the metadata address`);
            const [opened, closed] = held[0];
            assert.ok(closed !== null, 'the app never gave up on the metadata service');
            const ms = closed - opened;
            assert.ok(ms >= IMDS_START_MS - 100 && ms <= IMDS_START_MS + 700,
              `the app waited ${ms} ms for the metadata service (deadline ${IMDS_START_MS} ms)`);
            figure(t, `no IMDS (silent): gave up after ${ms} ms, ready in ${readyMs} ms`);
          }
          // The store still works: the key needs no metadata.
          expectText(await request(stack.url, 'GET', '/candidate/details-row'), 404, 'Not Found');
        } finally {
          await stack.stop();
        }
      } finally {
        server?.close();
        await imds?.stop();
      }
    });
  }
});

// The process tree under pid now: [pid, start time] of each, so that a
// PID the kernel hands out again later is not mistaken for one of them.
function processTree(root) {
  const kids = new Map();
  const start = new Map();
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ppid = Number(f[1]);
      if (!kids.has(ppid)) kids.set(ppid, []);
      kids.get(ppid).push(Number(e));
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

// What `make run STORE=cosmos` runs, as make itself prints it, with the
// state directory and the app swapped for the test's.
function makeRunCommand(port, dir) {
  const env = { ...process.env };
  for (const k of ['MAKEFLAGS', 'MFLAGS', 'MAKELEVEL']) delete env[k];
  const r = spawnSync('make', ['-n', '-s', 'run', 'STORE=cosmos', 'WEB=nginx', `PORT=${port}`],
    { cwd: ROOT, env, encoding: 'utf8', timeout: 30000 });
  assert.equal(r.status, 0, `make -n run: ${r.stderr}`);
  const line = r.stdout.split('\n').find((l) => /local-cosmos\.js/.test(l));
  assert.ok(line, `make run STORE=cosmos does not start tests/lib/local-cosmos.js:\n${r.stdout}`);
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

describe('make run STORE=cosmos', () => {
  // A developer's shell may hold Azure settings of its own; the local
  // stand-ins must not be steered by them.
  const DEV_SHELL = {
    COSMOS_ENDPOINT: 'https://someone-elses-account.documents.azure.com:443/',
    COSMOS_KEY: 'c29tZW9uZSBlbHNlJ3Mga2V5',
    AZURE_CLIENT_ID: '11111111-2222-4333-8444-555555555555',
    AZURE_POD_IDENTITY_AUTHORITY_HOST: 'http://192.0.2.1',
    SSL_CERT_FILE: '/nonexistent/ca.pem',
  };
  it('answers the README\'s curl commands on a local Cosmos DB, and Ctrl-C stops every process', async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'make-run-cosmos-'));
    const argv = makeRunCommand(await freePort(), dir);
    const env = { ...process.env, ...SANITIZER_ENV, ...DEV_SHELL };
    for (const k of Object.keys(env)) if (k.startsWith('CANDIDATES_')) delete env[k];
    const child = spawn(argv[0], argv.slice(1), { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => { output += d; });
    child.stderr.on('data', (d) => { output += d; });
    const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    const live = () => child.exitCode === null && child.signalCode === null;
    let tree = [];
    try {
      const t0 = Date.now();
      while (!/^ready: http:\/\//m.test(output) && live() && Date.now() - t0 < 40000) await sleep(50);
      const url = /^ready: (http:\/\/\S+)/m.exec(output)?.[1];
      assert.ok(url, `make run did not become ready:\n${output}`);
      tree = processTree(child.pid);

      // The README's commands, in order.
      assert.equal((await request(url, 'GET', '/gtg')).status, 200);
      expectJson(await request(url, 'GET', '/gtg?details=true'), 200,
        { connected: 'true', 'instance-id': '02aab8a4-74ef-476e-8182-f6d2ba4166a6' });
      expectJson(await request(url, 'POST', '/candidate/Ada%20Lovelace'), 200, { CandidateName: 'Ada Lovelace' });
      expectJson(await request(url, 'GET', '/candidate/Ada%20Lovelace'), 200, [{ CandidateName: 'Ada Lovelace' }]);
      expectJson(await request(url, 'GET', '/candidates'), 200, [{ CandidateName: 'Ada Lovelace' }]);
      const slash = await request(url, 'GET', '/candidate/a%2Fb');
      assert.equal(slash.status, 400, show(slash));
      // In the stand-in's container, read by the SDK with what the
      // launcher printed.
      const endpoint = /verifying proxy on (https:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1];
      const key = /^ {2}export COSMOS_KEY='([^']+)'$/m.exec(output)?.[1];
      const ca = /^ {2}export SSL_CERT_FILE='([^']+)'$/m.exec(output)?.[1];
      assert.ok(endpoint && key && ca, output);
      const sdk = cosmosClient({ endpoint, key, ca });
      try {
        const d = await sdkRead(container(sdk), 'Ada Lovelace');
        assert.deepEqual([d?.id, d?.CandidateName], ['Ada Lovelace', 'Ada Lovelace']);
      } finally {
        sdk.dispose();
      }
      const [end, ms] = await timed(async () => {
        process.kill(-child.pid, 'SIGINT');
        return Promise.race([exited, sleep(20000).then(() => null)]);
      });
      assert.deepEqual(end, { code: 0, signal: null }, `make run's exit after Ctrl-C:\n${output}`);
      const t1 = Date.now();
      while (tree.some(stillRunning) && Date.now() - t1 < 5000) await sleep(50);
      assert.deepEqual(tree.filter(stillRunning).map(([p]) => p), [], 'still running after Ctrl-C');
      assertNoSanitizerReport(output, 'make run output');
      // The app's own lines never show the key (the launcher prints it
      // for the developer, once, on its own lines).
      assert.deepEqual(output.split('\n').filter((l) => l.includes(key) && !/^ {2}export |^@azure\/cosmos/.test(l)), []);
      figure(t, `make run STORE=cosmos: ${tree.length} processes, all gone ${ms} ms after Ctrl-C`);
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
});

describe('cosmos: the logs', () => {
  it('hold no key, signature or token, and no sanitizer report', async () => {
    for (const s of stacks) await s.stop();
    const all = [
      ...fx.proxy.accountKeys.map((k) => ['an account key', k]),
      ...[fx.tokens, ...extraTokens].flatMap((reg) => [...reg.byToken.keys()].map((k) => ['a token', k])),
      // Signatures as sent: a sample of the Authorization headers.
      ...fromApp(fx.proxy).filter((e) => e.authType === 'master').slice(0, 50)
        .map((e) => ['a signature', decodeURIComponent(e.headers.authorization).split('sig=')[1]]),
    ];
    assert.ok(all.length >= 20, `only ${all.length} secrets to look for`);
    for (const [i, s] of stacks.entries()) {
      const text = s.logText() + s.outputText();
      for (const [what, value] of all) {
        // Any 16-byte stretch would do harm; tokens share a prefix, so
        // probe the middle and the end.
        const mid = Math.floor(value.length / 2);
        for (const probe of [value.slice(mid - 8, mid + 8), value.slice(-16)]) {
          assert.ok(!text.includes(probe), `stack ${i} (${s.web}) logged ${what}`);
        }
      }
      assertNoSanitizerReport(s.logText(), `stack ${i} (${s.web}) log`);
    }
  });
});
