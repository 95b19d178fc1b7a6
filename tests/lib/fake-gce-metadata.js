'use strict';
// A fake Compute Engine metadata server on a loopback port. The service
// under test and google-auth-library reach it through GCE_METADATA_HOST
// (host:port), as they would reach metadata.google.internal on a VM.
//
// It behaves as the real one does where a client could tell: every answer
// carries `Metadata-Flavor: Google`; a request under /computeMetadata/
// without the request header `Metadata-Flavor: Google` is refused with 403,
// and so is any request with X-Forwarded-For (the server refuses what a
// proxy forwards, so a token never leaves the VM); the root `/` answers
// without the header, as clients ping it. The service account's token is
// shared by all callers and replaced only when little of its life is left
// (rotateBeforeSec), as the real server hands out the same token with a
// falling expires_in; each new one goes into the shared token registry and
// is counted.

const http = require('node:http');
const { GoogleTokenRegistry, SCOPES } = require('./fake-google-token');

const BASE = '/computeMetadata/v1';

class FakeGceMetadata {
  constructor({ registry = new GoogleTokenRegistry(), projectId = 'demo-candidates',
    numericProjectId = '123456789012', instanceId = '4520031799277581759',
    zone = 'europe-west1-b', email = null, lifetimeSec = 3599, rotateBeforeSec = null,
    scopes = [SCOPES.cloudPlatform] } = {}) {
    this.registry = registry;
    this.projectId = projectId;
    this.numericProjectId = numericProjectId;
    this.instanceId = instanceId;
    this.zone = zone;
    this.email = email ?? `${numericProjectId}-compute@developer.gserviceaccount.com`;
    this.lifetimeSec = lifetimeSec;
    // The real server renews a token about five minutes before it
    // expires; for short test lifetimes, at 40 % of the life left.
    this.rotateBeforeSec = rotateBeforeSec ?? Math.min(300, Math.floor(lifetimeSec * 0.4));
    this.scopes = scopes;		// the VM's access scopes
    this.current = null;
    this.failNext = 0;			// answer the next N requests with 503
    this.resetStats();
  }

  resetStats() {
    this.calls = {};		// "METHOD path" -> count
    this.issued = [];		// every token handed out, in order
    this.tokenGets = 0;		// answers to a token request
    this.forbidden = 0;		// 403s: no Metadata-Flavor, or forwarded
    this.total = 0;
  }

  get host() {
    return `127.0.0.1:${this.port}`;
  }

  get url() {
    return `http://${this.host}`;
  }

  start() {
    this.server = http.createServer((req, res) => this.handle(req, res));
    this.server.keepAliveTimeout = 60000;
    this.sockets = new Set();
    this.server.on('connection', (s) => { this.sockets.add(s); s.on('close', () => this.sockets.delete(s)); });
    return new Promise((resolve) => this.server.listen(0, '127.0.0.1', () => {
      this.port = this.server.address().port;
      resolve(this);
    }));
  }

  stop() {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      for (const s of this.sockets) s.destroy();
    });
  }

  // The token a request gets now: the current one while enough of its
  // life is left, else a new one.
  token(now = Date.now()) {
    if (!this.current || this.current.expiresAt - now <= this.rotateBeforeSec * 1000) {
      this.current = this.registry.issue({ email: this.email, scope: this.scopes.join(' '),
        lifetimeSec: this.lifetimeSec, source: 'metadata' });
      this.issued.push(this.current);
    }
    return this.current;
  }

  reply(res, status, body, type = 'application/text') {
    const b = Buffer.from(body);
    res.writeHead(status, {
      'Metadata-Flavor': 'Google', 'Content-Type': type, 'Content-Length': b.length,
      Server: 'Metadata Server for VM', 'X-XSS-Protection': '0', 'X-Frame-Options': 'SAMEORIGIN',
    });
    res.end(res.isHead ? undefined : b);
  }

  handle(req, res) {
    req.resume();
    // A HEAD gets the headers a GET would, and no body.
    res.isHead = req.method === 'HEAD';
    const u = new URL(req.url, 'http://metadata.google.internal');
    const p = u.pathname;
    const key = `${req.method} ${p}`;
    this.calls[key] = (this.calls[key] || 0) + 1;
    this.total++;
    if (this.failNext > 0) {
      this.failNext--;
      return this.reply(res, 503, 'Service Unavailable');
    }
    if (req.headers['x-forwarded-for'] !== undefined) {
      this.forbidden++;
      return this.reply(res, 403, 'Forbidden: requests with X-Forwarded-For are not served\n');
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return this.reply(res, 405, 'Method Not Allowed\n');
    if (p === '/') return this.reply(res, 200, 'computeMetadata/\n');
    if ((req.headers['metadata-flavor'] || '') !== 'Google') {
      this.forbidden++;
      return this.reply(res, 403, 'Missing required header: Metadata-Flavor: Google\n');
    }
    const sa = `${BASE}/instance/service-accounts`;
    const accounts = new Set(['default', this.email]);
    const m = p.match(/^\/computeMetadata\/v1\/instance\/service-accounts\/([^/]+)\/(token|email|scopes)$/);
    if (m && accounts.has(decodeURIComponent(m[1]))) {
      if (m[2] === 'email') return this.reply(res, 200, this.email);
      if (m[2] === 'scopes') return this.reply(res, 200, this.scopes.join('\n') + '\n');
      // Access scopes are the VM's: asking for others gets the same token
      // on the default account, so the `scopes` parameter is not checked.
      this.tokenGets++;
      const t = this.token();
      const left = Math.max(0, Math.floor((t.expiresAt - Date.now()) / 1000));
      return this.reply(res, 200, JSON.stringify({ access_token: t.token, expires_in: left,
        token_type: 'Bearer' }), 'application/json');
    }
    switch (p) {
    case BASE:
    case `${BASE}/`:
      return this.reply(res, 200, 'instance/\noauth2/\nproject/\n');
    case `${BASE}/instance`:
    case `${BASE}/instance/`:
      return this.reply(res, 200, 'attributes/\nhostname\nid\nname\nservice-accounts/\nzone\n');
    case `${BASE}/instance/id`:
      return this.reply(res, 200, this.instanceId);
    case `${BASE}/instance/zone`:
      return this.reply(res, 200, `projects/${this.numericProjectId}/zones/${this.zone}`);
    case `${BASE}/instance/hostname`:
      return this.reply(res, 200, `candidates-abcd.${this.zone}.c.${this.projectId}.internal`);
    case `${sa}`:
    case `${sa}/`:
      return this.reply(res, 200, `default/\n${this.email}/\n`);
    case `${BASE}/project/project-id`:
      return this.reply(res, 200, this.projectId);
    case `${BASE}/project/numeric-project-id`:
      return this.reply(res, 200, this.numericProjectId);
    default:
      return this.reply(res, 404, '<!DOCTYPE html>\n<html lang=en><title>Error 404 (Not Found)!!1</title>' +
        '<p><b>404.</b> <ins>That’s an error.</ins></html>\n', 'text/html; charset=UTF-8');
    }
  }
}

async function startMetadata(opts) {
  return new FakeGceMetadata(opts).start();
}

module.exports = { FakeGceMetadata, startMetadata, BASE };
