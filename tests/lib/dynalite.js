'use strict';
// dynalite, the local DynamoDB stand-in, in a process of its own on an
// ephemeral loopback port, so a test can kill it by PID to take the store
// down. The table is created with the official SDK, as an operator would.
//
//   const db = await startDynalite();      // db.port, db.endpoint, db.pid
//   await db.stop();
//
// Run as `node dynalite.js --serve [port]`, this file is that process: it
// prints {"port":N} once listening, and exits when its parent goes away
// (its stdin closes), so a crashed test leaves nothing behind.

const { spawn } = require('node:child_process');
const readline = require('node:readline');

const TABLE = 'Candidates';

function serve(port) {
  const dynalite = require('dynalite');
  // No CREATING phase: the table is usable as soon as CreateTable answers.
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  server.listen(port, '127.0.0.1', () => {
    process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
  });
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
  process.on('SIGTERM', () => process.exit(0));
  process.on('SIGINT', () => process.exit(0));
}

// Creates `table` with hash key CandidateName (S), the original's layout.
async function createTable(endpoint, table = TABLE) {
  const { CreateTableCommand, DescribeTableCommand } = require('@aws-sdk/client-dynamodb');
  const { dynamoClient } = require('./sigv4-proxy');
  const client = dynamoClient({ endpoint });
  try {
    await client.send(new CreateTableCommand({
      TableName: table,
      AttributeDefinitions: [{ AttributeName: 'CandidateName', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'CandidateName', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    }));
    for (let i = 0; i < 100; i++) {
      const d = await client.send(new DescribeTableCommand({ TableName: table }));
      if (d.Table.TableStatus === 'ACTIVE') return;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`table ${table} never became ACTIVE`);
  } finally {
    client.destroy();
  }
}

// Starts dynalite and (unless table is null) creates the table. Resolves
// to { port, endpoint, pid, stop(), kill() }.
async function startDynalite({ table = TABLE, port = 0 } = {}) {
  const child = spawn(process.execPath, [__filename, '--serve', String(port)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise((resolve) => child.once('exit', (code, sig) => resolve({ code, sig })));
  const got = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('dynalite did not start in 10 s')), 10000);
    const rl = readline.createInterface({ input: child.stdout });
    rl.once('line', (line) => { clearTimeout(timer); rl.close(); resolve(JSON.parse(line)); });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`dynalite exited ${code}`)); });
  });
  const db = {
    port: got.port,
    endpoint: `http://127.0.0.1:${got.port}`,
    pid: child.pid,
    exited,
    // SIGKILL: the store vanishes at once, as a crashed host would.
    async kill() {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
      await exited;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGTERM');
      const t = setTimeout(() => {
        if (child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
      }, 3000);
      await exited;
      clearTimeout(t);
    },
  };
  try {
    if (table) await createTable(db.endpoint, table);
  } catch (err) {
    await db.stop();
    throw err;
  }
  return db;
}

module.exports = { startDynalite, createTable, TABLE };

if (require.main === module && process.argv[2] === '--serve') serve(Number(process.argv[3] || 0));
