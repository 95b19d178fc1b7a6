'use strict';
// Starting and stopping: SIGTERM under load drains every request the app
// accepted and exits 0; a bad setting, or a store module that cannot be
// loaded, stops the start with one line that names it; the worker runs
// as many threads as CANDIDATES_THREADS says (16 by default, at most
// 1024); the SQLite file outlives a restart; /gtg?details says which host
// answered.

const assert = require('node:assert/strict');
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { describe, it, after } = require('node:test');
const {
  SAN_APP, SANITIZER_ENV, startStack, assertNoSanitizerReport, request, sleep, waitFor,
} = require('../lib/stack');
const { expectJson, mediaType, show } = require('../lib/contract');
const { holdWriteLock } = require('../lib/sqlite');

function tmpDir(what) {
  return fs.mkdtempSync(path.join(os.tmpdir(), `candidates-${what}-`));
}

// Resolves to stack.sh's exit, or fails after ms. stack.sh exits with the
// app's own status when the app stops first.
async function exitWithin(stack, ms) {
  let timer;
  const r = await Promise.race([stack.exited, new Promise((resolve) => {
    timer = setTimeout(resolve, ms, null);
  })]);
  clearTimeout(timer);
  assert.notEqual(r, null, `the app did not exit within ${ms} ms; log:\n` +
    stack.logText());
  return r;
}

// How many of the app's worker threads are serving a request: those not
// waiting in epoll for one (Linux /proc; the main thread waits for
// signals). Connections say nothing, as nginx keeps them open between
// requests.
function busyThreads(pid) {
  let n = 0;
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    if (tid === String(pid)) continue;
    try {
      if (fs.readFileSync(`/proc/${pid}/task/${tid}/wchan`, 'utf8') !== 'do_epoll_wait') n++;
    } catch {
      // Gone between the listing and the look.
    }
  }
  return n;
}

// The start was refused as it should be: exit 1 (no signal, no sanitizer
// report), nothing on stdout, one line on stderr, which it returns.
function stoppedWithOneLine(r) {
  assertNoSanitizerReport(r.stderr, 'stderr');
  assert.equal(r.signal, null, `killed by ${r.signal}: it did not stop ` +
    `the start (stderr: ${JSON.stringify(r.stderr)})`);
  assert.equal(r.code, 1, `exit status; stderr: ${JSON.stringify(r.stderr)}`);
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, `not one line: ${JSON.stringify(r.stderr)}`);
  assert.equal(r.stdout, '', 'wrote to stdout');
  return lines[0];
}

describe('SIGTERM under load', () => {
  // Each web server, then a restart behind the other one on the same
  // SQLite file.
  for (const [web, other] of [['nginx', 'lighttpd'], ['lighttpd', 'nginx']]) {
    it(`${web}: requests in flight finish with 200, the app exits 0, ` +
      `and the data is there after a restart behind ${other}`, async () => {
      const dir = tmpDir(`drain-${web}`);
      const env = { CANDIDATES_THREADS: '8', CANDIDATES_TIMEOUT_MS: '20000' };
      const stack = await startStack({ web, env, dir });
      let restarted = null;
      let lock = null;
      let load = true;
      try {
        expectJson(await request(stack.url, 'POST', '/candidate/kept'), 200,
          { CandidateName: 'kept' });

        // Writes now wait in the app for the lock another process holds:
        // slow requests the app has accepted and is still working on.
        lock = await holdWriteLock(path.join(dir, 'candidates.db'));
        const slow = Array.from({ length: 4 }, (_, i) => {
          const name = `drain-${i}`;
          const t = { name, res: null, err: null };
          t.done = request(stack.url, 'POST', `/candidate/${name}`)
            .then((res) => { t.res = res; }, (err) => { t.err = err; });
          return t;
        });

        // Accepted: a worker thread is on each.
        await waitFor(() => busyThreads(stack.workerPid) >= slow.length, 10000,
          'the app to accept the 4 writes');

        // Fast reads around the signal, on fresh connections.
        const reads = [];
        const loops = Array.from({ length: 4 }, async () => {
          while (load) {
            const r = { start: Date.now(), end: 0, res: null, err: null };
            reads.push(r);
            try {
              r.res = await request(stack.url, 'GET', '/candidate/kept',
                { timeoutMs: 10000 });
            } catch (err) {
              r.err = err;
            }
            r.end = Date.now();
            if (r.err) await sleep(20);
          }
        });

        await sleep(300);
        assert.deepEqual(slow.filter((t) => t.res || t.err).map((t) => t.name), [],
          'writes finished while the lock was held: the test is not testing a drain');
        const signalled = Date.now();
        process.kill(stack.appPid, 'SIGTERM');
        // Draining: the app must wait for the writes, however long the
        // store takes.
        await sleep(500);
        await lock.release();

        await Promise.all(slow.map((t) => t.done));
        for (const t of slow) {
          assert.equal(t.err, null, `${t.name} failed: ${t.err}`);
          expectJson(t.res, 200, { CandidateName: t.name });
        }
        const r = await exitWithin(stack, 10000);
        load = false;
        await Promise.all(loops);
        assert.deepEqual(r, { code: 0, signal: null },
          `stack.sh (the app's status); log:\n${stack.logText()}`);
        assertNoSanitizerReport(stack.logText());

        // Reads answered before the signal are 200. Later ones may find
        // the app gone, and then the web server answers (502/503) or is
        // gone too; the app itself never fails them.
        const early = reads.filter((x) => x.end !== 0 && x.end < signalled);
        assert.ok(early.length > 0, 'no read finished before the signal');
        assert.ok(reads.some((x) => x.start >= signalled), 'no read during the drain');
        for (const x of reads) {
          if (x.res === null) {
            assert.ok(x.start >= signalled, `a read sent before the signal failed: ${x.err}`);
            continue;
          }
          if (x.res.status === 200) {
            expectJson(x.res, 200, [{ CandidateName: 'kept' }]);
          } else {
            assert.ok(x.end >= signalled, `a read before the signal: ${show(x.res)}`);
            assert.ok([502, 503, 504].includes(x.res.status) &&
              mediaType(x.res) !== 'application/json',
            `a read after the signal was not answered by the web server: ${show(x.res)}`);
          }
        }

        // The same SQLite file behind the other web server.
        restarted = await startStack({ web: other, dir });
        const res = await request(restarted.url, 'GET', '/candidates');
        assert.equal(res.status, 200, show(res));
        assert.deepEqual(res.json().map((x) => x.CandidateName).sort(),
          ['drain-0', 'drain-1', 'drain-2', 'drain-3', 'kept']);
        expectJson(await request(restarted.url, 'GET', '/candidate/drain-3'), 200,
          [{ CandidateName: 'drain-3' }]);
      } finally {
        load = false;
        if (lock !== null) await lock.release().catch(() => {});
        await stack.stop();
        if (restarted !== null) {
          const r = await restarted.stop();
          assertNoSanitizerReport(restarted.logText());
          assert.deepEqual(r, { code: 0, signal: null });
        }
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  it('SIGINT also stops the app with status 0', async () => {
    const stack = await startStack({ web: 'nginx' });
    try {
      assert.equal((await request(stack.url, 'GET', '/gtg')).status, 200);
      process.kill(stack.appPid, 'SIGINT');
      const r = await exitWithin(stack, 10000);
      assert.deepEqual(r, { code: 0, signal: null }, stack.logText());
      assertNoSanitizerReport(stack.logText());
    } finally {
      await stack.stop();
    }
  });
});

describe('/gtg?details', () => {
  it('reports the host name as instance-id when no cloud metadata answers', async () => {
    const stack = await startStack({ web: 'lighttpd' });
    try {
      expectJson(await request(stack.url, 'GET', '/gtg?details'), 200,
        { connected: 'true', 'instance-id': os.hostname() });
    } finally {
      const r = await stack.stop();
      assertNoSanitizerReport(stack.logText());
      assert.deepEqual(r, { code: 0, signal: null });
    }
  });
});

// The worker serves on CANDIDATES_THREADS threads plus its main one, which
// waits for signals: 16 by default, and any number from 1 to 1024
// (fcgi-app/config.c). Outside that range the start stops (below).
describe('CANDIDATES_THREADS', () => {
  const rows = [
    [undefined, 16],
    ['1', 1],
    ['1024', 1024],
  ];
  for (const [value, threads] of rows) {
    it(`${value ?? 'unset'}: ${threads} worker threads`, async () => {
      const env = value === undefined ? {} : { CANDIDATES_THREADS: value };
      const stack = await startStack({ web: 'nginx', env });
      try {
        assert.equal((await request(stack.url, 'GET', '/gtg')).status, 200);
        // The first thread may answer before the last one is made; the
        // line comes once every one is.
        await waitFor(() => / with \d+ threads\n/.test(stack.logText()), 10000,
          'the worker to say how many threads it runs');
        assert.match(stack.logText(), new RegExp(` with ${threads} threads\n`));
        const tasks = fs.readdirSync(`/proc/${stack.workerPid}/task`).length;
        assert.equal(tasks, threads + 1, `threads of the worker ${stack.workerPid}`);
      } finally {
        const r = await stack.stop();
        assertNoSanitizerReport(stack.logText());
        assert.deepEqual(r, { code: 0, signal: null });
      }
    });
  }
});

// Starts the app the way systemd does on a VM (spawn-fcgi hands it the
// listening socket as fd 0 and execs it), here with a broken setting.
// A start that does not stop is killed after timeoutMs.
let sockSeq = 0;
function runApp(env, dir, timeoutMs = 3000, app = SAN_APP) {
  const base = { PATH: process.env.PATH, ...SANITIZER_ENV };
  const sock = path.join(dir, `fcgi-${++sockSeq}.sock`);
  return new Promise((resolve) => {
    const child = spawn('spawn-fcgi', ['-n', '-s', sock, '-M', '0600', '--',
      app], { env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

describe('a bad setting stops the start with one line naming it', () => {
  const dir = tmpDir('config');
  const db = path.join(dir, 'candidates.db');
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const rows = [
    ['CANDIDATES_STORE', 'nope'],
    ['CANDIDATES_STORE', 'sqlite3'],
    ['CANDIDATES_THREADS', '0'],
    ['CANDIDATES_THREADS', '-1'],
    ['CANDIDATES_THREADS', 'abc'],
    ['CANDIDATES_THREADS', '8x'],
    ['CANDIDATES_THREADS', '1025'],	// one past the most (fcgi-app/config.c)
    ['CANDIDATES_THREADS', '100000'],
    ['CANDIDATES_THREADS', '99999999999999999999999'],
    ['CANDIDATES_TIMEOUT_MS', '-1'],
    ['CANDIDATES_TIMEOUT_MS', 'abc'],
    ['CANDIDATES_TIMEOUT_MS', '99999999999999999999999'],
    ['CANDIDATES_CONNECT_TIMEOUT_MS', '-1'],
    ['CANDIDATES_CONNECT_TIMEOUT_MS', '1s'],
    ['CANDIDATES_SQLITE_PATH', path.join(dir, 'no-such-dir', 'candidates.db')],
  ];
  for (const [name, value] of rows) {
    it(`${name}=${value}`, async () => {
      const env = { CANDIDATES_SQLITE_PATH: db, [name]: value };
      const r = await runApp(env, dir);
      const line = stoppedWithOneLine(r);
      assert.ok(line.includes(name), `does not name ${name}: ${line}`);
    });
  }
});

// The cloud stores are modules (store_<name>.so) that the app loads from
// ../lib/candidates, where make install puts them, or from beside itself,
// as in the build tree. Here a copy of the app sits alone in a directory,
// with no module, a file that is not one, or one built for another
// version of the store interface.
describe('a store module that cannot be loaded stops the start with one line', () => {
  // Each row puts (or not) a store_dynamodb.so beside the app.
  const stale = (so, dir) => {
    const src = path.join(dir, 'stale.c');
    fs.writeFileSync(src, 'const unsigned store_dynamodb_abi = 0;\n');
    const cc = spawnSync('cc', ['-shared', '-fPIC', '-o', so, src],
      { encoding: 'utf8' });
    assert.equal(cc.status, 0, `cc: ${cc.stderr}`);
  };
  const rows = [
    ['missing', () => {}, /no store_dynamodb\.so in /],
    ['not a library', (so) => fs.writeFileSync(so, 'not an ELF file\n'),
      /store_dynamodb\.so: .*(invalid ELF|too short)/],
    ['built for another version', stale,
      /store_dynamodb\.so was built for another version/],
  ];
  for (const [what, put, want] of rows) {
    it(what, async () => {
      const dir = tmpDir('module');
      try {
        const app = path.join(dir, 'candidates');
        fs.copyFileSync(SAN_APP, app);
        fs.chmodSync(app, 0o755);
        put(path.join(dir, 'store_dynamodb.so'), dir);
        const r = await runApp({
          CANDIDATES_STORE: 'dynamodb', AWS_REGION: 'us-east-1',
          CANDIDATES_SQLITE_PATH: path.join(dir, 'candidates.db'),
        }, dir, 3000, app);
        const line = stoppedWithOneLine(r);
        assert.match(line, /CANDIDATES_STORE dynamodb: /);
        assert.match(line, want);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
