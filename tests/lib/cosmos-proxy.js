'use strict';
// A verifying front for @vercel/cosmosdb-server, which checks no
// authentication. Every request's Authorization is checked as Cosmos DB
// checks it: a master-key signature is recomputed from the account keys
// (HMAC-SHA256 over the verb, the resource type, the resource link and the
// date, as "Access control in the Azure Cosmos DB SQL API" defines it) and
// its x-ms-date must be fresh; a Microsoft Entra token must be one the
// fake IMDS issued (fake-azure-imds.js), for this account's audience, and
// not expired. Anything else gets Cosmos DB's own 401 or 403 JSON. The
// proxy then does what the real gateway does and the stand-in does not
// (the partition key must match the item, a query needs the cross-partition
// header, a missing container is 404 with substatus 1003) and forwards
// the rest, trusting the stand-in's self-signed certificate, by its pinned
// fingerprint, on that one hop only.
//
// It serves HTTPS with a certificate from a throwaway test CA (made with
// the openssl CLI), which the service trusts and nothing else, so a passing
// test proves the client verifies its peer. On demand it plays the
// overloaded or broken service: 429 with x-ms-retry-after-ms, 449, 408,
// 503, hangs, cut connections, garbage, short and empty query pages. It
// counts requests by kind, authentication by type, every refusal by reason,
// and records each request's headers for assertions.

const crypto = require('node:crypto');
const fs = require('node:fs');
const https = require('node:https');
const os = require('node:os');
const path = require('node:path');
const { makeTestCerts } = require('./sigv4-proxy');
const { SERVER_CERT_FINGERPRINT, PARTITION_KEY } = require('./cosmosdb');
const { COSMOS_RESOURCE } = require('./fake-azure-imds');

// A master-key signature is good for 15 minutes after its x-ms-date.
// Cosmos DB refuses a date too far ahead of its clock as well (one 6 min
// 46 s ahead in vscode-cosmosdb issue 842); we allow 5 minutes ahead.
const VALID_MS = 15 * 60 * 1000;
const AHEAD_MS = 5 * 60 * 1000;
// Cosmos DB's largest item is 2 MB; a query body is far smaller.
const MAX_BODY = 2 * 1024 * 1024 + 64 * 1024;
const GATEWAY = 'Microsoft.Azure.Documents.Common/2.14.0';
const CONSISTENCY = ['Eventual', 'ConsistentPrefix', 'Session', 'BoundedStaleness', 'Strong'];
const CODES = {
  400: 'BadRequest', 401: 'Unauthorized', 403: 'Forbidden', 404: 'NotFound', 408: 'RequestTimeout',
  409: 'Conflict', 412: 'PreconditionFailed', 413: 'RequestEntityTooLarge', 429: '429',
  449: 'RetryWith', 500: 'InternalServerError', 503: 'ServiceUnavailable',
};

// The fault kinds inject() takes.
const FAULTS = new Set([
  'throttle',	// 429, x-ms-retry-after-ms: ms (default 50), substatus 3200
  'retryWith',	// 449
  'timeout',	// 408
  'unavailable', // 503
  'error',	// any status: { status, code, message, substatus }
  'hang',	// read the request, never answer, keep the connection open
  'close',	// read the request, then cut the TCP connection
  'garbage',	// `status` (200) with `body` (not JSON by default)
  'delay',	// forward after `ms` (a query page of at most `items`
		// documents when given)
  'shortPage',	// a query page of at most `items` (1) documents, by asking
		// the stand-in for fewer than the client did
  'emptyPage',	// a query page with no documents that still carries a
		// continuation: the request's own with its round-trip count
		// (#RT) moved on, as Cosmos DB's moves on every page, or one
		// from the start; `continuation` sends that value instead
  'stuckPage',	// an empty page carrying the request's continuation
		// unchanged: a service that makes no progress
]);

// The continuation an empty page carries: the request's own token, its
// round trips counted one more (the position is the same, the token is
// not), or the start of the container when the request had none.
function emptyPageContinuation(sent) {
  const start = '{"token":"+RID:#RT:0#TRC:0","range":{"min":"","max":"FF"}}';
  if (!sent) return start;
  try {
    const c = JSON.parse(sent);
    c.token = c.token.replace(/#RT:(\d+)/, (_, n) => `#RT:${Number(n) + 1}`);
    return JSON.stringify(c);
  } catch {
    return sent;
  }
}

// The resource a path names, as the signature covers it: the type is the
// last type segment, the link every id down to the resource (decoded),
// "dbs/D/colls/C/docs/ID" for an item, "dbs/D/colls/C" for its feed.
function resourceOf(pathname) {
  let segs;
  try {
    segs = pathname.split('/').filter((s) => s !== '').map(decodeURIComponent);
  } catch {
    return null;
  }
  const n = segs.length;
  if (n === 0) return { segs, type: '', link: '' };
  if (n % 2 === 1) return { segs, type: segs[n - 1], link: segs.slice(0, n - 1).join('/') };
  return { segs, type: segs[n - 2], link: segs.join('/') };
}

const isTrue = (v) => String(v || '').toLowerCase() === 'true';

// What a request does, for the counts and the checks.
function opOf(method, segs, headers) {
  if (segs.length < 5 || segs[0] !== 'dbs' || segs[2] !== 'colls' || segs[4] !== 'docs') return 'meta';
  if (segs.length === 6) {
    return { GET: 'read', PUT: 'replace', DELETE: 'delete', PATCH: 'patch' }[method] || 'meta';
  }
  if (segs.length !== 5) return 'meta';
  if (method === 'GET') return 'readFeed';
  if (method !== 'POST') return 'meta';
  if (isTrue(headers['x-ms-cosmos-is-query-plan-request'])) return 'queryPlan';
  if (isTrue(headers['x-ms-documentdb-isquery']) ||
    String(headers['content-type'] || '').startsWith('application/query+json')) return 'query';
  if (isTrue(headers['x-ms-documentdb-is-upsert'])) return 'upsert';
  return 'create';
}

// .NET's "7/17/2022 5:09:09 PM", as Cosmos DB's Entra messages print times.
function dotnetTime(ms) {
  const d = new Date(ms);
  const h = d.getUTCHours();
  const p2 = (x) => String(x).padStart(2, '0');
  return `${d.getUTCMonth() + 1}/${d.getUTCDate()}/${d.getUTCFullYear()} ${h % 12 || 12}:` +
    `${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())} ${h < 12 ? 'AM' : 'PM'}`;
}

const RFC7231 = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/i;

// An https.Agent for the hop to the stand-in: it accepts exactly the
// certificate the stand-in ships (self-signed and expired), by its
// SHA-256 fingerprint, and nothing else.
class PinnedAgent extends https.Agent {
  createConnection(options, cb) {
    const sock = super.createConnection({ ...options, rejectUnauthorized: false }, cb);
    sock.once('secureConnect', () => {
      const fp = sock.getPeerCertificate().fingerprint256;
      if (fp !== SERVER_CERT_FINGERPRINT) {
        sock.destroy(new Error(`upstream certificate ${fp} is not the pinned one`));
      }
    });
    return sock;
  }
}

// No TLS session cache: a resumed session presents no certificate to pin.
function newPinnedAgent() {
  return new PinnedAgent({ keepAlive: true, maxSockets: 64, maxCachedSessions: 0 });
}

class CosmosProxy {
  // upstreamPort: cosmosdb-server's; keys: the account keys (base64),
  // primary first; tokens: the fake IMDS's TokenRegistry (null: no Entra
  // ID); tls: { cert, key } from makeTestCerts; consistency: the account's
  // default, which the account document states.
  constructor({ upstreamPort, keys, tokens = null, tls, account = 'candidates-local',
    consistency = 'Strong', partitionKeyPath = PARTITION_KEY }) {
    this.upstreamPort = upstreamPort;
    this.keys = keys.map((k) => Buffer.from(k, 'base64'));
    this.tokens = tokens;
    this.tls = tls;
    this.account = account;
    this.consistency = consistency;
    this.partitionKeyPath = partitionKeyPath;
    this.clockOffsetMs = 0;	// this Cosmos DB's clock runs this far ahead
    this.containers = new Map();	// "db/coll" -> partition key paths
    this.sockets = new Set();
    this.hung = new Set();
    this.faults = [];
    this.agent = newPinnedAgent();
    this.resetStats();
  }

  resetStats() {
    this.stats = {
      requests: 0,		// HTTP requests received
      connections: 0,		// TCP connections accepted
      tlsHandshakes: 0,		// TLS sessions established
      ops: {},			// read, upsert, create, query, readFeed, meta... -> count
      auth: { master: 0, aad: 0 },	// requests that passed, by type
      refused: {
        missingAuth: 0, malformedAuth: 0, badSignature: 0, staleDate: 0,
        unknownToken: 0, expiredToken: 0, wrongAudience: 0, badRequest: 0,
      },
      faultsServed: 0,
      forwarded: 0,
      upstreamErrors: 0,
      log: [],			// { op, method, url, link, headers, auth, status, fault, at }
    };
  }

  get url() {
    return `https://127.0.0.1:${this.port}`;
  }

  // The last request of op (e.g. 'read'), with the headers it carried.
  last(op) {
    for (let i = this.stats.log.length - 1; i >= 0; i--) {
      if (this.stats.log[i].op === op) return this.stats.log[i];
    }
    return null;
  }

  async start() {
    const s = https.createServer({
      cert: fs.readFileSync(this.tls.cert), key: fs.readFileSync(this.tls.key),
    }, (req, res) => this.handle(req, res));
    s.on('secureConnection', () => this.stats.tlsHandshakes++);
    // Cosmos DB's gateway keeps idle connections far longer than Node's 5 s.
    s.keepAliveTimeout = 120000;
    s.headersTimeout = 125000;
    s.requestTimeout = 0;
    s.on('connection', (sock) => {
      this.stats.connections++;
      this.sockets.add(sock);
      sock.on('close', () => this.sockets.delete(sock));
    });
    s.on('clientError', (err, sock) => sock.destroy());
    this.server = s;
    this.port = await new Promise((resolve, reject) => {
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => { s.off('error', reject); resolve(s.address().port); });
    });
    return this;
  }

  // The endpoint is down: connections are refused and the open ones cut.
  async down() {
    const closed = new Promise((r) => this.server.close(() => r()));
    this.cutAll();
    await closed;
  }

  // Back up on the same port.
  async up() {
    await new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.port, '127.0.0.1', () => { this.server.off('error', reject); resolve(); });
    });
  }

  cutAll() {
    for (const sock of this.sockets) sock.destroy();
    this.sockets.clear();
    this.hung.clear();
  }

  async stop() {
    this.clearFaults();
    const closed = new Promise((r) => (this.server.listening ? this.server.close(() => r()) : r()));
    this.cutAll();
    await closed;
    this.agent.destroy();
  }

  setUpstream(port) {
    this.upstreamPort = port;
    this.containers.clear();
    this.agent.destroy();
    this.agent = newPinnedAgent();
  }

  // Fault for the next `count` requests (of operation `op` when given),
  // after their authentication checked out, as the real service throttles
  // only authenticated callers. Faults queue in order.
  inject(kind, { count = 1, op = null, ms, status, code, message, substatus, body, items,
    continuation } = {}) {
    if (!FAULTS.has(kind)) throw new Error(`unknown fault ${kind}`);
    const paging = ['shortPage', 'emptyPage', 'stuckPage'].includes(kind);
    if (paging && op && op !== 'query') throw new Error(`${kind} applies to queries only`);
    this.faults.push({ kind, count, op: op || (paging ? 'query' : null),
      ms, status, code, message, substatus, body, items, continuation });
  }

  // Drops queued faults and releases hung connections.
  clearFaults() {
    this.faults = [];
    for (const res of this.hung) res.socket?.destroy();
    this.hung.clear();
  }

  takeFault(op) {
    for (let i = 0; i < this.faults.length; i++) {
      const f = this.faults[i];
      if (f.op && f.op !== op) continue;
      if (--f.count <= 0) this.faults.splice(i, 1);
      return f;
    }
    return null;
  }

  now() {
    return Date.now() + this.clockOffsetMs;
  }

  send(res, entry, status, body, headers = {}) {
    const b = Buffer.isBuffer(body) ? body :
      Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    entry.status = status;
    res.writeHead(status, {
      'Content-Type': 'application/json',
      'Content-Length': b.length,
      'x-ms-activity-id': entry.activity,
      'x-ms-request-charge': status < 300 ? '1' : '0',
      'x-ms-gatewayversion': 'version=2.14.0',
      Date: new Date(this.now()).toUTCString(),
      ...headers,
    });
    res.end(b);
  }

  // Cosmos DB's error body: the message, then the activity it happened in.
  sendError(res, entry, status, message, { code = CODES[status] || String(status), substatus,
    headers = {} } = {}) {
    entry.error = code;
    const h = { ...headers };
    if (substatus !== undefined) h['x-ms-substatus'] = String(substatus);
    this.send(res, entry, status, { code, message: `${message}\r\nActivityId: ${entry.activity}, ${GATEWAY}` }, h);
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
    const q = req.url.indexOf('?');
    const pathname = q >= 0 ? req.url.slice(0, q) : req.url;
    const resource = resourceOf(pathname);
    const op = resource ? opOf(req.method, resource.segs, req.headers) : 'meta';
    st.ops[op] = (st.ops[op] || 0) + 1;
    const entry = {
      op, method: req.method, url: req.url, link: resource && resource.link,
      headers: { ...req.headers }, auth: null, status: 0, activity: crypto.randomUUID(),
      at: Date.now(),
    };
    st.log.push(entry);
    if (st.log.length > 20000) st.log.splice(0, 10000);
    if (!resource) {
      st.refused.badRequest++;
      return this.sendError(res, entry, 400, 'The request path is not a valid resource path.');
    }
    try {
      if (!this.authorized(req, res, entry, resource)) return;
      if (!(await this.valid(req, res, entry, resource, body))) return;
    } catch (err) {
      if (err.upstream) return this.upstreamGone(req, entry);
      // A bug here must show as a failed request, not a dead test run.
      return this.sendError(res, entry, 500, `proxy: ${err.message}`);
    }
    const fault = this.takeFault(op);
    if (fault) {
      st.faultsServed++;
      entry.fault = fault.kind;
      switch (fault.kind) {
      case 'throttle':
        return this.sendError(res, entry, 429, 'Message: {"Errors":["Request rate is large. More ' +
          'Request Units may be needed, so no changes were made. Please retry this request later. ' +
          'Learn more: http://aka.ms/cosmosdb-error-429"]}', {
          substatus: 3200, headers: { 'x-ms-retry-after-ms': String(fault.ms ?? 50) },
        });
      case 'retryWith':
        return this.sendError(res, entry, 449, 'Conflicting request to resource has been attempted. ' +
          'Retry to avoid conflicts.');
      case 'timeout':
        return this.sendError(res, entry, 408, 'Request timed out. More info: ' +
          'https://aka.ms/cosmosdb-tsg-request-timeout');
      case 'unavailable':
        return this.sendError(res, entry, 503, 'Service is currently unavailable. More info: ' +
          'https://aka.ms/cosmosdb-tsg-service-unavailable');
      case 'error':
        return this.sendError(res, entry, fault.status || 500, fault.message || 'Injected error',
          { code: fault.code, substatus: fault.substatus });
      case 'hang':
        this.hung.add(res);
        res.on('close', () => this.hung.delete(res));
        return;
      case 'close':
        req.socket.destroy();
        return;
      case 'garbage':
        return this.send(res, entry, fault.status || 200,
          fault.body ?? '<html><body>502 Bad Gateway</body></html>', { 'Content-Type': 'text/html' });
      case 'delay':
        await new Promise((r) => setTimeout(r, fault.ms || 100));
        break;
      case 'emptyPage':
      case 'stuckPage':
        return this.send(res, entry, 200, { _rid: 'gAABAIAAAAE=', Documents: [], _count: 0 }, {
          'x-ms-continuation': fault.continuation ?? (fault.kind === 'stuckPage' ?
            req.headers['x-ms-continuation'] || emptyPageContinuation(null) :
            emptyPageContinuation(req.headers['x-ms-continuation'])),
          'x-ms-item-count': '0',
        });
      case 'shortPage':
        break;
      }
    }
    const cut = fault && (fault.kind === 'shortPage' || (op === 'query' && fault.items));
    this.forward(req, res, entry, resource, body, cut ? Math.max(1, fault.items || 1) : null);
  }

  // True when Cosmos DB would accept the request's Authorization; else
  // answers as it does and returns false.
  authorized(req, res, entry, resource) {
    const refused = this.stats.refused;
    const raw = req.headers.authorization;
    if (raw === undefined || raw === '') {
      refused.missingAuth++;
      this.sendError(res, entry, 401, 'Required Header authorization is missing. Ensure a valid ' +
        'Authorization token is passed.');
      return false;
    }
    let auth = raw;
    try {
      if (/%[0-9A-Fa-f]{2}/.test(raw)) auth = decodeURIComponent(raw);
    } catch {
      auth = null;
    }
    const m = auth && /^type=([A-Za-z]+)&ver=([^&]*)&sig=(.+)$/s.exec(auth);
    if (!m || m[2] !== '1.0' || !['master', 'aad'].includes(m[1])) {
      refused.malformedAuth++;
      this.sendError(res, entry, 401, 'The authorization header is malformed: expected ' +
        'type={master|aad}&ver=1.0&sig={signature or token}, URL-encoded.');
      return false;
    }
    entry.authType = m[1];
    return m[1] === 'master' ? this.masterOk(req, res, entry, resource, m[3]) :
      this.tokenOk(res, entry, m[3]);
  }

  masterOk(req, res, entry, resource, sig) {
    const refused = this.stats.refused;
    const date = String(req.headers['x-ms-date'] ?? req.headers.date ?? '');
    const payload = `${req.method.toLowerCase()}\n${resource.type.toLowerCase()}\n` +
      `${resource.link}\n${date.toLowerCase()}\n\n`;
    const got = Buffer.from(sig);
    const match = this.keys.some((k) => {
      const want = Buffer.from(crypto.createHmac('sha256', k).update(payload, 'utf8').digest('base64'));
      return want.length === got.length && crypto.timingSafeEqual(want, got);
    });
    if (!match || !RFC7231.test(date)) {
      refused.badSignature++;
      this.sendError(res, entry, 401, "The input authorization token can't serve the request. The " +
        'wrong key is being used or the expected payload is not built as per the protocol. For more ' +
        'info: https://aka.ms/cosmosdb-tsg-unauthorized. Server used the following payload to ' +
        `sign: '${payload}'`);
      return false;
    }
    const signedAt = Date.parse(date);
    const now = this.now();
    if (now > signedAt + VALID_MS || signedAt > now + AHEAD_MS) {
      refused.staleDate++;
      this.sendError(res, entry, 403, 'The authorization token is not valid at the current time. ' +
        `Please create another token and retry (token start time: ${new Date(signedAt).toUTCString()}, ` +
        `token expiry time: ${new Date(signedAt + VALID_MS).toUTCString()}, current server time: ` +
        `${new Date(now).toUTCString()}).`);
      return false;
    }
    this.stats.auth.master++;
    entry.auth = 'master';
    return true;
  }

  tokenOk(res, entry, token) {
    const refused = this.stats.refused;
    const t = this.tokens && this.tokens.get(token);
    const who = `Request blocked by Auth ${this.account} :`;
    if (!t) {
      refused.unknownToken++;
      this.sendError(res, entry, 401, `${who} The AAD token could not be validated: it was not ` +
        'issued for this tenant.', { substatus: 5000 });
      return false;
    }
    const accepted = [this.url, COSMOS_RESOURCE];
    if (!accepted.includes(t.resource)) {
      refused.wrongAudience++;
      this.sendError(res, entry, 401, `${who} Provided AAD token is intended for [${t.resource}]. ` +
        `This database account accepts tokens intended for [${accepted.join(', ')}].`, { substatus: 5008 });
      return false;
    }
    const now = this.now();
    if (now >= t.expiresAt) {
      refused.expiredToken++;
      this.sendError(res, entry, 401, `${who} Provided AAD token has been expired since ` +
        `[${dotnetTime(t.expiresAt)} (UTC)]. Current server time is [${dotnetTime(now)} (UTC)]. ` +
        'Please refresh the AAD token.');
      return false;
    }
    this.stats.auth.aad++;
    entry.auth = 'aad';
    entry.clientId = t.clientId;
    return true;
  }

  // The partition key paths of container "db/coll", asked of the stand-in
  // once; null when it does not exist.
  async partitionPaths(db, coll) {
    const key = `${db}/${coll}`;
    if (this.containers.has(key)) return this.containers.get(key);
    const r = await this.upstream('GET', `/dbs/${encodeURIComponent(db)}/colls/${encodeURIComponent(coll)}`,
      { accept: 'application/json' });
    if (r.status !== 200) return null;
    const paths = (JSON.parse(r.body.toString('utf8')).partitionKey || {}).paths || [];
    this.containers.set(key, paths);
    return paths;
  }

  // True when the request is one Cosmos DB would act on; else answers as
  // it does (where the stand-in would not, or would crash) and returns
  // false.
  async valid(req, res, entry, resource, body) {
    const refused = this.stats.refused;
    const bad = (message, substatus) => {
      refused.badRequest++;
      this.sendError(res, entry, 400, message, { substatus });
      return false;
    };
    const level = req.headers['x-ms-consistency-level'];
    if (level !== undefined && (!CONSISTENCY.includes(level) ||
      CONSISTENCY.indexOf(level) > CONSISTENCY.indexOf(this.consistency))) {
      return bad(`Invalid value '${level}' for request header x-ms-consistency-level: the account's ` +
        `default consistency is ${this.consistency}, and a request may only weaken it.`);
    }
    if (entry.op === 'meta') return true;
    const [, db, , coll] = resource.segs;
    const paths = await this.partitionPaths(db, coll);
    if (paths === null) {
      this.sendError(res, entry, 404, 'Message: {"Errors":["Resource Not Found. Learn more: ' +
        'https://aka.ms/cosmosdb-tsg-not-found"]}', { substatus: 1003 });
      return false;
    }
    const field = (paths[0] || '').slice(1);
    const pkHeader = req.headers['x-ms-documentdb-partitionkey'];
    let pk;
    if (pkHeader !== undefined) {
      try {
        pk = JSON.parse(pkHeader);
      } catch {
        pk = undefined;
      }
      if (!Array.isArray(pk) || pk.length !== 1) {
        return bad('Partition key provided either doesn\'t correspond to definition in the collection ' +
          'or doesn\'t match partition key field values specified in the document.');
      }
    }
    switch (entry.op) {
    case 'read':
    case 'replace':
    case 'delete':
    case 'patch':
      if (field && pk === undefined) return bad('PartitionKey value must be supplied for this operation.');
      return true;
    case 'upsert':
    case 'create': {
      let doc;
      try {
        doc = JSON.parse(body.toString('utf8'));
      } catch {
        doc = null;
      }
      if (!doc || typeof doc !== 'object' || typeof doc.id !== 'string' || doc.id === '') {
        return bad("The input content is invalid because the required properties - 'id; ' - are missing");
      }
      if (field && pk === undefined) return bad('PartitionKey value must be supplied for this operation.');
      if (field && doc[field] !== pk[0]) {
        return bad("PartitionKey extracted from document doesn't match the one specified in the " +
          'header. Learn more: https://aka.ms/CosmosDB/sql/errors/wrong-pk-value', 1001);
      }
      return true;
    }
    case 'query':
      if (!String(req.headers['content-type'] || '').startsWith('application/query+json')) {
        return bad('A query must be sent with Content-Type: application/query+json.');
      }
      // The stand-in reads a continuation it cannot parse as "from the
      // top", so a client that mangled one would list forever.
      if (req.headers['x-ms-continuation'] !== undefined) {
        let c;
        try {
          c = JSON.parse(req.headers['x-ms-continuation']);
        } catch {
          c = null;
        }
        if (!c || typeof c.token !== 'string') {
          return bad('Invalid Continuation Token: the x-ms-continuation header is not one this ' +
            'account issued.');
        }
      }
      if (!isTrue(req.headers['x-ms-documentdb-query-enablecrosspartition']) && pk === undefined) {
        return bad('Cross partition query is required but disabled. Please set ' +
          'x-ms-documentdb-query-enablecrosspartition to true, specify x-ms-documentdb-partitionkey, ' +
          'or revise your query to avoid this exception.', 1004);
      }
      return true;
    default:
      return true;
    }
  }

  // One request to the stand-in; resolves to { status, headers, body }.
  upstream(method, pathAndQuery, headers, body = Buffer.alloc(0)) {
    return new Promise((resolve, reject) => {
      const up = https.request({
        host: '127.0.0.1', port: this.upstreamPort, method, path: pathAndQuery,
        headers: { ...headers, 'content-length': String(body.length) }, agent: this.agent,
      }, (r) => {
        const out = [];
        r.on('data', (c) => out.push(c));
        r.on('end', () => resolve({ status: r.statusCode, headers: r.headers, body: Buffer.concat(out) }));
        r.on('error', (err) => reject(Object.assign(err, { upstream: true })));
      });
      up.on('error', (err) => reject(Object.assign(err, { upstream: true })));
      up.end(body);
    });
  }

  // The stand-in is gone: the client sees its connection cut, as behind a
  // gateway whose backend vanished.
  upstreamGone(req, entry) {
    this.stats.upstreamErrors++;
    entry.status = -1;
    req.socket.destroy();
  }

  async forward(req, res, entry, resource, body, maxItems) {
    const headers = { ...req.headers };
    for (const h of ['connection', 'keep-alive', 'host', 'content-length', 'transfer-encoding']) {
      delete headers[h];
    }
    // The stand-in crashes on a point read of a missing item unless told
    // the query is cross-partition; Cosmos DB ignores that header there.
    if (entry.op === 'read') headers['x-ms-documentdb-query-enablecrosspartition'] = 'True';
    if (maxItems !== null) {
      const asked = parseInt(headers['x-ms-max-item-count'] || '-1', 10);
      headers['x-ms-max-item-count'] = String(asked > 0 ? Math.min(asked, maxItems) : maxItems);
    }
    let r;
    try {
      r = await this.upstream(req.method, req.url, headers, body);
    } catch (err) {
      entry.upstreamError = err.message;
      return this.upstreamGone(req, entry);
    }
    this.stats.forwarded++;
    let status = r.status;
    let out = r.body;
    let json = null;
    try {
      json = JSON.parse(out.toString('utf8'));
    } catch { /* passed on as it came */ }
    if (entry.op === 'meta' && resource.segs.length === 0 && status === 200 && json) {
      // The account document names the endpoints clients go to: this
      // proxy, not the stand-in behind it; and this account's consistency.
      const loc = [{ name: 'West Europe', databaseAccountEndpoint: `${this.url}/` }];
      json.writableLocations = loc;
      json.readableLocations = loc;
      json.userConsistencyPolicy = { defaultConsistencyLevel: this.consistency };
      out = Buffer.from(JSON.stringify(json));
    }
    // The stand-in looks an unknown id up as a resource id, and may answer
    // with another item: Cosmos DB would not find it.
    if (entry.op === 'read' && status === 200 && (!json || json.id !== resource.segs[5])) {
      return this.sendError(res, entry, 404, 'Entity with the specified id does not exist in the system.');
    }
    if (status >= 400 && json && typeof json.code !== 'string') {
      return this.sendError(res, entry, status, json.message || 'Error');
    }
    const pass = { 'Content-Type': r.headers['content-type'] || 'application/json' };
    for (const h of ['x-ms-continuation', 'x-ms-item-count', 'etag', 'x-ms-request-charge']) {
      if (r.headers[h] !== undefined) pass[h] = r.headers[h];
    }
    this.send(res, entry, status, out, pass);
  }
}

// Starts a proxy in front of upstreamPort. keys: the account keys (two
// fresh random ones by default, as an account has); certs: from
// makeTestCerts (a new CA in a temporary directory by default; proxy.certs.ca
// is then the bundle for the client).
async function startCosmosProxy({ upstreamPort, keys = [randomKey(), randomKey()], tokens = null,
  certs = null, consistency = 'Strong', account } = {}) {
  if (!certs) certs = makeTestCerts(fs.mkdtempSync(path.join(os.tmpdir(), 'cosmos-proxy-')));
  const proxy = new CosmosProxy({ upstreamPort, keys, tokens, tls: certs, consistency, account });
  proxy.certs = certs;
  proxy.accountKeys = keys;
  return proxy.start();
}

// A key of the shape Azure hands out: 64 random bytes, base64.
function randomKey() {
  return crypto.randomBytes(64).toString('base64');
}

module.exports = { CosmosProxy, startCosmosProxy, randomKey, resourceOf, FAULTS };
