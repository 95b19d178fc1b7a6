'use strict';
// The Terraform in infra/aws/: syntax and the rules that keep a deployment
// safe, checked from the source everywhere, and with terraform itself
// (fmt, validate, and the plan-time assertions of infra/aws/tests/) where
// the machine has terraform and a local copy of the AWS provider.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const hcl = require('@cdktf/hcl2json');

const ROOT = path.resolve(__dirname, '..', '..');
const TF_DIR = path.join(ROOT, 'infra', 'aws');
const PLUGIN_DIR = process.env.TF_PLUGIN_DIR ?? '/opt/tf-plugins';
const PROVIDER_DIR = path.join(PLUGIN_DIR, 'registry.terraform.io', 'hashicorp', 'aws');

const hasTerraform = spawnSync('sh', ['-c', 'command -v terraform']).status === 0;
const providerVersions = fs.existsSync(PROVIDER_DIR) ? fs.readdirSync(PROVIDER_DIR) : [];
const NO_TERRAFORM = !hasTerraform ? 'terraform is not installed: only the HCL syntax and the rules below are checked'
  : providerVersions.length === 0 ? `no AWS provider under ${PLUGIN_DIR}: only the HCL syntax and the rules below are checked`
    : false;

// terraform without the machine's CLI configuration, which may name a
// file that does not exist and make every command warn.
function terraform(args, cwd) {
  return spawnSync('terraform', args, {
    cwd, encoding: 'utf8', env: { ...process.env, TF_CLI_CONFIG_FILE: '/dev/null', TF_IN_AUTOMATION: '1' },
  });
}

function tfFiles(dir = TF_DIR) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return e.name.startsWith('.') ? [] : tfFiles(p);
    return /\.(tf|tftest\.hcl)$/.test(e.name) ? [p] : [];
  });
}

let parsedCache = null;
async function parsed() {
  if (!parsedCache) {
    parsedCache = {};
    for (const f of tfFiles()) {
      parsedCache[path.relative(TF_DIR, f)] = await hcl.parse(f, fs.readFileSync(f, 'utf8'));
    }
  }
  return parsedCache;
}

// Every resource block of a type, across the module's files: [{ name, body }].
async function resources(type) {
  const out = [];
  for (const [file, doc] of Object.entries(await parsed())) {
    if (file.includes('/')) continue;
    for (const [name, list] of Object.entries(doc.resource?.[type] ?? {})) {
      for (const body of list) out.push({ name: `${type}.${name}`, body });
    }
  }
  return out;
}

test('every Terraform file parses (hcl2json)', async () => {
  const files = Object.keys(await parsed());
  for (const want of ['versions.tf', 'variables.tf', 'outputs.tf', 'tests/plan.tftest.hcl']) {
    assert.ok(files.includes(want), `infra/aws/${want} is missing`);
  }
});

test('variables are typed and described, outputs described', async () => {
  for (const [file, doc] of Object.entries(await parsed())) {
    for (const [name, [v]] of Object.entries(doc.variable ?? {})) {
      if (file.includes('/')) continue;
      assert.ok(v.type, `${file}: variable ${name} has no type`);
      assert.ok(v.description, `${file}: variable ${name} has no description`);
    }
    for (const [name, [o]] of Object.entries(doc.output ?? {})) {
      assert.ok(o.description, `${file}: output ${name} has no description`);
    }
  }
});

// The local provider must satisfy the pinned constraint (and so must the
// version a user's terraform init picks).
test('the AWS provider is pinned to a range the local 5.100 satisfies', async () => {
  const doc = (await parsed())['versions.tf'];
  const aws = Object.assign({}, ...doc.terraform[0].required_providers).aws;
  assert.equal(aws.source, 'hashicorp/aws');
  const cmp = (a, b) => {
    const x = a.split('.').map(Number);
    const y = b.split('.').map(Number);
    for (let i = 0; i < 3; i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0);
    return 0;
  };
  const ok = (v) => aws.version.split(',').map((c) => c.trim()).every((c) => {
    const [, op, want] = c.match(/^(>=|<=|>|<|=|~>)?\s*([\d.]+)$/) ?? assert.fail(`cannot read constraint ${c}`);
    const d = cmp(v, want);
    switch (op ?? '=') {
      case '>=': return d >= 0;
      case '>': return d > 0;
      case '<=': return d <= 0;
      case '<': return d < 0;
      case '=': return d === 0;
      default: {
        const parts = want.split('.');
        const upper = parts.length > 2 ? `${parts[0]}.${Number(parts[1]) + 1}` : `${Number(parts[0]) + 1}`;
        return d >= 0 && cmp(v, upper) < 0;
      }
    }
  });
  assert.ok(/[<~]/.test(aws.version), `"${aws.version}" has no upper bound: a new major version could break the module`);
  for (const v of ['5.100.0', ...providerVersions]) {
    assert.ok(ok(v), `provider ${v} does not satisfy "${aws.version}"`);
  }
});

// terraform init reads tests/ as well as the module, so the oldest
// Terraform that can run anything here is the one the newest feature in
// any file needs; required_version and the README must name exactly that
// one, or a user's older terraform fails with a confusing parse error.
const FEATURES = [
  { re: /\bmock_provider\b/, version: '1.7', what: 'mock_provider in terraform test' },
  { re: /\boverride_during\b/, version: '1.11', what: 'override_during in terraform test' },
];
test('required_version and the README name the Terraform every file here needs', async () => {
  const cmp = (a, b) => a.split('.').map(Number).reduce((d, x, i) => d || x - (Number(b.split('.')[i]) || 0), 0);
  let need = { version: '1.0', what: 'nothing newer' };
  for (const f of tfFiles()) {
    const text = fs.readFileSync(f, 'utf8');
    for (const feat of FEATURES) {
      if (feat.re.test(text) && cmp(feat.version, need.version) > 0) need = { ...feat, file: path.relative(TF_DIR, f) };
    }
  }
  const doc = (await parsed())['versions.tf'];
  assert.equal(doc.terraform[0].required_version, `>= ${need.version}`,
    `${need.file ?? 'infra/aws'} uses ${need.what}, which needs Terraform ${need.version}`);
  const readme = fs.readFileSync(path.join(TF_DIR, 'README.md'), 'utf8');
  assert.match(readme, new RegExp(`Terraform ${need.version.replace('.', '\\.')} or later`), 'infra/aws/README.md');
  const others = [...readme.matchAll(/Terraform (\d+\.\d+) or later/g)].map((m) => m[1]).filter((v) => v !== need.version);
  assert.deepEqual(others, [], 'infra/aws/README.md names another Terraform version');
  if (hasTerraform) {
    const v = terraform(['version', '-json'], ROOT);
    const local = JSON.parse(v.stdout).terraform_version;
    assert.ok(cmp(local, need.version) >= 0, `the local terraform ${local} is older than ${need.version}`);
  }
});

// Rules about every rule: they hold for rules added later too, because
// they scan all of them rather than the ones the plan test names.
test('nothing reaches the instances from a CIDR, and no SSH anywhere', async () => {
  const ingress = [
    ...await resources('aws_vpc_security_group_ingress_rule'),
    ...await resources('aws_security_group_rule'),
  ].filter((r) => r.body.type === undefined || r.body.type === 'ingress');
  assert.ok(ingress.length > 0, 'no ingress rules found: the scan would prove nothing');
  for (const r of ingress) {
    const from = String(r.body.from_port);
    const to = String(r.body.to_port);
    assert.ok(from !== '22' && to !== '22' && r.body.ip_protocol !== '-1',
      `${r.name} opens SSH or every port`);
    if (String(r.body.security_group_id).includes('aws_security_group.instances')) {
      for (const k of ['cidr_ipv4', 'cidr_ipv6', 'cidr_blocks', 'ipv6_cidr_blocks', 'prefix_list_id']) {
        assert.equal(r.body[k], undefined, `${r.name} lets ${k} reach the instances`);
      }
      assert.match(String(r.body.referenced_security_group_id ?? r.body.source_security_group_id),
        /aws_security_group\.alb\.id/, `${r.name} must come from the load balancer's group`);
    }
  }
  for (const g of await resources('aws_security_group')) {
    assert.equal(g.body.ingress, undefined, `${g.name} has inline ingress rules, which the scan above cannot see`);
  }
});

test('the instances may only Query, PutItem and Scan, and only as one inline policy', async () => {
  const policies = await resources('aws_iam_role_policy');
  assert.equal(policies.length, 1, 'exactly one inline policy');
  const actions = [...policies[0].body.policy.matchAll(/"(dynamodb:[A-Za-z*]+)"/g)].map((m) => m[1]).sort();
  assert.deepEqual(actions, ['dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:Scan']);
  assert.equal((await resources('aws_iam_policy')).length, 0, 'no managed policies of our own');
  const attached = (await resources('aws_iam_role_policy_attachment')).map((r) => r.body.policy_arn);
  assert.deepEqual(attached.map((a) => a.replace(/^.*:policy\//, '')), ['AmazonSSMManagedInstanceCore']);
});

test('the group keeps its scaled size, pins its template version and refreshes', async () => {
  const [asg] = await resources('aws_autoscaling_group');
  assert.ok(asg, 'no Auto Scaling Group');
  assert.deepEqual(asg.body.lifecycle?.[0]?.ignore_changes, ['${desired_capacity}']);
  const version = asg.body.launch_template[0].version;
  assert.doesNotMatch(version, /\$(Latest|Default)/, 'the version must be pinned');
  assert.match(version, /latest_version/);
  assert.equal(asg.body.instance_refresh[0].strategy, 'Rolling');
});

// The instances have no way out but the endpoints: every egress rule of
// their group names DynamoDB's prefix list or a security group, never a
// CIDR (which is what a route to the internet would be used by).
test('the instances may call only the endpoints, and live in the private subnets', async () => {
  const egress = (await resources('aws_vpc_security_group_egress_rule'))
    .filter((r) => String(r.body.security_group_id).includes('aws_security_group.instances'));
  assert.ok(egress.length >= 2, 'no egress rules of the instances found: the scan would prove nothing');
  for (const r of egress) {
    for (const k of ['cidr_ipv4', 'cidr_ipv6']) assert.equal(r.body[k], undefined, `${r.name} lets the instances out to ${k}`);
    assert.ok(r.body.prefix_list_id || r.body.referenced_security_group_id, `${r.name} names no endpoint`);
  }
  const [asg] = await resources('aws_autoscaling_group');
  assert.match(asg.body.vpc_zone_identifier, /aws_subnet\.private\[\*\]\.id/);
  const routes = [...await resources('aws_route'), ...await resources('aws_route_table')]
    .filter((r) => r.name.endsWith('.private') || String(r.body.route_table_id).includes('aws_route_table.private'));
  for (const r of routes) assert.equal(r.body.route, undefined, `${r.name} gives the private subnets a route`);
});

// One port: Packer's default and Terraform's agree, deploy.sh hands
// Terraform's to Packer (deploy-scripts.test.js), Packer tags the image
// with it (packer.test.js), and Terraform refuses an image tagged with
// another (the plan test an_image_for_another_port_is_refused).
test('the image\'s web port and Terraform\'s have the same default', async () => {
  const tf = (await parsed())['variables.tf'].variable.web_port[0];
  const pk = await hcl.parse('variables.pkr.hcl', fs.readFileSync(path.join(ROOT, 'images', 'variables.pkr.hcl'), 'utf8'));
  assert.equal(pk.variable.web_port[0].default, tf.default);
  const deploy = fs.readFileSync(path.join(TF_DIR, 'deploy.sh'), 'utf8');
  assert.match(deploy, /port=\$\(tf console <<<'var\.web_port'\)/);
  assert.match(deploy, /-var "web_port=\$port"/);
});

test('terraform fmt -check -recursive', { skip: hasTerraform ? false : 'terraform is not installed' }, () => {
  const r = terraform(['fmt', '-check', '-recursive', '-diff', path.join(ROOT, 'infra')], ROOT);
  assert.equal(r.status, 0, `terraform fmt:\n${r.stdout}${r.stderr}`);
});

// In a copy, so a user's own .terraform directory (a real init) is never
// touched by -plugin-dir.
test('terraform validate and terraform test (plan-time assertions, mocked AWS)', { skip: NO_TERRAFORM, timeout: 300000 }, (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'candidates-tf-'));
  try {
    fs.cpSync(TF_DIR, dir, {
      recursive: true,
      filter: (src) => !/(^|\/)(\.terraform|\.terraform\.lock\.hcl|.*\.tfstate.*|.*\.auto\.tfvars)$/.test(src),
    });
    let r = terraform(['init', '-backend=false', `-plugin-dir=${PLUGIN_DIR}`, '-input=false', '-no-color'], dir);
    assert.equal(r.status, 0, `terraform init:\n${r.stdout}${r.stderr}`);
    r = terraform(['validate', '-no-color'], dir);
    assert.equal(r.status, 0, `terraform validate:\n${r.stdout}${r.stderr}`);
    r = terraform(['test', '-no-color'], dir);
    assert.equal(r.status, 0, `terraform test:\n${r.stdout}${r.stderr}`);
    const m = r.stdout.match(/Success! (\d+) passed, 0 failed/);
    assert.ok(m && Number(m[1]) >= 26, `terraform test ran too few checks:\n${r.stdout}`);
    t.diagnostic(m[0]);

    // An internet-facing load balancer created before the gateway is
    // attached fails ("VPC has no internet gateway"): the graph must order
    // it after the gateway and the public routes.
    // terraform graph leaves out edges implied by others, so follow them.
    r = terraform(['graph'], dir);
    assert.equal(r.status, 0, `terraform graph:\n${r.stderr}`);
    const edges = [...r.stdout.matchAll(/"([^"]+)" -> "([^"]+)"/g)];
    const after = new Set(['aws_lb.this']);
    for (let grew = true; grew;) {
      grew = false;
      for (const [, from, to] of edges) {
        if (after.has(from) && !after.has(to)) { after.add(to); grew = true; }
      }
    }
    for (const dep of ['aws_internet_gateway.this', 'aws_route_table_association.public']) {
      assert.ok(after.has(dep), `aws_lb.this does not wait for ${dep}`);
    }

    // deploy.sh reads the table's name this way before any state exists
    // (to adopt a table a destroy kept): it must work without an account.
    for (const row of [
      { line: __LINE__(), env: {}, want: '"Candidates"' },
      { line: __LINE__(), env: { TF_VAR_name: 'blue' }, want: '"blue-Candidates"' },
      { line: __LINE__(), env: { TF_VAR_name: 'blue', TF_VAR_table_name: 'Legacy' }, want: '"Legacy"' },
    ]) {
      const c = spawnSync('terraform', ['console'], {
        cwd: dir, input: 'local.table_name\n', encoding: 'utf8',
        env: { ...process.env, TF_CLI_CONFIG_FILE: '/dev/null', AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', ...row.env },
      });
      assert.equal(c.stdout.trim(), row.want, `row ${row.line}: ${c.stderr}`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// The S3 backend deploy.sh writes, with the settings it passes: init must
// get past reading them (an unknown or misspelt one, such as an older
// Terraform's lack of use_lockfile, stops it there) and fail only where
// it would need the network.
test('the S3 backend with use_lockfile is one this Terraform accepts', { skip: NO_TERRAFORM, timeout: 120000 }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'candidates-tf-'));
  try {
    fs.copyFileSync(path.join(TF_DIR, 'versions.tf'), path.join(dir, 'versions.tf'));
    fs.writeFileSync(path.join(dir, 'backend_override.tf'), 'terraform {\n  backend "s3" {}\n}\n');
    const init = (extra) => terraform(['init', `-plugin-dir=${PLUGIN_DIR}`, '-input=false', '-no-color',
      '-backend-config=bucket=candidates-state', '-backend-config=key=candidates/terraform.tfstate',
      '-backend-config=region=us-east-1', '-backend-config=encrypt=true', ...extra], dir);
    const bad = init(['-backend-config=use_lockfil=true']);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /use_lockfil/, 'a misspelt setting must be what stops init');
    const good = init(['-backend-config=use_lockfile=true']);
    assert.notEqual(good.status, 0, 'init cannot reach S3 here');
    assert.doesNotMatch(good.stderr, /use_lockfile|Invalid backend configuration|Unsupported argument/, good.stderr);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// The line a table row was written on, so a failure names its row.
function __LINE__() {
  const line = new Error().stack.split('\n')[2].match(/:(\d+):\d+\)?$/);
  return line ? Number(line[1]) : 0;
}
