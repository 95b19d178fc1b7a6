'use strict';
// The optimised app (build/candidates, as shipped) under valgrind's
// memcheck, behind nginx, for LEAK_SECONDS (default 15) of load on every
// route, on SQLite, on DynamoDB (dynalite behind the SigV4 proxy), on
// Cosmos DB (cosmosdb-server behind the verifying proxy, with a managed
// identity's tokens that expire during the run) and on Firestore (Google's
// emulator, skipped with one line without it), then SIGTERM: every answer
// as the contract says, a clean exit, and valgrind's
// verdict of no invalid access and no definite leak, in the app (the parent
// that keeps the socket) and in the worker it forked, each in its own log.
//
//   make leak        (part of make test)

const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { describe, it, after } = require('node:test');
const { ROOT, startStack, request } = require('../lib/stack');
const { startLoad, startDynamo, formatCounts, routeIds } = require('./load');
const { findEmulator, SKIP_MESSAGE } = require('../lib/firestore-emulator');
const { startLocalFirestore } = require('../lib/local-firestore');
const { startLocalCosmos } = require('../lib/local-cosmos');

const SECONDS = Number(process.env.LEAK_SECONDS || 15);
const APP = path.join(ROOT, 'build', 'candidates');
const WRAPPER = path.join(ROOT, 'tests', 'soak', 'valgrind-app.sh');
const figures = [];

after(() => console.log(['leak figures:', ...figures.map((f) => `  ${f}`)].join('\n')));

// The numbers valgrind prints at exit.
function verdict(log) {
  const errors = /ERROR SUMMARY: (\d+) errors/.exec(log);
  const definite = /definitely lost: ([\d,]+) bytes/.exec(log);
  const freed = /All heap blocks were freed/.test(log);
  return {
    finished: errors !== null,
    errors: errors ? Number(errors[1]) : null,
    definite: definite ? Number(definite[1].replace(/,/g, '')) : (freed ? 0 : null),
  };
}

async function leakRun(t, store, env) {
  assert.ok(fs.existsSync(APP), `${APP} is missing: make build/candidates`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `fire-leak-${store}-`));
  // A prefix: each process writes valgrind.log.<pid>.
  const vlog = path.join(dir, 'valgrind.log');
  // Valgrind runs one thread at a time, some 20 times slower: more
  // store slots (threads - 2) than clients, and deadlines to match, so a
  // slow call under valgrind is not taken for a hanging store.
  const stack = await startStack({
    web: 'nginx', app: WRAPPER, dir, readyTimeoutMs: 60000,
    env: {
      ...env, CANDIDATES_THREADS: '8', CANDIDATES_TIMEOUT_MS: '30000',
      CANDIDATES_CONNECT_TIMEOUT_MS: '10000', VALGRIND_APP: APP, VALGRIND_LOG: vlog,
    },
  });
  let stats;
  try {
    const load = startLoad({ url: stack.url, clients: 4, names: `leak-${store}`, poolSize: 50,
      timeoutMs: 30000 });
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    stats = await load.stop();
    assert.equal((await request(stack.url, 'GET', '/gtg')).status, 200);
  } finally {
    // Stopping: nginx, then SIGTERM to the app, whose exit valgrind's
    // leak check follows.
    await stack.stop({ timeoutMs: 120000 });
  }
  // The app's own log first, then its worker's.
  const mine = `valgrind.log.${stack.appPid}`;
  const files = fs.readdirSync(dir).filter((f) => f.startsWith('valgrind.log.'))
    .sort((a, b) => (b === mine) - (a === mine));
  const logs = files.map((f) => fs.readFileSync(path.join(dir, f), 'utf8'));
  const appLog = stack.logText();
  fs.rmSync(dir, { recursive: true, force: true });
  const vs = logs.map(verdict);
  const text = `${store}: ${stats.requests} requests in ${SECONDS} s under valgrind ` +
    `(${routeIds().length} routes), ${stats.unexpectedCount} unexpected, ` +
    `${stats.errors} transport errors; valgrind, app and worker: ` +
    `${vs.map((v) => v.errors).join(' and ')} errors, ` +
    `${vs.map((v) => v.definite).join(' and ')} bytes definitely lost`;
  figures.push(text);
  t.diagnostic(text);
  t.diagnostic(formatCounts(stats.counts));
  // The app and its one worker: none died and was replaced.
  assert.ok(files[0] === mine && logs.length === 2, `${files.join(', ')}: not the app's ` +
    `(${mine}) and its worker's:\n${logs.map((l) => l.slice(-1500)).join('\n----\n')}`);
  logs.forEach((log, i) => {
    const v = vs[i];
    assert.ok(v.finished, `valgrind did not finish (killed?):\n${log.slice(-3000)}`);
    assert.equal(v.errors, 0, `valgrind found errors:\n${log}`);
    assert.equal(v.definite, 0, `definite leaks:\n${log}`);
  });
  assert.match(appLog, /candidates: stopped/, 'the app did not drain and stop');
  assert.deepEqual(stats.unexpected, [], 'answers that break the contract; the app said:\n' +
    appLog.split('\n').filter((l) => / [45]\d\d /.test(l)).slice(0, 10).join('\n'));
  assert.equal(stats.errors, 0, `transport errors: ${stats.errorSamples.join('; ')}`);
  // Every route was exercised, several times.
  for (const id of routeIds()) {
    const n = Object.entries(stats.counts).filter(([k]) => k.startsWith(`${id} `))
      .reduce((a, [, c]) => a + c, 0);
    assert.ok(n >= 3, `route ${id} ran only ${n} times`);
  }
  return { appLog };
}

describe('no leak and no memory error under valgrind', () => {
  it('on SQLite', async (t) => {
    await leakRun(t, 'sqlite', {});
  });

  it('on DynamoDB (dynalite behind the SigV4 proxy)', async (t) => {
    const dyn = await startDynamo();
    try {
      await leakRun(t, 'dynamodb', dyn.env());
    } finally {
      await dyn.stop();
    }
  });

  // The managed identity rather than the key: it runs the token cache and
  // IMDS's answers too (ASan's leak check covers the key's path in the
  // e2e tests). Tokens of 8 s are refreshed twice or more in the run.
  it('on Cosmos DB (cosmosdb-server behind the verifying proxy, a managed identity)', async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fire-leak-cosmos-'));
    const cosmos = await startLocalCosmos({ dir, identity: true, tokenLifetimeMs: 8000 });
    try {
      await leakRun(t, 'cosmos', cosmos.env);
      const issued = cosmos.imds.stats.issued;
      const text = `cosmos: ${issued} tokens fetched from IMDS, ${cosmos.proxy.stats.auth.aad} requests ` +
        `carried one, ${cosmos.proxy.stats.refused.expiredToken} refused as expired`;
      figures.push(text);
      t.diagnostic(text);
      assert.ok(issued >= 2, `${issued} tokens: none was refreshed during the run`);
      assert.equal(cosmos.proxy.stats.refused.expiredToken, 0);
    } finally {
      await cosmos.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  // As a VM with a key file runs: HTTPS, JWT grants, and tokens that
  // expire every few seconds, so refreshes happen under valgrind too.
  it('on Firestore (Google\'s emulator behind the token-checking proxy)',
    { skip: findEmulator() ? false : SKIP_MESSAGE }, async (t) => {
      const TOKEN_S = 6;
      const local = await startLocalFirestore({ credentials: 'key', tokenLifetimeSec: TOKEN_S });
      try {
        const { appLog } = await leakRun(t, 'firestore', local.env);
        const grants = local.tokens.issued.length;
        const text = `firestore: ${grants} JWT grants for ${TOKEN_S} s tokens, ` +
          `${local.proxy.stats.requests} Firestore calls, none refused`;
        figures.push(text);
        t.diagnostic(text);
        assert.deepEqual(local.proxy.stats.rejected, {}, 'bearers refused');
        assert.ok(grants >= 3, `${grants} grants: no refresh under valgrind`);
        for (const secret of local.secrets()) {
          const body = secret.replace(/-----[A-Z ]+-----/g, '').replace(/\s/g, '');
          assert.ok(!appLog.includes(body.slice(-16)), 'a token or key in the log');
        }
      } finally {
        await local.stop();
      }
    });
});
