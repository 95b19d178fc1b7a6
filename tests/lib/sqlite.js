'use strict';
// Holds SQLite's write lock on the app's database from a second process
// (the sqlite3 command-line shell), so the app's writes wait in its busy
// handler: a slow store for the drain test, an unavailable one (503) for
// the contract's outage rows. In WAL mode readers are not blocked.

const { spawn } = require('node:child_process');
const assert = require('node:assert/strict');

// Resolves once the lock is held, to { release() }, which commits, quits
// the shell and resolves when it has exited.
async function holdWriteLock(dbPath, { timeoutMs = 10000 } = {}) {
  const sh = spawn('sqlite3', ['-batch', dbPath], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  sh.stdout.on('data', (d) => { out += d; });
  sh.stderr.on('data', (d) => { out += d; });
  const exited = new Promise((resolve) => sh.once('exit', (code) => resolve(code)));
  // The shell waits for the app's own writers, then takes the lock; the
  // SELECT prints once it has it.
  sh.stdin.write('.timeout 5000\nBEGIN EXCLUSIVE;\nSELECT \'locked\';\n');
  const got = await new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    const check = () => {
      if (/^locked$/m.test(out)) {
        clearTimeout(timer);
        resolve(true);
      }
    };
    sh.stdout.on('data', check);
    exited.then(() => { clearTimeout(timer); resolve(false); });
  });
  if (!got) {
    sh.kill('SIGKILL');
    assert.fail(`sqlite3 could not lock ${dbPath}: ${out}`);
  }
  let released = null;
  return {
    release() {
      if (released === null) {
        sh.stdin.end('COMMIT;\n.quit\n');
        released = exited.then((code) => {
          assert.equal(code, 0, `sqlite3 shell: ${out}`);
        });
      }
      return released;
    },
  };
}

module.exports = { holdWriteLock };
