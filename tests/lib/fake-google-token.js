'use strict';
// A fake Google OAuth 2.0 token endpoint for service-account keys, on a
// loopback port: the JWT bearer grant (RFC 7523) as
// https://oauth2.googleapis.com/token serves it to a key file's holder.
//
//   const reg = new GoogleTokenRegistry();
//   const tok = await startTokenServer({ registry: reg });
//   const sa = makeServiceAccount(dir, { tokenUri: tok.tokenUri });
//   tok.addAccount(sa);                    // its public key is now trusted
//
// Each assertion is verified as Google does before it issues anything: the
// RS256 signature against the account's public key, the header (alg RS256;
// typ JWT and kid = the key's id when present, and kid required with
// requireKid), and the claims (iss a known account, aud this endpoint,
// scope Firestore's, iat within a minute of now, exp at most an hour after
// iat and not past). Anything else is refused with Google's error JSON
// ({"error":"invalid_grant","error_description":...}) and counted; nothing
// is issued. Tokens expire (lifetimeSec) and go into the registry, which
// the fake metadata server shares, so whatever stands for Firestore can
// tell an issued, unexpired token from any other.
//
// The registry also verifies self-signed JWTs (verifyBearer), the form a
// key's holder may send to Firestore directly instead of a token.

const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const https = require('node:https');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const GRANT_TYPE = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';
const SCOPES = Object.freeze({
  datastore: 'https://www.googleapis.com/auth/datastore',
  cloudPlatform: 'https://www.googleapis.com/auth/cloud-platform',
});
// What a self-signed JWT for Firestore names as its audience.
const FIRESTORE_AUDIENCE = 'https://firestore.googleapis.com/';
const MAX_LIFETIME = 3600;	// exp - iat, as Google allows
const SKEW = 60;		// how far iat may be from now, either way

const b64url = (buf) => Buffer.from(buf).toString('base64url');

// Tokens handed out by the fakes, with their expiry: what a stand-in for
// Firestore accepts as a bearer.
class GoogleTokenRegistry {
  constructor() {
    this.tokens = new Map();	// token -> { expiresAt (ms), email, scope, source }
    this.accounts = new Map();	// email -> { keyId, publicKey }
  }

  issue({ email, scope, lifetimeSec, source }) {
    const token = `ya29.${source === 'metadata' ? 'm' : 'c'}.${crypto.randomBytes(48).toString('base64url')}`;
    const entry = { token, email, scope, source, issuedAt: Date.now(),
      expiresAt: Date.now() + lifetimeSec * 1000 };
    this.tokens.set(token, entry);
    return entry;
  }

  addAccount({ email, keyId, publicKeyPem }) {
    this.accounts.set(email, { keyId, publicKey: crypto.createPublicKey(publicKeyPem) });
  }

  // Whether token is one the fakes issued and it has not expired, or a
  // valid self-signed JWT for audience; { ok, why, email } either way.
  verifyBearer(token, { audience = FIRESTORE_AUDIENCE, now = Date.now() } = {}) {
    const t = this.tokens.get(token);
    if (t) {
      return t.expiresAt > now ? { ok: true, email: t.email, source: t.source }
        : { ok: false, why: 'access token expired' };
    }
    const v = verifyJwt(this, token, { now: Math.floor(now / 1000), requireKid: true });
    if (!v.ok) return v;
    const c = v.claims;
    if (c.aud !== audience) return { ok: false, why: `self-signed JWT for ${c.aud}, not ${audience}` };
    if (c.sub !== c.iss) return { ok: false, why: 'self-signed JWT with sub other than iss' };
    return { ok: true, email: c.iss, source: 'self-signed' };
  }
}

function parseSegment(seg, what) {
  if (!/^[A-Za-z0-9_-]+$/.test(seg)) throw new Error(`${what} is not base64url`);
  const v = JSON.parse(Buffer.from(seg, 'base64url').toString('utf8'));
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error(`${what} is not a JSON object`);
  return v;
}

// Checks a compact JWS the way Google's token endpoint does, as far as the
// signature, the header and the times go; the caller checks aud and scope.
// Returns { ok, claims, header } or { ok: false, why } with Google's words
// where we know them.
function verifyJwt(registry, jwt, { now, requireKid = false }) {
  if (typeof jwt !== 'string' || jwt.length > 16384) return { ok: false, why: 'Invalid JWT.' };
  const parts = jwt.split('.');
  if (parts.length !== 3) return { ok: false, why: 'Invalid JWT.' };
  let header, claims;
  try {
    header = parseSegment(parts[0], 'header');
    claims = parseSegment(parts[1], 'claims');
  } catch (e) {
    return { ok: false, why: `Invalid JWT: ${e.message}` };
  }
  if (header.alg !== 'RS256') return { ok: false, why: `Invalid JWT: alg ${header.alg} is not RS256` };
  if ('typ' in header && header.typ !== 'JWT') return { ok: false, why: 'Invalid JWT: typ is not JWT' };
  if (requireKid && !('kid' in header)) return { ok: false, why: 'Invalid JWT: no kid' };
  if (typeof claims.iss !== 'string') return { ok: false, why: 'Invalid JWT: no iss' };
  const account = registry.accounts.get(claims.iss);
  if (!account) return { ok: false, why: 'Invalid grant: account not found' };
  if ('kid' in header && header.kid !== account.keyId) {
    return { ok: false, why: 'Invalid JWT Signature.' };
  }
  const sig = Buffer.from(parts[2], 'base64url');
  if (!/^[A-Za-z0-9_-]+$/.test(parts[2]) ||
      !crypto.verify('RSA-SHA256', Buffer.from(`${parts[0]}.${parts[1]}`), account.publicKey, sig)) {
    return { ok: false, why: 'Invalid JWT Signature.' };
  }
  const { iat, exp } = claims;
  if (!Number.isInteger(iat) || !Number.isInteger(exp) || exp <= iat || exp - iat > MAX_LIFETIME ||
      Math.abs(iat - now) > SKEW || exp <= now) {
    return { ok: false, why: 'Invalid JWT: Token must be a short-lived token (60 minutes) and in a ' +
      'reasonable timeframe. Check your iat and exp values in the JWT claim.' };
  }
  return { ok: true, header, claims };
}

// Makes a throwaway key pair with openssl, as Google makes a key for a
// service account, and writes the key file a user downloads: PKCS#8 PEM,
// a 40-hex-digit key id, the token_uri given. Returns what a test needs.
function makeServiceAccount(dir, { tokenUri, projectId = 'demo-candidates',
  name = 'candidates-vm', bits = 2048 } = {}) {
  fs.mkdirSync(dir, { recursive: true });
  const keyPath = path.join(dir, `${name}.pem`);
  execFileSync('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', `rsa_keygen_bits:${bits}`,
    '-out', keyPath], { stdio: ['ignore', 'ignore', 'pipe'] });
  const privateKeyPem = fs.readFileSync(keyPath, 'utf8');
  const publicKeyPem = execFileSync('openssl', ['pkey', '-in', keyPath, '-pubout'],
    { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  fs.rmSync(keyPath);
  const email = `${name}@${projectId}.iam.gserviceaccount.com`;
  const keyId = crypto.randomBytes(20).toString('hex');
  const json = {
    type: 'service_account',
    project_id: projectId,
    private_key_id: keyId,
    private_key: privateKeyPem,
    client_email: email,
    client_id: String(100000000000000000000n + BigInt(crypto.randomInt(1e9))),
    auth_uri: 'https://accounts.google.com/o/oauth2/auth',
    token_uri: tokenUri,
    auth_provider_x509_cert_url: 'https://www.googleapis.com/oauth2/v1/certs',
    client_x509_cert_url: `https://www.googleapis.com/robot/v1/metadata/x509/${encodeURIComponent(email)}`,
    universe_domain: 'googleapis.com',
  };
  const keyFile = path.join(dir, `${name}.json`);
  fs.writeFileSync(keyFile, JSON.stringify(json, null, 2) + '\n', { mode: 0o600 });
  return { keyFile, json, email, keyId, projectId, privateKeyPem, publicKeyPem };
}

// Signs claims with a key as a service account's holder would: what tests
// use to make assertions no client would send.
function signJwt(privateKeyPem, claims, header = { alg: 'RS256', typ: 'JWT' }) {
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  const sig = crypto.sign('RSA-SHA256', Buffer.from(input), privateKeyPem);
  return `${input}.${b64url(sig)}`;
}

class FakeGoogleToken {
  // registry: shared with the fake metadata server; lifetimeSec: of each
  // token; audiences: what aud may be besides this endpoint's own URL
  // (Google's canonical token URL, which google-auth-library always
  // names); requireKid: refuse a header without kid; tls: { cert, key }
  // from sigv4-proxy's makeTestCerts, for an https token_uri.
  constructor({ registry = new GoogleTokenRegistry(), lifetimeSec = 3599,
    audiences = [GOOGLE_TOKEN_URL], scopes = [SCOPES.datastore, SCOPES.cloudPlatform],
    requireKid = false, tls = null } = {}) {
    this.registry = registry;
    this.lifetimeSec = lifetimeSec;
    this.audiences = audiences;
    this.scopes = scopes;
    this.requireKid = requireKid;
    this.tls = tls;
    this.failNext = 0;		// answer the next N requests with 503
    this.resetStats();
  }

  resetStats() {
    this.issued = [];		// every token handed out, in order
    this.refused = [];		// { error, description } of each refusal
    this.requests = 0;
    this.lastClaims = null;
    this.lastHeader = null;
  }

  get url() {
    return `${this.tls ? 'https' : 'http'}://127.0.0.1:${this.port}`;
  }

  // What a key file names as its token_uri.
  get tokenUri() {
    return `${this.url}/token`;
  }

  addAccount(sa) {
    this.registry.addAccount(sa);
  }

  start() {
    const handler = (req, res) => this.handle(req, res);
    this.server = this.tls ? https.createServer({ cert: fs.readFileSync(this.tls.cert),
      key: fs.readFileSync(this.tls.key) }, handler) : http.createServer(handler);
    this.sockets = new Set();
    this.server.on(this.tls ? 'secureConnection' : 'connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
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

  reply(res, status, obj) {
    const b = Buffer.from(JSON.stringify(obj, null, 2) + '\n');
    res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': b.length, 'Cache-Control': 'no-cache, no-store, max-age=0, must-revalidate' });
    res.end(b);
  }

  refuse(res, status, error, description) {
    this.refused.push({ error, description });
    this.reply(res, status, { error, error_description: description });
  }

  handle(req, res) {
    this.requests++;
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size <= 65536) chunks.push(c);
    });
    req.on('end', () => {
      if (this.failNext > 0) {
        this.failNext--;
        return this.reply(res, 503, { error: 'internal_failure', error_description: 'Backend Error' });
      }
      if (req.url.split('?')[0] !== '/token') return this.refuse(res, 404, 'not_found', 'Not Found');
      if (req.method !== 'POST') return this.refuse(res, 405, 'invalid_request', 'POST only');
      if (size > 65536) return this.refuse(res, 413, 'invalid_request', 'request too large');
      const ctype = (req.headers['content-type'] || '').split(';')[0].trim().toLowerCase();
      if (ctype !== 'application/x-www-form-urlencoded') {
        return this.refuse(res, 400, 'invalid_request', 'Invalid content type');
      }
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      if (form.get('grant_type') !== GRANT_TYPE) {
        return this.refuse(res, 400, 'unsupported_grant_type', `Invalid grant_type: ${form.get('grant_type') ?? ''}`);
      }
      const now = Math.floor(Date.now() / 1000);
      const v = verifyJwt(this.registry, form.get('assertion'), { now, requireKid: this.requireKid });
      if (!v.ok) return this.refuse(res, 400, 'invalid_grant', v.why);
      const c = v.claims;
      if (c.aud !== this.tokenUri && !this.audiences.includes(c.aud)) {
        return this.refuse(res, 400, 'invalid_grant', 'Invalid JWT: Failed audience check. The right ' +
          `audience is ${this.tokenUri}`);
      }
      if (typeof c.scope !== 'string' || c.scope === '') {
        return this.refuse(res, 400, 'invalid_scope', 'Invalid oauth scope or ID token audience provided.');
      }
      const asked = c.scope.split(' ');
      if (asked.some((s) => !this.scopes.includes(s))) {
        return this.refuse(res, 400, 'invalid_scope', 'Invalid OAuth scope or ID token audience ' +
          `provided: ${asked.filter((s) => !this.scopes.includes(s)).join(' ')}`);
      }
      this.lastClaims = c;
      this.lastHeader = v.header;
      const t = this.registry.issue({ email: c.iss, scope: c.scope, lifetimeSec: this.lifetimeSec,
        source: 'token' });
      this.issued.push(t);
      return this.reply(res, 200, { access_token: t.token, expires_in: this.lifetimeSec,
        token_type: 'Bearer' });
    });
  }
}

async function startTokenServer(opts) {
  return new FakeGoogleToken(opts).start();
}

module.exports = {
  FakeGoogleToken, GoogleTokenRegistry, startTokenServer, makeServiceAccount, signJwt, verifyJwt,
  GRANT_TYPE, GOOGLE_TOKEN_URL, SCOPES, FIRESTORE_AUDIENCE,
};
