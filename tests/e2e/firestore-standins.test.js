'use strict';
// The Firestore store's stand-ins (issue 12), judged by Google's official
// clients before any C talks to them. Google's own emulator must serve the
// official @google-cloud/firestore and, at the very REST paths the C store
// will use, plain HTTP, each reading what the other wrote; the fake token
// endpoint must verify what google-auth-library signs and refuse what
// Google refuses; the fake metadata server must feed google-auth-library's
// Compute client and refuse what GCE refuses. If these fail, the store's
// tests prove nothing.
//
// The emulator's start time and memory are printed as test diagnostics.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { Firestore, FieldPath } = require('@google-cloud/firestore');
const { GoogleAuth, JWT, JWTAccess, Compute, gcpMetadata, gaxios } = require('google-auth-library');
const {
  findEmulator, startEmulator, SKIP_MESSAGE, EMULATOR_AUTH,
} = require('../lib/firestore-emulator');
const {
  GoogleTokenRegistry, startTokenServer, makeServiceAccount, signJwt, GRANT_TYPE,
  GOOGLE_TOKEN_URL, SCOPES, FIRESTORE_AUDIENCE,
} = require('../lib/fake-google-token');
const { startMetadata } = require('../lib/fake-gce-metadata');

const PROJECT = 'demo-candidates';
const OTHER_PROJECT = 'demo-other';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A document id in a URL path as the C store writes it: every byte but the
// unreserved ones (A-Z a-z 0-9 - . _ ~) percent-encoded, so nothing in a
// name can end the segment or start a query.
function pct(s) {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9\-._~]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

// Names as the service accepts them (docs/contract.md): any UTF-8 without
// control characters or / \ ? #, up to 255 bytes.
const NAMES = [
  'alice', 'a b', 'per%cent', '%41', 'plus+sign', 'semi;colon', 'amp&eq=', '"quoted"', "it's",
  '(paren)', 'star*', 'tick`', 'dot.', '~tilde', 'été', 'ünïcödé', '😀 emoji', '<b>',
  '[x]', '{y}', 'x'.repeat(255), 'NUL-free', 'Z',
];

function setEnv(vars) {
  const saved = {};
  for (const [k, v] of Object.entries(vars)) {
    saved[k] = process.env[k];
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  return () => setEnv(saved);
}

async function rest(url, { method = 'GET', body, auth = EMULATOR_AUTH } = {}) {
  const headers = {};
  if (auth) headers.Authorization = auth;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10000) });
  const text = await r.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: r.status, text, json };
}

const found = findEmulator();

describe('the Firestore emulator, judged by the official client', {
  skip: found ? false : SKIP_MESSAGE, timeout: 180000,
}, () => {
  let emu, db, restore;
  const docs = () => emu.docsUrl(PROJECT);
  const docUrl = (name) => `${docs()}/candidates/${pct(name)}`;

  // Every id in the collection, read over REST with documents.list as the
  // C store will: pageSize, and each nextPageToken sent back encoded.
  async function restList(pageSize) {
    const ids = [];
    const pages = [];
    let token = null;
    for (let i = 0; i < 1000; i++) {
      const q = `pageSize=${pageSize}${token ? `&pageToken=${pct(token)}` : ''}`;
      const r = await rest(`${docs()}/candidates?${q}`);
      assert.equal(r.status, 200, r.text);
      const page = r.json.documents || [];
      pages.push({ n: page.length, keys: Object.keys(r.json).sort() });
      for (const d of page) {
        // The id is what follows the last '/', as it is, never encoded.
        const m = d.name.match(/^projects\/([^/]+)\/databases\/([^/]+)\/documents\/candidates\/([^/]+)$/);
        assert.ok(m, d.name);
        assert.deepEqual([m[1], m[2]], [PROJECT, '(default)']);
        ids.push(m[3]);
      }
      token = r.json.nextPageToken;
      if (!token) return { ids, pages };
    }
    throw new Error('listing never ended');
  }

  before(async () => {
    emu = await startEmulator();
    // The client would look for a metadata server (169.254.169.254) to
    // learn where it runs; no test may reach one.
    restore = setEnv({ ...emu.env, METADATA_SERVER_DETECTION: 'none', GCE_METADATA_HOST: undefined,
      GOOGLE_APPLICATION_CREDENTIALS: undefined });
    db = new Firestore({ projectId: PROJECT });
  });

  after(async () => {
    await db?.terminate();
    restore?.();
    await emu?.stop();
  });

  it('starts on a loopback port, and says what it costs', (t) => {
    assert.match(emu.host, /^127\.0\.0\.1:\d+$/);
    const mem = emu.rss();
    assert.ok(mem && mem.rss > 0, 'the JVM is running');
    t.diagnostic(`emulator: ready in ${emu.startMs.toFixed(0)} ms, RSS ${(mem.rss / 1024).toFixed(0)} MiB ` +
      `(JVM pid ${emu.pid})`);
  });

  it('serves the official client: set, get, and a collection paged to the end', async () => {
    await emu.reset(PROJECT);
    const col = db.collection('candidates');
    for (const n of NAMES) await col.doc(n).set({ CandidateName: n });
    for (const n of NAMES) {
      const s = await col.doc(n).get();
      assert.ok(s.exists, n);
      assert.deepEqual(s.data(), { CandidateName: n }, n);
    }
    assert.equal((await col.doc('nobody').get()).exists, false);
    // Pages of 5 by document id, each starting after the last one seen.
    const seen = [];
    let last = null;
    for (;;) {
      let q = col.orderBy(FieldPath.documentId()).limit(5);
      if (last) q = q.startAfter(last);
      const page = await q.get();
      if (page.empty) break;
      for (const d of page.docs) seen.push(d.id);
      last = page.docs[page.docs.length - 1];
    }
    assert.deepEqual([...seen].sort(), [...NAMES].sort());
    assert.equal(new Set(seen).size, seen.length, 'no duplicates');
    const refs = await col.listDocuments();
    assert.deepEqual(refs.map((r) => r.id).sort(), [...NAMES].sort());
  });

  it("reads what the client wrote over REST, at the C store's paths", async () => {
    for (const n of NAMES) {
      const r = await rest(docUrl(n));
      assert.equal(r.status, 200, `${n}: ${r.text}`);
      assert.equal(r.json.name, `projects/${PROJECT}/databases/(default)/documents/candidates/${n}`, n);
      assert.deepEqual(r.json.fields, { CandidateName: { stringValue: n } }, n);
    }
    // A missing document: 404 with Google's error JSON.
    const miss = await rest(docUrl('nobody here'));
    assert.equal(miss.status, 404);
    assert.equal(miss.json.error.code, 404);
    assert.equal(miss.json.error.status, 'NOT_FOUND');
    assert.match(miss.json.error.message, /^Document .*candidates\/nobody here.* not found\.$/);

    // documents.list, page by page; a page size that divides the count
    // ends on a full page that still carries a token, then an empty {}.
    for (const size of [4, 7, 23, 100]) {
      const { ids, pages } = await restList(size);
      assert.deepEqual([...ids].sort(), [...NAMES].sort(), `pageSize ${size}`);
      assert.equal(new Set(ids).size, ids.length, `pageSize ${size}: no duplicates`);
      const sorted = [...ids].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
      assert.deepEqual(ids, sorted, `pageSize ${size}: ordered by id, bytewise`);
      const lastPage = pages[pages.length - 1];
      if (NAMES.length % size === 0) {
        assert.deepEqual(lastPage, { n: 0, keys: [] }, `pageSize ${size}: an empty last page`);
      } else {
        assert.deepEqual(lastPage.keys, ['documents'], `pageSize ${size}: no token on the last page`);
      }
    }
  });

  it('lets the official client read what REST wrote, a PATCH replacing the whole document', async () => {
    const written = NAMES.map((n) => `rest ${n}`.slice(0, 255));
    for (const n of written) {
      const r = await rest(docUrl(n), { method: 'PATCH', body: { fields: { CandidateName: { stringValue: n } } } });
      assert.equal(r.status, 200, `${n}: ${r.text}`);
      assert.deepEqual(r.json.fields, { CandidateName: { stringValue: n } });
      assert.ok(r.json.createTime && r.json.updateTime, 'a written document carries its times');
    }
    const col = db.collection('candidates');
    for (const n of written) {
      const s = await col.doc(n).get();
      assert.ok(s.exists, n);
      assert.deepEqual(s.data(), { CandidateName: n }, n);
    }
    // Without updateMask a PATCH is the original's set(): fields it does
    // not name are gone, and writing it again changes nothing else.
    await col.doc('replaced').set({ CandidateName: 'replaced', Extra: 1, Nested: { a: true } });
    for (let i = 0; i < 2; i++) {
      const r = await rest(docUrl('replaced'), { method: 'PATCH',
        body: { fields: { CandidateName: { stringValue: 'replaced' } } } });
      assert.equal(r.status, 200, r.text);
      assert.deepEqual((await col.doc('replaced').get()).data(), { CandidateName: 'replaced' });
    }
    // The listing holds both writers' documents, each once.
    const ids = (await col.listDocuments()).map((r) => r.id);
    assert.deepEqual(ids.sort(), [...NAMES, ...written, 'replaced'].sort());
  });

  it('authorizes as the clients expect: "Bearer owner", a Google token or JWT, or nothing', async () => {
    // The emulator checks no signature, but it reads the header: a bearer
    // that is neither "owner", a Google access token (ya29.) nor a JWT is
    // refused, and a header that is not a bearer at all is a 500.
    const rows = [
      ['no Authorization', null, 200],
      ['Bearer owner, as the official clients send', EMULATOR_AUTH, 200],
      ['a Google access token', 'Bearer ya29.c.made-up', 200],
      ['a JWT, unverified', `Bearer ${signJwt(crypto.generateKeyPairSync('rsa', { modulusLength: 1024 })
        .privateKey.export({ type: 'pkcs8', format: 'pem' }), { iss: 'x' })}`, 200],
      ['an opaque bearer', 'Bearer not-a-token', 400, { code: 400, message: 'invalid jwt', status: 'INVALID_ARGUMENT' }],
      ['not a bearer', 'Basic eHg6eXk=', 500, { code: 500, status: 'UNKNOWN' }],
    ];
    for (const [row, auth, status, error] of rows) {
      const r = await rest(docUrl('alice'), { auth });
      assert.equal(r.status, status, `${row}: ${r.text}`);
      if (error) assert.deepEqual(r.json, { error }, row);
    }
    // showMissing is an admin read: refused without owner.
    const admin = await rest(`${docs()}/candidates?showMissing=true&pageSize=1`, { auth: null });
    assert.equal(admin.status, 403);
    assert.equal(admin.json.error.status, 'PERMISSION_DENIED');
    assert.equal((await rest(`${docs()}/candidates?showMissing=true&pageSize=1`)).status, 200);
  });

  it('resets one project between tests and leaves the others', async () => {
    const other = new Firestore({ projectId: OTHER_PROJECT });
    try {
      await other.collection('candidates').doc('kept').set({ CandidateName: 'kept' });
      assert.ok((await db.collection('candidates').listDocuments()).length > 0);
      await emu.reset(PROJECT);
      assert.deepEqual(await db.collection('candidates').listDocuments(), []);
      assert.deepEqual(await restList(10), { ids: [], pages: [{ n: 0, keys: [] }] });
      assert.ok((await other.collection('candidates').doc('kept').get()).exists);
      await emu.reset(OTHER_PROJECT);
      assert.equal((await other.collection('candidates').doc('kept').get()).exists, false);
    } finally {
      await other.terminate();
    }
  });

  it('stops by its PID: the JVM is gone and the port refuses', async (t) => {
    const mem = emu.rss();
    t.diagnostic(`emulator: RSS ${(mem.rss / 1024).toFixed(0)} MiB now, peak ${(mem.peak / 1024).toFixed(0)} MiB`);
    await emu.kill();
    assert.throws(() => process.kill(emu.pid, 0), { code: 'ESRCH' });
    await assert.rejects(fetch(`${emu.url}/`, { signal: AbortSignal.timeout(2000) }),
      (e) => /ECONNREFUSED/.test(`${e.cause?.code} ${e.message}`));
  });
});

// A gaxios transport for google-auth-library that sends what it would post
// to Google's token URL to the fake instead: the library always uses that
// URL and ignores a key file's token_uri (gtoken 8, in google-auth-library
// 10.5.0), and names it as the JWT's aud.
function redirectingTransport(tokenUri) {
  const t = new gaxios.Gaxios();
  t.interceptors.request.add({
    resolved: (opts) => {
      if (String(opts.url) === GOOGLE_TOKEN_URL) opts.url = new URL(tokenUri);
      return opts;
    },
  });
  return t;
}

async function postForm(url, form, type = 'application/x-www-form-urlencoded') {
  const r = await fetch(url, { method: 'POST', headers: { 'Content-Type': type },
    body: type.includes('json') ? JSON.stringify(form) : new URLSearchParams(form).toString(),
    signal: AbortSignal.timeout(5000) });
  return { status: r.status, json: await r.json() };
}

function rawGet(url, headers = {}, method = 'GET') {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers }, (res) => {
      let body = '';
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the Google credential fakes, judged by google-auth-library', { timeout: 60000 }, () => {
  let dir, registry, tok, sa, stranger, md, restore;

  before(async () => {
    // Nothing a developer exported may steer google-auth-library elsewhere.
    restore = setEnv({ GOOGLE_APPLICATION_CREDENTIALS: undefined, GOOGLE_CLOUD_PROJECT: undefined,
      GCLOUD_PROJECT: undefined, GCE_METADATA_HOST: undefined, GCE_METADATA_IP: undefined,
      METADATA_SERVER_DETECTION: undefined });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'google-fakes-'));
    registry = new GoogleTokenRegistry();
    tok = await startTokenServer({ registry });
    sa = makeServiceAccount(dir, { tokenUri: tok.tokenUri, projectId: PROJECT });
    tok.addAccount(sa);
    // Another account's key, never registered: what a tampered key signs with.
    stranger = makeServiceAccount(path.join(dir, 'stranger'), { tokenUri: tok.tokenUri, name: 'stranger' });
    md = await startMetadata({ registry, projectId: PROJECT });
  });

  after(async () => {
    await tok?.stop();
    await md?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    restore?.();
  });

  it('writes a key file google-auth-library reads as a service account', () => {
    const j = JSON.parse(fs.readFileSync(sa.keyFile, 'utf8'));
    assert.equal(j.type, 'service_account');
    assert.match(j.private_key, /^-----BEGIN PRIVATE KEY-----\n[\s\S]+\n-----END PRIVATE KEY-----\n$/);
    assert.match(j.private_key_id, /^[0-9a-f]{40}$/);
    assert.equal(j.token_uri, tok.tokenUri);
    assert.equal(fs.statSync(sa.keyFile).mode & 0o777, 0o600);
    const k = crypto.createPrivateKey(j.private_key);
    assert.equal(k.asymmetricKeyType, 'rsa');
    assert.equal(k.asymmetricKeyDetails.modulusLength, 2048);
  });

  it("gives google-auth-library's JWT client a token, having verified its assertion", async () => {
    tok.resetStats();
    const auth = new GoogleAuth({ keyFilename: sa.keyFile, scopes: [SCOPES.datastore],
      clientOptions: { transporter: redirectingTransport(tok.tokenUri) } });
    const client = await auth.getClient();
    assert.ok(client instanceof JWT);
    assert.equal(await auth.getProjectId(), PROJECT, 'the project from the key file');
    const { token } = await client.getAccessToken();
    assert.equal(tok.issued.length, 1);
    assert.equal(token, tok.issued[0].token);
    assert.deepEqual(tok.refused, []);
    assert.equal(tok.lastHeader.alg, 'RS256');
    const c = tok.lastClaims;
    assert.deepEqual([c.iss, c.aud, c.scope, c.exp - c.iat], [sa.email, GOOGLE_TOKEN_URL, SCOPES.datastore, 3600]);
    assert.ok(Math.abs(c.iat - Date.now() / 1000) < 5);
    assert.deepEqual(registry.verifyBearer(token), { ok: true, email: sa.email, source: 'token' });
    // The token is cached: a second call does not ask again.
    assert.equal((await client.getAccessToken()).token, token);
    assert.equal(tok.issued.length, 1);
  });

  it("refuses each bad assertion with Google's error JSON, and issues nothing", async () => {
    const now = Math.floor(Date.now() / 1000);
    const good = { iss: sa.email, scope: SCOPES.datastore, aud: tok.tokenUri, exp: now + 3600, iat: now };
    const hdr = { alg: 'RS256', typ: 'JWT', kid: sa.keyId };
    const mk = (claims, header = hdr, key = sa.privateKeyPem) => signJwt(key, claims, header);
    const tamper = (jwt) => {
      const [h, c, s] = jwt.split('.');
      const sig = Buffer.from(s, 'base64url');
      sig[10] ^= 1;
      return `${h}.${c}.${sig.toString('base64url')}`;
    };
    const rows = [
      ['a key that is not the account\'s', mk(good, hdr, stranger.privateKeyPem), 'invalid_grant', /Invalid JWT Signature/],
      ['a flipped signature bit', tamper(mk(good)), 'invalid_grant', /Invalid JWT Signature/],
      ['claims changed after signing', (() => {
        const [h, , s] = mk(good).split('.');
        return `${h}.${Buffer.from(JSON.stringify({ ...good, scope: SCOPES.cloudPlatform })).toString('base64url')}.${s}`;
      })(), 'invalid_grant', /Invalid JWT Signature/],
      ['another key id', mk(good, { ...hdr, kid: stranger.keyId }), 'invalid_grant', /Invalid JWT Signature/],
      ['wrong aud', mk({ ...good, aud: 'https://example.com/token' }), 'invalid_grant', /audience/],
      ['aud of a self-signed JWT', mk({ ...good, aud: FIRESTORE_AUDIENCE }), 'invalid_grant', /audience/],
      ['wrong scope', mk({ ...good, scope: 'https://www.googleapis.com/auth/devstorage.read_only' }),
        'invalid_scope', /devstorage/],
      ['one wrong scope of two', mk({ ...good, scope: `${SCOPES.datastore} https://www.googleapis.com/auth/gmail.send` }),
        'invalid_scope', /gmail/],
      ['no scope', mk({ ...good, scope: undefined }), 'invalid_scope', /scope/],
      ['expired', mk({ ...good, iat: now - 4000, exp: now - 400 }), 'invalid_grant', /iat and exp/],
      ['iat two minutes ahead', mk({ ...good, iat: now + 120, exp: now + 3720 }), 'invalid_grant', /iat and exp/],
      ['iat two minutes behind', mk({ ...good, iat: now - 120, exp: now + 3480 }), 'invalid_grant', /iat and exp/],
      ['longer than an hour', mk({ ...good, exp: now + 3601 }), 'invalid_grant', /60 minutes/],
      ['exp before iat', mk({ ...good, exp: now - 1 }), 'invalid_grant', /iat and exp/],
      ['iat as a string', mk({ ...good, iat: String(now) }), 'invalid_grant', /iat and exp/],
      ['unknown account', mk({ ...good, iss: stranger.email }, { ...hdr, kid: stranger.keyId }, stranger.privateKeyPem),
        'invalid_grant', /account not found/],
      ['alg HS256', mk(good, { ...hdr, alg: 'HS256' }), 'invalid_grant', /alg/],
      ['alg none', `${Buffer.from('{"alg":"none"}').toString('base64url')}.` +
        `${Buffer.from(JSON.stringify(good)).toString('base64url')}.`, 'invalid_grant', /alg/],
      ['typ JWS', mk(good, { ...hdr, typ: 'JWS' }), 'invalid_grant', /typ/],
      ['two segments', mk(good).split('.').slice(0, 2).join('.'), 'invalid_grant', /Invalid JWT/],
      ['claims not JSON', `${mk(good).split('.')[0]}.bm90IGpzb24.AAAA`, 'invalid_grant', /Invalid JWT/],
    ];
    tok.resetStats();
    for (const [row, assertion, error, desc] of rows) {
      const r = await postForm(tok.tokenUri, { grant_type: GRANT_TYPE, assertion });
      assert.equal(r.status, 400, row);
      assert.deepEqual(Object.keys(r.json).sort(), ['error', 'error_description'], row);
      assert.equal(r.json.error, error, `${row}: ${r.json.error_description}`);
      assert.match(r.json.error_description, desc, row);
    }
    // Not the bearer grant, or not a form.
    const other = [
      ['another grant type', { grant_type: 'client_credentials', assertion: mk(good) }, undefined, 'unsupported_grant_type'],
      ['a JSON body', { grant_type: GRANT_TYPE, assertion: mk(good) }, 'application/json', 'invalid_request'],
    ];
    for (const [row, form, type, error] of other) {
      const r = await postForm(tok.tokenUri, form, type);
      assert.deepEqual([r.status, r.json.error], [400, error], row);
    }
    assert.equal(tok.refused.length, rows.length + other.length);
    assert.deepEqual(tok.issued, [], 'nothing issued');
    // The same assertion, well made, is accepted: the rows failed for their
    // one fault alone.
    const ok = await postForm(tok.tokenUri, { grant_type: GRANT_TYPE, assertion: mk(good) });
    assert.equal(ok.status, 200, JSON.stringify(ok.json));
    assert.deepEqual(Object.keys(ok.json).sort(), ['access_token', 'expires_in', 'token_type']);
    assert.deepEqual([ok.json.token_type, ok.json.expires_in], ['Bearer', 3599]);
  });

  it('refuses what google-auth-library signs with a tampered key or for a wrong scope', async () => {
    tok.resetStats();
    const tampered = path.join(dir, 'tampered.json');
    fs.writeFileSync(tampered, JSON.stringify({ ...sa.json, private_key: stranger.privateKeyPem }));
    const rows = [
      ['tampered key', tampered, [SCOPES.datastore], /invalid_grant: Invalid JWT Signature/],
      ['wrong scope', sa.keyFile, ['https://www.googleapis.com/auth/devstorage.read_only'], /invalid_scope/],
    ];
    for (const [row, keyFilename, scopes, want] of rows) {
      const auth = new GoogleAuth({ keyFilename, scopes,
        clientOptions: { transporter: redirectingTransport(tok.tokenUri) } });
      const client = await auth.getClient();
      await assert.rejects(client.getAccessToken(), (e) => {
        assert.match(e.message, want, row);
        return true;
      }, row);
    }
    assert.deepEqual(tok.issued, []);
    assert.equal(tok.refused.length, 2);
  });

  it('issues expiring tokens, and the client comes back for a new one', async () => {
    const short = await startTokenServer({ registry, lifetimeSec: 2 });
    try {
      const client = new JWT({ email: sa.email, key: sa.privateKeyPem, keyId: sa.keyId,
        scopes: [SCOPES.datastore], eagerRefreshThresholdMillis: 500,
        transporter: redirectingTransport(short.tokenUri) });
      const first = (await client.getAccessToken()).token;
      assert.equal((await client.getAccessToken()).token, first, 'cached while fresh');
      assert.equal(short.issued.length, 1);
      await sleep(1600);
      const second = (await client.getAccessToken()).token;
      assert.notEqual(second, first);
      assert.equal(short.issued.length, 2);
      await sleep(Math.max(0, short.issued[0].expiresAt - Date.now() + 50));
      assert.deepEqual(registry.verifyBearer(first), { ok: false, why: 'access token expired' });
      assert.equal(registry.verifyBearer(second).ok, true);
    } finally {
      await short.stop();
    }
  });

  it("verifies google-auth-library's self-signed JWTs, and refuses altered ones", async () => {
    const signer = new JWTAccess(sa.email, sa.privateKeyPem, sa.keyId);
    const bearer = (s, aud) => s.getRequestHeaders(aud).get('authorization').replace(/^Bearer /, '');
    const jwt = bearer(signer, FIRESTORE_AUDIENCE);
    const [h, c] = jwt.split('.').slice(0, 2).map((s) => JSON.parse(Buffer.from(s, 'base64url')));
    assert.deepEqual(h, { alg: 'RS256', typ: 'JWT', kid: sa.keyId });
    assert.deepEqual(Object.keys(c), ['iss', 'sub', 'aud', 'exp', 'iat']);
    assert.deepEqual(registry.verifyBearer(jwt), { ok: true, email: sa.email, source: 'self-signed' });
    const rows = [
      ['another audience', bearer(signer, 'https://storage.googleapis.com/'), /not https:\/\/firestore/],
      ['a stranger\'s key', bearer(new JWTAccess(sa.email, stranger.privateKeyPem, sa.keyId),
        FIRESTORE_AUDIENCE), /Signature/],
      ['no kid', bearer(new JWTAccess(sa.email, sa.privateKeyPem), FIRESTORE_AUDIENCE), /no kid/],
      ['an opaque token', 'ya29.made-up', /Invalid JWT/],
    ];
    for (const [row, token, why] of rows) {
      const v = registry.verifyBearer(token);
      assert.equal(v.ok, false, row);
      assert.match(v.why, why, row);
    }
  });

  it("feeds google-auth-library's Compute client through GCE_METADATA_HOST", async () => {
    const back = setEnv({ GCE_METADATA_HOST: md.host });
    try {
      gcpMetadata.resetIsAvailableCache();
      md.resetStats();
      assert.equal(await gcpMetadata.isAvailable(), true, 'detected as a GCE metadata server');
      const compute = new Compute();
      const { token } = await compute.getAccessToken();
      assert.equal(token, md.issued[0].token);
      assert.equal(md.tokenGets, 1);
      assert.deepEqual(registry.verifyBearer(token), { ok: true, email: md.email, source: 'metadata' });
      assert.equal(await gcpMetadata.project('project-id'), PROJECT);
      assert.equal(String(await gcpMetadata.instance('id')), md.instanceId, 'the id, to its last digit');
      assert.equal(md.forbidden, 0, 'the client always sent Metadata-Flavor');
    } finally {
      back();
      gcpMetadata.resetIsAvailableCache();
    }
  });

  it('refuses requests without Metadata-Flavor, or forwarded, as GCE does', async () => {
    md.resetStats();
    const tokenPath = '/computeMetadata/v1/instance/service-accounts/default/token';
    const flavor = { 'Metadata-Flavor': 'Google' };
    const rows = [
      ['no header', 'GET', tokenPath, {}, 403],
      ['wrong flavor', 'GET', tokenPath, { 'Metadata-Flavor': 'Amazon' }, 403],
      ['forwarded', 'GET', tokenPath, { ...flavor, 'X-Forwarded-For': '203.0.113.9' }, 403],
      ['forwarded, empty', 'GET', '/computeMetadata/v1/instance/id', { ...flavor, 'X-Forwarded-For': '' }, 403],
      ['project id without header', 'GET', '/computeMetadata/v1/project/project-id', {}, 403],
      ['POST', 'POST', tokenPath, flavor, 405],
      ['unknown path', 'GET', '/computeMetadata/v1/instance/nothing', flavor, 404],
      ['unknown account', 'GET', '/computeMetadata/v1/instance/service-accounts/x@y/token', flavor, 404],
      ['root, no header needed', 'GET', '/', {}, 200],
      ['instance id', 'GET', '/computeMetadata/v1/instance/id', flavor, 200],
    ];
    for (const [row, method, p, headers, status] of rows) {
      const r = await rawGet(md.url + p, headers, method);
      assert.equal(r.status, status, `${row}: ${r.body}`);
      assert.equal(r.headers['metadata-flavor'], 'Google', `${row}: every answer says it is Google's`);
    }
    assert.equal(md.forbidden, 5);
    assert.equal(md.tokenGets, 0, 'no token left the server');
  });

  it('shares the token until little of its life is left, then issues another', async () => {
    const short = await startMetadata({ registry, lifetimeSec: 3, rotateBeforeSec: 1 });
    try {
      const get = async () => JSON.parse((await rawGet(`${short.url}/computeMetadata/v1/instance/service-` +
        'accounts/default/token?scopes=https://www.googleapis.com/auth/datastore',
      { 'Metadata-Flavor': 'Google' })).body);
      const a = await get();
      const b = await get();
      assert.equal(b.access_token, a.access_token);
      assert.equal(a.token_type, 'Bearer');
      assert.ok(a.expires_in >= 2 && a.expires_in <= 3, `expires_in ${a.expires_in}`);
      await sleep(2100);
      const c = await get();
      assert.notEqual(c.access_token, a.access_token);
      assert.equal(short.issued.length, 2);
      assert.equal(short.tokenGets, 3);
    } finally {
      await short.stop();
    }
  });
});
