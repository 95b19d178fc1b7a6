'use strict';
// A fake Azure Instance Metadata Service on a loopback port: the managed
// identity token endpoint and the instance metadata the service reads.
// Clients reach it through AZURE_POD_IDENTITY_AUTHORITY_HOST, the override
// of the IMDS host that @azure/identity (through MSAL) and the other Azure
// SDKs honour; the candidates service reads the same variable.
//
// It answers as Azure IMDS does, errors included: every request must carry
// "Metadata: true" and no X-Forwarded-For (a request relayed by a proxy
// must not get the VM's tokens), a token is issued for a known resource
// (Cosmos DB's, or a resource the test adds) and for the VM's identity
// only (a user-assigned identity is chosen by client_id), with
// expires_in and expires_on as strings of digits. Tokens are opaque,
// random, short-lived when a test says so, and go into a TokenRegistry
// that the Cosmos DB proxy shares: it accepts exactly the tokens issued
// here, until they expire.

const crypto = require('node:crypto');
const http = require('node:http');

const COSMOS_RESOURCE = 'https://cosmos.azure.com';
const TOKEN_PATH = '/metadata/identity/oauth2/token';
const TOKEN_API_VERSIONS = new Set(['2018-02-01', '2019-08-01']);
const INSTANCE_API_VERSIONS = new Set(['2017-08-01', '2019-06-01', '2020-09-01', '2021-02-01',
  '2021-12-13', '2023-07-01']);
const TENANT = '72f988bf-0000-4000-8000-2d7cd011db47';

// Every token the fake Entra ID issued, for the proxy to check.
class TokenRegistry {
  constructor() {
    this.byToken = new Map();
  }

  // A new opaque token for resource and the identity clientId, valid for
  // lifetimeMs from now (to the second, as expires_on states it).
  issue({ resource, clientId, objectId, lifetimeMs, now = Date.now() }) {
    const token = 'fake-entra.' + crypto.randomBytes(48).toString('base64url');
    const expiresAt = Math.floor((now + lifetimeMs) / 1000) * 1000;
    const entry = { token, resource, clientId, objectId, issuedAt: now, expiresAt };
    this.byToken.set(token, entry);
    return entry;
  }

  get(token) {
    return this.byToken.get(token);
  }

  // Revoked: the proxy no longer knows it (as after a role change).
  revoke(token) {
    this.byToken.delete(token);
  }
}

function uuid() {
  return crypto.randomUUID();
}

class FakeAzureImds {
  // identities: the user-assigned identities of the VM, as client ids;
  // systemAssigned: whether it also has a system-assigned one; resources:
  // the audiences tokens are issued for.
  constructor({ tokens = new TokenRegistry(), identities = [uuid()], systemAssigned = false,
    lifetimeMs = 24 * 3600 * 1000, resources = [COSMOS_RESOURCE],
    vmId = '02aab8a4-74ef-476e-8182-f6d2ba4166a6', name = 'candidates-vmss_0' } = {}) {
    this.tokens = tokens;
    this.identities = identities.map((id) => id.toLowerCase());
    this.systemAssigned = systemAssigned;
    this.systemId = uuid();
    this.lifetimeMs = lifetimeMs;
    this.resources = new Set(resources);
    this.vmId = vmId;
    this.name = name;
    this.failNext = 0;		// answer the next N requests with 500
    this.resetStats();
  }

  resetStats() {
    this.stats = {
      requests: 0,
      issued: 0,		// tokens handed out
      refused: 0,		// 4xx answers
      calls: {},		// path -> count
      issuedTo: {},		// client id -> count
      log: [],			// { path, query, headers, status }
    };
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

  reply(res, entry, status, body) {
    const b = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    entry.status = status;
    if (status >= 400 && status < 500) this.stats.refused++;
    res.writeHead(status, {
      'Content-Type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8',
      'Content-Length': b.length,
      Server: 'IMDS/150.870.65.1325',
    });
    res.end(b);
  }

  handle(req, res) {
    req.resume();
    const st = this.stats;
    const url = new URL(req.url, 'http://169.254.169.254');
    // MSAL asks for ".../oauth2/token/?...": IMDS routes with or without
    // the trailing slash.
    const pathname = url.pathname.length > 1 ? url.pathname.replace(/\/+$/, '') : url.pathname;
    const entry = { path: pathname, query: Object.fromEntries(url.searchParams),
      headers: { ...req.headers }, status: 0 };
    st.requests++;
    st.calls[pathname] = (st.calls[pathname] || 0) + 1;
    st.log.push(entry);
    if (st.log.length > 10000) st.log.splice(0, 5000);
    if (this.failNext > 0) {
      this.failNext--;
      return this.reply(res, entry, 500, { error: 'unknown', error_description: 'Internal error' });
    }
    const isToken = pathname === TOKEN_PATH;
    const bad = (description, error = 'invalid_request') => this.reply(res, entry, 400, isToken ?
      { error, error_description: description } : { error: `Bad request. ${description}` });
    // A relayed request never gets an answer: IMDS is for the VM only.
    if (req.headers['x-forwarded-for'] !== undefined) {
      return bad('Request contains X-Forwarded-For header. IMDS does not accept requests ' +
        'from proxies.');
    }
    if (String(req.headers.metadata || '').toLowerCase() !== 'true') {
      return bad('Required metadata header not specified');
    }
    if (req.method !== 'GET') {
      return this.reply(res, entry, 405, { error: `Http method not allowed: path = "${pathname}", ` +
        `method = "${req.method}"` });
    }
    if (isToken) return this.token(res, entry, url);
    if (pathname === '/metadata/instance' || pathname === '/metadata/instance/compute') {
      const v = url.searchParams.get('api-version');
      if (!v) return bad('api-version was not specified in the request. For more information refer to aka.ms/azureimds');
      if (!INSTANCE_API_VERSIONS.has(v)) return bad('Invalid api-version.');
      const compute = {
        azEnvironment: 'AzurePublicCloud', location: 'westeurope', name: this.name,
        osType: 'Linux', resourceGroupName: 'candidates-rg', vmId: this.vmId,
        vmScaleSetName: 'candidates-vmss', vmSize: 'Standard_B1s', zone: '1',
      };
      return this.reply(res, entry, 200, pathname === '/metadata/instance/compute' ? compute :
        { compute, network: { interface: [] } });
    }
    return this.reply(res, entry, 404, { error: `API not found: path = "${pathname}", ` +
      `method = "${req.method}"` });
  }

  token(res, entry, url) {
    const q = url.searchParams;
    const bad = (description, error = 'invalid_request') =>
      this.reply(res, entry, 400, { error, error_description: description });
    if (!q.get('api-version')) return bad("Required query variable 'api-version' is missing");
    if (!TOKEN_API_VERSIONS.has(q.get('api-version'))) return bad('Invalid api-version');
    const resource = q.get('resource');
    if (!resource) return bad('Required audience parameter not specified');
    // Entra ID knows an audience with or without its trailing slash.
    const audience = resource.replace(/\/+$/, '');
    if (!this.resources.has(audience)) {
      return bad(`AADSTS500011: The resource principal named ${resource} was not found in the ` +
        `tenant named ${TENANT}. This can happen if the application has not been installed by ` +
        'the administrator of the tenant or consented to by any user in the tenant.', 'invalid_resource');
    }
    let clientId = q.get('client_id');
    if (q.get('object_id') || q.get('msi_res_id') || q.get('mi_res_id')) {
      return bad('Identity not found');
    }
    if (clientId === null) {
      // Without a client_id IMDS picks the system-assigned identity, or
      // the one user-assigned identity when that is all the VM has.
      if (this.systemAssigned) clientId = this.systemId;
      else if (this.identities.length === 1) clientId = this.identities[0];
      else {
        return bad('Multiple user assigned identities exist, please specify the clientId / ' +
          'resourceId of the identity in the token request');
      }
    } else if (!this.identities.includes(clientId.toLowerCase()) &&
      !(this.systemAssigned && clientId.toLowerCase() === this.systemId)) {
      return bad('Identity not found');
    }
    const now = Date.now();
    const t = this.tokens.issue({ resource: audience, clientId, lifetimeMs: this.lifetimeMs, now });
    this.stats.issued++;
    this.stats.issuedTo[clientId] = (this.stats.issuedTo[clientId] || 0) + 1;
    const secs = (ms) => String(Math.floor(ms / 1000));
    return this.reply(res, entry, 200, {
      access_token: t.token,
      client_id: clientId,
      expires_in: String(Math.round((t.expiresAt - now) / 1000)),
      expires_on: secs(t.expiresAt),
      ext_expires_in: String(Math.round((t.expiresAt - now) / 1000)),
      not_before: secs(now),
      resource,
      token_type: 'Bearer',
    });
  }
}

async function startAzureImds(opts) {
  return new FakeAzureImds(opts).start();
}

module.exports = { FakeAzureImds, TokenRegistry, startAzureImds, COSMOS_RESOURCE, TOKEN_PATH };
