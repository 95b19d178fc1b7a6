'use strict';
// Google's own Firestore emulator (the google-cloud-cli-firestore-emulator
// package: a jar run by Java 17) on an ephemeral loopback port, in a
// process of its own, so a test can kill it by PID to take the store down.
//
//   const found = findEmulator();          // null: not installed
//   const fs = await startEmulator();      // fs.host, fs.url, fs.pid, fs.env
//   await fs.reset('demo-candidates');     // every document of a project gone
//   await fs.stop();
//
// A test that cannot find it skips with SKIP_MESSAGE, one visible line.
//
// The JVM is started by a small Node keeper (this file run with --serve),
// not by the package's shell launcher: the launcher keeps Java as a child
// of bash, so killing the PID we hold would leave Java running. The keeper
// is to the JVM what dynalite.js's --serve process is to dynalite: it
// prints {"port":N,"pid":P} once the emulator answers, and takes the JVM
// down when its parent goes away (its stdin closes), so a crashed test
// leaves no 100 MB JVM behind on a shared machine.

const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');
const { spawn, spawnSync } = require('node:child_process');

const DEFAULT_JAR = '/usr/lib/google-cloud-sdk/platform/cloud-firestore-emulator/' +
  'cloud-firestore-emulator.jar';
const MAIN_CLASS = 'com.google.cloud.datastore.emulator.firestore.CloudFirestore';
const SKIP_MESSAGE = 'Firestore emulator not installed: install ' +
  "google-cloud-cli-firestore-emulator from Google's apt repository";
// The JVM on a busy two-core machine: typically 2 to 4 s, so this is slack.
const START_TIMEOUT_MS = 60000;
// The JVM's flags: a serial collector, the client compiler only and small
// reserves start the emulator in about half the time and hold about 40 %
// less memory than Java's defaults (1.4 s and 150 MB peak over 200 writes,
// against 3.4 s and 260 MB, on this two-core machine), which is what a test
// wants. A benchmark that measures the emulator's own speed passes
// jvmFlags: [] for the server compiler.
const LEAN_JVM = ['-XX:+UseSerialGC', '-Xms32m', '-Xmx512m', '-XX:TieredStopAtLevel=1',
  '-XX:ReservedCodeCacheSize=32m', '-Xss512k'];
// What the official clients send to an emulator (FIRESTORE_EMULATOR_HOST):
// the emulator treats "owner" as an administrator that security rules and
// admin-only requests (showMissing) let through. Any other bearer must be
// a JWT, or the emulator answers 400 "invalid jwt".
const EMULATOR_AUTH = 'Bearer owner';

// The jar and the java to run it with, or null when either is missing.
// FIRESTORE_EMULATOR_JAR overrides the jar's place, JAVA the java binary.
function findEmulator() {
  const jar = process.env.FIRESTORE_EMULATOR_JAR || DEFAULT_JAR;
  try {
    fs.accessSync(jar, fs.constants.R_OK);
  } catch {
    return null;
  }
  const java = process.env.JAVA || 'java';
  const probe = spawnSync(java, ['-version'], { stdio: 'ignore', timeout: 20000 });
  if (probe.error || probe.status !== 0) return null;
  return { jar, java };
}

// A loopback port free right now. The emulator takes a port number, not a
// listening socket, so another process could take it before the JVM binds:
// startEmulator retries on that.
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function get(url, timeoutMs) {
  return fetch(url, { signal: AbortSignal.timeout(timeoutMs) })
    .then(async (r) => ({ status: r.status, body: await r.text() }));
}

// The keeper: runs the JVM, reports its port and PID once it answers, and
// stops it when told (SIGTERM, SIGINT) or when the parent goes away.
async function serve({ jar, java, port, dir, jvmFlags }) {
  // -XX:-UsePerfData: no hsperfdata file in /tmp; java.io.tmpdir and the
  // working directory keep whatever the emulator writes in our temp dir.
  const child = spawn(java, ['-Duser.language=en', '-XX:-UsePerfData', ...jvmFlags,
    `-Djava.io.tmpdir=${dir}`, '-cp', jar, MAIN_CLASS, 'start',
    '--host', '127.0.0.1', '--port', String(port)], {
    cwd: dir, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const keep = (chunk) => { log = (log + chunk).slice(-8192); };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exited = false;
  child.once('exit', (code, sig) => {
    exited = true;
    if (!reported) {
      process.stderr.write(`firestore emulator exited (${code ?? sig}) before it answered:\n${log}\n`);
      process.exit(3);
    }
    // Its data goes with it, even when the test that started it crashed.
    fs.rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  });
  let reported = false;
  const stop = () => {
    if (!exited) child.kill('SIGTERM');
    setTimeout(() => { if (!exited) child.kill('SIGKILL'); }, 5000).unref();
  };
  process.stdin.on('end', stop);
  process.stdin.on('error', stop);
  process.stdin.resume();
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);

  // Ready when the root answers "Ok": the log line "Dev App Server is now
  // running" comes a little before the port accepts.
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!exited && Date.now() < deadline) {
    try {
      const r = await get(`http://127.0.0.1:${port}/`, 1000);
      if (r.status === 200 && r.body.trim() === 'Ok') {
        reported = true;
        process.stdout.write(JSON.stringify({ port, pid: child.pid }) + '\n');
        return;
      }
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  if (!exited) {
    process.stderr.write(`firestore emulator did not answer in ${START_TIMEOUT_MS} ms:\n${log}\n`);
    stop();
  }
}

// The resident set of a process, in KiB, as the kernel counts it now and at
// its peak; null when it is gone.
function rssKiB(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (k) => Number((s.match(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm')) || [])[1]);
    return { rss: kib('VmRSS'), peak: kib('VmHWM') };
  } catch {
    return null;
  }
}

// Starts the emulator (jvmFlags: see LEAN_JVM). Resolves to { host, port, url, pid, keeperPid, env,
// startMs, dir, docsUrl(project, database), reset(project), kill(), stop() };
// throws when it is not installed (check findEmulator first) or does not
// come up.
async function startEmulator({ jvmFlags = LEAN_JVM } = {}) {
  const found = findEmulator();
  if (!found) throw new Error(SKIP_MESSAGE);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'firestore-emulator-'));
  const t0 = process.hrtime.bigint();
  let lastErr;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const keeper = spawn(process.execPath, [__filename, '--serve', JSON.stringify({
      jar: found.jar, java: found.java, port, dir, jvmFlags,
    })], { stdio: ['pipe', 'pipe', 'inherit'] });
    const exited = new Promise((resolve) => keeper.once('exit', (code, sig) => resolve({ code, sig })));
    try {
      const got = await new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('firestore emulator did not start in ' +
          `${START_TIMEOUT_MS + 5000} ms`)), START_TIMEOUT_MS + 5000);
        const rl = readline.createInterface({ input: keeper.stdout });
        rl.once('line', (line) => { clearTimeout(timer); rl.close(); resolve(JSON.parse(line)); });
        keeper.once('exit', (code) => {
          clearTimeout(timer);
          reject(new Error(`firestore emulator exited (${code}) before it answered`));
        });
      });
      const startMs = Number(process.hrtime.bigint() - t0) / 1e6;
      return emulatorHandle({ ...got, keeper, exited, dir, startMs });
    } catch (err) {
      lastErr = err;
      if (keeper.exitCode === null && keeper.signalCode === null) keeper.kill('SIGTERM');
      await exited;
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
  throw lastErr;
}

function emulatorHandle({ port, pid, keeper, exited, dir, startMs }) {
  const host = `127.0.0.1:${port}`;
  const alive = () => keeper.exitCode === null && keeper.signalCode === null;
  return {
    host,
    port,
    pid,			// the JVM's
    keeperPid: keeper.pid,
    url: `http://${host}`,
    dir,
    startMs,
    exited,
    // What the official clients read to find an emulator.
    env: { FIRESTORE_EMULATOR_HOST: host },
    // The REST root of a database's documents, as the C store will build it.
    docsUrl(project, database = '(default)') {
      return `http://${host}/v1/projects/${project}/databases/${database}/documents`;
    },
    rss() {
      return rssKiB(pid);
    },
    // Deletes every document of project's (default) database, through the
    // emulator's own endpoint for that.
    async reset(project) {
      const r = await fetch(`http://${host}/emulator/v1/projects/${project}/databases/(default)/documents`,
        { method: 'DELETE', signal: AbortSignal.timeout(10000) });
      await r.arrayBuffer();
      if (r.status !== 200) throw new Error(`emulator reset of ${project}: HTTP ${r.status}`);
    },
    // SIGKILL to the JVM: the store vanishes at once, as a crashed host
    // would; the keeper sees it and exits.
    async kill() {
      if (alive()) {
        try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
      }
      await exited;
    },
    async stop() {
      if (alive()) keeper.kill('SIGTERM');
      const t = setTimeout(() => { if (alive()) keeper.kill('SIGKILL'); }, 10000);
      await exited;
      clearTimeout(t);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

module.exports = {
  findEmulator, startEmulator, freePort, SKIP_MESSAGE, EMULATOR_AUTH, DEFAULT_JAR, LEAN_JVM,
};

if (require.main === module && process.argv[2] === '--serve') {
  serve(JSON.parse(process.argv[3]));
}
