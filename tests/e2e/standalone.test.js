'use strict';
// The repository stands alone: a user clones it into a folder with nothing
// beside it and `make test` works. Here: every file git tracks, copied into
// an empty temporary folder, builds and runs the unit suites green there,
// and no tracked file reads or links a path outside the repository.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { describe, it } = require('node:test');

const ROOT = path.resolve(__dirname, '..', '..');

function tracked() {
  const r = spawnSync('git', ['-C', ROOT, 'ls-files', '-z'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.split('\0').filter(Boolean) : null;
}

const FILES = tracked();
// The folder a developer's checkout sits beside, which a user's has not
// (spelt in two pieces, so that this file does not name it itself).
const BESIDE = new RegExp(['\\.\\.', 'shared\\b'].join('/'));
const NO_GIT = FILES === null ? 'not a git checkout: nothing to say what a clone holds' : false;

describe('the repository stands alone', { skip: NO_GIT }, () => {
  it('no tracked file names a path beside the repository', () => {
    const outside = [];
    for (const f of FILES) {
      const full = path.join(ROOT, f);
      const st = fs.lstatSync(full, { throwIfNoEntry: false });
      if (!st) continue;
      if (st.isSymbolicLink()) {
        const to = path.resolve(path.dirname(full), fs.readlinkSync(full));
        if (!to.startsWith(ROOT + path.sep)) outside.push(`${f}: a link to ${to}`);
        continue;
      }
      if (st.size > 4 << 20 || f.endsWith('.gz') || f.endsWith('.png')) continue;
      const text = fs.readFileSync(full, 'latin1');
      if (BESIDE.test(text)) outside.push(`${f}: names ${BESIDE.source}`);
    }
    assert.deepEqual(outside, []);
  });

  it('a copy of the tracked files in an empty folder runs the unit suites green', (t) => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'candidates-alone-'));
    const clone = path.join(empty, 'candidates');
    try {
      for (const f of FILES) {
        const src = path.join(ROOT, f);
        if (!fs.existsSync(src)) continue;	// deleted, not yet committed
        fs.mkdirSync(path.dirname(path.join(clone, f)), { recursive: true });
        fs.copyFileSync(src, path.join(clone, f));
        fs.chmodSync(path.join(clone, f), fs.statSync(src).mode);
      }
      assert.deepEqual(fs.readdirSync(empty), ['candidates'], 'the clone is alone');
      const r = spawnSync('make', ['-C', clone, 'unit'], {
        encoding: 'utf8', maxBuffer: 64 << 20, env: { ...process.env, SIGV4_TESTDATA: '' },
      });
      const suites = (r.stdout.match(/^== test_/mg) || []).length;
      const failed = (r.stdout.match(/\[  FAILED  \]/g) || []).length;
      t.diagnostic(`${FILES.length} tracked files copied; make unit in the copy: exit ` +
        `${r.status}, ${suites} unit suites, ${failed} failures`);
      assert.equal(r.status, 0, `make unit in the copy:\n${r.stdout.slice(-3000)}${r.stderr.slice(-3000)}`);
      assert.ok(suites >= 20, `only ${suites} unit suites ran`);
      assert.equal(failed, 0);
    } finally {
      fs.rmSync(empty, { recursive: true, force: true });
    }
  });
});
