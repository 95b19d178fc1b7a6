'use strict';
// A verifying front for dynalite, which accepts any signature. Every
// request's SigV4 signature is recomputed with the AWS SDK's own signer
// (@smithy/signature-v4) from the credentials the test knows, and a request
// that real DynamoDB would reject gets DynamoDB's own answer: the status,
// the `__type` and the message the SDKs parse. Only then is it forwarded.
//
// It also plays the faulty network and the overloaded service (throttling,
// 5xx, hangs, garbage, cut connections, empty pages) on demand, and counts
// what the service under test did: requests, TCP connections, operations,
// retries, signature failures and the credentials it used.

const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const https = require('node:https');
const os = require('node:os');
const path = require('node:path');
const zlib = require('node:zlib');
const { execFileSync } = require('node:child_process');
const { SignatureV4, getCanonicalHeaders, getPayloadHash, prepareRequest } =
  require('@smithy/signature-v4');
const { HttpRequest } = require('@smithy/protocol-http');
const { Sha256 } = require('@aws-crypto/sha256-js');

const SKEW_MS = 5 * 60 * 1000;
const MAX_BODY = 16 * 1024 * 1024;

// Long-term keys for the tests' own SDK clients: all operations allowed.
const ADMIN = Object.freeze({
  accessKeyId: 'AKIATESTADMIN0000001',
  secretAccessKey: 'tEsT/aDmIn+SeCrEt/kEy+0123456789abcdefGH',
});

// The operations the Flask original's IAM policy grants, so the service
// must get by with exactly these.
const APP_OPS = Object.freeze(['Query', 'PutItem', 'Scan']);

// Every credential the fake AWS knows, shared by the proxy (which checks
// signatures, tokens and expiry against it) and the fake IMDS (which
// issues rotating role credentials into it).
class CredentialRegistry {
  constructor() {
    this.byKey = new Map();
  }

  // ops: the operations this principal may call, or null for all.
  // expiresAt: ms since the epoch after which the token is expired.
  add({ accessKeyId, secretAccessKey, sessionToken = null, expiresAt = null,
    ops = null, principal = null }) {
    const entry = {
      accessKeyId, secretAccessKey, sessionToken, expiresAt,
      ops: ops ? new Set(ops) : null,
      principal: principal || `arn:aws:iam::123456789012:user/${accessKeyId}`,
    };
    this.byKey.set(accessKeyId, entry);
    return entry;
  }

  get(accessKeyId) {
    return this.byKey.get(accessKeyId);
  }

  // Fresh random credentials shaped like real ones: secrets hold '/' and
  // '+', session tokens are long base64, so escaping and buffers are tried.
  static random({ temporary = true, tokenBytes = 600 } = {}) {
    const id = crypto.randomBytes(10).toString('hex').toUpperCase().slice(0, 16);
    let secret = crypto.randomBytes(30).toString('base64');
    secret = `${secret.slice(0, 10)}/${secret.slice(11, 20)}+${secret.slice(21)}`;
    return {
      accessKeyId: (temporary ? 'ASIA' : 'AKIA') + id,
      secretAccessKey: secret,
      sessionToken: temporary ?
        'IQoJb3JpZ2luX2VjE' + crypto.randomBytes(tokenBytes).toString('base64') :
        null,
    };
  }
}

// A throwaway CA and a server certificate for 127.0.0.1 and localhost,
// made with the openssl CLI. The service trusts the CA through
// AWS_CA_BUNDLE and nothing else, so a passing TLS test proves it verifies.
function makeTestCerts(dir) {
  fs.mkdirSync(dir, { recursive: true });
  const f = (n) => path.join(dir, n);
  const ossl = (...args) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ossl('req', '-x509', '-new', ...ec, '-keyout', f('ca.key'), '-out', f('ca.pem'),
    '-days', '2', '-subj', '/CN=candidates test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  ossl('req', '-new', ...ec, '-keyout', f('server.key'), '-out', f('server.csr'),
    '-subj', '/CN=127.0.0.1');
  fs.writeFileSync(f('server.ext'), [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature',
    'extendedKeyUsage=serverAuth',
    'subjectAltName=IP:127.0.0.1,DNS:localhost',
    '',
  ].join('\n'));
  ossl('x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'),
    '-set_serial', '0x' + crypto.randomBytes(8).toString('hex'), '-days', '2',
    '-extfile', f('server.ext'), '-out', f('server.pem'));
  return { dir, ca: f('ca.pem'), cert: f('server.pem'), key: f('server.key') };
}

// DynamoDB's error bodies, as the SDKs parse them (`__type` after the '#').
const ERRORS = {
  InvalidSignatureException: [400, 'com.amazon.coral.service#InvalidSignatureException'],
  IncompleteSignatureException: [400, 'com.amazon.coral.service#IncompleteSignatureException'],
  MissingAuthenticationTokenException: [400, 'com.amazon.coral.service#MissingAuthenticationTokenException'],
  UnrecognizedClientException: [400, 'com.amazon.coral.service#UnrecognizedClientException'],
  ExpiredTokenException: [400, 'com.amazon.coral.service#ExpiredTokenException'],
  AccessDeniedException: [400, 'com.amazon.coral.service#AccessDeniedException'],
  ThrottlingException: [400, 'com.amazon.coral.availability#ThrottlingException'],
  ProvisionedThroughputExceededException:
    [400, 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException'],
  RequestLimitExceeded: [400, 'com.amazonaws.dynamodb.v20120810#RequestLimitExceeded'],
  ValidationException: [400, 'com.amazon.coral.validate#ValidationException'],
  InternalServerError: [500, 'com.amazonaws.dynamodb.v20120810#InternalServerError'],
  ServiceUnavailable: [503, 'com.amazon.coral.availability#ServiceUnavailableException'],
};

const MESSAGES = {
  ThrottlingException: 'Rate of requests exceeds the allowed throughput.',
  ProvisionedThroughputExceededException: 'The level of configured provisioned ' +
    'throughput for the table was exceeded. Consider increasing your provisioning ' +
    'level with the UpdateTable API.',
  RequestLimitExceeded: 'Throughput exceeds the current throughput limit for your ' +
    'account. Please contact AWS Support at https://aws.amazon.com/support request a limit increase',
  ValidationException: 'One or more parameter values were invalid',
  InternalServerError: 'Internal server error',
  ServiceUnavailable: 'Service Unavailable',
};

// 20240102T030405Z
function amzDate(ms) {
  return new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
}

function parseAmzDate(s) {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s || '');
  if (!m) return null;
  const ms = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
  return Number.isNaN(ms) ? null : ms;
}

function crc32(buf) {
  if (typeof zlib.crc32 === 'function') return zlib.crc32(buf) >>> 0;
  let c, crc = 0xffffffff;
  for (const b of buf) {
    c = (crc ^ b) & 0xff;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
    crc = (crc >>> 8) ^ c;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

// The fault kinds inject() takes.
const FAULTS = new Set([
  'throttle',	// 400 with `error` (ThrottlingException by default)
  'error',	// any error in ERRORS (`error`), e.g. InternalServerError, ValidationException
  'hang',	// read the request, never answer, keep the connection open
  'close',	// read the request, then cut the TCP connection
  'garbage',	// 200 with `body` (not JSON by default)
  'delay',	// forward after `ms`
  'emptyPage',	// a Scan gets an empty page that still carries a
		// LastEvaluatedKey, as DynamoDB may answer (see emptyPageKey)
]);

// dynalite's scan order: the first six hex digits of an MD5 of the hash
// key, then the key itself (db/index.js createKey and hashPrefix).
function dynaliteOrder(name) {
  const b = Buffer.from(name, 'utf8');
  return crypto.createHash('md5').update('Outliers').update(b).digest('hex').slice(0, 6) +
    '/' + b.toString('hex') + '/';
}

class SigV4Proxy {
  // registry: a CredentialRegistry; upstreamPort: dynalite's port;
  // tls: { cert, key } from makeTestCerts, or null for plain HTTP only;
  // http: also listen in plain HTTP (httpUrl).
  constructor({ registry, upstreamPort, tls = null, http: alsoHttp = false,
    region = 'us-east-1' }) {
    this.registry = registry;
    this.upstreamPort = upstreamPort;
    this.region = region;
    this.tls = tls;
    this.alsoHttp = alsoHttp || !tls;
    this.clockOffsetMs = 0;	// the fake AWS's clock runs this far ahead
    this.expectToken = false;	// count any request without a session token
    this.servers = [];
    this.sockets = new Set();
    this.hung = new Set();
    this.faults = [];
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
    this.resetStats();
  }

  resetStats() {
    this.stats = {
      requests: 0,		// HTTP requests received
      connections: 0,		// TCP connections accepted
      tlsHandshakes: 0,		// TLS sessions established
      signatureFailures: 0,	// InvalidSignature, IncompleteSignature, MissingAuthenticationToken
      unrecognizedClient: 0,
      expiredToken: 0,
      skewRejections: 0,
      accessDenied: 0,
      missingToken: 0,		// requests without a token that needed one
      faultsServed: 0,
      upstreamErrors: 0,
      forwarded: 0,
      operations: {},		// X-Amz-Target operation -> count
      accessKeys: {},		// access key id -> count
      log: [],			// the last requests: { op, akid, token, status, body }
    };
  }

  get url() {
    return this.tls ? `https://127.0.0.1:${this.port}` : this.httpUrl;
  }

  get httpUrl() {
    return this.alsoHttp ? `http://127.0.0.1:${this.httpPort}` : null;
  }

  async start() {
    if (this.tls) {
      const s = https.createServer({
        cert: fs.readFileSync(this.tls.cert), key: fs.readFileSync(this.tls.key),
      }, (req, res) => this.handle(req, res));
      s.on('secureConnection', () => this.stats.tlsHandshakes++);
      this.port = await this.listen(s, 0);
      this.servers.push(s);
    }
    if (this.alsoHttp) {
      const s = http.createServer((req, res) => this.handle(req, res));
      this.httpPort = await this.listen(s, 0);
      this.servers.push(s);
    }
    return this;
  }

  listen(server, port) {
    // Real DynamoDB keeps idle connections far longer than Node's 5 s.
    server.keepAliveTimeout = 120000;
    server.headersTimeout = 125000;
    server.requestTimeout = 0;
    server.on('connection', (sock) => {
      this.stats.connections++;
      this.sockets.add(sock);
      sock.on('close', () => this.sockets.delete(sock));
    });
    server.on('clientError', (err, sock) => sock.destroy());
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        server.fixedPort = server.address().port;
        resolve(server.fixedPort);
      });
    });
  }

  // The endpoint is down: connections are refused and the open ones cut.
  async down() {
    const closed = Promise.all(this.servers.map((s) => new Promise((r) => s.close(() => r()))));
    this.cutAll();
    await closed;
  }

  // Back up on the same ports.
  async up() {
    for (const s of this.servers) {
      await new Promise((resolve, reject) => {
        s.once('error', reject);
        s.listen(s.fixedPort, '127.0.0.1', () => { s.off('error', reject); resolve(); });
      });
    }
  }

  cutAll() {
    for (const sock of this.sockets) sock.destroy();
    this.sockets.clear();
    this.hung.clear();
  }

  async stop() {
    this.clearFaults();
    const closed = Promise.all(this.servers.map((s) => new Promise((r) => {
      if (!s.listening) return r();
      s.close(() => r());
    })));
    this.cutAll();
    await closed;
    this.agent.destroy();
  }

  setUpstream(port) {
    this.upstreamPort = port;
    this.agent.destroy();
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  }

  // Fault for the next `count` requests (of operation `op` when given),
  // after their signature checked out, as the real service throttles only
  // authenticated callers. Faults queue in order.
  inject(kind, { count = 1, op = null, error, body, ms } = {}) {
    if (!FAULTS.has(kind)) throw new Error(`unknown fault ${kind}`);
    if (kind === 'throttle') error = error || 'ThrottlingException';
    if (kind === 'error' && !ERRORS[error]) throw new Error(`unknown error ${error}`);
    this.faults.push({ kind, count, op, error, body, ms });
  }

  // Drops queued faults and releases hung connections.
  clearFaults() {
    this.faults = [];
    for (const res of this.hung) res.socket?.destroy();
    this.hung.clear();
  }

  takeFault(op, parsed) {
    for (let i = 0; i < this.faults.length; i++) {
      const f = this.faults[i];
      if (f.op && f.op !== op) continue;
      if (f.kind === 'emptyPage' && op !== 'Scan') continue;
      if (--f.count <= 0) this.faults.splice(i, 1);
      return f;
    }
    return null;
  }

  now() {
    return Date.now() + this.clockOffsetMs;
  }

  send(res, status, bodyObj, entry) {
    const body = Buffer.from(typeof bodyObj === 'string' ? bodyObj : JSON.stringify(bodyObj));
    entry.status = status;
    res.writeHead(status, {
      'x-amzn-RequestId': crypto.randomBytes(26).toString('base64').replace(/[^A-Z0-9]/gi, 'Q').toUpperCase(),
      'x-amz-crc32': String(crc32(body)),
      'Content-Type': 'application/x-amz-json-1.0',
      'Content-Length': body.length,
      Date: new Date(this.now()).toUTCString(),
    });
    res.end(body);
  }

  sendError(res, name, message, entry) {
    const [status, type] = ERRORS[name];
    entry.error = name;
    // AccessDeniedException is the one DynamoDB spells with a capital M.
    const key = name === 'AccessDeniedException' ? 'Message' : 'message';
    this.send(res, status, { __type: type, [key]: message || MESSAGES[name] || name }, entry);
  }

  async handle(req, res) {
    const st = this.stats;
    st.requests++;
    const chunks = [];
    let size = 0;
    try {
      for await (const c of req) {
        size += c.length;
        if (size > MAX_BODY) { req.socket.destroy(); return; }
        chunks.push(c);
      }
    } catch {
      return;
    }
    const body = Buffer.concat(chunks);
    const target = String(req.headers['x-amz-target'] || '');
    const op = target.startsWith('DynamoDB_20120810.') ? target.slice(18) : `(${target || 'none'})`;
    st.operations[op] = (st.operations[op] || 0) + 1;
    let parsed = null;
    try { parsed = JSON.parse(body.toString('utf8')); } catch { /* dynalite answers */ }
    const entry = { op, akid: null, token: !!req.headers['x-amz-security-token'], status: 0, body: parsed };
    st.log.push(entry);
    if (st.log.length > 20000) st.log.splice(0, 10000);

    let denied;
    try {
      denied = await this.verify(req, body, entry);
    } catch (err) {
      // A bug here must show as a failed request, not a dead test run.
      return this.sendError(res, 'InternalServerError', `proxy: ${err.message}`, entry);
    }
    if (denied) return this.sendError(res, denied[0], denied[1], entry);

    let fault = this.takeFault(op, parsed);
    let emptyKey = null;
    if (fault && fault.kind === 'emptyPage') {
      emptyKey = await this.emptyPageKey(req, parsed);
      // No room for a key before the next item: this page passes, and the
      // fault waits for the next Scan.
      if (!emptyKey) { this.faults.unshift({ ...fault, count: 1 }); fault = null; }
    }
    if (fault) {
      st.faultsServed++;
      entry.fault = fault.kind;
      switch (fault.kind) {
      case 'throttle':
      case 'error':
        return this.sendError(res, fault.error, null, entry);
      case 'hang':
        this.hung.add(res);
        res.on('close', () => this.hung.delete(res));
        return;
      case 'close':
        req.socket.destroy();
        return;
      case 'garbage':
        return this.send(res, 200, fault.body ?? '<html><body>502 Bad Gateway</body>', entry);
      case 'delay':
        await new Promise((r) => setTimeout(r, fault.ms || 100));
        break;
      case 'emptyPage':
        return this.send(res, 200, {
          Count: 0, Items: [], ScannedCount: 0, LastEvaluatedKey: emptyKey,
        }, entry);
      }
    }
    this.forward(req, res, body, entry);
  }

  // A LastEvaluatedKey for an empty page that skips nothing: a key
  // (not an item) that sorts after the request's ExclusiveStartKey and
  // before the next item. DynamoDB's keys are positions in the table, and
  // it does send such pages: a page whose scanned range held no item. Null
  // when there is no next item or no room before it.
  async emptyPageKey(req, parsed) {
    if (!parsed || !parsed.TableName) return null;
    const probe = Buffer.from(JSON.stringify({ ...parsed, Limit: 1 }));
    const headers = { ...req.headers, 'content-length': String(probe.length) };
    delete headers.connection;
    const answer = await new Promise((resolve) => {
      const up = http.request({ host: '127.0.0.1', port: this.upstreamPort, method: 'POST', path: '/',
        headers, agent: this.agent }, (r) => {
        const out = [];
        r.on('data', (c) => out.push(c));
        r.on('end', () => { try { resolve(JSON.parse(Buffer.concat(out))); } catch { resolve(null); } });
      });
      up.on('error', () => resolve(null));
      up.end(probe);
    });
    const next = answer && answer.Items && answer.Items[0];
    if (!next) return null;
    const attr = Object.keys(next)[0];
    const hi = dynaliteOrder(next[attr].S);
    const start = parsed.ExclusiveStartKey && parsed.ExclusiveStartKey[attr];
    const lo = start ? dynaliteOrder(start.S) : '';
    for (let i = 0; i < 300000; i++) {
      const name = `~empty-page-${i}`;
      const k = dynaliteOrder(name);
      if (k > lo && k < hi) return { [attr]: { S: name } };
    }
    return null;
  }

  forward(req, res, body, entry) {
    const headers = { ...req.headers };
    delete headers.connection;
    delete headers['keep-alive'];
    headers['content-length'] = String(body.length);
    const up = http.request({
      host: '127.0.0.1', port: this.upstreamPort, method: req.method, path: req.url,
      headers, agent: this.agent,
    }, (upres) => {
      const out = [];
      upres.on('data', (c) => out.push(c));
      upres.on('end', () => {
        this.stats.forwarded++;
        const b = Buffer.concat(out);
        entry.status = upres.statusCode;
        res.writeHead(upres.statusCode, {
          'x-amzn-RequestId': upres.headers['x-amzn-requestid'] || 'none',
          'x-amz-crc32': String(crc32(b)),
          'Content-Type': upres.headers['content-type'] || 'application/x-amz-json-1.0',
          'Content-Length': b.length,
          Date: new Date(this.now()).toUTCString(),
        });
        res.end(b);
      });
      upres.on('error', () => { this.stats.upstreamErrors++; req.socket.destroy(); });
    });
    // dynalite gone: the caller sees its connection cut, as behind a
    // load balancer whose targets vanished.
    up.on('error', () => { this.stats.upstreamErrors++; entry.status = -1; req.socket.destroy(); });
    up.end(body);
  }

  // Returns null when real DynamoDB would accept the request's
  // authentication, else [error name, message].
  async verify(req, body, entry) {
    const st = this.stats;
    const auth = req.headers.authorization;
    if (!auth) {
      st.signatureFailures++;
      return ['MissingAuthenticationTokenException', 'Request is missing Authentication Token'];
    }
    const m = /^AWS4-HMAC-SHA256\s+Credential=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]+)\s*$/
      .exec(auth);
    if (!m) {
      st.signatureFailures++;
      return ['IncompleteSignatureException',
        `Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters. Authorization=${auth.replace(/Signature=\w+/, 'Signature=...')}`];
    }
    const [, credential, signedList, signature] = m;
    const scope = credential.split('/');
    if (scope.length !== 5 || scope[4] !== 'aws4_request') {
      st.signatureFailures++;
      return ['IncompleteSignatureException',
        `Credential should be scoped to a valid region, not '${scope[2]}'. `];
    }
    const [akid, scopeDate, scopeRegion, scopeService] = scope;
    entry.akid = akid;
    st.accessKeys[akid] = (st.accessKeys[akid] || 0) + 1;

    const xdate = req.headers['x-amz-date'];
    const signedAt = parseAmzDate(xdate);
    if (signedAt === null) {
      st.signatureFailures++;
      return ['IncompleteSignatureException',
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."];
    }
    const now = this.now();
    if (signedAt < now - SKEW_MS) {
      st.signatureFailures++;
      st.skewRejections++;
      return ['InvalidSignatureException', `Signature expired: ${xdate} is now earlier than ` +
        `${amzDate(now - SKEW_MS)} (${amzDate(now)} - 5 min.)`];
    }
    if (signedAt > now + SKEW_MS) {
      st.signatureFailures++;
      st.skewRejections++;
      return ['InvalidSignatureException', `Signature not yet current: ${xdate} is still later ` +
        `than ${amzDate(now + SKEW_MS)} (${amzDate(now)} + 5 min.)`];
    }

    const cred = this.registry.get(akid);
    const token = req.headers['x-amz-security-token'];
    if ((cred && cred.sessionToken && !token) || (this.expectToken && !token)) st.missingToken++;
    if (!cred || (cred.sessionToken || null) !== (token || null)) {
      st.unrecognizedClient++;
      return ['UnrecognizedClientException', 'The security token included in the request is invalid.'];
    }
    if (cred.expiresAt !== null && now >= cred.expiresAt) {
      st.expiredToken++;
      return ['ExpiredTokenException', 'The security token included in the request is expired'];
    }
    if (scopeDate !== xdate.slice(0, 8)) {
      st.signatureFailures++;
      return ['InvalidSignatureException', `Date in Credential scope does not match YYYYMMDD ` +
        `from ISO-8601 version of date from HTTP: '${scopeDate}' != '${xdate.slice(0, 8)}', from '${xdate}'.`];
    }
    if (scopeService !== 'dynamodb') {
      st.signatureFailures++;
      return ['InvalidSignatureException', "Credential should be scoped to correct service: 'dynamodb'. "];
    }
    if (scopeRegion !== this.region) {
      st.signatureFailures++;
      return ['InvalidSignatureException',
        `Credential should be scoped to a valid region, not '${scopeRegion}'. `];
    }
    const signed = signedList.split(';');
    if (!signed.includes('host')) {
      st.signatureFailures++;
      return ['InvalidSignatureException',
        "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."];
    }
    const sha = req.headers['x-amz-content-sha256'];
    if (sha && sha !== crypto.createHash('sha256').update(body).digest('hex')) {
      st.signatureFailures++;
      return ['InvalidSignatureException',
        "The provided 'x-amz-content-sha256' header does not match what was computed."];
    }

    // Only the headers the client says it signed take part, exactly as
    // AWS does; the signer then adds nothing of its own (no token, no
    // checksum header), so any header left out or altered shows.
    const headers = {};
    for (const name of signed) {
      const v = req.headers[name];
      if (v !== undefined) headers[name] = Array.isArray(v) ? v.join(',') : String(v);
    }
    const q = req.url.indexOf('?');
    const query = {};
    if (q >= 0) {
      for (const [k, v] of new URLSearchParams(req.url.slice(q + 1))) {
        if (k in query) query[k] = [].concat(query[k], v);
        else query[k] = v;
      }
    }
    const request = new HttpRequest({
      method: req.method, protocol: 'https:', hostname: '127.0.0.1',
      path: q >= 0 ? req.url.slice(0, q) : req.url, query, headers, body,
    });
    const signer = new SignatureV4({
      credentials: { accessKeyId: akid, secretAccessKey: cred.secretAccessKey },
      region: scopeRegion, service: scopeService, sha256: Sha256, applyChecksum: false,
    });
    const signedSet = new Set(signed);
    const out = await signer.sign(request, {
      signingDate: new Date(signedAt), signableHeaders: signedSet,
    });
    const want = /Signature=([0-9a-f]{64})/.exec(out.headers.authorization)[1];
    const wantList = /SignedHeaders=([^,]+),/.exec(out.headers.authorization)[1];
    if (want === signature && wantList === signedList) {
      if (cred.ops && !cred.ops.has(entry.op)) {
        st.accessDenied++;
        return ['AccessDeniedException', `User: ${cred.principal} is not authorized to perform: ` +
          `dynamodb:${entry.op} on resource: arn:aws:dynamodb:${this.region}:123456789012:table/` +
          `${entry.body && entry.body.TableName} because no identity-based policy allows the ` +
          `dynamodb:${entry.op} action`];
      }
      return null;
    }
    st.signatureFailures++;
    // The message real AWS sends, with what it expected, which is how a
    // signer bug gets found.
    const prepared = prepareRequest(request);
    prepared.headers['x-amz-date'] = xdate;
    const canon = signer.createCanonicalRequest(prepared,
      getCanonicalHeaders(prepared, undefined, signedSet), await getPayloadHash(prepared, Sha256));
    const sts = await signer.createStringToSign(xdate,
      `${scopeDate}/${scopeRegion}/${scopeService}/aws4_request`, canon, 'AWS4-HMAC-SHA256');
    return ['InvalidSignatureException', 'The request signature we calculated does not match the ' +
      'signature you provided. Check your AWS Secret Access Key and signing method. Consult the ' +
      `service documentation for details.\n\nThe Canonical String for this request should have been\n'` +
      `${canon}'\n\nThe String-to-Sign should have been\n'${sts}'\n`];
  }
}

// Starts a proxy; with tls: true, serves `certs` (from makeTestCerts), or
// makes a CA and certificate in a temporary directory. proxy.certs.ca is
// then the bundle for the service.
async function startProxy({ registry, upstreamPort, tls = true, http: alsoHttp = false,
  region = 'us-east-1', certs = null } = {}) {
  if (tls && !certs) certs = makeTestCerts(fs.mkdtempSync(path.join(os.tmpdir(), 'sigv4-proxy-')));
  if (!tls) certs = null;
  const proxy = new SigV4Proxy({ registry, upstreamPort, tls: certs, http: alsoHttp, region });
  proxy.certs = certs;
  return proxy.start();
}

// An official DynamoDB client aimed at `endpoint`, trusting `ca` (a PEM
// file) when given. The SDK's own retries are off unless asked for, so a
// test sees each answer.
function dynamoClient({ endpoint, region = 'us-east-1', credentials = ADMIN, ca = null,
  maxAttempts = 1, requestTimeout = 5000, systemClockOffset } = {}) {
  const { DynamoDBClient } = require('@aws-sdk/client-dynamodb');
  const { NodeHttpHandler } = require('@smithy/node-http-handler');
  const agentOpts = { keepAlive: true };
  if (ca) agentOpts.ca = fs.readFileSync(ca);
  return new DynamoDBClient({
    endpoint, region, maxAttempts, systemClockOffset,
    // A copy: the SDK marks the object it is given, and ADMIN is frozen.
    credentials: { ...credentials },
    requestHandler: new NodeHttpHandler({
      httpsAgent: new https.Agent(agentOpts), httpAgent: new http.Agent({ keepAlive: true }),
      requestTimeout, connectionTimeout: 2000, throwOnRequestTimeout: true,
    }),
  });
}

module.exports = {
  ADMIN, APP_OPS, CredentialRegistry, SigV4Proxy, startProxy, makeTestCerts, dynamoClient,
  amzDate,
};
