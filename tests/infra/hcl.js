'use strict';
// A reader of Terraform's native HCL that keeps what hcl2json drops: the
// line of every argument, block and reference, and whether a name was
// written as an argument (`x = ...`) or as a block (`x { ... }`), which
// hcl2json renders alike when the value is a list of objects.
//
// It reads syntax hcl2json has already accepted (tfschema.js parses every
// file with hcl2json first and compares the two readings), so it reports
// what it cannot follow by throwing, not by recovering.
//
//   read(text)              -> Body: [{ kind: 'attr', name, line, expr }
//                                     | { kind: 'block', type, labels, line, body }]
//   references(expr, scope) -> [{ parts, line }] for every traversal in expr
//
// A token is { t, v, line }: t is 'id', 'num', 'nl', 'p' (punctuation,
// v the text), or 'tmpl' (a quoted string or heredoc, with `parts`: the
// token lists of its ${...} interpolations and %{...} directives, and `lit`,
// its text when it has neither).

const PUNCT2 = new Set(['==', '!=', '<=', '>=', '&&', '||', '=>', '::']);

function isIdStart(c) {
  return /[A-Za-z_]/.test(c);
}

function isIdChar(c) {
  return /[A-Za-z0-9_-]/.test(c);
}

class Lexer {
  constructor(src) {
    this.src = src;
    this.pos = 0;
    this.line = 1;
  }

  fail(what) {
    throw new Error(`line ${this.line}: ${what}`);
  }

  // Tokens up to the end of the text or, inside an interpolation, up to the
  // `}` that closes it (consumed, not returned).
  tokens(inTemplate = false) {
    const out = [];
    let depth = 0;
    const s = this.src;
    while (this.pos < s.length) {
      const c = s[this.pos];
      const d = s[this.pos + 1];
      if (c === ' ' || c === '\t' || c === '\r') {
        this.pos++;
      } else if (c === '\n') {
        out.push({ t: 'nl', v: '\n', line: this.line });
        this.line++;
        this.pos++;
      } else if (c === '#' || (c === '/' && d === '/')) {
        while (this.pos < s.length && s[this.pos] !== '\n') this.pos++;
      } else if (c === '/' && d === '*') {
        const end = s.indexOf('*/', this.pos + 2);
        if (end < 0) this.fail('unterminated comment');
        for (let i = this.pos; i < end; i++) if (s[i] === '\n') this.line++;
        this.pos = end + 2;
      } else if (isIdStart(c)) {
        const start = this.pos;
        while (this.pos < s.length && isIdChar(s[this.pos])) this.pos++;
        out.push({ t: 'id', v: s.slice(start, this.pos), line: this.line });
      } else if (/[0-9]/.test(c)) {
        const m = /^[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(s.slice(this.pos, this.pos + 64));
        out.push({ t: 'num', v: m[0], line: this.line });
        this.pos += m[0].length;
      } else if (c === '"') {
        this.pos++;
        out.push(this.template('"'));
      } else if (c === '<' && d === '<' && /[-A-Za-z_]/.test(s[this.pos + 2] ?? '')) {
        out.push(this.heredoc());
      } else if (inTemplate && c === '}' && depth === 0) {
        this.pos++;
        return out;
      } else {
        const two = s.slice(this.pos, this.pos + 2);
        const v = s.startsWith('...', this.pos) ? '...' : PUNCT2.has(two) ? two : c;
        if (v === '{' || v === '(' || v === '[') depth++;
        if (v === '}' || v === ')' || v === ']') depth--;
        out.push({ t: 'p', v, line: this.line });
        this.pos += v.length;
      }
    }
    if (inTemplate) this.fail('unterminated interpolation');
    return out;
  }

  // The body of a template: a quoted string (ends at `quote`) or a heredoc
  // (ends at `end`, the index of its closing line).
  template(quote, end = -1) {
    const s = this.src;
    const tok = { t: 'tmpl', line: this.line, parts: [], lit: '' };
    let literal = true;
    for (;;) {
      if (end >= 0 ? this.pos >= end : this.pos >= s.length) break;
      const c = s[this.pos];
      if (quote && c === quote) {
        this.pos++;
        tok.lit = literal ? tok.lit : null;
        return tok;
      }
      if (quote && c === '\\') {
        tok.lit += s[this.pos + 1] === 'n' ? '\n' : s[this.pos + 1];
        this.pos += 2;
        continue;
      }
      if ((c === '$' || c === '%') && s[this.pos + 1] === c && s[this.pos + 2] === '{') {
        tok.lit += `${c}{`;
        this.pos += 3;
        continue;
      }
      if ((c === '$' || c === '%') && s[this.pos + 1] === '{') {
        this.pos += 2;
        if (s[this.pos] === '~') this.pos++;
        const line = this.line;
        const tokens = this.tokens(true).filter((t) => !(t.t === 'p' && t.v === '~'));
        tok.parts.push({ kind: c === '$' ? 'interp' : 'directive', tokens, line });
        literal = false;
        continue;
      }
      if (c === '\n') {
        if (quote) this.fail('newline in a quoted string');
        this.line++;
      }
      tok.lit += c;
      this.pos++;
    }
    if (quote) this.fail('unterminated string');
    tok.lit = literal ? tok.lit : null;
    return tok;
  }

  heredoc() {
    const s = this.src;
    const m = /^<<-?([A-Za-z_][A-Za-z0-9_-]*)[ \t]*\r?\n/.exec(s.slice(this.pos, this.pos + 256));
    if (!m) this.fail('malformed heredoc');
    const line = this.line;
    this.pos += m[0].length;
    this.line++;
    const close = new RegExp(`^[ \\t]*${m[1]}[ \\t]*$`, 'm');
    const rest = s.slice(this.pos);
    const found = close.exec(rest);
    if (!found) this.fail(`heredoc ${m[1]} never closed`);
    const end = this.pos + found.index;
    const tok = this.template(null, end);
    tok.line = line;
    this.pos = end + found[0].length;
    return tok;
  }
}

// Body items from tokens[i] up to a closing `}` (when nested) or the end.
function parseBody(toks, i, nested) {
  const items = [];
  for (;;) {
    while (toks[i]?.t === 'nl') i++;
    const tok = toks[i];
    if (tok === undefined) {
      if (nested) throw new Error('unclosed block');
      return { items, i };
    }
    if (tok.t === 'p' && tok.v === '}' && nested) return { items, i: i + 1 };
    if (tok.t !== 'id') throw new Error(`line ${tok.line}: expected a name, found ${tok.v ?? tok.t}`);
    if (toks[i + 1]?.t === 'p' && toks[i + 1].v === '=') {
      // An argument: its expression runs to the end of the line, or to the
      // `}` of a one-line block, outside brackets.
      let j = i + 2;
      let depth = 0;
      while (j < toks.length) {
        const t = toks[j];
        if (t.t === 'nl' && depth === 0) break;
        if (t.t === 'p' && '([{'.includes(t.v)) depth++;
        if (t.t === 'p' && ')]}'.includes(t.v)) {
          if (depth === 0) break;
          depth--;
        }
        j++;
      }
      items.push({ kind: 'attr', name: tok.v, line: tok.line, expr: toks.slice(i + 2, j) });
      i = j;
      continue;
    }
    const labels = [];
    let j = i + 1;
    while (toks[j]?.t === 'tmpl' || toks[j]?.t === 'id') {
      labels.push(toks[j].t === 'id' ? toks[j].v : toks[j].lit);
      j++;
    }
    if (!(toks[j]?.t === 'p' && toks[j].v === '{')) {
      throw new Error(`line ${tok.line}: expected = or { after ${tok.v}`);
    }
    const inner = parseBody(toks, j + 1, true);
    items.push({ kind: 'block', type: tok.v, labels, line: tok.line, body: inner.items });
    i = inner.i;
  }
}

function read(text) {
  const toks = new Lexer(text).tokens();
  return parseBody(toks, 0, false).items;
}

const KEYWORDS = new Set(['true', 'false', 'null', 'for', 'in', 'if', 'else', 'endif', 'endfor']);

function isP(tok, v) {
  return tok !== undefined && tok.t === 'p' && tok.v === v;
}

// The index of the bracket closing the one at toks[i].
function closing(toks, i) {
  let depth = 0;
  for (let j = i; j < toks.length; j++) {
    if (toks[j].t !== 'p') continue;
    if ('([{'.includes(toks[j].v)) depth++;
    if (')]}'.includes(toks[j].v) && --depth === 0) return j;
  }
  throw new Error(`line ${toks[i].line}: unbalanced ${toks[i].v}`);
}

// The names a `for` introduces: `for k, v in` or `for v in`, at toks[i].
function forNames(toks, i) {
  const names = [];
  let j = i + 1;
  while (toks[j] && !(toks[j].t === 'id' && toks[j].v === 'in')) {
    if (toks[j].t === 'id') names.push(toks[j].v);
    j++;
  }
  return { names, next: j + 1 };
}

// Every traversal (a name followed by .attr, [index], .* or [*] steps) in
// an expression, with its line. A traversal whose first name is in scope
// (given: dynamic-block iterators; added here: for-expression names) is
// marked `scoped`, for the caller to decide. A step is
// { attr: name } | { index: true, key } | { splat: true }, where key is the
// literal number or string of an index when it has one.
function references(tokens, scope = new Set(), out = []) {
  const brackets = [];
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i];
    const prev = tokens[i - 1];
    if (tok.t === 'tmpl') {
      const inner = new Set(scope);
      for (const part of tok.parts) {
        if (part.kind === 'directive' && part.tokens[0]?.v === 'for') {
          forNames(part.tokens, 0).names.forEach((n) => inner.add(n));
        }
      }
      for (const part of tok.parts) references(part.tokens, inner, out);
      continue;
    }
    if (tok.t === 'p' && '[{('.includes(tok.v)) {
      if (tokens[i + 1]?.t === 'id' && tokens[i + 1].v === 'for' && tok.v !== '(') {
        const end = closing(tokens, i);
        const { names, next } = forNames(tokens, i + 1);
        const inner = new Set(scope);
        names.forEach((n) => inner.add(n));
        references(tokens.slice(next, end), inner, out);
        i = end;
        continue;
      }
      brackets.push(tok.v);
      continue;
    }
    if (tok.t === 'p' && ')]}'.includes(tok.v)) {
      brackets.pop();
      continue;
    }
    if (tok.t !== 'id' || isP(prev, '.') || KEYWORDS.has(tok.v)) continue;
    const next = tokens[i + 1];
    if (isP(next, '(') || isP(next, '::') || isP(prev, '::')) continue;
    // An object's key: a bare name before = or : right after {, a comma
    // or a new line.
    if (brackets[brackets.length - 1] === '{' && (isP(next, '=') || isP(next, ':')) &&
        (isP(prev, '{') || isP(prev, ',') || prev?.t === 'nl')) continue;
    const parts = [tok.v];
    let j = i + 1;
    for (;;) {
      const a = tokens[j];
      const b = tokens[j + 1];
      if (isP(a, '.') && b?.t === 'id') {
        parts.push({ attr: b.v });
        j += 2;
      } else if (isP(a, '.') && b?.t === 'num') {
        parts.push({ index: true, key: Number(b.v) });
        j += 2;
      } else if (isP(a, '.') && isP(b, '*')) {
        parts.push({ splat: true });
        j += 2;
      } else if (isP(a, '[')) {
        const end = closing(tokens, j);
        const inner = tokens.slice(j + 1, end);
        if (inner.length === 1 && isP(inner[0], '*')) {
          parts.push({ splat: true });
        } else {
          const key = inner.length === 1 && inner[0].t === 'num' ? Number(inner[0].v)
            : inner.length === 1 && inner[0].t === 'tmpl' && inner[0].lit !== null ? inner[0].lit : undefined;
          parts.push({ index: true, key });
          references(inner, scope, out);
        }
        j = end + 1;
      } else {
        break;
      }
    }
    out.push({ parts, line: tok.line, scoped: scope.has(tok.v) });
    i = j - 1;
  }
  return out;
}

// The text of a traversal, for messages: a.b[0].c
function show(parts) {
  return parts.map((p, i) => {
    if (i === 0) return p;
    if (p.attr !== undefined) return `.${p.attr}`;
    if (p.splat) return '[*]';
    return p.key === undefined ? '[...]' : `[${JSON.stringify(p.key)}]`;
  }).join('');
}

module.exports = { read, references, show };
