'use strict';
// A fake EC2 instance metadata service, IMDSv2 only ("HttpTokens:
// required", as the launch template sets it), on a loopback port. The
// service under test reaches it through AWS_EC2_METADATA_SERVICE_ENDPOINT.
//
// Role credentials are short-lived and rotate: each set expires after
// `lifetimeMs`, and a new set is handed out once the current one has less
// than `rotateBeforeMs` left, as real IMDS does ahead of expiry. Every set
// goes into the shared CredentialRegistry, so the SigV4 proxy accepts
// exactly what this IMDS issued, and refuses it once expired.

const crypto = require('node:crypto');
const http = require('node:http');
const { CredentialRegistry, APP_OPS } = require('./sigv4-proxy');

const MAX_TTL = 21600;

function iso(ms) {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

class FakeImds {
  constructor({ registry, role = 'candidates-instance-role', instanceId = 'i-0fa4e1d2c3b4a5968',
    region = 'us-east-1', lifetimeMs = 6 * 3600 * 1000, rotateBeforeMs = null, ops = APP_OPS } = {}) {
    this.registry = registry;
    this.role = role;
    this.instanceId = instanceId;
    this.region = region;
    this.lifetimeMs = lifetimeMs;
    // Ahead of the half-life, so a client refreshing at half its
    // credentials' life always gets the next set, as real IMDS offers it
    // well before expiry.
    this.rotateBeforeMs = rotateBeforeMs ?? Math.floor(lifetimeMs * 0.6);
    this.ops = ops;
    this.tokens = new Map();	// token -> expiry (ms)
    this.issued = [];		// every credential set handed out, in order
    this.current = null;
    this.failNext = 0;		// answer the next N requests with 500
    this.resetStats();
  }

  resetStats() {
    this.calls = {};		// "METHOD path" -> count
    this.tokenPuts = 0;
    this.credentialGets = 0;	// GETs of the role's credentials
    this.unauthorized = 0;	// 401s: GETs without a valid token
    this.total = 0;
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
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

  // The credentials a GET of the role returns now, rotating when due.
  credentials(now = Date.now()) {
    if (!this.current || this.current.expiresAt - now < this.rotateBeforeMs) {
      const c = CredentialRegistry.random({ temporary: true });
      // IMDS states Expiration to the second; the proxy enforces that same instant.
      const expiresAt = Math.floor((now + this.lifetimeMs) / 1000) * 1000;
      this.current = this.registry.add({
        ...c, expiresAt, ops: this.ops,
        principal: `arn:aws:sts::123456789012:assumed-role/${this.role}/${this.instanceId}`,
      });
      this.current.issuedAt = now;
      this.issued.push(this.current);
    }
    return this.current;
  }

  reply(res, status, body, headers = {}) {
    const b = Buffer.from(body);
    res.writeHead(status, {
      'Content-Type': 'text/plain', 'Content-Length': b.length, Server: 'EC2ws', ...headers,
    });
    res.end(b);
  }

  handle(req, res) {
    req.resume();
    const p = req.url.split('?')[0];
    const key = `${req.method} ${p}`;
    this.calls[key] = (this.calls[key] || 0) + 1;
    this.total++;
    if (this.failNext > 0) {
      this.failNext--;
      return this.reply(res, 500, 'Internal Server Error');
    }
    const now = Date.now();

    if (p === '/latest/api/token') {
      if (req.method !== 'PUT') return this.reply(res, 405, 'Method Not Allowed');
      // Real IMDS refuses forwarded requests: a token must not leave the host.
      if (req.headers['x-forwarded-for']) return this.reply(res, 403, 'Forbidden');
      const ttlh = req.headers['x-aws-ec2-metadata-token-ttl-seconds'];
      const ttl = /^\d+$/.test(ttlh || '') ? Number(ttlh) : NaN;
      if (!(ttl >= 1 && ttl <= MAX_TTL)) return this.reply(res, 400, 'Bad Request');
      this.tokenPuts++;
      const token = crypto.randomBytes(42).toString('base64');
      this.tokens.set(token, now + ttl * 1000);
      return this.reply(res, 200, token, { 'X-Aws-Ec2-Metadata-Token-Ttl-Seconds': String(ttl) });
    }

    if (req.method !== 'GET' && req.method !== 'HEAD') return this.reply(res, 405, 'Method Not Allowed');
    const token = req.headers['x-aws-ec2-metadata-token'];
    const exp = token && this.tokens.get(token);
    if (!exp || exp <= now) {
      this.unauthorized++;
      return this.reply(res, 401, 'Unauthorized');
    }

    const base = '/latest/meta-data/iam/security-credentials/';
    switch (p) {
    case '/latest/meta-data/instance-id':
      return this.reply(res, 200, this.instanceId);
    case '/latest/meta-data/placement/region':
      return this.reply(res, 200, this.region);
    case '/latest/meta-data/placement/availability-zone':
      return this.reply(res, 200, `${this.region}a`);
    case '/latest/dynamic/instance-identity/document':
      return this.reply(res, 200, JSON.stringify({
        accountId: '123456789012', architecture: 'x86_64', availabilityZone: `${this.region}a`,
        instanceId: this.instanceId, instanceType: 't3.micro', region: this.region,
      }, null, 2), { 'Content-Type': 'application/json' });
    case base:
    case base.slice(0, -1):
      return this.reply(res, 200, this.role);
    case base + this.role: {
      this.credentialGets++;
      const c = this.credentials(now);
      // Spelled as IMDS spells it, spaces around the colons included.
      const doc = JSON.stringify({
        Code: 'Success', LastUpdated: iso(c.issuedAt), Type: 'AWS-HMAC',
        AccessKeyId: c.accessKeyId, SecretAccessKey: c.secretAccessKey,
        Token: c.sessionToken, Expiration: iso(c.expiresAt),
      }, null, 2).replace(/": /g, '" : ');
      return this.reply(res, 200, doc);
    }
    default:
      return this.reply(res, 404, '<?xml version="1.0" encoding="iso-8859-1"?>\n<html>404 - Not Found</html>\n');
    }
  }
}

async function startImds(opts) {
  return new FakeImds(opts).start();
}

module.exports = { FakeImds, startImds };
