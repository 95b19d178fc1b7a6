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
  for (const f of [DEPLOY, 'infra/aws/deploy.sh', 'tests/stack.sh', 'tests/deps.sh', '.ci/run',
    'tests/fuzz/run.sh', 'images/provision/app.sh', 'tests/infra/vm.sh']) {
    assert.ok(files.includes(path.resolve(ROOT, f)), `${f} not found among ${files.join(' ')}`);
  }
  const r = spawnSync('shellcheck', files, { encoding: 'utf8' });
  assert.equal(r.status, 0, `shellcheck:\n${r.stdout}${r.stderr}`);
});

test('deploy.sh explains its usage and refuses what it does not know', async () => {
  const rows = [
    { line: 1, args: [], code: 2, says: /infra\/deploy.sh <cloud> apply/ },
    { line: 2, args: ['aws'], code: 2, says: /infra\/deploy.sh <cloud> validate/ },
    { line: 3, args: ['aws', 'frobnicate'], code: 2, says: /check-env/ },
    { line: 4, args: ['azure', 'apply'], code: 1, says: /unknown cloud 'azure'\n {2}what to do: use one of: aws $/m },
    { line: 5, args: ['../aws', 'apply'], code: 1, says: /unknown cloud '\.\.\/aws'/ },
    { line: 6, args: ['aws', 'destroy', '--force'], code: 1, says: /destroy takes --yes and --delete-table, not '--force'/ },
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

// apply, check-env, load and destroy against stand-ins for aws, terraform,
// packer and curl that log their arguments: the phases' order, what each
// is given, how each failure stops it with what to do. In a copy of infra/
// and images/, so nothing here writes into this work tree's deployment
// files. The stand-ins keep their state (a round counter, the names
// validate wrote) in files beside the log.
const STUBS = {
  aws: `echo "aws $*" >>"$STUB_LOG"
n() { f="$STUB_LOG.$1"; c=$(($(cat "$f" 2>/dev/null || echo 0) + 1)); echo "$c" >"$f"; echo "$c"; }
case "$*" in
"sts get-caller-identity"*)
	[ "$STUB_FAIL" != sts ] || { echo "Unable to locate credentials" >&2; exit 255; }
	echo 123456789012 ;;
"configure get region") echo us-west-2 ;;
"dynamodb describe-table"*) [ -n "$STUB_TABLE_EXISTS" ] || exit 254; echo '{}' ;;
"ec2 describe-images"*)
	[ "$STUB_FAIL" != describe-images ] || { echo "An error occurred (RequestLimitExceeded)" >&2; exit 254; }
	printf 'ami-0aaa\\tsnap-01 snap-02\\n' ;;
"autoscaling describe-instance-refreshes"*)
	r=$(n refresh)
	if [ "$r" -lt 3 ]; then printf 'ir-1\\tInProgress\\t%d\\n' $((r * 40))
	elif [ "$STUB_FAIL" = roll ]; then printf 'ir-1\\tRollbackSuccessful\\t0\\n'
	else printf 'ir-1\\tSuccessful\\t100\\n'; fi ;;
"autoscaling describe-auto-scaling-groups"*InstanceId*)
	# Instances come into service one a round: i-1 and i-2, then i-3, i-4.
	r=$(cat "$STUB_LOG.round" 2>/dev/null || echo 0)
	k=$((r + 1 < 4 ? r + 1 : 4)); [ "$k" -ge 2 ] || k=2
	for i in $(seq "$k"); do printf 'i-%d\\t' "$i"; done; echo ;;
"autoscaling describe-auto-scaling-groups"*)
	[ "$STUB_FAIL" != describe-asg ] || exit 254
	r=$(n round)
	d=$((r + 1 < 4 ? r + 1 : 4)); [ "$d" -ge 2 ] || d=2
	printf '%d\\t%d\\n' "$d" $((d > 2 ? d - 1 : 2)) ;;
"cloudwatch get-metric-statistics"*)
	r=$(cat "$STUB_LOG.round" 2>/dev/null || echo 0)
	if [ "$r" -le 1 ]; then echo None; else echo "$((60 + r * 5)).4"; fi ;;
"ssm send-command"*)
	[ "$STUB_FAIL" != ssm ] || exit 254
	case "$*" in *"--instance-ids i-3 "*) [ "$(n ssm-i-3)" -gt 1 ] || exit 254 ;; esac
	echo 0123abcd ;;
esac`,
  terraform: `protection=\${TF_VAR_table_deletion_protection:+ (TF_VAR_table_deletion_protection=$TF_VAR_table_deletion_protection)}
echo "terraform $*$protection" >>"$STUB_LOG"
case "$*" in
*" apply "*)
	n=$(grep -c ' apply ' "$STUB_LOG")
	[ "$STUB_FAIL" != "apply-$n" ] || { echo "Error: stand-in failure" >&2; exit 1; } ;;
*" state list") printf '%s' "$STUB_STATE" ;;
*" console") cat >/dev/null; echo '"Candidates"' ;;
*"output -raw packer_subnet_id") printf subnet-0123 ;;
*"output -raw web_port") printf 8080 ;;
*"output -raw url") printf http://127.0.0.1:9 ;;
*"output -raw region") printf us-west-2 ;;
*"output -raw table_name") [ -z "$STUB_STATE" ] || printf Candidates ;;
*"output -raw ami_id") if [ "$STUB_FAIL" = other-ami ]; then printf ami-0fff; else printf ami-0123456789abcdef0; fi ;;
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
  // checkip's address; the API's answers to validate (it remembers the
  // names it was sent) and to load: one per request of a curl -K round.
  curl: `echo "curl $*" >>"$STUB_LOG"
url=\${@: -1} method=GET
[[ " $* " != *" -X POST "* ]] || method=POST
case "$method $url" in
*" -K "*) ;;
"GET "*/gtg) printf '\\n200'; exit 0 ;;
"POST "*/candidate/*) echo "\${url##*/}" >>"$STUB_LOG.names"; printf '{"CandidateName":"%s"}\\n\\n200' "\${url##*/}"; exit 0 ;;
"GET "*/candidate/*) printf '[{"CandidateName":"%s"}]\\n\\n200' "\${url##*/}"; exit 0 ;;
"GET "*/candidates) printf '['; sed 's/.*/{"CandidateName":"&"}/' "$STUB_LOG.names" | paste -sd,; printf ']\\n\\n200'; exit 0 ;;
esac
case "$*" in
*" -K "*) n=$(grep -c '^url = ' "\${@: -1}"); for ((i = 0; i < n; i++)); do echo 200; done ;;
*) echo 203.0.113.7 ;;
esac`,
};

function stubbed() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'candidates-deploy-'));
  fs.cpSync(path.join(ROOT, 'infra'), path.join(dir, 'infra'), {
    recursive: true, filter: (src) => !/(\.terraform|\.tfstate|\.auto\.tfvars|_override\.tf)/.test(src),
  });
  fs.cpSync(path.join(ROOT, 'images'), path.join(dir, 'images'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'bin'));
  for (const [name, body] of Object.entries(STUBS)) {
    fs.writeFileSync(path.join(dir, 'bin', name), `#!/bin/bash\n${body}\n`, { mode: 0o755 });
  }
  const log = path.join(dir, 'calls.log');
  fs.writeFileSync(log, '');
  const gnuplot = spawnSync('sh', ['-c', 'command -v gnuplot'], { encoding: 'utf8' }).stdout.trim();
  if (gnuplot) fs.symlinkSync(gnuplot, path.join(dir, 'bin', 'gnuplot'));
  return {
    dir,
    run: (args, fail = '', env = {}) => deploy(args, {
      PATH: `${path.join(dir, 'bin')}:/usr/bin:/bin`, STUB_LOG: log, STUB_FAIL: fail, AWS_REGION: '',
      STUB_NAME: '', STUB_STATE: '', STUB_TABLE_EXISTS: '', TF_VAR_name: '', TF_BACKEND_BUCKET: '',
      LOAD_CPU: '', ROLL_POLL: '0', VALIDATE_TIMEOUT: '5', LOAD_PLOT_DIR: path.join(dir, 'plots'), ...env,
    }, 60000, path.join(dir, 'infra', 'deploy.sh')),
    calls: () => fs.readFileSync(log, 'utf8').trim().split('\n').filter(Boolean)
      .map((c) => c.replace(`-chdir=${dir}/infra/aws `, '')),
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

const PHASES = ['==> checking the tools and the AWS account', '==> phase 1/3', '==> phase 2/3', '==> phase 3/3',
  '==> rolling the group candidates-asg-1 onto ami-0123456789abcdef0', '==> deployed', '==> validating http'];

test('apply runs the three phases, waits for the roll, then validates', async () => {
  const s = stubbed();
  try {
    // An older deploy.sh's record of the image must not pin the group.
    fs.writeFileSync(path.join(s.dir, 'infra', 'aws', 'image.auto.tfvars'), 'ami_id = "ami-0aaa"\n');
    const r = await s.run(['aws', 'apply']);
    assert.equal(r.code, 0, r.out);
    const phases = r.out.split('\n').filter((l) => l.startsWith('==> '));
    assert.deepEqual(phases.map((l) => l.replace(/:.*/, '')), PHASES);
    assert.match(r.out, /instance refresh ir-1: InProgress, 40 %[^\n]*\n {2}instance refresh ir-1: InProgress, 80 %[^\n]*\n {2}✓ instance refresh ir-1: Successful\n/);
    assert.match(r.out, /==> validating http:\/\/127\.0\.0\.1:9\n {2}✓ good to go\n {2}✓ insert\n {2}✓ verify\n {2}✓ list\n$/);
    const calls = s.calls();
    const tf = calls.filter((c) => c.startsWith('terraform '));
    assert.deepEqual(tf, [
      'terraform init -input=false',
      'terraform state list',
      'terraform console',
      'terraform apply -auto-approve -input=false',
      'terraform output -raw packer_subnet_id',
      'terraform output -raw name',
      'terraform output -raw web_port',
      'terraform apply -auto-approve -input=false',
      'terraform output -raw ami_id',
      'terraform output -raw asg_name',
      'terraform output -raw url',
      'terraform output -raw url',
    ]);
    const build = calls.find((c) => c.startsWith('packer build'));
    const commit = spawnSync('git', ['-C', ROOT, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).stdout.trim();
    for (const want of [`source_root=${s.dir}`, 'aws_region=us-west-2', 'aws_subnet_id=subnet-0123',
      'web_server=nginx', 'web_port=8080', 'deployment=candidates', 'aws_ssh_cidrs=["203.0.113.7/32"]']) {
      assert.ok(build.includes(` -var ${want} `), `packer build lacks -var ${want}: ${build}`);
    }
    // The copy is no git work tree: the commit says so rather than lie.
    assert.match(build, / -var git_commit=unknown /, `${build} (this tree: ${commit})`);
    // Debian's 1.6.6 gets the template without the required_plugins file.
    const staged = fs.readFileSync(`${path.join(s.dir, 'calls.log')}.dir`, 'utf8').trim().split('\n');
    assert.deepEqual(staged, ['aws.pkr.hcl', 'build.pkr.hcl', 'variables.pkr.hcl']);
    // No loose record of the image: Terraform finds it in AWS by its tag.
    assert.ok(!fs.existsSync(path.join(s.dir, 'infra', 'aws', 'image.auto.tfvars')));
    assert.match(r.out, /✓ removed image\.auto\.tfvars/);
    const refreshes = calls.filter((c) => c.startsWith('aws autoscaling describe-instance-refreshes'));
    assert.equal(refreshes.length, 3);
    assert.match(refreshes[0], /--region us-west-2 --auto-scaling-group-name candidates-asg-1 --max-records 1 /);
    assert.ok(calls.indexOf(refreshes[2]) < calls.findIndex((c) => c.includes('/gtg')), 'validate after the roll');
  } finally {
    s.cleanup();
  }
});

test('apply and check-env stop at the first failure and say what to do', async () => {
  const rows = [
    { line: __LINE__(), fail: 'sts', says: /the AWS credentials do not work: Unable to locate credentials\n {2}what to do: run aws configure/, phase: 0 },
    { line: __LINE__(), fail: 'apply-1', says: /phase 1 failed\n {2}what to do: fix the error above and run apply again/, phase: 1 },
    { line: __LINE__(), fail: 'packer', says: /phase 2 \(packer\) failed; the network from phase 1 is still there\n {2}what to do:/, phase: 2 },
    { line: __LINE__(), fail: 'manifest', says: /no AMI id in build\/packer-manifest.json/, phase: 2 },
    { line: __LINE__(), fail: 'apply-2', says: /phase 3 failed\n {2}what to do:/, phase: 3 },
    { line: __LINE__(), fail: 'other-ami', says: /Terraform chose the image ami-0fff, not ami-0123456789abcdef0 just built\n {2}what to do: check the images tagged Project=candidates/, phase: 3 },
    { line: __LINE__(), fail: 'roll', says: /the instance refresh ir-1 ended RollbackSuccessful: the new image did not take.*\n {2}what to do: see why with: aws autoscaling describe-instance-refreshes/, phase: 3 },
  ];
  for (const row of rows) {
    const s = stubbed();
    try {
      const r = await s.run(['aws', 'apply'], row.fail);
      assert.equal(r.code, 1, `row ${row.line}: exit code\n${r.out}`);
      assert.match(r.out, row.says, `row ${row.line}`);
      const reached = r.out.split('\n').filter((l) => /^==> phase \d/.test(l)).length;
      assert.equal(reached, row.phase, `row ${row.line}: phases started\n${r.out}`);
      assert.doesNotMatch(r.out, /==> deployed|==> validating/, `row ${row.line}`);
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

// The state in S3 when TF_BACKEND_BUCKET says so, locked by S3's own lock
// file; local state otherwise, and a deployment already in S3 never falls
// back to a local state in silence.
test('apply keeps the state in S3 with a lock file when TF_BACKEND_BUCKET is set', async () => {
  const rows = [
    {
      line: __LINE__(), env: { TF_BACKEND_BUCKET: 'my-state', TF_VAR_name: 'blue' }, code: 0,
      init: 'terraform init -input=false -reconfigure -backend-config=bucket=my-state -backend-config=key=blue/terraform.tfstate'
        + ' -backend-config=region=us-west-2 -backend-config=use_lockfile=true -backend-config=encrypt=true',
      override: true,
    },
    { line: __LINE__(), env: { TF_BACKEND_BUCKET: 'my-state', TF_BACKEND_REGION: 'eu-west-1' }, code: 0, init: /-backend-config=key=candidates\/terraform\.tfstate -backend-config=region=eu-west-1 /, override: true },
    { line: __LINE__(), env: {}, code: 0, init: 'terraform init -input=false', override: false },
    { line: __LINE__(), env: {}, pre: true, code: 1, says: /state is in S3 .*backend_override\.tf\) but TF_BACKEND_BUCKET is not set\n {2}what to do: set TF_BACKEND_BUCKET/ },
  ];
  for (const row of rows) {
    const s = stubbed();
    const override = path.join(s.dir, 'infra', 'aws', 'backend_override.tf');
    try {
      if (row.pre) fs.writeFileSync(override, 'terraform {\n  backend "s3" {}\n}\n');
      const r = await s.run(['aws', 'apply'], '', row.env);
      assert.equal(r.code, row.code, `row ${row.line}: exit code\n${r.out}`);
      const init = s.calls().filter((c) => c.startsWith('terraform init'));
      if (row.code !== 0) {
        assert.match(r.out, row.says, `row ${row.line}`);
        assert.deepEqual(init, [], `row ${row.line}: no init`);
        continue;
      }
      assert.equal(init.length, 1, `row ${row.line}`);
      if (typeof row.init === 'string') assert.equal(init[0], row.init, `row ${row.line}`);
      else assert.match(init[0], row.init, `row ${row.line}`);
      assert.equal(fs.existsSync(override), row.override, `row ${row.line}: backend_override.tf`);
      if (row.override) assert.match(fs.readFileSync(override, 'utf8'), /^terraform \{\n {2}backend "s3" \{\}\n\}$/m, `row ${row.line}`);
    } finally {
      s.cleanup();
    }
  }
});

// A table kept by destroy is taken back by the next apply rather than
// failing with "Table already exists"; one in the state is left alone.
test('apply adopts a table an earlier destroy kept', async () => {
  const rows = [
    { line: __LINE__(), env: { STUB_TABLE_EXISTS: '1' }, adopt: true },
    { line: __LINE__(), env: {}, adopt: false },
    { line: __LINE__(), env: { STUB_TABLE_EXISTS: '1', STUB_STATE: 'aws_dynamodb_table.candidates\naws_vpc.this\n' }, adopt: false, asked: false },
  ];
  for (const row of rows) {
    const s = stubbed();
    try {
      const r = await s.run(['aws', 'apply'], '', row.env);
      assert.equal(r.code, 0, `row ${row.line}\n${r.out}`);
      const calls = s.calls();
      const imported = calls.filter((c) => c.startsWith('terraform import'));
      assert.deepEqual(imported, row.adopt ? ['terraform import -input=false aws_dynamodb_table.candidates Candidates'] : [], `row ${row.line}`);
      const asked = calls.filter((c) => c.startsWith('aws dynamodb describe-table'));
      assert.equal(asked.length, row.asked === false ? 0 : 1, `row ${row.line}`);
      if (asked.length) assert.match(asked[0], /--region us-west-2 --table-name Candidates$/, `row ${row.line}`);
      if (row.adopt) {
        assert.ok(calls.indexOf(imported[0]) < calls.indexOf('terraform apply -auto-approve -input=false'), `row ${row.line}: before phase 1`);
        assert.match(r.out, /==> adopting the table Candidates, which an earlier destroy kept/);
      }
    } finally {
      s.cleanup();
    }
  }
});

test('destroy says what it deletes, asks first, and keeps the table unless told', async () => {
  const state = 'aws_dynamodb_table.candidates\naws_vpc.this\n';
  const rows = [
    {
      line: __LINE__(), args: [], code: 1, says: /The DynamoDB table Candidates is kept with its data \(--delete-table deletes it\)\.\ndeploy\.sh: destroy needs a yes\n {2}what to do: run it with --yes/,
      order: [],
    },
    {
      line: __LINE__(), args: ['--yes'], code: 0, says: /✓ table Candidates set aside: it stays, with its data\n[^]*kept: the table Candidates in us-west-2, with its data/,
      order: ['terraform state rm aws_dynamodb_table.candidates', 'terraform destroy -auto-approve -input=false',
        'aws ec2 deregister-image --region us-west-2 --image-id ami-0aaa',
        'aws ec2 delete-snapshot --region us-west-2 --snapshot-id snap-01',
        'aws ec2 delete-snapshot --region us-west-2 --snapshot-id snap-02'],
    },
    {
      line: __LINE__(), args: ['--yes', '--delete-table'], code: 0, says: /The DynamoDB table Candidates is DELETED WITH ALL ITS DATA\.[^]*==> turning off the deletion protection of Candidates/,
      order: ['terraform apply -auto-approve -input=false -target=aws_dynamodb_table.candidates (TF_VAR_table_deletion_protection=false)',
        'terraform destroy -auto-approve -input=false',
        'aws ec2 deregister-image --region us-west-2 --image-id ami-0aaa',
        'aws ec2 delete-snapshot --region us-west-2 --snapshot-id snap-01',
        'aws ec2 delete-snapshot --region us-west-2 --snapshot-id snap-02'],
    },
  ];
  for (const row of rows) {
    const s = stubbed();
    try {
      const r = await s.run(['aws', 'destroy', ...row.args], '', { STUB_STATE: state, STUB_NAME: 'candidates' });
      assert.equal(r.code, row.code, `row ${row.line}: exit code\n${r.out}`);
      assert.match(r.out, /destroy deletes the deployment candidates in us-west-2: its Auto Scaling Group and instances,\nload balancer, alarms, VPC and endpoints, IAM role, and its images \(tag Project=candidates\)\nwith their snapshots\./, `row ${row.line}`);
      assert.match(r.out, row.says, `row ${row.line}`);
      const order = s.calls().filter((c) => / destroy | state rm | apply |deregister-image|delete-snapshot/.test(c));
      assert.deepEqual(order, row.order, `row ${row.line}`);
      if (row.code === 0) assert.match(r.out, /==> destroyed\n$/, `row ${row.line}`);
    } finally {
      s.cleanup();
    }
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
      says: /\(RequestLimitExceeded\)\ndeploy.sh: could not list the images of blue in us-west-2; they and their snapshots are still there\n {2}what to do: .*TF_VAR_name=blue/,
    },
  ];
  for (const row of rows) {
    const s = stubbed();
    try {
      if (row.apply) {
        const a = await s.run(['aws', 'apply'], '', row.env);
        assert.equal(a.code, 0, `row ${row.line}: apply\n${a.out}`);
        const build = s.calls().find((c) => c.startsWith('packer build')) ?? '';
        assert.ok(build.includes(` -var deployment=${row.name} `), `row ${row.line}: ${build}`);
        fs.writeFileSync(path.join(s.dir, 'calls.log'), '');
      }
      const r = await s.run(['aws', 'destroy', '--yes'], row.fail ?? '', row.env);
      assert.equal(r.code, row.code, `row ${row.line}: exit code\n${r.out}`);
      const calls = s.calls();
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

// load against a deployment: the group's size and average CPU on every
// round (the stand-in's group grows one instance a round to 4, and its CPU
// has no datapoint for the first round), stress-ng through SSM on every
// instance once, the new ones included, before the traffic reaches them;
// and at the end the data and a plot of both over time.
test('load shows the group\'s size and CPU, stresses every new instance, and plots both', async () => {
  const rows = [
    { line: __LINE__(), cpu: '', code: 0 },
    { line: __LINE__(), cpu: '1', code: 0 },
    { line: __LINE__(), cpu: '', fail: 'describe-asg', code: 0, unknown: true },
    { line: __LINE__(), cpu: '1', fail: 'ssm', code: 1, says: /SSM could not start stress-ng on any instance\n {2}what to do: .*ssm_endpoints must be true/ },
    { line: __LINE__(), cpu: '', fail: 'no-asg', code: 1, says: /no Auto Scaling Group in .*'s state\n {2}what to do: run make deploy-aws first/ },
  ];
  for (const row of rows) {
    const s = stubbed();
    try {
      const r = await s.run(['aws', 'load', 'http://candi-1.elb.example'], row.fail ?? '',
        { LOAD_SECONDS: '5', LOAD_BATCH: '5', LOAD_CPU: row.cpu });
      assert.equal(r.code, row.code, `row ${row.line}: exit code\n${r.out}`);
      const calls = s.calls();
      if (row.code !== 0) {
        assert.match(r.out, row.says, `row ${row.line}`);
        assert.ok(!calls.some((c) => c.includes(' -K ')), `row ${row.line}: no load after a failure`);
        continue;
      }
      const rounds = r.out.split('\n').filter((x) => x.startsWith('load: ') && x.includes('requests in'));
      assert.ok(rounds.length >= 3, `row ${row.line}: too few rounds to see the group grow\n${r.out}`);
      rounds.forEach((l, i) => {
        const group = row.unknown ? 'size unknown (the cloud did not answer)'
          : `desired ${Math.min(i + 2, 4)}, in service ${Math.min(i + 2, 4) > 2 ? Math.min(i + 2, 4) - 1 : 2}`;
        const cpu = row.unknown ? 'unknown yet' : i === 0 ? 'unknown yet' : `${65 + i * 5} %`;
        assert.equal(l.replace(/^load: \d+ requests in \d+ s/, ''), ` (200 x5); group: ${group}; CPU ${cpu}`, `row ${row.line}: round ${i}`);
      });
      for (const c of calls.filter((x) => x.startsWith('aws autoscaling describe-auto-scaling-groups'))) {
        assert.match(c, /--region us-west-2 --auto-scaling-group-names candidates-asg-1 /, `row ${row.line}`);
      }
      for (const c of calls.filter((x) => x.startsWith('aws cloudwatch'))) {
        assert.match(c, /--namespace AWS\/EC2 --metric-name CPUUtilization --dimensions Name=AutoScalingGroupName,Value=candidates-asg-1 --statistics Average --period 60 /, `row ${row.line}`);
      }
      // Every instance once as it comes into service (i-1 and i-2 in the
      // first round, i-3 in the third, i-4 in the fourth), i-3 twice: SSM
      // refused it the first time.
      const n = rounds.length;
      const want = !row.cpu ? [] : ['i-1', 'i-2', ...(n >= 3 ? ['i-3'] : []), ...(n >= 4 ? ['i-3', 'i-4'] : [])];
      const ssm = calls.filter((c) => c.startsWith('aws ssm '));
      assert.deepEqual(ssm.map((c) => c.match(/--instance-ids (\S+)/)[1]), want, `row ${row.line}`);
      for (const c of ssm) {
        assert.match(c, /^aws ssm send-command --region us-west-2 --document-name AWS-RunShellScript --instance-ids i-\d --parameters commands=\["stress-ng --cpu 0 --cpu-load 90 --timeout \d+s"\]/, `row ${row.line}`);
      }
      if (row.cpu) {
        assert.ok(calls.findIndex((c) => c.startsWith('aws ssm ')) < calls.findIndex((c) => c.includes(' -K ')), `row ${row.line}: stress-ng before the traffic`);
        assert.match(r.out, / {2}stress-ng not started on i-3 yet \(SSM does not reach it\); next round\n/, `row ${row.line}`);
      }
      assert.match(r.out, row.unknown ? /load: at most 0 instances in service/ : /load: at most 3 instances in service/, `row ${row.line}`);
      // The data, one line a round, and the plot drawn from it.
      const data = fs.readdirSync(path.join(s.dir, 'plots')).filter((f) => f.endsWith('.tsv'));
      assert.equal(data.length, 1, `row ${row.line}: ${data}`);
      assert.match(data[0], /^load-\d{8}-\d{6}\.tsv$/);
      const plots = [data[0].replace(/tsv$/, 'svg')];
      const tsv = fs.readFileSync(path.join(s.dir, 'plots', data[0]), 'utf8').trim().split('\n');
      assert.equal(tsv.length, rounds.length + 1, `row ${row.line}: a header and a line a round`);
      if (!row.unknown) assert.match(tsv[2], /^\d+\t3\t2\t70$/, `row ${row.line}: ${tsv[2]}`);
      if (row.unknown) {
        assert.match(r.out, /no plot: the cloud never told the group's size/, `row ${row.line}`);
      } else if (spawnSync('sh', ['-c', 'command -v gnuplot']).status === 0) {
        const svg = fs.readFileSync(path.join(s.dir, 'plots', plots[0]), 'utf8');
        assert.match(svg, /<svg[^]*average CPU[^]*in service[^]*<\/svg>/, `row ${row.line}`);
        assert.match(r.out, new RegExp(`load: plot of the group and its CPU: .*${plots[0]}`));
      } else {
        assert.match(r.out, /no plot: gnuplot is not installed/);
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
