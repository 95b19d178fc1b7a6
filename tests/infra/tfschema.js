#!/usr/bin/env node
'use strict';
// An offline `terraform validate` for providers that cannot be installed
// here: it checks a Terraform folder against a provider's schema file
// (tests/testdata/terraform-schemas/, format in tests/testdata/README.md).
//
//   node tests/infra/tfschema.js DIR SCHEMA.json.gz [SCHEMA.json.gz ...]
//
// prints one line per problem, `file:line: subject: what`, and exits 1 when
// there is any (0 when none, 2 when it cannot run). What it checks:
//
// - every resource, data source and provider block: unknown arguments and
//   blocks at any depth (dynamic blocks' content too), missing required
//   arguments and blocks, a block written as an argument (unless the schema
//   says the provider accepts that, "ab") and an argument written as a
//   block, two blocks where one is allowed, read-only attributes set;
//   Terraform's meta-arguments where Terraform allows them; variable,
//   output, module and lifecycle blocks against Terraform's own rules;
// - every reference: var.x, local.x, module.x and data.t.n declared;
//   type.name to a declared resource, indexed when it has count or
//   for_each and not otherwise, then its attributes and nested blocks as
//   far as the schema knows them (a set of blocks cannot be indexed, a list
//   must be); each, count and self only where they exist; path.* and
//   terraform.*; dynamic iterators' key and value; function names;
//   lifecycle ignore_changes names;
// - required_providers names each provider used, with the schema's source,
//   and a version constraint the schema's version satisfies.
//
// Not checked: values (enums, formats), conflicts between arguments,
// module inputs and outputs, the types of variables' attributes. The schema
// files list no read-only attributes of nested blocks (identity[0].
// principal_id), so a reference to one is reported: reference the resource
// that has it at the top (azurerm_user_assigned_identity.x.principal_id).
//
// Every file is parsed by hcl2json too, and the two readings of its
// structure must agree (hcl.js keeps the lines and the argument/block
// distinction that hcl2json's JSON loses).

const fs = require('node:fs');
const path = require('node:path');
const zlib = require('node:zlib');
const hcl2json = require('@cdktf/hcl2json');
const { read, references, show } = require('./hcl.js');

// Terraform's built-in functions (terraform 1.11, `terraform metadata
// functions -json`; tests/e2e/tfschema.test.js compares the two).
const FUNCTIONS = new Set(`abs abspath alltrue anytrue base64decode base64encode
  base64gzip base64sha256 base64sha512 basename bcrypt can ceil chomp chunklist
  cidrhost cidrnetmask cidrsubnet cidrsubnets coalesce coalescelist compact
  concat contains csvdecode dirname distinct element endswith ephemeralasnull
  file filebase64 filebase64sha256 filebase64sha512 fileexists filemd5 fileset
  filesha1 filesha256 filesha512 flatten floor format formatdate formatlist
  indent index issensitive join jsondecode jsonencode keys length log lookup
  lower matchkeys max md5 merge min nonsensitive one parseint pathexpand
  plantimestamp pow range regex regexall replace reverse rsadecrypt sensitive
  setintersection setproduct setsubtract setunion sha1 sha256 sha512 signum
  slice sort split startswith strcontains strrev substr sum templatefile
  templatestring textdecodebase64 textencodebase64 timeadd timecmp timestamp
  title tobool tolist tomap tonumber toset tostring transpose trim trimprefix
  trimspace trimsuffix try upper urlencode uuid uuidv5 values yamldecode
  yamlencode zipmap`.split(/\s+/));

// Terraform's own blocks, in the schema files' NODE format. ANY is a body
// whose arguments are not checked (provisioners, connections, modules).
const ANY = { any: true, a: {}, b: {} };
const CONDITION = { a: { condition: { r: 1 }, error_message: { r: 1 } }, b: {}, n: 'list' };
const LIFECYCLE = {
  a: { create_before_destroy: {}, prevent_destroy: {}, ignore_changes: {}, replace_triggered_by: {} },
  b: { precondition: CONDITION, postcondition: CONDITION },
  n: 'list',
  max1: 1,
};
const META = {
  resource: {
    a: { count: {}, for_each: {}, depends_on: {}, provider: {} },
    b: {
      lifecycle: LIFECYCLE,
      connection: { ...ANY, n: 'list', max1: 1 },
      provisioner: { ...ANY, n: 'list', labels: 1 },
    },
  },
  data: {
    a: { count: {}, for_each: {}, depends_on: {}, provider: {} },
    b: { lifecycle: { a: {}, b: { precondition: CONDITION, postcondition: CONDITION }, n: 'list', max1: 1 } },
  },
  provider: { a: { alias: {}, version: {} }, b: {} },
};
const TOP = {
  terraform: { labels: 0 },
  provider: { labels: 1 },
  variable: {
    labels: 1,
    a: { type: {}, default: {}, description: {}, sensitive: {}, nullable: {}, ephemeral: {} },
    b: { validation: CONDITION },
  },
  output: {
    labels: 1,
    a: { value: { r: 1 }, description: {}, sensitive: {}, depends_on: {}, ephemeral: {} },
    b: { precondition: CONDITION },
  },
  locals: { labels: 0 },
  module: { labels: 1 },
  resource: { labels: 2 },
  data: { labels: 2 },
  moved: { labels: 0 },
  import: { labels: 0 },
  removed: { labels: 0 },
  check: { labels: 1 },
  ephemeral: { labels: 2 },
};
const DYNAMIC = { a: { for_each: { r: 1 }, iterator: {}, labels: {} }, b: {} };

function loadSchema(file) {
  const raw = fs.readFileSync(file);
  const schema = JSON.parse(file.endsWith('.gz') ? zlib.gunzipSync(raw) : raw);
  for (const k of ['resources', 'data', 'provider', 'provider_source', 'provider_version']) {
    if (!(k in schema)) throw new Error(`${file}: not a schema file (no "${k}")`);
  }
  return schema;
}

// The closest of names to a misspelt one, when it is close enough to be a
// likely typo.
function suggest(name, names) {
  let best = null;
  let bestD = Infinity;
  for (const cand of names) {
    const d = distance(name, cand);
    if (d < bestD) {
      best = cand;
      bestD = d;
    }
  }
  return best !== null && bestD <= Math.max(2, Math.floor(name.length / 4)) ? ` (did you mean "${best}"?)` : '';
}

function distance(a, b) {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}

// Does version (1.2.3) satisfy a Terraform constraint string (">= 4.0, < 5.0")?
function satisfies(version, constraint) {
  const num = (v) => v.split('.').map(Number).concat([0, 0, 0]).slice(0, 3);
  const cmp = (a, b) => {
    const x = num(a);
    const y = num(b);
    for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i] - y[i];
    return 0;
  };
  return constraint.split(',').every((c) => {
    const m = /^\s*(>=|<=|!=|~>|>|<|=)?\s*(\d+(?:\.\d+){0,2})\s*$/.exec(c);
    if (!m) return false;
    const [, op = '=', want] = m;
    const d = cmp(version, want);
    switch (op) {
      case '>=': return d >= 0;
      case '<=': return d <= 0;
      case '>': return d > 0;
      case '<': return d < 0;
      case '!=': return d !== 0;
      case '=': return d === 0;
      default: {
        // ~> 4.0 allows 4.x; ~> 4.1.2 allows 4.1.x from 4.1.2.
        const parts = want.split('.');
        const upper = parts.length === 1 ? `${Number(parts[0]) + 1}`
          : [...parts.slice(0, -2), Number(parts[parts.length - 2]) + 1].join('.');
        return d >= 0 && cmp(version, upper) < 0;
      }
    }
  });
}

// Do hcl.js's reading and hcl2json's agree on the names and blocks of a
// body? Returns where they first differ, or null.
function disagreement(items, json, where) {
  const attrs = new Set();
  const blocks = new Map();
  for (const it of items) {
    if (it.kind === 'attr') attrs.add(it.name);
    else blocks.set(it.type, [...(blocks.get(it.type) ?? []), it]);
  }
  const theirs = Object.keys(json ?? {}).sort();
  const mine = [...attrs, ...blocks.keys()].sort();
  if (theirs.join() !== mine.join()) return `${where}: [${mine}] vs hcl2json [${theirs}]`;
  for (const [type, list] of blocks) {
    const seen = new Map();
    for (const b of list) {
      let node = json[type];
      for (const l of b.labels) node = node?.[l];
      const k = JSON.stringify(b.labels);
      const n = seen.get(k) ?? 0;
      seen.set(k, n + 1);
      if (!Array.isArray(node) || node[n] === undefined) return `${where}.${type}${k}: missing in hcl2json`;
      const inner = disagreement(b.body, node[n], `${where}.${type}`);
      if (inner) return inner;
    }
  }
  return null;
}

// Where a problem is, and what is being checked: the file, the subject
// ("azurerm_subnet.app"), the names in scope and what the block allows.
// meta: { count, each, self } tell which of those references exist.
class Checker {
  constructor(schemas) {
    this.providers = new Map(schemas.map((s) => [s.provider.name ?? s.provider_source.split('/').pop(), s]));
    this.problems = [];
  }

  problem(file, line, subject, what) {
    this.problems.push({ file, line, subject, what });
  }

  // The provider of a resource or data source type: the part before the
  // first underscore, as Terraform guesses it.
  providerOf(type) {
    return this.providers.get(type.split('_')[0]);
  }

  async check(dir) {
    const files = fs.readdirSync(dir).filter((f) => f.endsWith('.tf')).sort();
    if (files.length === 0) throw new Error(`${dir}: no .tf files`);
    this.decl = { resource: new Map(), data: new Map(), variable: new Map(), local: new Map(), module: new Map(), output: new Map() };
    this.aliases = new Map();
    const docs = [];
    for (const f of files) {
      const file = path.join(dir, f);
      const text = fs.readFileSync(file, 'utf8');
      let json;
      try {
        json = await hcl2json.parse(f, text);
      } catch (e) {
        const m = /:(\d+),\d+/.exec(String(e.message ?? e));
        this.problem(file, m ? Number(m[1]) : 1, 'syntax', String(e.message ?? e).split('\n')[0]);
        continue;
      }
      let items;
      try {
        items = read(text);
      } catch (e) {
        this.problem(file, 1, 'reader', `hcl.js cannot read what hcl2json accepts: ${e.message}`);
        continue;
      }
      const differ = disagreement(items, json, f);
      if (differ) {
        this.problem(file, 1, 'reader', `hcl.js and hcl2json read the file differently at ${differ}`);
        continue;
      }
      docs.push({ file, items, json });
    }
    for (const d of docs) this.declare(d);
    this.checkProviders(docs);
    for (const d of docs) {
      for (const blk of d.items) this.checkTop(d.file, blk);
    }
    return this.problems.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line);
  }

  declare({ file, items }) {
    const add = (kind, key, at, extra = {}) => {
      const map = this.decl[kind];
      if (map.has(key)) {
        const first = map.get(key);
        this.problem(file, at.line, `${kind === 'resource' ? '' : `${kind}.`}${key}`, `declared twice (first at ${path.basename(first.file)}:${first.line})`);
        return;
      }
      map.set(key, { file, line: at.line, ...extra });
    };
    for (const blk of items) {
      if (blk.kind !== 'block') {
        this.problem(file, blk.line, blk.name, 'an argument outside any block');
        continue;
      }
      const top = TOP[blk.type];
      if (!top) {
        this.problem(file, blk.line, blk.type, `unknown top-level block "${blk.type}"${suggest(blk.type, Object.keys(TOP))}`);
        continue;
      }
      if (blk.labels.length !== top.labels) {
        this.problem(file, blk.line, blk.type, `a ${blk.type} block takes ${top.labels} label(s), not ${blk.labels.length}`);
        blk.bad = true;
        continue;
      }
      const meta = {
        count: blk.body.some((i) => i.kind === 'attr' && i.name === 'count'),
        each: blk.body.some((i) => i.kind === 'attr' && i.name === 'for_each'),
      };
      if (blk.type === 'resource' || blk.type === 'data') add(blk.type, blk.labels.join('.'), blk, { meta, type: blk.labels[0] });
      else if (blk.type === 'variable') add('variable', blk.labels[0], blk);
      else if (blk.type === 'output') add('output', blk.labels[0], blk);
      else if (blk.type === 'module') add('module', blk.labels[0], blk, { meta });
      else if (blk.type === 'locals') {
        for (const it of blk.body) if (it.kind === 'attr') add('local', it.name, it);
      } else if (blk.type === 'provider') {
        const alias = blk.body.find((i) => i.kind === 'attr' && i.name === 'alias');
        const name = alias?.expr.find((t) => t.t === 'tmpl')?.lit ?? '';
        const key = `${blk.labels[0]}${name ? `.${name}` : ''}`;
        if (this.aliases.has(key)) this.problem(file, blk.line, `provider.${key}`, 'configured twice');
        this.aliases.set(key, true);
      }
    }
  }

  // required_providers must name every provider this folder uses, from the
  // schema's source, with a version constraint the schema's version meets.
  checkProviders(docs) {
    const used = new Map();
    for (const { file, items } of docs) {
      for (const blk of items) {
        if (blk.bad || !['resource', 'data', 'provider'].includes(blk.type)) continue;
        const name = blk.type === 'provider' ? blk.labels[0] : blk.labels[0].split('_')[0];
        if (!used.has(name)) used.set(name, { file, line: blk.line });
      }
    }
    const required = new Map();
    let terraformAt = null;
    for (const { file, items, json } of docs) {
      for (const blk of items) {
        if (blk.type !== 'terraform') continue;
        terraformAt = terraformAt ?? { file, line: blk.line };
        const rp = blk.body.find((i) => i.kind === 'block' && i.type === 'required_providers');
        if (!rp) continue;
        for (const t of json.terraform ?? []) {
          for (const group of t.required_providers ?? []) {
            for (const [name, v] of Object.entries(group)) {
              const at = rp.body.find((i) => i.name === name);
              required.set(name, { file, line: at?.line ?? rp.line, ...(typeof v === 'object' ? v : { version: v }) });
            }
          }
        }
      }
    }
    for (const [name, at] of used) {
      const schema = this.providers.get(name);
      if (!schema) {
        this.problem(at.file, at.line, name, `no schema for provider "${name}" (given: ${[...this.providers.keys()].join(', ')})`);
        continue;
      }
      const req = required.get(name);
      const where = req ?? terraformAt ?? at;
      const source = schema.provider_source.replace(/^registry\.terraform\.io\//, '');
      if (!req) {
        this.problem(where.file, where.line, 'terraform', `required_providers does not name "${name}" (source "${source}")`);
        continue;
      }
      if (String(req.source ?? '').replace(/^registry\.terraform\.io\//, '').toLowerCase() !== source.toLowerCase()) {
        this.problem(req.file, req.line, 'terraform', `provider "${name}" has source "${req.source}", not "${source}"`);
      }
      if (!req.version) {
        this.problem(req.file, req.line, 'terraform', `provider "${name}" has no version constraint`);
      } else if (!satisfies(schema.provider_version, req.version)) {
        this.problem(req.file, req.line, 'terraform',
          `provider "${name}" is constrained to "${req.version}", which the schema's ${schema.provider_version} does not meet`);
      }
    }
  }

  checkTop(file, blk) {
    if (blk.kind !== 'block' || blk.bad || !TOP[blk.type]) return;
    const ctx = { file, scope: new Set(), iterators: new Set(), meta: {} };
    switch (blk.type) {
      case 'resource':
      case 'data': {
        const [type, name] = blk.labels;
        const kind = blk.type === 'resource' ? 'resources' : 'data';
        ctx.subject = blk.type === 'resource' ? `${type}.${name}` : `data.${type}.${name}`;
        ctx.meta = { ...this.decl[blk.type].get(`${type}.${name}`).meta };
        if (ctx.meta.count && ctx.meta.each) this.problem(file, blk.line, ctx.subject, 'count and for_each together');
        const provider = this.providerOf(type);
        const node = provider?.[kind][type];
        if (!node) {
          if (provider) {
            this.problem(file, blk.line, ctx.subject,
              `unknown ${blk.type === 'resource' ? 'resource' : 'data source'} type "${type}"${suggest(type, Object.keys(provider[kind]))}`);
          }
          this.refsOnly(blk.body, ctx);
          return;
        }
        ctx.resource = node;
        this.body(blk.body, node, META[blk.type], ctx, '', blk.line);
        return;
      }
      case 'provider': {
        const name = blk.labels[0];
        ctx.subject = `provider.${name}`;
        const node = this.providers.get(name)?.provider;
        if (!node) {
          this.refsOnly(blk.body, ctx);
          return;
        }
        this.body(blk.body, node, META.provider, ctx, '', blk.line);
        return;
      }
      case 'variable':
        ctx.subject = `variable.${blk.labels[0]}`;
        this.body(blk.body, TOP.variable, null, ctx, '', blk.line, new Set(['type', 'default']));
        return;
      case 'output':
        ctx.subject = `output.${blk.labels[0]}`;
        this.body(blk.body, TOP.output, null, ctx, '', blk.line);
        return;
      case 'locals':
        for (const it of blk.body) {
          ctx.subject = `local.${it.name ?? it.type}`;
          if (it.kind === 'attr') this.refs(it, ctx);
          else this.problem(file, it.line, ctx.subject, 'a block inside locals');
        }
        return;
      case 'module': {
        ctx.subject = `module.${blk.labels[0]}`;
        ctx.meta = this.decl.module.get(blk.labels[0])?.meta ?? {};
        if (!blk.body.some((i) => i.kind === 'attr' && i.name === 'source')) {
          this.problem(file, blk.line, ctx.subject, 'missing required argument "source"');
        }
        for (const it of blk.body) {
          if (it.kind === 'attr' && it.name !== 'providers') this.refs(it, ctx);
        }
        return;
      }
      default:
        // terraform, moved, import, removed, check: addresses and settings,
        // not expressions to resolve.
    }
  }

  // References in a body whose arguments cannot be checked.
  refsOnly(items, ctx) {
    for (const it of items) {
      if (it.kind === 'attr') this.refs(it, ctx);
      else this.refsOnly(it.body, ctx);
    }
  }

  // One block body against its schema node (and Terraform's meta-arguments
  // allowed there); where is the path of nested block names, for messages.
  // line is the block's, where a missing argument is reported. skipRefs:
  // arguments whose expressions are not references (a variable's type and
  // default).
  body(items, node, meta, ctx, where, line, skipRefs = new Set()) {
    const { file, subject } = ctx;
    const at = (name) => (where ? `${where}.${name}` : name);
    const attrs = node.a ?? {};
    const blocks = node.b ?? {};
    const ro = new Set(node.ro ?? []);
    const metaA = meta?.a ?? {};
    const metaB = meta?.b ?? {};
    const setA = new Set();
    const blockCount = new Map();
    const known = [...Object.keys(attrs), ...Object.keys(blocks), ...Object.keys(metaA), ...Object.keys(metaB)];
    for (const it of items) {
      if (it.kind === 'attr') {
        if (setA.has(it.name)) this.problem(file, it.line, subject, `argument "${at(it.name)}" set twice`);
        setA.add(it.name);
        if (it.name in metaA) {
          this.metaArgument(it, ctx);
        } else if (it.name in attrs) {
          if (!skipRefs.has(it.name)) this.refs(it, ctx);
        } else if (it.name in blocks) {
          if (blocks[it.name].ab) this.refs(it, ctx);
          else this.problem(file, it.line, subject, `"${at(it.name)}" is a block, not an argument: write ${it.name} { ... }`);
        } else if (ro.has(it.name)) {
          this.problem(file, it.line, subject, `"${at(it.name)}" is read-only: the provider sets it`);
        } else if (metaB[it.name]) {
          this.problem(file, it.line, subject, `"${at(it.name)}" is a block, not an argument: write ${it.name} { ... }`);
        } else {
          this.problem(file, it.line, subject, `unknown argument "${at(it.name)}"${suggest(it.name, known)}`);
          this.refs(it, ctx);
        }
        continue;
      }
      if (it.type === 'dynamic' && !node.any) {
        this.dynamic(it, blocks, ctx, where, blockCount);
        continue;
      }
      const inner = metaB[it.type] ?? blocks[it.type];
      if (!inner) {
        if (it.type in attrs || ro.has(it.type)) {
          this.problem(file, it.line, subject, `"${at(it.type)}" is an argument, not a block: write ${it.type} = ...`);
        } else {
          this.problem(file, it.line, subject, `unknown block "${at(it.type)}"${suggest(it.type, known)}`);
        }
        this.refsOnly(it.body, ctx);
        continue;
      }
      if (it.labels.length !== (inner.labels ?? 0)) {
        this.problem(file, it.line, subject, `block "${at(it.type)}" takes ${inner.labels ?? 0} label(s), not ${it.labels.length}`);
      }
      blockCount.set(it.type, (blockCount.get(it.type) ?? 0) + 1);
      if (inner.max1 && blockCount.get(it.type) === 2) {
        this.problem(file, it.line, subject, `at most one "${at(it.type)}" block is allowed`);
      }
      if (it.type === 'lifecycle' && metaB.lifecycle) {
        this.lifecycle(it, ctx);
      } else if (inner.any) {
        const self = it.type === 'provisioner' || it.type === 'connection';
        this.refsOnly(it.body, self ? { ...ctx, meta: { ...ctx.meta, self: true } } : ctx);
      } else {
        this.body(it.body, inner, null, ctx, at(it.type), it.line);
      }
    }
    for (const [name, a] of Object.entries(attrs)) {
      if (a.r && !setA.has(name)) {
        this.problem(file, line, subject, `missing required argument "${at(name)}"`);
      }
    }
    for (const [name, b] of Object.entries(blocks)) {
      if (b.r && !blockCount.has(name) && !setA.has(name)) {
        this.problem(file, line, subject, `missing required block "${at(name)}"`);
      }
    }
  }

  // A dynamic "x" block makes x blocks of the enclosing node: its content
  // is checked as x, with the iterator (x, or `iterator`) in scope.
  dynamic(it, blocks, ctx, where, blockCount) {
    const { file, subject } = ctx;
    const label = it.labels[0];
    const at = where ? `${where}.${label}` : label;
    if (it.labels.length !== 1) {
      this.problem(file, it.line, subject, 'a dynamic block takes one label, the block it makes');
      return;
    }
    const target = blocks[label];
    if (!target) {
      this.problem(file, it.line, subject, `dynamic "${at}": no such block${suggest(label, Object.keys(blocks))}`);
    }
    blockCount.set(label, (blockCount.get(label) ?? 0) + 1);
    if (target?.max1 && blockCount.get(label) === 2) {
      this.problem(file, it.line, subject, `at most one "${at}" block is allowed`);
    }
    const iter = it.body.find((i) => i.kind === 'attr' && i.name === 'iterator');
    const name = iter ? iter.expr.find((t) => t.t === 'id')?.v : label;
    const contents = it.body.filter((i) => i.kind === 'block' && i.type === 'content');
    if (contents.length !== 1) this.problem(file, it.line, subject, `dynamic "${at}" needs exactly one content block`);
    for (const x of it.body) {
      if (x.kind === 'attr') {
        if (!(x.name in DYNAMIC.a)) this.problem(file, x.line, subject, `unknown argument "dynamic.${x.name}"`);
        else if (x.name !== 'iterator') this.refs(x, ctx);
      } else if (x.type !== 'content') {
        this.problem(file, x.line, subject, `unknown block "dynamic.${x.type}": a dynamic block holds one content block`);
      }
    }
    if (!it.body.some((x) => x.kind === 'attr' && x.name === 'for_each')) {
      this.problem(file, it.line, subject, `dynamic "${at}" is missing for_each`);
    }
    const inner = { ...ctx, scope: new Set([...ctx.scope, name]), iterators: new Set([...ctx.iterators, name]) };
    for (const c of contents) {
      if (target) this.body(c.body, target, null, inner, at, c.line);
      else this.refsOnly(c.body, inner);
    }
  }

  lifecycle(blk, ctx) {
    const names = { ...ctx.resource?.a, ...ctx.resource?.b };
    for (const it of blk.body) {
      if (it.kind === 'attr' && it.name === 'ignore_changes') {
        // Names of this resource's own arguments, or `all`.
        for (const r of references(it.expr)) {
          const [head] = r.parts;
          if (head === 'all' && r.parts.length === 1) continue;
          if (!(head in names)) {
            this.problem(ctx.file, r.line, ctx.subject, `lifecycle.ignore_changes names "${head}", which is not an argument here${suggest(head, Object.keys(names))}`);
          }
        }
      }
    }
    const skip = new Set(['ignore_changes']);
    const self = { ...ctx, meta: { ...ctx.meta, self: true } };
    this.body(blk.body, LIFECYCLE, null, self, 'lifecycle', blk.line, skip);
  }

  // count, for_each, depends_on and provider.
  metaArgument(it, ctx) {
    if (it.name !== 'provider') {
      this.refs(it, { ...ctx, meta: {} });
      return;
    }
    // A provider's default configuration exists without a block of its own.
    const ids = it.expr.filter((t) => t.t === 'id').map((t) => t.v);
    const key = ids.join('.');
    if (ids.length !== 1 && !this.aliases.has(key)) {
      this.problem(ctx.file, it.line, ctx.subject, `provider "${key}" is not configured`);
    }
  }

  refs(it, ctx) {
    this.functions(it.expr, ctx);
    for (const r of references(it.expr, ctx.scope)) {
      const what = this.resolve(r.parts, r.scoped, ctx);
      if (what) this.problem(ctx.file, r.line, ctx.subject, `${show(r.parts)}: ${what}`);
    }
  }

  functions(tokens, ctx) {
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i];
      if (t.t === 'tmpl') {
        for (const p of t.parts) this.functions(p.tokens, ctx);
        continue;
      }
      const next = tokens[i + 1];
      const prev = tokens[i - 1];
      if (t.t === 'id' && next?.t === 'p' && next.v === '(' && !(prev?.t === 'p' && (prev.v === '::' || prev.v === '.'))) {
        if (!FUNCTIONS.has(t.v)) this.problem(ctx.file, t.line, ctx.subject, `unknown function "${t.v}"${suggest(t.v, FUNCTIONS)}`);
      }
    }
  }

  // What is wrong with one reference, or null.
  resolve(parts, scoped, ctx) {
    const [head, ...rest] = parts;
    const attr = (i) => rest[i]?.attr;
    if (scoped) {
      if (ctx.iterators.has(head) && !['key', 'value'].includes(attr(0))) {
        return `the dynamic block's iterator "${head}" has only key and value`;
      }
      return null;
    }
    switch (head) {
      case 'var':
        if (!attr(0)) return 'var needs a variable name';
        return this.decl.variable.has(attr(0)) ? null
          : `variable "${attr(0)}" is not declared${suggest(attr(0), this.decl.variable.keys())}`;
      case 'local':
        if (!attr(0)) return 'local needs a name';
        return this.decl.local.has(attr(0)) ? null
          : `local value "${attr(0)}" is not declared${suggest(attr(0), this.decl.local.keys())}`;
      case 'module':
        return this.decl.module.has(attr(0)) ? null : `module "${attr(0)}" is not declared`;
      case 'each':
        if (!ctx.meta.each) return 'each exists only in a block with for_each';
        return ['key', 'value'].includes(attr(0)) ? null : 'each has only key and value';
      case 'count':
        if (!ctx.meta.count) return 'count.index exists only in a block with count';
        return attr(0) === 'index' ? null : 'count has only index';
      case 'self':
        return ctx.meta.self ? null : 'self exists only in provisioners, connections and postconditions';
      case 'path':
        return ['module', 'root', 'cwd'].includes(attr(0)) ? null : 'path has only module, root and cwd';
      case 'terraform':
        return ['workspace', 'applying'].includes(attr(0)) ? null : 'terraform has only workspace and applying';
      case 'data': {
        const type = attr(0);
        const name = attr(1);
        if (!type || !name) return 'data needs a type and a name';
        const decl = this.decl.data.get(`${type}.${name}`);
        if (!decl) return `data source ${type}.${name} is not declared`;
        const node = this.providerOf(type)?.data[type];
        return node ? this.walk(node, decl, rest.slice(2), `data.${type}.${name}`) : null;
      }
      default: {
        const name = attr(0);
        const known = this.providerOf(head)?.resources[head] !== undefined ||
          [...this.decl.resource.values()].some((d) => d.type === head);
        if (!known) {
          const types = [...this.providers.values()].flatMap((p) => Object.keys(p.resources));
          return `unknown reference "${head}"${suggest(head, [...types, 'var', 'local', 'data', 'module', 'each', 'count', 'path', 'self', 'terraform'])}`;
        }
        if (!name) return `a reference to a resource needs its name (${head}.NAME)`;
        const decl = this.decl.resource.get(`${head}.${name}`);
        if (!decl) {
          const same = [...this.decl.resource.keys()].filter((k) => k.startsWith(`${head}.`)).map((k) => k.slice(head.length + 1));
          return `resource ${head}.${name} is not declared${suggest(name, same)}`;
        }
        const node = this.providerOf(head)?.resources[head];
        return node ? this.walk(node, decl, rest.slice(1), `${head}.${name}`) : null;
      }
    }
  }

  // The steps after a declared resource's address: its instance key, then
  // attributes and blocks as far as the schema describes them.
  walk(node, decl, steps, address) {
    let i = 0;
    const many = decl.meta.count || decl.meta.each;
    if (steps[0]?.index) {
      if (!many) return `${address} has neither count nor for_each, so it takes no index`;
      if (decl.meta.each && typeof steps[0].key === 'number') return `${address} has for_each: its instances are keyed by strings, not numbers`;
      if (decl.meta.count && typeof steps[0].key === 'string') return `${address} has count: its instances are numbered`;
      i = 1;
    } else if (steps[0]?.splat) {
      i = 1;
    } else if (many && steps.length > 0) {
      return `${address} has ${decl.meta.count ? 'count' : 'for_each'}: name an instance (${address}[...]) or all of them ([*])`;
    }
    let cur = node;
    let where = address;
    while (i < steps.length) {
      const name = steps[i].attr;
      if (name === undefined) return null;
      if ((cur.a && name in cur.a) || (cur.ro ?? []).includes(name)) return null;
      const blk = cur.b?.[name];
      if (!blk) {
        const names = [...Object.keys(cur.a ?? {}), ...(cur.ro ?? []), ...Object.keys(cur.b ?? {})];
        return `${where} has no attribute "${name}"${suggest(name, names)}`;
      }
      where = `${where}.${name}`;
      const next = steps[++i];
      if (blk.n === 'struct' || next === undefined) {
        cur = blk;
        continue;
      }
      if (next.index && blk.n === 'set') return `${where} is a set of blocks, which cannot be indexed: use one(), tolist() or [*]`;
      if (next.attr !== undefined) return `${where} is a ${blk.n} of blocks: index it (${name}[0].${next.attr}) or use [*]`;
      cur = blk;
      i++;
    }
    return null;
  }
}

async function check(dir, schemas) {
  return new Checker(schemas).check(dir);
}

function format(p) {
  return `${p.file}:${p.line}: ${p.subject}: ${p.what}`;
}

// The compact NODE format of tests/testdata/README.md from one block of
// `terraform providers schema -json` (used to check the checker against
// terraform validate with a provider that is installed).
function fromProviderBlock(block) {
  const node = { a: {}, b: {} };
  const ro = [];
  for (const [name, a] of Object.entries(block.attributes ?? {})) {
    if (a.computed && !a.optional && !a.required) {
      ro.push(name);
      continue;
    }
    // A list or set of objects is what the SDK's attributes-as-blocks look
    // like in this JSON: either syntax is accepted ("ab").
    const [coll, elem] = Array.isArray(a.type) ? a.type : [];
    if ((coll === 'list' || coll === 'set') && Array.isArray(elem) && elem[0] === 'object') {
      const attrs = Object.fromEntries(Object.keys(elem[1]).map((k) => [k, { t: 'x' }]));
      node.b[name] = { a: attrs, b: {}, n: coll, ab: 1 };
      continue;
    }
    node.a[name] = { t: 'x', ...(a.required ? { r: 1 } : {}) };
  }
  if (ro.length) node.ro = ro;
  for (const [name, b] of Object.entries(block.block_types ?? {})) {
    const inner = fromProviderBlock(b.block);
    delete inner.ro;
    inner.n = { single: 'struct', group: 'struct', list: 'list', set: 'set', map: 'map' }[b.nesting_mode];
    if (b.max_items === 1) inner.max1 = 1;
    if (b.min_items >= 1) inner.r = 1;
    node.b[name] = inner;
  }
  return node;
}

function fromProviderSchema(json, source) {
  const p = json.provider_schemas[source];
  const map = (o) => Object.fromEntries(Object.entries(o ?? {}).map(([k, v]) => [k, fromProviderBlock(v.block)]));
  return {
    provider_source: source,
    provider_version: null,
    resources: map(p.resource_schemas),
    data: map(p.data_source_schemas),
    provider: { name: source.split('/').pop(), ...fromProviderBlock(p.provider.block) },
  };
}

module.exports = { check, format, loadSchema, satisfies, fromProviderSchema, FUNCTIONS };

if (require.main === module) {
  const [dir, ...schemaFiles] = process.argv.slice(2);
  if (!dir || schemaFiles.length === 0) {
    process.stderr.write('usage: tfschema.js DIR SCHEMA.json.gz [SCHEMA.json.gz ...]\n');
    process.exit(2);
  }
  (async () => {
    const schemas = schemaFiles.map(loadSchema);
    const problems = await check(dir, schemas);
    for (const p of problems) process.stdout.write(`${format(p)}\n`);
    const names = schemas.map((s) => `${s.provider.name} ${s.provider_version}`).join(', ');
    process.stderr.write(`${dir}: ${problems.length} problem(s) against ${names}\n`);
    process.exit(problems.length ? 1 : 0);
  })().catch((e) => {
    process.stderr.write(`tfschema.js: ${e.message}\n`);
    process.exit(2);
  });
}
