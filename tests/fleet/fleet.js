'use strict';
// `make fleet`: what an Auto Scaling Group behind an ALB does, rehearsed on
// one machine. Three instances of the real stack (tests/stack.sh: the
// shipped nginx config, spawn-fcgi, the shipped binary on the DynamoDB
// store), each in its own network namespace, behind HAProxy with an HTTP
// health check on /gtg, all on one DynamoDB stand-in (dynalite behind the
// verifying SigV4 proxy, over HTTPS). Under steady load:
//
//   1. steady: no errors;
//   2. one instance stops: HAProxy ejects it within its check interval,
//      the clients see a bounded number of errors;
//   3. it comes back: it rejoins and takes traffic;
//   4. the database stops: every data request is 503 with Retry-After,
//      /gtg stays 200 on every instance and no instance is ejected (the
//      fleet must not be recycled for a database outage);
//   5. the database is back: data requests succeed again;
//   6. every write acknowledged with 200 is readable at the end.
//
// Namespaces: fleet-<tag>-lb holds HAProxy, the stand-ins and the clients;
// fleet-<tag>-{a,b,c} one instance each, joined to lb by a veth pair with
// 10.77.N.1 (lb side) and 10.77.N.2 (instance side). Addresses exist only
// inside the namespaces, which the run creates and deletes; nothing else
// changes on the host. Needs root (ip netns); without it, says so and
// exits 0, as it does where namespaces cannot be made (a container
// without CAP_SYS_ADMIN).
//
//   FLEET_PHASE_SECONDS=4 node tests/fleet/fleet.js

const assert = require('node:assert/strict');
const { spawn, execFileSync, spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');

const ROOT = path.resolve(__dirname, '..', '..');
const STACK_SH = path.join(ROOT, 'tests', 'stack.sh');
const APP = path.join(ROOT, 'build', 'candidates');
const PHASE = Number(process.env.FLEET_PHASE_SECONDS || 4);
const NAMES = ['a', 'b', 'c'];
const CHECK_INTER_MS = 500;	// HAProxy health check interval
const CHECK_FALL = 2;		// failed checks before ejection
const CHECK_RISE = 2;		// good checks before rejoining
const DB_DEADLINE_MS = 2000;	// CANDIDATES_TIMEOUT_MS of the instances
const REGION = 'eu-west-3';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function ip(...args) {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

// ---------------------------------------------------------------------------
// Outside: the namespaces, then this script again inside the lb namespace.

function namespaces(tag) {
  return { lb: `fleet-${tag}-lb`, inst: NAMES.map((n) => `fleet-${tag}-${n}`) };
}

// Kills, by PID, whatever still runs in a namespace, then deletes it.
function dropNamespace(ns) {
  const r = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' });
  if (r.status !== 0) return;
  for (const pid of r.stdout.split('\n').filter(Boolean)) {
    try { process.kill(Number(pid), 'SIGKILL'); } catch { /* gone */ }
  }
  spawnSync('ip', ['netns', 'del', ns]);
}

function outside() {
  if (process.getuid() !== 0) {
    console.log('fleet: skipped: ip netns needs root');
    return 0;
  }
  for (const tool of ['ip', 'haproxy']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
      console.log(`fleet: FAIL: ${tool} is missing (make deps-test installs it)`);
      return 1;
    }
  }
  assert.ok(fs.existsSync(APP), `${APP} is missing: make build/candidates`);
  const tag = crypto.randomBytes(2).toString('hex');
  const ns = namespaces(tag);
  const all = [ns.lb, ...ns.inst];
  const cleanup = () => { for (const n of all) dropNamespace(n); };
  process.on('SIGINT', () => { cleanup(); process.exit(130); });
  process.on('SIGTERM', () => { cleanup(); process.exit(143); });
  // A container without CAP_SYS_ADMIN cannot make namespaces: say so.
  const probe = spawnSync('ip', ['netns', 'add', ns.lb], { encoding: 'utf8' });
  if (probe.status !== 0) {
    console.log(`fleet: skipped: cannot create a network namespace here: ${probe.stderr.trim()}`);
    return 0;
  }
  try {
    for (const n of all) {
      if (n !== ns.lb) ip('netns', 'add', n);
      ip('-n', n, 'link', 'set', 'lo', 'up');
    }
    NAMES.forEach((name, i) => {
      const lbEnd = `fv${tag}${name}0`;
      const instEnd = `fv${tag}${name}1`;
      // Made inside lb, so no interface ever appears on the host.
      ip('-n', ns.lb, 'link', 'add', lbEnd, 'type', 'veth', 'peer', 'name', instEnd,
        'netns', ns.inst[i]);
      ip('-n', ns.lb, 'addr', 'add', `10.77.${i + 1}.1/24`, 'dev', lbEnd);
      ip('-n', ns.lb, 'link', 'set', lbEnd, 'up');
      ip('-n', ns.inst[i], 'addr', 'add', `10.77.${i + 1}.2/24`, 'dev', instEnd);
      ip('-n', ns.inst[i], 'link', 'set', instEnd, 'up');
    });
    const r = spawnSync('ip', ['netns', 'exec', ns.lb, process.execPath, __filename, '--inside'],
      { stdio: 'inherit', env: { ...process.env, FLEET_TAG: tag } });
    return r.status ?? 1;
  } finally {
    cleanup();
  }
}

// ---------------------------------------------------------------------------
// Inside the lb namespace.

// A CA and a server certificate for the three lb-side addresses, which
// the instances reach the DynamoDB stand-in on.
function fleetCerts(dir) {
  const f = (n) => path.join(dir, n);
  const ossl = (...args) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ossl('req', '-x509', '-new', ...ec, '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '2',
    '-subj', '/CN=fleet test CA', '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  ossl('req', '-new', ...ec, '-keyout', f('server.key'), '-out', f('server.csr'),
    '-subj', '/CN=10.77.1.1');
  fs.writeFileSync(f('server.ext'), ['basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature', 'extendedKeyUsage=serverAuth',
    `subjectAltName=IP:127.0.0.1,${NAMES.map((_, i) => `IP:10.77.${i + 1}.1`).join(',')}`,
    ''].join('\n'));
  ossl('x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'),
    '-set_serial', `0x${crypto.randomBytes(8).toString('hex')}`, '-days', '2',
    '-extfile', f('server.ext'), '-out', f('server.pem'));
  return { dir, ca: f('ca.pem'), cert: f('server.pem'), key: f('server.key') };
}

// Forwards TCP from each lb-side address to the proxy on 127.0.0.1: TLS
// passes through. close() is the database's network going away.
async function startForwarder(port, target) {
  const sockets = new Set();
  const servers = [];
  const listen = async () => {
    for (let i = 0; i < NAMES.length; i++) {
      const s = net.createServer((c) => {
        const up = net.connect(target, '127.0.0.1');
        sockets.add(c);
        sockets.add(up);
        const drop = () => { c.destroy(); up.destroy(); sockets.delete(c); sockets.delete(up); };
        c.on('error', drop);
        up.on('error', drop);
        c.on('close', drop);
        up.on('close', drop);
        c.pipe(up);
        up.pipe(c);
      });
      await new Promise((resolve, reject) => {
        s.once('error', reject);
        s.listen(port, `10.77.${i + 1}.1`, resolve);
      });
      servers.push(s);
    }
  };
  await listen();
  return {
    async close() {
      const closed = Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
      for (const s of sockets) s.destroy();
      await closed;
    },
    reopen: listen,
  };
}

// One instance: tests/stack.sh inside its namespace, listening on port 80
// of its own address, as on a VM.
function startInstance(tag, i, dir, env) {
  const name = NAMES[i];
  const ns = namespaces(tag).inst[i];
  const addr = `10.77.${i + 1}.2`;
  fs.mkdirSync(dir, { recursive: true });
  const log = path.join(dir, 'app.log');
  const child = spawn('ip', ['netns', 'exec', ns, 'bash', STACK_SH, '--web', 'nginx', '--port',
    '80', '--addr', addr, '--dir', dir, '--app', APP, '--log', log],
  { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  const exited = new Promise((r) => child.once('exit', (code, sig) => r({ code, sig })));
  const inst = {
    name, addr, dir, child, exited, log,
    output: () => out,
    ready: (async () => {
      const end = Date.now() + 30000;
      while (!/^ready:/m.test(out)) {
        if (child.exitCode !== null) throw new Error(`instance ${name} exited:\n${out}`);
        if (Date.now() > end) throw new Error(`instance ${name} not ready:\n${out}`);
        await sleep(50);
      }
    })(),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 20000);
      const r = await exited;
      clearTimeout(t);
      return r;
    },
  };
  return inst;
}

function haproxyConfig(port, sock) {
  return `# The fleet's load balancer: an ALB's target group, rehearsed.
global
    maxconn 4096
    stats socket ${sock} mode 600 level admin

defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    # Only a connection that never opened is retried (HAProxy's default
    # retry-on conn-failure), on another instance: a POST that reached an
    # instance is never sent twice.
    retries 2
    option redispatch

frontend fleet
    bind 127.0.0.1:${port}
    default_backend instances

backend instances
    balance roundrobin
    option httpchk GET /gtg
    http-check expect status 200
    default-server inter ${CHECK_INTER_MS}ms fall ${CHECK_FALL} rise ${CHECK_RISE}
${NAMES.map((n, i) => `    server ${n} 10.77.${i + 1}.2:80 check`).join('\n')}
`;
}

// HAProxy's view of the backend: name -> { status, stot }.
function haproxyStat(sock) {
  return new Promise((resolve, reject) => {
    const c = net.connect(sock);
    let buf = '';
    c.on('data', (d) => { buf += d; });
    c.on('error', reject);
    c.on('end', () => {
      const lines = buf.split('\n').filter(Boolean);
      const head = lines[0].replace(/^# /, '').split(',');
      const col = (n) => head.indexOf(n);
      const out = {};
      for (const l of lines.slice(1)) {
        const f = l.split(',');
        if (f[0] === 'instances' && NAMES.includes(f[1])) {
          out[f[1]] = { status: f[col('status')], stot: Number(f[col('stot')]) };
        }
      }
      resolve(out);
    });
    c.end('show stat\n');
  });
}

async function waitStatus(sock, name, want, ms) {
  const t0 = Date.now();
  for (;;) {
    const s = await haproxyStat(sock);
    if (s[name] && s[name].status.startsWith(want)) return Date.now() - t0;
    if (Date.now() - t0 > ms) {
      throw new Error(`${name} not ${want} after ${ms} ms: ${JSON.stringify(s)}`);
    }
    await sleep(20);
  }
}

async function inside() {
  const tag = process.env.FLEET_TAG;
  const { startDynalite } = require('../lib/dynalite');
  const { ADMIN, APP_OPS, CredentialRegistry, startProxy } = require('../lib/sigv4-proxy');
  const { startLoad, send, formatCounts } = require('../soak/load');
  const http = require('node:http');

  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'fleet-'));
  const figures = [];
  const fig = (s) => { figures.push(s); console.log(`fleet: ${s}`); };
  const failures = [];
  const check = (ok, what) => { if (!ok) { failures.push(what); console.log(`fleet: FAIL: ${what}`); } };
  const instances = [];
  let db = null;
  let proxy = null;
  let fwd = null;
  let haproxy = null;
  let load = null;
  try {
    // The database: dynalite, the verifying proxy, and the path to it.
    const certs = fleetCerts(fs.mkdtempSync(path.join(work, 'certs-')));
    const registry = new CredentialRegistry();
    registry.add(ADMIN);
    const creds = CredentialRegistry.random();
    registry.add({ ...creds, ops: APP_OPS });
    db = await startDynalite();
    proxy = await startProxy({ registry, upstreamPort: db.port, region: REGION, certs });
    const fwdPort = 8443;
    fwd = await startForwarder(fwdPort, proxy.port);

    const baseEnv = {};
    for (const [k, v] of Object.entries(process.env)) {
      if (!k.startsWith('CANDIDATES_') && !k.startsWith('AWS_')) baseEnv[k] = v;
    }
    // The image's settings, then the cloud's user data.
    const imageEnv = {};
    for (const l of fs.readFileSync(path.join(ROOT, 'images', 'files', 'candidates.env'), 'utf8')
      .split('\n')) {
      const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(l.trim());
      if (m && m[1] !== 'CANDIDATES_SQLITE_PATH') imageEnv[m[1]] = m[2];
    }
    const envFor = (i) => ({
      ...baseEnv, ...imageEnv,
      CANDIDATES_STORE: 'dynamodb',
      CANDIDATES_TIMEOUT_MS: String(DB_DEADLINE_MS),
      AWS_REGION: REGION,
      AWS_ENDPOINT_URL_DYNAMODB: `https://10.77.${i + 1}.1:${fwdPort}`,
      AWS_CA_BUNDLE: certs.ca,
      AWS_ACCESS_KEY_ID: creds.accessKeyId,
      AWS_SECRET_ACCESS_KEY: creds.secretAccessKey,
      AWS_SESSION_TOKEN: creds.sessionToken,
      // No metadata service here: the instance id is the host name.
      AWS_EC2_METADATA_SERVICE_ENDPOINT: `http://10.77.${i + 1}.1:9`,
    });
    const dirs = NAMES.map((n) => path.join(work, `instance-${n}`));
    for (let i = 0; i < NAMES.length; i++) instances.push(startInstance(tag, i, dirs[i], envFor(i)));
    await Promise.all(instances.map((x) => x.ready));

    const port = 18080;
    const sock = path.join(work, 'haproxy.sock');
    const cfg = path.join(work, 'haproxy.cfg');
    fs.writeFileSync(cfg, haproxyConfig(port, sock));
    haproxy = spawn('haproxy', ['-db', '-f', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
    let haOut = '';
    haproxy.stdout.on('data', (d) => { haOut += d; });
    haproxy.stderr.on('data', (d) => { haOut += d; });
    for (let i = 0; !fs.existsSync(sock); i++) {
      if (i > 200) throw new Error(`haproxy did not start:\n${haOut}`);
      await sleep(25);
    }
    for (const n of NAMES) await waitStatus(sock, n, 'UP', 10000);
    const url = `http://127.0.0.1:${port}`;
    fig(`3 instances up behind HAProxy (check /gtg every ${CHECK_INTER_MS} ms, ` +
      `fall ${CHECK_FALL}, rise ${CHECK_RISE}), DynamoDB on dynalite over HTTPS`);

    // Steady load for the whole run, with every outcome timed.
    const results = [];
    load = startLoad({ url, clients: 12, names: `fleet-${tag}`, poolSize: 1e9,
      routes: ['post', 'get', 'gtg', 'gtg-details', 'get-missing'],
      timeoutMs: 15000, onResult: (r) => results.push(r) });
    const window = (from, to) => results.filter((r) => r.start >= from && r.start < to);
    const failedIn = (rs) => rs.filter((r) => !r.ok);
    const summary = (rs) => {
      const c = {};
      for (const r of rs) {
        const k = `${r.method} ${r.err ? 'error' : r.status}`;
        c[k] = (c[k] || 0) + 1;
      }
      return JSON.stringify(c);
    };

    // 1. Steady.
    let t = Date.now();
    await sleep(PHASE * 1000);
    const steady = window(t, Date.now());
    fig(`steady: ${steady.length} requests, ${failedIn(steady).length} failed`);
    check(steady.length > 50 && failedIn(steady).length === 0, 'steady load had failures');

    // 2. Instance b stops (SIGTERM to its stack: nginx, then the app).
    const before = await haproxyStat(sock);
    t = Date.now();
    const stopping = instances[1].stop();
    const ejectMs = await waitStatus(sock, 'b', 'DOWN', 10000);
    await stopping;
    await sleep(PHASE * 1000);
    const during = window(t, Date.now());
    const lost = failedIn(during);
    const bound = CHECK_INTER_MS * (CHECK_FALL + 1);
    fig(`instance b stopped: ejected after ${ejectMs} ms (bound ${bound} ms); ` +
      `${lost.length} of ${during.length} requests failed meanwhile ${summary(lost)}`);
    check(ejectMs <= bound, `ejection took ${ejectMs} ms`);
    // What b had in flight when its nginx went down, at most one per client.
    check(lost.length <= 12, `${lost.length} requests failed while b stopped`);

    // 3. Instance b is back, on its own state directory.
    t = Date.now();
    instances[1] = startInstance(tag, 1, dirs[1], envFor(1));
    await instances[1].ready;
    const readyMs = Date.now() - t;
    const rejoinMs = await waitStatus(sock, 'b', 'UP', 10000);
    const stotBack = (await haproxyStat(sock)).b.stot;
    await sleep(PHASE * 1000);
    const back = window(t, Date.now());
    const served = (await haproxyStat(sock)).b.stot - stotBack;
    fig(`instance b back: answering ${readyMs} ms after its start, UP in HAProxy ` +
      `${rejoinMs} ms later (bound ${CHECK_INTER_MS * (CHECK_RISE + 1)} ms), then served ` +
      `${served} requests; ${failedIn(back).length} of ${back.length} failed`);
    check(rejoinMs <= CHECK_INTER_MS * (CHECK_RISE + 1), `rejoining took ${rejoinMs} ms`);
    check(served > 0, 'b took no traffic after rejoining');
    check(failedIn(back).length === 0, 'failures while b rejoined');
    check(before.b.stot > 0, 'b served nothing before it stopped');

    // 4. The database stops: its endpoint refuses connections.
    t = Date.now();
    await fwd.close();
    await sleep(PHASE * 1000);
    const outage = window(t, Date.now());
    const data = outage.filter((r) => r.id !== 'gtg' && r.id !== 'gtg-details');
    const health = outage.filter((r) => r.id === 'gtg' || r.id === 'gtg-details');
    const data503 = data.filter((r) => r.status === 503);
    const slowest = Math.max(0, ...data.map((r) => r.end - r.start));
    const gtgDirect = [];
    for (const inst of instances) {
      const r = await send(`http://${inst.addr}`, new http.Agent(), 'GET', '/gtg', null, 5000);
      gtgDirect.push(r.status);
    }
    const stat = await haproxyStat(sock);
    const up = NAMES.filter((n) => stat[n].status.startsWith('UP'));
    fig(`database stopped: ${data503.length} of ${data.length} data requests 503 ` +
      `(slowest ${slowest} ms, deadline ${DB_DEADLINE_MS} ms), /gtg through HAProxy ` +
      `${health.filter((r) => r.status === 200).length}/${health.length} 200, /gtg on each ` +
      `instance ${gtgDirect.join(' ')}, instances UP: ${up.join(' ')}`);
    // A request sent just before the stop may still have made it.
    const stray = data.filter((r) => r.status !== 503 && r.start > t + 200);
    check(stray.length === 0, `data requests not 503 in the outage: ${summary(stray)}`);
    check(data503.length > 0, 'no 503 during the database outage');
    check(health.length > 0 && health.every((r) => r.status === 200), '/gtg failed in the outage');
    check(gtgDirect.every((s) => s === 200), `an instance's /gtg failed: ${gtgDirect}`);
    check(up.length === 3, `instances ejected for a database outage: ${JSON.stringify(stat)}`);
    check(slowest < DB_DEADLINE_MS + 1500, `a data request took ${slowest} ms`);
    check(data503.every((r) => r.ok === false), 'a 503 counted as success');

    // 5. The database is back.
    t = Date.now();
    await fwd.reopen();
    await sleep(PHASE * 1000);
    const after = window(t, Date.now());
    const firstOk = after.filter((r) => r.ok && r.id === 'post').sort((a, b) => a.end - b.end)[0];
    const lateFail = failedIn(after).filter((r) => r.start > t + 2000);
    fig(`database back: first acknowledged write ${firstOk ? firstOk.end - t : 'never'} ms ` +
      `after; ${failedIn(after).length} of ${after.length} failed (${lateFail.length} ` +
      'later than 2 s)');
    check(firstOk !== undefined && lateFail.length === 0, 'not recovered after the database');

    // 6. Every acknowledged write is readable.
    const stats = await load.stop();
    load = null;
    const res = await send(url, new http.Agent(), 'GET', '/candidates', null, 60000);
    const have = new Set(res.status === 200 ? JSON.parse(res.body).map((x) => x.CandidateName) : []);
    const missing = [...stats.acked.keys()].filter((n) => !have.has(n));
    fig(`${stats.acked.size} writes acknowledged with 200 over ${stats.requests} requests; ` +
      `${missing.length} missing from the listing at the end`);
    check(res.status === 200 && missing.length === 0 && stats.acked.size > 100,
      `acknowledged writes missing: ${missing.slice(0, 5)}`);
    console.log(`fleet: ${formatCounts(stats.counts)}`);
  } catch (err) {
    failures.push(err.message);
    console.log(`fleet: FAIL: ${err.stack}`);
  } finally {
    if (load) await load.stop();
    if (haproxy && haproxy.exitCode === null) {
      haproxy.kill('SIGTERM');
      await new Promise((r) => haproxy.once('exit', r));
    }
    const codes = [];
    for (const inst of instances) codes.push((await inst.stop()).code);
    if (fwd) await fwd.close();
    if (proxy) await proxy.stop();
    if (db) await db.stop();
    for (const inst of instances) {
      const log = fs.existsSync(inst.log) ? fs.readFileSync(inst.log, 'utf8') : '';
      if (!/candidates: stopped/.test(log)) failures.push(`instance ${inst.name} did not drain`);
    }
    if (codes.some((c) => c !== 0)) failures.push(`stack exit codes ${codes}`);
    fs.rmSync(work, { recursive: true, force: true });
  }
  console.log('\nfleet figures:');
  for (const f of figures) console.log(`  ${f}`);
  console.log(failures.length === 0 ? 'fleet: ok' : `fleet: FAIL (${failures.length})`);
  return failures.length === 0 ? 0 : 1;
}

if (process.argv[2] === '--inside') {
  inside().then((code) => process.exit(code), (err) => {
    console.error(err);
    process.exit(1);
  });
} else {
  process.exitCode = outside();
}
