'use strict';
// The DynamoDB store (issue 4), proven against dynalite behind the
// verifying SigV4 proxy (every request's signature recomputed with the
// AWS SDK's signer), a fake IMDSv2, and the official DynamoDB SDK as the
// oracle for the data. Everything goes over HTTPS with a throwaway CA
// that the app trusts through AWS_CA_BUNDLE.
//
// The figures the issue asks for (connections per 1000 requests, retries
// observed, time to 503 when the store hangs) are printed as test
// diagnostics and once more in a summary at the end.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');
const {
  PutItemCommand, QueryCommand, BatchWriteItemCommand,
} = require('@aws-sdk/client-dynamodb');
const {
  startStack, request, assertNoSanitizerReport, freePort, ROOT, SAN_APP, SANITIZER_ENV, waitForLog,
  sleep,
} = require('../lib/stack');
const { contractSuite, expectJson, expectText, show } = require('../lib/contract');
const { startDynalite, createTable, TABLE } = require('../lib/dynalite');
const {
  ADMIN, APP_OPS, CredentialRegistry, startProxy, makeTestCerts, dynamoClient,
} = require('../lib/sigv4-proxy');
const { startImds } = require('../lib/fake-imds');

// Not us-east-1, so a region the app invents shows as a scope mismatch.
const REGION = 'eu-west-3';
// The app's total deadline per store call, retries included. Short, to keep
// the outage tests short; SLACK_MS is the round trip through the web server
// under the sanitizers on a busy two-core box.
const TIMEOUT_MS = 2000;
const CONNECT_TIMEOUT_MS = 500;
const SLACK_MS = 1500;
const MAX_ATTEMPTS = 3;	// the AWS SDKs' standard retry mode
// The deadline of the metadata reads at start-up (IMDS_START_MS in
// fcgi-app/store_dynamodb.c): the instance id must not hold up a start
// longer than that when there is no metadata service.
const IMDS_START_MS = 1000;
// How long a stack takes to become ready under the sanitizers on a busy
// two-core box, store aside.
const STARTUP_MS = 5000;

const enc = encodeURIComponent;

const fx = {};			// the shared stand-ins, made in before()
const stacks = [];		// every stack started, for the log checks at the end
const figures = [];		// what the summary prints
const secrets = [];		// [what, value]: what no log may hold

function figure(t, text) {
  figures.push(text);
  t.diagnostic(text);
}

// The app's environment: the DynamoDB store over HTTPS through the proxy,
// static temporary credentials unless told otherwise, and the fake IMDS for
// the instance id (no test may reach 169.254.169.254). A key set to
// undefined is left out of the environment altogether.
function appEnv(extra = {}, { creds = fx.app, imds = fx.imds, proxy = fx.proxy } = {}) {
  const env = {
    CANDIDATES_STORE: 'dynamodb',
    CANDIDATES_TIMEOUT_MS: String(TIMEOUT_MS),
    CANDIDATES_CONNECT_TIMEOUT_MS: String(CONNECT_TIMEOUT_MS),
    AWS_ENDPOINT_URL_DYNAMODB: proxy.url,
    AWS_REGION: REGION,
    AWS_CA_BUNDLE: fx.certs.ca,
    AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.url,
    AWS_ACCESS_KEY_ID: creds ? creds.accessKeyId : undefined,
    AWS_SECRET_ACCESS_KEY: creds ? creds.secretAccessKey : undefined,
    AWS_SESSION_TOKEN: creds && creds.sessionToken ? creds.sessionToken : undefined,
    TC_DYNAMO_TABLE: undefined,
    // Whatever a developer has exported must not steer the app.
    AWS_DEFAULT_REGION: undefined,
    AWS_PROFILE: undefined,
    AWS_EC2_METADATA_DISABLED: undefined,
    AWS_ENDPOINT_URL: undefined,
    ...extra,
  };
  for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
  // stack.js passes our own environment through; make sure the unset
  // ones stay unset there too.
  for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_REGION',
    'AWS_DEFAULT_REGION', 'AWS_PROFILE', 'AWS_CA_BUNDLE', 'TC_DYNAMO_TABLE', 'AWS_ENDPOINT_URL',
    'AWS_ENDPOINT_URL_DYNAMODB', 'AWS_EC2_METADATA_SERVICE_ENDPOINT', 'AWS_EC2_METADATA_DISABLED']) {
    if (!(k in env)) delete process.env[k];
  }
  return env;
}

async function stackWith(env, web = 'nginx') {
  const s = await startStack({ web, env });
  stacks.push(s);
  return s;
}

const sdkPut = (client, name, table = TABLE) => client.send(new PutItemCommand({
  TableName: table, Item: { CandidateName: { S: name } },
}));

async function sdkGet(client, name, table = TABLE) {
  const r = await client.send(new QueryCommand({
    TableName: table, ConsistentRead: true,
    KeyConditionExpression: 'CandidateName = :n',
    ExpressionAttributeValues: { ':n': { S: name } },
  }));
  return r.Items.map((i) => i.CandidateName.S);
}

// Writes names straight into dynalite, 25 per BatchWriteItem.
async function bulkWrite(endpoint, table, names) {
  const c = dynamoClient({ endpoint, region: REGION, maxAttempts: 3 });
  try {
    const batches = [];
    for (let i = 0; i < names.length; i += 25) batches.push(names.slice(i, i + 25));
    let next = 0;
    const worker = async () => {
      while (next < batches.length) {
        const b = batches[next++];
        const r = await c.send(new BatchWriteItemCommand({ RequestItems: {
          [table]: b.map((n) => ({ PutRequest: { Item: { CandidateName: { S: n } } } })),
        } }));
        assert.equal(Object.keys(r.UnprocessedItems || {}).length, 0, 'unprocessed items');
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
  } finally {
    c.destroy();
  }
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

// The number of requests of one operation the proxy has seen.
const seen = (proxy, op) => proxy.stats.operations[op] || 0;

async function timed(fn) {
  const t0 = Date.now();
  const r = await fn();
  return [r, Date.now() - t0];
}

// The peak resident set of a process (VmHWM), in KiB.
function peakRssKiB(pid) {
  const m = /^VmHWM:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  assert.ok(m, `no VmHWM for pid ${pid}`);
  return Number(m[1]);
}

// The lines of a log that match re.
const logLines = (text, re) => text.split('\n').filter((l) => re.test(l));

// Up, and still on the worker it started with: the app replaces a
// worker that dies, so a live app alone would hide a crash.
function appAlive(stack) {
  return stack.firstWorkerPid !== null && stack.workerPid === stack.firstWorkerPid;
}

before(async () => {
  fx.certs = makeTestCerts(fs.mkdtempSync(path.join(os.tmpdir(), 'dynamodb-test-')));
  fx.registry = new CredentialRegistry();
  fx.registry.add(ADMIN);
  // The app's own static credentials: temporary (with a token), and only
  // the original IAM policy's operations.
  fx.app = CredentialRegistry.random();
  fx.registry.add({ ...fx.app, ops: APP_OPS });
  secrets.push(['the app secret', fx.app.secretAccessKey], ['the app session token', fx.app.sessionToken]);
  fx.db = await startDynalite();
  fx.proxy = await startProxy({ registry: fx.registry, upstreamPort: fx.db.port, region: REGION,
    certs: fx.certs });
  fx.imds = await startImds({ registry: fx.registry, region: REGION });
  fx.sdk = dynamoClient({ endpoint: fx.proxy.url, ca: fx.certs.ca, region: REGION, maxAttempts: 3 });
});

after(async () => {
  fx.sdk?.destroy();
  await fx.proxy?.stop();
  await fx.imds?.stop();
  await fx.db?.stop();
  for (const s of stacks) await s.stop();
  console.log(['dynamodb figures:', ...figures.map((f) => `  ${f}`)].join('\n'));
});

// The whole contract, through each web server: nginx with static
// credentials from the environment, lighttpd with the instance role's from
// IMDSv2, the region from IMDS too, and a table named by TC_DYNAMO_TABLE.
const CONTRACT = [
  { web: 'nginx', table: TABLE, env: () => appEnv() },
  { web: 'lighttpd', table: 'CandidatesContract', env: () => appEnv({
    TC_DYNAMO_TABLE: 'CandidatesContract', AWS_REGION: undefined,
  }, { creds: null }) },
];
for (const c of CONTRACT) {
  contractSuite(`dynamodb/${c.web}`, async () => {
    if (c.table !== TABLE) await createTable(fx.db.endpoint, c.table);
    return stackWith(c.env(), c.web);
  }, {
    instanceId: 'i-0fa4e1d2c3b4a5968',
    outage: {
      begin: () => fx.proxy.down(),
      end: () => fx.proxy.up(),
      readsFail: true,
      maxMs: TIMEOUT_MS + SLACK_MS,
    },
  });
}

describe('dynamodb: what the app sent during the contract suites', () => {
  it('only Query (ConsistentRead), PutItem and Scan, signed, on the configured table', () => {
    const log = fx.proxy.stats.log.filter((e) => e.akid !== ADMIN.accessKeyId);
    assert.ok(log.length > 100, `only ${log.length} requests from the app`);
    const bad = [];
    for (const e of log) {
      const table = e.body && e.body.TableName;
      if (e.status === 0 || e.status === -1) continue;	// cut by the outage test
      if (!APP_OPS.includes(e.op)) bad.push(`operation ${e.op}`);
      else if (table !== TABLE && table !== 'CandidatesContract') bad.push(`${e.op} on table ${table}`);
      else if (e.op === 'Query' && e.body.ConsistentRead !== true) bad.push('Query without ConsistentRead');
      else if (e.op === 'PutItem' && Object.keys(e.body.Item || {}).join() !== 'CandidateName') {
        bad.push(`PutItem item ${JSON.stringify(e.body.Item)}`);
      }
      if (e.error) bad.push(`${e.op} answered ${e.error}`);
      if (!e.token) bad.push(`${e.op} without a session token`);
    }
    assert.deepEqual([...new Set(bad)], []);
    const keys = new Set(log.map((e) => e.akid));
    const roles = fx.imds.issued.map((c) => c.accessKeyId);
    assert.ok(keys.has(fx.app.accessKeyId), 'nginx used the environment credentials');
    assert.ok(roles.some((k) => keys.has(k)), 'lighttpd used the instance role credentials');
  });
});

describe('dynamodb/nginx with one worker: interop, pagination, connection reuse', () => {
  const TBL = 'CandidatesOneWorker';
  let stack;
  const written = [];	// every name in the table

  before(async () => {
    await createTable(fx.db.endpoint, TBL);
    stack = await stackWith(appEnv({ TC_DYNAMO_TABLE: TBL, CANDIDATES_THREADS: '1' }));
  });
  after(async () => {
    await stack?.stop();
    assertNoSanitizerReport(stack.logText());
  });

  // Valid names (DESIGN.md) the service writes; the SDK reads them back.
  const SERVICE_NAMES = [
    'two words', ' padded ', 'double "quotes"', "single 'quotes'", 'emoji 😀🎉', 'é ü ß 中文 עברית',
    'percent %41 literal', 'plus+sign & amp=eq;semi', '<b>tag<b>', 'nbsp\u00a0here',
    'a'.repeat(255), `${'😀'.repeat(63)}abc`, `${'é'.repeat(127)}x`, `${'中'.repeat(85)}`,
  ];
  // Names the SDK writes; the service serves the valid ones, and lists all
  // of them (a table the original filled may hold anything).
  const SDK_NAMES = [
    ['sdk two words', true], ['sdk "quoted"', true], ['sdk 🎉', true], [`sdk ${'b'.repeat(251)}`, true],
    ['sdk back\\slash', false], ['sdk "\\"\\\\', false], ['sdk/slash', false], ['__sdk__', false],
    ['sdk\u0001control', false], ['sdk\u2028line sep', true],
  ];

  it('names the service wrote are read back byte-exact by the SDK', async () => {
    for (const n of SERVICE_NAMES) {
      assert.ok(Buffer.byteLength(n) <= 255, n);
      expectJson(await request(stack.url, 'POST', `/candidate/${enc(n)}`), 200, { CandidateName: n });
      written.push(n);
      const got = await sdkGet(fx.sdk, n, TBL);
      assert.deepEqual(got.map((s) => Buffer.from(s).toString('hex')), [Buffer.from(n).toString('hex')],
        `SDK read of ${JSON.stringify(n)}`);
    }
  });

  it('items the SDK wrote are served by the service', async () => {
    for (const [n, valid] of SDK_NAMES) {
      await sdkPut(fx.sdk, n, TBL);
      written.push(n);
      const res = await request(stack.url, 'GET', `/candidate/${enc(n)}`);
      if (valid) expectJson(res, 200, [{ CandidateName: n }]);
      else assert.equal(res.status, 400, `${JSON.stringify(n)}: ${show(res)}`);
    }
    assertSameNames(await listNames(stack.url), written, 'GET /candidates');
  });

  it('a table over 1 MB comes back whole from /candidates, each name once', async (t) => {
    const bulk = Array.from({ length: 6000 }, (_, i) => {
      const head = `bulk-${String(i).padStart(5, '0')}-`;
      return head + 'p'.repeat(250 - head.length);
    });
    const [, writeMs] = await timed(() => bulkWrite(fx.db.endpoint, TBL, bulk));
    written.push(...bulk);
    const scans0 = seen(fx.proxy, 'Scan');
    const [names, ms] = await timed(() => listNames(stack.url));
    const pages = seen(fx.proxy, 'Scan') - scans0;
    assertSameNames(names, written, 'GET /candidates of 6000 x 250 bytes');
    assert.ok(pages >= 2, `${pages} Scan pages: the table was meant to exceed 1 MB`);
    figure(t, `pagination: ${names.length} names (${(names.join('').length / 1e6).toFixed(2)} MB of ` +
      `names) in ${pages} Scan pages, ${ms} ms (bulk load ${writeMs} ms)`);

    // An empty page that still carries a key, as DynamoDB may send.
    fx.proxy.inject('emptyPage', { count: 2 });
    const again = await listNames(stack.url);
    assert.equal(fx.proxy.faults.length, 0, 'the empty pages were served');
    assertSameNames(again, written, 'GET /candidates with empty pages');

    // Memory: the handler builds the whole answer before it sends it (so
    // that a failed later page is a 503, not a truncated 200), which holds
    // the listing once, plus the one Scan page being parsed; never the
    // table twice. Measured on a worker of its own that does this listing
    // and nothing else, with ASan's quarantine off: with it on, freed
    // memory is not reused and the peak counts every byte ever allocated.
    // Its peak over its idle peak was 14.0-14.2 MB (for 1.6 MB of answer):
    // most of it is the json-c tree of a 1 MB page (some 3 KB an item) and
    // the page's and the answer's buffers. Keeping every page until the
    // end (the table twice: as DynamoDB's JSON and as ours) measured
    // 15.9 MB; the bound sits between the two. A copy of the answer made
    // after the pages are freed reuses their memory and shows no more.
    const GROWTH_BOUND_KIB = 15 * 1024;
    const mem = await stackWith(appEnv({
      TC_DYNAMO_TABLE: TBL, CANDIDATES_THREADS: '1',
      ASAN_OPTIONS: `${SANITIZER_ENV.ASAN_OPTIONS}:quarantine_size_mb=0`,
    }));
    try {
      // Warm: the TLS connection and the credentials, as a request brings.
      expectText(await request(mem.url, 'GET', '/candidate/warm-up'), 404, 'Not Found');
      const worker = mem.workerPid;
      const idle = peakRssKiB(worker);
      assertSameNames(await listNames(mem.url), written, 'GET /candidates on a fresh worker');
      assert.equal(mem.workerPid, worker, 'the worker was replaced');
      const growth = peakRssKiB(worker) - idle;
      const answer = written.reduce((n, w) => n + Buffer.byteLength(JSON.stringify({ CandidateName: w })) + 1, 0);
      figure(t, `pagination memory: the worker's peak RSS grew ${(growth / 1024).toFixed(1)} MB ` +
        `(idle ${(idle / 1024).toFixed(1)} MB) for a ${(answer / 1e6).toFixed(2)} MB answer ` +
        `(bound ${GROWTH_BOUND_KIB / 1024} MB, ASan without quarantine)`);
      assert.ok(growth < GROWTH_BOUND_KIB, `the worker's peak RSS grew ${growth} KiB listing ` +
        `${written.length} names: is the table held twice?`);
    } finally {
      await mem.stop();
    }
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
        `requests (${reqs} DynamoDB calls) through one worker after warm-up, ${ms} ms`);
      assert.equal(reqs, 1000, 'one DynamoDB call per request');
      assert.ok(conns <= 3, `${conns} TCP connections for 1000 requests`);
      assert.ok(hs <= 3, `${hs} TLS handshakes for 1000 requests`);
    } finally {
      agent.destroy();
    }
  });
});

describe('dynamodb: instance role credentials from IMDSv2 that expire during the test', () => {
  const LIFETIME_MS = 10000;
  const RUN_MS = 22000;
  let imds, stack;

  before(async () => {
    imds = await startImds({ registry: fx.registry, region: REGION, lifetimeMs: LIFETIME_MS,
      instanceId: 'i-0rotating0000000' });
  });
  after(async () => {
    await stack?.stop();
    await imds?.stop();
    for (const c of imds.issued) secrets.push(['a role secret', c.secretAccessKey], ['a role token', c.sessionToken]);
    for (const k of imds.tokens.keys()) secrets.push(['an IMDS token', k]);
  });

  it('refresh before expiry: no request fails, none goes without a token, IMDS is asked a bounded number of times', async (t) => {
    fx.proxy.resetStats();
    fx.proxy.expectToken = true;
    const t0 = Date.now();
    try {
      stack = await stackWith(appEnv({ CANDIDATES_THREADS: '4' }, { creds: null, imds }));
      expectJson(await request(stack.url, 'GET', '/gtg?details'), 200,
        { connected: 'true', 'instance-id': 'i-0rotating0000000' });
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
      const used = imds.issued.filter((c) => fx.proxy.stats.accessKeys[c.accessKeyId]).length;
      // A refresh at half the credentials' life, one IMDS answer each, and
      // some room: far below one per request.
      const bound = 2 * Math.ceil(elapsed / (LIFETIME_MS / 2)) + 2;
      figure(t, `IMDS rotation: ${ok} requests over ${(elapsed / 1000).toFixed(1)} s with ` +
        `${LIFETIME_MS / 1000} s credentials: ${used} credential sets used, ` +
        `${imds.credentialGets} credential GETs, ${imds.tokenPuts} token PUTs, ${imds.total} IMDS ` +
        `calls in all (bound ${bound} credential GETs)`);
      assert.deepEqual(failures.slice(0, 10), [], `${failures.length} requests failed`);
      assert.equal(fx.proxy.stats.expiredToken, 0, 'requests signed with expired credentials');
      assert.equal(fx.proxy.stats.missingToken, 0, 'requests without a session token');
      assert.equal(fx.proxy.stats.unrecognizedClient, 0, 'requests with unknown credentials');
      assert.equal(fx.proxy.stats.signatureFailures, 0, 'signature failures');
      assert.ok(used >= 3, `only ${used} credential sets used in ${elapsed} ms: no refresh`);
      assert.ok(imds.credentialGets <= bound, `${imds.credentialGets} credential GETs (bound ${bound})`);
      assert.ok(imds.tokenPuts <= imds.credentialGets + 2, `${imds.tokenPuts} token PUTs`);
      assert.equal(imds.unauthorized, 0, 'IMDS GETs without a valid token');
    } finally {
      fx.proxy.expectToken = false;
    }
  });
});

describe('dynamodb: wrong credentials fail, and say why', () => {
  // message: what DynamoDB says, as the proxy says it; for a bad signature
  // AWS goes on after a blank line with the canonical request it
  // expected, session token included, which must not reach the log.
  const rows = [
    { row: 'wrong secret', creds: () => ({ ...fx.app, secretAccessKey: fx.app.secretAccessKey.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')) }),
      error: 'InvalidSignatureException', counter: 'signatureFailures',
      message: 'The request signature we calculated does not match the signature you provided. Check ' +
        'your AWS Secret Access Key and signing method. Consult the service documentation for details.' },
    { row: 'wrong session token', creds: () => ({ ...fx.app, sessionToken: `${fx.app.sessionToken.slice(0, -8)}AAAAAAAA` }),
      error: 'UnrecognizedClientException', counter: 'unrecognizedClient',
      message: 'The security token included in the request is invalid.' },
  ];
  for (const r of rows) {
    it(`${r.row}: 500/503, ${r.error} in the log, nothing written`, async () => {
      const creds = r.creds();
      secrets.push(['a wrong secret', creds.secretAccessKey], ['a wrong token', creds.sessionToken]);
      const stack = await stackWith(appEnv({}, { creds }));
      try {
        fx.proxy.resetStats();
        const requests = [['POST', '/candidate/wrong-creds', 'put', 'PutItem'],
          ['GET', '/candidate/alice', 'get', 'Query'], ['GET', '/candidates', 'list', 'Scan']];
        const lines = [];	// the log line each request must leave
        for (const [m, target, what, op] of requests) {
          const before = fx.proxy.stats[r.counter];
          const res = await request(stack.url, m, target);
          assert.ok(res.status === 503 || res.status === 500, `${m} ${target}: ${show(res)}`);
          const n = fx.proxy.stats[r.counter] - before;
          assert.ok(n >= 1 && n <= MAX_ATTEMPTS, `${m} ${target}: ${n} rejected attempts`);
          lines.push(`${m} ${target}: ${res.status} ${what}: dynamodb ${op}: HTTP 400 ${r.error}: ${r.message}`);
        }
        assert.deepEqual(await sdkGet(fx.sdk, 'wrong-creds'), [], 'nothing written');
        await waitForLog(stack, new RegExp(r.error));
        // DynamoDB's type and message, whole, one line per request; and
        // not the canonical request that follows the message.
        await sleep(100);
        assert.deepEqual(logLines(stack.logText(), new RegExp(r.error)), lines);
        assert.doesNotMatch(stack.logText(), /Canonical String|String-to-Sign/);
        await stack.stop();
        assertNoSanitizerReport(stack.logText());
      } finally {
        await stack.stop();
      }
    });
  }
});

describe('dynamodb: faults injected by the proxy', () => {
  let db, proxy, stack;
  let retries = 0;
  const sdkDirect = () => dynamoClient({ endpoint: db.endpoint, region: REGION });

  before(async () => {
    db = await startDynalite();
    proxy = await startProxy({ registry: fx.registry, upstreamPort: db.port, region: REGION,
      certs: fx.certs });
    const c = sdkDirect();
    await sdkPut(c, 'alice');
    c.destroy();
    stack = await stackWith(appEnv({ CANDIDATES_THREADS: '4' }, { proxy }));
  });
  after(async () => {
    await stack?.stop();
    assertNoSanitizerReport(stack.logText());
    await proxy?.stop();
    await db?.stop();
  });

  it('throttling or 5xx twice, then success: the request succeeds on the third attempt', async (t) => {
    const rows = [
      ['GET', '/candidate/alice', 'Query', 'throttle', 'ThrottlingException', 200],
      ['GET', '/candidate/alice', 'Query', 'throttle', 'ProvisionedThroughputExceededException', 200],
      ['GET', '/candidate/alice', 'Query', 'throttle', 'RequestLimitExceeded', 200],
      ['POST', '/candidate/bob', 'PutItem', 'throttle', 'ProvisionedThroughputExceededException', 200],
      ['GET', '/candidates', 'Scan', 'throttle', 'ThrottlingException', 200],
      ['GET', '/candidate/alice', 'Query', 'error', 'InternalServerError', 200],
      ['POST', '/candidate/carol', 'PutItem', 'error', 'ServiceUnavailable', 200],
      ['GET', '/candidate/alice', 'Query', 'close', undefined, 200],
    ];
    for (const [m, target, op, kind, error, status] of rows) {
      const row = `${m} ${target} after 2 x ${error || kind}`;
      proxy.inject(kind, { count: 2, op, error });
      const n0 = seen(proxy, op);
      const [res, ms] = await timed(() => request(stack.url, m, target));
      assert.equal(res.status, status, `${row}: ${show(res)}`);
      assert.equal(seen(proxy, op) - n0, 3, `${row}: attempts`);
      assert.equal(proxy.faults.length, 0, `${row}: faults left unused`);
      retries += 2;
      t.diagnostic(`${row}: ${status} in ${ms} ms`);
    }
    figure(t, `retries: ${retries} retried attempts observed over ${rows.length} requests, all succeeded`);
  });

  it('throttling past the retry budget: 503 with Retry-After after at most 3 attempts', async (t) => {
    for (const [m, target, op] of [['GET', '/candidate/alice', 'Query'], ['POST', '/candidate/dave', 'PutItem'],
      ['GET', '/candidates', 'Scan']]) {
      proxy.inject('throttle', { count: 100, op, error: 'ProvisionedThroughputExceededException' });
      const n0 = seen(proxy, op);
      const [res, ms] = await timed(() => request(stack.url, m, target));
      proxy.clearFaults();
      const attempts = seen(proxy, op) - n0;
      expectJson(res, 503, { error: 'store unavailable' });
      assert.equal(res.headers['retry-after'], '1', `${m} ${target}`);
      assert.ok(attempts >= 2 && attempts <= MAX_ATTEMPTS, `${m} ${target}: ${attempts} attempts`);
      assert.ok(ms <= TIMEOUT_MS + SLACK_MS, `${m} ${target}: 503 after ${ms} ms`);
      t.diagnostic(`${m} ${target} throttled throughout: 503 after ${attempts} attempts, ${ms} ms`);
    }
    const c = sdkDirect();
    assert.deepEqual(await sdkGet(c, 'dave'), [], 'the throttled write was not stored');
    c.destroy();
  });

  it('a write the store refuses is 500 "Unable to update", not retried', async () => {
    for (const error of ['ValidationException']) {
      proxy.inject('error', { count: 1, op: 'PutItem', error });
      const n0 = seen(proxy, 'PutItem');
      const res = await request(stack.url, 'POST', '/candidate/refused');
      expectText(res, 500, 'Unable to update');
      assert.equal(seen(proxy, 'PutItem') - n0, 1, `${error}: attempts`);
    }
    await waitForLog(stack, /ValidationException/);
    // DynamoDB's type and its message, in one line.
    assert.deepEqual(logLines(stack.logText(), /ValidationException/), [
      'POST /candidate/refused: 500 put: dynamodb PutItem: HTTP 400 ValidationException: ' +
        'One or more parameter values were invalid',
    ]);
  });

  it('garbage from the store: 503, and the app lives on', async () => {
    const rows = [
      ['not JSON', 'GET', '/candidate/alice', 'Query', '<html><body>502 Bad Gateway</body></html>'],
      ['truncated JSON', 'GET', '/candidate/alice', 'Query', '{"Count":1,"Items":[{"CandidateName":{"S":"ali'],
      ['Count not a number', 'GET', '/candidate/alice', 'Query', '{"Count":"1","ScannedCount":1}'],
      ['no Count', 'GET', '/candidate/alice', 'Query', '{"ScannedCount":1}'],
      ['a JSON list', 'GET', '/candidate/alice', 'Query', '[{"Count":1}]'],
      ['empty body', 'GET', '/candidate/alice', 'Query', ''],
      ['deeply nested', 'GET', '/candidate/alice', 'Query', '['.repeat(100000)],
      ['not JSON', 'GET', '/candidates', 'Scan', '\u0000\u0001\u0002garbage'],
      ['truncated JSON', 'GET', '/candidates', 'Scan', '{"Items":[{"CandidateName":{"S":"alice"}},{"Cand'],
      ['Items not a list', 'GET', '/candidates', 'Scan', '{"Count":1,"Items":"alice"}'],
      ['no Items', 'GET', '/candidates', 'Scan', '{"Count":1,"ScannedCount":1}'],
      ['not JSON', 'POST', '/candidate/garbage', 'PutItem', 'Internal Server Error'],
    ];
    // Every row runs; the failures are listed together.
    const bad = [];
    for (const [row, m, target, op, body] of rows) {
      proxy.inject('garbage', { count: MAX_ATTEMPTS, op, body });
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

    // Twice as many hanging requests as workers, and /gtg meanwhile.
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
    // Two workers are kept out of store calls, and once the oldest store
    // call has run 1 s the rest fail at once, so the health path never
    // queues behind a hanging store (the load balancer would recycle us).
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
      ['dynalite killed (connections cut)', async () => { await db.kill(); }, async () => {
        db = await startDynalite();
        proxy.setUpstream(db.port);
        const c = sdkDirect();
        await sdkPut(c, 'alice');
        c.destroy();
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
        t.diagnostic(`${row}: ${m} ${target} 503 in ${ms} ms`);
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

  it('a skewed clock is corrected from the store\'s Date header', async () => {
    for (const offset of [20 * 60 * 1000, -20 * 60 * 1000, 0]) {
      proxy.clockOffsetMs = offset;
      const s0 = proxy.stats.skewRejections;
      for (let i = 0; i < 3; i++) {
        expectJson(await request(stack.url, 'GET', '/candidate/alice'), 200, [{ CandidateName: 'alice' }]);
      }
      const rejected = proxy.stats.skewRejections - s0;
      assert.ok(rejected <= 4, `clock off by ${offset / 60000} min: ${rejected} rejections for 3 requests`);
    }
  });
});

describe('dynamodb: one deadline for a whole listing, and a retry quota', () => {
  let db, proxy;

  before(async () => {
    db = await startDynalite();
    proxy = await startProxy({ registry: fx.registry, upstreamPort: db.port, region: REGION,
      certs: fx.certs });
    // Twelve pages: a Scan page is cut at 1 MB.
    await bulkWrite(db.endpoint, TABLE, Array.from({ length: 6000 }, (_, i) =>
      `page-filler-${String(i).padStart(5, '0')}-${'x'.repeat(2000)}`));
  });
  after(async () => {
    await proxy?.stop();
    await db?.stop();
  });

  it('a slow Scan page after page: 503 at the listing\'s deadline, not page times pages', async (t) => {
    const LIST_MS = 1500;
    const stack = await stackWith(appEnv({ CANDIDATES_LIST_TIMEOUT_MS: String(LIST_MS) },
      { proxy }));
    try {
      const full = await listNames(stack.url);
      const pages = seen(proxy, 'Scan');
      assert.ok(pages >= 5, `only ${pages} Scan pages: the test needs several`);
      // Each page alone is well within CANDIDATES_TIMEOUT_MS (2 s); all of
      // them are not within the listing's 1.5 s.
      proxy.inject('delay', { op: 'Scan', ms: 400, count: 1000 });
      const n0 = seen(proxy, 'Scan');
      const [res, ms] = await timed(() => request(stack.url, 'GET', '/candidates',
        { timeoutMs: 30000 }));
      const scans = seen(proxy, 'Scan') - n0;
      proxy.clearFaults();
      expectJson(res, 503, { error: 'store unavailable' });
      t.diagnostic(`${full.length} names in ${pages} pages; with each page 400 ms late: 503 ` +
        `after ${ms} ms and ${scans} Scan requests (CANDIDATES_LIST_TIMEOUT_MS=${LIST_MS})`);
      assert.ok(ms >= LIST_MS - 100 && ms <= LIST_MS + SLACK_MS, `503 after ${ms} ms`);
      await waitForLog(stack, /GET \/candidates: 503 list: dynamodb Scan/);
    } finally {
      await stack.stop();
    }
  });

  it('an outage spends the retry quota: then each request makes one attempt', async (t) => {
    const stack = await stackWith(appEnv({ CANDIDATES_THREADS: '4' }, { proxy }));
    try {
      proxy.inject('error', { op: 'Query', error: 'InternalServerError', count: 100000 });
      const n0 = seen(proxy, 'Query');
      const REQUESTS = 120;
      for (let i = 0; i < REQUESTS; i++) {
        const res = await request(stack.url, 'GET', `/candidate/outage-${i}`);
        expectJson(res, 503, { error: 'store unavailable' });
      }
      const attempts = seen(proxy, 'Query') - n0;
      proxy.clearFaults();
      // 500 tokens at 5 a retry: 100 retries in all, then none.
      const RETRIES = 500 / 5;
      t.diagnostic(`${REQUESTS} requests in an outage: ${attempts} attempts ` +
        `(${attempts - REQUESTS} retries; without a quota ${REQUESTS * MAX_ATTEMPTS})`);
      assert.equal(attempts, REQUESTS + RETRIES);
      await waitForLog(stack, /retry quota spent/);
      // Successes fill the bucket again, one token each.
      expectText(await request(stack.url, 'GET', '/candidate/after-outage'), 404, 'Not Found');
    } finally {
      await stack.stop();
    }
  });
});

describe('dynamodb: the metadata service is never asked through a proxy', () => {
  it('http_proxy and ALL_PROXY carry the store\'s calls, never IMDS\'s', async (t) => {
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
    const imds = await startImds({ registry: fx.registry, region: REGION,
      instanceId: 'i-0direct000000000' });
    let stack;
    try {
      for (const v of ['http_proxy', 'HTTPS_PROXY', 'ALL_PROXY']) {
        seenBy.connect.length = 0;
        seenBy.plain.length = 0;
        const calls0 = imds.total;
        stack = await stackWith(appEnv({ [v]: proxyUrl, NO_PROXY: '', no_proxy: '' },
          { creds: null, imds }));
        expectJson(await request(stack.url, 'GET', '/gtg?details'), 200,
          { connected: 'true', 'instance-id': 'i-0direct000000000' });
        expectJson(await request(stack.url, 'POST', `/candidate/via-${v}`), 200,
          { CandidateName: `via-${v}` });
        await stack.stop();
        const imdsCalls = imds.total - calls0;
        t.diagnostic(`${v}: IMDS answered ${imdsCalls} calls directly; the proxy saw ` +
          `${seenBy.connect.length} CONNECT and ${seenBy.plain.length} plain requests`);
        assert.ok(imdsCalls >= 3, `${v}: IMDS was asked ${imdsCalls} times`);
        // (stack.sh's own readiness check, curl, takes the proxy too.)
        assert.deepEqual(seenBy.plain.filter((u) => u.startsWith(imds.url)), [],
          `${v}: metadata calls went through the proxy`);
        // HTTPS to the store goes through the proxy, as the SDKs' does
        // (http_proxy is for http:// only, in libcurl as in the SDKs).
        if (v !== 'http_proxy') {
          assert.ok(seenBy.connect.length >= 1, `${v}: the store's calls ignored the proxy`);
        }
      }
    } finally {
      await stack?.stop();
      await imds.stop();
      await new Promise((r) => relay.close(r));
    }
  });
});

describe('dynamodb: TLS peers are verified', () => {
  let otherCa;
  before(() => {
    otherCa = makeTestCerts(fs.mkdtempSync(path.join(os.tmpdir(), 'other-ca-'))).ca;
  });
  for (const [row, bundle] of [['no AWS_CA_BUNDLE (system CAs only)', () => undefined],
    ['a CA bundle that does not hold the issuer', () => otherCa]]) {
    it(`${row}: 503, and the log says why`, async () => {
      const stack = await stackWith(appEnv({ AWS_CA_BUNDLE: bundle() }));
      try {
        const r0 = fx.proxy.stats.requests;
        const res = await request(stack.url, 'GET', '/candidate/alice');
        expectJson(res, 503, { error: 'store unavailable' });
        assert.equal(fx.proxy.stats.requests, r0, 'a request got through an unverified TLS session');
        await waitForLog(stack, /certificate|SSL|TLS|verif/i);
      } finally {
        await stack.stop();
      }
    });
  }
});

describe('dynamodb: configuration is checked at start-up', () => {
  // A bad value stops the start with one line naming the variable.
  const rows = [
    ['AWS_SECRET_ACCESS_KEY', { AWS_SECRET_ACCESS_KEY: undefined, AWS_SESSION_TOKEN: undefined }],
    ['AWS_ACCESS_KEY_ID', { AWS_ACCESS_KEY_ID: undefined }],
    ['AWS_ENDPOINT_URL_DYNAMODB', { AWS_ENDPOINT_URL_DYNAMODB: 'not a url' }],
    ['AWS_EC2_METADATA_SERVICE_ENDPOINT', { AWS_EC2_METADATA_SERVICE_ENDPOINT: 'nowhere' }],
    ['TC_DYNAMO_TABLE', { TC_DYNAMO_TABLE: 'no spaces allowed' }],
    ['AWS_CA_BUNDLE', { AWS_CA_BUNDLE: '/nonexistent/ca.pem' }],
    ['CANDIDATES_TIMEOUT_MS', { CANDIDATES_TIMEOUT_MS: 'soon' }],
  ];
  for (const [name, extra] of rows) {
    it(`a bad ${name} stops the start, naming it`, () => {
      const env = { ...process.env, ...SANITIZER_ENV, ...appEnv(extra) };
      for (const [k, v] of Object.entries(extra)) if (v === undefined) delete env[k];
      const r = spawnSync(SAN_APP, [], { env, timeout: 10000, stdio: ['ignore', 'pipe', 'pipe'] });
      const err = r.stderr.toString();
      assert.equal(r.status, 1, `exit ${r.status} ${r.signal || ''}: ${err}`);
      assert.match(err, new RegExp(name), err);
      assert.equal(err.trim().split('\n').length, 1, `more than one line:\n${err}`);
    });
  }
});

describe('dynamodb: no metadata service at start-up: the host name is the instance id', () => {
  // Each row points AWS_EC2_METADATA_SERVICE_ENDPOINT at a loopback address
  // where no IMDS answers, with the region and credentials in the
  // environment, so the instance id is the only metadata read.
  const rows = [
    { row: 'a closed loopback port', silent: false, why: /refused|connect/i },
    { row: 'a server that accepts and never answers', silent: true, why: /time/i },
  ];
  for (const r of rows) {
    it(`${r.row}: /gtg?details says os.hostname(), and the start waits at most ${IMDS_START_MS} ms for it`, async (t) => {
      let server = null;
      const held = [];		// [opened, closed] of each connection, ms
      let endpoint;
      if (r.silent) {
        server = net.createServer((sock) => {
          const c = [Date.now(), null];
          held.push(c);
          sock.on('error', () => {});
          sock.on('close', () => { c[1] = Date.now(); });
          sock.resume();	// read the request, never answer it
        });
        await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
        endpoint = `http://127.0.0.1:${server.address().port}`;
      } else {
        endpoint = `http://127.0.0.1:${await freePort()}`;
      }
      try {
        const [stack, readyMs] = await timed(() => stackWith(appEnv({
          AWS_EC2_METADATA_SERVICE_ENDPOINT: endpoint,
        })));
        try {
          expectJson(await request(stack.url, 'GET', '/gtg?details'), 200,
            { connected: 'true', 'instance-id': os.hostname() });
          const said = logLines(stack.logText(), /no instance id, using the host name/);
          assert.equal(said.length, 1, `the log should say so once:\n${stack.logText()}`);
          assert.match(said[0], r.why);
          assert.ok(readyMs <= IMDS_START_MS + STARTUP_MS, `ready after ${readyMs} ms`);
          if (r.silent) {
            // One connection (the token PUT; nothing follows a failed
            // one), dropped once the start-up deadline passed.
            assert.equal(held.length, 1, `${held.length} connections to the metadata address`);
            const [opened, closed] = held[0];
            assert.ok(closed !== null, 'the app never gave up on the metadata service');
            const ms = closed - opened;
            assert.ok(ms >= IMDS_START_MS - 100 && ms <= IMDS_START_MS + 700,
              `the app waited ${ms} ms for the metadata service (deadline ${IMDS_START_MS} ms)`);
            figure(t, `no IMDS (${r.row}): gave up after ${ms} ms, ready in ${readyMs} ms`);
          } else {
            figure(t, `no IMDS (${r.row}): ready in ${readyMs} ms`);
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

describe('dynamodb: the endpoint', () => {
  // The SDKs' order: AWS_ENDPOINT_URL_DYNAMODB, else AWS_ENDPOINT_URL, else
  // the regional endpoint. The start-up line says which; the rows that
  // name the proxy also send a request through it. The regional row sends
  // nothing: nothing on the Internet may be contacted.
  const rows = [
    { row: 'neither set: the regional endpoint', env: () => ({ AWS_ENDPOINT_URL_DYNAMODB: undefined }),
      at: () => `https://dynamodb.${REGION}.amazonaws.com/`, send: false },
    { row: 'AWS_ENDPOINT_URL alone', env: () => ({ AWS_ENDPOINT_URL_DYNAMODB: undefined,
      AWS_ENDPOINT_URL: fx.proxy.url }), at: () => `${fx.proxy.url}/`, send: true },
    { row: 'AWS_ENDPOINT_URL_DYNAMODB over AWS_ENDPOINT_URL', env: () => ({
      AWS_ENDPOINT_URL: 'http://127.0.0.1:1' }), at: () => `${fx.proxy.url}/`, send: true },
  ];
  for (const r of rows) {
    it(`${r.row}: the start-up line says ${r.send ? 'the proxy' : 'https://dynamodb.<region>.amazonaws.com/'}`, async () => {
      const stack = await stackWith(appEnv(r.env()));
      try {
        const esc = (s) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
        const want = new RegExp(`^dynamodb: table ${TABLE} in ${REGION} at ${esc(r.at())}, ` +
          'credentials from the environment$', 'm');
        assert.match(stack.logText(), want);
        if (r.send) {
          const r0 = fx.proxy.stats.requests;
          const res = await request(stack.url, 'GET', '/candidate/endpoint-row');
          expectText(res, 404, 'Not Found');
          assert.equal(fx.proxy.stats.requests - r0, 1, 'the request did not go through the proxy');
        }
      } finally {
        await stack.stop();
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

// What `make run STORE=dynamodb` runs, as make itself prints it, with the
// state directory and the app swapped for the test's: make run serves
// build/candidates from var/, which a developer may be using.
function makeRunCommand(port, dir) {
  const env = { ...process.env };
  for (const k of ['MAKEFLAGS', 'MFLAGS', 'MAKELEVEL']) delete env[k];
  const r = spawnSync('make', ['-n', '-s', 'run', 'STORE=dynamodb', 'WEB=nginx', `PORT=${port}`],
    { cwd: ROOT, env, encoding: 'utf8', timeout: 30000 });
  assert.equal(r.status, 0, `make -n run: ${r.stderr}`);
  const line = r.stdout.split('\n').find((l) => /local-dynamodb\.js/.test(l));
  assert.ok(line, `make run STORE=dynamodb does not start tests/lib/local-dynamodb.js:\n${r.stdout}`);
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

describe('make run STORE=dynamodb', () => {
  // A developer's shell may hold AWS settings of its own; the local stand-in
  // must not be steered by them.
  const DEV_SHELL = {
    AWS_SESSION_TOKEN: 'a-developers-own-session-token',
    AWS_PROFILE: 'work',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_ENDPOINT_URL: 'https://dynamodb.example.invalid',
    TC_DYNAMO_TABLE: 'CandidatesMakeRun',
  };
  const rows = [
    // What Ctrl-C in the terminal does.
    { row: 'Ctrl-C: SIGINT to the whole process group', signal: 'SIGINT', group: true },
    // What `kill <pid>` of the wrapper does.
    { row: 'SIGTERM to the wrapper alone', signal: 'SIGTERM', group: false },
  ];
  for (const r of rows) {
    it(`serves POST and GET on a local DynamoDB, and ${r.row} stops every process`, async (t) => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'make-run-'));
      const argv = makeRunCommand(await freePort(), dir);
      const env = { ...process.env, ...SANITIZER_ENV, ...DEV_SHELL };
      for (const k of Object.keys(env)) if (k.startsWith('CANDIDATES_')) delete env[k];
      const child = spawn(argv[0], argv.slice(1), {
        cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (d) => { output += d; });
      child.stderr.on('data', (d) => { output += d; });
      const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
      const live = () => child.exitCode === null && child.signalCode === null;
      let tree = [];
      try {
        const t0 = Date.now();
        while (!/^ready: http:\/\//m.test(output) && live() && Date.now() - t0 < 30000) await sleep(50);
        const url = /^ready: (http:\/\/\S+)/m.exec(output)?.[1];
        assert.ok(url, `make run did not become ready:\n${output}`);
        tree = processTree(child.pid);
        const pids = tree.map(([p]) => p);
        for (const f of ['app.pid', 'web.pid']) {
          const pid = Number(fs.readFileSync(path.join(dir, f), 'utf8'));
          assert.ok(pids.includes(pid), `${f} (${pid}) is not under the wrapper: ${pids}`);
        }

        const name = `made run ${r.signal}`;
        expectJson(await request(url, 'POST', `/candidate/${enc(name)}`), 200, { CandidateName: name });
        expectJson(await request(url, 'GET', `/candidate/${enc(name)}`), 200, [{ CandidateName: name }]);
        expectJson(await request(url, 'GET', '/gtg?details'), 200,
          { connected: 'true', 'instance-id': 'i-0local0candidates' });
        // In the stand-in's table, by the SDK straight to dynalite.
        const db = /dynalite on (http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1];
        assert.ok(db, output);
        const sdk = dynamoClient({ endpoint: db, region: 'us-east-1' });
        try {
          assert.deepEqual(await sdkGet(sdk, name, DEV_SHELL.TC_DYNAMO_TABLE), [name]);
        } finally {
          sdk.destroy();
        }

        const [end, ms] = await timed(async () => {
          process.kill(r.group ? -child.pid : child.pid, r.signal);
          return Promise.race([exited, sleep(20000).then(() => null)]);
        });
        assert.deepEqual(end, { code: 0, signal: null }, `make run's exit after ${r.signal}:\n${output}`);
        const t1 = Date.now();
        while (tree.some(stillRunning) && Date.now() - t1 < 5000) await sleep(50);
        const left = tree.filter(stillRunning).map(([p]) => {
          try { return `${p} ${fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ')}`; } catch { return `${p}`; }
        });
        assert.deepEqual(left, [], `still running after ${r.signal}`);
        assertNoSanitizerReport(output, 'make run output');
        figure(t, `make run STORE=dynamodb: ${tree.length} processes, all gone ${ms} ms after ${r.row}`);
      } finally {
        // Whatever is left, by PID.
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
});

describe('dynamodb: the logs', () => {
  it('hold no secret, token or key, and no sanitizer report', async () => {
    for (const s of stacks) await s.stop();
    const all = [...secrets,
      ...fx.imds.issued.flatMap((c) => [['a role secret', c.secretAccessKey], ['a role token', c.sessionToken]]),
      ...[...fx.imds.tokens.keys()].map((k) => ['an IMDS token', k])];
    assert.ok(all.length >= 8);
    for (const [i, s] of stacks.entries()) {
      const text = s.logText() + s.outputText();
      for (const [what, value] of all) {
        // Any 16-byte stretch of it would do harm; tokens share a prefix,
        // so probe the middle and the end.
        const mid = Math.floor(value.length / 2);
        for (const probe of [value.slice(mid - 8, mid + 8), value.slice(-16)]) {
          assert.ok(!text.includes(probe), `stack ${i} (${s.web}) logged ${what}`);
        }
      }
      assertNoSanitizerReport(s.logText(), `stack ${i} (${s.web}) log`);
    }
  });
});
