#!/usr/bin/env node
'use strict';
// A local AWS for `make run STORE=dynamodb`: dynalite with the Candidates
// table, behind the SigV4-verifying HTTPS proxy the tests use, and a fake
// IMDSv2 for the instance id, all on loopback. No AWS account, and nothing
// leaves the machine.
//
//   node tests/lib/local-dynamodb.js [--dir DIR] [-- COMMAND [ARGS...]]
//
// With a COMMAND (make run passes tests/stack.sh ...), runs it with the
// environment that points the app here, and stops everything when it
// exits; Ctrl-C reaches the command, which stops first. Without one,
// prints that environment and serves until interrupted. The data lives
// in memory and goes with it. The table is Candidates, or whatever
// TC_DYNAMO_TABLE names; the AWS settings of a developer's own account
// (DROPPED below) are left out, so they cannot point the app elsewhere.

const fs = require('node:fs');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { startDynalite, TABLE } = require('./dynalite');
const { ADMIN, APP_OPS, CredentialRegistry, startProxy, makeTestCerts } = require('./sigv4-proxy');
const { startImds } = require('./fake-imds');

const REGION = 'us-east-1';
// Settings a developer's shell may hold for a real AWS account that would
// steer the app away from the stand-in: a session token sent with the
// local key is refused, a profile is not ours, and metadata switched off
// would hide the fake instance id.
const DROPPED = ['AWS_SESSION_TOKEN', 'AWS_SECURITY_TOKEN', 'AWS_PROFILE', 'AWS_DEFAULT_REGION',
  'AWS_ENDPOINT_URL', 'AWS_EC2_METADATA_DISABLED'];
// Fixed, so a developer can reuse them between runs; they open nothing
// but this local stand-in.
const DEV = Object.freeze({
  accessKeyId: 'AKIALOCALCANDIDATES1',
  secretAccessKey: 'local/only+candidates/secret+0123456789ab',
});

function usage() {
  process.stderr.write('usage: local-dynamodb.js [--dir DIR] [-- COMMAND [ARGS...]]\n');
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
  // Gone for the SDK here and for the command alike.
  for (const k of DROPPED) delete process.env[k];
  fs.mkdirSync(dir, { recursive: true });
  const certs = makeTestCerts(path.resolve(dir, 'local-dynamodb-ca'));

  const registry = new CredentialRegistry();
  registry.add(ADMIN);
  // The app's key may do what the original's IAM policy allows, no more.
  registry.add({ ...DEV, ops: APP_OPS });
  // The table the app will use: TC_DYNAMO_TABLE if the developer set it.
  const db = await startDynalite({ table: process.env.TC_DYNAMO_TABLE || TABLE });
  const proxy = await startProxy({ registry, upstreamPort: db.port, region: REGION, certs });
  const imds = await startImds({ registry, region: REGION, instanceId: 'i-0local0candidates' });

  const env = {
    CANDIDATES_STORE: 'dynamodb',
    AWS_REGION: REGION,
    AWS_ENDPOINT_URL_DYNAMODB: proxy.url,
    AWS_CA_BUNDLE: certs.ca,
    AWS_ACCESS_KEY_ID: DEV.accessKeyId,
    AWS_SECRET_ACCESS_KEY: DEV.secretAccessKey,
    AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.url,
  };
  const lines = [`unset ${DROPPED.join(' ')}`,
    ...Object.entries(env).map(([k, v]) => `export ${k}='${v}'`)];
  process.stdout.write(`local DynamoDB: dynalite on ${db.endpoint} (pid ${db.pid}), ` +
    `SigV4-checking proxy on ${proxy.url}, fake IMDSv2 on ${imds.url}\n` +
    `the app's environment:\n${lines.map((l) => `  ${l}`).join('\n')}\n` +
    `the AWS CLI or SDK, for a look at the table: AWS_ACCESS_KEY_ID=${ADMIN.accessKeyId} ` +
    `AWS_SECRET_ACCESS_KEY='${ADMIN.secretAccessKey}' AWS_CA_BUNDLE=${certs.ca} ` +
    `--endpoint-url ${proxy.url}\n`);

  let stopping = null;
  const stop = (code) => {
    if (!stopping) {
      stopping = (async () => {
        await proxy.stop();
        await imds.stop();
        await db.stop();
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
    stdio: 'inherit', env: { ...process.env, ...env },
  });
  // Ctrl-C goes to the whole foreground group, the command included; it
  // stops itself, and we follow once it has. SIGTERM sent to us alone is
  // passed on.
  process.on('SIGINT', () => {});
  process.on('SIGTERM', () => { if (child.exitCode === null) child.kill('SIGTERM'); });
  child.on('error', (err) => {
    process.stderr.write(`local-dynamodb: ${command[0]}: ${err.message}\n`);
    stop(127);
  });
  child.on('exit', (code, signal) => stop(code ?? (signal ? 128 : 1)));
}

main(process.argv.slice(2)).catch((err) => {
  process.stderr.write(`local-dynamodb: ${err.stack || err}\n`);
  process.exit(1);
});
