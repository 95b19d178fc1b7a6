'use strict';
// The worker process as the kernel sees it, and what it does when the
// kernel or a stray signal gets in its way (fcgi-app/server.c and
// supervise.c):
//
// - its signal dispositions: no handler for SIGPIPE, SIGUSR1, SIGTERM or
//   SIGINT (libfcgi's FCGX_Init installs three, which the app undoes),
//   SIGPIPE ignored, SIGTERM and SIGINT blocked for sigwait;
// - a SIGTERM sent to the worker alone, not through the app: the worker
//   drains and exits 0, and the app starts another rather than leaving the
//   service down with an exit systemd would not restart;
// - the app's own memory once its worker serves: the pages it read only to
//   start are given back (MADV_PAGEOUT), so it holds next to nothing alone;
// - out of descriptors: accepting pauses, one log line for the episode
//   (not one per worker per 100 ms), and resumes once descriptors free up.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { once } = require('node:events');
const { spawnSync } = require('node:child_process');
const { describe, it } = require('node:test');
const { startStack, stopCleanly, request, sleep, waitFor } = require('../lib/stack');

const SIGINT = 2;
const SIGUSR1 = 10;
const SIGPIPE = 13;
const SIGTERM = 15;
const bit = (sig) => 1n << BigInt(sig - 1);

// The Sig* masks of /proc/<pid>/status, as BigInts.
function signalMasks(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const mask = (name) => BigInt(`0x${new RegExp(`^${name}:\\s+([0-9a-f]+)$`, 'm').exec(status)[1]}`);
  return { caught: mask('SigCgt'), ignored: mask('SigIgn'), blocked: mask('SigBlk') };
}

describe('the worker process', () => {
  it('catches no signal, ignores SIGPIPE, and blocks SIGTERM and SIGINT', async () => {
    const stack = await startStack();
    try {
      const w = stack.workerPid;
      assert.ok(w, 'no worker');
      // The main thread's masks; every thread shares dispositions.
      const m = signalMasks(w);
      // The sanitizers catch SIGSEGV, SIGBUS and SIGFPE, glibc one of its
      // own: these four are the app's to decide.
      const ours = bit(SIGPIPE) | bit(SIGUSR1) | bit(SIGTERM) | bit(SIGINT);
      assert.equal(m.caught & ours, 0n, `handlers installed: SigCgt ${m.caught.toString(16)}`);
      assert.equal(m.ignored & bit(SIGPIPE), bit(SIGPIPE), 'SIGPIPE is not ignored');
      // The main thread waits in sigwait, during which the kernel shows
      // the signals it waits for as unblocked; every other thread, the
      // ones that serve, has them blocked.
      const tids = fs.readdirSync(`/proc/${w}/task`).filter((tid) => Number(tid) !== w);
      assert.ok(tids.length > 0, 'no worker threads');
      for (const tid of tids) {
        const tm = signalMasks(`${w}/task/${tid}`);
        assert.equal(tm.blocked & (bit(SIGTERM) | bit(SIGINT)), bit(SIGTERM) | bit(SIGINT),
          `thread ${tid}: SigBlk ${tm.blocked.toString(16)}`);
      }
    } finally {
      await stopCleanly(stack);
    }
  });

  it('a SIGTERM to the worker alone: it drains, and the app starts another', async (t) => {
    const stack = await startStack();
    try {
      const first = stack.workerPid;
      assert.equal((await request(stack.url, 'POST', '/candidate/before-term')).status, 200);
      process.kill(first, 'SIGTERM');
      await waitFor(() => stack.workerPid !== null && stack.workerPid !== first, 5000,
        'a new worker');
      // nginx may still try a kept connection the old worker closed (a
      // 502, as after any worker's death): the service is back when the
      // new worker answers.
      const t0 = Date.now();
      const statuses = [];
      for (let i = 0; i < 40 && statuses.at(-1) !== 200; i++) {
        statuses.push((await request(stack.url, 'GET', '/candidate/before-term')).status);
        if (statuses.at(-1) !== 200) await sleep(50);
      }
      assert.equal(statuses.at(-1), 200, `statuses: ${statuses}`);
      assert.ok(statuses.length <= 2, `statuses: ${statuses}`);
      t.diagnostic(`a new worker (pid ${stack.workerPid}) answered ${Date.now() - t0} ms ` +
        `later (${statuses.join(', ')})`);
      assert.match(stack.logText(), new RegExp(`the worker \\(pid ${first}\\) exited 0 unasked`));
      assert.ok(fs.existsSync(`/proc/${stack.appPid}`), 'the app exited');
    } finally {
      await stopCleanly(stack);
    }
  });
});

// What only pid maps, in kB: Private_Clean + Private_Dirty (smaps_rollup).
function privateKB(pid) {
  const t = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(t)[1]);
  return { clean: kb('Private_Clean'), dirty: kb('Private_Dirty') };
}

describe('the app while its worker serves', () => {
  // The shipped build: ASan's shadow would be most of the app's memory.
  const APP = path.join(__dirname, '..', '..', 'build', 'candidates');
  it('gives back the pages it read only to start, a second after the worker', { skip: !fs.existsSync(APP) && 'build/candidates is missing' }, async (t) => {
    const t0 = Date.now();
    // A cloud store, which loads libcurl and its thirty-odd libraries; it
    // need not be reachable for /gtg.
    const stack = await startStack({ app: APP, env: {
      CANDIDATES_STORE: 'dynamodb', AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'AKIAWORKERTEST000001',
      AWS_SECRET_ACCESS_KEY: 'worker/test', AWS_EC2_METADATA_DISABLED: 'true',
      AWS_ENDPOINT_URL_DYNAMODB: 'http://127.0.0.1:9', AWS_CA_BUNDLE: '',
    } });
    try {
      const before = privateKB(stack.appPid);
      const since = Date.now() - t0;
      await sleep(Math.max(0, 2500 - since));
      assert.equal((await request(stack.url, 'GET', '/gtg')).status, 200);
      const after = privateKB(stack.appPid);
      t.diagnostic(`the app alone: ${before.clean} kB clean, ${before.dirty} kB dirty ${since} ms ` +
        `after the start; ${after.clean} kB clean, ${after.dirty} kB dirty 2.5 s after`);
      assert.ok(after.clean <= 64, `${after.clean} kB of file pages still mapped by the app alone`);
      assert.ok(before.clean >= 1024, `${before.clean} kB to give back: the test proves nothing`);
    } finally {
      await stopCleanly(stack);
    }
  });
});

describe('out of file descriptors', () => {
  it('accepting pauses with one log line, then resumes', async (t) => {
    const stack = await startStack({ env: { CANDIDATES_THREADS: '4' } });
    const sock = path.join(stack.dir, 'fcgi.sock');
    const held = [];
    try {
      const w = stack.workerPid;
      const open = fs.readdirSync(`/proc/${w}/fd`).length;
      // Room for a few more descriptors, then none: the hard limit too,
      // since the app raises its soft limit to the hard one.
      const limit = open + 4;
      const r = spawnSync('prlimit', [`--pid=${w}`, `--nofile=${limit}:${limit}`],
        { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      // Silent connections take descriptors and hold no thread.
      for (let i = 0; i < 12; i++) {
        const s = net.connect({ path: sock });
        s.on('error', () => {});
        await once(s, 'connect');
        held.push(s);
      }
      await sleep(2000);
      const paused = stack.logText().split('\n').filter((l) => /accept: /.test(l));
      t.diagnostic(`2 s out of descriptors with 4 threads: ${paused.length} log line(s)`);
      assert.equal(paused.length, 1, `log lines:\n${paused.join('\n')}`);
      assert.match(paused[0], /Too many open files: pausing new connections/);
      // Its usage while paused: no thread spins on accept.
      const cpu = () => {
        const f = fs.readFileSync(`/proc/${w}/stat`, 'utf8');
        const v = f.slice(f.lastIndexOf(')') + 2).split(' ');
        return Number(v[11]) + Number(v[12]);
      };
      const c0 = cpu();
      await sleep(1000);
      const ticks = cpu() - c0;
      t.diagnostic(`CPU while paused: ${ticks} clock ticks in 1 s`);
      assert.ok(ticks <= 5, `${ticks} clock ticks of CPU in 1 s while paused`);
      for (const s of held.splice(0)) s.destroy();
      await waitFor(() => /accept: accepting again after \d+ ms/.test(stack.logText()), 5000,
        'accepting again');
      assert.equal((await request(stack.url, 'GET', '/gtg')).status, 200);
    } finally {
      for (const s of held) s.destroy();
      await stopCleanly(stack);
    }
  });
});
