'use strict';
// The Packer template in images/: formatted, valid for Debian's packer
// 1.6.6, and made only of fields that today's plugins also accept, so the
// same template builds with a current Packer in a user's account.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync, spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const zlib = require('node:zlib');
const steps = require('../infra/packer-steps.js');

const ROOT = path.resolve(__dirname, '..', '..');
const SCHEMA_FILE = path.join(ROOT, 'tests', 'testdata',
  'packer-plugins-schema.json.gz');

function have(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}
const NO_PACKER = have('packer') ? false : 'packer is not installed (make test installs it)';

function packer(args, opts = {}) {
  return spawnSync('packer', args, { encoding: 'utf8', ...opts });
}

// What packer validate needs besides the template: the variables each
// source needs a value of (infra/deploy.sh passes the same ones).
const SOURCE_VARS = {
  'amazon-ebs.debian': ['-var', 'aws_ssh_cidrs=["203.0.113.7/32"]'],
  'azure-arm.debian': ['-var', 'azure_ssh_cidrs=["203.0.113.7/32"]'],
  'googlecompute.debian': ['-var', 'gcp_project=candidates-test'],
};
const VALIDATE_VARS = ['-var', `source_root=${ROOT}`, ...Object.values(SOURCE_VARS).flat()];

// Packer's own arguments of provisioners and post-processors, which no
// plugin's schema lists.
const CORE_ARGS = new Set(['only', 'except', 'pause_before', 'max_retries', 'timeout',
  'override', 'keep_input_artifact', 'name']);

// Checks one block's fields against the plugin's schema ({a: attributes,
// b: nested blocks}); returns "where: field" for each unknown one.
// hcl2json writes a nested block as a list of objects and a map attribute
// as an object, and the schema says which a name is.
function unknownFields(block, schema, where, core = new Set()) {
  const out = [];
  for (const [k, v] of Object.entries(block)) {
    if (core.has(k)) continue;
    if (schema.a && k in schema.a) continue;
    if (schema.b && k in schema.b) {
      const list = Array.isArray(v) ? v : [v];
      list.forEach((inner, i) => out.push(
        ...unknownFields(inner, schema.b[k], `${where}.${k}[${i}]`)));
      continue;
    }
    out.push(`${where}: ${k}`);
  }
  return out;
}

// Every source, provisioner and post-processor in the template, with the
// schema entry of its type when a schema is given: [{ where, block, schema }].
function components(parsed, schema = null) {
  const out = [];
  const find = (kind, type) => (schema === null ? null : schema.components[kind]?.[type] ??
    assert.fail(`${kind} "${type}" is not in the current plugins' schema`));
  for (const [file, doc] of Object.entries(parsed)) {
    for (const [type, byName] of Object.entries(doc.source ?? {})) {
      for (const [name, list] of Object.entries(byName)) {
        for (const block of list) {
          out.push({ where: `${file}: source.${type}.${name}`, block, schema: find('source', type) });
        }
      }
    }
    for (const build of doc.build ?? []) {
      for (const [kind, key] of [['provisioner', 'provisioner'], ['post-processor', 'post-processor']]) {
        for (const [type, list] of Object.entries(build[key] ?? {})) {
          list.forEach((block, i) => out.push({
            where: `${file}: ${kind}.${type}[${i}]`, block, schema: find(kind, type),
          }));
        }
      }
    }
  }
  return out;
}

test('every Packer file is formatted (packer fmt -check)', { skip: NO_PACKER }, () => {
  const r = packer(['fmt', '-check', '-diff', steps.IMAGES]);
  assert.equal(r.status, 0, `packer fmt -check:\n${r.stdout}${r.stderr}`);
});

// Both web servers, since the variable picks the configuration the
// provisioning installs.
for (const web of ['nginx', 'lighttpd']) {
  test(`packer validate passes with web_server=${web} (Debian's packer, offline)`, { skip: NO_PACKER }, () => {
    const dir = steps.stage();
    try {
      const r = packer(['validate', ...VALIDATE_VARS, '-var', `web_server=${web}`, dir]);
      assert.equal(r.status, 0, `packer validate:\n${r.stdout}${r.stderr}`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}

// Proof that validate would catch a mistake: the same template with one
// field the amazon builder does not have, and with a script that is not
// there, must both fail.
test('packer validate rejects a template with an unknown field or a missing script', { skip: NO_PACKER }, () => {
  const rows = [
    { line: __LINE__(), file: 'aws.pkr.hcl', from: 'encrypt_boot    = true', to: 'encrypt_boot = true\n  no_such_field = 1', says: /Unsupported argument/ },
    { line: __LINE__(), file: 'build.pkr.hcl', from: 'provision/cleanup.sh', to: 'provision/no-such-script.sh', says: /Failed preparing provisioner/ },
    { line: __LINE__(), file: 'azure.pkr.hcl', from: 'image_sku       = "12-gen2"', to: 'image_sku = "12-gen2"\n  no_such_field = 1', says: /Unsupported argument/ },
    { line: __LINE__(), file: 'gcp.pkr.hcl', from: 'disk_size    = 10', to: 'disk_size = 10\n  no_such_field = 1', says: /Unsupported argument/ },
  ];
  for (const row of rows) {
    const dir = steps.stage();
    try {
      const f = path.join(dir, row.file);
      const text = fs.readFileSync(f, 'utf8');
      assert.ok(text.includes(row.from), `row ${row.line}: ${row.file} has no "${row.from}"`);
      fs.writeFileSync(f, text.replace(row.from, row.to));
      const r = packer(['validate', ...VALIDATE_VARS, dir]);
      assert.notEqual(r.status, 0, `row ${row.line}: packer validate accepted the broken ${row.file}`);
      assert.match(r.stdout + r.stderr, row.says, `row ${row.line}: failed for another reason`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
});

// Each source needs what only its cloud can give, and says so when it is
// missing, while a build of another source needs none of it: the SSH
// rules of AWS's and Azure's build machines have no default, so a direct
// packer build that does not say who may connect stops, never opens port
// 22 to all; and GCP's needs its project. Validation blocks cannot do
// this (Packer checks every variable's, whichever source it builds), so
// each source turns a missing value into one its builder refuses.
test('each source refuses a build without its own settings, and needs no other cloud\'s', { skip: NO_PACKER }, async () => {
  const parsed = await steps.parseAll();
  const vars = Object.assign({}, ...Object.values(parsed).map((d) => d.variable ?? {}));
  for (const v of ['aws_ssh_cidrs', 'azure_ssh_cidrs']) {
    assert.deepEqual(vars[v]?.[0]?.default, [], `${v} must default to no one`);
  }
  assert.equal(vars.gcp_project?.[0]?.default, '', 'gcp_project has no default project');
  const rows = [
    { line: __LINE__(), only: 'amazon-ebs.debian', vars: [], says: /invalid CIDR address: aws_ssh_cidrs-is-not-set/ },
    { line: __LINE__(), only: 'amazon-ebs.debian', vars: ['-var', 'aws_ssh_cidrs=["203.0.113.7/32","203.0.113.7/33"]'], says: /aws_ssh_cidrs variable must list CIDRs/ },
    { line: __LINE__(), only: 'amazon-ebs.debian', vars: ['-var', 'aws_ssh_cidrs=["203.0.113.7/32","2001:db8::1/128"]'] },
    { line: __LINE__(), only: 'azure-arm.debian', vars: [], says: /allowed_inbound_ip_addresses must only contain valid IP addresses/ },
    { line: __LINE__(), only: 'azure-arm.debian', vars: ['-var', 'azure_ssh_cidrs=["203.0.113.7/33"]'], says: /allowed_inbound_ip_addresses must only contain valid IP addresses/ },
    { line: __LINE__(), only: 'azure-arm.debian', vars: ['-var', 'azure_ssh_cidrs=["203.0.113.7/32"]'] },
    { line: __LINE__(), only: 'googlecompute.debian', vars: [], says: /a project_id must be specified/ },
    { line: __LINE__(), only: 'googlecompute.debian', vars: ['-var', 'gcp_project=candidates-test'] },
    // Built without an external IP: the build subnet and IAP.
    { line: __LINE__(), only: 'googlecompute.debian', vars: ['-var', 'gcp_project=candidates-test', '-var', 'gcp_network=candidates-vpc', '-var', 'gcp_subnetwork=candidates-build'] },
  ];
  const dir = steps.stage();
  try {
    for (const row of rows) {
      const r = packer(['validate', `-only=${row.only}`, '-var', `source_root=${ROOT}`, ...row.vars, dir]);
      const out = r.stdout + r.stderr;
      assert.equal(r.status === 0, !row.says, `row ${row.line}: exit ${r.status}\n${out}`);
      if (row.says) {
        assert.match(out, row.says, `row ${row.line}: failed for another reason`);
        // One error, about the source built and no other.
        assert.equal((out.match(/^Error: /gm) ?? []).length, 1, `row ${row.line}: ${out}`);
        assert.ok((out.match(/^\* /gm) ?? []).length <= 1, `row ${row.line}: ${out}`);
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// What the amazon-ebs source must say, field by field: the official
// Debian 12 image, the network phase 1 made, a new name per build, and the
// tags destroy finds this deployment's images by.
test('the amazon-ebs source builds from official Debian 12 and tags the image for its deployment', async () => {
  const parsed = await steps.parseAll();
  const src = parsed['aws.pkr.hcl']?.source?.['amazon-ebs']?.debian?.[0] ?? assert.fail('no source.amazon-ebs.debian in aws.pkr.hcl');
  const variables = Object.assign({}, ...Object.values(parsed).map((d) => d.variable ?? {}));
  const locals = Object.assign({}, ...Object.values(parsed).flatMap((d) => d.locals ?? []));
  const filter = src.source_ami_filter?.[0] ?? {};
  const rows = [
    { line: __LINE__(), what: 'owners', got: filter.owners, want: ['136693071363'] },
    { line: __LINE__(), what: 'filters.name', got: filter.filters?.name, want: 'debian-12-amd64-*' },
    { line: __LINE__(), what: 'filters.architecture', got: filter.filters?.architecture, want: 'x86_64' },
    { line: __LINE__(), what: 'most_recent', got: filter.most_recent, want: true },
    { line: __LINE__(), what: 'subnet_id', got: src.subnet_id, want: '${var.aws_subnet_id}' },
    { line: __LINE__(), what: 'temporary_security_group_source_cidrs', got: src.temporary_security_group_source_cidrs, want: '${length(var.aws_ssh_cidrs) > 0 ? var.aws_ssh_cidrs : ["aws_ssh_cidrs-is-not-set"]}' },
    { line: __LINE__(), what: 'ami_name', got: src.ami_name, want: '${var.image_name}-${local.stamp}' },
    { line: __LINE__(), what: 'local.stamp', got: locals.stamp, want: '${formatdate("YYYYMMDD-hhmmss", timestamp())}' },
    { line: __LINE__(), what: 'encrypt_boot', got: src.encrypt_boot, want: true },
    { line: __LINE__(), what: 'tags.Name', got: src.tags?.Name, want: '${var.image_name}-${local.stamp}' },
    { line: __LINE__(), what: 'tags.Project', got: src.tags?.Project, want: '${var.deployment}' },
    { line: __LINE__(), what: 'tags.WebServer', got: src.tags?.WebServer, want: '${var.web_server}' },
    { line: __LINE__(), what: 'tags.BuiltAt', got: src.tags?.BuiltAt, want: '${local.stamp}' },
    { line: __LINE__(), what: 'tags.WebPort', got: src.tags?.WebPort, want: '${var.web_port}' },
    { line: __LINE__(), what: 'tags.GitCommit', got: src.tags?.GitCommit, want: '${var.git_commit}' },
    { line: __LINE__(), what: 'tags.SourceAMI', got: src.tags?.SourceAMI, want: '{{ .SourceAMI }}' },
    { line: __LINE__(), what: 'tags.SourceName', got: src.tags?.SourceName, want: '{{ .SourceAMIName }}' },
    { line: __LINE__(), what: 'snapshot_tags.Project', got: src.snapshot_tags?.Project, want: '${var.deployment}' },
    { line: __LINE__(), what: 'var.web_server default', got: variables.web_server?.[0]?.default, want: 'nginx' },
    { line: __LINE__(), what: 'var.deployment default', got: variables.deployment?.[0]?.default, want: 'candidates' },
  ];
  for (const row of rows) {
    assert.deepEqual(row.got, row.want, `row ${row.line}: ${row.what}`);
  }
});

// What the azure-arm source must say, field by field: Debian's own Debian
// 12 Gen2 image, a version of the deployment's gallery image that grows
// with every build, SSH only from the given addresses, and the tags.
test('the azure-arm source builds from Debian 12 Gen2 into the deployment\'s gallery', async () => {
  const parsed = await steps.parseAll();
  const src = parsed['azure.pkr.hcl']?.source?.['azure-arm']?.debian?.[0] ?? assert.fail('no source.azure-arm.debian in azure.pkr.hcl');
  const variables = parsed['azure.pkr.hcl'].variable ?? {};
  const dest = src.shared_image_gallery_destination?.[0] ?? {};
  const rows = [
    { line: __LINE__(), what: 'image_publisher', got: src.image_publisher, want: 'Debian' },
    { line: __LINE__(), what: 'image_offer', got: src.image_offer, want: 'debian-12' },
    { line: __LINE__(), what: 'image_sku', got: src.image_sku, want: '12-gen2' },
    { line: __LINE__(), what: 'image_version', got: src.image_version, want: 'latest' },
    { line: __LINE__(), what: 'os_type', got: src.os_type, want: 'Linux' },
    { line: __LINE__(), what: 'use_azure_cli_auth', got: src.use_azure_cli_auth, want: true },
    { line: __LINE__(), what: 'subscription_id', got: src.subscription_id, want: '${var.azure_subscription_id}' },
    { line: __LINE__(), what: 'location', got: src.location, want: '${var.azure_location}' },
    { line: __LINE__(), what: 'allowed_inbound_ip_addresses', got: src.allowed_inbound_ip_addresses, want: '${length(var.azure_ssh_cidrs) > 0 ? var.azure_ssh_cidrs : ["azure_ssh_cidrs-is-not-set"]}' },
    { line: __LINE__(), what: 'managed_image_name', got: src.managed_image_name, want: '${var.deployment}-${local.stamp}' },
    { line: __LINE__(), what: 'managed_image_resource_group_name', got: src.managed_image_resource_group_name, want: '${var.azure_resource_group}' },
    { line: __LINE__(), what: 'destination.resource_group', got: dest.resource_group, want: '${var.azure_resource_group}' },
    { line: __LINE__(), what: 'destination.gallery_name', got: dest.gallery_name, want: '${var.azure_gallery_name}' },
    { line: __LINE__(), what: 'destination.image_name', got: dest.image_name, want: '${var.azure_image_name}' },
    { line: __LINE__(), what: 'destination.image_version', got: dest.image_version, want: '${local.azure_image_version}' },
    { line: __LINE__(), what: 'destination.replication_regions', got: dest.replication_regions, want: ['${var.azure_location}'] },
    { line: __LINE__(), what: 'azure_tags.Project', got: src.azure_tags?.Project, want: '${var.deployment}' },
    { line: __LINE__(), what: 'azure_tags.WebPort', got: src.azure_tags?.WebPort, want: '${var.web_port}' },
    { line: __LINE__(), what: 'azure_tags.WebServer', got: src.azure_tags?.WebServer, want: '${var.web_server}' },
    { line: __LINE__(), what: 'azure_tags.GitCommit', got: src.azure_tags?.GitCommit, want: '${var.git_commit}' },
    { line: __LINE__(), what: 'azure_tags.BuiltAt', got: src.azure_tags?.BuiltAt, want: '${local.stamp}' },
    { line: __LINE__(), what: 'azure_tags.SourceImage', got: src.azure_tags?.SourceImage, want: 'Debian:debian-12:12-gen2:latest' },
    // Terraform's names for the default deployment (infra/azure).
    { line: __LINE__(), what: 'var.azure_resource_group default', got: variables.azure_resource_group?.[0]?.default, want: 'candidates-rg' },
    { line: __LINE__(), what: 'var.azure_gallery_name default', got: variables.azure_gallery_name?.[0]?.default, want: 'candidates_images' },
    { line: __LINE__(), what: 'var.azure_image_name default', got: variables.azure_image_name?.[0]?.default, want: 'candidates' },
  ];
  for (const row of rows) {
    assert.deepEqual(row.got, row.want, `row ${row.line}: ${row.what}`);
  }
});

// What the googlecompute source must say, field by field: the newest
// image of Debian's debian-12 family, the deployment's own family, no
// external IP on the build subnet (IAP instead), and the labels.
test('the googlecompute source builds from debian-12 into the deployment\'s family', async () => {
  const parsed = await steps.parseAll();
  const src = parsed['gcp.pkr.hcl']?.source?.googlecompute?.debian?.[0] ?? assert.fail('no source.googlecompute.debian in gcp.pkr.hcl');
  const locals = Object.assign({}, ...(parsed['gcp.pkr.hcl'].locals ?? []));
  const rows = [
    { line: __LINE__(), what: 'source_image_family', got: src.source_image_family, want: 'debian-12' },
    { line: __LINE__(), what: 'source_image_project_id', got: src.source_image_project_id, want: ['debian-cloud'] },
    { line: __LINE__(), what: 'project_id', got: src.project_id, want: '${var.gcp_project}' },
    { line: __LINE__(), what: 'zone', got: src.zone, want: '${var.gcp_zone}' },
    { line: __LINE__(), what: 'image_family', got: src.image_family, want: '${var.deployment}' },
    { line: __LINE__(), what: 'image_name', got: src.image_name, want: '${var.deployment}-${local.stamp}' },
    { line: __LINE__(), what: 'network', got: src.network, want: '${var.gcp_network}' },
    { line: __LINE__(), what: 'subnetwork', got: src.subnetwork, want: '${var.gcp_subnetwork}' },
    { line: __LINE__(), what: 'local.gcp_private', got: locals.gcp_private, want: '${var.gcp_subnetwork != ""}' },
    { line: __LINE__(), what: 'omit_external_ip', got: src.omit_external_ip, want: '${local.gcp_private}' },
    { line: __LINE__(), what: 'use_internal_ip', got: src.use_internal_ip, want: '${local.gcp_private}' },
    { line: __LINE__(), what: 'use_iap', got: src.use_iap, want: '${local.gcp_private}' },
    { line: __LINE__(), what: 'tags', got: src.tags, want: '${local.gcp_private ? [var.gcp_build_tag] : []}' },
    { line: __LINE__(), what: 'ssh_clear_authorized_keys', got: src.ssh_clear_authorized_keys, want: true },
    { line: __LINE__(), what: 'image_labels.project', got: src.image_labels?.project, want: '${var.deployment}' },
    { line: __LINE__(), what: 'image_labels.web_port', got: src.image_labels?.web_port, want: '${var.web_port}' },
    { line: __LINE__(), what: 'image_labels.web_server', got: src.image_labels?.web_server, want: '${var.web_server}' },
    { line: __LINE__(), what: 'image_labels.git_commit', got: src.image_labels?.git_commit, want: '${var.git_commit}' },
    { line: __LINE__(), what: 'image_labels.built_at', got: src.image_labels?.built_at, want: '${local.stamp}' },
  ];
  for (const row of rows) {
    assert.deepEqual(row.got, row.want, `row ${row.line}: ${row.what}`);
  }
});

// The values the clouds will see, as Debian's packer computes them: a
// gallery version Azure takes (three numbers, each a 32-bit integer with
// no leading zero) that sorts after an earlier build's, and names GCP
// and Azure take for the longest deployment name Terraform allows.
test('the image names and the gallery version are ones the clouds accept', { skip: NO_PACKER }, () => {
  const dir = steps.stage();
  const evaluate = (expr, vars = []) => {
    const r = packer(['console', '-var', `source_root=${ROOT}`, ...vars, dir], { input: `${expr}\n` });
    assert.equal(r.status, 0, `packer console ${expr}: ${r.stderr}`);
    return r.stdout.trim();
  };
  try {
    const longest = ['-var', 'deployment=a2345678901234567890'];
    // In one evaluation: each reads the clock.
    const [version, stamp] = evaluate('"${local.azure_image_version} ${local.stamp}"').split(' ');
    assert.match(version, /^1\.\d{8}\.1\d{6}$/);
    assert.equal(version, `1.${stamp.replace('-', '.1')}`);
    for (const part of version.split('.')) assert.ok(Number(part) < 2 ** 31 && !/^0\d/.test(part), `${version}: ${part}`);
    // A later stamp is a higher version, part by part as Azure compares.
    const cmp = (a, b) => a.split('.').map(Number).reduce((d, x, i) => d || Math.sign(x - b.split('.').map(Number)[i]), 0);
    assert.equal(cmp('1.20260101.1000001', '1.20251231.1235959'), 1);
    assert.equal(cmp('1.20260101.1100000', '1.20260101.1095959'), 1);
    const name = evaluate('"${var.deployment}-${local.stamp}"', longest);
    assert.match(name, /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/, `GCP image name ${name}`);
    assert.ok(name.length <= 80, `Azure image name ${name}`);
    assert.equal(evaluate('local.gcp_private'), 'false');
    assert.equal(evaluate('local.gcp_private', ['-var', 'gcp_subnetwork=candidates-build']), 'true');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('every field the template uses is one the current plugins accept', async () => {
  const schema = JSON.parse(zlib.gunzipSync(fs.readFileSync(SCHEMA_FILE)));
  const parsed = await steps.parseAll();
  const list = components(parsed, schema);
  const types = list.map((c) => c.where.replace(/^[^:]*: /, '').replace(/\[\d+\]$/, ''));
  for (const want of ['source.amazon-ebs.debian', 'source.azure-arm.debian', 'source.googlecompute.debian',
    'provisioner.shell', 'provisioner.file', 'post-processor.manifest']) {
    assert.ok(types.includes(want), `the template has no ${want} (found ${types.join(', ')})`);
  }
  const unknown = list.flatMap((c) => unknownFields(c.block, c.schema, c.where,
    c.where.includes(': source.') ? new Set() : CORE_ARGS));
  assert.deepEqual(unknown, [], `fields the current plugins do not accept:\n${unknown.join('\n')}`);
});

// The checker itself, on rows that must and must not pass.
test('the field check flags unknown attributes and nested fields', () => {
  const schema = {
    a: { region: 'cty.String', tags: 'cty.Map(cty.String)' },
    b: { source_ami_filter: { a: { owners: 'cty.List(cty.String)', filters: 'cty.Map(cty.String)' }, b: {} } },
  };
  const rows = [
    { line: __LINE__(), block: { region: 'x', tags: { Any: 'y' } }, want: [] },
    { line: __LINE__(), block: { source_ami_filter: [{ owners: ['1'], filters: { name: 'n' } }] }, want: [] },
    { line: __LINE__(), block: { regoin: 'x' }, want: ['s: regoin'] },
    { line: __LINE__(), block: { source_ami_filter: [{ owner: ['1'] }] }, want: ['s.source_ami_filter[0]: owner'] },
    { line: __LINE__(), block: { metadata_options: [{}] }, want: ['s: metadata_options'] },
  ];
  for (const row of rows) {
    assert.deepEqual(unknownFields(row.block, schema, 's'), row.want, `row ${row.line}`);
  }
});

test('the required_plugins block is alone in plugins.pkr.hcl and names every source\'s plugin', async () => {
  const parsed = await steps.parseAll();
  const plugins = parsed[steps.PLUGINS_FILE];
  assert.ok(plugins, `images/${steps.PLUGINS_FILE} is missing`);
  assert.deepEqual(Object.keys(plugins), ['packer'], `${steps.PLUGINS_FILE} must hold the packer block only`);
  for (const [file, doc] of Object.entries(parsed)) {
    if (file !== steps.PLUGINS_FILE) assert.ok(!('packer' in doc), `${file} has a packer block, which Debian's packer 1.6.6 rejects`);
  }
  const required = Object.assign({}, ...plugins.packer[0].required_plugins);
  for (const doc of Object.values(parsed)) {
    for (const type of Object.keys(doc.source ?? {})) {
      const plugin = type.split('-')[0];
      assert.ok(required[plugin]?.source === `github.com/hashicorp/${plugin}`,
        `source ${type} needs required_plugins.${plugin} = github.com/hashicorp/${plugin}`);
    }
  }
});

test('one build lists every source, so other clouds join the same provisioning', async () => {
  const parsed = await steps.parseAll();
  const builds = Object.values(parsed).flatMap((d) => d.build ?? []);
  assert.equal(builds.length, 1, 'one build block');
  const declared = Object.values(parsed).flatMap((d) => Object.entries(d.source ?? {})
    .flatMap(([type, byName]) => Object.keys(byName).map((n) => `source.${type}.${n}`)));
  assert.deepEqual([...builds[0].sources].sort(), declared.sort());
});

// The image must carry no secret: no credential field in the template, and
// nothing that looks like a key in what the build uploads.
test('no credential in the template or the files the build uploads', async () => {
  const parsed = await steps.parseAll();
  const forbidden = ['access_key', 'secret_key', 'token', 'ssh_password', 'ssh_private_key_file',
    'client_secret', 'account_file', 'credentials_json'];
  for (const c of components(parsed)) {
    for (const k of forbidden) assert.ok(!(k in c.block), `${c.where} sets ${k}`);
  }
  const patterns = [/AKIA[0-9A-Z]{16}/, /-----BEGIN [A-Z ]*PRIVATE KEY-----/, /aws_secret_access_key/i];
  const walk = (dir) => fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]);
  for (const f of walk(steps.IMAGES)) {
    const text = fs.readFileSync(f, 'utf8');
    for (const re of patterns) assert.ok(!re.test(text), `${path.relative(ROOT, f)} matches ${re}`);
  }
});

test('Packer runs the provisioning scripts in order, with the settings they read', { skip: NO_PACKER }, async () => {
  const list = await steps.provisionSteps({ source_root: ROOT, web_server: 'lighttpd', web_port: '8081' });
  const rel = (s) => path.relative(ROOT, s);
  const store = ['images/provision/store.sh'];
  assert.deepEqual(list.map((s) => [s.type, (s.scripts ?? (s.script ? [s.script] : [])).map(rel), s.skip]), [
    ['shell', [], false],
    ['file', [], false],
    ['shell', ['packages.sh', 'app.sh', 'web.sh', 'units.sh'].map((f) => `images/provision/${f}`), false],
    ['shell', store, true],
    ['shell', store, true],
    ['shell', store, true],
    ['shell', store, false],
    ['shell', ['images/provision/aws-ssm-agent.sh'], true],
    ['shell', ['images/provision/cleanup.sh'], false],
    ['shell', [], true],
  ]);
  const env = ['SRC=/tmp/candidates', 'WEB=lighttpd', 'WEB_PORT=8081', 'WEB_ADDR=0.0.0.0'];
  assert.deepEqual(list[2].environment_vars, env);
  assert.deepEqual(list[8].environment_vars, env);
  assert.deepEqual(list[7].only, ['amazon-ebs.debian'], 'the SSM agent is for AWS images only');
  assert.deepEqual(list[7].environment_vars, ['SRC=/tmp/candidates', 'AWS_REGION=us-east-1']);
  for (const s of list.flatMap((x) => x.scripts ?? (x.script ? [x.script] : []))) {
    fs.accessSync(s, fs.constants.X_OK);
  }
  // What the file provisioner uploads is what the scripts build from.
  assert.deepEqual(list[1].sources.map(rel), ['Makefile', 'fcgi-app', 'nginx-conf', 'lighttpd-conf', 'images']);
  assert.equal(list[1].destination, '/tmp/candidates/');
});

// Azure's image is generalised last, as Azure's documentation prescribes
// for Linux images: by the Azure Linux agent, which also removes the
// build's user. Only there, and after everything else, since nothing may
// run on a deprovisioned machine.
test('the Azure image is deprovisioned by waagent as its last step, and no other image is', { skip: NO_PACKER }, async () => {
  const sources = ['amazon-ebs.debian', 'azure-arm.debian', 'googlecompute.debian', steps.CHROOT_SOURCE];
  for (const source of sources) {
    const run = (await steps.provisionSteps({ source_root: ROOT }, steps.IMAGES, source)).filter((s) => !s.skip);
    const deprovision = run.filter((s) => (s.inline ?? []).some((c) => c.includes('waagent')));
    if (source !== 'azure-arm.debian') {
      assert.deepEqual(deprovision, [], `${source} must not run waagent`);
      continue;
    }
    assert.equal(deprovision.length, 1, 'one deprovisioning step');
    assert.equal(run.at(-1), deprovision[0], 'deprovisioning must be the last step');
    assert.deepEqual(deprovision[0].inline, ['/usr/sbin/waagent -force -deprovision+user && export HISTSIZE=0 && sync']);
    assert.match(deprovision[0].execute_command, /sudo /, 'as root');
  }
});

// What writes /etc/default/candidates at boot runs before the service
// starts: on AWS and Azure cloud-init's write_files, in its init stage
// (cloud-init.service; Debian 12's cloud.cfg lists write-files among
// cloud_init_modules), unless deferred to the final stage; on GCP the
// startup-script, run by the guest agent's google-startup-scripts.service.
test('candidates.service starts after what writes its settings on each cloud', () => {
  const unit = fs.readFileSync(path.join(steps.IMAGES, 'files', 'candidates.service'), 'utf8');
  const after = unit.split('\n').filter((l) => l.startsWith('After=')).flatMap((l) => l.slice(6).trim().split(/\s+/));
  const rows = [
    { line: __LINE__(), cloud: 'aws', unit: 'cloud-init.service', file: 'infra/aws/user_data.yaml.tftpl', says: /^write_files:/m },
    { line: __LINE__(), cloud: 'azure', unit: 'cloud-init.service', file: 'infra/azure/cloud_init.yaml.tftpl', says: /^write_files:\n\s+- path: \/etc\/default\/candidates$/m },
    { line: __LINE__(), cloud: 'gcp', unit: 'google-startup-scripts.service', file: 'infra/gcp/startup.sh.tftpl', says: /^mv "\$tmp" \/etc\/default\/candidates$/m },
  ];
  for (const row of rows) {
    assert.ok(after.includes(row.unit), `row ${row.line}: ${row.cloud}: candidates.service is not After=${row.unit} (${after.join(' ')})`);
    const text = fs.readFileSync(path.join(ROOT, row.file), 'utf8');
    assert.match(text, row.says, `row ${row.line}: ${row.file} no longer writes the file as expected`);
    assert.doesNotMatch(text, /^\s*defer:\s*true/m, `row ${row.line}: deferred write_files run in cloud-init's final stage, after the service`);
  }
  // The GCP script restarts the service only if it already runs; with the
  // ordering it never does, and try-restart of a unit still waiting for
  // the script is no job, so the two cannot wait on each other.
  assert.match(fs.readFileSync(path.join(ROOT, 'infra/gcp/startup.sh.tftpl'), 'utf8'), /systemctl try-restart candidates\.service/);
});

// The store each source's image names as shipped in /etc/default/candidates,
// which is what an instance serves when its user data did not run: a
// cloud's own shared store, whatever var.store says, never the sqlite of
// an image for no cloud (the chroot's), or each instance behind the load
// balancer would answer from a file of its own.
const SHIPPED_STORE = {
  'amazon-ebs.debian': 'dynamodb',
  'azure-arm.debian': 'cosmos',
  'googlecompute.debian': 'firestore',
};

test('a cloud\'s image ships its cloud\'s store, whatever var.store says; an image for no cloud ships var.store', { skip: NO_PACKER }, async () => {
  const parsed = await steps.parseAll();
  const variables = Object.assign({}, ...Object.values(parsed).map((d) => d.variable ?? {}));
  assert.equal(variables.store?.[0]?.default, 'sqlite', 'var.store must default to sqlite');
  const sources = Object.values(parsed).flatMap((d) => d.build ?? []).flatMap((b) => b.sources)
    .map((s) => s.replace(/^source\./, ''));
  for (const s of sources) {
    assert.ok(s in SHIPPED_STORE, `source ${s} has no store in SHIPPED_STORE: give it a store.sh step with its cloud's store`);
  }
  const rows = [
    { line: __LINE__(), source: 'amazon-ebs.debian', vars: {}, want: 'dynamodb' },
    { line: __LINE__(), source: 'amazon-ebs.debian', vars: { store: 'sqlite' }, want: 'dynamodb' },
    { line: __LINE__(), source: 'azure-arm.debian', vars: { store: 'sqlite' }, want: 'cosmos' },
    { line: __LINE__(), source: 'googlecompute.debian', vars: { store: 'dynamodb' }, want: 'firestore' },
    { line: __LINE__(), source: steps.CHROOT_SOURCE, vars: {}, want: 'sqlite' },
    { line: __LINE__(), source: steps.CHROOT_SOURCE, vars: { store: 'dynamodb' }, want: 'dynamodb' },
    ...sources.map((source) => ({ line: __LINE__(), source, vars: {}, want: SHIPPED_STORE[source] })),
  ];
  for (const row of rows) {
    const list = await steps.provisionSteps({ source_root: ROOT, ...row.vars }, steps.IMAGES, row.source);
    const names = (s) => (s.scripts ?? (s.script ? [s.script] : [])).map((f) => path.basename(f));
    const run = list.filter((s) => !s.skip);
    const store = run.filter((s) => names(s).includes('store.sh'));
    assert.equal(store.length, 1, `row ${row.line}: ${row.source} runs store.sh ${store.length} times`);
    assert.deepEqual(store[0].environment_vars, [`STORE=${row.want}`], `row ${row.line}: ${row.source}`);
    // After units.sh installs the file it edits.
    const units = run.findIndex((s) => names(s).includes('units.sh'));
    assert.ok(units >= 0 && units < run.indexOf(store[0]), `row ${row.line}: store.sh must run after units.sh`);
  }
});

// The SSM agent's key, as kept in the repository: AWS's, with the
// fingerprint aws-ssm-agent.sh pins.
const SSM_SCRIPT = path.join(steps.IMAGES, 'provision', 'aws-ssm-agent.sh');
const SSM_KEY = path.join(steps.IMAGES, 'files', 'amazon-ssm-agent.asc');
const NO_GPG = have('gpg') && have('gpgv') ? false : 'gpg or gpgv is not installed';

test('the SSM agent key in the repository is AWS\'s, and the script pins its fingerprint', { skip: NO_GPG }, () => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'candidates-gpg-'));
  try {
    const r = spawnSync('gpg', ['--homedir', home, '--show-keys', '--with-colons', SSM_KEY], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const fpr = r.stdout.split('\n').find((l) => l.startsWith('fpr:')).split(':')[9];
    const uid = r.stdout.split('\n').find((l) => l.startsWith('uid:')).split(':')[9];
    assert.equal(uid, 'SSM Agent <ssm-agent-signer@amazon.com>');
    const pinned = fs.readFileSync(SSM_SCRIPT, 'utf8').match(/SSM_AGENT_FINGERPRINT:-([0-9A-F]{40})\}/);
    assert.ok(pinned, 'aws-ssm-agent.sh pins no fingerprint');
    assert.equal(pinned[1], fpr);
    assert.equal(fpr, 'DE92C7DA3E56E92331D62A36BC1F495C97DD04ED', 'the fingerprint AWS publishes');
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
});

// The script itself, against a package server on loopback: it installs a
// package only when its signature is good and by the pinned key. Keys of
// the test's own stand in for AWS's (the script reads its key from SRC).
test('aws-ssm-agent.sh installs the agent only with a good signature by the pinned key', { skip: NO_GPG, timeout: 120000 }, async () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'candidates-ssm-'));
  const gpg = (home, args, input) => {
    const r = spawnSync('gpg', ['--homedir', home, '--batch', '--yes', ...args], { input, encoding: 'utf8' });
    assert.equal(r.status, 0, `gpg ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const makeKey = (name) => {
    const home = path.join(work, name);
    fs.mkdirSync(home, { mode: 0o700 });
    gpg(home, ['--passphrase', '', '--quick-gen-key', `${name} <${name}@example.com>`, 'ed25519', 'sign', '1d']);
    const fpr = gpg(home, ['--with-colons', '--list-keys']).split('\n').find((l) => l.startsWith('fpr:')).split(':')[9];
    return { home, fpr, armored: gpg(home, ['--armor', '--export']) };
  };
  const aws = makeKey('aws');
  const other = makeKey('other');
  const deb = Buffer.from('a stand-in for amazon-ssm-agent.deb\n');
  const sign = (key, data) => {
    fs.writeFileSync(path.join(work, 'tosign'), data);
    gpg(key.home, ['--detach-sign', '-o', path.join(work, 'sig'), path.join(work, 'tosign')]);
    return fs.readFileSync(path.join(work, 'sig'));
  };
  let files = {};
  const server = http.createServer((req, res) => {
    const body = files[req.url];
    res.writeHead(body ? 200 : 404);
    res.end(body ?? 'Not Found');
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}/latest/debian_amd64/amazon-ssm-agent.deb`;
  // SRC with the stand-in AWS key where the script looks for it; dpkg,
  // dpkg-query and systemctl log what they are asked.
  const src = path.join(work, 'src');
  fs.mkdirSync(path.join(src, 'images', 'files'), { recursive: true });
  fs.writeFileSync(path.join(src, 'images', 'files', 'amazon-ssm-agent.asc'), aws.armored);
  const bin = path.join(work, 'bin');
  fs.mkdirSync(bin);
  const log = path.join(work, 'calls.log');
  for (const cmd of ['dpkg', 'dpkg-query', 'systemctl']) {
    fs.writeFileSync(path.join(bin, cmd), `#!/bin/sh\necho "${cmd} $*" >>"${log}"\n[ "$1" != -i ] || cp "$2" "${work}/installed.deb"\n[ "${cmd}" != dpkg-query ] || printf 3.3.0.0\n`, { mode: 0o755 });
  }
  const rows = [
    { line: __LINE__(), deb, sig: sign(aws, deb), code: 0, says: new RegExp(`signature good, by ${aws.fpr}`) },
    { line: __LINE__(), deb: Buffer.concat([deb, Buffer.from('tampered')]), sig: sign(aws, deb), code: 1, says: /the signature of .* is not good/ },
    { line: __LINE__(), deb, sig: sign(other, deb), code: 1, says: /the signature of .* is not good/ },
    { line: __LINE__(), deb, sig: null, code: 1, says: /cannot download its signature/ },
    { line: __LINE__(), deb, sig: sign(aws, deb), code: 1, fpr: other.fpr, says: new RegExp(`signed by ${aws.fpr}, not by ${other.fpr}`) },
  ];
  try {
    for (const row of rows) {
      fs.rmSync(log, { force: true });
      fs.rmSync(path.join(work, 'installed.deb'), { force: true });
      files = { '/latest/debian_amd64/amazon-ssm-agent.deb': row.deb };
      if (row.sig) files['/latest/debian_amd64/amazon-ssm-agent.deb.sig'] = row.sig;
      const r = await new Promise((resolve) => {
        const c = spawn('sh', [SSM_SCRIPT], {
          env: {
            PATH: `${bin}:/usr/bin:/bin`, AWS_REGION: 'us-east-1', SRC: src, SSM_AGENT_URL: url,
            SSM_AGENT_FINGERPRINT: row.fpr ?? aws.fpr, GNUPGHOME: path.join(work, 'none'),
          },
        });
        let out = '';
        c.stdout.on('data', (d) => { out += d; });
        c.stderr.on('data', (d) => { out += d; });
        c.once('exit', (code) => resolve({ code, out }));
      });
      assert.equal(r.code, row.code, `row ${row.line}: ${r.out}`);
      assert.match(r.out, row.says, `row ${row.line}`);
      const calls = fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : '';
      if (row.code === 0) {
        assert.deepEqual(fs.readFileSync(path.join(work, 'installed.deb')), row.deb, `row ${row.line}: dpkg got another file`);
        assert.match(calls, /systemctl enable amazon-ssm-agent\.service/, `row ${row.line}`);
      } else {
        assert.equal(calls, '', `row ${row.line}: nothing may be installed`);
        assert.match(r.out, /the agent is not installed/, `row ${row.line}`);
      }
    }
  } finally {
    server.close();
    fs.rmSync(work, { recursive: true, force: true });
  }
});

// On a fresh instance, Packer's SSH comes up while cloud-init still runs;
// packages.sh must wait for it before apt-get, and let apt-get wait for
// dpkg's lock. Stand-ins log the order and the arguments.
test('packages.sh waits for cloud-init before apt-get, and apt-get waits for the lock', () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'candidates-pkgs-'));
  try {
    const bin = path.join(work, 'bin');
    fs.mkdirSync(bin);
    const log = path.join(work, 'calls.log');
    fs.writeFileSync(path.join(bin, 'cloud-init'), `#!/bin/sh\necho "cloud-init $*" >>"${log}"\nsleep 1\necho "cloud-init done" >>"${log}"\n`, { mode: 0o755 });
    fs.writeFileSync(path.join(bin, 'apt-get'), `#!/bin/sh\necho "apt-get $*" >>"${log}"\n`, { mode: 0o755 });
    const r = spawnSync('sh', [path.join(steps.IMAGES, 'provision', 'packages.sh')], {
      encoding: 'utf8', env: { PATH: `${bin}:/usr/bin:/bin`, SRC: ROOT, WEB: 'nginx' },
    });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const calls = fs.readFileSync(log, 'utf8').trim().split('\n');
    assert.deepEqual(calls.slice(0, 2), ['cloud-init status --wait', 'cloud-init done']);
    const apt = calls.filter((c) => c.startsWith('apt-get '));
    assert.equal(apt.length, 2, calls.join('\n'));
    assert.match(apt[0], /^apt-get -o DPkg::Lock::Timeout=300 update /);
    assert.match(apt[1], /^apt-get -o DPkg::Lock::Timeout=300 install -y .* nginx spawn-fcgi stress-ng /);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
});

// The line a table row was written on, so a failure names its row.
function __LINE__() {
  const line = new Error().stack.split('\n')[2].match(/:(\d+):\d+\)?$/);
  return line ? Number(line[1]) : 0;
}
