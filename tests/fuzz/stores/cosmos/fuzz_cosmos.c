/*
 * What Cosmos DB and Azure IMDS (or anything pretending to be them on
 * the network) answer, through the pure parsers the Cosmos DB store uses:
 * an item, a query page, an error body and its verdict, the headers it
 * reads back (x-ms-continuation, the numeric ones, Date), IMDS's token,
 * error and instance answers; and the partition-key encoder over any
 * bytes. Beyond memory errors and leaks, each input checks what the
 * caller relies on: a parser says GARBAGE rather than half-succeeding, a
 * page hands over exactly its documents' ids or none, a parsed date
 * formats back to itself, an encoded key is ASCII JSON that decodes to
 * the name, a token is header-safe and not yet expired, and every fixed
 * field stays terminated. The store's settings (the endpoint, the IMDS
 * host, a client id) go through their checks too: what passes is a clean
 * scheme and authority, a prefix of what was given.
 *
 * Input: which parser, two parameter bytes, then the body.
 */
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "fuzz.h"
#include "stores/cosmos/cosmos_auth.h"
#include "stores/cosmos/cosmos_config.h"
#include "stores/cosmos/cosmos_wire.h"

#define NOW	1700000000

struct seen {
	size_t		 calls;
	size_t		 stop_at;	/* ask to stop at this call */
	unsigned	 sum;		/* every byte read, for ASan */
};

static int
count_name(void *arg, const char *name, size_t len)
{
	struct seen	*s = arg;
	size_t		 i;

	CHECK(name != NULL && len > 0, "empty name handed on");
	for (i = 0; i < len; i++)
		s->sum += (unsigned char)name[i];
	return ++s->calls == s->stop_at;
}

/* body read the loose way (NUL-terminated); NULL if it is not JSON. */
static struct json_object *
loose(const char *body, size_t len)
{
	struct json_object	*o = json_tokener_parse(body);

	if (o != NULL && strlen(body) != len) {
		json_object_put(o);
		o = NULL;
	}
	return o;
}

/* The number of Documents the body holds, read loosely; -1 if none. */
static long
documents_in(const char *body, size_t len)
{
	struct json_object	*o, *docs;
	long			 n = -1;

	if ((o = loose(body, len)) != NULL &&
	    json_object_object_get_ex(o, "Documents", &docs) &&
	    json_object_is_type(docs, json_type_array))
		n = (long)json_object_array_length(docs);
	json_object_put(o);
	return n;
}

static int
printable(const char *s, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

static int
hex4(const char *p, unsigned long *v)
{
	int	 i;

	*v = 0;
	for (i = 0; i < 4; i++) {
		char c = p[i];

		if (c >= '0' && c <= '9')
			*v = *v << 4 | (unsigned long)(c - '0');
		else if (c >= 'a' && c <= 'f')
			*v = *v << 4 | (unsigned long)(c - 'a' + 10);
		else
			return -1;
	}
	return 0;
}

static size_t
put_utf8(char *out, unsigned long c)
{
	if (c < 0x80) {
		out[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		out[0] = (char)(0xc0 | c >> 6);
		out[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c < 0x10000) {
		out[0] = (char)(0xe0 | c >> 12);
		out[1] = (char)(0x80 | (c >> 6 & 0x3f));
		out[2] = (char)(0x80 | (c & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | c >> 18);
	out[1] = (char)(0x80 | (c >> 12 & 0x3f));
	out[2] = (char)(0x80 | (c >> 6 & 0x3f));
	out[3] = (char)(0x80 | (c & 0x3f));
	return 4;
}

/*
 * The header decoded by hand: ["..."] with JSON's escapes, \u in lower
 * case and surrogates paired. Not json-c: 0.16 decodes some escaped
 * pairs (U+1D800..U+1DFFF and the like in every plane) as U+FFFD
 * (json-c pull request 893), which would make the oracle wrong. Returns
 * the decoded length, or -1 if the header is not of that form.
 */
static long
decode_key(const char *h, size_t n, char *out)
{
	size_t		 i, o = 0;
	unsigned long	 c, lo;

	if (n < 4 || memcmp(h, "[\"", 2) != 0 || memcmp(h + n - 2, "\"]", 2) != 0)
		return -1;
	for (i = 2; i < n - 2; ) {
		if (h[i] == '"')
			return -1;
		if (h[i] != '\\') {
			out[o++] = h[i++];
			continue;
		}
		if (i + 1 >= n - 2)
			return -1;
		switch (h[i + 1]) {
		case '"': case '\\': out[o++] = h[i + 1]; i += 2; continue;
		case 'b': out[o++] = '\b'; i += 2; continue;
		case 'f': out[o++] = '\f'; i += 2; continue;
		case 'n': out[o++] = '\n'; i += 2; continue;
		case 'r': out[o++] = '\r'; i += 2; continue;
		case 't': out[o++] = '\t'; i += 2; continue;
		case 'u': break;
		default: return -1;
		}
		if (i + 6 > n - 2 || hex4(h + i + 2, &c) == -1)
			return -1;
		i += 6;
		if (c >= 0xdc00 && c <= 0xdfff)
			return -1;
		if (c >= 0xd800 && c <= 0xdbff) {
			if (i + 6 > n - 2 || h[i] != '\\' || h[i + 1] != 'u' ||
			    hex4(h + i + 2, &lo) == -1 || lo < 0xdc00 || lo > 0xdfff)
				return -1;
			i += 6;
			c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
		}
		o += put_utf8(out + o, c);
	}
	return (long)o;
}

static void
fuzz_partition_key(const char *name, size_t len)
{
	struct buf	 b;
	char		*back;
	long		 n;

	buf_init(&b, 64 * 1024);
	if (cosmos_partition_key(&b, name, len) == 0) {
		CHECK(printable(b.data, b.len), "non-ASCII header");
		CHECK((back = malloc(b.len)) != NULL, "out of memory");
		n = decode_key(b.data, b.len, back);
		CHECK(n >= 0 && (size_t)n == len && memcmp(back, name, len) == 0,
		    "header does not decode to the name");
		free(back);
	}
	buf_free(&b);
}

/*
 * A URL setting: what passes is the input without its trailing slashes,
 * one of the schemes, then only authority bytes; what fails leaves "".
 */
static void
fuzz_url(const char *body, size_t len, int imds, size_t outlen)
{
	char	 out[COSMOS_URL_MAX];
	size_t	 n, skip;
	int	 rc;

	memset(out, 'Z', sizeof(out));
	rc = imds ? cosmos_parse_imds_host(body, len, out, outlen) :
	    cosmos_parse_endpoint(body, len, out, outlen);
	CHECK(memchr(out, '\0', outlen) != NULL, "url not terminated");
	if (rc != 0) {
		CHECK(out[0] == '\0', "refused url left '%s'", out);
		return;
	}
	n = strlen(out);
	CHECK(n < outlen && n <= len && memcmp(out, body, n) == 0,
	    "'%s' is not a prefix of the input", out);
	CHECK(strspn(body + n, "/") == len - n, "dropped more than slashes");
	CHECK(imds || len - n <= 1, "endpoint with a path");
	skip = strncmp(out, "https://", 8) == 0 ? 8 :
	    strncmp(out, "http://", 7) == 0 && imds ? 7 : 0;
	CHECK(skip > 0, "scheme of '%s'", out);
	CHECK(n > skip && strspn(out + skip, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef"
	    "ghijklmnopqrstuvwxyz0123456789.-:[]") == n - skip,
	    "authority of '%s'", out);
}

static void
fuzz_imds_token(const char *body, size_t len, unsigned ceiling)
{
	struct buf	 tok;
	time_t		 exp = 99;
	char		 err[256];

	buf_init(&tok, 64 + ceiling * 16);
	if (cosmos_parse_imds_token(body, len, NOW, &tok, &exp, err,
	    sizeof(err)) == 0) {
		CHECK(tok.len > 0 && printable(tok.data, tok.len) &&
		    memchr(tok.data, ' ', tok.len) == NULL, "unsafe token");
		CHECK(exp > NOW, "expired token accepted");
	} else {
		CHECK(tok.len == 0 && exp == 0, "failure left a token");
		CHECK(memchr(err, '\0', sizeof(err)) != NULL, "err");
	}
	buf_free(&tok);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cosmos_instance	 inst;
	struct cosmos_error	 e;
	struct seen		 s = { 0, 0, 0 };
	enum cosmos_parse	 p;
	enum cosmos_verdict	 v;
	char			 err[256], out[128], date[COSMOS_DATE_SIZE];
	char			*body;
	size_t			 len;
	long			 n, docs;
	time_t			 t;

	if (size < 3)
		return 0;
	len = size - 3;
	/* A copy of exactly len bytes (plus a NUL for the loose oracle). */
	if ((body = malloc(len + 1)) == NULL)
		return 0;
	memcpy(body, data + 3, len);
	body[len] = '\0';
	memset(err, 'Z', sizeof(err));
	err[sizeof(err) - 1] = '\0';

	switch (data[0] % 12) {
	case 0:
		/* The name is the body's first data[1] % 8 bytes, or "a". */
		p = cosmos_parse_item(body, len, len > data[1] % 8 ?
		    body : "a", len > data[1] % 8 ? data[1] % 8 : 1, err,
		    sizeof(err));
		CHECK(p == COSMOS_PARSED || p == COSMOS_GARBAGE, "item %d", p);
		break;
	case 1:
		s.stop_at = data[1];	/* 0: never */
		p = cosmos_parse_page(body, len, count_name, &s, err,
		    sizeof(err));
		CHECK((p == COSMOS_STOPPED) == (s.stop_at != 0 &&
		    s.calls == s.stop_at), "stopped %d after %zu of %zu", p,
		    s.calls, s.stop_at);
		if (p == COSMOS_PARSED) {
			docs = documents_in(body, len);
			CHECK(docs < 0 || (size_t)docs == s.calls,
			    "%zu names from %ld documents", s.calls, docs);
		}
		break;
	case 2:
		memset(&e, 'Z', sizeof(e));
		cosmos_parse_error(body, len, &e);
		CHECK(memchr(e.code, '\0', sizeof(e.code)) != NULL &&
		    memchr(e.message, '\0', sizeof(e.message)) != NULL,
		    "error fields not terminated");
		CHECK(strchr(e.message, '\r') == NULL, "CR in message");
		v = cosmos_classify((long)data[1] * 4 + data[2] % 4,
		    data[2] & 0x10 ? 1002 : data[2] & 0x20 ? 5300 : 0, &e,
		    data[2] >> 7);
		CHECK(v >= COSMOS_RETRY && v <= COSMOS_BROKEN, "verdict %d", v);
		CHECK(e.cosmos || v == COSMOS_BROKEN || v == COSMOS_RETRY ||
		    v == COSMOS_THROTTLED, "verdict %d on a foreign body", v);
		break;
	case 3:
		if (cosmos_continuation_ok(body, len))
			CHECK(printable(body, len) && len > 0 &&
			    len <= COSMOS_CONTINUATION_MAX, "bad continuation");
		if (cosmos_parse_header_num(body, len, &n) == 0)
			CHECK(n >= 0 && n <= 999999999, "number %ld", n);
		else
			CHECK(n == 0, "number %ld on failure", n);
		break;
	case 4:
		/* The Date header: what parses must format back to itself. */
		if (cosmos_parse_date(body, len, &t) == 0) {
			CHECK(cosmos_format_date(t, date) == 0 &&
			    strlen(date) == len && memcmp(date, body, len) == 0,
			    "'%s' parsed to %lld, which is '%s'", body,
			    (long long)t, date);
		} else
			CHECK(t == 0, "time %lld on failure", (long long)t);
		break;
	case 5:
		fuzz_imds_token(body, len, data[1]);
		break;
	case 6:
		memset(out, 'Z', sizeof(out));
		cosmos_parse_imds_error(body, len, out, data[1] % 2 ?
		    sizeof(out) : 1 + data[2] % 16);
		CHECK(memchr(out, '\0', sizeof(out)) != NULL, "not terminated");
		break;
	case 7:
		memset(&inst, 'Z', sizeof(inst));
		if (cosmos_parse_instance(body, len, &inst) == 0)
			CHECK(inst.vm_id[0] != '\0' || inst.name[0] != '\0',
			    "neither id nor name");
		CHECK(memchr(inst.vm_id, '\0', sizeof(inst.vm_id)) != NULL &&
		    memchr(inst.name, '\0', sizeof(inst.name)) != NULL,
		    "instance fields not terminated");
		CHECK(strlen(inst.vm_id) == 0 || strlen(inst.vm_id) == 36,
		    "vmId '%s'", inst.vm_id);
		CHECK(strspn(inst.name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklm"
		    "nopqrstuvwxyz0123456789._-") == strlen(inst.name),
		    "name '%s'", inst.name);
		break;
	case 8:
		fuzz_partition_key(body, len);
		break;
	case 9:
		/* Any id the store may be handed, as a path and a link. */
		{
			struct buf	 path, link;

			buf_init(&path, 4096);
			buf_init(&link, 4096);
			if (cosmos_item_target(&path, &link, "d", "c", body,
			    len) == 0) {
				CHECK(printable(path.data, path.len),
				    "path not ASCII");
				CHECK(link.len == strlen("dbs/d/colls/c/docs/") +
				    len && memcmp(link.data + link.len - len,
				    body, len) == 0, "link lost the id");
			}
			buf_free(&path);
			buf_free(&link);
		}
		break;
	case 10:
		fuzz_url(body, len, data[1] & 1, data[2] & 1 ? COSMOS_URL_MAX :
		    1 + data[2] % 64);
		break;
	default:
		if (cosmos_valid_client_id(body, len))
			CHECK(len == 36 && strspn(body, "0123456789abcdefABCDEF-")
			    == 36 && body[8] == '-' && body[23] == '-',
			    "client id '%s'", body);
		break;
	}
	CHECK(memchr(err, '\0', sizeof(err)) != NULL, "err not terminated");
	free(body);
	return 0;
}
