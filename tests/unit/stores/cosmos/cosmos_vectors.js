#!/usr/bin/env node
'use strict';
// Prints the test vectors of test_cosmos_auth.c and test_cosmos_wire.c as
// C table rows, computed by @azure/cosmos's own code (tests/node_modules,
// 4.9.3), the independent oracle: its master-key signer (generateHeaders in
// dist/commonjs/utils/headers.js, which takes the date as an argument), its
// partition-key header encoder (jsonStringifyAndEscapeNonASCII in
// dist/commonjs/common/helper.js), and Node's Date.prototype.toUTCString,
// which the SDK sends as x-ms-date. Run from the worktree root:
//
//   node tests/unit/stores/cosmos/cosmos_vectors.js
//
// and paste the rows over the tables when the cases change. The C tests
// never run this: the vectors are data, fixed in the source.

const path = require('node:path');
const sdkDir = path.dirname(require.resolve('@azure/cosmos', {
  paths: [path.join(__dirname, '..', '..', '..')],
}));
const { generateHeaders } = require(path.join(sdkDir, 'utils', 'headers.js'));
const { jsonStringifyAndEscapeNonASCII } = require(path.join(sdkDir, 'common', 'helper.js'));

// A C string literal for s (UTF-8 bytes, escaped), split so that a hex
// escape never swallows the next character.
function cstr(s) {
  let out = '"';
  let lastHex = false;
  for (const b of Buffer.from(s, 'utf8')) {
    const ch = String.fromCharCode(b);
    if (b === 0x22 || b === 0x5c) { out += '\\' + ch; lastHex = false; }
    else if (b >= 0x20 && b < 0x7f) {
      if (lastHex && /[0-9a-fA-F]/.test(ch)) out += '""';
      out += ch; lastHex = false;
    } else { out += '\\x' + b.toString(16).padStart(2, '0'); lastHex = true; }
  }
  return out + '"';
}

// Keys: the documentation's example, and two of the real shape (64 bytes).
const KEYS = {
  DOCS_KEY: 'dsZQi3KtZmCv1ljt3VNWNm7sQUF1y5rJfC6kv5JiwvW0EndXdDku/dkKBp8/ufDToSxLzR4y+O/0H/t4bQtVNw==',
  KEY_A: Buffer.from(Array.from({ length: 64 }, (_, i) => (i * 37 + 11) & 0xff)).toString('base64'),
  KEY_B: 'C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==',
};

const LINK = 'dbs/CandidateDatabase/colls/Candidates';
const CASES = [
  ['GET', 'dbs', 'dbs/ToDoList', 'DOCS_KEY', 1493254272],
  ['GET', 'docs', `${LINK}/docs/Ada Lovelace`, 'KEY_A', 1700000000],
  ['POST', 'docs', LINK, 'KEY_A', 1700000000],
  ['POST', 'docs', LINK, 'KEY_B', 1700000001],
  ['GET', 'docs', `${LINK}/docs/\u00e9t\u00e9 \ud83d\ude00`, 'KEY_B', 1735689599],
  ['GET', 'docs', `${LINK}/docs/a+b=c&d%20e`, 'KEY_A', 946684800],
  ['GET', 'docs', `${LINK}/docs/"quoted" <x>`, 'KEY_B', 2147483648],
  ['GET', 'docs', `${LINK}/docs/${'n'.repeat(255)}`, 'KEY_A', 4102444800],
  ['GET', 'colls', LINK, 'KEY_B', 1234567890],
  ['POST', 'dbs', '', 'KEY_A', 1234567890],
  ['GET', '', '', 'KEY_B', 1234567890],
  ['PUT', 'docs', `${LINK}/docs/MixedCase`, 'KEY_A', 86400 * 366],
];

async function main() {
  console.log('/* keys */');
  for (const [k, v] of Object.entries(KEYS)) console.log(`#define ${k} "${v}"`);
  console.log('\n/* master-key rows: verb, type, link, key, time, x-ms-date, Authorization */');
  for (const [verb, type, link, key, t] of CASES) {
    const h = await generateHeaders(KEYS[key], verb, type, link, new Date(t * 1000));
    console.log(`\t{ __LINE__, "${verb}", "${type}", ${cstr(link)}, ${key}, ${t},\n\t    "${h['x-ms-date']}",\n\t    "${h.authorization}" },`);
  }
  console.log('\n/* dates: time, toUTCString */');
  const times = [0, 1, 59, 86399, 951782400, 951868799, 1234567890, 1493254272, 1700000000,
    2147483647, 2147483648, 4102444799, 253402300799, -1, -86400, -2208988800, -30610224000];
  for (const t of times) console.log(`\t{ __LINE__, ${t}LL, "${new Date(t * 1000).toUTCString()}" },`);
  console.log('\n/* partition keys: name, header */');
  const names = ['alice', 'Ada Lovelace', '"quoted"', 'back\\slash', '\u00e9t\u00e9', '\ud83d\ude00',
    'a\u007fb', '\u0080\u07ff\u0800\uffff', '\ud800\udc00\udbff\udfff', '\u2028\u2029', 'tab\there',
    '\b\f\n\r\u0001\u001f', '</script>', 'x'.repeat(40)];
  for (const n of names) {
    console.log(`\t{ __LINE__, ${cstr(n)}, ${cstr(jsonStringifyAndEscapeNonASCII([n]))} },`);
  }
  console.log('\n/* AAD: token, encodeURIComponent(type=aad&ver=1.0&sig=token) */');
  for (const tok of ['eyJ0eXAiOiJKV1QifQ.eyJhdWQiOiJodHRwczovL2Nvc21vcy5henVyZS5jb20ifQ.c2ln-_',
    'a=b&c+d/e', '~tok.en_-']) {
    console.log(`\t{ __LINE__, "${tok}",\n\t    "${encodeURIComponent('type=aad&ver=1.0&sig=' + tok)}" },`);
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
