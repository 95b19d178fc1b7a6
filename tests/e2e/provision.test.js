'use strict';
// The image's provisioning, proven for real: tests/infra/vm.sh runs
// Packer's provisioners on a fresh Debian 12 root (debootstrap, cached in
// tests/.cache/), starts the units the provisioning enabled the way
// systemd would at boot, and this test talks HTTP to it on loopback,
// then runs deploy.sh's validate against it as a user would against the
// load balancer. Once per web server, since each makes its own image.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { request, freePort } = require('../lib/stack.js');
const steps = require('../infra/packer-steps.js');

const ROOT = path.resolve(__dirname, '..', '..');
const VM_SH = path.join(ROOT, 'tests', 'infra', 'vm.sh');
const CACHE = path.join(ROOT, 'tests', '.cache', 'debian12');
const DEPLOY = path.join(ROOT, 'infra', 'deploy.sh');

function have(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}
const SKIP = process.getuid() !== 0 ? 'needs root (chroot and mounts): run make test as root'
  : !have('debootstrap') ? 'debootstrap is not installed (make test installs it)'
    : !have('packer') ? 'packer is not installed (make test installs it)'
      : false;

// Starts vm.sh and resolves once it says ready, with its pids.
function startVm(web, port, work) {
  const child = spawn('bash', [VM_SH, '--web', web, '--port', String(port), '--work', work, '--cache', CACHE], {
    cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const ready = new Promise((resolve, reject) => {
    child.stdout.on('data', () => {
      if (/^ready: http:\/\//m.test(out)) resolve();
    });
    exited.then((r) => reject(new Error(`vm.sh exited (${JSON.stringify(r)}) before it was ready:\n${out}`)));
  });
  const pids = () => Object.fromEntries([...out.matchAll(/^pid (\S+) (\d+)$/gm)].map((m) => [m[1], Number(m[2])]));
  return { child, ready, exited, pids, output: () => out };
}

function status(pid) {
  return Object.fromEntries(fs.readFileSync(`/proc/${pid}/status`, 'utf8').trim().split('\n')
    .map((l) => l.split(/:\s*/, 2)));
}

function run(cmd, args, env = {}) {
  return new Promise((resolve) => {
    const c = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    c.stdout.on('data', (d) => { out += d; });
    c.stderr.on('data', (d) => { out += d; });
    c.once('exit', (code) => resolve({ code, out }));
  });
}

for (const web of ['nginx', 'lighttpd']) {
  test(`the image's provisioning serves the API from a Debian 12 chroot (${web})`, { skip: SKIP, timeout: 20 * 60000 }, async (t) => {
    fs.mkdirSync(path.join(CACHE, 'runs'), { recursive: true });
    const work = fs.mkdtempSync(path.join(CACHE, 'runs', `${web}-`));
    const port = await freePort();
    const vm = startVm(web, port, work);
    const root = path.join(work, 'root');
    const url = `http://127.0.0.1:${port}`;
    let stopped = false;
    try {
      await vm.ready;
      for (const l of vm.output().split('\n').filter((x) => /\] (provisioned|debootstrap|copying)/.test(x))) t.diagnostic(l);

      // The API, through the web server and the socket the units made.
      let r = await request(url, 'GET', '/gtg');
      assert.equal(r.status, 200);
      assert.equal(r.body.length, 0);
      r = await request(url, 'POST', '/candidate/vm%20test', { body: '' });
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json(), { CandidateName: 'vm test' });
      r = await request(url, 'GET', '/candidate/vm%20test');
      assert.deepEqual(r.json(), [{ CandidateName: 'vm test' }]);
      r = await request(url, 'GET', '/candidates');
      assert.deepEqual(r.json(), [{ CandidateName: 'vm test' }]);

      // And as a user checks a deployment.
      const v = await run('bash', [DEPLOY, 'aws', 'validate', url], { VALIDATE_TIMEOUT: '10' });
      assert.equal(v.code, 0, v.out);
      assert.match(v.out, /✓ good to go\n.*✓ insert\n.*✓ verify\n.*✓ list/);

      // What the unit asked for: the app unprivileged, without new
      // privileges or capabilities, on a socket only the web server's
      // group may use, its data where ReadWritePaths= allows.
      const pids = vm.pids();
      const app = status(pids['candidates.service']);
      const uid = (name) => Number(fs.readFileSync(path.join(root, 'etc', 'passwd'), 'utf8')
        .split('\n').find((l) => l.startsWith(`${name}:`)).split(':')[2]);
      const gid = (name) => Number(fs.readFileSync(path.join(root, 'etc', 'group'), 'utf8')
        .split('\n').find((l) => l.startsWith(`${name}:`)).split(':')[2]);
      assert.equal(app.Name, 'candidates', 'spawn-fcgi must exec the app itself');
      assert.deepEqual(app.Uid.split('\t').map(Number), Array(4).fill(uid('candidates')));
      assert.equal(app.NoNewPrivs, '1');
      assert.equal(BigInt(`0x${app.CapEff}`), 0n);
      assert.equal(BigInt(`0x${app.CapBnd}`), (1n << 0n) | (1n << 3n) | (1n << 6n) | (1n << 7n),
        'bounding set: chown, fowner, setgid, setuid');
      // /run is vm.sh's own tmpfs: seen through the app's root.
      const sock = fs.statSync(`/proc/${pids['candidates.service']}/root/run/candidates/fcgi.sock`);
      assert.ok(sock.isSocket());
      assert.equal(sock.mode & 0o777, 0o660);
      assert.equal(sock.uid, uid('candidates'));
      assert.equal(sock.gid, gid('www-data'));
      assert.ok(fs.statSync(path.join(root, 'var', 'lib', 'candidates', 'candidates.db')).size > 0);

      // The unit as installed: spawn-fcgi in the foreground (-n), so the
      // app is the main process and systemd restarts it when it fails; and
      // the sandbox asked for.
      const unit = unitDirectives(fs.readFileSync(path.join(root, 'etc', 'systemd', 'system', 'candidates.service'), 'utf8'));
      for (const row of [
        { line: __LINE__(), key: 'Service.Restart', want: ['on-failure'] },
        // A start that fails at boot (a slow metadata service) is retried
        // every 2 s for as long as it takes: systemd's default limit, 5
        // starts in 10 s, gave up after about a second.
        { line: __LINE__(), key: 'Service.RestartSec', want: ['2s'] },
        { line: __LINE__(), key: 'Unit.StartLimitIntervalSec', want: ['0'] },
        { line: __LINE__(), key: 'Service.ProtectSystem', want: ['strict'] },
        { line: __LINE__(), key: 'Service.PrivateTmp', want: ['yes'] },
        { line: __LINE__(), key: 'Service.ReadWritePaths', want: ['/var/lib/candidates'] },
      ]) {
        assert.deepEqual(unit[row.key] ?? [], row.want, `row ${row.line}: ${row.key}`);
      }
      const exec = (unit['Service.ExecStart'] ?? [''])[0].split(/\s+/);
      assert.equal(exec[0], '/usr/bin/spawn-fcgi', 'ExecStart runs spawn-fcgi');
      assert.ok(exec.slice(0, exec.indexOf('--')).includes('-n'), `spawn-fcgi must stay in the foreground (-n): ${exec.join(' ')}`);

      // ...and in effect, as vm.sh applies it the way systemd does: the
      // app's own mount table has / read-only but its data and socket
      // directories, and a /tmp and /var/tmp of its own.
      const appPid = pids['candidates.service'];
      const mounts = new Map(fs.readFileSync(`/proc/${appPid}/mountinfo`, 'utf8').trim().split('\n').map((l) => {
        const f = l.split(' ');
        return [f[4], { opts: f[5].split(','), type: f[f.indexOf('-') + 1] }];
      }));
      for (const row of [
        { line: __LINE__(), at: '/', opt: 'ro' },
        { line: __LINE__(), at: '/var/lib/candidates', opt: 'rw' },
        { line: __LINE__(), at: '/run/candidates', opt: 'rw' },
        { line: __LINE__(), at: '/tmp', opt: 'rw', type: 'tmpfs' },
        { line: __LINE__(), at: '/var/tmp', opt: 'rw', type: 'tmpfs' },
      ]) {
        const m = mounts.get(row.at);
        assert.ok(m, `row ${row.line}: no mount at ${row.at} for the app:\n${[...mounts.keys()].join(' ')}`);
        assert.ok(m.opts.includes(row.opt), `row ${row.line}: ${row.at} is ${m.opts.join(',')}, not ${row.opt}`);
        if (row.type) assert.equal(m.type, row.type, `row ${row.line}: ${row.at}`);
      }
      // Even root cannot write outside ReadWritePaths= in the app's view,
      // and a file in the machine's /tmp is not in the app's.
      assert.throws(() => fs.writeFileSync(`/proc/${appPid}/root/etc/candidates-probe`, ''), { code: 'EROFS' });
      fs.writeFileSync(path.join(root, 'tmp', 'candidates-probe'), '');
      assert.ok(!fs.existsSync(`/proc/${appPid}/root/tmp/candidates-probe`), 'the app shares the machine\'s /tmp');
      fs.rmSync(path.join(root, 'tmp', 'candidates-probe'));

      // What the image must and must not hold.
      for (const f of ['usr/local/bin/candidates', 'usr/bin/stress-ng', 'etc/default/candidates',
        'etc/systemd/system/candidates.service', `etc/systemd/system/${web}.service.d/candidates.conf`]) {
        assert.ok(fs.existsSync(path.join(root, f)), `the image lacks /${f}`);
      }
      for (const f of ['usr/bin/gcc', 'usr/bin/cc', 'usr/include/fcgiapp.h', 'tmp/candidates']) {
        assert.ok(!fs.existsSync(path.join(root, f)), `the image still has /${f}`);
      }
      assert.equal(fs.readFileSync(path.join(root, 'etc', 'machine-id'), 'utf8'), '',
        'every instance must make its own machine id');
      // Nothing at boot reaches for the internet: an instance in a private
      // subnet has no route to Debian's mirrors, and updates come as a new
      // image.
      for (const timer of ['apt-daily.timer', 'apt-daily-upgrade.timer']) {
        assert.equal(fs.readlinkSync(path.join(root, 'etc', 'systemd', 'system', timer)), '/dev/null', `${timer} must be masked`);
      }

      // The store the image ships: what var.store says for an image for no
      // cloud (a cloud's own is packer.test.js's), filled in by store.sh.
      const envFile = path.join(root, 'etc', 'default', 'candidates');
      const shipped = fs.readFileSync(envFile, 'utf8');
      const parsed = await steps.parseAll();
      const store = Object.values(parsed).find((d) => d.variable?.store)?.variable.store[0].default;
      assert.equal(store, 'sqlite');
      assert.match(shipped, new RegExp(`^CANDIDATES_STORE=${store}$`, 'm'));
      assert.doesNotMatch(shipped, /@[A-Z_]+@/, 'a placeholder is left in /etc/default/candidates');

      // systemd's own reading of the units, where the host has it.
      if (have('systemd-analyze')) {
        const a = spawnSync('systemd-analyze', ['verify', `--root=${root}`, 'candidates.service', `${web}.service`],
          { encoding: 'utf8' });
        assert.equal(a.status, 0, `systemd-analyze verify:\n${a.stdout}${a.stderr}`);
      } else {
        t.diagnostic('systemd-analyze is not installed: unit syntax not verified');
      }

      // Stopping like systemd: the web server, then the app, which must
      // drain and exit 0 on SIGTERM.
      vm.child.kill('SIGTERM');
      const end = await vm.exited;
      stopped = true;
      assert.equal(end.code, 0, vm.output());
      assert.match(vm.output(), /stopped candidates\.service \(exit 0\)/);
      const order = [...vm.output().matchAll(/stopped (\S+)/g)].map((m) => m[1]);
      assert.deepEqual(order, [`${web}.service`, 'candidates.service']);

      // store.sh in the finished image, as the AWS build runs it: a store
      // the image has a module for is written, anything else stops the
      // build and leaves the file as it was.
      const storeSh = fs.readFileSync(path.join(ROOT, 'images', 'provision', 'store.sh'));
      for (const row of [
        { line: __LINE__(), store: 'dynamodb', code: 0, want: 'dynamodb' },
        { line: __LINE__(), store: 'nosuch', code: 2, want: 'dynamodb', says: /no store_nosuch\.so/ },
        { line: __LINE__(), store: '../x', code: 2, want: 'dynamodb', says: /must be a store's name/ },
        { line: __LINE__(), store: '', code: 2, want: 'dynamodb', says: /STORE must name/ },
        { line: __LINE__(), store: 'sqlite', code: 0, want: 'sqlite' },
      ]) {
        const r = spawnSync('chroot', [root, '/usr/bin/env', '-i', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin',
          `STORE=${row.store}`, '/bin/sh', '-s'], { input: storeSh, encoding: 'utf8' });
        const out = r.stdout + r.stderr;
        assert.equal(r.status, row.code, `row ${row.line}: ${out}`);
        if (row.says) assert.match(out, row.says, `row ${row.line}`);
        const now = fs.readFileSync(envFile, 'utf8');
        assert.equal(now, shipped.replace(/^CANDIDATES_STORE=.*$/m, `CANDIDATES_STORE=${row.want}`),
          `row ${row.line}: /etc/default/candidates`);
        assert.equal(fs.statSync(envFile).mode & 0o777, 0o644, `row ${row.line}`);
      }

      // Each cloud's own store step, as Packer runs it for that cloud's
      // source (its execute_command and environment, from the template),
      // in this image: it names the cloud's store, whose module the image
      // has because the Makefile builds it (MODULES, set and appended to:
      // app.sh's make install installs them all). The refusal of a store
      // without a module is the nosuch row above.
      const modules = [...fs.readFileSync(path.join(ROOT, 'Makefile'), 'utf8')
        .matchAll(/^MODULES\s*\+?=\s*(.*)$/gm)].flatMap((m) => m[1].trim().split(/\s+/));
      for (const m of modules) {
        assert.ok(fs.existsSync(path.join(root, 'usr', 'local', 'lib', 'candidates', `store_${m}.so`)),
          `the Makefile builds store_${m}.so but the image lacks it`);
      }
      const before = fs.readFileSync(envFile, 'utf8');
      for (const row of [
        { line: __LINE__(), source: 'amazon-ebs.debian', store: 'dynamodb' },
        { line: __LINE__(), source: 'azure-arm.debian', store: 'cosmos' },
        { line: __LINE__(), source: 'googlecompute.debian', store: 'firestore' },
      ]) {
        assert.ok(modules.includes(row.store), `row ${row.line}: the Makefile's MODULES (${modules.join(' ')}) lack ${row.store}`);
        const list = await steps.provisionSteps({ source_root: ROOT }, steps.IMAGES, row.source);
        const step = list.find((s) => !s.skip && (s.script ?? '').endsWith('/store.sh'));
        assert.ok(step, `row ${row.line}: ${row.source} has no store.sh step`);
        assert.deepEqual(step.environment_vars, [`STORE=${row.store}`], `row ${row.line}`);
        const r = packerShell(root, step);
        assert.equal(r.status, 0, `row ${row.line}: ${r.stdout}${r.stderr}`);
        assert.match(r.stdout, new RegExp(`CANDIDATES_STORE=${row.store}$`, 'm'), `row ${row.line}`);
        assert.equal(fs.readFileSync(envFile, 'utf8'),
          before.replace(/^CANDIDATES_STORE=.*$/m, `CANDIDATES_STORE=${row.store}`), `row ${row.line}`);
        fs.writeFileSync(envFile, before);
      }
    } catch (err) {
      err.message += `\n--- vm.sh:\n${vm.output()}`;
      for (const f of ['provision.log', 'candidates.service.log', `${web}.service.log`]) {
        const p = path.join(work, f);
        if (fs.existsSync(p)) err.message += `\n--- ${f} (tail):\n${fs.readFileSync(p, 'utf8').split('\n').slice(-40).join('\n')}`;
      }
      throw err;
    } finally {
      if (!stopped) {
        vm.child.kill('SIGTERM');
        await Promise.race([vm.exited, new Promise((r) => setTimeout(r, 30000).unref())]);
        vm.child.kill('SIGKILL');
      }
      // From this process's mount namespace, where the root has no mounts.
      fs.rmSync(work, { recursive: true, force: true });
    }
  });
}

// Runs one of Packer's shell steps in the root as the shell provisioner
// does: the script uploaded to /tmp, then its execute_command with Packer's
// {{ .Vars }} and {{ .Path }}. Returns spawnSync's result.
function packerShell(root, step) {
  const remote = '/tmp/packer-step.sh';
  fs.copyFileSync(step.script, path.join(root, remote));
  const vars = ['PACKER_BUILDER_TYPE=\'chroot\'', ...step.environment_vars.map((v) => `${v.split('=')[0]}='${v.slice(v.indexOf('=') + 1)}'`)].join(' ');
  const cmd = step.execute_command.replace(/\{\{ ?\.Path ?\}\}/g, remote).replace(/\{\{ ?\.Vars ?\}\}/g, vars);
  try {
    return spawnSync('chroot', [root, '/usr/bin/env', '-i', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin', '/bin/sh', '-c', cmd],
      { encoding: 'utf8' });
  } finally {
    fs.rmSync(path.join(root, remote), { force: true });
  }
}

// A unit file's directives as { "Section.Key": [values] }, in order.
function unitDirectives(text) {
  const out = {};
  let section = '';
  for (const line of text.split('\n')) {
    const m = line.match(/^\[(.+)\]$/);
    if (m) section = m[1];
    else if (/^\w+=/.test(line)) {
      const i = line.indexOf('=');
      (out[`${section}.${line.slice(0, i)}`] ??= []).push(line.slice(i + 1));
    }
  }
  return out;
}

// The line a table row was written on, so a failure names its row.
function __LINE__() {
  const line = new Error().stack.split('\n')[2].match(/:(\d+):\d+\)?$/);
  return line ? Number(line[1]) : 0;
}
