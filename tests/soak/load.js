'use strict';
// Steady load on every route of the API, for the leak run, the soak, the
// fire tests and the fleet: a fixed number of clients, each sending one
// request after another on its own kept-alive connection, every answer
// checked against the status its route must give. Writes go to a bounded
// pool of names (upserts), so the store stops growing after the first
// round and memory can be compared over time.
//
//   const run = startLoad({ url, clients: 8, names: 'soak' });
//   ...; const r = await run.stop();   // r.counts, r.unexpected, ...
//
// Also: the app's RSS from /proc, and a DynamoDB stand-in (dynalite behind
// the verifying SigV4 proxy) with an environment for the app.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');

const enc = encodeURIComponent;

// Every route and the status it must answer. `pool` rows name a candidate
// from the write pool; `fresh` rows a name nobody writes.
const ROUTES = [
  { id: 'gtg', method: 'GET', target: () => '/gtg', want: [200] },
  { id: 'gtg-details', method: 'GET', target: () => '/gtg?details=true', want: [200] },
  { id: 'post', method: 'POST', pool: true, want: [200], write: true },
  { id: 'post-body', method: 'POST', pool: true, want: [200], write: true, body: 10 * 1024 },
  { id: 'get', method: 'GET', pool: true, want: [200], written: true },
  { id: 'head', method: 'HEAD', pool: true, want: [200], written: true },
  { id: 'get-missing', method: 'GET', target: (n) => `/candidate/missing-${n}`, want: [404] },
  // 404 is the listing's answer only while nothing has been written yet.
  { id: 'list', method: 'GET', target: () => '/candidates', want: [200], emptyWant: [200, 404] },
  { id: 'root', method: 'GET', target: () => '/', want: [400] },
  { id: 'unknown', method: 'GET', target: () => '/nope', want: [404] },
  { id: 'wrong-method', method: 'DELETE', target: () => '/candidate/x', want: [405] },
  { id: 'bad-name', method: 'GET', target: () => '/candidate/%C0%AF', want: [400] },
  { id: 'bad-post', method: 'POST', target: () => '/candidate/..', want: [400] },
  { id: 'too-large', method: 'POST', target: () => '/candidate/big', want: [413], body: 17 * 1024 },
];

function routeIds() {
  return ROUTES.map((r) => r.id);
}

// One request on agent; resolves to { status, body, ms } or { err, ms }.
function send(url, agent, method, target, body, timeoutMs) {
  const u = new URL(url);
  const t0 = process.hrtime.bigint();
  const ms = () => Number(process.hrtime.bigint() - t0) / 1e6;
  return new Promise((resolve) => {
    const headers = {};
    if (body !== null) headers['Content-Length'] = body.length;
    else if (method === 'POST') headers['Content-Length'] = 0;
    const req = http.request({
      host: u.hostname, port: u.port, method, path: target, headers, agent,
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks),
        headers: res.headers, ms: ms() }));
      res.on('error', (err) => resolve({ err, ms: ms() }));
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer in ${timeoutMs} ms`)));
    req.on('error', (err) => resolve({ err, ms: ms() }));
    if (body !== null) req.write(body);
    req.end();
  });
}

function percentile(sorted, p) {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

// Starts `clients` loops against url until stop(). names: the pool's
// prefix; poolSize: how many names it holds; routes: ids to use (all by
// default); pace: ms to wait between requests of one client (0: none);
// onResult: called with every request's outcome and times.
// Every POST answered 200 is recorded in acked (name -> count), the
// answers the write pool must give once written.
function startLoad({
  url, clients = 8, names = 'load', poolSize = 500, routes = routeIds(),
  timeoutMs = 15000, pace = 0, keepAlive = true, onResult = null,
}) {
  const rows = ROUTES.filter((r) => routes.includes(r.id));
  assert.equal(rows.length, routes.length, `unknown route in ${routes}`);
  const agent = new http.Agent({ keepAlive, maxSockets: clients });
  const stats = {
    counts: {},		// "id status" -> n
    unexpected: [],	// the first 20 answers that broke the contract
    unexpectedCount: 0,
    errors: 0,		// transport errors (no HTTP answer)
    errorSamples: [],
    requests: 0,
    latencies: [],
    acked: new Map(),	// name -> number of 200s to its POST
    written: new Set(),
  };
  const bodies = new Map();
  let running = true;
  let seq = 0;

  const one = async (c) => {
    const row = rows[(seq++ + c) % rows.length];
    let name = null;
    let target;
    if (row.pool) {
      // Reads only ask for names already written, so 404 is never right.
      const pick = Math.floor(Math.random() * poolSize);
      name = `${names}-${pick}`;
      if (row.written && !stats.written.has(name)) {
        const all = [...stats.written];
        if (all.length === 0) return;
        name = all[pick % all.length];
      }
      target = `/candidate/${enc(name)}`;
    } else {
      target = row.target(seq);
    }
    let body = null;
    if (row.body) {
      if (!bodies.has(row.body)) bodies.set(row.body, Buffer.alloc(row.body, 'x'));
      body = bodies.get(row.body);
    }
    const want = row.emptyWant && stats.written.size === 0 ? row.emptyWant : row.want;
    const start = Date.now();
    const r = await send(url, agent, row.method, target, body, timeoutMs);
    if (onResult) {
      onResult({ id: row.id, method: row.method, name, target, start, end: Date.now(),
        status: r.err ? null : r.status, err: r.err ? r.err.message : null,
        ok: !r.err && want.includes(r.status) });
    }
    stats.requests++;
    stats.latencies.push(r.ms);
    if (r.err) {
      stats.errors++;
      if (stats.errorSamples.length < 10) stats.errorSamples.push(`${row.method} ${target}: ${r.err.message}`);
      return;
    }
    const key = `${row.id} ${r.status}`;
    stats.counts[key] = (stats.counts[key] || 0) + 1;
    if (!want.includes(r.status)) {
      stats.unexpectedCount++;
      if (stats.unexpected.length < 20) {
        stats.unexpected.push(`${row.method} ${target}: ${r.status} ` +
          JSON.stringify(r.body.toString('latin1').slice(0, 120)));
      }
    } else if (row.write) {
      stats.acked.set(name, (stats.acked.get(name) || 0) + 1);
      stats.written.add(name);
    }
  };

  const loops = Array.from({ length: clients }, async (_, c) => {
    while (running) {
      await one(c);
      if (pace > 0) await new Promise((r) => setTimeout(r, pace));
    }
  });

  return {
    stats,
    // Resets the counters (not the written names): for after a warm-up.
    reset() {
      stats.counts = {};
      stats.unexpected = [];
      stats.unexpectedCount = 0;
      stats.errors = 0;
      stats.errorSamples = [];
      stats.requests = 0;
      stats.latencies = [];
    },
    async stop() {
      running = false;
      await Promise.all(loops);
      agent.destroy();
      const sorted = stats.latencies.slice().sort((a, b) => a - b);
      stats.p50 = percentile(sorted, 0.5);
      stats.p99 = percentile(sorted, 0.99);
      stats.max = sorted.length ? sorted[sorted.length - 1] : 0;
      return stats;
    },
  };
}

// Resident set size of a process in KiB (VmRSS), or null once it is gone.
function rssKiB(pid) {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

// Whether pid has exited (gone, or a zombie its parent has not reaped).
function exited(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return true;
  }
}

// Resolves to the time (Date.now()) pid was first seen gone, polling every
// 5 ms, or to null after ms.
function watchExit(pid, ms = 60000) {
  const end = Date.now() + ms;
  return new Promise((resolve) => {
    const tick = () => {
      if (exited(pid)) resolve(Date.now());
      else if (Date.now() > end) resolve(null);
      else setTimeout(tick, 5);
    };
    tick();
  });
}

// dynalite behind the verifying SigV4 proxy (HTTPS with a throwaway CA),
// with static temporary credentials for the app. env() is what the app
// needs to use it; secrets are the values no log line may hold.
async function startDynamo({ region = 'eu-west-3' } = {}) {
  const { startDynalite } = require('../lib/dynalite');
  const {
    ADMIN, APP_OPS, CredentialRegistry, startProxy, makeTestCerts,
  } = require('../lib/sigv4-proxy');
  const certs = makeTestCerts(fs.mkdtempSync(path.join(os.tmpdir(), 'fire-certs-')));
  const registry = new CredentialRegistry();
  registry.add(ADMIN);
  const creds = CredentialRegistry.random();
  registry.add({ ...creds, ops: APP_OPS });
  const db = await startDynalite();
  const proxy = await startProxy({ registry, upstreamPort: db.port, region, certs });
  return {
    db,
    proxy,
    certs,
    creds,
    secrets: [creds.secretAccessKey, creds.sessionToken],
    env(extra = {}) {
      return {
        CANDIDATES_STORE: 'dynamodb',
        AWS_ENDPOINT_URL_DYNAMODB: proxy.url,
        AWS_REGION: region,
        AWS_CA_BUNDLE: certs.ca,
        AWS_ACCESS_KEY_ID: creds.accessKeyId,
        AWS_SECRET_ACCESS_KEY: creds.secretAccessKey,
        AWS_SESSION_TOKEN: creds.sessionToken,
        // No test may reach the real metadata address.
        AWS_EC2_METADATA_SERVICE_ENDPOINT: 'http://127.0.0.1:9',
        ...extra,
      };
    },
    async stop() {
      await proxy.stop();
      await db.stop();
      fs.rmSync(certs.dir, { recursive: true, force: true });
    },
  };
}

// "gtg 200: 120, post 200: 118, ..." in route order.
function formatCounts(counts) {
  return Object.entries(counts).sort().map(([k, v]) => `${k}: ${v}`).join(', ');
}

module.exports = {
  ROUTES, routeIds, startLoad, send, rssKiB, startDynamo, formatCounts, percentile,
  exited, watchExit,
};
