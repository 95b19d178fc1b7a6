#include "json_pick.h"

#include <stdio.h>
#include <string.h>

#define PICKS_MAX	8	/* picks in one walk */
#define SEGS_MAX	8	/* segments in one path */
#define KEY_MAX		256	/* a member name longer matches no path */

/* One step of a path: a member's name, or "each element" of an array. */
struct seg {
	const char	*name;
	size_t		 len;
	int		 each;
};

struct walker {
	const char		*start, *p, *end;
	struct json_pick	*picks;
	size_t			 npicks;
	struct seg		 segs[PICKS_MAX][SEGS_MAX];
	size_t			 nsegs[PICKS_MAX];
	/* Where the walk is: the member or element each level is in. */
	struct {
		char	 key[KEY_MAX];
		size_t	 len;
		int	 each;
		int	 unmatchable;	/* a key too long to match */
	} at[JSON_PICK_DEPTH];
	size_t			 depth;
	char			 str[JSON_PICK_STRING_MAX];
	enum json_pick_result	 stop;	/* JSON_PICK_BAD or _STOPPED */
	char			*err;
	size_t			 errlen;
};

static int
fail(struct walker *w, const char *what)
{
	snprintf(w->err, w->errlen, "JSON: %s at byte %zu", what,
	    (size_t)(w->p - w->start));
	w->stop = JSON_PICK_BAD;
	return -1;
}

/* "Items[].CandidateName.S" into segments; -1 if it has too many. */
static int
parse_path(const char *path, struct seg *segs, size_t *nsegs)
{
	const char	*s = path, *dot;
	size_t		 n = 0, len;

	while (*s != '\0') {
		dot = strchr(s, '.');
		len = dot != NULL ? (size_t)(dot - s) : strlen(s);
		if (n + 2 > SEGS_MAX)
			return -1;
		if (len >= 2 && memcmp(s + len - 2, "[]", 2) == 0) {
			segs[n++] = (struct seg){ s, len - 2, 0 };
			segs[n++] = (struct seg){ NULL, 0, 1 };
		} else
			segs[n++] = (struct seg){ s, len, 0 };
		s += len + (dot != NULL);
	}
	*nsegs = n;
	return 0;
}

/* Whether pick i names the value the walk is at now. */
static int
matches(const struct walker *w, size_t i)
{
	size_t	 d;

	if (w->nsegs[i] != w->depth)
		return 0;
	for (d = 0; d < w->depth; d++) {
		const struct seg *s = &w->segs[i][d];

		if (s->each != w->at[d].each)
			return 0;
		if (!s->each && (w->at[d].unmatchable || s->len != w->at[d].len ||
		    memcmp(s->name, w->at[d].key, s->len) != 0))
			return 0;
	}
	return 1;
}

static void
skip_ws(struct walker *w)
{
	while (w->p < w->end && (*w->p == ' ' || *w->p == '\t' ||
	    *w->p == '\n' || *w->p == '\r'))
		w->p++;
}

static int
hex4(const char *p, unsigned *out)
{
	unsigned	 v = 0;
	int		 i;

	for (i = 0; i < 4; i++) {
		char	 c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

/* Appends n bytes to out (cap bytes) unless it is NULL; -1 when full. */
static int
put(char *out, size_t cap, size_t *len, const char *s, size_t n)
{
	if (out == NULL) {
		*len += n;
		return 0;
	}
	if (n > cap - *len)
		return -1;
	memcpy(out + *len, s, n);
	*len += n;
	return 0;
}

/*
 * A string at w->p (its opening quote), unescaped into out (cap bytes),
 * or only checked when out is NULL; *len gets its unescaped length.
 */
static int
string(struct walker *w, char *out, size_t cap, size_t *len)
{
	const char	*run;
	unsigned	 cp, lo;
	char		 u[4];
	size_t		 n;

	*len = 0;
	w->p++;
	for (;;) {
		/* Plain bytes go in runs. */
		for (run = w->p; w->p < w->end && *w->p != '"' && *w->p != '\\' &&
		    (unsigned char)*w->p >= 0x20; w->p++)
			continue;
		if (put(out, cap, len, run, (size_t)(w->p - run)) == -1)
			return fail(w, "string too long");
		if (w->p >= w->end)
			return fail(w, "unterminated string");
		if (*w->p == '"') {
			w->p++;
			return 0;
		}
		if (*w->p != '\\')
			return fail(w, "control character in a string");
		if (w->end - w->p < 2)
			return fail(w, "unterminated string");
		switch (w->p[1]) {
		case '"': case '\\': case '/':
			u[0] = w->p[1];
			n = 1;
			break;
		case 'b': u[0] = '\b'; n = 1; break;
		case 'f': u[0] = '\f'; n = 1; break;
		case 'n': u[0] = '\n'; n = 1; break;
		case 'r': u[0] = '\r'; n = 1; break;
		case 't': u[0] = '\t'; n = 1; break;
		case 'u':
			if (w->end - w->p < 6 || hex4(w->p + 2, &cp) == -1)
				return fail(w, "bad \\u escape");
			if (cp >= 0xdc00 && cp <= 0xdfff)
				return fail(w, "lone low surrogate");
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (w->end - w->p < 12 || w->p[6] != '\\' ||
				    w->p[7] != 'u' || hex4(w->p + 8, &lo) == -1 ||
				    lo < 0xdc00 || lo > 0xdfff)
					return fail(w, "lone high surrogate");
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				w->p += 6;
			}
			if (cp < 0x80) {
				u[0] = (char)cp;
				n = 1;
			} else if (cp < 0x800) {
				u[0] = (char)(0xc0 | cp >> 6);
				u[1] = (char)(0x80 | (cp & 0x3f));
				n = 2;
			} else if (cp < 0x10000) {
				u[0] = (char)(0xe0 | cp >> 12);
				u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
				u[2] = (char)(0x80 | (cp & 0x3f));
				n = 3;
			} else {
				u[0] = (char)(0xf0 | cp >> 18);
				u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
				u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
				u[3] = (char)(0x80 | (cp & 0x3f));
				n = 4;
			}
			w->p += 4;
			break;
		default:
			return fail(w, "bad escape");
		}
		w->p += 2;
		if (put(out, cap, len, u, n) == -1)
			return fail(w, "string too long");
	}
}

static int
digits(struct walker *w)
{
	const char	*s = w->p;

	while (w->p < w->end && *w->p >= '0' && *w->p <= '9')
		w->p++;
	return w->p > s ? 0 : fail(w, "bad number");
}

/* RFC 8259's number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static int
number(struct walker *w)
{
	if (*w->p == '-')
		w->p++;
	if (w->p < w->end && *w->p == '0')
		w->p++;
	else if (digits(w) == -1)
		return -1;
	if (w->p < w->end && *w->p == '.') {
		w->p++;
		if (digits(w) == -1)
			return -1;
	}
	if (w->p < w->end && (*w->p == 'e' || *w->p == 'E')) {
		w->p++;
		if (w->p < w->end && (*w->p == '+' || *w->p == '-'))
			w->p++;
		if (digits(w) == -1)
			return -1;
	}
	return 0;
}

static int
literal(struct walker *w, const char *word)
{
	size_t	 n = strlen(word);

	if ((size_t)(w->end - w->p) < n || memcmp(w->p, word, n) != 0)
		return fail(w, "bad literal");
	w->p += n;
	return 0;
}

static int value(struct walker *w);

static int
enter(struct walker *w, int each)
{
	if (w->depth >= JSON_PICK_DEPTH)
		return fail(w, "nested too deep");
	w->at[w->depth].each = each;
	w->at[w->depth].len = 0;
	w->at[w->depth].unmatchable = 0;
	w->depth++;
	return 0;
}

static int
object(struct walker *w)
{
	const char	*name;
	size_t		 n;
	int		 first = 1;

	w->p++;
	for (;;) {
		skip_ws(w);
		if (w->p < w->end && *w->p == '}' && first) {
			w->p++;
			return 0;
		}
		if (w->p >= w->end || *w->p != '"')
			return fail(w, "expected a member name");
		if (enter(w, 0) == -1)
			return -1;
		/* A name too long for the key buffer is checked, never matched. */
		name = w->p;
		if (string(w, w->at[w->depth - 1].key, KEY_MAX, &n) == -1) {
			if (strstr(w->err, "too long") == NULL)
				return -1;
			w->p = name;
			w->stop = JSON_PICK_OK;
			w->at[w->depth - 1].unmatchable = 1;
			if (string(w, NULL, 0, &n) == -1)
				return -1;
		}
		w->at[w->depth - 1].len = n;
		skip_ws(w);
		if (w->p >= w->end || *w->p != ':')
			return fail(w, "expected ':'");
		w->p++;
		if (value(w) == -1)
			return -1;
		w->depth--;
		skip_ws(w);
		if (w->p < w->end && *w->p == ',') {
			w->p++;
			first = 0;
			continue;
		}
		if (w->p < w->end && *w->p == '}') {
			w->p++;
			return 0;
		}
		return fail(w, "expected ',' or '}'");
	}
}

static int
array(struct walker *w)
{
	int	 first = 1;

	w->p++;
	if (enter(w, 1) == -1)
		return -1;
	for (;;) {
		skip_ws(w);
		if (w->p < w->end && *w->p == ']' && first)
			break;
		if (value(w) == -1)
			return -1;
		skip_ws(w);
		if (w->p < w->end && *w->p == ',') {
			w->p++;
			first = 0;
			continue;
		}
		if (w->p < w->end && *w->p == ']')
			break;
		return fail(w, "expected ',' or ']'");
	}
	w->p++;
	w->depth--;
	return 0;
}

static int
value(struct walker *w)
{
	size_t		 i, n, picked[PICKS_MAX], npicked = 0;
	const char	*start;
	enum json_kind	 kind;
	int		 rc, wants_string = 0;

	skip_ws(w);
	if (w->p >= w->end)
		return fail(w, "expected a value");
	for (i = 0; i < w->npicks; i++)
		if (matches(w, i)) {
			picked[npicked++] = i;
			wants_string |= w->picks[i].string != NULL;
		}
	start = w->p;
	switch (*w->p) {
	case '{':
		kind = JSON_OBJECT;
		rc = object(w);
		break;
	case '[':
		kind = JSON_ARRAY;
		rc = array(w);
		break;
	case '"':
		kind = JSON_STRING;
		rc = wants_string ? string(w, w->str, sizeof(w->str), &n) :
		    string(w, NULL, 0, &n);
		break;
	case 't':
		kind = JSON_BOOL;
		rc = literal(w, "true");
		break;
	case 'f':
		kind = JSON_BOOL;
		rc = literal(w, "false");
		break;
	case 'n':
		kind = JSON_NULL;
		rc = literal(w, "null");
		break;
	default:
		if (*w->p != '-' && (*w->p < '0' || *w->p > '9'))
			return fail(w, "expected a value");
		kind = JSON_NUMBER;
		rc = number(w);
		break;
	}
	if (rc == -1)
		return -1;
	for (i = 0; i < npicked; i++) {
		struct json_pick *pk = &w->picks[picked[i]];

		if (pk->kind != JSON_ANY && pk->kind != kind) {
			w->p = start;
			snprintf(w->err, w->errlen, "JSON: %s is not of the kind "
			    "expected, at byte %zu", pk->path,
			    (size_t)(start - w->start));
			w->stop = JSON_PICK_BAD;
			return -1;
		}
		pk->found++;
		pk->raw = start;
		pk->rawlen = (size_t)(w->p - start);
		if (kind == JSON_STRING && pk->string != NULL &&
		    pk->string(pk->ctx, w->str, n) != 0) {
			snprintf(w->err, w->errlen, "stopped by its reader");
			w->stop = JSON_PICK_STOPPED;
			return -1;
		}
	}
	return 0;
}

enum json_pick_result
json_pick(const char *text, size_t len, struct json_pick *picks, size_t npicks,
    char *err, size_t errlen)
{
	static struct walker	 zero;
	struct walker		 w = zero;
	size_t			 i;

	w.start = w.p = text;
	w.end = text + len;
	w.picks = picks;
	w.npicks = npicks;
	w.err = err;
	w.errlen = errlen;
	w.stop = JSON_PICK_OK;
	if (npicks > PICKS_MAX) {
		snprintf(err, errlen, "JSON: too many paths");
		return JSON_PICK_BAD;
	}
	for (i = 0; i < npicks; i++) {
		picks[i].found = 0;
		picks[i].raw = NULL;
		picks[i].rawlen = 0;
		if (parse_path(picks[i].path, w.segs[i], &w.nsegs[i]) == -1) {
			snprintf(err, errlen, "JSON: path %s too long",
			    picks[i].path);
			return JSON_PICK_BAD;
		}
	}
	skip_ws(&w);
	if (w.p >= w.end || *w.p != '{') {
		fail(&w, "not a JSON object");
		return JSON_PICK_BAD;
	}
	if (value(&w) == -1)
		return w.stop;
	skip_ws(&w);
	if (w.p != w.end) {
		fail(&w, "text after the object");
		return JSON_PICK_BAD;
	}
	return JSON_PICK_OK;
}
