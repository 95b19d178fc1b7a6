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

// Every shell script of the repository: *.sh, and any file whose first
// line starts a shell (.ci/run). Not what git ignores (build/, var/,
// tests/.cache/, node_modules/, .terraform/), which is not ours.
function shellScripts(dir = ROOT, out = []) {
  const skip = new Set(['.git', 'node_modules', '.terraform', '.cache']);
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (!skip.has(e.name) && !(dir === ROOT && ['build', 'var'].includes(e.name))) {
        shellScripts(p, out);
      }
      continue;
    }
    if (!e.isFile()) continue;
    const head = Buffer.alloc(128);
    const fd = fs.openSync(p, 'r');
    const n = fs.readSync(fd, head, 0, head.length, 0);
    fs.closeSync(fd);
    const first = head.subarray(0, n).toString('latin1').split('\n')[0];
    if (e.name.endsWith('.sh') || /^#!\s*\S*\/(env\s+)?(ba|da)?sh(\s|$)/.test(first)) {
      out.push(p);
    }
  }
  return out;
}

test('every shell script passes shellcheck', () => {
  const files = shellScripts();
  // The walk must find what it is meant to, or the test proves nothing.
  for (const f of [DEPLOY, 'tests/stack.sh', 'tests/deps.sh', '.ci/run',
    'tests/fuzz/run.sh', 'images/provision/app.sh', 'tests/infra/vm.sh']) {
    assert.ok(files.includes(path.resolve(ROOT, f)), `${f} not found among ${files.join(' ')}`);
  }
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
"ec2 describe-images"*)
	[ "$STUB_FAIL" != describe-images ] || { echo "An error occurred (RequestLimitExceeded)" >&2; exit 254; }
	printf 'ami-0aaa\\tsnap-01 snap-02\\n' ;;
"autoscaling describe-auto-scaling-groups"*)
	[ "$STUB_FAIL" != describe-asg ] || exit 254
	printf '3\\t2\\n' ;;
"ssm send-command"*)
	[ "$STUB_FAIL" != ssm ] || exit 254
	echo 0123abcd ;;
esac`,
  terraform: `echo "terraform $*" >>"$STUB_LOG"
case "$*" in
*" apply "*)
	n=$(grep -c ' apply ' "$STUB_LOG")
	[ "$STUB_FAIL" != "apply-$n" ] || { echo "Error: stand-in failure" >&2; exit 1; } ;;
*"output -raw packer_subnet_id") printf subnet-0123 ;;
*"output -raw url") printf http://candi-1.elb.example ;;
*"output -raw region") printf us-west-2 ;;
*"output -raw asg_name") [ "$STUB_FAIL" = no-asg ] || printf candidates-asg-1 ;;
*"output -raw name")
	# Terraform's var.name from the state; without STUB_NAME, no state.
	[ -n "$STUB_NAME" ] || { echo "Error: No outputs found" >&2; exit 1; }
	printf %s "$STUB_NAME" ;;
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
  // checkip's address; for load, the API's answers: one per request of a
  // curl -K round, and the POST deploy.sh makes first.
  curl: `echo "curl $*" >>"$STUB_LOG"
case "$*" in
*" -K "*) n=$(grep -c '^url = ' "\${@: -1}"); for ((i = 0; i < n; i++)); do echo 200; done ;;
*/candidate/*) printf '{"CandidateName":"load-test"}\\n200' ;;
*) echo 203.0.113.7 ;;
esac`,
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
    run: (args, fail = '', env = {}) => deploy(args, {
      PATH: `${path.join(dir, 'bin')}:/usr/bin:/bin`, STUB_LOG: log, STUB_FAIL: fail, AWS_REGION: '',
      STUB_NAME: '', TF_VAR_name: '', LOAD_CPU: '', ...env,
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
      'terraform output -raw name',
      'terraform apply -auto-approve -input=false',
      'terraform output -raw url',
    ]);
    const build = calls.find((c) => c.startsWith('packer build'));
    for (const want of [`source_root=${s.dir}`, 'aws_region=us-west-2', 'aws_subnet_id=subnet-0123',
      'web_server=nginx', 'deployment=candidates', 'aws_ssh_cidrs=["203.0.113.7/32"]']) {
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

// The images carry the deployment's name (Terraform's var.name) as their
// Project tag, and destroy deletes the images of that name only: another
// deployment in the same region keeps its own. A listing that fails stops
// destroy before it claims success.
test('images are tagged with the deployment\'s name, and destroy removes that deployment\'s only', async () => {
  const rows = [
    { line: __LINE__(), env: { STUB_NAME: 'blue' }, name: 'blue', code: 0, apply: true },
    { line: __LINE__(), env: { TF_VAR_name: 'green' }, name: 'green', code: 0 },
    { line: __LINE__(), env: {}, name: 'candidates', code: 0 },
    {
      line: __LINE__(), env: { STUB_NAME: 'blue' }, fail: 'describe-images', name: 'blue', code: 1,
      says: /\(RequestLimitExceeded\)\ndeploy.sh: could not list the images of blue in us-west-2; they and their snapshots are still there\n  what to do: .*TF_VAR_name=blue/,
    },
  ];
  for (const row of rows) {
    const s = stubbed();
    try {
      const strip = (c) => c.replace(`-chdir=${s.dir}/infra/aws `, '');
      if (row.apply) {
        const a = await s.run(['aws', 'apply'], '', row.env);
        assert.equal(a.code, 0, `row ${row.line}: apply\n${a.out}`);
        const build = s.calls().find((c) => c.startsWith('packer build')) ?? '';
        assert.ok(build.includes(` -var deployment=${row.name} `), `row ${row.line}: ${build}`);
        fs.writeFileSync(path.join(s.dir, 'calls.log'), '');
      }
      const r = await s.run(['aws', 'destroy', '--yes'], row.fail ?? '', row.env);
      assert.equal(r.code, row.code, `row ${row.line}: exit code\n${r.out}`);
      const calls = s.calls().map(strip);
      const listing = calls.filter((c) => c.startsWith('aws ec2 describe-images'));
      assert.equal(listing.length, 1, `row ${row.line}: ${listing.join('\n')}`);
      assert.deepEqual(listing[0].match(/Name=tag:[^ ]*/g), [`Name=tag:Project,Values=${row.name}`], `row ${row.line}`);
      assert.ok(listing[0].includes('--owners self'), `row ${row.line}`);
      const deleted = calls.filter((c) => /deregister-image|delete-snapshot/.test(c));
      if (row.code === 0) {
        assert.match(r.out, new RegExp(`==> deregistering the images of ${row.name} \\(tag Project=${row.name}\\)`), `row ${row.line}`);
        assert.equal(deleted.length, 3, `row ${row.line}: ${deleted.join('\n')}`);
        assert.match(r.out, /==> destroyed\n$/, `row ${row.line}`);
      } else {
        assert.match(r.out, row.says, `row ${row.line}`);
        assert.deepEqual(deleted, [], `row ${row.line}`);
        assert.doesNotMatch(r.out, /destroyed/, `row ${row.line}`);
      }
    } finally {
      s.cleanup();
    }
  }
});

// load against a deployment: the group's size on every round line, and
// with LOAD_CPU=1 stress-ng on the instances through SSM first.
test('load against a deployment prints the group\'s size and starts stress-ng through SSM', async () => {
  const URL = 'http://candi-1.elb.example';
  const SSM = 'aws ssm send-command --region us-west-2 --document-name AWS-RunShellScript'
    + ' --targets Key=tag:aws:autoscaling:groupName,Values=candidates-asg-1'
    + ' --parameters commands=["stress-ng --cpu 0 --cpu-load 90 --timeout 1s"]'
    + ' --query Command.CommandId --output text';
  const rows = [
    { line: __LINE__(), cpu: '', code: 0, ssm: false, group: 'desired 3, in service 2' },
    { line: __LINE__(), cpu: '1', code: 0, ssm: true, group: 'desired 3, in service 2' },
    { line: __LINE__(), cpu: '', fail: 'describe-asg', code: 0, ssm: false, group: 'size unknown (describe-auto-scaling-groups failed)' },
    { line: __LINE__(), cpu: '1', fail: 'ssm', code: 1, says: /SSM could not start stress-ng\n  what to do: / },
    { line: __LINE__(), cpu: '', fail: 'no-asg', code: 1, says: /no Auto Scaling Group in .*'s state\n  what to do: run make deploy-aws first/ },
  ];
  for (const row of rows) {
    const s = stubbed();
    try {
      const r = await s.run(['aws', 'load', URL], row.fail ?? '', { LOAD_SECONDS: '1', LOAD_BATCH: '5', LOAD_CPU: row.cpu });
      assert.equal(r.code, row.code, `row ${row.line}: exit code\n${r.out}`);
      const calls = s.calls();
      if (row.code !== 0) {
        assert.match(r.out, row.says, `row ${row.line}`);
        assert.ok(!calls.some((c) => c.includes(' -K ')), `row ${row.line}: no load after a failure`);
        continue;
      }
      const rounds = r.out.split('\n').filter((x) => x.startsWith('load: '));
      assert.ok(rounds.length >= 1, `row ${row.line}\n${r.out}`);
      for (const l of rounds) {
        assert.equal(l.replace(/^load: \d+ requests in \d+ s/, ''), ` (200 x5); group: ${row.group}`, `row ${row.line}`);
      }
      const asked = calls.filter((c) => c.startsWith('aws autoscaling describe-auto-scaling-groups'));
      assert.equal(asked.length, rounds.length, `row ${row.line}: one size per round`);
      for (const c of asked) assert.match(c, /--region us-west-2 --auto-scaling-group-names candidates-asg-1 /, `row ${row.line}`);
      const ssm = calls.filter((c) => c.startsWith('aws ssm '));
      assert.deepEqual(ssm, row.ssm ? [SSM] : [], `row ${row.line}`);
      if (row.ssm) {
        assert.ok(calls.indexOf(SSM) < calls.findIndex((c) => c.includes(' -K ')), `row ${row.line}: stress-ng before the traffic`);
        assert.match(r.out, /✓ stress-ng runs on the group's instances for 1 s/, `row ${row.line}`);
      }
      assert.match(r.out, /aws autoscaling describe-auto-scaling-groups --region us-west-2 --auto-scaling-group-names candidates-asg-1\n$/, `row ${row.line}`);
    } finally {
      s.cleanup();
    }
  }
});

// The line a table row was written on, so a failure names its row.
function __LINE__() {
  const line = new Error().stack.split('\n')[2].match(/:(\d+):\d+\)?$/);
  return line ? Number(line[1]) : 0;
}
