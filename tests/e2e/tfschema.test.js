'use strict';
// The offline Terraform checker (tests/infra/tfschema.js) and the two
// modules it exists for, infra/azure and infra/gcp, whose providers cannot
// be installed here. The checker is proven three ways: a fixture folder per
// failure it must catch (exactly one problem, on the right line), a clean
// fixture it must accept, and, where terraform and the local AWS provider
// are installed, terraform validate itself as the oracle on the same kinds
// of mistakes, through a schema made from that provider.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const tfschema = require('../infra/tfschema.js');
const hcl = require('../infra/hcl.js');

const ROOT = path.resolve(__dirname, '..', '..');
const CLI = path.join(ROOT, 'tests', 'infra', 'tfschema.js');
const FIXTURES = path.join(ROOT, 'tests', 'infra', 'fixtures');
const SCHEMA_FILES = {
  azurerm: path.join(ROOT, 'tests', 'testdata', 'terraform-schemas', 'azurerm.json.gz'),
  google: path.join(ROOT, 'tests', 'testdata', 'terraform-schemas', 'google.json.gz'),
};
const schemas = {};
function schema(name) {
  schemas[name] ??= tfschema.loadSchema(SCHEMA_FILES[name]);
  return schemas[name];
}

const PLUGIN_DIR = process.env.TF_PLUGIN_DIR ?? '/opt/tf-plugins';
const hasTerraform = spawnSync('sh', ['-c', 'command -v terraform']).status === 0;
const hasAws = fs.existsSync(path.join(PLUGIN_DIR, 'registry.terraform.io', 'hashicorp', 'aws'));
const NO_TERRAFORM = hasTerraform ? false : 'terraform is not installed';
const NO_ORACLE = !hasTerraform ? 'terraform is not installed: no oracle for the checker'
  : !hasAws ? `no AWS provider under ${PLUGIN_DIR}: no oracle for the checker` : false;

function terraform(args, cwd) {
  return spawnSync('terraform', args, {
    cwd, encoding: 'utf8', maxBuffer: 64 << 20,
    env: { ...process.env, TF_CLI_CONFIG_FILE: '/dev/null', TF_IN_AUTOMATION: '1' },
  });
}

// fixture, schema, line, what: each folder holds one mistake.
const FAILURES = [
  ['misspelt-argument', 'azurerm', 23, /^azurerm_virtual_network\.main: unknown argument "adress_space" \(did you mean "address_space"\?\)$/],
  ['missing-required-argument', 'azurerm', 19, /^azurerm_subnet\.app: missing required argument "virtual_network_name"$/],
  ['block-as-argument', 'google', 19, /^google_compute_subnetwork\.app: "log_config" is a block, not an argument/],
  ['argument-as-block', 'azurerm', 18, /^azurerm_resource_group\.main: "tags" is an argument, not a block/],
  ['unknown-reference', 'azurerm', 22, /: azurerm_resource_group\.mian\.name: resource azurerm_resource_group\.mian is not declared \(did you mean "main"\?\)$/],
  ['unknown-reference-type', 'azurerm', 22, /: unknown reference "azurerm_resourcegroup" \(did you mean "azurerm_resource_group"\?\)$/],
  ['unknown-attribute', 'azurerm', 21, /: azurerm_resource_group\.main has no attribute "locaton" \(did you mean "location"\?\)$/],
  ['data-unknown-attribute', 'azurerm', 17, /: data\.azurerm_client_config\.current has no attribute "tenant"$/],
  ['undeclared-variable', 'azurerm', 21, /: variable "locaton" is not declared \(did you mean "location"\?\)$/],
  ['undeclared-local', 'azurerm', 20, /: local value "region" is not declared$/],
  ['two-blocks-where-one', 'google', 24, /^google_compute_subnetwork\.app: at most one "log_config" block is allowed$/],
  ['read-only-set', 'azurerm', 23, /^azurerm_user_assigned_identity\.app: "client_id" is read-only/],
  ['missing-required-block', 'azurerm', 25, /^azurerm_shared_image\.app: missing required block "identifier"$/],
  ['unknown-in-dynamic-content', 'google', 23, /^google_compute_firewall\.web: unknown argument "allow\.prots" \(did you mean "ports"\?\)$/],
  ['iterator-field', 'google', 23, /: allow\.val: the dynamic block's iterator "allow" has only key and value$/],
  ['each-without-for-each', 'azurerm', 15, /: each\.key: each exists only in a block with for_each$/],
  ['count-without-index', 'azurerm', 22, /^output\.name: .*azurerm_resource_group\.main has count: name an instance/],
  ['set-indexed', 'google', 26, /: google_compute_firewall\.web\.allow is a set of blocks, which cannot be indexed/],
  ['unknown-function', 'azurerm', 15, /: unknown function "lowercase"$/],
  ['ignore-unknown', 'azurerm', 19, /: lifecycle\.ignore_changes names "tag", which is not an argument here \(did you mean "tags"\?\)$/],
  ['unknown-resource-type', 'azurerm', 14, /: unknown resource type "azurerm_resource_groups" \(did you mean "azurerm_resource_group"\?\)$/],
  ['provider-version', 'azurerm', 3, /^terraform: provider "azurerm" is constrained to "~> 3\.0", which the schema's 4\.55\.0 does not meet$/],
];
const CLEAN = 'clean-azurerm';

test('every fixture folder is a row of the table, and each row has its folder', () => {
  const dirs = fs.readdirSync(FIXTURES).sort();
  const rows = [...FAILURES.map((r) => r[0]), CLEAN].sort();
  assert.deepEqual(dirs, rows);
});

test('the clean fixture has no problems', async () => {
  const problems = await tfschema.check(path.join(FIXTURES, CLEAN), [schema('azurerm')]);
  assert.deepEqual(problems.map(tfschema.format), []);
});

test('each failing fixture has exactly its one problem, on its line', async () => {
  for (const [name, which, line, what] of FAILURES) {
    const dir = path.join(FIXTURES, name);
    const problems = await tfschema.check(dir, [schema(which)]);
    const shown = problems.map(tfschema.format).join('\n');
    assert.equal(problems.length, 1, `${name}: expected one problem, got:\n${shown}`);
    assert.equal(problems[0].file, path.join(dir, 'main.tf'), `${name}: ${shown}`);
    assert.equal(problems[0].line, line, `${name}: ${shown}`);
    assert.match(`${problems[0].subject}: ${problems[0].what}`, what, `${name}: ${shown}`);
  }
});

test('the CLI: one line per problem and exit 1; exit 0 when clean; exit 2 when it cannot run', () => {
  const run = (...args) => spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8' });
  let r = run('tests/infra/fixtures/misspelt-argument', SCHEMA_FILES.azurerm);
  assert.equal(r.status, 1, r.stderr);
  assert.equal(r.stdout, 'tests/infra/fixtures/misspelt-argument/main.tf:23: azurerm_virtual_network.main: '
    + 'unknown argument "adress_space" (did you mean "address_space"?)\n');
  r = run(`tests/infra/fixtures/${CLEAN}`, SCHEMA_FILES.azurerm);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /0 problem\(s\) against azurerm 4\.55\.0/);
  for (const args of [[], ['tests/infra/fixtures'], ['tests/infra/fixtures', SCHEMA_FILES.azurerm], ['infra/azure', '/nonexistent.json.gz']]) {
    r = run(...args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /usage|tfschema\.js: /, args.join(' '));
  }
});

// A provider's version must meet the folder's constraint, or the schema
// checked is not one the folder would get.
test('version constraints', () => {
  const rows = [
    ['4.55.0', '~> 4.0', true], ['4.55.0', '~> 4.55.1', false], ['4.55.3', '~> 4.55.1', true],
    ['4.55.0', '~> 3.0', false], ['5.0.0', '~> 4.0', false], ['4.55.0', '>= 4.0, < 5.0', true],
    ['6.50.0', '>= 6.10, < 7.0', true], ['6.50.0', '>= 6.51', false], ['6.50.0', '6.50.0', true],
    ['6.50.0', '!= 6.50.0', false], ['6.50.0', 'latest', false],
  ];
  for (const [v, c, want] of rows) assert.equal(tfschema.satisfies(v, c), want, `${v} against "${c}"`);
});

// What each module must hold for its issue, read from the source: the
// checker proves the names right, this proves they are there.
const MODULES = {
  azure: {
    schema: 'azurerm',
    files: ['versions.tf', 'providers.tf', 'variables.tf', 'network.tf', 'front.tf', 'compute.tf', 'scaling.tf', 'cosmos.tf', 'outputs.tf'],
    types: [
      'azurerm_resource_group', 'azurerm_virtual_network', 'azurerm_subnet', 'azurerm_network_security_group',
      'azurerm_application_gateway', 'azurerm_public_ip', 'azurerm_lb', 'azurerm_lb_probe', 'azurerm_lb_rule',
      'azurerm_linux_virtual_machine_scale_set', 'azurerm_user_assigned_identity', 'azurerm_shared_image_gallery',
      'azurerm_shared_image', 'azurerm_monitor_autoscale_setting', 'azurerm_cosmosdb_account',
      'azurerm_cosmosdb_sql_database', 'azurerm_cosmosdb_sql_container', 'azurerm_cosmosdb_sql_role_assignment',
      'azurerm_private_endpoint', 'azurerm_private_dns_zone',
    ],
  },
  gcp: {
    schema: 'google',
    files: ['versions.tf', 'providers.tf', 'variables.tf', 'network.tf', 'compute.tf', 'scaling.tf', 'lb.tf', 'firestore.tf', 'outputs.tf'],
    types: [
      'google_project_service', 'google_compute_network', 'google_compute_subnetwork', 'google_compute_firewall',
      'google_service_account', 'google_project_iam_member', 'google_compute_instance_template',
      'google_compute_region_instance_group_manager', 'google_compute_region_autoscaler', 'google_compute_health_check',
      'google_compute_backend_service', 'google_compute_url_map', 'google_compute_target_http_proxy',
      'google_compute_global_forwarding_rule', 'google_compute_global_address', 'google_firestore_database',
    ],
  },
};

for (const [cloud, mod] of Object.entries(MODULES)) {
  const dir = path.join(ROOT, 'infra', cloud);

  test(`infra/${cloud} has no problems against ${mod.schema}`, async () => {
    const problems = await tfschema.check(dir, [schema(mod.schema)]);
    assert.deepEqual(problems.map(tfschema.format), []);
  });

  test(`infra/${cloud} has the files and resources its issue asks for, variables typed, described and outputs described`, () => {
    const found = new Set();
    for (const f of mod.files) assert.ok(fs.existsSync(path.join(dir, f)), `infra/${cloud}/${f} is missing`);
    for (const f of fs.readdirSync(dir).filter((x) => x.endsWith('.tf'))) {
      for (const blk of hcl.read(fs.readFileSync(path.join(dir, f), 'utf8'))) {
        const has = (n) => blk.body.some((i) => i.kind === 'attr' && i.name === n);
        if (blk.type === 'resource') found.add(blk.labels[0]);
        if (blk.type === 'variable') {
          assert.ok(has('type') && has('description'), `${f}: variable ${blk.labels[0]} needs a type and a description`);
        }
        if (blk.type === 'output') assert.ok(has('description'), `${f}: output ${blk.labels[0]} needs a description`);
      }
    }
    assert.deepEqual(mod.types.filter((t) => !found.has(t)), [], `infra/${cloud} lacks these resource types`);
  });
}

test('terraform fmt -check -recursive on infra/azure, infra/gcp and the fixtures', { skip: NO_TERRAFORM }, () => {
  for (const dir of ['infra/azure', 'infra/gcp', 'tests/infra/fixtures']) {
    const r = terraform(['fmt', '-check', '-recursive', '-diff', path.join(ROOT, dir)], ROOT);
    assert.equal(r.status, 0, `terraform fmt ${dir}:\n${r.stdout}${r.stderr}`);
  }
});

test("the checker's function list is terraform's", { skip: NO_TERRAFORM }, () => {
  const r = terraform(['metadata', 'functions', '-json'], ROOT);
  assert.equal(r.status, 0, r.stderr);
  const theirs = Object.keys(JSON.parse(r.stdout).function_signatures).filter((f) => !f.includes('::')).sort();
  assert.deepEqual([...tfschema.FUNCTIONS].sort(), theirs);
});

// The oracle: the same mistakes, written for the AWS provider that is
// installed here, must be found by terraform validate on the same lines as
// by the checker with a schema made from that provider's own
// `terraform providers schema -json`. terraform validate stops after the
// first stage that fails, so each mistake is its own module; those that
// report nothing in one run are validated again without the others.
const BASE = `terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0, < 6.0"
    }
  }
}

variable "name" {
  type    = string
  default = "oracle"
}

locals {
  cidr = "10.0.0.0/16"
}

resource "aws_vpc" "main" {
  cidr_block = local.cidr
}

resource "aws_security_group" "sg" {
  count  = 1
  name   = var.name
  vpc_id = aws_vpc.main.id
}
`;
const ORACLE = [
  ['misspelt argument', 'resource "aws_vpc" "b" {\n  cidr_block        = "10.1.0.0/16"\n  enable_dns_suport = true\n}'],
  ['missing required argument', 'resource "aws_subnet" "b" {\n  cidr_block = "10.0.2.0/24"\n}'],
  ['block as argument', 'resource "aws_launch_template" "t" {\n  metadata_options = {\n    http_tokens = "required"\n  }\n}'],
  ['argument as block', 'resource "aws_vpc" "b" {\n  cidr_block = "10.1.0.0/16"\n  tags {\n    a = "b"\n  }\n}'],
  ['two blocks where one', 'resource "aws_launch_template" "t" {\n  metadata_options {\n    http_tokens = "required"\n  }\n  metadata_options {\n    http_tokens = "optional"\n  }\n}'],
  ['read-only attribute set', 'resource "aws_vpc" "b" {\n  cidr_block = "10.1.0.0/16"\n  arn        = "x"\n}'],
  ['missing required block', 'resource "aws_lb_listener" "l" {\n  load_balancer_arn = "arn"\n}'],
  ['unknown block in dynamic content', 'resource "aws_lb_target_group" "t" {\n  dynamic "health_check" {\n    for_each = [1]\n    content {\n      pth = "/gtg"\n    }\n  }\n}'],
  ['undeclared resource', 'output "o" {\n  value = aws_vpc.mian.id\n}'],
  ['unknown attribute', 'output "o" {\n  value = aws_vpc.main.idd\n}'],
  ['undeclared variable', 'output "o" {\n  value = var.nmae\n}'],
  ['undeclared local', 'output "o" {\n  value = local.cdir\n}'],
  ['each without for_each', 'resource "aws_vpc" "b" {\n  cidr_block = each.key\n}'],
  ['count without index', 'output "o" {\n  value = aws_security_group.sg.id\n}'],
  ['index without count', 'output "o" {\n  value = aws_vpc.main[0].id\n}'],
  ['unknown function', 'output "o" {\n  value = lowercase(var.name)\n}'],
  ['dynamic iterator field', 'resource "aws_lb_target_group" "t" {\n  dynamic "health_check" {\n    for_each = ["/gtg"]\n    content {\n      path = health_check.vaule\n    }\n  }\n}'],
  ['set of blocks indexed', 'resource "aws_autoscaling_group" "g" {\n  min_size             = 1\n  max_size             = 1\n  launch_configuration = "lc"\n  tag {\n    key                 = "a"\n    value               = "b"\n    propagate_at_launch = true\n  }\n}\n\noutput "o" {\n  value = aws_autoscaling_group.g.tag[0].key\n}'],
  ['ignore_changes of no argument', 'resource "aws_vpc" "b" {\n  cidr_block = "10.1.0.0/16"\n  lifecycle {\n    ignore_changes = [tag]\n  }\n}'],
];

test('the checker finds what terraform validate finds, on the same lines (AWS provider)', { skip: NO_ORACLE, timeout: 300000 }, async (t) => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tfschema-oracle-'));
  try {
    // The AWS provider's schema, in the checker's format.
    fs.writeFileSync(path.join(work, 'main.tf'), BASE);
    let r = terraform(['init', '-backend=false', `-plugin-dir=${PLUGIN_DIR}`, '-input=false', '-no-color'], work);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    r = terraform(['providers', 'schema', '-json'], work);
    assert.equal(r.status, 0, r.stderr);
    const aws = tfschema.fromProviderSchema(JSON.parse(r.stdout), 'registry.terraform.io/hashicorp/aws');
    aws.provider_version = JSON.parse(terraform(['version', '-json'], work).stdout)
      .provider_selections['registry.terraform.io/hashicorp/aws'];
    assert.match(aws.provider_version, /^5\./, 'the AWS provider selected');

    // The base alone: nothing for either.
    r = terraform(['validate', '-no-color'], work);
    assert.equal(r.status, 0, `terraform validate of the base:\n${r.stdout}${r.stderr}`);
    assert.deepEqual((await tfschema.check(work, [aws])).map(tfschema.format), [], 'the checker on the base');

    // infra/aws passes terraform validate (terraform.test.js): the checker
    // must find nothing there either.
    assert.deepEqual((await tfschema.check(path.join(ROOT, 'infra', 'aws'), [aws])).map(tfschema.format), [], 'the checker on infra/aws');

    const rows = ORACLE.map(([name, snippet], i) => ({ name, dir: `m${i}`, text: `${BASE}\n${snippet}\n` }));
    for (const row of rows) {
      fs.mkdirSync(path.join(work, row.dir));
      fs.writeFileSync(path.join(work, row.dir, 'main.tf'), row.text);
    }
    const lines = new Map();
    let pending = rows;
    for (let round = 0; pending.length > 0 && round < 5; round++) {
      fs.writeFileSync(path.join(work, 'main.tf'), BASE + pending.map((row) => `\nmodule "${row.dir}" {\n  source = "./${row.dir}"\n}\n`).join(''));
      r = terraform(['init', '-backend=false', `-plugin-dir=${PLUGIN_DIR}`, '-input=false', '-no-color'], work);
      assert.equal(r.status, 0, r.stdout + r.stderr);
      r = terraform(['validate', '-json', '-no-color'], work);
      const diags = JSON.parse(r.stdout).diagnostics.filter((d) => d.severity === 'error');
      const answered = new Set();
      for (const d of diags) {
        const dir = d.range?.filename?.split('/')[0];
        const row = pending.find((x) => x.dir === dir);
        assert.ok(row, `a diagnostic outside the rows: ${JSON.stringify(d)}`);
        lines.set(row.dir, [...(lines.get(row.dir) ?? []), d.range.start.line]);
        answered.add(row.dir);
      }
      if (answered.size === 0) break;
      pending = pending.filter((row) => !answered.has(row.dir));
    }
    for (const row of rows) {
      const theirs = lines.get(row.dir) ?? [];
      const mine = (await tfschema.check(path.join(work, row.dir), [aws])).map((p) => p.line);
      assert.equal(theirs.length, 1, `${row.name}: terraform validate reports ${theirs.length} errors`);
      assert.deepEqual(mine, theirs, `${row.name}: the checker's lines ${mine} vs terraform validate's ${theirs}`);
    }
    t.diagnostic(`${rows.length} mistakes: the checker and terraform validate agree on each (${[...lines.values()].flat().length} errors)`);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
});

// The instances' settings file, from each module's template rendered by
// Terraform's own templatefile() with the variables the module passes it
// (so a name the template needs and the module does not pass fails here).
function renderTemplate(cloud, template, values) {
  const dir = path.join(ROOT, 'infra', cloud);
  const source = fs.readFileSync(path.join(dir, 'compute.tf'), 'utf8');
  const call = new RegExp(`templatefile\\("\\$\\{path\\.module\\}/${template.replace('.', '\\.')}", \\{([^}]*)\\}`).exec(source);
  assert.ok(call, `infra/${cloud}/compute.tf does not render ${template}`);
  const keys = [...call[1].matchAll(/^\s*([a-z_]+)\s*=/gm)].map((m) => m[1]).sort();
  assert.deepEqual(keys, Object.keys(values).sort(), `the variables infra/${cloud} passes to ${template}`);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tfschema-render-'));
  try {
    const vars = Object.entries(values).map(([k, v]) => `${k} = ${JSON.stringify(v)}`).join(', ');
    const r = spawnSync('terraform', ['console'], {
      cwd: work, encoding: 'utf8', input: `jsonencode(templatefile("${path.join(dir, template)}", { ${vars} }))\n`,
      env: { ...process.env, TF_CLI_CONFIG_FILE: '/dev/null' },
    });
    assert.equal(r.status, 0, `terraform console: ${r.stderr}`);
    return JSON.parse(JSON.parse(r.stdout));
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

test('Azure: the cloud-init user data writes /etc/default/candidates for Cosmos DB', { skip: NO_TERRAFORM }, (t) => {
  const text = renderTemplate('azure', 'cloud_init.yaml.tftpl', {
    endpoint: 'https://candidates-0123abcd.documents.azure.com:443/', database: 'CandidateDatabase',
    container: 'Candidates', client_id: '11111111-2222-3333-4444-555555555555', threads: 16,
  });
  assert.match(text, /^#cloud-config\n/, 'cloud-init reads user data as cloud-config only with this first line');
  // Debian's own YAML parser, as cloud-init (Python) reads it.
  const r = spawnSync('/usr/bin/python3', ['-c', 'import json, sys, yaml; print(json.dumps(yaml.safe_load(sys.stdin)))'],
    { input: text, encoding: 'utf8' });
  if (r.status !== 0 && /No module named 'yaml'/.test(r.stderr)) {
    t.diagnostic('python3-yaml is not installed: the YAML is not parsed');
    return;
  }
  assert.equal(r.status, 0, r.stderr);
  const doc = JSON.parse(r.stdout);
  assert.deepEqual(Object.keys(doc), ['write_files']);
  assert.equal(doc.write_files.length, 1);
  const [file] = doc.write_files;
  assert.equal(file.path, '/etc/default/candidates');
  assert.equal(file.permissions, '0644');
  assert.equal(file.owner, 'root:root');
  assert.equal(file.content, [
    'CANDIDATES_STORE=cosmos',
    'COSMOS_ENDPOINT=https://candidates-0123abcd.documents.azure.com:443/',
    'COSMOS_DATABASE_NAME=CandidateDatabase',
    'COSMOS_CONTAINER_NAME=Candidates',
    'AZURE_CLIENT_ID=11111111-2222-3333-4444-555555555555',
    'CANDIDATES_THREADS=16',
    '',
  ].join('\n'));
});

const CAN_UNSHARE = process.getuid?.() === 0 && spawnSync('unshare', ['-m', 'true']).status === 0;

test('GCP: the startup script passes shellcheck and writes /etc/default/candidates for Firestore', { skip: NO_TERRAFORM }, (t) => {
  const script = renderTemplate('gcp', 'startup.sh.tftpl', { project: 'demo-project-1', database: '(default)', threads: 16 });
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tfschema-startup-'));
  try {
    fs.writeFileSync(path.join(work, 'startup.sh'), script);
    if (spawnSync('sh', ['-c', 'command -v shellcheck']).status === 0) {
      const r = spawnSync('shellcheck', [path.join(work, 'startup.sh')], { encoding: 'utf8' });
      assert.equal(r.status, 0, `shellcheck:\n${r.stdout}`);
    } else {
      t.diagnostic('shellcheck is not installed: the script is not linted');
    }
    if (!CAN_UNSHARE) {
      t.diagnostic('not root or no unshare: the script is not run');
      return;
    }
    // Run for real in a mount namespace whose /etc/default is a fresh
    // tmpfs, with a systemctl that records what it is asked.
    fs.mkdirSync(path.join(work, 'bin'));
    fs.writeFileSync(path.join(work, 'bin', 'systemctl'), `#!/bin/sh\necho "$@" >> ${work}/systemctl.log\n`, { mode: 0o755 });
    const r = spawnSync('unshare', ['-m', 'sh', '-c',
      `mount -t tmpfs tmpfs /etc/default && PATH=${work}/bin:$PATH sh ${work}/startup.sh && ` +
      'ls -A /etc/default && stat -c "%a %U" /etc/default/candidates && cat /etc/default/candidates'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, [
      'candidates', // no temporary file left behind
      '644 root',
      'CANDIDATES_STORE=firestore',
      'GOOGLE_CLOUD_PROJECT=demo-project-1',
      'FIRESTORE_DATABASE=(default)',
      'CANDIDATES_THREADS=16',
      '',
    ].join('\n'));
    assert.equal(fs.readFileSync(path.join(work, 'systemctl.log'), 'utf8'), 'try-restart candidates.service\n');
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
});
