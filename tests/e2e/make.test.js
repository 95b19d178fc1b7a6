'use strict';
// The Makefile's own promises, run for real from the repository root:
//
// - `make run` (each web server) serves on PORT, keeps its data under
//   RUNDIR, and Ctrl-C (SIGINT to its process group, as a terminal sends
//   it) stops make and every process of the stack, leaving the data;
// - `make install DESTDIR= PREFIX=` lays out bin/ and lib/candidates/ so
//   the installed program loads its store module from ../lib/candidates;
// - a missing pkg-config package stops a build with a line naming the
//   Debian package, while `make -n test`, which a fresh machine runs
//   before the packages are there, still works.
//
// RUNDIR is a temporary directory here: var/ is the developer's own.

const assert = require('node:assert/strict');
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { describe, it } = require('node:test');
const {
  ROOT, startStack, request, freePort, workerOf, sleep,
} = require('../lib/stack');
const { expectJson, show } = require('../lib/contract');

function tmpDir(what) {
  return fs.mkdtempSync(path.join(os.tmpdir(), `candidates-make-${what}-`));
}

// Our environment without what would change what make does: a parent
// make's flags and jobserver (under `make test`) and any CANDIDATES_* a
// developer exported.
function makeEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('CANDIDATES_') ||
      ['MAKEFLAGS', 'MFLAGS', 'MAKELEVEL', 'MAKEOVERRIDES'].includes(k)) continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

function make(args, env = {}) {
  return spawnSync('make', args, {
    cwd: ROOT, env: makeEnv(env), encoding: 'utf8', timeout: 120000,
  });
}

function readPid(file) {
  try {
    return Number(fs.readFileSync(file, 'utf8').trim()) || null;
  } catch {
    return null;
  }
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// Every live process whose command line or environment names dir (the
// web server's -p/-f, the app's CANDIDATES_SQLITE_PATH), or whose process
// group is pgid: what a stack under dir could have left behind.
function leftovers(dir, pgid) {
  const out = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (f[0] === 'Z') continue;
      const cmd = fs.readFileSync(`/proc/${e}/cmdline`, 'utf8');
      const env = fs.readFileSync(`/proc/${e}/environ`, 'utf8');
      if (Number(f[2]) === pgid || cmd.includes(dir) || env.includes(dir)) {
        out.push(`${e}: ${cmd.split('\0').join(' ')}`);
      }
    } catch {
      // Exited while we looked, or not ours to read.
    }
  }
  return out;
}

describe('make run', () => {
  for (const web of ['nginx', 'lighttpd']) {
    it(`WEB=${web}: serves on PORT, and Ctrl-C stops make and the whole ` +
      'stack, keeping the data in RUNDIR', async () => {
      const dir = tmpDir(`run-${web}`);
      const port = await freePort();
      const name = `made-by-make-run-${web}`;
      // Its own process group, as a shell gives a foreground job.
      const child = spawn('make', ['run', `WEB=${web}`, `PORT=${port}`,
        `RUNDIR=${dir}`], {
        cwd: ROOT, env: makeEnv(), detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (d) => { out += d; });
      child.stderr.on('data', (d) => { out += d; });
      let status = null;
      const exited = new Promise((resolve) => child.once('exit',
        (code, signal) => { status = { code, signal }; resolve(status); }));
      const pgid = child.pid;
      try {
        // It may have to build build/candidates first.
        const end = Date.now() + 90000;
        while (!out.includes(`ready: http://127.0.0.1:${port}`)) {
          assert.equal(status, null, `make run exited ${JSON.stringify(status)}:\n${out}`);
          assert.ok(Date.now() < end, `make run not ready in 90 s:\n${out}`);
          await sleep(50);
        }
        const url = `http://127.0.0.1:${port}`;
        assert.equal((await request(url, 'GET', '/gtg')).status, 200);
        expectJson(await request(url, 'POST', `/candidate/${name}`), 200,
          { CandidateName: name });
        expectJson(await request(url, 'GET', `/candidate/${name}`), 200,
          [{ CandidateName: name }]);

        const app = readPid(path.join(dir, 'app.pid'));
        const webPid = readPid(path.join(dir, 'web.pid'));
        const worker = workerOf(app);
        assert.ok(app && webPid && worker, `pids app ${app} web ${webPid} ` +
          `worker ${worker} in ${dir}`);
        assert.ok(leftovers(dir, pgid).length >= 3, 'the scan does not see ' +
          `the stack, so it could not see what is left of it: ${leftovers(dir, pgid)}`);

        process.kill(-pgid, 'SIGINT');
        let timer;
        const r = await Promise.race([exited, new Promise((resolve) => {
          timer = setTimeout(resolve, 15000, null);
        })]);
        clearTimeout(timer);
        assert.notEqual(r, null, `make did not exit within 15 s of SIGINT:\n${out}`);
        // make waits for its children, then dies of the interrupt (a
        // shell's status 130), as in a terminal.
        assert.deepEqual(r, { code: null, signal: 'SIGINT' }, out);
        // Give the kernel a moment to reap what make's children reaped.
        const gone = Date.now() + 2000;
        while (leftovers(dir, pgid).length > 0 && Date.now() < gone) await sleep(50);
        assert.deepEqual(leftovers(dir, pgid), [], `left running after Ctrl-C:\n${out}`);
        for (const [what, pid] of [['app', app], [web, webPid], ['worker', worker]]) {
          assert.ok(!alive(pid), `the ${what} (pid ${pid}) outlived make run`);
        }
        // A clean stop leaves no stale socket or pid file for the next run.
        for (const f of ['fcgi.sock', 'app.pid', 'web.pid']) {
          assert.ok(!fs.existsSync(path.join(dir, f)), `${f} left in RUNDIR`);
        }
        const q = spawnSync('sqlite3', [path.join(dir, 'candidates.db'),
          'SELECT CandidateName FROM candidates'], { encoding: 'utf8' });
        assert.equal(q.status, 0, q.stderr);
        assert.deepEqual(q.stdout.split('\n').filter(Boolean), [name],
          'the data is not in RUNDIR/candidates.db');
        assert.match(out, /candidates: SIGINT( from outside the app)?, finishing requests in flight/,
          'the app was not stopped by the interrupt');
      } finally {
        if (status === null) {
          try { process.kill(-pgid, 'SIGKILL'); } catch { /* gone */ }
        }
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  it('keeps its state in var/ unless RUNDIR says otherwise', () => {
    for (const [args, dir] of [[[], 'var'], [['RUNDIR=/tmp/x'], '/tmp/x']]) {
      const r = make(['-n', 'run', 'PORT=1', ...args]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`tests/stack\\.sh --web nginx --port 1 --dir ${dir} `),
        r.stdout);
    }
  });
});

describe('make install', () => {
  it('DESTDIR= PREFIX=/usr: the program finds its store module in ' +
    '../lib/candidates', async () => {
    const dest = tmpDir('install');
    let stack = null;
    try {
      const r = make(['install', `DESTDIR=${dest}`, 'PREFIX=/usr']);
      assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
      const rows = [
        ['usr/bin/candidates', 0o755],
        ['usr/lib/candidates/store_dynamodb.so', 0o644],
        ['usr/lib/candidates/store_cosmos.so', 0o644],
        ['usr/lib/candidates/store_firestore.so', 0o644],
      ];
      for (const [file, mode] of rows) {
        const st = fs.statSync(path.join(dest, file));
        assert.ok(st.isFile(), `${file} is not a file`);
        assert.equal((st.mode & 0o7777).toString(8), mode.toString(8), `mode of ${file}`);
      }
      // Nothing beside the program: the module can only come from
      // ../lib/candidates. DynamoDB and IMDS are closed ports, so a data
      // request is a 503 from the DynamoDB store (SQLite would say 404).
      const app = path.join(dest, 'usr/bin/candidates');
      const closed = await freePort();
      stack = await startStack({
        web: 'nginx',
        app,
        env: {
          CANDIDATES_STORE: 'dynamodb',
          CANDIDATES_TIMEOUT_MS: '2000',
          AWS_REGION: 'us-east-1',
          AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
          AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
          AWS_SESSION_TOKEN: '',
          AWS_ENDPOINT_URL: '',
          AWS_ENDPOINT_URL_DYNAMODB: `http://127.0.0.1:${closed}`,
          AWS_EC2_METADATA_SERVICE_ENDPOINT: `http://127.0.0.1:${closed}`,
        },
      });
      assert.doesNotMatch(stack.logText(), /CANDIDATES_STORE dynamodb: /);
      assert.match(stack.logText(), new RegExp(
        `dynamodb: table Candidates in us-east-1 at http://127\\.0\\.0\\.1:${closed}`));
      const maps = fs.readFileSync(`/proc/${stack.workerPid}/maps`, 'utf8');
      assert.ok(maps.includes(path.join(dest, 'usr/lib/candidates/store_dynamodb.so')),
        'the worker has not mapped the installed module');
      assert.equal((await request(stack.url, 'GET', '/gtg')).status, 200);
      const res = await request(stack.url, 'GET', '/candidate/x');
      assert.equal(res.status, 503, show(res));
    } finally {
      if (stack !== null) await stack.stop();
      fs.rmSync(dest, { recursive: true, force: true });
    }
  });
});

describe('pkg-config', () => {
  // A pkg-config that knows every package but one (or none), first on PATH.
  function fakePkgConfig(dir, missing) {
    const bin = path.join(dir, 'pkg-config');
    const real = spawnSync('sh', ['-c', 'command -v pkg-config'], { encoding: 'utf8' })
      .stdout.trim();
    fs.writeFileSync(bin, missing === null ? '#!/bin/sh\nexit 1\n' :
      `#!/bin/sh\nfor a in "$@"; do [ "$a" = ${missing} ] && exit 1; done\n` +
      `exec ${real} "$@"\n`);
    fs.chmodSync(bin, 0o755);
    return { PATH: `${dir}:${process.env.PATH}` };
  }

  it('a missing package stops the build naming the Debian package, ' +
    'before any compiler runs', () => {
    const rows = [
      // -B: the rule runs even though its target is up to date; the check
      // stops it before the compiler could touch the target.
      { line: 1, missing: 'cmocka', target: 'build/san/test_route', deb: 'libcmocka-dev' },
      { line: 2, missing: 'fcgi', target: 'build/san/test_route', deb: 'libfcgi-dev' },
      { line: 3, missing: 'libcurl', target: 'build/bench/hello', deb: 'libcurl4-openssl-dev' },
    ];
    for (const row of rows) {
      const dir = tmpDir('pkg');
      try {
        const r = make(['-B', row.target], fakePkgConfig(dir, row.missing));
        assert.notEqual(r.status, 0, `row ${row.line}: make succeeded`);
        assert.match(r.stderr, new RegExp(`pkg-config finds no ${row.missing}: ` +
          `install the Debian package ${row.deb}`), `row ${row.line}: ${r.stderr}`);
        assert.doesNotMatch(r.stdout, /(cc|clang) .* -o /, `row ${row.line}: a compiler ran`);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
  });

  it('make -n test and make -n deps work without any package', () => {
    const dir = tmpDir('nopkg');
    try {
      for (const target of ['test', 'deps', 'deps-test']) {
        const r = make(['-n', target], fakePkgConfig(dir, null));
        assert.equal(r.status, 0, `make -n ${target}:\n${r.stderr}`);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
