'use strict';
// The Cosmos DB stand-ins are only as good as their likeness to Azure.
// Here the official clients judge them: @azure/cosmos must work through
// the verifying proxy with the account key (its signatures pass) and with
// a managed identity's token, and get the answers real Cosmos DB gives for
// a wrong key, a stale date, a tampered request, a foreign or expired
// token; @azure/identity's ManagedIdentityCredential must get its token
// from the fake IMDS through the documented override of the IMDS host; and
// every fault the proxy injects must be what it says. If these fail, the
// store tests prove nothing.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const https = require('node:https');
const os = require('node:os');
const path = require('node:path');
const {
  startCosmosServer, cosmosClient, createCandidatesContainer, sdkAuthHeaders, DATABASE, CONTAINER,
} = require('../lib/cosmosdb');
const { startCosmosProxy, randomKey } = require('../lib/cosmos-proxy');
const { startAzureImds, TokenRegistry, COSMOS_RESOURCE } = require('../lib/fake-azure-imds');
const { makeTestCerts } = require('../lib/sigv4-proxy');

const CLIENT_ID = '6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b';
const LINK = `dbs/${DATABASE}/colls/${CONTAINER}`;
const DOCS = `/${LINK}/docs`;
const TOKEN_LIFETIME_MS = 2000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Names of every shape the service may store (docs/contract.md).
const NAMES = ['alice', 'Ada Lovelace', 'a+b=c&d', 'q%20r', '"quoted" <x>', 'x:y;z@w', 'a*b(c)!\'',
  '\u00e9t\u00e9', '\ud83d\ude00 emoji', '...', 'n'.repeat(255)];

describe('Cosmos DB stand-ins judged by the official Azure clients', { timeout: 120000 }, () => {
  let server, proxy, imds, tokens, sdk, coll, agent;
  const clients = [];
  const client = (opts) => {
    const c = cosmosClient({ endpoint: proxy.url, ca: proxy.certs.ca, ...opts });
    clients.push(c);
    return c;
  };

  // One raw HTTPS request to the proxy, trusting its test CA and nothing
  // else; resolves to { status, headers, text, json }.
  function raw({ method = 'GET', path: p, headers: given = {}, body, timeout = 5000, via = agent }) {
    // A header set to undefined is left out.
    const headers = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined));
    return new Promise((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port: proxy.port, method, path: p, headers,
        agent: via, timeout }, (res) => {
        const out = [];
        res.on('data', (c) => out.push(c));
        res.on('end', () => {
          const text = Buffer.concat(out).toString('utf8');
          let json = null;
          try { json = JSON.parse(text); } catch { /* not JSON */ }
          resolve({ status: res.statusCode, headers: res.headers, text, json });
        });
      });
      req.on('timeout', () => req.destroy(Object.assign(new Error('client timeout'), { code: 'TIMEOUT' })));
      req.on('error', reject);
      req.end(body);
    });
  }

  // A request signed by @azure/cosmos's own signer, with the account key
  // unless told otherwise; `sign` overrides what is signed.
  async function signed({ method, path: p, type = 'docs', link, key = proxy.accountKeys[0],
    date = new Date(), headers = {}, body, sign = {}, timeout, via }) {
    const h = await sdkAuthHeaders(key, sign.method || method, type, sign.link ?? link, date);
    return raw({ method, path: p, body, timeout, via, headers: {
      authorization: h.authorization, 'x-ms-date': sign.date || h['x-ms-date'], 'x-ms-version': '2018-12-31',
      ...headers,
    } });
  }

  const readItem = (name, opts = {}) => signed({ method: 'GET', path: `${DOCS}/${encodeURIComponent(name)}`,
    link: `${LINK}/docs/${name}`, ...opts,
    headers: { 'x-ms-documentdb-partitionkey': JSON.stringify([name]), ...(opts.headers || {}) } });
  const upsertItem = (name, opts = {}) => signed({ method: 'POST', path: DOCS, link: LINK,
    body: opts.body ?? JSON.stringify({ id: name, CandidateName: name }), ...opts,
    headers: { 'content-type': 'application/json', 'x-ms-documentdb-is-upsert': 'True',
      'x-ms-documentdb-partitionkey': JSON.stringify([name]), ...(opts.headers || {}) } });
  const queryPage = (continuation, max, opts = {}) => signed({ method: 'POST', path: DOCS, link: LINK,
    body: JSON.stringify({ query: 'SELECT c.id FROM c', parameters: [] }), ...opts,
    headers: { 'content-type': 'application/query+json', 'x-ms-documentdb-isquery': 'True',
      'x-ms-documentdb-query-enablecrosspartition': 'True', 'x-ms-max-item-count': String(max),
      ...(continuation ? { 'x-ms-continuation': continuation } : {}), ...(opts.headers || {}) } });

  // Every id, following x-ms-continuation to the end with raw requests.
  async function rawListing(max) {
    const ids = [];
    const pages = [];
    let cont = null;
    for (let i = 0; i < 500; i++) {
      const r = await queryPage(cont, max);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json._count, r.json.Documents.length);
      pages.push(r.json.Documents.length);
      for (const d of r.json.Documents) ids.push(d.id);
      cont = r.headers['x-ms-continuation'];
      if (!cont) return { ids, pages };
    }
    throw new Error('the listing never ended');
  }

  async function sdkListing(c, max) {
    const ids = [];
    const pages = [];
    const it = c.database(DATABASE).container(CONTAINER).items.query('SELECT c.id FROM c',
      { maxItemCount: max });
    while (it.hasMoreResults()) {
      const p = await it.fetchNext();
      pages.push(p.resources.length);
      for (const d of p.resources) ids.push(d.id);
    }
    return { ids, pages };
  }

  before(async () => {
    tokens = new TokenRegistry();
    server = await startCosmosServer();
    proxy = await startCosmosProxy({ upstreamPort: server.port, tokens });
    imds = await startAzureImds({ tokens, identities: [CLIENT_ID], lifetimeMs: TOKEN_LIFETIME_MS,
      resources: [COSMOS_RESOURCE, proxy.url] });
    agent = new https.Agent({ ca: fs.readFileSync(proxy.certs.ca), keepAlive: true });
    sdk = client({ key: proxy.accountKeys[0] });
    coll = await createCandidatesContainer(sdk);
  });

  after(async () => {
    for (const c of clients) c.dispose();
    agent?.destroy();
    await proxy?.stop();
    await imds?.stop();
    await server?.stop();
  });

  it('serves @azure/cosmos with the account key: upsert, point read, a paged query to the end', async () => {
    proxy.resetStats();
    for (const n of NAMES) {
      const r = await coll.items.upsert({ id: n, CandidateName: n });
      assert.equal(r.statusCode, 201, n);
    }
    assert.equal((await coll.items.upsert({ id: 'alice', CandidateName: 'alice' })).statusCode, 200,
      'a second upsert replaces');
    for (const n of NAMES) {
      const r = await coll.item(n, n).read();
      assert.equal(r.statusCode, 200, n);
      assert.deepEqual([r.resource.id, r.resource.CandidateName], [n, n], n);
    }
    assert.equal((await coll.item('nobody', 'nobody').read()).statusCode, 404);
    // The stand-in looks an unknown id up as a resource id too: a name
    // that is another item's _rid must still be that name or nothing.
    const rid = (await coll.item('alice', 'alice').read()).resource._rid;
    assert.equal((await coll.item(rid, rid).read()).statusCode, 404, 'an _rid is not an id');

    proxy.inject('shortPage', { count: 2, items: 1 });
    const { ids, pages } = await sdkListing(sdk, 3);
    assert.deepEqual([...ids].sort(), [...NAMES].sort(), 'every name once');
    assert.deepEqual(pages.slice(0, 2), [1, 1], 'two short pages first');
    assert.ok(pages.length >= 5, `pages ${pages}`);

    const st = proxy.stats;
    assert.deepEqual(Object.values(st.refused).filter((v) => v !== 0), [], JSON.stringify(st.refused));
    assert.equal(st.auth.master, st.requests, 'every request signed with the key, and checked');
    assert.equal(st.ops.upsert, NAMES.length + 1);
    assert.equal(st.ops.read, NAMES.length + 3);
    assert.equal(st.faultsServed, 2);
    assert.ok(st.tlsHandshakes >= 1);
  });

  it('records the headers the SDK sends on a point read, an upsert and a query', async (t) => {
    proxy.resetStats();
    await coll.item('\u00e9t\u00e9', '\u00e9t\u00e9').read();
    await coll.items.upsert({ id: 'Ada Lovelace', CandidateName: 'Ada Lovelace' });
    await sdkListing(sdk, 4);
    const rfc7231 = /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/;
    const read = proxy.last('read').headers;
    const upsert = proxy.last('upsert').headers;
    const query = proxy.last('query').headers;
    for (const [op, h] of [['read', read], ['upsert', upsert], ['query', query]]) {
      assert.equal(h['x-ms-version'], '2020-07-15', op);
      assert.match(h['x-ms-date'], rfc7231, op);
      assert.match(decodeURIComponent(h.authorization), /^type=master&ver=1\.0&sig=[A-Za-z0-9+/]{43}=$/, op);
      assert.equal(h['x-ms-documentdb-query-enablecrosspartition'], 'true', op);
      assert.equal(h['x-ms-consistency-level'], undefined, op);
      const shown = Object.entries(h).filter(([k]) => k !== 'authorization' &&
        (k.startsWith('x-ms-') || k === 'content-type')).map(([k, v]) => `${k}: ${v}`);
      t.diagnostic(`${op} ${proxy.last(op).method} ${proxy.last(op).url}\n  ${shown.join('\n  ')}`);
    }
    // The partition key goes as JSON with non-ASCII escaped, as
    // cosmos_partition_key writes it.
    assert.equal(read['x-ms-documentdb-partitionkey'], '["\\u00e9t\\u00e9"]');
    assert.equal(upsert['x-ms-documentdb-partitionkey'], '["Ada Lovelace"]');
    assert.equal(upsert['x-ms-documentdb-is-upsert'], 'true');
    assert.equal(upsert['content-type'], 'application/json');
    assert.equal(query['content-type'], 'application/query+json');
    assert.equal(query['x-ms-documentdb-isquery'], 'true');
    assert.equal(query['x-ms-max-item-count'], '4');
    assert.equal(query['x-ms-documentdb-partitionkey'], undefined);
    // The account document sends clients to the proxy, and says Strong.
    const { resource: account } = await sdk.getDatabaseAccount();
    assert.equal(account.consistencyPolicy, 'Strong');
    assert.deepEqual(account.writableLocations.map((l) => l.databaseAccountEndpoint), [`${proxy.url}/`]);
  });

  it('refuses what Cosmos DB refuses, with its status and body, and writes nothing', async () => {
    const now = Date.now();
    const foreign = tokens.issue({ resource: 'https://management.azure.com', clientId: CLIENT_ID,
      lifetimeMs: 60000 });
    const expired = tokens.issue({ resource: COSMOS_RESOURCE, clientId: CLIENT_ID, lifetimeMs: 1000,
      now: now - 5000 });
    const aad = (token) => ({ authorization: encodeURIComponent(`type=aad&ver=1.0&sig=${token}`) });
    const rows = [
      { row: 'a key not the account\'s', opts: { key: randomKey() }, status: 401, code: 'Unauthorized',
        msg: /can't serve the request.*payload to sign: 'post\ndocs\ndbs\/CandidateDatabase\/colls\/Candidates\n/s,
        counter: 'badSignature' },
      { row: 'the date 16 minutes old', opts: { date: new Date(now - 16 * 60000) }, status: 403,
        code: 'Forbidden', msg: /not valid at the current time/, counter: 'staleDate' },
      { row: 'the date 10 minutes ahead', opts: { date: new Date(now + 10 * 60000) }, status: 403,
        code: 'Forbidden', msg: /token start time: .* GMT, token expiry time/, counter: 'staleDate' },
      { row: 'signed for another resource link', opts: { sign: { link: `${LINK}/docs/other` } },
        status: 401, code: 'Unauthorized', msg: /can't serve the request/, counter: 'badSignature' },
      { row: 'signed for another verb', opts: { sign: { method: 'GET' } }, status: 401,
        code: 'Unauthorized', msg: /can't serve the request/, counter: 'badSignature' },
      { row: 'x-ms-date changed after signing', opts: { date: new Date(now),
        sign: { date: new Date(now + 1000).toUTCString() } },
        status: 401, code: 'Unauthorized', msg: /can't serve the request/, counter: 'badSignature' },
      { row: 'no Authorization', opts: { headers: { authorization: undefined } }, status: 401, code: 'Unauthorized',
        msg: /authorization is missing/, counter: 'missingAuth' },
      { row: 'a bearer token', opts: { headers: { authorization: 'Bearer abc' } }, status: 401,
        code: 'Unauthorized', msg: /malformed/, counter: 'malformedAuth' },
      { row: 'a token IMDS never issued', opts: { headers: aad('fake-entra.never-issued') }, status: 401,
        code: 'Unauthorized', msg: /^Request blocked by Auth/, counter: 'unknownToken' },
      { row: 'an expired token', opts: { headers: aad(expired.token) }, status: 401, code: 'Unauthorized',
        msg: /Provided AAD token has been expired since \[.*\(UTC\)\]\. Current server time is/,
        counter: 'expiredToken' },
      { row: 'a token for another audience', opts: { headers: aad(foreign.token) }, status: 401,
        code: 'Unauthorized', msg: /intended for \[https:\/\/management\.azure\.com\]/,
        counter: 'wrongAudience' },
      { row: 'a partition key that is not the item\'s', opts: { headers: { 'x-ms-documentdb-partitionkey': '["x"]' } },
        status: 400, code: 'BadRequest', msg: /PartitionKey extracted from document doesn't match/,
        counter: 'badRequest', substatus: '1001' },
      { row: 'no partition key', opts: { headers: { 'x-ms-documentdb-partitionkey': undefined } },
        status: 400, code: 'BadRequest', msg: /PartitionKey value must be supplied/, counter: 'badRequest' },
    ];
    for (const r of rows) {
      const name = `must-not-exist ${r.row}`;
      const before = proxy.stats.refused[r.counter];
      const res = await upsertItem(name, r.opts);
      assert.equal(res.status, r.status, `${r.row}: ${res.text}`);
      assert.equal(res.json.code, r.code, r.row);
      assert.match(res.json.message, r.msg, r.row);
      assert.match(res.json.message, /\r\nActivityId: [0-9a-f-]{36}, /, `${r.row}: Cosmos DB's trailer`);
      if (r.substatus) assert.equal(res.headers['x-ms-substatus'], r.substatus, r.row);
      assert.equal(proxy.stats.refused[r.counter], before + 1, `${r.row}: ${r.counter}`);
      assert.equal((await coll.item(name, name).read()).statusCode, 404, `${r.row}: nothing written`);
    }
    // The controls: the secondary key, a lower-case date (as some clients
    // send it) and a date 4 minutes ahead all pass.
    for (const [row, opts] of [['secondary key', { key: proxy.accountKeys[1] }],
      ['lower-case x-ms-date', { date: new Date(now), sign: { date: new Date(now).toUTCString().toLowerCase() } }],
      ['4 minutes ahead', { date: new Date(now + 4 * 60000) }]]) {
      const name = `control ${row}`;
      const res = await upsertItem(name, opts);
      assert.equal(res.status, 201, `${row}: ${res.text}`);
      assert.equal((await coll.item(name, name).read()).statusCode, 200, row);
    }
    // A query must say it crosses partitions, and be a query.
    let q = await queryPage(null, 5, { headers: { 'x-ms-documentdb-query-enablecrosspartition': 'False' } });
    assert.equal(q.status, 400);
    assert.equal(q.headers['x-ms-substatus'], '1004');
    assert.match(q.json.message, /^Cross partition query is required but disabled/);
    q = await queryPage('{"token":"+RID:garbled', 5);
    assert.equal(q.status, 400, 'a mangled continuation is refused, not read as the top');
    assert.match(q.json.message, /^Invalid Continuation Token/);
    q = await queryPage(null, 5, { headers: { 'x-ms-consistency-level': 'Bogus' } });
    assert.equal(q.status, 400);
    q = await queryPage(null, 5, { headers: { 'x-ms-consistency-level': 'Strong' } });
    assert.equal(q.status, 200, 'Strong is the account\'s level');
  });

  it("lets ManagedIdentityCredential get a token from the fake IMDS, and @azure/cosmos pass with it", async () => {
    const saved = process.env.AZURE_POD_IDENTITY_AUTHORITY_HOST;
    process.env.AZURE_POD_IDENTITY_AUTHORITY_HOST = imds.url;
    try {
      const { ManagedIdentityCredential } = require('@azure/identity');
      imds.resetStats();
      proxy.resetStats();
      const cred = new ManagedIdentityCredential({ clientId: CLIENT_ID });
      const tok = await cred.getToken(`${COSMOS_RESOURCE}/.default`);
      const issued = tokens.get(tok.token);
      assert.ok(issued, 'the token is one the fake IMDS issued');
      assert.deepEqual([issued.resource, issued.clientId], [COSMOS_RESOURCE, CLIENT_ID]);
      // msal turns expires_on into a lifetime when the answer comes and
      // adds it to the request's time, both rounded to the second: it may
      // read a second early when a second's boundary falls in between.
      const early = issued.expiresAt - tok.expiresOnTimestamp;
      assert.ok(early === 0 || early === 1000,
        `expires_on read as IMDS states it: ${tok.expiresOnTimestamp} vs ${issued.expiresAt}`);
      assert.equal(imds.stats.log[0].query['api-version'], '2018-02-01');
      assert.equal(imds.stats.log[0].headers.metadata, 'true');

      const c = client({ aadCredentials: cred });
      const ac = c.database(DATABASE).container(CONTAINER);
      assert.equal((await ac.items.upsert({ id: 'by identity', CandidateName: 'by identity' })).statusCode, 201);
      assert.equal((await ac.item('by identity', 'by identity').read()).resource.id, 'by identity');
      const { ids } = await sdkListing(c, 50);
      assert.ok(ids.includes('by identity'));
      assert.equal(proxy.stats.auth.master, 0);
      assert.ok(proxy.stats.auth.aad >= 3, `aad ${proxy.stats.auth.aad}`);
      assert.equal(proxy.stats.refused.expiredToken, 0);
      assert.ok(imds.stats.issuedTo[CLIENT_ID] >= 1);

      // The token dies on time; the SDK's next request gets a fresh one.
      await sleep(issued.expiresAt - Date.now() + 50);
      const old = await readItem('by identity', { headers: {
        authorization: encodeURIComponent(`type=aad&ver=1.0&sig=${tok.token}`) } });
      assert.equal(old.status, 401);
      assert.match(old.json.message, /has been expired since/);
      const before = imds.stats.issued;
      assert.equal((await ac.item('by identity', 'by identity').read()).statusCode, 200);
      assert.ok(imds.stats.issued > before, 'refreshed from IMDS');

      const stranger = new ManagedIdentityCredential({ clientId: crypto.randomUUID() });
      await assert.rejects(stranger.getToken(`${COSMOS_RESOURCE}/.default`), /Identity not found/);
    } finally {
      if (saved === undefined) delete process.env.AZURE_POD_IDENTITY_AUTHORITY_HOST;
      else process.env.AZURE_POD_IDENTITY_AUTHORITY_HOST = saved;
    }
  });

  it('answers as Azure IMDS does, and refuses what it refuses', async () => {
    const get = (p, headers = {}, method = 'GET') => new Promise((resolve, reject) => {
      const req = http.request(`${imds.url}${p}`, { method, headers }, (res) => {
        let body = '';
        res.on('data', (c) => { body += c; });
        res.on('end', () => resolve({ status: res.statusCode, json: JSON.parse(body) }));
      });
      req.on('error', reject);
      req.end();
    });
    const token = (q) => '/metadata/identity/oauth2/token?' +
      new URLSearchParams(Object.entries(q).filter(([, v]) => v !== undefined));
    const good = { 'api-version': '2018-02-01', resource: COSMOS_RESOURCE, client_id: CLIENT_ID };
    const M = { Metadata: 'true' };
    imds.resetStats();
    const rows = [
      ['no Metadata header', token(good), {}, 400, /Required metadata header not specified/],
      ['Metadata: false', token(good), { Metadata: 'false' }, 400, /Required metadata header/],
      ['relayed by a proxy', token(good), { ...M, 'X-Forwarded-For': '10.0.0.7' }, 400, /X-Forwarded-For/],
      ['no api-version', token({ resource: COSMOS_RESOURCE }), M, 400, /api-version/],
      ['no resource', token({ 'api-version': '2018-02-01' }), M, 400, /Required audience parameter/],
      ['an unknown resource', token({ ...good, resource: 'https://vault.example' }), M, 400, /AADSTS500011/],
      ['another identity', token({ ...good, client_id: crypto.randomUUID() }), M, 400, /Identity not found/],
      ['by object id', token({ ...good, client_id: undefined, object_id: CLIENT_ID }), M, 400,
        /Identity not found/],
      ['instance without api-version', '/metadata/instance/compute', M, 400, /api-version was not specified/],
      ['an unknown path', '/metadata/nothing?api-version=2021-02-01', M, 404, /API not found/],
    ];
    for (const [row, p, headers, status, msg] of rows) {
      const r = await get(p, headers);
      assert.equal(r.status, status, row);
      assert.match(r.json.error_description || r.json.error, msg, row);
    }
    assert.equal((await get(token(good), M, 'POST')).status, 405);
    assert.equal(imds.stats.issued, 0, 'no token for any of those');

    const t0 = Date.now();
    const r = await get(token(good), M);
    assert.equal(r.status, 200);
    assert.deepEqual(Object.keys(r.json).sort(), ['access_token', 'client_id', 'expires_in', 'expires_on',
      'ext_expires_in', 'not_before', 'resource', 'token_type']);
    for (const k of ['expires_in', 'expires_on', 'ext_expires_in', 'not_before']) {
      assert.match(r.json[k], /^\d+$/, `${k} is a string of digits, as Azure sends it`);
    }
    assert.equal(r.json.token_type, 'Bearer');
    assert.equal(r.json.client_id, CLIENT_ID);
    const expiresOn = Number(r.json.expires_on) * 1000;
    assert.ok(expiresOn > t0 && expiresOn <= t0 + TOKEN_LIFETIME_MS + 1000, `expires_on ${expiresOn - t0} ms ahead`);
    assert.equal(tokens.get(r.json.access_token).expiresAt, expiresOn);
    assert.equal(imds.stats.issued, 1);
    // With one user-assigned identity and no system one, client_id is optional.
    assert.equal((await get(token({ ...good, client_id: undefined }), M)).status, 200);

    const compute = await get('/metadata/instance/compute?api-version=2021-02-01&format=json', M);
    assert.equal(compute.status, 200);
    assert.deepEqual([compute.json.vmId, compute.json.name], [imds.vmId, imds.name]);
    const instance = await get('/metadata/instance?api-version=2021-02-01', M);
    assert.equal(instance.json.compute.vmId, imds.vmId);
  });

  it('injects each fault as it says', async () => {
    await coll.items.upsert({ id: 'faulty', CandidateName: 'faulty' });
    proxy.resetStats();
    const rows = [
      { row: 'throttle', kind: 'throttle', opts: { ms: 120 }, status: 429, code: '429',
        headers: { 'x-ms-retry-after-ms': '120', 'x-ms-substatus': '3200' }, msg: /Request rate is large/ },
      { row: 'retry with', kind: 'retryWith', status: 449, code: 'RetryWith', msg: /Conflicting request/ },
      { row: 'request timeout', kind: 'timeout', status: 408, code: 'RequestTimeout', msg: /timed out/ },
      { row: 'unavailable', kind: 'unavailable', status: 503, code: 'ServiceUnavailable', msg: /unavailable/ },
      { row: 'any error', kind: 'error', opts: { status: 500, code: 'InternalServerError', message: 'boom' },
        status: 500, code: 'InternalServerError', msg: /^boom\r\n/ },
      { row: 'garbage', kind: 'garbage', status: 200, text: /^<html>/ },
      { row: 'garbage 401', kind: 'garbage', opts: { status: 401, body: 'Unauthorized' }, status: 401,
        text: /^Unauthorized$/ },
    ];
    for (const r of rows) {
      const before = proxy.stats.faultsServed;
      proxy.inject(r.kind, { count: 1, op: 'read', ...(r.opts || {}) });
      const res = await readItem('faulty');
      assert.equal(res.status, r.status, r.row);
      if (r.code) assert.equal(res.json.code, r.code, r.row);
      if (r.msg) assert.match(res.json.message, r.msg, r.row);
      if (r.text) assert.match(res.text, r.text, r.row);
      for (const [h, v] of Object.entries(r.headers || {})) assert.equal(res.headers[h], v, `${r.row}: ${h}`);
      assert.equal(proxy.stats.faultsServed, before + 1, r.row);
      assert.equal((await readItem('faulty')).status, 200, `${r.row}: one request only`);
    }

    // delay, hang and close, timed.
    proxy.inject('delay', { ms: 250 });
    let t0 = Date.now();
    assert.equal((await readItem('faulty')).status, 200);
    assert.ok(Date.now() - t0 >= 250, 'delayed');
    proxy.inject('hang');
    t0 = Date.now();
    await assert.rejects(readItem('faulty', { timeout: 300 }), { code: 'TIMEOUT' });
    assert.ok(Date.now() - t0 >= 290);
    proxy.inject('close');
    await assert.rejects(readItem('faulty'), (e) => /ECONNRESET|socket hang up/.test(`${e.code} ${e.message}`));

    // count and op: two 449s for upserts only; a read in between passes.
    proxy.inject('retryWith', { count: 2, op: 'upsert' });
    assert.equal((await readItem('faulty')).status, 200);
    assert.equal((await upsertItem('faulty')).status, 449);
    assert.equal((await upsertItem('faulty')).status, 449);
    assert.equal((await upsertItem('faulty')).status, 200);

    // The SDK honours x-ms-retry-after-ms as it does Cosmos DB's.
    const patient = client({ key: proxy.accountKeys[0], maxRetries: 3 });
    proxy.resetStats();
    proxy.inject('throttle', { count: 2, ms: 150, op: 'read' });
    t0 = Date.now();
    const got = await patient.database(DATABASE).container(CONTAINER).item('faulty', 'faulty').read();
    assert.equal(got.statusCode, 200);
    assert.equal(proxy.stats.ops.read, 3, 'two 429s, then the answer');
    assert.ok(Date.now() - t0 >= 300, `waited ${Date.now() - t0} ms`);
    proxy.clearFaults();
  });

  it('serves short and empty query pages that carry on, and the SDK still lists every item once', async () => {
    const all = (await rawListing(1000)).ids.sort();
    assert.ok(all.length >= NAMES.length);
    // An empty first page still carries a continuation, and it leads on.
    proxy.inject('emptyPage');
    const first = await queryPage(null, 3);
    assert.equal(first.status, 200);
    assert.deepEqual([first.json.Documents, first.json._count], [[], 0]);
    assert.ok(first.headers['x-ms-continuation'], 'an empty page is not the last');
    const next = await queryPage(first.headers['x-ms-continuation'], 3);
    assert.equal(next.json.Documents.length, 3, 'the continuation starts at the top');
    // A second empty page stays where the first left off, but its token
    // has moved on (Cosmos DB counts round trips in it); a stuck one has
    // not, as a service that makes no progress would answer.
    proxy.inject('emptyPage');
    const again = await queryPage(first.headers['x-ms-continuation'], 3);
    assert.deepEqual(again.json.Documents, []);
    assert.notEqual(again.headers['x-ms-continuation'], first.headers['x-ms-continuation']);
    assert.deepEqual((await queryPage(again.headers['x-ms-continuation'], 3)).json.Documents,
      next.json.Documents, 'the moved-on token starts where the first did');
    proxy.inject('stuckPage');
    const stuck = await queryPage(first.headers['x-ms-continuation'], 3);
    assert.equal(stuck.headers['x-ms-continuation'], first.headers['x-ms-continuation']);
    // A short page: fewer than asked, and not the last.
    proxy.inject('shortPage', { items: 2 });
    const short = await queryPage(null, 5);
    assert.equal(short.json.Documents.length, 2);
    assert.ok(short.headers['x-ms-continuation']);
    // Raw and SDK listings through empty and short pages: every id, once.
    proxy.inject('emptyPage', { count: 2 });
    proxy.inject('shortPage', { count: 3, items: 1 });
    const r = await rawListing(4);
    assert.deepEqual(r.ids.sort(), all);
    assert.deepEqual(r.pages.slice(0, 5), [0, 0, 1, 1, 1]);
    const served = proxy.stats.faultsServed;
    proxy.inject('emptyPage', { count: 3 });
    const s = await sdkListing(sdk, 4);
    assert.deepEqual(s.ids.sort(), all);
    assert.equal(proxy.stats.faultsServed, served + 3, 'the SDK went through three empty pages');
    proxy.clearFaults();
  });

  it('takes the store down and up, and trusts the stand-in by its pinned certificate only', async () => {
    // The proxy down: refused.
    await proxy.down();
    const fresh = new https.Agent({ ca: fs.readFileSync(proxy.certs.ca) });
    await assert.rejects(readItem('faulty', { via: fresh }), (e) => e.code === 'ECONNREFUSED');
    await proxy.up();
    assert.equal((await readItem('faulty', { via: fresh })).status, 200);
    fresh.destroy();
    // Our pooled connections died with the proxy: a new pool.
    agent.destroy();
    agent = new https.Agent({ ca: fs.readFileSync(proxy.certs.ca), keepAlive: true });
    // Another server with a certificate our own CA signed is not the stand-in.
    const impostorCerts = makeTestCerts(fs.mkdtempSync(path.join(os.tmpdir(), 'impostor-')));
    const impostor = https.createServer({ cert: fs.readFileSync(impostorCerts.cert),
      key: fs.readFileSync(impostorCerts.key) }, (req, res) => res.end('{"id":"faulty"}'));
    await new Promise((r) => impostor.listen(0, '127.0.0.1', r));
    const realPort = server.port;
    try {
      proxy.setUpstream(impostor.address().port);
      const before = proxy.stats.upstreamErrors;
      await assert.rejects(readItem('faulty'), (e) => /ECONNRESET|socket hang up/.test(`${e.code} ${e.message}`));
      assert.equal(proxy.stats.upstreamErrors, before + 1);
    } finally {
      impostor.closeAllConnections();
      await new Promise((r) => impostor.close(r));
      proxy.setUpstream(realPort);
    }
    assert.equal((await readItem('faulty')).status, 200);
    // The stand-in killed: the connection is cut, as behind a gateway.
    await server.kill();
    await assert.rejects(readItem('faulty'), (e) => /ECONNRESET|socket hang up/.test(`${e.code} ${e.message}`));
    server = await startCosmosServer();
    proxy.setUpstream(server.port);
    // A new, empty account: the container is gone, which is 404/1003.
    const gone = await readItem('faulty');
    assert.equal(gone.status, 404);
    assert.equal(gone.headers['x-ms-substatus'], '1003');
    coll = await createCandidatesContainer(sdk);
    assert.equal((await upsertItem('back')).status, 201);
    assert.equal((await readItem('back')).status, 200);
  });
});
