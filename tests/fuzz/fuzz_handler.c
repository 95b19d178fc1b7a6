/*
 * The whole request handler, as the FastCGI glue drives it: any method,
 * any raw target (bytes the web server would pass or not), any declared
 * body length, over an in-memory store whose contents and failure the
 * input also chooses. Each response is checked against the contract: the
 * status an independent reading of the request predicts, a body that is
 * valid UTF-8 and, when JSON, one strict JSON value naming exactly the
 * decoded name, headers from fixed strings only, and a store that changed
 * only for a POST that answered 200. With the store gate in place, every
 * slot a request took is given back once it is answered.
 *
 * Input: method byte (low 3 bits the method, bit 3 the gate), store byte,
 * two body-length bytes, then the target.
 */
#include <string.h>

#include <json-c/json.h>

#include "fuzz.h"
#include "handler.h"
#include "name.h"
#include "route.h"

#define MEM_CHECK	CHECK
#include "../unit/memstore.h"

#define JSON	"application/json"
#define TEXT	"text/plain; charset=utf-8"

/* What may already be stored, including an invalid name from elsewhere. */
static const struct {
	const char	*s;
	size_t		 len;
} seeds[] = {
	{ "bob", 3 }, { "a\"b c", 5 }, { "\xe2\x9c\x93", 3 }, { "x", 1 },
	{ "\xff\xfe", 2 }, { "%2F", 3 }, { "a+b", 3 }, { "\\", 1 },
	{ "\xf0\x9f\x98\x80", 4 }, { "..x", 3 }, { "__x_", 4 }, { "<>", 2 },
	{ "\xc2\x80", 2 }, { "tab", 3 }, { "\xed\xa0\x80", 3 }, { "z", 1 },
};

/* The one JSON value the body holds (strict, UTF-8 checked), or NULL. */
static struct json_object *
parse_json(const struct buf *b)
{
	struct json_tokener	*tok;
	struct json_object	*o;

	CHECK(b->len >= 2 && b->data[b->len - 1] == '\n',
	    "JSON body without its newline");
	if ((tok = json_tokener_new()) == NULL)
		return NULL;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
	    JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, b->data, (int)b->len - 1);
	CHECK(o != NULL && json_tokener_get_error(tok) == json_tokener_success
	    && json_tokener_get_parse_end(tok) == b->len - 1,
	    "invalid JSON: %.*s", (int)b->len, b->data);
	json_tokener_free(tok);
	return o;
}

/* Whether o is {"CandidateName": name} and nothing else. */
static int
is_candidate(struct json_object *o, const char *name, size_t len)
{
	struct json_object	*v;

	return json_object_is_type(o, json_type_object) &&
	    json_object_object_length(o) == 1 &&
	    json_object_object_get_ex(o, "CandidateName", &v) &&
	    json_object_is_type(v, json_type_string) &&
	    (size_t)json_object_get_string_len(v) == len &&
	    memcmp(json_object_get_string(v), name, len) == 0;
}

/* The status the contract gives this request on this store. */
static int
predict(const struct request *req, enum method me, char *name, size_t *len)
{
	struct route_match	 m;
	int			 i, valid = 0;

	*len = 0;
	route_match(req->target, req->target_len, &m);
	if (m.route == ROUTE_NONE)
		return 404;
	if (!route_allows(m.route, me))
		return 405;
	if (req->body_len > BODY_MAX)
		return 413;
	switch (m.route) {
	case ROUTE_ROOT:
		return 400;
	case ROUTE_GTG:
		return 200;
	case ROUTE_CANDIDATES:
		if (mem.fail == STORE_UNAVAILABLE)
			return 503;
		if (mem.fail != STORE_OK)
			return 500;
		for (i = 0; i < mem.count; i++)
			if (name_validate(mem.names[i], mem.lens[i]) !=
			    NAME_BAD_UTF8)
				valid++;
		return valid > 0 ? 200 : 404;
	default:
		break;
	}
	if (m.segment_len > 3 * NAME_MAX_BYTES ||
	    name_parse(m.segment, m.segment_len, name, len) != NAME_OK)
		return 400;
	if (mem.fail == STORE_UNAVAILABLE)
		return 503;
	if (me == METHOD_POST)
		return mem.fail == STORE_OK ? 200 : 500;
	if (mem.fail == STORE_REFUSED)
		return 500;
	return mem.fail == STORE_OK && mem_find(name, *len) >= 0 ? 200 : 404;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *methods[] = { "GET", "HEAD", "POST", "PUT",
	    "DELETE", NULL, "", "get" };
	static const enum store_status fails[] = { STORE_OK,
	    STORE_UNAVAILABLE, STORE_REFUSED, STORE_NOT_FOUND };
	static struct response	 resp, again;
	static struct store_gate gate;
	static struct list_cache cache;
	static int		 once;
	struct handler_ctx	 ctx = { &mem_ops, NULL, "i-0abc\"\n", NULL,
	    5000, 20000, NULL, NULL, NULL };
	struct request		 req;
	struct json_object	*o, *v;
	enum method		 me;
	char			 name[3 * NAME_MAX_BYTES];
	size_t			 len, before, i;
	int			 want, listed;

	if (size < 4)
		return 0;
	if (!once) {
		/* One body buffer reused across inputs, as a worker does. */
		buf_init(&resp.body, RESPONSE_MAX);
		buf_init(&again.body, RESPONSE_MAX);
		buf_init(&cache.body, LIST_CACHE_MAX);
		/* One slot, free whenever a request starts. */
		CHECK(gate_init(&gate, 1, 1000) == 0, "gate_init");
		once = 1;
	}
	if (data[0] & 8)
		ctx.gate = &gate;
	/* The store below starts over: what the cache holds is of another. */
	cache.valid = 0;
	if (data[0] & 16)
		ctx.cache = &cache;
	mem_reset(fails[data[1] & 3], (data[1] >> 2) & 3);
	for (i = 0; i < (size_t)(data[1] >> 4); i++)
		mem_add(seeds[i].s, seeds[i].len);
	before = (size_t)mem.count;

	req.method = methods[data[0] & 7];
	req.body_len = data[2] == 0xff ? SIZE_MAX - data[3] :
	    (size_t)data[2] << 8 | data[3];
	req.target = (const char *)data + 4;
	req.target_len = size - 4;
	me = route_method(req.method);
	want = predict(&req, me, name, &len);

	memset(resp.error, 'Z', sizeof(resp.error));
	handle(&ctx, &req, &resp);
	/* Every slot a request took is given back. */
	CHECK(gate.busy == 0, "%ld store slots still taken", gate.busy);
	/*
	 * With a cache, the same request again gets the same answer (a put
	 * again is an upsert of the same name): a listing served from the
	 * cache is the one the store would give.
	 */
	if (ctx.cache != NULL) {
		handle(&ctx, &req, &again);
		CHECK(again.status == resp.status && again.body.len ==
		    resp.body.len && (resp.body.len == 0 ||
		    memcmp(again.body.data, resp.body.data, resp.body.len) ==
		    0), "a second %s %.*s differs", req.method != NULL ?
		    req.method : "-", (int)req.target_len, req.target);
	}

	CHECK(resp.status == want, "status %d, predicted %d", resp.status,
	    want);
	CHECK(memchr(resp.error, '\0', sizeof(resp.error)) != NULL,
	    "error line not terminated");
	CHECK((resp.error[0] != '\0') == (want == 500 || want == 503),
	    "error line '%s' for %d", resp.error, want);
	CHECK((resp.allow != NULL) == (want == 405), "Allow on %d", want);
	CHECK(resp.allow == NULL || strcmp(resp.allow, "GET, HEAD") == 0 ||
	    strcmp(resp.allow, "GET, HEAD, POST") == 0, "Allow '%s'",
	    resp.allow);
	CHECK(resp.retry_after == (want == 503), "Retry-After %d on %d",
	    resp.retry_after, want);
	CHECK(resp.content_type == NULL || strcmp(resp.content_type, JSON) ==
	    0 || strcmp(resp.content_type, TEXT) == 0, "type '%s'",
	    resp.content_type);
	CHECK(resp.content_type != NULL || resp.body.len == 0,
	    "body without a type");

	/* Only a POST that answered 200 may have changed the store. */
	if (want == 200 && me == METHOD_POST)
		CHECK(mem_find(name, len) >= 0 && (size_t)mem.count <=
		    before + 1, "the write is not stored");
	else
		CHECK((size_t)mem.count == before, "%d names stored, not %zu",
		    mem.count, before);

	if (resp.content_type == NULL || strcmp(resp.content_type, JSON) != 0) {
		CHECK(resp.body.len == 0 || strcmp(resp.body.data, want == 404 ?
		    "Not Found" : want == 405 ? "Method Not Allowed" :
		    "Unable to update") == 0, "text body '%s' for %d",
		    resp.body.data, want);
		return 0;
	}
	if ((o = parse_json(&resp.body)) == NULL)
		return 0;
	if (want == 200 && len > 0) {
		/* GET answers a list of one, POST the object. */
		if (me == METHOD_POST)
			CHECK(is_candidate(o, name, len), "POST body");
		else
			CHECK(json_object_is_type(o, json_type_array) &&
			    json_object_array_length(o) == 1 &&
			    is_candidate(json_object_array_get_idx(o, 0), name,
			    len), "GET body");
	} else if (want == 200 && json_object_is_type(o, json_type_object)) {
		CHECK(json_object_object_length(o) == 2 &&
		    json_object_object_get_ex(o, "instance-id", &v) &&
		    strcmp(json_object_get_string(v), ctx.instance_id) == 0,
		    "details %s", json_object_to_json_string(o));
	} else if (want == 200 && json_object_is_type(o, json_type_array)) {
		/* The listing: every stored name that is valid UTF-8, in order. */
		listed = 0;
		for (i = 0; i < (size_t)mem.count; i++) {
			if (name_validate(mem.names[i], mem.lens[i]) ==
			    NAME_BAD_UTF8)
				continue;
			CHECK(is_candidate(json_object_array_get_idx(o,
			    (size_t)listed), mem.names[i], mem.lens[i]),
			    "listing item %d", listed);
			listed++;
		}
		CHECK((size_t)listed == json_object_array_length(o),
		    "listing of %zu, want %d", json_object_array_length(o),
		    listed);
	} else
		/* 400, 413 and 503 say why in one member. */
		CHECK(json_object_is_type(o, json_type_object) &&
		    json_object_object_length(o) == 1, "error body %s",
		    json_object_to_json_string(o));
	json_object_put(o);
	return 0;
}
