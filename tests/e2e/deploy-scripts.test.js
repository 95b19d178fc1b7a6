'use strict';
// infra/deploy.sh, the user's one tool for a deployment: shellcheck-clean
// with the provisioning scripts, and its validate and load commands run
// for real against the local stack (they take any URL) and against a
// server that fails each step in turn.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { startStack, freePort } = require('../lib/stack.js');

const ROOT = path.resolve(__dirname, '..', '..');
const DEPLOY = path.join(ROOT, 'infra', 'deploy.sh');

// Runs deploy.sh without blocking the event loop (the fake server below
// lives in this process). Resolves to { code, out }.
function deploy(args, env = {}, timeoutMs = 60000, script = DEPLOY) {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [script, ...args], {
      cwd: ROOT,
      env: { ...process.env, AWS_REGION: 'us-east-1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`deploy.sh ${args.join(' ')} did not finish in ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

const CHECKS = ['good to go', 'insert', 'verify', 'list'];

test('the deployment and provisioning scripts pass shellcheck', () => {
  const files = [
    DEPLOY,
    ...fs.readdirSync(path.join(ROOT, 'images', 'provision')).filter((f) => f.endsWith('.sh'))
      .map((f) => path.join(ROOT, 'images', 'provision', f)),
    ...fs.readdirSync(path.join(ROOT, 'tests', 'infra')).filter((f) => f.endsWith('.sh'))
      .map((f) => path.join(ROOT, 'tests', 'infra', f)),
  ];
  assert.ok(files.length >= 7, `too few scripts found: ${files.join(' ')}`);
  const r = spawnSync('shellcheck', files, { encoding: 'utf8' });
  assert.equal(r.status, 0, `shellcheck:\n${r.stdout}${r.stderr}`);
});

test('deploy.sh explains its usage and refuses what it does not know', async () => {
  const rows = [
    { line: 1, args: [], code: 2, says: /infra\/deploy.sh aws apply/ },
    { line: 2, args: ['aws'], code: 2, says: /infra\/deploy.sh aws validate/ },
    { line: 3, args: ['aws', 'frobnicate'], code: 2, says: /check-env/ },
    { line: 4, args: ['azure', 'apply'], code: 1, says: /unknown cloud 'azure'.*\n.*what to do/ },
  ];
  for (const row of rows) {
    const r = await deploy(row.args);
    assert.equal(r.code, row.code, `row ${row.line}: exit code\n${r.out}`);
    assert.match(r.out, row.says, `row ${row.line}`);
  }
});

test('make validate and make load hand the URL to deploy.sh', () => {
  for (const [target, cmd] of [['validate', 'validate'], ['load', 'load']]) {
    const r = spawnSync('make', ['-n', target, 'URL=http://127.0.0.1:1'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`infra/deploy.sh aws ${cmd} http://127.0.0.1:1`));
  }
});

for (const web of ['nginx', 'lighttpd']) {
  test(`validate and load work against the local stack (${web})`, async () => {
    const stack = await startStack({ web });
    try {
      const v = await deploy(['aws', 'validate', stack.url], { VALIDATE_TIMEOUT: '20' });
      assert.equal(v.code, 0, `validate:\n${v.out}`);
      // Every check, in order, each with its mark.
      const marks = v.out.split('\n').filter((l) => /^\s+[✓✗]/.test(l)).map((l) => l.trim());
      assert.deepEqual(marks, CHECKS.map((c) => `✓ ${c}`), v.out);

      const l = await deploy(['aws', 'load', stack.url], { LOAD_SECONDS: '2', LOAD_BATCH: '300' });
      assert.equal(l.code, 0, `load:\n${l.out}`);
      const rounds = l.out.split('\n').filter((x) => x.startsWith('load: '));
      assert.ok(rounds.length >= 1, l.out);
      for (const r of rounds) {
        assert.match(r, /^load: \d+ requests in \d+ s \(200 x300\)$/, `every request must answer 200:\n${l.out}`);
      }
      assert.doesNotMatch(l.out, /group:/, 'a local URL has no group to report');
    } finally {
      await stack.stop();
    }
  });
}

// A server that answers like the API except where a row breaks it, so
// each check must notice its own failure and stop validate there.
let fake = null;
let fakeUrl = '';
let fault = '';
before(async () => {
  const names = new Set();
  fake = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const send = (status, body, type = 'application/json') => {
        res.writeHead(status, { 'Content-Type': type });
        res.end(body);
      };
      const m = req.url.match(/^\/candidate\/([^/?]+)$/);
      if (req.url === '/gtg') return fault === 'gtg' ? send(503, '', 'text/plain') : send(200, '', 'text/plain');
      if (m && req.method === 'POST') {
        if (fault === 'insert') return send(500, 'Unable to update', 'text/plain');
        names.add(m[1]);
        return send(200, `{"CandidateName":"${m[1]}"}\n`);
      }
      if (m && req.method === 'GET') {
        if (fault === 'verify' || !names.has(m[1])) return send(404, 'Not Found', 'text/plain');
        return send(200, `[{"CandidateName":"${m[1]}"}]\n`);
      }
      if (req.url === '/candidates') {
        const list = fault === 'list' ? [] : [...names];
        return send(200, `${JSON.stringify(list.map((n) => ({ CandidateName: n })))}\n`);
      }
      return send(404, 'Not Found', 'text/plain');
    });
  });
  const port = await freePort();
  await new Promise((resolve) => fake.listen(port, '127.0.0.1', resolve));
  fakeUrl = `http://127.0.0.1:${port}`;
});
after(() => fake?.close());

test('validate fails at the step that fails, with a mark and a non-zero exit', async () => {
  const rows = [
    { line: 1, fault: '', code: 0, last: '✓ list' },
    { line: 2, fault: 'gtg', code: 1, last: '✗ good to go' },
    { line: 3, fault: 'insert', code: 1, last: '✗ insert' },
    { line: 4, fault: 'verify', code: 1, last: '✗ verify' },
    { line: 5, fault: 'list', code: 1, last: '✗ list' },
  ];
  for (const row of rows) {
    fault = row.fault;
    const r = await deploy(['aws', 'validate', fakeUrl], { VALIDATE_TIMEOUT: '1' });
    assert.equal(r.code, row.code, `row ${row.line}: exit code\n${r.out}`);
    const marks = r.out.split('\n').filter((l) => /^\s+[✓✗]/.test(l)).map((l) => l.trim());
    assert.ok(marks.length > 0 && marks.at(-1).startsWith(row.last), `row ${row.line}: ${marks.join(' | ')}\n${r.out}`);
  }
});

test('validate gives up within its bound when nothing listens', async () => {
  const port = await freePort();
  const t0 = Date.now();
  const r = await deploy(['aws', 'validate', `http://127.0.0.1:${port}`], { VALIDATE_TIMEOUT: '2' });
  assert.equal(r.code, 1, r.out);
  assert.match(r.out, /✗ good to go: no 200 from \/gtg in 2 s/);
  assert.ok(Date.now() - t0 < 20000, `took ${Date.now() - t0} ms`);
});

// apply, check-env and destroy against stand-ins for aws, terraform, packer
// and curl that log their arguments: the phases' order, what each is
// given, what apply leaves for the next run, and how each failure stops it
// with what to do. In a copy of infra/ and images/, so nothing here writes
// into this work tree's deployment files.
const STUBS = {
  aws: `echo "aws $*" >>"$STUB_LOG"
case "$*" in
"sts get-caller-identity"*)
	[ "$STUB_FAIL" != sts ] || { echo "Unable to locate credentials" >&2; exit 255; }
	echo 123456789012 ;;
"configure get region") echo us-west-2 ;;
"ec2 describe-images"*) printf 'ami-0aaa\\tsnap-01 snap-02\\n' ;;
esac`,
  terraform: `echo "terraform $*" >>"$STUB_LOG"
case "$*" in
*" apply "*)
	n=$(grep -c ' apply ' "$STUB_LOG")
	[ "$STUB_FAIL" != "apply-$n" ] || { echo "Error: stand-in failure" >&2; exit 1; } ;;
*"output -raw packer_subnet_id") printf subnet-0123 ;;
*"output -raw url") printf http://candi-1.elb.example ;;
*"output -raw region") printf us-west-2 ;;
esac`,
  packer: `echo "packer $*" >>"$STUB_LOG"
case "$1" in
version) echo "Packer v1.6.6" ;;
build)
	[ "$STUB_FAIL" != packer ] || exit 1
	dir=\${*: -1}
	ls "$dir" >"$STUB_LOG.dir"
	src=$(printf '%s\\n' "$@" | sed -n 's/^source_root=//p')
	ami=ami-0123456789abcdef0
	[ "$STUB_FAIL" != manifest ] || ami=none
	printf '{"builds":[{"artifact_id":"us-west-2:%s"}]}' "$ami" >"$src/build/packer-manifest.json" ;;
esac`,
  curl: 'echo "curl $*" >>"$STUB_LOG"; echo 203.0.113.7',
};

function stubbed() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'candidates-deploy-'));
  fs.cpSync(path.join(ROOT, 'infra'), path.join(dir, 'infra'), {
    recursive: true, filter: (src) => !/(\.terraform|\.tfstate|\.auto\.tfvars)/.test(src),
  });
  fs.cpSync(path.join(ROOT, 'images'), path.join(dir, 'images'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'bin'));
  for (const [name, body] of Object.entries(STUBS)) {
    fs.writeFileSync(path.join(dir, 'bin', name), `#!/bin/bash\n${body}\n`, { mode: 0o755 });
  }
  const log = path.join(dir, 'calls.log');
  fs.writeFileSync(log, '');
  return {
    dir,
    run: (args, fail = '') => deploy(args, {
      PATH: `${path.join(dir, 'bin')}:/usr/bin:/bin`, STUB_LOG: log, STUB_FAIL: fail, AWS_REGION: '',
    }, 60000, path.join(dir, 'infra', 'deploy.sh')),
    calls: () => fs.readFileSync(log, 'utf8').trim().split('\n').filter(Boolean),
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

test('apply runs the three phases in order and hands the image to the last', async () => {
  const s = stubbed();
  try {
    const r = await s.run(['aws', 'apply']);
    assert.equal(r.code, 0, r.out);
    const phases = r.out.split('\n').filter((l) => l.startsWith('==> '));
    assert.deepEqual(phases.map((l) => l.replace(/:.*/, '')), [
      '==> checking the tools and the AWS account',
      '==> phase 1/3', '==> phase 2/3', '==> phase 3/3', '==> deployed',
    ]);
    assert.match(r.out, /deployed: http:\/\/candi-1\.elb\.example\nnext: make validate URL=http:\/\/candi-1\.elb\.example/);
    const calls = s.calls().map((c) => c.replace(`-chdir=${s.dir}/infra/aws `, ''));
    const tf = calls.filter((c) => c.startsWith('terraform '));
    assert.deepEqual(tf, [
      'terraform init -input=false',
      'terraform apply -auto-approve -input=false',
      'terraform output -raw packer_subnet_id',
      'terraform apply -auto-approve -input=false',
      'terraform output -raw url',
    ]);
    const build = calls.find((c) => c.startsWith('packer build'));
    for (const want of [`source_root=${s.dir}`, 'aws_region=us-west-2', 'aws_subnet_id=subnet-0123',
      'web_server=nginx', 'aws_ssh_cidrs=["203.0.113.7/32"]']) {
      assert.ok(build.includes(` -var ${want} `), `packer build lacks -var ${want}: ${build}`);
    }
    // Debian's 1.6.6 gets the template without the required_plugins file.
    const staged = fs.readFileSync(`${path.join(s.dir, 'calls.log')}.dir`, 'utf8').trim().split('\n');
    assert.deepEqual(staged, ['aws.pkr.hcl', 'build.pkr.hcl', 'variables.pkr.hcl']);
    assert.match(fs.readFileSync(path.join(s.dir, 'infra', 'aws', 'image.auto.tfvars'), 'utf8'),
      /^ami_id = "ami-0123456789abcdef0"$/m);
    // Phase 3 sees the image only through image.auto.tfvars, so a later
    // plain apply keeps it; the order above proves it was written first.
    assert.ok(calls.indexOf(build) < calls.lastIndexOf('terraform apply -auto-approve -input=false'));
  } finally {
    s.cleanup();
  }
});

test('apply and check-env stop at the first failure and say what to do', async () => {
  const rows = [
    { line: 1, fail: 'sts', says: /the AWS credentials do not work: Unable to locate credentials\n  what to do: run aws configure/, phase: 0 },
    { line: 2, fail: 'apply-1', says: /phase 1 failed\n  what to do: fix the error above and run apply again/, phase: 1 },
    { line: 3, fail: 'packer', says: /phase 2 \(packer\) failed; the network from phase 1 is still there\n  what to do:/, phase: 2 },
    { line: 4, fail: 'manifest', says: /no AMI id in build\/packer-manifest.json/, phase: 2 },
    { line: 5, fail: 'apply-2', says: /phase 3 failed\n  what to do:/, phase: 3 },
  ];
  for (const row of rows) {
    const s = stubbed();
    try {
      const r = await s.run(['aws', 'apply'], row.fail);
      assert.equal(r.code, 1, `row ${row.line}: exit code\n${r.out}`);
      assert.match(r.out, row.says, `row ${row.line}`);
      const reached = r.out.split('\n').filter((l) => /^==> phase \d/.test(l)).length;
      assert.equal(reached, row.phase, `row ${row.line}: phases started\n${r.out}`);
      assert.doesNotMatch(r.out, /==> deployed/, `row ${row.line}`);
      const tfvars = fs.existsSync(path.join(s.dir, 'infra', 'aws', 'image.auto.tfvars'));
      assert.equal(tfvars, row.phase === 3, `row ${row.line}: image.auto.tfvars only once an image exists`);
    } finally {
      s.cleanup();
    }
  }
  const s = stubbed();
  try {
    const r = await s.run(['aws', 'check-env']);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /✓ AWS account 123456789012, region us-west-2/);
  } finally {
    s.cleanup();
  }
});

test('destroy removes the stack, then every image and its snapshots, and asks first', async () => {
  const s = stubbed();
  try {
    fs.writeFileSync(path.join(s.dir, 'infra', 'aws', 'image.auto.tfvars'), 'ami_id = "ami-0aaa"\n');
    let r = await s.run(['aws', 'destroy']);
    assert.equal(r.code, 1, 'without a terminal and --yes, destroy must refuse');
    assert.match(r.out, /destroy deletes the table and its data\n  what to do: run it with --yes/);
    assert.ok(!s.calls().some((c) => / destroy |deregister|delete-snapshot/.test(c)), 'nothing may be deleted');

    r = await s.run(['aws', 'destroy', '--yes']);
    assert.equal(r.code, 0, r.out);
    const calls = s.calls().map((c) => c.replace(`-chdir=${s.dir}/infra/aws `, ''));
    const order = calls.filter((c) => / destroy |deregister-image|delete-snapshot/.test(c));
    assert.deepEqual(order, [
      'terraform destroy -auto-approve -input=false',
      'aws ec2 deregister-image --region us-west-2 --image-id ami-0aaa',
      'aws ec2 delete-snapshot --region us-west-2 --snapshot-id snap-01',
      'aws ec2 delete-snapshot --region us-west-2 --snapshot-id snap-02',
    ]);
    assert.ok(calls.some((c) => c.includes('describe-images') && c.includes('Name=tag:Project,Values=candidates') && c.includes('--owners self')));
    assert.ok(!fs.existsSync(path.join(s.dir, 'infra', 'aws', 'image.auto.tfvars')));
  } finally {
    s.cleanup();
  }
});
