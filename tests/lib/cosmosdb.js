'use strict';
// @vercel/cosmosdb-server, the maintained Cosmos DB stand-in, in a process
// of its own on an ephemeral loopback port, so a test can kill it by PID
// to take the store down; and the official @azure/cosmos client the tests
// use as the oracle. The server speaks HTTPS with the certificate shipped
// in its package (self-signed, CN=cosmosdb, expired in 2021) and checks no
// authentication: tests reach it only through the verifying proxy
// (cosmos-proxy.js), which pins that certificate for its one hop.
//
//   const db = await startCosmosServer();   // db.port, db.pid
//   await db.stop();
//
// Run as `node cosmosdb.js --serve [port]`, this file is that process: it
// prints {"port":N} once listening, and exits when its parent goes away
// (its stdin closes), so a crashed test leaves nothing behind.

const crypto = require('node:crypto');
const fs = require('node:fs');
const https = require('node:https');
const path = require('node:path');
const readline = require('node:readline');
const { spawn } = require('node:child_process');

// The data layout of the Flask original (docs/contract.md).
const DATABASE = 'CandidateDatabase';
const CONTAINER = 'Candidates';
const PARTITION_KEY = '/CandidateName';

const SERVER_DIR = path.dirname(require.resolve('@vercel/cosmosdb-server/package.json'));
// The SHA-256 fingerprint of the certificate the server presents.
const SERVER_CERT_FINGERPRINT = new crypto.X509Certificate(
  fs.readFileSync(path.join(SERVER_DIR, 'cert.pem'))).fingerprint256;

function serve(port) {
  const { createHttpsServer } = require('@vercel/cosmosdb-server');
  // keepAlive: the server otherwise answers every request with
  // "Connection: close", and the proxy would reconnect each time.
  const server = createHttpsServer({ keepAlive: true });
  server.listen(port, '127.0.0.1', () => {
    process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
  });
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
  process.on('SIGTERM', () => process.exit(0));
  process.on('SIGINT', () => process.exit(0));
}

// Starts the server. Resolves to { port, pid, exited, stop(), kill() }.
async function startCosmosServer({ port = 0 } = {}) {
  const child = spawn(process.execPath, [__filename, '--serve', String(port)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise((resolve) => child.once('exit', (code, sig) => resolve({ code, sig })));
  const got = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('cosmosdb-server did not start in 10 s')), 10000);
    const rl = readline.createInterface({ input: child.stdout });
    rl.once('line', (line) => { clearTimeout(timer); rl.close(); resolve(JSON.parse(line)); });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`cosmosdb-server exited ${code}`)); });
  });
  const alive = () => child.exitCode === null && child.signalCode === null;
  return {
    port: got.port,
    pid: child.pid,
    exited,
    // SIGKILL: the store vanishes at once, as a crashed host would.
    async kill() {
      if (alive()) process.kill(child.pid, 'SIGKILL');
      await exited;
    },
    async stop() {
      if (alive()) process.kill(child.pid, 'SIGTERM');
      const t = setTimeout(() => { if (alive()) process.kill(child.pid, 'SIGKILL'); }, 3000);
      await exited;
      clearTimeout(t);
    },
  };
}

// An official client aimed at endpoint (the proxy), trusting the PEM file
// ca, with the account key or aadCredentials (a TokenCredential). Endpoint
// discovery stays on, as in production: the proxy advertises itself in the
// account document. The SDK's own throttling retries are off unless asked
// for, so a test sees each answer.
function cosmosClient({ endpoint, ca, key, aadCredentials, aadScope, maxRetries = 0,
  requestTimeout = 5000, consistencyLevel } = {}) {
  const { CosmosClient } = require('@azure/cosmos');
  return new CosmosClient({
    endpoint,
    key,
    aadCredentials,
    aadScope,
    consistencyLevel,
    agent: new https.Agent({ ca: fs.readFileSync(ca), keepAlive: true }),
    connectionPolicy: {
      requestTimeout,
      retryOptions: { maxRetryAttemptCount: maxRetries, maxWaitTimeInSeconds: 10 },
    },
  });
}

// Creates the database and the container as an operator would, with
// partition key version 2 (what Terraform and the portal create today).
async function createCandidatesContainer(client, { database = DATABASE, container = CONTAINER } = {}) {
  const { database: db } = await client.databases.createIfNotExists({ id: database });
  const { container: coll } = await db.containers.createIfNotExists({
    id: container, partitionKey: { paths: [PARTITION_KEY], version: 2 },
  });
  return coll;
}

// The Authorization and x-ms-date headers @azure/cosmos signs a request
// with, for key at date (a Date): its own signer, generateHeaders in
// dist/commonjs/utils/headers.js, the oracle for raw requests in tests.
async function sdkAuthHeaders(key, verb, resourceType, resourceLink, date = new Date()) {
  const sdkDir = path.dirname(require.resolve('@azure/cosmos'));
  const { generateHeaders } = require(path.join(sdkDir, 'utils', 'headers.js'));
  return generateHeaders(key, verb, resourceType, resourceLink, date);
}

module.exports = {
  DATABASE, CONTAINER, PARTITION_KEY, SERVER_CERT_FINGERPRINT,
  startCosmosServer, cosmosClient, createCandidatesContainer, sdkAuthHeaders,
};

if (require.main === module && process.argv[2] === '--serve') serve(Number(process.argv[3] || 0));
