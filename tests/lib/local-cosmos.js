#!/usr/bin/env node
'use strict';
// A local Azure for `make run STORE=cosmos`: @vercel/cosmosdb-server with
// the database and container of the original's layout (created with the
// official SDK, through the proxy), behind the verifying HTTPS proxy the
// tests use, and a fake Azure IMDS for the managed identity's tokens and
// the VM's name, all on loopback. No Azure account, and nothing leaves the
// machine.
//
//   node tests/lib/local-cosmos.js [--dir DIR] [--identity] [-- COMMAND [ARGS...]]
//
// By default the app signs with the account key (COSMOS_KEY), as a local
// run does; with --identity it has no key and gets Entra tokens from the
// fake IMDS for a user-assigned identity (AZURE_CLIENT_ID), as a VM of the
// scale set does. The environment is written to DIR/local-cosmos.env (one
// `export` a line, for `. DIR/local-cosmos.env`) and printed. With a
// COMMAND (make run passes tests/stack.sh ...), runs it under that
// environment and stops everything when it exits; Ctrl-C reaches the
// command, which stops first. Without one, serves until interrupted. The
// data lives in memory and goes with it. require()d, it exports
// startLocalCosmos, which starts the same stand-ins and hands back the
// app's environment (the bench and the leak run use it).

const fs = require('node:fs');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { makeTestCerts } = require('./sigv4-proxy');
const { startCosmosServer, cosmosClient, createCandidatesContainer, DATABASE, CONTAINER } =
  require('./cosmosdb');
const { startCosmosProxy } = require('./cosmos-proxy');
const { startAzureImds, TokenRegistry } = require('./fake-azure-imds');

// Settings a developer's shell may hold for a real Azure account that would
// steer the app (or the SDK here) away from the stand-ins.
const DROPPED = ['COSMOS_KEY', 'COSMOS_ENDPOINT', 'AZURE_CLIENT_ID', 'AZURE_CLIENT_SECRET',
  'AZURE_TENANT_ID', 'AZURE_FEDERATED_TOKEN_FILE', 'AZURE_CLIENT_CERTIFICATE_PATH',
  'IDENTITY_ENDPOINT', 'IDENTITY_HEADER', 'MSI_ENDPOINT', 'MSI_SECRET', 'IMDS_ENDPOINT',
  'AZURE_POD_IDENTITY_AUTHORITY_HOST', 'SSL_CERT_FILE', 'SSL_CERT_DIR'];
// Fixed, so a developer can reuse them between runs; they open nothing but
// this local stand-in. The key has the shape of an account key (64 bytes).
const DEV_KEY = Buffer.from('candidates local Cosmos DB account key, for the stand-in only!!!')
  .toString('base64');
const DEV_CLIENT_ID = '0c0a1d1e-5a7e-4c1d-9e57-10ca1c0d0b01';

function usage() {
  process.stderr.write('usage: local-cosmos.js [--dir DIR] [--identity] [-- COMMAND [ARGS...]]\n');
  process.exit(2);
}

const shq = (v) => `'${String(v).replace(/'/g, "'\\''")}'`;

// Starts the stand-ins: cosmosdb-server, the verifying proxy (with a test
// CA made under dir) and the fake IMDS, with the database and container
// created. Resolves to { env, server, proxy, imds, tokens, certs, key,
// clientId, stop() }: env is the app's environment (the account key, or
// with identity the managed identity's client id); stop() takes it all
// down. The bench and the tests use this; main() below is make run's.
async function startLocalCosmos({ dir, identity = false, database = DATABASE,
  container = CONTAINER, tokenLifetimeMs } = {}) {
  fs.mkdirSync(dir, { recursive: true });
  const certs = makeTestCerts(path.resolve(dir, 'local-cosmos-ca'));
  const tokens = new TokenRegistry();
  const server = await startCosmosServer();
  let proxy = null;
  let imds = null;
  const stop = async () => {
    await proxy?.stop();
    await imds?.stop();
    await server.stop();
  };
  try {
    proxy = await startCosmosProxy({ upstreamPort: server.port, keys: [DEV_KEY], tokens, certs });
    imds = await startAzureImds({ tokens, identities: [DEV_CLIENT_ID], name: 'candidates-local_0',
      ...(tokenLifetimeMs ? { lifetimeMs: tokenLifetimeMs } : {}) });
    // Entra ID also issues tokens for the account's own endpoint, the scope
    // @azure/cosmos asks first.
    imds.resources.add(proxy.url);
    // Through the proxy, so the stand-in sees only what a checked client sends.
    const sdk = cosmosClient({ endpoint: proxy.url, ca: certs.ca, key: DEV_KEY });
    try {
      await createCandidatesContainer(sdk, { database, container });
    } finally {
      sdk.dispose();
    }
  } catch (err) {
    await stop();
    throw new Error(`creating the container: ${err.message}`);
  }
  const env = {
    CANDIDATES_STORE: 'cosmos',
    COSMOS_ENDPOINT: `${proxy.url}/`,
    COSMOS_DATABASE_NAME: database,
    COSMOS_CONTAINER_NAME: container,
    ...(identity ? { AZURE_CLIENT_ID: DEV_CLIENT_ID } : { COSMOS_KEY: DEV_KEY }),
    // The IMDS host, as @azure/identity and MSAL read it: tokens (with
    // identity) and the VM's name for /gtg?details.
    AZURE_POD_IDENTITY_AUTHORITY_HOST: imds.url,
    // The CA file that verifies the store's certificate, OpenSSL's own
    // variable for its default CA file (the system's directory stays).
    SSL_CERT_FILE: certs.ca,
  };
  return { env, server, proxy, imds, tokens, certs, key: DEV_KEY, clientId: DEV_CLIENT_ID,
    dropped: DROPPED, stop };
}

async function main(argv) {
  let dir = 'var';
  let identity = false;
  let command = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--dir' && i + 1 < argv.length) dir = argv[++i];
    else if (argv[i] === '--identity') identity = true;
    else if (argv[i] === '--') { command = argv.slice(i + 1); break; }
    else usage();
  }
  for (const k of DROPPED) delete process.env[k];
  let local;
  try {
    local = await startLocalCosmos({ dir, identity,
      database: process.env.COSMOS_DATABASE_NAME || DATABASE,
      container: process.env.COSMOS_CONTAINER_NAME || CONTAINER });
  } catch (err) {
    process.stderr.write(`local-cosmos: ${err.message}\n`);
    process.exit(1);
  }
  const { env, server, proxy, imds, certs } = local;
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

  const lines = Object.entries(env).map(([k, v]) => `export ${k}=${shq(v)}`);
  const envFile = path.resolve(dir, 'local-cosmos.env');
  fs.writeFileSync(envFile, [`unset ${DROPPED.join(' ')}`, ...lines, ''].join('\n'));
  process.stdout.write(`local Cosmos DB: cosmosdb-server on 127.0.0.1:${server.port} (pid ${server.pid}), ` +
    `verifying proxy on ${proxy.url}, fake Azure IMDS on ${imds.url}; the app ` +
    `${identity ? `uses the managed identity ${DEV_CLIENT_ID}` : 'signs with the account key'}\n` +
    `the app's environment (also in ${envFile}):\n${lines.map((l) => `  ${l}`).join('\n')}\n` +
    `@azure/cosmos, for a look at the container: endpoint ${proxy.url}, key ${DEV_KEY}, ` +
    `trusting ${certs.ca}\n`);

  if (command.length === 0) {
    process.on('SIGINT', () => stop(0));
    process.on('SIGTERM', () => stop(0));
    return;
  }
  const child = spawn(command[0], command.slice(1), {
    stdio: 'inherit', env: { ...process.env, ...env },
  });
  // Ctrl-C goes to the whole foreground group, the command included; it
  // stops itself, and we follow once it has. SIGTERM sent to us alone is
  // passed on.
  process.on('SIGINT', () => {});
  process.on('SIGTERM', () => { if (child.exitCode === null) child.kill('SIGTERM'); });
  child.on('error', (err) => {
    process.stderr.write(`local-cosmos: ${command[0]}: ${err.message}\n`);
    stop(127);
  });
  child.on('exit', (code, signal) => stop(code ?? (signal ? 128 : 1)));
}

module.exports = { startLocalCosmos, DEV_KEY, DEV_CLIENT_ID, DROPPED };

if (require.main === module) {
  main(process.argv.slice(2)).catch((err) => {
    process.stderr.write(`local-cosmos: ${err.stack || err}\n`);
    process.exit(1);
  });
}
