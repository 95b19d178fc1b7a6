'use strict';
// A token-checking front for Google's Firestore emulator, which checks no
// token at all. Each request must carry `Authorization: Bearer <token>`
// with a token the fake token endpoint or the fake metadata server issued
// and that has not expired, with a Firestore scope (datastore or
// cloud-platform), or a self-signed JWT for Firestore, all verified
// through the fakes' shared GoogleTokenRegistry; the emulator's own
// "owner" only when told (allowOwner). Anything else gets Google's own
// 401 UNAUTHENTICATED. Only then is the request forwarded to the emulator,
// as "Bearer owner".
//
//   const p = await startFirestoreProxy({ registry, upstream: emu.host,
//     tls: certs, project: 'demo-candidates' });
//   p.url    https://127.0.0.1:N (FIRESTORE_ENDPOINT), or
//   p.host   127.0.0.1:N (FIRESTORE_EMULATOR_HOST, plain HTTP)
//
// It decodes a query the way Google's front end does (form encoding: '+'
// is a space), so a page token sent without percent-encoding breaks as it
// would on Google. It counts what the service under test did (requests,
// connections, TLS handshakes, operations, the tokens it used and where
// they came from) and plays the faulty network and the overloaded service
// on demand: RESOURCE_EXHAUSTED, UNAVAILABLE, ABORTED, DEADLINE_EXCEEDED,
// INTERNAL, a front end's HTML 502, refusals, hangs, cut connections,
// delays, garbage, and list pages cut short, empty, or with a token that
// does not move on.

const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const https = require('node:https');

const MAX_BODY = 1024 * 1024;
const FIRESTORE_SCOPES = ['https://www.googleapis.com/auth/datastore',
  'https://www.googleapis.com/auth/cloud-platform'];
// Google's words for a bad bearer.
const UNAUTHENTICATED = 'Request had invalid authentication credentials. Expected OAuth 2 access ' +
  'token, login cookie or other valid authentication credential. See ' +
  'https://developers.google.com/identity/sign-in/web/devconsole-project.';

// Google's error answers, as the API and its front end send them.
const ERRORS = {
  throttle: [429, 'RESOURCE_EXHAUSTED', 'Quota exceeded for quota metric \'Write requests\'.'],
  unavailable: [503, 'UNAVAILABLE', 'The service is currently unavailable.'],
  aborted: [409, 'ABORTED', 'Too much contention on these documents. Please try again.'],
  deadline: [504, 'DEADLINE_EXCEEDED', 'Deadline exceeded.'],
  internal: [500, 'INTERNAL', 'Internal error encountered.'],
  unauthenticated: [401, 'UNAUTHENTICATED', UNAUTHENTICATED],
  denied: [403, 'PERMISSION_DENIED', 'Missing or insufficient permissions.'],
  invalid: [400, 'INVALID_ARGUMENT', 'Document name is invalid.'],
  unimplemented: [501, 'UNIMPLEMENTED', 'Method not found.'],
};

// The fault kinds inject() takes, besides the ERRORS above.
const FAULTS = new Set([...Object.keys(ERRORS),
  'badGateway',	// 502 with the HTML page Google's front end sends
  'hang',	// read the request, never answer, keep the connection open
  'close',	// read the request, then cut the TCP connection
  'garbage',	// `status` (200) with `body` (not JSON by default)
  'delay',	// forward after `ms`
  'shortPage',	// list: forward with a pageSize of 1 to 7
  'emptyPage',	// list: an empty page whose token leads where this one would have
  'stuckToken',	// list: a page whose nextPageToken is the one it was asked with
]);
const LIST_ONLY = new Set(['shortPage', 'emptyPage', 'stuckToken']);
// What an empty page's token starts with; the rest is the real token.
// '+', '/' and '=' are what percent-encoding must carry intact.
const EMPTY_PREFIX = 'empty+/=';

const BAD_GATEWAY_HTML = '<!DOCTYPE html>\n<html lang=en>\n  <meta charset=utf-8>\n' +
  '  <title>Error 502 (Server Error)!!1</title>\n  <p><b>502.</b> <ins>That’s an error.</ins>\n' +
  '  <p>The server encountered a temporary error and could not complete your request.' +
  '<p>Please try again in 30 seconds.  <ins>That’s all we know.</ins>\n';

// What the service may do, by method and path: documents:batchGet (a
// get), documents:commit (a put), documents.list of the collection.
const CALL_RE = /^\/v1\/projects\/([^/]+)\/databases\/([^/]+)\/documents:(batchGet|commit)$/;
const LIST_RE = /^\/v1\/projects\/([^/]+)\/databases\/([^/]+)\/documents\/candidates$/;

function classify(method, path) {
  let m = CALL_RE.exec(path);
  if (m && method === 'POST') return { op: m[3] === 'batchGet' ? 'get' : 'put', project: m[1], database: m[2] };
  m = LIST_RE.exec(path);
  if (m && method === 'GET') return { op: 'list', project: m[1], database: m[2] };
  return { op: 'other' };
}

// A query as Google's front end reads it: application/x-www-form-urlencoded.
function parseQuery(q) {
  const out = [];
  for (const [k, v] of new URLSearchParams(q)) out.push([k, v]);
  return out;
}

function encodeQuery(pairs) {
  return pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
}

class FirestoreProxy {
  // registry: the fakes' GoogleTokenRegistry; upstream: the emulator's
  // host:port; tls: { cert, key } (from sigv4-proxy's makeTestCerts) for
  // HTTPS, else plain HTTP; allowOwner: let "Bearer owner" through;
  // project, database: the only ones the caller may use (null: any).
  constructor({ registry, upstream, tls = null, allowOwner = false, project = null,
    database = null }) {
    this.registry = registry;
    this.upstream = upstream;
    this.tls = tls;
    this.allowOwner = allowOwner;
    this.project = project;
    this.database = database;
    this.revoked = new Set();	// tokens refused from now on
    this.sockets = new Set();
    this.hung = new Set();
    this.faults = [];
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
    this.resetStats();
  }

  resetStats() {
    this.stats = {
      requests: 0,
      connections: 0,
      tlsHandshakes: 0,
      forwarded: 0,
      faultsServed: 0,
      upstreamErrors: 0,
      ops: {},			// get, put, list, other -> count
      sources: {},		// token, metadata, self-signed, owner -> accepted requests
      tokens: new Map(),	// bearer -> accepted requests
      rejected: {},		// why -> count (401s and 403s of the proxy's own)
      log: [],			// { op, method, path, query, status, fault, source }
    };
  }

  get port() {
    return this.server.fixedPort;
  }

  get host() {
    return `127.0.0.1:${this.port}`;
  }

  get url() {
    return `${this.tls ? 'https' : 'http'}://${this.host}`;
  }

  async start() {
    const handler = (req, res) => this.handle(req, res);
    this.server = this.tls ? https.createServer({ cert: fs.readFileSync(this.tls.cert),
      key: fs.readFileSync(this.tls.key) }, handler) : http.createServer(handler);
    if (this.tls) this.server.on('secureConnection', () => this.stats.tlsHandshakes++);
    // Google keeps idle connections open far longer than Node's 5 s.
    this.server.keepAliveTimeout = 120000;
    this.server.headersTimeout = 125000;
    this.server.requestTimeout = 0;
    this.server.on('connection', (sock) => {
      this.stats.connections++;
      this.sockets.add(sock);
      sock.on('close', () => this.sockets.delete(sock));
    });
    this.server.on('clientError', (err, sock) => sock.destroy());
    await this.listen(0);
    return this;
  }

  listen(port) {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.server.off('error', reject);
        this.server.fixedPort = this.server.address().port;
        resolve();
      });
    });
  }

  // The endpoint is down: connections are refused and the open ones cut.
  async down() {
    const closed = new Promise((r) => this.server.close(() => r()));
    this.cutAll();
    await closed;
  }

  // Back up on the same port.
  up() {
    return this.listen(this.server.fixedPort);
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

  setUpstream(host) {
    this.upstream = host;
    this.agent.destroy();
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  }

  // Fault for the next `count` requests (of operation `op`, get, put or
  // list, when given), once their bearer checked out, as Google throttles
  // only authenticated callers. Faults queue in order.
  inject(kind, { count = 1, op = null, body, status, ms } = {}) {
    if (!FAULTS.has(kind)) throw new Error(`unknown fault ${kind}`);
    this.faults.push({ kind, count, op: LIST_ONLY.has(kind) ? 'list' : op, body, status, ms });
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

  count(table, key) {
    table[key] = (table[key] || 0) + 1;
  }

  send(res, status, body, entry, type = 'application/json; charset=UTF-8') {
    const b = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body, null, 2));
    entry.status = status;
    res.writeHead(status, { 'Content-Type': type, 'Content-Length': b.length, Vary: 'X-Origin' });
    res.end(b);
  }

  sendError(res, kind, entry, message) {
    const [status, name, text] = ERRORS[kind];
    this.send(res, status, { error: { code: status, message: message || text, status: name } }, entry);
  }

  // null when the bearer may pass, else [kind, message, why], why one of
  // 'no bearer', 'owner', 'revoked', 'expired', 'unknown' and 'scope'.
  verify(req, entry) {
    const m = /^Bearer (\S+)$/.exec(req.headers.authorization || '');
    if (!m) return ['unauthenticated', null, 'no bearer'];
    const token = m[1];
    if (token === 'owner') {
      if (!this.allowOwner) return ['unauthenticated', null, 'owner'];
      entry.source = 'owner';
    } else {
      if (this.revoked.has(token)) return ['unauthenticated', null, 'revoked'];
      const v = this.registry.verifyBearer(token);
      if (!v.ok) {
        return ['unauthenticated', null, v.why === 'access token expired' ? 'expired' : 'unknown'];
      }
      const issued = this.registry.tokens.get(token);
      if (issued && !issued.scope.split(' ').some((s) => FIRESTORE_SCOPES.includes(s))) {
        return ['denied', 'Request had insufficient authentication scopes.', 'scope'];
      }
      entry.source = v.source;
    }
    this.count(this.stats.sources, entry.source);
    this.stats.tokens.set(token, (this.stats.tokens.get(token) || 0) + 1);
    return null;
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
    const path = q >= 0 ? req.url.slice(0, q) : req.url;
    const query = parseQuery(q >= 0 ? req.url.slice(q + 1) : '');
    const what = classify(req.method, path);
    this.count(st.ops, what.op);
    let parsed = null;
    try { parsed = JSON.parse(body.toString('utf8')); } catch { /* not JSON */ }
    const entry = { op: what.op, method: req.method, path, query, body: parsed, status: 0,
      fault: null, source: null };
    st.log.push(entry);
    if (st.log.length > 20000) st.log.splice(0, 10000);

    const denied = this.verify(req, entry);
    if (denied) {
      this.count(st.rejected, denied[2]);
      return this.sendError(res, denied[0], entry, denied[1]);
    }
    if ((this.project && what.project && what.project !== this.project) ||
        (this.database && what.database && what.database !== this.database)) {
      this.count(st.rejected, 'project');
      return this.sendError(res, 'denied', entry);
    }

    const fault = this.takeFault(what.op);
    let forwardQuery = query;
    if (fault) {
      st.faultsServed++;
      entry.fault = fault.kind;
      if (ERRORS[fault.kind]) return this.sendError(res, fault.kind, entry);
      switch (fault.kind) {
      case 'badGateway':
        return this.send(res, 502, BAD_GATEWAY_HTML, entry, 'text/html; charset=UTF-8');
      case 'hang':
        this.hung.add(res);
        res.on('close', () => this.hung.delete(res));
        return;
      case 'close':
        req.socket.destroy();
        return;
      case 'garbage':
        return this.send(res, fault.status ?? 200, fault.body ?? '<html><body>It works!</body></html>',
          entry, 'text/html');
      case 'delay':
        await new Promise((r) => setTimeout(r, fault.ms || 100));
        break;
      case 'shortPage':
        forwardQuery = query.map(([k, v]) => [k, k === 'pageSize' ? String(1 + crypto.randomInt(7)) : v]);
        break;
      case 'emptyPage': {
        const token = (query.find(([k]) => k === 'pageToken') || [])[1] || '';
        return this.send(res, 200, { nextPageToken: EMPTY_PREFIX + token }, entry);
      }
      case 'stuckToken': {
        const token = (query.find(([k]) => k === 'pageToken') || [])[1];
        return this.send(res, 200, { documents: [], nextPageToken: token || 'stuck+/=' }, entry);
      }
      }
    }
    // An empty page's token leads where the page it stood for would have.
    // Empty pages in a row stack their prefixes.
    forwardQuery = forwardQuery.flatMap(([k, v]) => {
      if (k !== 'pageToken') return [[k, v]];
      while (v.startsWith(EMPTY_PREFIX)) v = v.slice(EMPTY_PREFIX.length);
      return v ? [[k, v]] : [];
    });
    this.forward(req, res, path, forwardQuery, body, entry);
  }

  forward(req, res, path, query, body, entry) {
    const headers = { authorization: 'Bearer owner', 'content-length': String(body.length) };
    if (req.headers['content-type']) headers['content-type'] = req.headers['content-type'];
    const [host, port] = [this.upstream.slice(0, this.upstream.lastIndexOf(':')),
      Number(this.upstream.slice(this.upstream.lastIndexOf(':') + 1))];
    const qs = encodeQuery(query);
    const up = http.request({ host, port, method: req.method, path: qs ? `${path}?${qs}` : path,
      headers, agent: this.agent }, (upres) => {
      const out = [];
      upres.on('data', (c) => out.push(c));
      upres.on('end', () => {
        this.stats.forwarded++;
        this.send(res, upres.statusCode, Buffer.concat(out).toString('utf8'), entry,
          upres.headers['content-type'] || 'application/json; charset=UTF-8');
      });
      upres.on('error', () => { this.stats.upstreamErrors++; req.socket.destroy(); });
    });
    // The emulator gone: the caller sees its connection cut, as behind a
    // front end whose backends vanished.
    up.on('error', () => { this.stats.upstreamErrors++; entry.status = -1; req.socket.destroy(); });
    up.end(body);
  }

  // How many distinct tokens from source (token, metadata, ...) it accepted.
  tokensFrom(source) {
    let n = 0;
    for (const t of this.stats.tokens.keys()) {
      const issued = this.registry.tokens.get(t);
      if (issued && issued.source === source) n++;
    }
    return n;
  }
}

async function startFirestoreProxy(opts) {
  return new FirestoreProxy(opts).start();
}

module.exports = { FirestoreProxy, startFirestoreProxy, ERRORS, UNAUTHENTICATED, EMPTY_PREFIX };
