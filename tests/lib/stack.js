'use strict';
// Starts and stops the real stack (tests/stack.sh: spawn-fcgi, the app and
// nginx or lighttpd with the shipped configuration) on an ephemeral
// loopback port, and talks HTTP to it without any client-side rewriting.

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const assert = require('node:assert/strict');

const ROOT = path.resolve(__dirname, '..', '..');
const STACK_SH = path.join(ROOT, 'tests', 'stack.sh');
const SAN_APP = path.join(ROOT, 'build', 'san', 'candidates');

// Any sanitizer finding stops the app with a report in its log (stderr).
// halt_on_error matters for ASan; UBSan already aborts because the build
// uses -fno-sanitize-recover=all, and the stack trace says where.
const SANITIZER_ENV = {
  ASAN_OPTIONS: 'halt_on_error=1:detect_leaks=1:print_summary=1:' +
    'strict_string_checks=1:check_initialization_order=1',
  UBSAN_OPTIONS: 'halt_on_error=1:print_stacktrace=1:print_summary=1',
  LSAN_OPTIONS: 'print_suppressions=0',
};

const SANITIZER_PATTERNS = [
  /ERROR: AddressSanitizer/,
  /ERROR: LeakSanitizer/,
  /AddressSanitizer:DEADLYSIGNAL/,
  /SUMMARY: \w+Sanitizer/,
  /runtime error:/,
];

// Stacks still running when this process exits (a failed assertion in a
// before() hook, say) are killed by PID so no test leaves a server behind.
const live = new Set();
process.on('exit', () => {
  for (const s of live) s.killAll('SIGKILL');
});

let seq = 0;

// A port nobody listens on right now. Another process may take it before
// the web server binds it, so startStack retries on "address in use".
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// Waits, looking every 20 ms, until cond() holds, and returns the time it
// did; throws if it does not within ms.
async function waitFor(cond, ms, what) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(20);
  }
  return Date.now();
}

// Log lines may land a moment after the answer that they explain.
async function waitForLog(stack, re, ms = 2000) {
  const t0 = Date.now();
  while (!re.test(stack.logText()) && Date.now() - t0 < ms) await sleep(50);
  assert.match(stack.logText(), re, 'the log does not say why');
}

// A timer for Promise.race that does not keep the process alive after
// the race is decided.
function deadline(ms, value) {
  return new Promise((resolve) => setTimeout(resolve, ms, value).unref());
}

// The environment the app sees: ours without any CANDIDATES_* a developer
// may have exported, plus the sanitizer options, plus the caller's.
function stackEnv(env) {
  const out = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('CANDIDATES_')) out[k] = v;
  }
  return { ...out, ...SANITIZER_ENV, ...env };
}

function readPid(file) {
  try {
    const n = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}

// The PIDs whose process group is pgid (Linux /proc). A group's id is
// not reused while any member lives.
function groupMembers(pgid) {
  const out = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      // "pid (comm) state ppid pgrp ...": comm may hold spaces and ")".
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(f[2]) === pgid) out.push(Number(e));
    } catch {
      // Exited while we looked.
    }
  }
  return out;
}

// The app's worker: the process that serves, which the app (the pid in
// app.pid) forks and replaces when it dies while it keeps the socket
// itself. null between workers, or when pid has none (Linux /proc).
function workerOf(pid) {
  if (!pid) return null;
  try {
    const kids = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .split(' ').filter(Boolean).map(Number);
    return kids.length > 0 ? kids[0] : null;
  } catch {
    return null;
  }
}

function alive(pid) {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function startOnce({ web, env, app, dir, ownsDir, readyTimeoutMs }) {
  const port = await freePort();
  fs.mkdirSync(dir, { recursive: true });
  const log = path.join(dir, `app-${process.pid}-${++seq}.log`);
  fs.writeFileSync(log, '');
  const child = spawn('bash', [STACK_SH, '--web', web, '--port', String(port),
    '--dir', dir, '--app', app, '--addr', '127.0.0.1', '--log', log], {
    cwd: ROOT,
    env: stackEnv(env),
    // Its own process group, so a last-resort SIGKILL finds nginx's
    // workers too, which do not die with their master.
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  let result = null;
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      result = { code, signal };
      resolve(result);
    });
  });

  let appPid = null;
  let firstWorkerPid = null;
  let webPid = null;
  let logCache = null;
  const stack = {
    url: `http://127.0.0.1:${port}`,
    port,
    dir,
    web,
    logFile: log,
    pid: child.pid,
    // The app: the parent that keeps the socket, and SIGTERM's target.
    get appPid() { return appPid; },
    // Its worker now, and the one that answered the first /gtg: a worker
    // that died and was replaced leaves appPid as it was.
    get workerPid() { return workerOf(appPid); },
    get firstWorkerPid() { return firstWorkerPid; },
    get webPid() { return webPid; },
    exited,
    // The app's stderr (its log lines and any sanitizer report).
    logText() {
      if (logCache !== null) return logCache;
      try {
        return fs.readFileSync(log, 'utf8');
      } catch {
        return '';
      }
    },
    // stack.sh's own output: the ready line and the web server's stderr.
    outputText() { return output; },
    // Signals every process of the group stack.sh leads (itself, the
    // app, the web server and nginx's workers), one by one. Once stack.sh
    // is reaped, a process with its PID is someone else's, and so is any
    // group that process leads.
    killAll(sig) {
      if (result !== null && alive(child.pid)) return;
      for (const pid of groupMembers(child.pid)) {
        try { process.kill(pid, sig); } catch { /* gone meanwhile */ }
      }
    },
    // SIGTERM to stack.sh, which stops the web server, then the app; then
    // SIGKILL to each of them by PID if that takes longer than timeoutMs.
    // Resolves to stack.sh's { code, signal }.
    async stop({ timeoutMs = 15000 } = {}) {
      if (result === null) {
        try { process.kill(child.pid, 'SIGTERM'); } catch { /* exited */ }
        const timedOut = await Promise.race([
          exited.then(() => false), deadline(timeoutMs, true)]);
        if (timedOut) {
          stack.killAll('SIGKILL');
          await exited;
          result.timedOut = true;
        }
      }
      // Reap what a crashed stack.sh may have left behind.
      stack.killAll('SIGKILL');
      live.delete(stack);
      logCache = stack.logText();
      // A directory startStack made goes with the stack (the log is kept
      // in memory); KEEP_STACKS=1 keeps it for a post-mortem.
      if (ownsDir && !process.env.KEEP_STACKS) {
        fs.rmSync(dir, { recursive: true, force: true });
      }
      return result;
    },
  };
  live.add(stack);

  const ready = new Promise((resolve) => {
    const check = () => {
      if (/^ready: http:\/\//m.test(output)) resolve('ready');
    };
    child.stdout.on('data', check);
  });
  const outcome = await Promise.race([
    ready,
    exited.then(() => 'exited'),
    deadline(readyTimeoutMs, 'timeout'),
  ]);
  if (outcome === 'ready') {
    appPid = readPid(path.join(dir, 'app.pid'));
    firstWorkerPid = workerOf(appPid);
    webPid = readPid(path.join(dir, 'web.pid'));
    return stack;
  }
  await stack.stop({ timeoutMs: 5000 });
  const err = new Error(`stack.sh --web ${web} did not become ready ` +
    `(${outcome}, ${JSON.stringify(result)}):\n${output}\n` +
    `app log:\n${stack.logText()}`);
  err.addressInUse = /in use|could not be bound|bind\(\)/i.test(output);
  throw err;
}

// Starts a fresh stack. dir: a state directory to use (and keep), such as
// one whose SQLite file a test restarts on; without it a temporary one is
// made and removed by stop(). Resolves to
// { url, port, dir, appPid, workerPid, firstWorkerPid, webPid, logText(),
// outputText(), stop() }.
async function startStack({
  web = 'nginx', env = {}, app = SAN_APP, dir = null, readyTimeoutMs = 20000,
} = {}) {
  assert.ok(fs.existsSync(app), `${app} is missing: make build/san/candidates`);
  const stateDir = dir ??
    fs.mkdtempSync(path.join(os.tmpdir(), `candidates-${web}-`));
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce({
        web, env, app, dir: stateDir, ownsDir: dir === null, readyTimeoutMs,
      });
    } catch (err) {
      if (!err.addressInUse || attempt >= 3) throw err;
    }
  }
}

// Fails with the offending lines when the app's log holds a sanitizer
// report.
function assertNoSanitizerReport(text, what = 'app log') {
  const bad = text.split('\n').filter((l) =>
    SANITIZER_PATTERNS.some((re) => re.test(l)));
  assert.deepEqual(bad, [], `sanitizer report in the ${what}:\n${text}`);
}

// Stops a stack that must end cleanly: exit 0 and no sanitizer report.
async function stopCleanly(stack) {
  const r = await stack.stop();
  assertNoSanitizerReport(stack.logText());
  assert.deepEqual({ code: r.code, signal: r.signal }, { code: 0, signal: null },
    `stack exit; app log:\n${stack.logText()}`);
}

function response(status, headers, body) {
  return {
    status,
    headers,
    body,
    get text() { return body.toString('utf8'); },
    // Strict: the body must be valid UTF-8 and valid JSON.
    json() {
      const s = new TextDecoder('utf-8', { fatal: true }).decode(body);
      return JSON.parse(s);
    },
  };
}

// One HTTP request through node:http, which sends the target as given
// (no dot-segment or percent normalisation, unlike fetch). Without an
// agent each request has its own connection, closed afterwards.
function request(base, method, target, {
  body = null, headers = {}, agent = false, timeoutMs = 15000,
} = {}) {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const h = { ...headers };
    if (body !== null && h['Transfer-Encoding'] === undefined) {
      h['Content-Length'] = Buffer.byteLength(body);
    } else if (body === null && method === 'POST') {
      h['Content-Length'] = 0;
    }
    const req = http.request({
      host: u.hostname, port: u.port, method, path: target, headers: h, agent,
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () =>
        resolve(response(res.statusCode, res.headers, Buffer.concat(chunks))));
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () =>
      req.destroy(new Error(`${method} ${target}: no answer in ${timeoutMs} ms`)));
    req.on('error', reject);
    if (body !== null) req.write(body);
    req.end();
  });
}

// Parses one HTTP/1.1 response from raw bytes (Content-Length, chunked or
// until close). Returns null while incomplete.
function parseResponse(buf, isHead, closed) {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
  if (!m) throw new Error(`not an HTTP status line: ${JSON.stringify(lines[0])}`);
  const headers = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    const k = l.slice(0, i).trim().toLowerCase();
    const v = l.slice(i + 1).trim();
    headers[k] = headers[k] === undefined ? v : `${headers[k]}, ${v}`;
  }
  const status = Number(m[1]);
  let rest = buf.subarray(end + 4);
  if (isHead || status === 204 || status === 304 || status < 200) {
    return response(status, headers, Buffer.alloc(0));
  }
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    const parts = [];
    for (;;) {
      const nl = rest.indexOf('\r\n');
      if (nl < 0) return null;
      const size = parseInt(rest.subarray(0, nl).toString('latin1'), 16);
      if (Number.isNaN(size)) throw new Error('bad chunk size');
      if (size === 0) return response(status, headers, Buffer.concat(parts));
      if (rest.length < nl + 2 + size + 2) return null;
      parts.push(rest.subarray(nl + 2, nl + 2 + size));
      rest = rest.subarray(nl + 2 + size + 2);
    }
  }
  if (headers['content-length'] !== undefined) {
    const n = Number(headers['content-length']);
    if (rest.length < n) return null;
    return response(status, headers, rest.subarray(0, n));
  }
  return closed ? response(status, headers, rest) : null;
}

// Sends bytes exactly as given on a fresh connection and reads the one
// answer: for targets a client library would refuse or rewrite (raw
// control bytes, spaces, invalid UTF-8, %2e%2e). target is a Buffer or a
// latin1 string; "Connection: close" is always sent.
function rawRequest(base, method, target, {
  headers = {}, body = null, timeoutMs = 15000,
} = {}) {
  const u = new URL(base);
  const t = Buffer.isBuffer(target) ? target : Buffer.from(target, 'latin1');
  let head = `Host: ${u.host}\r\nConnection: close\r\n`;
  for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
  if (body !== null && headers['Transfer-Encoding'] === undefined) {
    head += `Content-Length: ${body.length}\r\n`;
  }
  const bytes = Buffer.concat([Buffer.from(`${method} `, 'latin1'), t,
    Buffer.from(` HTTP/1.1\r\n${head}\r\n`, 'latin1'),
    body === null ? Buffer.alloc(0) : Buffer.from(body)]);
  return new Promise((resolve, reject) => {
    const chunks = [];
    let done = false;
    const finish = (closed, err) => {
      if (done) return;
      let r = null;
      try {
        r = parseResponse(Buffer.concat(chunks), method === 'HEAD', closed);
      } catch (e) {
        err = e;
      }
      if (r !== null) {
        done = true;
        sock.destroy();
        resolve(r);
      } else if (closed || err) {
        done = true;
        sock.destroy();
        reject(err ?? new Error(`${method} ${t.toString('latin1')}: ` +
          `connection closed after ${Buffer.concat(chunks).length} bytes`));
      }
    };
    const sock = net.connect({ host: u.hostname, port: Number(u.port) });
    sock.setTimeout(timeoutMs, () => finish(true, new Error(
      `${method} ${t.toString('latin1')}: no answer in ${timeoutMs} ms`)));
    sock.on('data', (d) => { chunks.push(d); finish(false); });
    sock.on('end', () => finish(true));
    // A server that refuses a large body may reset the connection while
    // we still write it; the answer it sent first is what counts.
    sock.on('error', (e) => finish(true, e));
    sock.on('close', () => finish(true));
    sock.write(bytes);
  });
}

module.exports = {
  ROOT,
  SAN_APP,
  SANITIZER_ENV,
  startStack,
  workerOf,
  assertNoSanitizerReport,
  stopCleanly,
  request,
  rawRequest,
  sleep,
  waitFor,
  waitForLog,
  freePort,
};
