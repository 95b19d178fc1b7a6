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
    { line: 4, args: ['oracle', 'apply'], code: 1, says: /unknown cloud 'oracle'\n {2}what to do: use one of: aws azure gcp $/m },
    { line: 5, args: ['../aws', 'apply'], code: 1, says: /unknown cloud '\.\.\/aws'/ },
    { line: 6, args: ['aws', 'destroy', '--force'], code: 1, says: /destroy takes --yes and --delete-table, not '--force'/ },
  ];
  for (const row of rows) {
    const r = await deploy(row.args);
    assert.equal(r.code, row.code, `row ${row.line}: exit code\n${r.out}`);
    assert.match(r.out, row.says, `row ${row.line}`);
  }
});

test('make hands each cloud, and validate and load their CLOUD and URL, to deploy.sh', () => {
  const rows = [
    { line: __LINE__(), args: ['validate', 'URL=http://127.0.0.1:1'], want: 'infra/deploy.sh aws validate http://127.0.0.1:1' },
    { line: __LINE__(), args: ['load', 'URL=http://127.0.0.1:1'], want: 'infra/deploy.sh aws load http://127.0.0.1:1' },
    { line: __LINE__(), args: ['validate', 'CLOUD=azure'], want: 'infra/deploy.sh azure validate' },
    { line: __LINE__(), args: ['load', 'CLOUD=gcp', 'URL=http://127.0.0.1:1'], want: 'infra/deploy.sh gcp load http://127.0.0.1:1' },
    ...['aws', 'azure', 'gcp'].flatMap((cloud) => [
      { line: __LINE__(), args: [`deploy-${cloud}`], want: `WEB=nginx infra/deploy.sh ${cloud} apply` },
      { line: __LINE__(), args: [`deploy-${cloud}`, 'WEB=lighttpd'], want: `WEB=lighttpd infra/deploy.sh ${cloud} apply` },
      { line: __LINE__(), args: [`check-env-${cloud}`], want: `infra/deploy.sh ${cloud} check-env` },
      { line: __LINE__(), args: [`destroy-${cloud}`], want: `infra/deploy.sh ${cloud} destroy` },
    ]),
  ];
  for (const row of rows) {
    // --no-print-directory: under `make test` this make is a sub-make,
    // which would otherwise frame its output with "Entering directory".
    const r = spawnSync('make', ['--no-print-directory', '-n', ...row.args],
      { cwd: ROOT, encoding: 'utf8' });
    assert.equal(r.status, 0, `row ${row.line}: ${r.stderr}`);
    assert.equal(r.stdout.trim(), row.want, `row ${row.line}`);
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
"ec2 create-tags"*) [ "$STUB_FAIL" != roll-tag ] || { echo "An error occurred (UnauthorizedOperation)" >&2; exit 254; } ;;
"autoscaling describe-instance-refreshes"*)
	r=$(n refresh)
	if [ "$r" -lt 3 ]; then printf 'ir-1\\tInProgress\\t%d\\n' $((r * 40))
	elif [ "$STUB_FAIL" = roll ] || [ "$STUB_FAIL" = roll-tag ]; then printf 'ir-1\\tRollbackSuccessful\\t0\\n'
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
  terraform: `protection=\${TF_VAR_table_deletion_protection:+ (TF_VAR_table_deletion_protection=$TF_VAR_table_deletion_protection)}\${TF_VAR_web_port:+ (TF_VAR_web_port=$TF_VAR_web_port)}
# The phase variables the Azure and GCP scripts set, when set.
phase=\${TF_VAR_image_version:+ [image_version=$TF_VAR_image_version]}\${TF_VAR_admin_ssh_public_key:+ [admin key]}
phase=$phase\${TF_VAR_image_family:+ [image_family=$TF_VAR_image_family]}
case "$1" in
*/infra/azure) cloud=azure ;;
*/infra/gcp) cloud=gcp; phase=$phase\${TF_VAR_image_build_access:+ [image_build_access=$TF_VAR_image_build_access]}\${TF_VAR_project:+ [project=$TF_VAR_project]} ;;
*) cloud=aws ;;
esac
echo "terraform $*$protection$phase" >>"$STUB_LOG"
case "$*" in
*" apply "*)
	n=$(grep -c ' apply ' "$STUB_LOG")
	[ "$STUB_FAIL" != "apply-$n" ] || { echo "Error: stand-in failure" >&2; exit 1; } ;;
*" state list") printf '%s' "$STUB_STATE" ;;
*" state rm "*) ;;
*" import "*) ;;
esac
if [ "$cloud" = azure ]; then
	case "$*" in
	*" console") read -r expr; case "$expr" in var.web_port) echo 8080 ;; esac ;;
	*"output -raw url") printf http://candidates-1a2b3c4d.eastus.cloudapp.azure.com ;;
	*"output -raw resource_group") printf '%s-rg' "\${STUB_NAME:-candidates}" ;;
	*"output -raw location") printf eastus ;;
	*"output -raw gallery_name") printf '%s_images' "\${STUB_NAME:-candidates}" ;;
	*"output -raw image_name") printf '%s' "\${STUB_NAME:-candidates}" ;;
	*"output -raw front") printf '%s' "\${STUB_FRONT:-application-gateway}" ;;
	*"output -raw vmss_name") [ "$STUB_FAIL" = no-vmss ] || printf candidates-vmss ;;
	*"output -raw cosmos_account") [ -n "$STUB_STATE" ] || exit 1; printf candidates-1a2b3c4d ;;
	*"output -raw image_version_id")
		v=$(sort -t . -k1,1n -k2,2n -k3,3n "$STUB_LOG.versions" | tail -n 1)
		[ "$STUB_FAIL" != other-version ] || v=1.9.0
		printf '/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/candidates-rg/providers/Microsoft.Compute/galleries/candidates_images/images/candidates/versions/%s' "$v" ;;
	*"output -raw name") [ -n "$STUB_NAME" ] || { echo "Error: No outputs found" >&2; exit 1; }; printf %s "$STUB_NAME" ;;
	esac
	exit 0
fi
if [ "$cloud" = gcp ]; then
	case "$*" in
	*" console") read -r expr; case "$expr" in var.web_port) echo 8080 ;; var.firestore_database) echo '"(default)"' ;; esac ;;
	*"output -raw url") printf http://203.0.113.80 ;;
	*"output -raw project") [ -n "$STUB_STATE" ] || exit 1; printf candidates-test ;;
	*"output -raw region") printf us-central1 ;;
	*"output -json zones") printf '["us-central1-a","us-central1-b","us-central1-c"]' ;;
	*"output -raw network") printf candidates-vpc ;;
	*"output -raw build_subnetwork") [ "$TF_VAR_image_build_access" = false ] || printf candidates-build ;;
	*"output -raw build_tag") printf candidates-packer-build ;;
	*"output -raw instance_group") [ "$STUB_FAIL" = no-mig ] || printf candidates-mig ;;
	*"output -raw backend_service") printf candidates-backend ;;
	*"output -raw firestore_database") [ -n "$STUB_STATE" ] || exit 1; printf '(default)' ;;
	*"output -raw image")
		i=$(tail -n 1 "$STUB_LOG.images")
		[ "$STUB_FAIL" != other-image ] || i=candidates-20240101-000000
		printf 'https://www.googleapis.com/compute/v1/projects/candidates-test/global/images/%s' "$i" ;;
	*"output -raw name") [ -n "$STUB_NAME" ] || { echo "Error: No outputs found" >&2; exit 1; }; printf %s "$STUB_NAME" ;;
	esac
	exit 0
fi
# With the state in S3, no output can be read before init.
case "$*" in
*" init "*) : >"$STUB_LOG.init" ;;
*" output "*) [ -z "$TF_BACKEND_BUCKET" ] || [ -e "$STUB_LOG.init" ] ||
	{ echo 'Error: Backend initialization required, please run "terraform init"' >&2; exit 1; } ;;
esac
case "$*" in
*" console") read -r expr; case "$expr" in var.web_port) echo "\${STUB_PORT:-8080}" ;; *) echo '"Candidates"' ;; esac ;;
*"output -raw packer_subnet_id") printf subnet-0123 ;;
*"output -raw web_port") [ -z "$STUB_PORT_WAS" ] || printf %s "$STUB_PORT_WAS" ;;
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
	printf '{"builds":[{"artifact_id":"us-west-2:%s"}]}' "$ami" >"$src/build/packer-manifest.json"
	# A new gallery version (Azure) or family image (GCP), as the build
	# publishes, named as the template names them.
	case "$*" in
	*-only=azure-arm.debian*) echo 1.20251202.1000001 >>"$STUB_LOG.versions" ;;
	*-only=googlecompute.debian*) echo candidates-20251202-000001 >>"$STUB_LOG.images" ;;
	esac ;;
esac`,
  // The Azure CLI (az 2.x) with --output json: the documents below have
  // the shapes of the CLI reference and the REST API definitions it
  // prints (az account show; Galleries - Gallery Image Versions - List;
  // Images - List; Virtual Machine Scale Set Rolling Upgrades - Get
  // Latest; Application Gateways - Backend Health; Virtual Machine Scale
  // Set VMs - Get Instance View; Virtual Machine Scale Sets - Get and
  // VMs - List; Metrics - List; Run Command's RunCommandResult).
  az: `echo "az $*" >>"$STUB_LOG"
n() { f="$STUB_LOG.$1"; c=$(($(cat "$f" 2>/dev/null || echo 0) + 1)); echo "$c" >"$f"; echo "$c"; }
sub=00000000-1111-2222-3333-444444444444
rgid=/subscriptions/$sub/resourceGroups/candidates-rg
case "$*" in
"account show"*)
	[ "$STUB_FAIL" != login ] || { echo "ERROR: Please run 'az login' to setup account." >&2; exit 1; }
	state=Enabled; [ "$STUB_FAIL" != disabled ] || state=Disabled
	cat <<EOF
{
  "environmentName": "AzureCloud",
  "homeTenantId": "99999999-8888-7777-6666-555555555555",
  "id": "$sub",
  "isDefault": true,
  "managedByTenants": [],
  "name": "Pay-As-You-Go",
  "state": "$state",
  "tenantId": "99999999-8888-7777-6666-555555555555",
  "user": { "name": "ops@example.com", "type": "user" }
}
EOF
	;;
"group exists"*) if [ -n "$STUB_KEPT" ]; then echo true; else echo false; fi ;;
"cosmosdb list"*)
	cat <<EOF
[
  {
    "documentEndpoint": "https://candidates-1a2b3c4d.documents.azure.com:443/",
    "id": "$rgid/providers/Microsoft.DocumentDB/databaseAccounts/candidates-1a2b3c4d",
    "kind": "GlobalDocumentDB",
    "location": "East US",
    "name": "candidates-1a2b3c4d",
    "provisioningState": "Succeeded",
    "resourceGroup": "candidates-rg",
    "tags": { "Project": "candidates" },
    "type": "Microsoft.DocumentDB/databaseAccounts"
  }
]
EOF
	;;
"sig image-version list"*)
	[ "$STUB_FAIL" != list-versions ] || { echo "ERROR: (TooManyRequests) Too many requests." >&2; exit 1; }
	sep=""; printf '['
	while read -r v; do
		[ -n "$v" ] || continue
		printf '%s\\n  {"id": "%s/providers/Microsoft.Compute/galleries/candidates_images/images/candidates/versions/%s", "location": "eastus", "name": "%s", "provisioningState": "Succeeded", "publishingProfile": {"excludeFromLatest": false, "publishedDate": "2025-12-02T10:00:00+00:00", "replicaCount": 1, "targetRegions": [{"name": "East US", "regionalReplicaCount": 1, "storageAccountType": "Standard_LRS"}]}, "storageProfile": {"osDiskImage": {"hostCaching": "ReadWrite", "sizeInGb": 30}}, "type": "Microsoft.Compute/galleries/images/versions"}' "$sep" "$rgid" "$v" "$v"
		sep=","
	done <"$STUB_LOG.versions"
	printf '\\n]\\n' ;;
"sig image-version delete"*)
	v=\${*##* }; grep -vx "$v" "$STUB_LOG.versions" >"$STUB_LOG.versions.new"; mv "$STUB_LOG.versions.new" "$STUB_LOG.versions" ;;
"image list"*)
	[ "$STUB_FAIL" != list-images ] || { echo "ERROR: (AuthorizationFailed) not authorized" >&2; exit 1; }
	cat <<EOF
[
  {"hyperVGeneration": "V2", "id": "$rgid/providers/Microsoft.Compute/images/candidates-20251202-000001", "location": "eastus", "name": "candidates-20251202-000001", "provisioningState": "Succeeded", "tags": {"Project": "candidates", "WebPort": "8080"}, "type": "Microsoft.Compute/images"},
  {"hyperVGeneration": "V2", "id": "$rgid/providers/Microsoft.Compute/images/blue-20251202-000001", "location": "eastus", "name": "blue-20251202-000001", "provisioningState": "Succeeded", "tags": {"Project": "blue"}, "type": "Microsoft.Compute/images"}
]
EOF
	;;
"image delete"*) ;;
"vmss rolling-upgrade get-latest"*)
	[ "$STUB_FAIL" != no-roll ] || { echo "ERROR: (NotFound) The entity was not found." >&2; exit 3; }
	r=$(n roll)
	if [ "$r" -lt 3 ]; then code=RollingForward; done=$((r - 1)); err=null
	elif [ "$STUB_FAIL" = roll ]; then code=Faulted; done=1; err='{"code": "RollingUpgradeFailed", "message": "Too many upgraded instances are unhealthy."}'
	else code=Completed; done=2; err=null; fi
	cat <<EOF
{
  "error": $err,
  "location": "eastus",
  "policy": {"maxBatchInstancePercent": 50, "maxUnhealthyInstancePercent": 50, "maxUnhealthyUpgradedInstancePercent": 20, "pauseTimeBetweenBatches": "PT30S"},
  "progress": {"failedInstanceCount": 0, "inProgressInstanceCount": $((2 - done > 0 ? 1 : 0)), "pendingInstanceCount": $((2 - done > 1 ? 1 : 0)), "successfulInstanceCount": $done},
  "runningStatus": {"code": "$code", "lastAction": "Start", "lastActionTime": "2025-12-02T10:10:00+00:00", "startTime": "2025-12-02T10:10:00+00:00"},
  "type": "Microsoft.Compute/virtualMachineScaleSets/rollingUpgrades"
}
EOF
	;;
"network application-gateway list"*)
	echo '[{"id": "'"$rgid"'/providers/Microsoft.Network/applicationGateways/candidates-gateway", "name": "candidates-gateway", "operationalState": "Running", "provisioningState": "Succeeded", "sku": {"capacity": null, "name": "Standard_v2", "tier": "Standard_v2"}}]' ;;
"network application-gateway show-backend-health"*)
	r=$(n health); second=Healthy
	[ "$r" -gt 1 ] || second=Unhealthy
	[ "$STUB_FAIL" != unhealthy ] || second=Unhealthy
	cat <<EOF
{
  "backendAddressPools": [
    {
      "backendAddressPool": {"id": "$rgid/providers/Microsoft.Network/applicationGateways/candidates-gateway/backendAddressPools/app"},
      "backendHttpSettingsCollection": [
        {
          "backendHttpSettings": {"id": "$rgid/providers/Microsoft.Network/applicationGateways/candidates-gateway/backendHttpSettingsCollection/app"},
          "servers": [
            {"address": "10.60.1.4", "health": "Healthy", "healthProbeLog": "Success. Received 200 status code"},
            {"address": "10.60.1.5", "health": "$second", "healthProbeLog": "Cannot connect to backend server."}
          ]
        }
      ]
    }
  ]
}
EOF
	;;
"vmss get-instance-view"*)
	r=$(n health); second=healthy
	[ "$r" -gt 1 ] || second=unhealthy
	for h in healthy $second; do
		printf '{"statuses": [{"code": "ProvisioningState/succeeded", "level": "Info"}, {"code": "PowerState/running", "level": "Info"}], "vmHealth": {"status": {"code": "HealthState/%s", "displayStatus": "The VM is %s", "level": "Info", "time": "2025-12-02T10:00:00+00:00"}}}\\n' "$h" "$h"
	done | paste -sd, | sed 's/^/[/; s/$/]/' ;;
"vmss show"*)
	[ "$STUB_FAIL" != describe-vmss ] || exit 1
	# The first read is load's start (the id); a round per read after it.
	r=$(($(n shows) - 1)); echo "$r" >"$STUB_LOG.round"
	d=$((r + 1 < 4 ? r + 1 : 4)); [ "$d" -ge 2 ] || d=2
	cat <<EOF
{
  "id": "$rgid/providers/Microsoft.Compute/virtualMachineScaleSets/candidates-vmss",
  "location": "eastus",
  "name": "candidates-vmss",
  "provisioningState": "Succeeded",
  "sku": {"capacity": $d, "name": "Standard_B1s", "tier": "Standard"},
  "upgradePolicy": {"mode": "Rolling"},
  "zones": ["1", "2", "3"]
}
EOF
	;;
"vmss list-instances"*)
	# Instances come as the capacity grows, the newest still being made.
	r=$(cat "$STUB_LOG.round" 2>/dev/null || echo 0)
	d=$((r + 1 < 4 ? r + 1 : 4)); [ "$d" -ge 2 ] || d=2
	for i in $(seq 0 $((d - 1))); do
		st=Succeeded; [ "$d" -le 2 ] || [ "$i" -lt $((d - 1)) ] || st=Creating
		printf '{"instanceId": "%d", "latestModelApplied": true, "name": "candidates-vmss_%d", "provisioningState": "%s", "zones": ["%d"]}\\n' "$i" "$i" "$st" $((i % 3 + 1))
	done | paste -sd, | sed 's/^/[/; s/$/]/' ;;
"monitor metrics list"*)
	r=$(cat "$STUB_LOG.round" 2>/dev/null || echo 0)
	if [ "$r" -le 1 ]; then last=""; else last='{"average": '$((60 + r * 5))'.4, "timeStamp": "2025-12-02T10:03:00+00:00"},'; fi
	cat <<EOF
{
  "cost": 59,
  "interval": "PT1M",
  "namespace": "Microsoft.Compute/virtualMachineScaleSets",
  "resourceregion": "eastus",
  "timespan": "2025-12-02T09:59:00Z/2025-12-02T10:04:00Z",
  "value": [
    {
      "errorCode": "Success",
      "id": "$rgid/providers/Microsoft.Compute/virtualMachineScaleSets/candidates-vmss/providers/Microsoft.Insights/metrics/Percentage CPU",
      "name": {"localizedValue": "Percentage CPU", "value": "Percentage CPU"},
      "timeseries": [{"data": [{"timeStamp": "2025-12-02T10:02:00+00:00"}, $last {"timeStamp": "2025-12-02T10:04:00+00:00"}], "metadatavalues": []}],
      "type": "Microsoft.Insights/metrics",
      "unit": "Percent"
    }
  ]
}
EOF
	;;
"vmss run-command invoke"*)
	[ "$STUB_FAIL" != run-command ] || exit 1
	case "$*" in *"--instance-id 2 "*) [ "$(n run-2)" -gt 1 ] || { echo "ERROR: (Conflict) Run command extension execution is in progress." >&2; exit 1; } ;; esac
	echo '{"value": [{"code": "ProvisioningState/succeeded", "displayStatus": "Provisioning succeeded", "level": "Info", "message": "Enable succeeded: \\n[stdout]\\n\\n[stderr]\\nRunning as unit: candidates-stress.service\\n", "time": null}]}' ;;
esac`,
  // gcloud (with --format=json) and its documents, in the shapes of the
  // Compute Engine, Resource Manager and Firestore REST references it
  // prints: images, instanceGroupManagers (get, listManagedInstances),
  // backendServices.getHealth (a list, one entry a backend group),
  // projects.get, databases.get.
  gcloud: `echo "gcloud $*" >>"$STUB_LOG"
n() { f="$STUB_LOG.$1"; c=$(($(cat "$f" 2>/dev/null || echo 0) + 1)); echo "$c" >"$f"; echo "$c"; }
api=https://www.googleapis.com/compute/v1/projects/candidates-test
image() { printf '{"architecture": "X86_64", "creationTimestamp": "2025-12-02T02:00:01.000-08:00", "diskSizeGb": "10", "family": "%s", "id": "4242", "kind": "compute#image", "labels": {"project": "%s", "web_port": "8080"}, "name": "%s", "selfLink": "%s/global/images/%s", "sourceImage": "https://www.googleapis.com/compute/v1/projects/debian-cloud/global/images/debian-12-bookworm-v20251111", "status": "READY", "storageLocations": ["us"]}' "$1" "$1" "$2" "$api" "$2"; }
case "$*" in
"auth list"*)
	if [ "$STUB_FAIL" = login ]; then echo '[]'; else echo '[{"account": "ops@example.com", "status": "ACTIVE"}]'; fi ;;
"auth application-default print-access-token"*)
	[ "$STUB_FAIL" != adc ] || { echo "ERROR: (gcloud.auth.application-default.print-access-token) Your default credentials were not found." >&2; exit 1; }
	echo ya29.adc-stand-in ;;
"auth print-access-token"*) echo ya29.stand-in ;;
"config get-value project"*)
	if [ "$STUB_FAIL" = no-project ]; then echo "(unset)" >&2; else echo candidates-test; fi ;;
"projects describe"*)
	echo '{"createTime": "2025-01-01T00:00:00.000Z", "lifecycleState": "ACTIVE", "name": "Candidates Test", "projectId": "candidates-test", "projectNumber": "123456789012"}' ;;
"compute images describe-from-family"*)
	i=$(tail -n 1 "$STUB_LOG.images" 2>/dev/null)
	[ -n "$i" ] || { echo "ERROR: (gcloud.compute.images.describe-from-family) Could not fetch resource: - The resource 'projects/candidates-test/global/images/family/candidates' was not found" >&2; exit 1; }
	image candidates "$i" ;;
"compute images list"*)
	[ "$STUB_FAIL" != list-images ] || { echo "ERROR: (gcloud.compute.images.list) Quota exceeded" >&2; exit 1; }
	# The filter as gcloud applies it: family=NAME.
	f=$(printf '%s\\n' "$@" | sed -n 's/^--filter=family=//p')
	{ while read -r i; do [ -z "$i" ] || image candidates "$i"; echo; done <"$STUB_LOG.images"; image blue blue-20251202-000001; echo; } |
	    grep -F "\\"family\\": \\"$f\\"" | paste -sd, | sed 's/^/[/; s/$/]/' ;;
"compute images delete"*) echo "Deleted [$api/global/images/$4]." >&2 ;;
"firestore databases describe"*)
	[ -n "$STUB_KEPT" ] || { echo "ERROR: (gcloud.firestore.databases.describe) NOT_FOUND: Database not found" >&2; exit 1; }
	echo '{"concurrencyMode": "PESSIMISTIC", "deleteProtectionState": "DELETE_PROTECTION_ENABLED", "locationId": "us-central1", "name": "projects/candidates-test/databases/(default)", "pointInTimeRecoveryEnablement": "POINT_IN_TIME_RECOVERY_ENABLED", "type": "FIRESTORE_NATIVE"}' ;;
"firestore databases update"* | "firestore databases delete"*) ;;
"compute instance-groups managed describe"*)
	r=$(n round)
	stable=true; [ "$r" -gt 2 ] || [ -n "$STUB_LOADING" ] || stable=false
	[ "$STUB_FAIL" != roll ] || stable=false
	d=$((r + 1 < 4 ? r + 1 : 4)); [ "$d" -ge 2 ] || d=2
	[ -n "$STUB_LOADING" ] || d=2
	cat <<EOF
{
  "baseInstanceName": "candidates",
  "kind": "compute#instanceGroupManager",
  "name": "candidates-mig",
  "region": "$api/regions/us-central1",
  "status": {"allInstancesConfig": {"effective": true}, "autoscaler": "$api/regions/us-central1/autoscalers/candidates", "isStable": $stable, "stateful": {"hasStatefulConfig": false}, "versionTarget": {"isReached": $stable}},
  "targetSize": $d,
  "updatePolicy": {"maxSurge": {"calculated": 3, "fixed": 3}, "maxUnavailable": {"calculated": 0, "fixed": 0}, "type": "PROACTIVE"}
}
EOF
	;;
"compute instance-groups managed list-instances"*)
	r=$(cat "$STUB_LOG.round" 2>/dev/null || echo 0)
	d=$((r + 1 < 4 ? r + 1 : 4)); [ "$d" -ge 2 ] || d=2
	for i in $(seq 1 "$d"); do
		act=NONE st=RUNNING; [ "$d" -le 2 ] || [ "$i" -lt "$d" ] || { act=CREATING; st=STAGING; }
		printf '{"currentAction": "%s", "id": "10%d", "instance": "%s/zones/us-central1-a/instances/candidates-%d", "instanceStatus": "%s", "name": "candidates-%d", "version": {"instanceTemplate": "%s/global/instanceTemplates/candidates-2025"}}\\n' "$act" "$i" "$api" "$i" "$st" "$i" "$api"
	done | paste -sd, | sed 's/^/[/; s/$/]/' ;;
"compute backend-services get-health"*)
	r=$(n health); second=HEALTHY
	[ "$r" -gt 1 ] || second=UNHEALTHY
	[ "$STUB_FAIL" != unhealthy ] || second=UNHEALTHY
	cat <<EOF
[
  {
    "backend": "$api/regions/us-central1/instanceGroups/candidates-mig",
    "status": {
      "healthStatus": [
        {"healthState": "HEALTHY", "instance": "$api/zones/us-central1-a/instances/candidates-1", "ipAddress": "10.70.0.2", "port": 8080},
        {"healthState": "$second", "instance": "$api/zones/us-central1-b/instances/candidates-2", "ipAddress": "10.70.0.3", "port": 8080}
      ],
      "kind": "compute#backendServiceGroupHealth"
    }
  }
]
EOF
	;;
esac`,
  // checkip's address; the API's answers to validate (it remembers the
  // names it was sent) and to load: one per request of a curl -K round.
  curl: `echo "curl $*" >>"$STUB_LOG"
case "$*" in
*https://monitoring.googleapis.com/v3/projects/*/timeSeries*)
	# timeSeries.list (Cloud Monitoring API v3): no series before the
	# first minute of data; then one series, the mean over the group,
	# its points newest first, values fractions of a CPU.
	r=$(cat "$STUB_LOG.round" 2>/dev/null || echo 0)
	if [ "$r" -le 1 ]; then echo '{"unit": "10^2.%"}'; exit 0; fi
	cat <<EOF
{
  "timeSeries": [
    {
      "metric": { "type": "compute.googleapis.com/instance/cpu/utilization" },
      "resource": { "type": "gce_instance", "labels": { "project_id": "candidates-test" } },
      "metricKind": "GAUGE",
      "valueType": "DOUBLE",
      "points": [
        { "interval": { "startTime": "2025-12-02T10:02:00Z", "endTime": "2025-12-02T10:02:00Z" }, "value": { "doubleValue": 0.$((60 + r * 5))4 } },
        { "interval": { "startTime": "2025-12-02T10:01:00Z", "endTime": "2025-12-02T10:01:00Z" }, "value": { "doubleValue": 0.31 } }
      ]
    }
  ],
  "unit": "10^2.%"
}
EOF
	exit 0 ;;
esac
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
  // What the clouds hold before a run: the gallery's versions (Azure) and
  // the family's images (GCP), one a line; the builds add theirs.
  fs.writeFileSync(`${log}.versions`, '');
  fs.writeFileSync(`${log}.images`, '');
  // A user's own SSH key, which the Azure script gives the instances.
  fs.mkdirSync(path.join(dir, 'home', '.ssh'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'home', '.ssh', 'id_ed25519.pub'), 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIStandIn ops@example.com\n');
  const gnuplot = spawnSync('sh', ['-c', 'command -v gnuplot'], { encoding: 'utf8' }).stdout.trim();
  if (gnuplot) fs.symlinkSync(gnuplot, path.join(dir, 'bin', 'gnuplot'));
  return {
    dir,
    run: (args, fail = '', env = {}) => deploy(args, {
      PATH: `${path.join(dir, 'bin')}:/usr/bin:/bin`, STUB_LOG: log, STUB_FAIL: fail, AWS_REGION: '',
      STUB_NAME: '', STUB_STATE: '', STUB_TABLE_EXISTS: '', TF_VAR_name: '', TF_BACKEND_BUCKET: '',
      STUB_PORT: '', STUB_PORT_WAS: '8080', TF_VAR_web_port: '',
      LOAD_CPU: '', ROLL_POLL: '0', VALIDATE_TIMEOUT: '5', LOAD_PLOT_DIR: path.join(dir, 'plots'),
      HOME: path.join(dir, 'home'), ARM_SUBSCRIPTION_ID: '', STUB_KEPT: '', STUB_FRONT: '', STUB_LOADING: '',
      TF_VAR_project: '', TF_VAR_image_version: '', TF_VAR_image_family: '', TF_VAR_image_build_access: '',
      TF_VAR_admin_ssh_public_key: '', VALIDATE_POLL: '0', ...env,
    }, 60000, path.join(dir, 'infra', 'deploy.sh')),
    calls: () => fs.readFileSync(log, 'utf8').trim().split('\n').filter(Boolean)
      .map((c) => c.replace(new RegExp(`-chdir=${dir}/infra/(aws|azure|gcp) `), '')),
    log,
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
      'terraform console',
      'terraform output -raw web_port',
      'terraform apply -auto-approve -input=false',
      'terraform output -raw packer_subnet_id',
      'terraform output -raw name',
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
    assert.deepEqual(staged, ['aws.pkr.hcl', 'azure.pkr.hcl', 'build.pkr.hcl', 'gcp.pkr.hcl', 'variables.pkr.hcl']);
    // AWS's source only: the other clouds' need settings AWS has not.
    assert.match(build, /^packer build -color=false -only=amazon-ebs\.debian /);
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

// A running deployment that changes web_port: phase 1 keeps the port its
// image was built for (else the launch template's check fails and no image
// for the new port is ever built), Packer builds for the new one, and
// phase 3 moves everything to it. A new deployment has no port to keep.
test('apply moves a running deployment to a new web_port through a new image', async () => {
  const rows = [
    { line: __LINE__(), env: { STUB_PORT: '8080', STUB_PORT_WAS: '80' }, phase1: ' (TF_VAR_web_port=80)', says: /==> phase 1\/3[^\n]*\n {2}web_port 80 -> 8080: phase 1 keeps 80 until the image for 8080 is built\n/ },
    { line: __LINE__(), env: { STUB_PORT: '8080', STUB_PORT_WAS: '8080' }, phase1: '' },
    { line: __LINE__(), env: { STUB_PORT: '81', STUB_PORT_WAS: '' }, phase1: '' },
  ];
  for (const row of rows) {
    const s = stubbed();
    try {
      const r = await s.run(['aws', 'apply'], '', row.env);
      assert.equal(r.code, 0, `row ${row.line}\n${r.out}`);
      const applies = s.calls().filter((c) => c.startsWith('terraform apply'));
      assert.deepEqual(applies, [`terraform apply -auto-approve -input=false${row.phase1}`,
        'terraform apply -auto-approve -input=false'], `row ${row.line}`);
      const build = s.calls().find((c) => c.startsWith('packer build')) ?? '';
      assert.ok(build.includes(` -var web_port=${row.env.STUB_PORT} `), `row ${row.line}: ${build}`);
      assert.match(r.out, new RegExp(`phase 2/3: the image \\(nginx on Debian 12, port ${row.env.STUB_PORT}\\)`), `row ${row.line}`);
      if (row.says) assert.match(r.out, row.says, `row ${row.line}`);
      else assert.doesNotMatch(r.out, /phase 1 keeps/, `row ${row.line}`);
    } finally {
      s.cleanup();
    }
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
    { line: __LINE__(), fail: 'roll', says: /the instance refresh ir-1 ended RollbackSuccessful: the new image did not take.*; ami-0123456789abcdef0 is now tagged Project=candidates-rolled-back, so the next apply does not pick it\n {2}what to do: see why with: aws autoscaling describe-instance-refreshes/, phase: 3, tagged: true },
    { line: __LINE__(), fail: 'roll-tag', says: /\(UnauthorizedOperation\)\ndeploy\.sh: the instance refresh ir-1 ended RollbackSuccessful, and the image ami-0123456789abcdef0 could not be tagged away from candidates\n {2}what to do: deregister ami-0123456789abcdef0 .* before the next apply/, phase: 3, tagged: true },
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
      // An image that did not take is no longer the deployment's newest.
      assert.deepEqual(s.calls().filter((c) => c.startsWith('aws ec2 create-tags')),
        row.tagged ? ['aws ec2 create-tags --region us-west-2 --resources ami-0123456789abcdef0 --tags Key=Project,Value=candidates-rolled-back'] : [],
        `row ${row.line}`);
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
    // From a fresh checkout with the state in S3: the table and region
    // come from the state once init has found it.
    {
      line: __LINE__(), args: ['--yes', '--delete-table'], env: { TF_BACKEND_BUCKET: 'my-state' }, code: 0,
      says: /The DynamoDB table Candidates is DELETED WITH ALL ITS DATA\.[^]*==> turning off the deletion protection of Candidates/,
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
      const r = await s.run(['aws', 'destroy', ...row.args], '', { STUB_STATE: state, STUB_NAME: 'candidates', ...row.env });
      assert.equal(r.code, row.code, `row ${row.line}: exit code\n${r.out}`);
      assert.match(r.out, /destroy deletes the deployment candidates in us-west-2: its Auto Scaling Group and instances,\nload balancer, alarms, VPC and endpoints, IAM role, and its images \(tag Project=candidates or candidates-rolled-back\)\nwith their snapshots\./, `row ${row.line}`);
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
      // Its images, and those it tagged away after a roll that failed.
      assert.deepEqual(listing[0].match(/Name=tag:[^ ]*/g), [`Name=tag:Project,Values=${row.name},${row.name}-rolled-back`], `row ${row.line}`);
      assert.ok(listing[0].includes('--owners self'), `row ${row.line}`);
      const deleted = calls.filter((c) => /deregister-image|delete-snapshot/.test(c));
      if (row.code === 0) {
        assert.match(r.out, new RegExp(`==> deregistering the images of ${row.name} \\(tag Project=${row.name} or ${row.name}-rolled-back\\)`), `row ${row.line}`);
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

// Azure and GCP: the same commands against stand-ins of the az and gcloud
// CLIs (above), because no cloud can be reached from where the tests run.
// The stand-ins log their arguments and answer with documents of the
// shapes their references give, so the scripts' jq reads what the real
// CLIs print. terraform, packer and curl are the stand-ins AWS's tests use.

// Lines of the log that start with one of the prefixes.
const only = (calls, ...prefixes) => calls.filter((c) => prefixes.some((p) => c.startsWith(p)));
const phasesOf = (out) => out.split('\n').filter((l) => l.startsWith('==> ')).map((l) => l.replace(/:.*/, ''));

test('azure apply: the three phases, the roll, healthy backends, then validate', async () => {
  const s = stubbed();
  try {
    // An older version sorts after the new one as text, not as numbers.
    fs.writeFileSync(`${s.log}.versions`, '1.9.0\n');
    const r = await s.run(['azure', 'apply']);
    assert.equal(r.code, 0, r.out);
    assert.deepEqual(phasesOf(r.out), ['==> checking the tools and the Azure subscription', '==> phase 1/3', '==> phase 2/3',
      '==> phase 3/3', '==> rolling the scale set candidates-vmss onto 1.20251202.1000001', '==> deployed', '==> validating http']);
    assert.match(r.out, /✓ Azure subscription Pay-As-You-Go \(00000000-1111-2222-3333-444444444444\), signed in as ops@example\.com/);
    assert.match(r.out, /✓ image version 1\.20251202\.1000001 of candidates_images\/candidates\n/);
    assert.match(r.out, / {2}rolling upgrade: RollingForward, 0 of 2 instances done[^\n]*\n {2}rolling upgrade: RollingForward, 1 of 2 instances done[^\n]*\n {2}✓ rolling upgrade: Completed\n/);
    assert.match(r.out, /==> validating http:\/\/candidates-1a2b3c4d\.eastus\.cloudapp\.azure\.com\n {2}waiting for healthy backends \(1 of 2, \d+ s\)\n {2}✓ healthy backends: 2 of 2 behind candidates-gateway\n {2}✓ good to go\n {2}✓ insert\n {2}✓ verify\n {2}✓ list\n$/);
    const calls = s.calls();
    // A first deployment has no image: phase 1 makes no scale set; phase
    // 3 runs the newest version, with the user's key.
    assert.deepEqual(only(calls, 'terraform apply'), [
      'terraform apply -auto-approve -input=false',
      'terraform apply -auto-approve -input=false [image_version=latest] [admin key]',
    ]);
    const build = calls.find((c) => c.startsWith('packer build')) ?? '';
    assert.match(build, /^packer build -color=false -only=azure-arm\.debian /);
    for (const want of [`source_root=${s.dir}`, 'azure_subscription_id=00000000-1111-2222-3333-444444444444',
      'azure_location=eastus', 'azure_resource_group=candidates-rg', 'azure_gallery_name=candidates_images',
      'azure_image_name=candidates', 'web_server=nginx', 'web_port=8080', 'git_commit=unknown', 'deployment=candidates',
      'azure_ssh_cidrs=["203.0.113.7/32"]']) {
      assert.ok(build.includes(` -var ${want} `), `packer build lacks -var ${want}: ${build}`);
    }
    // Terraform's web_port, read as Terraform reads it.
    assert.ok(calls.indexOf('terraform console') < calls.indexOf(build), 'web_port before the build');
    // The roll, then the gateway's backend health, then the API.
    const last = (p) => calls.map((c, i) => (c.startsWith(p) ? i : -1)).filter((i) => i >= 0).at(-1);
    assert.ok(last('az vmss rolling-upgrade get-latest') < calls.findIndex((c) => c.startsWith('az network application-gateway show-backend-health')));
    assert.ok(last('az network application-gateway show-backend-health') < calls.findIndex((c) => c.includes('/gtg')));
    for (const c of only(calls, 'az vmss rolling-upgrade', 'az network application-gateway show')) {
      assert.match(c, /--resource-group candidates-rg --name candidates-(vmss|gateway) --output json$/);
    }
  } finally {
    s.cleanup();
  }
});

test('azure apply: a deployment with an image keeps its scale set in phase 1, and a kept database is adopted', async () => {
  const rows = [
    {
      line: __LINE__(), env: { STUB_STATE: 'azurerm_resource_group.this\nazurerm_shared_image.app\n' }, versions: '1.20251101.1000000\n',
      phase1: 'terraform apply -auto-approve -input=false [image_version=latest] [admin key]', imports: [],
    },
    {
      line: __LINE__(), env: { STUB_KEPT: '1' }, versions: '', phase1: 'terraform apply -auto-approve -input=false',
      imports: [
        'terraform import -input=false azurerm_resource_group.this /subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/candidates-rg',
        'terraform import -input=false azurerm_cosmosdb_account.this /subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/candidates-rg/providers/Microsoft.DocumentDB/databaseAccounts/candidates-1a2b3c4d',
        'terraform import -input=false azurerm_cosmosdb_sql_database.candidates /subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/candidates-rg/providers/Microsoft.DocumentDB/databaseAccounts/candidates-1a2b3c4d/sqlDatabases/CandidateDatabase',
        'terraform import -input=false azurerm_cosmosdb_sql_container.candidates /subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/candidates-rg/providers/Microsoft.DocumentDB/databaseAccounts/candidates-1a2b3c4d/sqlDatabases/CandidateDatabase/containers/Candidates',
      ],
    },
    { line: __LINE__(), env: {}, versions: '', phase1: 'terraform apply -auto-approve -input=false', imports: [] },
  ];
  for (const row of rows) {
    const s = stubbed();
    try {
      fs.writeFileSync(`${s.log}.versions`, row.versions);
      const r = await s.run(['azure', 'apply'], '', row.env);
      assert.equal(r.code, 0, `row ${row.line}\n${r.out}`);
      const calls = s.calls();
      assert.equal(only(calls, 'terraform apply')[0], row.phase1, `row ${row.line}`);
      const imports = only(calls, 'terraform import');
      assert.deepEqual(imports, row.imports, `row ${row.line}`);
      if (imports.length) {
        assert.ok(calls.indexOf(imports.at(-1)) < calls.indexOf(row.phase1), `row ${row.line}: before phase 1`);
        assert.match(r.out, /==> adopting the resource group candidates-rg and the Cosmos DB account candidates-1a2b3c4d, which an earlier destroy kept/);
      }
    } finally {
      s.cleanup();
    }
  }
});

test('azure apply and check-env stop at the first failure and say what to do', async () => {
  const rows = [
    { line: __LINE__(), fail: 'login', says: /no usable subscription: ERROR: Please run 'az login' to setup account\.\n {2}what to do: run az login/, phase: 0 },
    { line: __LINE__(), fail: 'disabled', says: /the subscription Pay-As-You-Go \(00000000-1111-2222-3333-444444444444\) is Disabled/, phase: 0 },
    { line: __LINE__(), fail: '', env: { HOME: '/nonexistent' }, says: /no SSH public key for the instances' admin user, which Azure requires\n {2}what to do: set TF_VAR_admin_ssh_public_key, or make one with ssh-keygen -t ed25519/, phase: 0 },
    { line: __LINE__(), fail: 'apply-1', says: /phase 1 failed\n {2}what to do: fix the error above and run apply again/, phase: 1 },
    { line: __LINE__(), fail: 'packer', says: /phase 2 \(packer\) failed; what phase 1 made is still there/, phase: 2 },
    { line: __LINE__(), fail: 'apply-2', says: /phase 3 failed\n {2}what to do:/, phase: 3 },
    { line: __LINE__(), fail: 'other-version', says: /Terraform chose the image version 1\.9\.0, not 1\.20251202\.1000001 just built\n {2}what to do: check the versions: az sig image-version list/, phase: 3 },
    { line: __LINE__(), fail: 'roll', says: /the rolling upgrade of candidates-vmss ended Faulted: Too many upgraded instances are unhealthy\.\n {2}what to do: see it with: az vmss rolling-upgrade get-latest --resource-group candidates-rg --name candidates-vmss/, phase: 3 },
  ];
  for (const row of rows) {
    const s = stubbed();
    try {
      const r = await s.run(['azure', 'apply'], row.fail, row.env);
      assert.equal(r.code, 1, `row ${row.line}: exit code\n${r.out}`);
      assert.match(r.out, row.says, `row ${row.line}`);
      assert.equal(r.out.split('\n').filter((l) => /^==> phase \d/.test(l)).length, row.phase, `row ${row.line}: phases started\n${r.out}`);
      assert.doesNotMatch(r.out, /==> deployed|==> validating/, `row ${row.line}`);
      if (row.phase === 0) assert.deepEqual(only(s.calls(), 'terraform init', 'terraform apply', 'terraform import', 'packer '), [], `row ${row.line}: nothing made`);
    } finally {
      s.cleanup();
    }
  }
  // A scale set that was just made has no rolling upgrade yet.
  const s = stubbed();
  try {
    const r = await s.run(['azure', 'apply'], 'no-roll');
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /✓ no rolling upgrade to wait for/);
  } finally {
    s.cleanup();
  }
});

test('validate on Azure and GCP waits for the front\'s healthy backends, within its bound, before the API checks', async () => {
  const rows = [
    { line: __LINE__(), cloud: 'azure', env: {}, code: 0, says: /waiting for healthy backends \(1 of 2, \d+ s\)\n {2}✓ healthy backends: 2 of 2 behind candidates-gateway\n {2}✓ good to go/, asks: 'az network application-gateway show-backend-health --resource-group candidates-rg --name candidates-gateway --output json' },
    { line: __LINE__(), cloud: 'azure', env: { STUB_FRONT: 'load-balancer' }, code: 0, says: /waiting for healthy backends \(1 of 2, \d+ s\)\n {2}✓ healthy backends: 2 of 2\n {2}✓ good to go/, asks: 'az vmss get-instance-view --resource-group candidates-rg --name candidates-vmss --instance-id * --output json' },
    { line: __LINE__(), cloud: 'azure', fail: 'unhealthy', env: { VALIDATE_TIMEOUT: '1', VALIDATE_POLL: '0.3' }, code: 1, says: /✗ healthy backends: 1 of 2 after 1 s/ },
    { line: __LINE__(), cloud: 'gcp', env: {}, code: 0, says: /waiting for healthy backends \(1 of 2, \d+ s\)\n {2}✓ healthy backends: 2 of 2 behind candidates-backend\n {2}✓ good to go/, asks: 'gcloud compute backend-services get-health candidates-backend --global --project candidates-test --format=json' },
    { line: __LINE__(), cloud: 'gcp', fail: 'unhealthy', env: { VALIDATE_TIMEOUT: '1', VALIDATE_POLL: '0.3' }, code: 1, says: /✗ healthy backends: 1 of 2 behind candidates-backend after 1 s/ },
  ];
  for (const row of rows) {
    const s = stubbed();
    try {
      const r = await s.run([row.cloud, 'validate'], row.fail ?? '', { STUB_STATE: 'x\n', ...row.env });
      assert.equal(r.code, row.code, `row ${row.line}: exit code\n${r.out}`);
      assert.match(r.out, row.says, `row ${row.line}`);
      const calls = s.calls();
      if (row.asks) assert.ok(calls.includes(row.asks), `row ${row.line}: ${calls.join('\n')}`);
      if (row.code !== 0) assert.ok(!calls.some((c) => c.includes('/gtg')), `row ${row.line}: no API checks after unhealthy backends`);
      else assert.match(r.out, /✓ list\n$/, `row ${row.line}`);
    } finally {
      s.cleanup();
    }
  }
  // Another URL is only sent traffic: no cloud is asked about it.
  const s = stubbed();
  try {
    const r = await s.run(['azure', 'validate', 'http://127.0.0.1:9'], 'unhealthy');
    assert.equal(r.code, 0, r.out);
    assert.deepEqual(only(s.calls(), 'az ', 'terraform '), []);
  } finally {
    s.cleanup();
  }
});

// load against a deployment, as for AWS: every round the size and the
// CPU (none the first round), stress-ng on Azure through Run Command on
// each new instance once (again when it refused), and the data and plot.
test('load on Azure and GCP shows the group\'s size and CPU each round, and plots both', async () => {
  const rows = [
    { line: __LINE__(), cloud: 'azure', cpu: '', code: 0 },
    { line: __LINE__(), cloud: 'azure', cpu: '1', code: 0 },
    { line: __LINE__(), cloud: 'azure', cpu: '1', fail: 'run-command', code: 1, says: /Run Command could not start stress-ng on any instance\n {2}what to do: check the instances' agent/ },
    { line: __LINE__(), cloud: 'azure', cpu: '', fail: 'no-vmss', code: 1, says: /no scale set in .*'s state\n {2}what to do: run make deploy-azure first/ },
    { line: __LINE__(), cloud: 'gcp', cpu: '', code: 0 },
    { line: __LINE__(), cloud: 'gcp', cpu: '1', code: 1, says: /LOAD_CPU=1 cannot run on GCP: its instances admit no SSH and take no commands/ },
    { line: __LINE__(), cloud: 'gcp', cpu: '', fail: 'no-mig', code: 1, says: /no instance group in .*'s state\n {2}what to do: run make deploy-gcp first/ },
  ];
  for (const row of rows) {
    const s = stubbed();
    try {
      const r = await s.run([row.cloud, 'load', 'http://lb.example'], row.fail ?? '',
        { LOAD_SECONDS: '5', LOAD_BATCH: '5', LOAD_CPU: row.cpu, STUB_STATE: 'x\n', STUB_LOADING: '1' });
      assert.equal(r.code, row.code, `row ${row.line}: exit code\n${r.out}`);
      const calls = s.calls();
      if (row.code !== 0) {
        assert.match(r.out, row.says, `row ${row.line}`);
        assert.ok(!calls.some((c) => c.includes(' -K ')), `row ${row.line}: no load after a failure`);
        continue;
      }
      const rounds = r.out.split('\n').filter((x) => x.startsWith('load: ') && x.includes('requests in'));
      assert.ok(rounds.length >= 3, `row ${row.line}: too few rounds\n${r.out}`);
      rounds.forEach((l, i) => {
        const d = Math.min(i + 2, 4);
        // The newest instance is still being made while the group grows.
        const serving = d > 2 ? d - 1 : 2;
        const cpu = i === 0 ? 'unknown yet' : `${65 + i * 5} %`;
        assert.equal(l.replace(/^load: \d+ requests in \d+ s/, ''), ` (200 x5); group: desired ${d}, in service ${serving}; CPU ${cpu}`, `row ${row.line}: round ${i}\n${r.out}`);
      });
      if (row.cloud === 'azure') {
        for (const c of only(calls, 'az monitor metrics list')) {
          assert.match(c, /--resource \/subscriptions\/[^ ]*\/virtualMachineScaleSets\/candidates-vmss --metric Percentage CPU --aggregation Average --interval PT1M /, `row ${row.line}`);
        }
        const stress = only(calls, 'az vmss run-command invoke').map((c) => c.match(/--instance-id (\S+)/)[1]);
        const n = rounds.length;
        const want = !row.cpu ? [] : ['0', '1', ...(n >= 3 ? ['2'] : []), ...(n >= 4 ? ['2'] : [])];
        assert.deepEqual(stress.slice(0, want.length), want, `row ${row.line}`);
        for (const c of only(calls, 'az vmss run-command invoke')) {
          assert.match(c, /--command-id RunShellScript --scripts systemd-run --collect --unit=candidates-stress stress-ng --cpu 0 --cpu-load 90 --timeout \d+s --output json$/, `row ${row.line}`);
        }
        if (row.cpu) assert.match(r.out, / {2}stress-ng not started on instance 2 yet \(Run Command failed\); next round\n/, `row ${row.line}`);
        assert.match(r.out, /az vmss list-instances --resource-group candidates-rg --name candidates-vmss --output table\n$/, `row ${row.line}`);
      } else {
        // The Monitoring API, asked for the running instances by name.
        const mon = only(calls, 'curl -fsS --max-time 20 -G -H Authorization: Bearer ya29.stand-in https://monitoring.googleapis.com/v3/projects/candidates-test/timeSeries');
        assert.equal(mon.length, rounds.length, `row ${row.line}: ${calls.join('\n')}`);
        assert.match(mon[1], /filter=metric\.type="compute\.googleapis\.com\/instance\/cpu\/utilization" AND metric\.labels\.instance_name=one_of\("candidates-1","candidates-2"\) /, `row ${row.line}`);
        assert.match(mon[1], /aggregation\.alignmentPeriod=60s --data-urlencode aggregation\.perSeriesAligner=ALIGN_MEAN --data-urlencode aggregation\.crossSeriesReducer=REDUCE_MEAN$/, `row ${row.line}`);
        assert.match(r.out, /gcloud compute instance-groups managed list-instances candidates-mig --region us-central1 --project candidates-test\n$/, `row ${row.line}`);
      }
      assert.match(r.out, /load: at most 3 instances in service/, `row ${row.line}`);
      const data = fs.readdirSync(path.join(s.dir, 'plots')).filter((f) => f.endsWith('.tsv'));
      assert.equal(data.length, 1, `row ${row.line}`);
      const tsv = fs.readFileSync(path.join(s.dir, 'plots', data[0]), 'utf8').trim().split('\n');
      assert.equal(tsv.length, rounds.length + 1, `row ${row.line}`);
      assert.match(tsv[2], /^\d+\t3\t2\t70$/, `row ${row.line}: ${tsv[2]}`);
      if (spawnSync('sh', ['-c', 'command -v gnuplot']).status === 0) {
        assert.match(fs.readFileSync(path.join(s.dir, 'plots', data[0].replace(/tsv$/, 'svg')), 'utf8'), /<svg[^]*average CPU[^]*<\/svg>/, `row ${row.line}`);
      }
    } finally {
      s.cleanup();
    }
  }
});

test('azure destroy deletes the gallery\'s versions and this deployment\'s images first, asks, and keeps the database unless told', async () => {
  const state = 'azurerm_resource_group.this\nazurerm_cosmosdb_account.this\nazurerm_cosmosdb_sql_database.candidates\nazurerm_cosmosdb_sql_container.candidates\nazurerm_shared_image.app\n';
  const versions = [
    'az sig image-version delete --resource-group candidates-rg --gallery-name candidates_images --gallery-image-definition candidates --gallery-image-version 1.9.0',
    'az sig image-version delete --resource-group candidates-rg --gallery-name candidates_images --gallery-image-definition candidates --gallery-image-version 1.20251202.1000001',
  ];
  const image = 'az image delete --resource-group candidates-rg --name candidates-20251202-000001';
  const rows = [
    { line: __LINE__(), args: [], code: 1, says: /is kept with its data, and the resource group candidates-rg with it \(--delete-database deletes both\)\.\ndeploy\.sh: destroy needs a yes\n {2}what to do: run it with --yes/, order: [] },
    {
      line: __LINE__(), args: ['--yes'], code: 0,
      says: /✓ Cosmos DB account candidates-1a2b3c4d and resource group candidates-rg set aside: they stay, with the data\n[^]*kept: the Cosmos DB account candidates-1a2b3c4d in candidates-rg, with its data/,
      order: [...versions, image,
        'terraform state rm azurerm_resource_group.this azurerm_cosmosdb_account.this azurerm_cosmosdb_sql_database.candidates azurerm_cosmosdb_sql_container.candidates',
        'terraform destroy -auto-approve -input=false'],
    },
    {
      line: __LINE__(), args: ['--yes', '--delete-database'], code: 0, says: /The Cosmos DB account candidates-1a2b3c4d is DELETED WITH ALL ITS DATA, and the resource group with it\./,
      order: [...versions, image, 'terraform destroy -auto-approve -input=false'],
    },
    {
      line: __LINE__(), args: ['--yes'], fail: 'list-versions', code: 1,
      says: /\(TooManyRequests\)[^]*could not list the image versions of candidates_images\/candidates; nothing is deleted yet/, order: [],
    },
    {
      line: __LINE__(), args: ['--yes'], fail: 'list-images', code: 1,
      says: /could not list the managed images in candidates-rg; they are still there\n {2}what to do: .*TF_VAR_name=candidates/, order: versions,
    },
  ];
  for (const row of rows) {
    const s = stubbed();
    try {
      fs.writeFileSync(`${s.log}.versions`, '1.9.0\n1.20251202.1000001\n');
      const r = await s.run(['azure', 'destroy', ...row.args], row.fail ?? '', { STUB_STATE: state, STUB_NAME: 'candidates', STUB_KEPT: '1' });
      assert.equal(r.code, row.code, `row ${row.line}: exit code\n${r.out}`);
      assert.match(r.out, /destroy deletes the deployment candidates in the resource group candidates-rg: its scale set and instances,\nfront, network, private endpoint, identity, autoscale, the gallery candidates_images with its image\nversions, and Packer's managed images \(tag Project=candidates\)\./, `row ${row.line}`);
      assert.match(r.out, row.says, `row ${row.line}`);
      const order = s.calls().filter((c) => / destroy | state rm |image-version delete|image delete/.test(c));
      assert.deepEqual(order, row.order, `row ${row.line}`);
      // Another deployment's image in the same group is never touched.
      assert.ok(!s.calls().some((c) => c.includes('blue-')), `row ${row.line}`);
      if (row.code === 0) assert.match(r.out, /==> destroyed\n$/, `row ${row.line}`);
      else assert.doesNotMatch(r.out, /destroyed/, `row ${row.line}`);
    } finally {
      s.cleanup();
    }
  }
});

test('gcp apply: the three phases without a public IP for the build, the roll, healthy backends, then validate', async () => {
  const s = stubbed();
  try {
    const r = await s.run(['gcp', 'apply']);
    assert.equal(r.code, 0, r.out);
    assert.deepEqual(phasesOf(r.out), ['==> checking the tools and the Google Cloud project', '==> phase 1/3', '==> phase 2/3',
      '==> phase 3/3', '==> rolling the group candidates-mig onto candidates-20251202-000001', '==> deployed', '==> validating http']);
    assert.match(r.out, /✓ signed in as ops@example\.com, with Application Default Credentials\n {2}✓ project candidates-test \(Candidates Test\)/);
    assert.match(r.out, /==> phase 2\/3: the image \(nginx on Debian 12, port 8080\) into the family candidates, without an external IP, in candidates-build through IAP/);
    assert.match(r.out, / {2}group candidates-mig: updating to 2 instances of its new version \(\d+ s\)\n {2}group candidates-mig: updating[^\n]*\n {2}✓ group candidates-mig: stable on its new version\n/);
    assert.match(r.out, /✓ healthy backends: 2 of 2 behind candidates-backend\n {2}✓ good to go\n {2}✓ insert\n {2}✓ verify\n {2}✓ list\n$/);
    const calls = s.calls();
    assert.deepEqual(only(calls, 'terraform apply'), [
      'terraform apply -auto-approve -input=false [image_build_access=true] [project=candidates-test]',
      'terraform apply -auto-approve -input=false [image_family=candidates] [image_build_access=true] [project=candidates-test]',
    ]);
    const build = calls.find((c) => c.startsWith('packer build')) ?? '';
    assert.match(build, /^packer build -color=false -only=googlecompute\.debian /);
    for (const want of [`source_root=${s.dir}`, 'gcp_project=candidates-test', 'gcp_zone=us-central1-a', 'gcp_network=candidates-vpc',
      'gcp_subnetwork=candidates-build', 'gcp_build_tag=candidates-packer-build', 'web_server=nginx', 'web_port=8080',
      'git_commit=unknown', 'deployment=candidates']) {
      assert.ok(build.includes(` -var ${want} `), `packer build lacks -var ${want}: ${build}`);
    }
    assert.ok(!build.includes('ssh_cidrs'), 'IAP needs no address of ours');
  } finally {
    s.cleanup();
  }
});

test('gcp apply: a deployment with an image keeps its group in phase 1, a kept database is adopted, the build can use the default network', async () => {
  const rows = [
    { line: __LINE__(), env: {}, images: 'candidates-20251101-000000\n', phase1: /\[image_family=candidates\]/, imports: [] },
    { line: __LINE__(), env: { STUB_KEPT: '1' }, images: '', phase1: /^terraform apply -auto-approve -input=false \[image_build_access/, imports: ['terraform import -input=false google_firestore_database.this projects/candidates-test/databases/(default) [image_build_access=true] [project=candidates-test]'] },
    { line: __LINE__(), env: { TF_VAR_image_build_access: 'false' }, images: '', phase1: /\[image_build_access=false\]/, imports: [], network: 'default' },
  ];
  for (const row of rows) {
    const s = stubbed();
    try {
      fs.writeFileSync(`${s.log}.images`, row.images);
      const r = await s.run(['gcp', 'apply'], '', row.env);
      assert.equal(r.code, 0, `row ${row.line}\n${r.out}`);
      const calls = s.calls();
      const phase1 = only(calls, 'terraform apply')[0];
      assert.match(phase1, row.phase1, `row ${row.line}`);
      assert.deepEqual(only(calls, 'terraform import'), row.imports, `row ${row.line}`);
      if (row.imports.length) {
        assert.ok(calls.indexOf(row.imports[0]) < calls.indexOf(phase1), `row ${row.line}: before phase 1`);
        assert.match(r.out, /==> adopting the Firestore database \(default\), which an earlier destroy kept/);
      }
      const build = calls.find((c) => c.startsWith('packer build')) ?? '';
      if (row.network === 'default') {
        assert.ok(!build.includes('gcp_subnetwork'), `row ${row.line}: ${build}`);
        assert.match(r.out, /with an external IP on the project's default network \(image_build_access=false\)/, `row ${row.line}`);
      } else {
        assert.ok(build.includes(' -var gcp_subnetwork=candidates-build '), `row ${row.line}: ${build}`);
      }
    } finally {
      s.cleanup();
    }
  }
});

test('gcp apply and check-env stop at the first failure and say what to do', async () => {
  const rows = [
    { line: __LINE__(), fail: 'login', says: /gcloud has no active account\n {2}what to do: run gcloud auth login/, phase: 0 },
    { line: __LINE__(), fail: 'adc', says: /no Application Default Credentials, which Terraform and Packer use\n {2}what to do: run gcloud auth application-default login/, phase: 0 },
    { line: __LINE__(), fail: 'no-project', says: /deploy\.sh: no project\n {2}what to do: set TF_VAR_project=<project id>, or gcloud config set project <project id>/, phase: 0 },
    { line: __LINE__(), fail: 'apply-1', says: /phase 1 failed\n {2}what to do:/, phase: 1 },
    { line: __LINE__(), fail: 'packer', says: /phase 2 \(packer\) failed; what phase 1 made is still there/, phase: 2 },
    { line: __LINE__(), fail: 'apply-2', says: /phase 3 failed\n {2}what to do:/, phase: 3 },
    { line: __LINE__(), fail: 'other-image', says: /Terraform chose the image candidates-20240101-000000, not candidates-20251202-000001 just built\n {2}what to do: check the family: gcloud compute images list --project candidates-test --filter=family=candidates/, phase: 3 },
    { line: __LINE__(), fail: 'roll', env: { ROLL_TIMEOUT: '0' }, says: /the group candidates-mig is still updating after 0 s\n {2}what to do: watch it with gcloud compute instance-groups managed list-instances candidates-mig --region us-central1/, phase: 3 },
  ];
  for (const row of rows) {
    const s = stubbed();
    try {
      const r = await s.run(['gcp', 'apply'], row.fail, row.env);
      assert.equal(r.code, 1, `row ${row.line}: exit code\n${r.out}`);
      assert.match(r.out, row.says, `row ${row.line}`);
      assert.equal(r.out.split('\n').filter((l) => /^==> phase \d/.test(l)).length, row.phase, `row ${row.line}: phases started\n${r.out}`);
      assert.doesNotMatch(r.out, /==> deployed|==> validating/, `row ${row.line}`);
      if (row.phase === 0) assert.deepEqual(only(s.calls(), 'terraform init', 'terraform apply', 'terraform import', 'packer '), [], `row ${row.line}: nothing made`);
    } finally {
      s.cleanup();
    }
  }
});

test('gcp destroy deletes its family\'s images only, asks, and keeps the database unless told', async () => {
  const rows = [
    { line: __LINE__(), args: [], code: 1, says: /The Firestore database \(default\) is kept with its data \(--delete-database deletes it\)\.\nThe APIs it enabled stay enabled\.\ndeploy\.sh: destroy needs a yes/, order: [] },
    {
      line: __LINE__(), args: ['--yes'], code: 0, says: /kept: the Firestore database \(default\) in candidates-test, with its data/,
      order: ['terraform destroy -auto-approve -input=false [project=candidates-test]',
        'gcloud compute images delete candidates-20251101-000000 --project candidates-test --quiet',
        'gcloud compute images delete candidates-20251202-000001 --project candidates-test --quiet'],
    },
    {
      line: __LINE__(), args: ['--yes', '--delete-database'], code: 0, says: /==> deleting the Firestore database \(default\): its delete protection off, then the database\n {2}✓ Firestore database \(default\)/,
      order: ['terraform destroy -auto-approve -input=false [project=candidates-test]',
        'gcloud compute images delete candidates-20251101-000000 --project candidates-test --quiet',
        'gcloud compute images delete candidates-20251202-000001 --project candidates-test --quiet',
        'gcloud firestore databases update --database=(default) --no-delete-protection --project candidates-test',
        'gcloud firestore databases delete --database=(default) --project candidates-test --quiet'],
    },
    {
      line: __LINE__(), args: ['--yes'], fail: 'list-images', code: 1,
      says: /Quota exceeded\ndeploy\.sh: could not list the images of the family candidates; they are still there\n {2}what to do: .*TF_VAR_name=candidates/,
      order: ['terraform destroy -auto-approve -input=false [project=candidates-test]'],
    },
  ];
  for (const row of rows) {
    const s = stubbed();
    try {
      fs.writeFileSync(`${s.log}.images`, 'candidates-20251101-000000\ncandidates-20251202-000001\n');
      const r = await s.run(['gcp', 'destroy', ...row.args], row.fail ?? '', { STUB_STATE: 'google_firestore_database.this\n', STUB_NAME: 'candidates' });
      assert.equal(r.code, row.code, `row ${row.line}: exit code\n${r.out}`);
      assert.match(r.out, /destroy deletes the deployment candidates in the project candidates-test: its instance group and instances,\ntemplate, autoscaler, load balancer, health check, firewall rules, network, service account,\nand its images \(family candidates\)\./, `row ${row.line}`);
      assert.match(r.out, row.says, `row ${row.line}`);
      const calls = s.calls();
      const order = calls.filter((c) => / destroy |images delete|firestore databases (update|delete)/.test(c));
      assert.deepEqual(order, row.order, `row ${row.line}`);
      const listing = only(calls, 'gcloud compute images list');
      if (row.order.length) assert.deepEqual(listing, ['gcloud compute images list --project candidates-test --no-standard-images --filter=family=candidates --format=json'], `row ${row.line}`);
      assert.ok(!calls.some((c) => c.includes('blue-')), `row ${row.line}: another deployment's image`);
      if (row.code === 0) assert.match(r.out, /==> destroyed\n$/, `row ${row.line}`);
      else assert.doesNotMatch(r.out, /destroyed/, `row ${row.line}`);
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
