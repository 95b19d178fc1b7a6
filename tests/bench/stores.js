'use strict';
// The cloud stores' rows of `make bench`: the same stack on each cloud
// store against its local stand-in, and, for DynamoDB, the CPU boto3 (the
// SDK the Flask original used) spends on the same single call to the same
// stand-in. The stand-ins' own CPU is theirs, not the service's: they run
// on the load's core, and bench.js counts them apart.
//
// Each store's stand-in is started by the module its `make run` uses and
// answers with the app's environment; a store whose stand-in cannot run
// here (Google's emulator not installed) is left out, saying why.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');

const ROOT = path.resolve(__dirname, '..', '..');

// Pins a process, and its threads, to one core.
function pin(pid, cpu) {
	spawnSync('taskset', ['-a', '-p', '-c', cpu, String(pid)], { stdio: 'ignore' });
}

// A DynamoDB on loopback: dynalite with the Candidates table, over plain
// HTTP for the CPU rows (TLS would be the stand-in's cost as much as the
// service's), or, with tls, behind the tests' SigV4-verifying HTTPS proxy
// for the memory row: what a production instance holds is one CA store
// and a TLS session per worker. The CAs are found as in production (the
// system's directory), the proxy's own added by SSL_CERT_FILE.
async function dynamodb({ tls = false, cpu }) {
	const { startDynalite, TABLE } = require('../lib/dynalite');
	const db = await startDynalite();
	pin(db.pid, cpu);
	const env = {
		CANDIDATES_STORE: 'dynamodb',
		AWS_REGION: 'us-east-1',
		AWS_ACCESS_KEY_ID: 'AKIABENCHSERVICE0001',
		AWS_SECRET_ACCESS_KEY: 'bench/only+service/secret',
		AWS_EC2_METADATA_DISABLED: 'true',
		TC_DYNAMO_TABLE: TABLE,
	};
	const stops = [() => db.stop()];
	if (tls) {
		const { CredentialRegistry, startProxy, makeTestCerts } = require('../lib/sigv4-proxy');
		const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-tls-'));
		const certs = makeTestCerts(dir);
		const registry = new CredentialRegistry();
		registry.add({ accessKeyId: env.AWS_ACCESS_KEY_ID,
			secretAccessKey: env.AWS_SECRET_ACCESS_KEY });
		const proxy = await startProxy({ registry, upstreamPort: db.port, region: env.AWS_REGION,
			certs });
		env.AWS_ENDPOINT_URL_DYNAMODB = proxy.url;
		env.SSL_CERT_FILE = certs.ca;
		// A bundle the bench's own environment names (some shells set
		// AWS_CA_BUNDLE to the system's) would be all the store trusts:
		// the proxy refused, and the whole bundle parsed. Empty is unset.
		env.AWS_CA_BUNDLE = '';
		stops.unshift(async () => {
			await proxy.stop();
			fs.rmSync(dir, { recursive: true, force: true });
		});
	} else {
		env.AWS_ENDPOINT_URL_DYNAMODB = db.endpoint;
	}
	return {
		env,
		pids: [db.pid],
		endpoint: db.endpoint,
		table: TABLE,
		async stop() { for (const s of stops) await s(); },
	};
}

// cosmosdb-server behind the tests' signature-checking proxy, always over
// HTTPS (the store takes only https:// endpoints), signed with the account
// key; with tls, through the managed identity's path. The proxy runs in
// this process, the server in its own on the load's core: both are
// counted apart.
async function cosmos({ tls = false, cpu }) {
	const { startLocalCosmos } = require('../lib/local-cosmos');
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-cosmos-'));
	let local;
	try {
		local = await startLocalCosmos({ dir, identity: tls });
	} catch (err) {
		fs.rmSync(dir, { recursive: true, force: true });
		throw err;
	}
	pin(local.server.pid, cpu);
	return {
		env: local.env,
		pids: [local.server.pid],
		async stop() {
			await local.stop();
			fs.rmSync(dir, { recursive: true, force: true });
		},
	};
}

// Google's emulator, its JVM on the load's core. Over HTTP with the
// emulator's "owner" for the CPU rows; with tls, as a VM with a key file
// reaches Firestore: HTTPS through the token-checking proxy, tokens from
// the fake token endpoint.
async function firestore({ tls = false, cpu }) {
	const { startLocalFirestore } = require('../lib/local-firestore');
	// The JVM's own flags: the lean ones make the emulator, not the app, slow.
	const local = await startLocalFirestore({ jvmFlags: [], credentials: tls ? 'key' : 'emulator' });
	pin(local.emulator.pid, cpu);
	return {
		env: local.env,
		pids: [local.emulator.pid],
		stop: () => local.stop(),
	};
}

// Every cloud store the bench can run here, in the order it runs them.
// sdk names the original's SDK when the bench can run it beside the app.
const STORES = [
	{ name: 'dynamodb', start: dynamodb, sdk: 'boto3' },
	{ name: 'cosmos', start: cosmos },
	{ name: 'firestore', start: firestore },
];

// What boto3 spends per call on the stand-in, pinned to the load's core:
// { get, put, list } in µs of its CPU.
function boto3(standIn, cpu, calls) {
	return new Promise((resolve, reject) => {
		const child = spawn('taskset', ['-c', cpu, '/usr/bin/python3',
			path.join(__dirname, 'boto3_calls.py'), standIn.endpoint, standIn.table,
			String(calls)], { stdio: ['ignore', 'pipe', 'pipe'] });
		let out = '';
		child.stdout.on('data', (d) => (out += d));
		child.stderr.on('data', (d) => (out += d));
		child.on('error', reject);
		child.on('exit', (code) => {
			const line = out.trim().split('\n').pop();
			try {
				if (code !== 0) throw new Error(`exit ${code}`);
				resolve(JSON.parse(line));
			} catch (err) {
				reject(new Error(`boto3 reference failed (${err.message}):\n${out}`));
			}
		});
	});
}

module.exports = { STORES, boto3, pin, ROOT };
