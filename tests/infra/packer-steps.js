'use strict';
// Reads the Packer build in images/ and says what Packer would run, in its
// order, so tests/infra/vm.sh can run exactly that in a Debian chroot
// instead of on a cloud instance. The order of the provisioners comes from
// `packer inspect` (hcl2json groups blocks by type and loses it); their
// settings from hcl2json, with ${var.*} and ${local.*} filled in.
//
//   node tests/infra/packer-steps.js [--var name=value]...
//
// prints one shell line per provisioner for vm.sh to eval:
//   packer_shell EXECUTE_COMMAND VARS -- SCRIPT...
//   packer_inline EXECUTE_COMMAND VARS -- COMMAND...
//   packer_file DESTINATION SOURCE...
//   packer_skip DESCRIPTION        (a step for other sources only)

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const hcl = require('@cdktf/hcl2json');

const ROOT = path.resolve(__dirname, '..', '..');
const IMAGES = path.join(ROOT, 'images');
// Only Packer 1.7 and later know this file's block; it holds nothing else.
const PLUGINS_FILE = 'plugins.pkr.hcl';

// Packer's own defaults for the shell provisioner.
const DEFAULT_EXECUTE = 'chmod +x {{.Path}}; {{.Vars}} {{.Path}}';

// The settings this emulation knows how to honour; anything else in a
// provisioner fails loudly rather than being skipped in silence. only and
// except are Packer's own: a provisioner for other sources is skipped.
const EMULATED = {
  shell: new Set(['inline', 'script', 'scripts', 'environment_vars',
    'execute_command', 'only', 'except']),
  file: new Set(['source', 'sources', 'destination', 'only', 'except']),
};

// The source a chroot stands in for: none of the clouds' own, so a
// cloud-only step (such as installing AWS's SSM agent from AWS's bucket)
// is skipped, and says so.
const CHROOT_SOURCE = 'chroot';

function templateFiles(dir = IMAGES) {
  return fs.readdirSync(dir).filter((f) => f.endsWith('.pkr.hcl')).sort()
    .map((f) => path.join(dir, f));
}

// A directory with every template file but the plugins one, for Debian's
// packer 1.6.6 (infra/deploy.sh does the same).
function stage(dir = IMAGES) {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'candidates-packer-'));
  for (const f of templateFiles(dir)) {
    if (path.basename(f) !== PLUGINS_FILE) {
      fs.copyFileSync(f, path.join(out, path.basename(f)));
    }
  }
  return out;
}

// Every file's hcl2json output, by file name.
async function parseAll(dir = IMAGES) {
  const out = {};
  for (const f of templateFiles(dir)) {
    out[path.basename(f)] = await hcl.parse(f, fs.readFileSync(f, 'utf8'));
  }
  return out;
}

function varArgs(vars) {
  return Object.entries(vars).flatMap(([k, v]) => ['-var', `${k}=${v}`]);
}

// The provisioner types in build order, from packer inspect.
function provisionerOrder(staged, vars) {
  const text = execFileSync('packer', ['inspect', ...varArgs(vars), staged],
    { encoding: 'utf8' });
  const m = text.match(/provisioners:\n\n((?: {6}\S+\n)+)/);
  if (!m) throw new Error(`no provisioners in packer inspect's output:\n${text}`);
  return m[1].trim().split(/\s+/);
}

// Fills ${var.x} and ${local.x} in a value; a string that is a single
// reference takes the referenced value whole (a list, say).
function resolver(variables, locals, vars) {
  const values = {};
  for (const [name, [decl]] of Object.entries(variables)) {
    values[`var.${name}`] = decl.default;
  }
  for (const [k, v] of Object.entries(vars)) {
    if (!(`var.${k}` in values)) throw new Error(`no Packer variable ${k}`);
    values[`var.${k}`] = v;
  }
  const resolving = new Set();
  function lookup(ref) {
    if (ref in values) return values[ref];
    const m = ref.match(/^local\.(\w+)$/);
    if (m && m[1] in locals) {
      if (resolving.has(ref)) throw new Error(`${ref} refers to itself`);
      resolving.add(ref);
      values[ref] = resolve(locals[m[1]]);
      resolving.delete(ref);
      return values[ref];
    }
    throw new Error(`cannot resolve \${${ref}} (only variables and locals are emulated)`);
  }
  function resolve(v) {
    if (Array.isArray(v)) return v.flatMap((x) => {
      const r = resolve(x);
      return Array.isArray(r) && typeof x === 'string' && /^\$\{[^}]+\}$/.test(x) ? r : [r];
    });
    if (v === null || typeof v !== 'string') return v;
    const whole = v.match(/^\$\{([\w.]+)\}$/);
    if (whole) return lookup(whole[1]);
    const out = v.replace(/\$\{([\w.]+)\}/g, (_, ref) => String(lookup(ref)));
    if (out.includes('${')) throw new Error(`cannot resolve "${v}"`);
    return out;
  }
  return resolve;
}

// The provisioners as Packer runs them for one source (the chroot's unless
// told): [{ type, skip, ...settings }] in order, skip for the steps of
// other sources.
async function provisionSteps(vars = {}, dir = IMAGES, source = CHROOT_SOURCE) {
  const parsed = await parseAll(dir);
  const variables = {};
  const locals = {};
  const builds = [];
  for (const doc of Object.values(parsed)) {
    Object.assign(variables, doc.variable ?? {});
    for (const l of doc.locals ?? []) Object.assign(locals, l);
    builds.push(...(doc.build ?? []));
  }
  if (builds.length !== 1) throw new Error(`expected one build block, found ${builds.length}`);
  const resolve = resolver(variables, locals, vars);
  const byType = {};
  for (const [type, list] of Object.entries(builds[0].provisioner ?? {})) {
    byType[type] = [...list];
  }
  const staged = stage(dir);
  let order;
  try {
    order = provisionerOrder(staged, vars);
  } finally {
    fs.rmSync(staged, { recursive: true, force: true });
  }
  return order.map((type) => {
    const raw = byType[type]?.shift();
    if (!raw) throw new Error(`packer inspect lists a ${type} provisioner hcl2json did not find`);
    if (!EMULATED[type]) throw new Error(`provisioner "${type}" is not emulated`);
    for (const k of Object.keys(raw)) {
      if (!EMULATED[type].has(k)) throw new Error(`${type} provisioner setting "${k}" is not emulated`);
    }
    const step = { type };
    for (const [k, v] of Object.entries(raw)) step[k] = resolve(v);
    step.skip = (step.only && !step.only.includes(source)) ||
      (step.except && step.except.includes(source)) || false;
    return step;
  });
}

// A shell word in single quotes.
function q(s) {
  return `'${String(s).replace(/'/g, `'\\''`)}'`;
}

function shellLines(steps) {
  return steps.map((s) => {
    if (s.skip) {
      const what = s.scripts ?? (s.script ? [s.script] : s.inline ?? s.sources ?? [s.source]);
      const why = s.only ? `only for ${s.only.join(', ')}` : `except for ${s.except.join(', ')}`;
      return ['packer_skip', q(`${s.type} ${what.join(' ')} (${why})`)].join(' ');
    }
    if (s.type === 'file') {
      const sources = s.sources ?? [s.source];
      return ['packer_file', q(s.destination), ...sources.map(q)].join(' ');
    }
    const exec = q(s.execute_command ?? DEFAULT_EXECUTE);
    const env = (s.environment_vars ?? []).map(q);
    if (s.inline) return ['packer_inline', exec, ...env, '--', ...s.inline.map(q)].join(' ');
    const scripts = s.scripts ?? [s.script];
    return ['packer_shell', exec, ...env, '--', ...scripts.map(q)].join(' ');
  }).join('\n');
}

module.exports = { IMAGES, PLUGINS_FILE, CHROOT_SOURCE, templateFiles, stage, parseAll, provisionSteps, shellLines };

if (require.main === module) {
  const vars = {};
  const args = process.argv.slice(2);
  for (let i = 0; i < args.length; i++) {
    if (args[i] !== '--var' || !args[i + 1]?.includes('=')) {
      console.error('usage: packer-steps.js [--var name=value]...');
      process.exit(2);
    }
    const [k, ...v] = args[++i].split('=');
    vars[k] = v.join('=');
  }
  provisionSteps(vars).then((steps) => console.log(shellLines(steps)))
    .catch((err) => {
      console.error(`packer-steps.js: ${err.message}`);
      process.exit(1);
    });
}
