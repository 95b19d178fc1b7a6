'use strict';
// `make soak`: the shipped binary (build/candidates) behind the shipped
// nginx config, at steady load on every route for SOAK_SECONDS (default
// 300) per store, on SQLite and on DynamoDB (dynalite behind the verifying
// SigV4 proxy), loopback only. Passes when no answer broke the contract
// and the app's RSS at the end is within SOAK_DRIFT_PCT (default 5) % of
// what it was after the warm-up (the RSS of its worker, the process that
// serves; the parent that keeps the socket does nothing that grows), with
// the same worker from start to end; prints the figures, and the time the
// app took to drain and exit on SIGTERM at the end.
//
//   SOAK_SECONDS=300 SOAK_STORES=sqlite,dynamodb SOAK_CLIENTS=8 node tests/soak/soak.js

const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { ROOT, startStack, request } = require('../lib/stack');
const {
  startLoad, rssKiB, startDynamo, formatCounts, routeIds, watchExit,
} = require('./load');

const SECONDS = Number(process.env.SOAK_SECONDS || 300);
const STORES = (process.env.SOAK_STORES || 'sqlite,dynamodb').split(',');
// Below the app's store slots (threads - 2), so a healthy store is never
// answered with "every store slot is busy".
const CLIENTS = Number(process.env.SOAK_CLIENTS || 8);
const DRIFT_PCT = Number(process.env.SOAK_DRIFT_PCT || 5);
const POOL = 1000;
const APP = path.join(ROOT, 'build', 'candidates');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const median = (a) => a.slice().sort((x, y) => x - y)[Math.floor(a.length / 2)];

async function soak(store) {
  let dyn = null;
  let env = {};
  if (store === 'dynamodb') {
    dyn = await startDynamo();
    env = dyn.env();
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `soak-${store}-`));
  const stack = await startStack({ web: 'nginx', app: APP, dir, env });
  const out = { store };
  try {
    // The whole write pool first, so the store stops growing and the
    // listing stays the same size for the rest of the run.
    const names = Array.from({ length: POOL }, (_, i) => `soak-${store}-${i}`);
    for (let i = 0; i < names.length; i += CLIENTS) {
      await Promise.all(names.slice(i, i + CLIENTS).map(async (n) => {
        const r = await request(stack.url, 'POST', `/candidate/${n}`);
        assert.equal(r.status, 200, `seeding ${n}: ${r.status}`);
      }));
    }
    const load = startLoad({ url: stack.url, clients: CLIENTS, names: `soak-${store}`,
      poolSize: POOL });
    for (const n of names) load.stats.written.add(n);

    const warm = Math.min(60, Math.max(20, SECONDS * 0.1));
    const samples = [];
    const t0 = Date.now();
    const tick = setInterval(() => {
      samples.push({ t: (Date.now() - t0) / 1000, kib: rssKiB(stack.workerPid) });
    }, 1000);
    await sleep(warm * 1000);
    load.reset();
    const tWarm = (Date.now() - t0) / 1000;
    let last = Date.now();
    while ((Date.now() - t0) / 1000 < warm + SECONDS) {
      await sleep(1000);
      if (Date.now() - last >= 30000) {
        last = Date.now();
        const s = samples[samples.length - 1];
        console.log(`  ${store} +${Math.round(s.t)} s: ${load.stats.requests} requests, ` +
          `RSS ${s.kib} KiB, ${load.stats.unexpectedCount} unexpected`);
      }
    }
    clearInterval(tick);
    const stats = await load.stop();
    const elapsed = (Date.now() - t0) / 1000 - tWarm;

    // RSS right after the warm-up and at the end: medians of 10 s each,
    // so one listing in flight does not decide.
    const startRss = median(samples.filter((s) => s.t >= tWarm && s.t < tWarm + 10).map((s) => s.kib));
    const endRss = median(samples.slice(-10).map((s) => s.kib));
    const maxRss = Math.max(...samples.map((s) => s.kib));
    Object.assign(out, {
      requests: stats.requests,
      rps: Math.round(stats.requests / elapsed),
      p50: stats.p50, p99: stats.p99, max: stats.max,
      unexpected: stats.unexpectedCount, samples: stats.unexpected, errors: stats.errors,
      errorSamples: stats.errorSamples, counts: stats.counts,
      startRss, endRss, maxRss, driftPct: ((endRss - startRss) / startRss) * 100,
      // A worker that died was replaced: its RSS would start over.
      sameWorker: stack.firstWorkerPid !== null && stack.workerPid === stack.firstWorkerPid,
    });

    // The drain at the end: SIGTERM to the app, as systemd stops it.
    const gone = watchExit(stack.appPid, 30000);
    const tTerm = Date.now();
    process.kill(stack.appPid, 'SIGTERM');
    const exitAt = await gone;
    out.drainMs = exitAt === null ? null : exitAt - tTerm;
    const r = await stack.exited;
    out.exit = r.code;
  } finally {
    await stack.stop();
    if (dyn) await dyn.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  out.log = stack.logText();
  return out;
}

async function main() {
  assert.ok(fs.existsSync(APP), `${APP} is missing: make build/candidates`);
  console.log(`soak: ${SECONDS} s per store after a warm-up, ${CLIENTS} clients, ` +
    `${routeIds().length} routes, stores ${STORES.join(', ')}`);
  const results = [];
  let failed = false;
  for (const store of STORES) {
    try {
      results.push(await soak(store));
    } catch (err) {
      console.log(`soak: ${store}: FAIL: ${err.stack}`);
      failed = true;
    }
  }

  console.log('\nsoak figures:');
  for (const r of results) {
    const ok = r.unexpected === 0 && r.errors === 0 && Math.abs(r.driftPct) <= DRIFT_PCT &&
      r.exit === 0 && r.sameWorker;
    failed ||= !ok;
    console.log(`  ${r.store}: ${r.requests} requests (${r.rps}/s), p50 ${r.p50.toFixed(2)} ms, ` +
      `p99 ${r.p99.toFixed(2)} ms, max ${r.max.toFixed(0)} ms; ${r.unexpected} unexpected, ` +
      `${r.errors} transport errors; app RSS ${r.startRss} KiB after warm-up, ${r.endRss} KiB ` +
      `at the end (drift ${r.driftPct >= 0 ? '+' : ''}${r.driftPct.toFixed(2)} %), ` +
      `peak ${r.maxRss} KiB${r.sameWorker ? '' : ' (the worker died and was replaced)'}; ` +
      `SIGTERM to exit ${r.exit} in ${r.drainMs} ms  ${ok ? 'ok' : 'FAIL'}`);
    console.log(`    ${formatCounts(r.counts)}`);
    for (const u of r.samples) console.log(`    unexpected: ${u}`);
    for (const e of r.errorSamples) console.log(`    error: ${e}`);
    const errs = r.log.split('\n').filter((l) => / [45]\d\d /.test(l)).slice(0, 5);
    for (const l of errs) console.log(`    app log: ${l}`);
  }
  if (failed) {
    console.log(`soak: FAIL (an unexpected answer, an error, RSS drift over ${DRIFT_PCT} %, ` +
      'a worker that died, or an unclean exit)');
    process.exit(1);
  }
  console.log('soak: ok');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
