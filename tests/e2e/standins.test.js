'use strict';
// The stand-ins are only as good as their likeness to AWS. Here the
// official clients judge them: the DynamoDB SDK must work through the
// verifying proxy, get the errors real DynamoDB gives for bad credentials,
// bad tokens, skewed clocks and throttling (and react to them as it does
// to the real ones), and the SDK's own IMDS credential provider must get
// its credentials from the fake IMDS. If these fail, the store tests prove
// nothing.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const {
  PutItemCommand, QueryCommand, ScanCommand, GetItemCommand, BatchWriteItemCommand,
  paginateScan,
} = require('@aws-sdk/client-dynamodb');
const { fromInstanceMetadata } = require('@smithy/credential-provider-imds');
const { startDynalite, TABLE } = require('../lib/dynalite');
const {
  ADMIN, APP_OPS, CredentialRegistry, startProxy, dynamoClient,
} = require('../lib/sigv4-proxy');
const { startImds } = require('../lib/fake-imds');

const REGION = 'eu-west-3';

const put = (name) => new PutItemCommand({ TableName: TABLE, Item: { CandidateName: { S: name } } });
const query = (name) => new QueryCommand({
  TableName: TABLE, ConsistentRead: true,
  KeyConditionExpression: 'CandidateName = :n',
  ExpressionAttributeValues: { ':n': { S: name } },
});

// A raw request to the fake IMDS.
function imdsRequest(url, method, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers }, (res) => {
      let body = '';
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('stand-ins judged by the official AWS clients', { timeout: 60000 }, () => {
  let db, proxy, registry, sdk;
  const clients = [];
  const client = (opts) => {
    const c = dynamoClient({ endpoint: proxy.url, ca: proxy.certs.ca, region: REGION, ...opts });
    clients.push(c);
    return c;
  };

  before(async () => {
    db = await startDynalite();
    registry = new CredentialRegistry();
    registry.add(ADMIN);
    proxy = await startProxy({ registry, upstreamPort: db.port, http: true, region: REGION });
    sdk = client({});
  });

  after(async () => {
    for (const c of clients) c.destroy();
    await proxy?.stop();
    await db?.stop();
  });

  it('serves PutItem, Query and Scan to the SDK over HTTPS and HTTP, verifying each signature', async () => {
    const plain = dynamoClient({ endpoint: proxy.httpUrl, region: REGION });
    clients.push(plain);
    proxy.resetStats();
    for (const [row, c] of [['https', sdk], ['http', plain]]) {
      const name = `stand-in ${row} "q" \\ 😀`;
      await c.send(put(name));
      const q = await c.send(query(name));
      assert.deepEqual(q.Items, [{ CandidateName: { S: name } }], row);
    }
    const s = await sdk.send(new ScanCommand({ TableName: TABLE }));
    assert.ok(s.Items.length >= 2);
    assert.equal(proxy.stats.signatureFailures, 0);
    assert.equal(proxy.stats.operations.PutItem, 2);
    assert.equal(proxy.stats.operations.Query, 2);
    assert.equal(proxy.stats.operations.Scan, 1);
    assert.equal(proxy.stats.accessKeys[ADMIN.accessKeyId], 5);
    assert.ok(proxy.stats.tlsHandshakes >= 1, 'the HTTPS client went through TLS');
  });

  it('answers bad credentials as DynamoDB does, and writes nothing', async () => {
    const temp = CredentialRegistry.random();
    registry.add({ ...temp });
    const expired = CredentialRegistry.random();
    registry.add({ ...expired, expiresAt: Date.now() - 1000 });
    const rows = [
      { row: 'wrong secret', creds: { ...ADMIN, secretAccessKey: ADMIN.secretAccessKey + 'x' },
        name: 'InvalidSignatureException', msg: /^The request signature we calculated does not match/,
        counter: 'signatureFailures' },
      { row: 'wrong token', creds: { ...temp, sessionToken: temp.sessionToken.slice(0, -4) + 'AAAA' },
        name: 'UnrecognizedClientException', msg: /security token included in the request is invalid/,
        counter: 'unrecognizedClient' },
      { row: 'no token for temporary keys', creds: { ...temp, sessionToken: undefined },
        name: 'UnrecognizedClientException', msg: /invalid/, counter: 'missingToken' },
      { row: 'unknown access key', creds: CredentialRegistry.random({ temporary: false }),
        name: 'UnrecognizedClientException', msg: /invalid/, counter: 'unrecognizedClient' },
      { row: 'expired token', creds: expired, name: 'ExpiredTokenException', msg: /expired/,
        counter: 'expiredToken' },
      { row: 'wrong region', creds: ADMIN, region: 'us-west-2', name: 'InvalidSignatureException',
        msg: /region/, counter: 'signatureFailures' },
      { row: 'clock 10 min slow', creds: ADMIN, offset: -600, name: 'InvalidSignatureException',
        msg: /^Signature expired: \d{8}T\d{6}Z is now earlier than/, counter: 'skewRejections' },
      { row: 'clock 10 min fast', creds: ADMIN, offset: 600, name: 'InvalidSignatureException',
        msg: /^Signature not yet current/, counter: 'skewRejections' },
    ];
    for (const r of rows) {
      const before = proxy.stats[r.counter];
      const c = client({ credentials: r.creds, region: r.region || REGION,
        systemClockOffset: (r.offset || 0) * 1000 });
      const name = `must-not-exist ${r.row}`;
      await assert.rejects(c.send(put(name)), (err) => {
        assert.equal(err.name, r.name, r.row);
        assert.equal(err.$metadata.httpStatusCode, 400, r.row);
        assert.match(err.message, r.msg, r.row);
        return true;
      }, r.row);
      assert.equal(proxy.stats[r.counter], before + 1, `${r.row}: ${r.counter}`);
      const q = await sdk.send(query(name));
      assert.equal(q.Count, 0, `${r.row}: nothing written`);
    }
  });

  it('lets the SDK correct a skewed clock from the Date header, as with real DynamoDB', async () => {
    proxy.resetStats();
    const c = client({ maxAttempts: 3, systemClockOffset: -20 * 60 * 1000 });
    await c.send(put('after skew correction'));
    assert.equal(proxy.stats.skewRejections, 1);
    assert.equal(proxy.stats.operations.PutItem, 2);
  });

  it('refuses the service role what the original IAM policy does not grant', async () => {
    const role = CredentialRegistry.random();
    registry.add({ ...role, ops: APP_OPS });
    const c = client({ credentials: role });
    await c.send(put('role may put'));
    assert.equal((await c.send(query('role may put'))).Count, 1);
    await c.send(new ScanCommand({ TableName: TABLE, Limit: 1 }));
    await assert.rejects(c.send(new GetItemCommand({
      TableName: TABLE, Key: { CandidateName: { S: 'role may put' } },
    })), (err) => {
      assert.equal(err.name, 'AccessDeniedException');
      assert.match(err.message, /not authorized to perform: dynamodb:GetItem/);
      return true;
    });
  });

  it('injects faults the SDK classifies as the real ones', async () => {
    const retrying = client({ maxAttempts: 3, requestTimeout: 500 });
    // The SDK retries throttling and 5xx: the third attempt succeeds.
    for (const [row, kind, error] of [
      ['throttling', 'throttle', 'ThrottlingException'],
      ['provisioned throughput', 'throttle', 'ProvisionedThroughputExceededException'],
      ['request limit', 'throttle', 'RequestLimitExceeded'],
      ['500', 'error', 'InternalServerError'],
      ['503', 'error', 'ServiceUnavailable'],
    ]) {
      proxy.resetStats();
      proxy.inject(kind, { count: 2, error, op: 'Query' });
      const q = await retrying.send(query('after skew correction'));
      assert.equal(q.Count, 1, row);
      assert.equal(proxy.stats.operations.Query, 3, `${row}: attempts`);
      assert.equal(proxy.stats.faultsServed, 2, row);
    }
    // Without retries, each fault surfaces as what it imitates.
    const once = client({ maxAttempts: 1, requestTimeout: 500 });
    for (const [row, kind, opts, check] of [
      ['throttle', 'throttle', { error: 'ProvisionedThroughputExceededException' },
        (e) => e.name === 'ProvisionedThroughputExceededException' && e.$metadata.httpStatusCode === 400],
      ['validation', 'error', { error: 'ValidationException' }, (e) => e.name === 'ValidationException'],
      ['garbage', 'garbage', {}, (e) => e.name === 'SyntaxError' && e.$metadata.httpStatusCode === 200],
      ['hang', 'hang', {}, (e) => e.name === 'TimeoutError' && e.code === 'ETIMEDOUT'],
      ['close', 'close', {}, (e) => e.code === 'ECONNRESET'],
    ]) {
      proxy.inject(kind, { count: 1, ...opts });
      await assert.rejects(once.send(query('x')), (e) => {
        assert.ok(check(e), `${row}: got ${e.name}: ${e.message}`);
        return true;
      }, row);
    }
    proxy.clearFaults();
    assert.equal((await once.send(query('after skew correction'))).Count, 1, 'healthy again');
  });

  it('serves an empty page with a key, and the SDK paginator still sees every item once', async () => {
    const names = Array.from({ length: 30 }, (_, i) => `page-${String(i).padStart(2, '0')}`);
    await sdk.send(new BatchWriteItemCommand({ RequestItems: { [TABLE]: names.slice(0, 25)
      .map((n) => ({ PutRequest: { Item: { CandidateName: { S: n } } } })) } }));
    await sdk.send(new BatchWriteItemCommand({ RequestItems: { [TABLE]: names.slice(25)
      .map((n) => ({ PutRequest: { Item: { CandidateName: { S: n } } } })) } }));
    proxy.resetStats();
    proxy.inject('emptyPage', { count: 2 });
    const seen = [];
    let pages = 0;
    for await (const page of paginateScan({ client: sdk, pageSize: 7 }, { TableName: TABLE })) {
      pages++;
      for (const it of page.Items) seen.push(it.CandidateName.S);
    }
    assert.equal(proxy.stats.faultsServed, 2);
    assert.equal(new Set(seen).size, seen.length, 'no duplicates');
    for (const n of names) assert.ok(seen.includes(n), n);
    assert.ok(pages >= 7, `pages ${pages}`);
  });

  it('takes the store down and up: refused, cut, then served again', async () => {
    const once = client({ maxAttempts: 1, requestTimeout: 1000 });
    await proxy.down();
    await assert.rejects(once.send(query('x')), (e) => /ECONNREFUSED/.test(`${e.code} ${e.message}`));
    await proxy.up();
    await db.kill();
    await assert.rejects(once.send(query('x')), (e) => /ECONNRESET|socket hang up/i.test(`${e.code} ${e.message}`));
    assert.ok(proxy.stats.upstreamErrors >= 1);
    db = await startDynalite();
    proxy.setUpstream(db.port);
    await once.send(put('back'));
    assert.equal((await once.send(query('back'))).Count, 1);
  });

  describe('fake IMDSv2', () => {
    let imds;
    before(async () => {
      imds = await startImds({ registry, region: REGION, lifetimeMs: 3000, rotateBeforeMs: 1500 });
    });
    after(async () => imds?.stop());

    it('requires a token, as IMDSv2 with HttpTokens required does', async () => {
      const rows = [
        ['PUT token without TTL', 'PUT', '/latest/api/token', {}, 400],
        ['PUT token TTL too long', 'PUT', '/latest/api/token', { 'X-aws-ec2-metadata-token-ttl-seconds': '21601' }, 400],
        ['GET without token', 'GET', '/latest/meta-data/instance-id', {}, 401],
        ['GET with a made-up token', 'GET', '/latest/meta-data/instance-id', { 'X-aws-ec2-metadata-token': 'AAAA' }, 401],
      ];
      for (const [row, method, p, headers, status] of rows) {
        const r = await imdsRequest(imds.url + p, method, headers);
        assert.equal(r.status, status, row);
      }
      const t = await imdsRequest(`${imds.url}/latest/api/token`, 'PUT', { 'X-aws-ec2-metadata-token-ttl-seconds': '60' });
      assert.equal(t.status, 200);
      const h = { 'X-aws-ec2-metadata-token': t.body };
      for (const [p, want] of [
        ['/latest/meta-data/instance-id', imds.instanceId],
        ['/latest/meta-data/placement/region', REGION],
        ['/latest/meta-data/iam/security-credentials/', imds.role],
      ]) {
        const r = await imdsRequest(imds.url + p, 'GET', h);
        assert.deepEqual([r.status, r.body], [200, want], p);
      }
    });

    it("feeds the SDK's own IMDS credential provider, and the proxy honours rotation and expiry", async () => {
      const saved = process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT;
      process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT = imds.url;
      try {
        imds.resetStats();
        const first = await fromInstanceMetadata({ timeout: 1000, maxRetries: 0 })();
        assert.equal(imds.tokenPuts, 1, 'IMDSv2: a token first');
        assert.equal(imds.unauthorized, 0);
        assert.equal(first.accessKeyId, imds.current.accessKeyId);
        assert.equal(first.sessionToken, imds.current.sessionToken);
        assert.equal(first.expiration.getTime(), imds.current.expiresAt);
        const c = client({ credentials: first });
        await c.send(put('from imds'));
        assert.equal((await c.send(query('from imds'))).Count, 1);
        await assert.rejects(c.send(new GetItemCommand({ TableName: TABLE, Key: { CandidateName: { S: 'x' } } })),
          { name: 'AccessDeniedException' }, 'the role has only the original policy');

        // Half-way through its life, IMDS hands out the next set.
        await new Promise((r) => setTimeout(r, first.expiration.getTime() - Date.now() - 1400));
        const second = await fromInstanceMetadata({ timeout: 1000, maxRetries: 0 })();
        assert.notEqual(second.accessKeyId, first.accessKeyId, 'rotated');
        await new Promise((r) => setTimeout(r, Math.max(0, first.expiration.getTime() - Date.now() + 50)));
        await assert.rejects(c.send(query('from imds')), { name: 'ExpiredTokenException' });
        const c2 = client({ credentials: second });
        assert.equal((await c2.send(query('from imds'))).Count, 1, 'the new set works');
      } finally {
        if (saved === undefined) delete process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT;
        else process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT = saved;
      }
    });
  });
});
