#!/usr/bin/env node
'use strict';
// A local GCP for `make run STORE=firestore`: Google's Firestore emulator
// and a fake Compute Engine metadata server (for the instance id), both on
// loopback. No Google account, and nothing leaves the machine.
//
//   node tests/lib/local-firestore.js [--dir DIR] [-- COMMAND [ARGS...]]
//
// With a COMMAND (make run passes tests/stack.sh ...), runs it with the
// environment that points the app here, and stops everything when it
// exits; Ctrl-C reaches the command, which stops first. Without one,
// prints that environment and serves until interrupted. The data lives in
// the emulator's memory and goes with it. The project is demo-candidates,
// or whatever GOOGLE_CLOUD_PROJECT names, and the database FIRESTORE_DATABASE
// if set; the Google settings of a developer's own account (DROPPED below)
// are left out, so they cannot point the app elsewhere. Without the
// emulator it says so in one line and exits 1.
//
// For other tools (the benchmark, the leak run):
//
//   const local = await startLocalFirestore();   // throws SKIP_MESSAGE without the emulator
//   ... local.env ...                            // the app's environment
//   await local.stop();
//
// With { credentials: 'key' } the app reaches the emulator as a VM with a
// service-account key reaches Firestore: over HTTPS (a throwaway CA in
// SSL_CERT_FILE) through the token-checking proxy, with tokens from the
// fake token endpoint for a JWT grant, each tokenLifetimeSec long.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { findEmulator, startEmulator, SKIP_MESSAGE, LEAN_JVM } = require('./firestore-emulator');
const { startMetadata } = require('./fake-gce-metadata');

const PROJECT = 'demo-candidates';
const INSTANCE_ID = '7310000000000000042';
// Settings a developer's shell may hold for a real Google account that
// would steer the app away from the stand-ins: a key file or an endpoint
// of their own, and a metadata host that is not ours.
const DROPPED = ['GOOGLE_APPLICATION_CREDENTIALS', 'FIRESTORE_ENDPOINT', 'GCE_METADATA_HOST'];

// Starts the emulator and the fake metadata server. jvmFlags: the
// emulator's (LEAN_JVM by default; [] for the JVM's own, as a benchmark of
// the emulator's speed wants). credentials: 'emulator' ("owner", as the
// official clients talk to an emulator) or 'key' (above). Resolves to
// { env, emulator, metadata, project, secrets, stop() }; env is the app's
// environment, laid over the caller's own ({ ...process.env, ...env }):
// what the app must not inherit is there as undefined, which spawn leaves
// out. secrets() lists what no log may hold.
async function startLocalFirestore({ project = process.env.GOOGLE_CLOUD_PROJECT || PROJECT,
  jvmFlags = LEAN_JVM, credentials = 'emulator', tokenLifetimeSec = 3599 } = {}) {
  if (!findEmulator()) throw new Error(SKIP_MESSAGE);
  const stops = [];
  const stop = async () => {
    for (const f of stops.reverse()) await f();
  };
  try {
    const emulator = await startEmulator({ jvmFlags });
    stops.push(() => emulator.stop());
    const metadata = await startMetadata({ projectId: project, instanceId: INSTANCE_ID });
    stops.push(() => metadata.stop());
    const env = {
      ...Object.fromEntries(DROPPED.map((k) => [k, undefined])),
      CANDIDATES_STORE: 'firestore',
      FIRESTORE_EMULATOR_HOST: emulator.host,
      GOOGLE_CLOUD_PROJECT: project,
      GCE_METADATA_HOST: metadata.host,
    };
    if (process.env.FIRESTORE_DATABASE) env.FIRESTORE_DATABASE = process.env.FIRESTORE_DATABASE;
    let secrets = () => [];
    if (credentials === 'key') {
      // Only here: these need tests/node_modules, make run does not.
      const { GoogleTokenRegistry, startTokenServer, makeServiceAccount } = require('./fake-google-token');
      const { startFirestoreProxy } = require('./firestore-proxy');
      const { makeTestCerts } = require('./sigv4-proxy');
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'local-firestore-'));
      stops.push(() => fs.rmSync(dir, { recursive: true, force: true }));
      const certs = makeTestCerts(path.join(dir, 'certs'));
      const registry = new GoogleTokenRegistry();
      const tokens = await startTokenServer({ registry, tls: certs, lifetimeSec: tokenLifetimeSec });
      stops.push(() => tokens.stop());
      const sa = makeServiceAccount(path.join(dir, 'sa'), { tokenUri: tokens.tokenUri, projectId: project });
      tokens.addAccount(sa);
      const proxy = await startFirestoreProxy({ registry, upstream: emulator.host, tls: certs });
      stops.push(() => proxy.stop());
      Object.assign(env, {
        FIRESTORE_EMULATOR_HOST: undefined,
        FIRESTORE_ENDPOINT: proxy.url,
        SSL_CERT_FILE: certs.ca,
        GOOGLE_APPLICATION_CREDENTIALS: sa.keyFile,
      });
      secrets = () => [sa.privateKeyPem, ...registry.tokens.keys()];
      return { env, emulator, metadata, project, proxy, tokens, secrets, stop };
    }
    return { env, emulator, metadata, project, secrets, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

function usage() {
  process.stderr.write('usage: local-firestore.js [--dir DIR] [-- COMMAND [ARGS...]]\n');
  process.exit(2);
}

async function main(argv) {
  let dir = 'var';
  let command = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--dir' && i + 1 < argv.length) dir = argv[++i];
    else if (argv[i] === '--') { command = argv.slice(i + 1); break; }
    else usage();
  }
  if (!findEmulator()) {
    process.stderr.write(`local-firestore: ${SKIP_MESSAGE}\n`);
    process.exit(1);
  }
  // Gone for the command alike.
  for (const k of DROPPED) delete process.env[k];
  fs.mkdirSync(dir, { recursive: true });
  const local = await startLocalFirestore();
  const set = Object.entries(local.env).filter(([, v]) => v !== undefined);
  const lines = [`unset ${DROPPED.filter((k) => local.env[k] === undefined).join(' ')}`,
    ...set.map(([k, v]) => `export ${k}='${v}'`)];
  process.stdout.write(`local Firestore: the emulator on ${local.emulator.url} (JVM pid ` +
    `${local.emulator.pid}), a fake metadata server on ${local.metadata.url}\n` +
    `the app's environment:\n${lines.map((l) => `  ${l}`).join('\n')}\n` +
    `the gcloud CLI or a client library, for a look at the data: FIRESTORE_EMULATOR_HOST=` +
    `${local.emulator.host} (project ${local.project})\n`);

  let stopping = null;
  const stop = (code) => {
    if (!stopping) {
      stopping = (async () => {
        await local.stop();
        process.exit(code);
      })();
    }
    return stopping;
  };

  if (command.length === 0) {
    process.on('SIGINT', () => stop(0));
    process.on('SIGTERM', () => stop(0));
    return;
  }
  const child = spawn(command[0], command.slice(1), {
    stdio: 'inherit', env: { ...process.env, ...local.env },
  });
  // Ctrl-C goes to the whole foreground group, the command included; it
  // stops itself, and we follow once it has. SIGTERM sent to us alone is
  // passed on.
  process.on('SIGINT', () => {});
  process.on('SIGTERM', () => { if (child.exitCode === null) child.kill('SIGTERM'); });
  child.on('error', (err) => {
    process.stderr.write(`local-firestore: ${command[0]}: ${err.message}\n`);
    stop(127);
  });
  child.on('exit', (code, signal) => stop(code ?? (signal ? 128 : 1)));
}

module.exports = { startLocalFirestore, PROJECT, INSTANCE_ID, DROPPED };

if (require.main === module) {
  main(process.argv.slice(2)).catch((err) => {
    process.stderr.write(`local-firestore: ${err.stack || err}\n`);
    process.exit(1);
  });
}
