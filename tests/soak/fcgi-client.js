'use strict';
// A minimal FastCGI client (the web server's side of the protocol), so a
// test can hold connections to the app exactly as nginx does with
// fastcgi_keep_conn: FCGI_KEEP_CONN set, one request after another on one
// connection, idle in between.
//
//   const c = await FcgiConn.connect('/path/fcgi.sock');
//   const r = await c.request({ REQUEST_METHOD: 'GET', REQUEST_URI: '/gtg' });
//   // r.status, r.headers, r.body; c.closed resolves when the app hangs up

const net = require('node:net');

const VERSION = 1;
const BEGIN_REQUEST = 1;
const END_REQUEST = 3;
const PARAMS = 4;
const STDIN = 5;
const STDOUT = 6;
const STDERR = 7;
const RESPONDER = 1;
const KEEP_CONN = 1;

function record(type, id, content = Buffer.alloc(0)) {
  const pad = (8 - (content.length % 8)) % 8;
  const h = Buffer.alloc(8);
  h.writeUInt8(VERSION, 0);
  h.writeUInt8(type, 1);
  h.writeUInt16BE(id, 2);
  h.writeUInt16BE(content.length, 4);
  h.writeUInt8(pad, 6);
  return Buffer.concat([h, content, Buffer.alloc(pad)]);
}

function nvLength(n) {
  if (n < 128) return Buffer.from([n]);
  const b = Buffer.alloc(4);
  b.writeUInt32BE((n | 0x80000000) >>> 0);
  return b;
}

function params(obj) {
  const parts = [];
  for (const [k, v] of Object.entries(obj)) {
    const kb = Buffer.from(k);
    const vb = Buffer.from(String(v));
    parts.push(nvLength(kb.length), nvLength(vb.length), kb, vb);
  }
  return Buffer.concat(parts);
}

// "Status: 200 OK\r\nContent-Type: ...\r\n\r\nbody" -> { status, headers, body }
function parseCgi(out) {
  const end = out.indexOf('\r\n\r\n');
  if (end < 0) throw new Error(`no header block in ${JSON.stringify(out.toString('latin1'))}`);
  const headers = {};
  for (const line of out.subarray(0, end).toString('latin1').split('\r\n')) {
    const i = line.indexOf(':');
    headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  const status = Number((headers.status || '200').split(' ')[0]);
  return { status, headers, body: out.subarray(end + 4) };
}

class FcgiConn {
  constructor(sock) {
    this.sock = sock;
    this.buf = Buffer.alloc(0);
    this.pending = null;	// { id, out, resolve, reject }
    this.nextId = 1;
    this.closed = new Promise((resolve) => {
      sock.on('close', () => {
        this.isClosed = true;
        if (this.pending) {
          this.pending.reject(new Error('the app closed the connection mid-request'));
          this.pending = null;
        }
        resolve();
      });
    });
    this.isClosed = false;
    sock.on('error', () => {});
    sock.on('data', (d) => this.onData(d));
  }

  static connect(path) {
    return new Promise((resolve, reject) => {
      const sock = net.connect(path);
      sock.once('connect', () => { sock.off('error', reject); resolve(new FcgiConn(sock)); });
      sock.once('error', reject);
    });
  }

  onData(d) {
    this.buf = Buffer.concat([this.buf, d]);
    while (this.buf.length >= 8) {
      const len = this.buf.readUInt16BE(4);
      const pad = this.buf.readUInt8(6);
      if (this.buf.length < 8 + len + pad) return;
      const type = this.buf.readUInt8(1);
      const content = this.buf.subarray(8, 8 + len);
      this.buf = this.buf.subarray(8 + len + pad);
      const p = this.pending;
      if (!p) continue;
      if (type === STDOUT) p.out.push(Buffer.from(content));
      else if (type === STDERR) p.err.push(Buffer.from(content));
      else if (type === END_REQUEST) {
        this.pending = null;
        try {
          p.resolve(parseCgi(Buffer.concat(p.out)));
        } catch (err) {
          p.reject(err);
        }
      }
    }
  }

  // One request with FCGI_KEEP_CONN: the connection stays open afterwards.
  request(env, body = Buffer.alloc(0), { keep = true } = {}) {
    if (this.pending) return Promise.reject(new Error('one request at a time'));
    if (this.isClosed) return Promise.reject(new Error('connection closed'));
    const id = this.nextId;
    this.nextId = (this.nextId % 65535) + 1;
    const begin = Buffer.alloc(8);
    begin.writeUInt16BE(RESPONDER, 0);
    begin.writeUInt8(keep ? KEEP_CONN : 0, 2);
    const all = { CONTENT_LENGTH: body.length, ...env };
    const bytes = [record(BEGIN_REQUEST, id, begin), record(PARAMS, id, params(all)),
      record(PARAMS, id)];
    for (let i = 0; i < body.length; i += 65535) {
      bytes.push(record(STDIN, id, body.subarray(i, i + 65535)));
    }
    bytes.push(record(STDIN, id));
    return new Promise((resolve, reject) => {
      this.pending = { id, out: [], err: [], resolve, reject };
      this.sock.write(Buffer.concat(bytes));
    });
  }

  destroy() {
    this.sock.destroy();
  }
}

module.exports = { FcgiConn };
