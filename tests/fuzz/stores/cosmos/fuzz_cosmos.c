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
 * field stays terminated.
 *
 * Input: which parser, two parameter bytes, then the body.
 */
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "fuzz.h"
#include "stores/cosmos/cosmos_auth.h"
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

static void
fuzz_partition_key(const char *name, size_t len)
{
	struct json_object	*o, *s;
	struct buf		 b;

	buf_init(&b, 64 * 1024);
	if (cosmos_partition_key(&b, name, len) == 0) {
		CHECK(printable(b.data, b.len), "non-ASCII header");
		o = json_tokener_parse(b.data);
		CHECK(o != NULL && json_object_is_type(o, json_type_array) &&
		    json_object_array_length(o) == 1, "not a JSON array");
		s = json_object_array_get_idx(o, 0);
		CHECK(json_object_is_type(s, json_type_string) &&
		    (size_t)json_object_get_string_len(s) == len &&
		    memcmp(json_object_get_string(s), name, len) == 0,
		    "header does not decode to the name");
		json_object_put(o);
	}
	buf_free(&b);
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

	switch (data[0] % 10) {
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
		CHECK(p != COSMOS_GARBAGE || s.calls == 0,
		    "%zu names before garbage", s.calls);
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
	default:
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
	}
	CHECK(memchr(err, '\0', sizeof(err)) != NULL, "err not terminated");
	free(body);
	return 0;
}
