/*
 * The whole request handler over an in-memory store whose failures the
 * table chooses: every route, status, header and body, and what the store
 * holds afterwards.
 */
#include "unit.h"

#include <stdlib.h>

#include "handler.h"
#include "log.h"

/* A broken store promise fails the test, saying which. */
#define MEM_CHECK(cond, ...) do {					\
	if (!(cond))							\
		fail_msg(__VA_ARGS__);					\
} while (0)
#include "memstore.h"

#define JSON "application/json"
#define TEXT "text/plain; charset=utf-8"
#define X STORE_OK	/* no failure injected */

static const struct row {
	int		 line;
	const char	*method;
	const char	*target;
	size_t		 body_len;
	const char	*stored;	/* "a,b": names stored before */
	enum store_status fail;
	int		 fail_after;
	int		 status;
	const char	*type;
	const char	*body;
	const char	*allow;
	int		 retry_after;
	int		 count_after;	/* names stored afterwards */
	int		 logs;		/* an error line is due */
} rows[] = {
	{ __LINE__, "GET", "/gtg", 0, "", X, 0, 200, NULL, "", NULL, 0, 0, 0 },
	{ __LINE__, "HEAD", "/gtg", 0, "", X, 0, 200, NULL, "", NULL, 0, 0, 0 },
	/* The health path answers even when the store is down. */
	{ __LINE__, "GET", "/gtg", 0, "", STORE_UNAVAILABLE, 0, 200, NULL, "",
	  NULL, 0, 0, 0 },
	{ __LINE__, "GET", "/gtg?details=true", 0, "", STORE_UNAVAILABLE, 0,
	  200, JSON, "{\"connected\":\"true\",\"instance-id\":\"i-0abc\"}\n",
	  NULL, 0, 0, 0 },
	{ __LINE__, "POST", "/gtg", 0, "", X, 0, 405, TEXT,
	  "Method Not Allowed", "GET, HEAD", 0, 0, 0 },
	{ __LINE__, "GET", "/", 0, "", X, 0, 400, JSON,
	  "{\"status\":\"invalid request\"}\n", NULL, 0, 0, 0 },
	{ __LINE__, "DELETE", "/", 0, "", X, 0, 405, TEXT,
	  "Method Not Allowed", "GET, HEAD", 0, 0, 0 },
	{ __LINE__, "GET", "/nope", 0, "", X, 0, 404, TEXT, "Not Found", NULL,
	  0, 0, 0 },
	{ __LINE__, "DELETE", "/nope", 0, "", X, 0, 404, TEXT, "Not Found",
	  NULL, 0, 0, 0 },
	{ __LINE__, "GET", "/candidate/bob", 0, "", X, 0, 404, TEXT,
	  "Not Found", NULL, 0, 0, 0 },
	{ __LINE__, "GET", "/candidate/bob", 0, "bob", X, 0, 200, JSON,
	  "[{\"CandidateName\":\"bob\"}]\n", NULL, 0, 1, 0 },
	{ __LINE__, "POST", "/candidate/bob", 0, "", X, 0, 200, JSON,
	  "{\"CandidateName\":\"bob\"}\n", NULL, 0, 1, 0 },
	{ __LINE__, "POST", "/candidate/bob", 0, "bob", X, 0, 200, JSON,
	  "{\"CandidateName\":\"bob\"}\n", NULL, 0, 1, 0 },
	{ __LINE__, "POST", "/candidate/bob", BODY_MAX, "", X, 0, 200, JSON,
	  "{\"CandidateName\":\"bob\"}\n", NULL, 0, 1, 0 },
	{ __LINE__, "POST", "/candidate/bob", BODY_MAX + 1, "", X, 0, 413, JSON,
	  "{\"error\":\"request body is larger than 16 KiB\"}\n", NULL, 0, 0,
	  0 },
	{ __LINE__, "PUT", "/candidate/bob", 0, "", X, 0, 405, TEXT,
	  "Method Not Allowed", "GET, HEAD, POST", 0, 0, 0 },
	/* JSON escaping is json-c's; '/' is never escaped as "\/". */
	{ __LINE__, "POST", "/candidate/a%22b%20c", 0, "", X, 0, 200, JSON,
	  "{\"CandidateName\":\"a\\\"b c\"}\n", NULL, 0, 1, 0 },
	{ __LINE__, "POST", "/candidate/%E2%9C%93", 0, "", X, 0, 200, JSON,
	  "{\"CandidateName\":\"\xe2\x9c\x93\"}\n", NULL, 0, 1, 0 },
	{ __LINE__, "POST", "/candidate/%252F", 0, "", X, 0, 200, JSON,
	  "{\"CandidateName\":\"%2F\"}\n", NULL, 0, 1, 0 },
	{ __LINE__, "POST", "/candidate/a%2Fb", 0, "", X, 0, 400, JSON,
	  "{\"error\":\"name contains one of / \\\\ ? #\"}\n", NULL, 0, 0, 0 },
	{ __LINE__, "POST", "/candidate/", 0, "", X, 0, 400, JSON,
	  "{\"error\":\"name is empty\"}\n", NULL, 0, 0, 0 },
	{ __LINE__, "POST", "/candidate/%C0%AF", 0, "", X, 0, 400, JSON,
	  "{\"error\":\"name is not valid UTF-8\"}\n", NULL, 0, 0, 0 },
	{ __LINE__, "GET", "/candidate/%zz", 0, "", X, 0, 400, JSON,
	  "{\"error\":\"name has a malformed percent-escape\"}\n", NULL, 0, 0,
	  0 },
	/* A down store is a 503 to retry, never a 404 hiding it. */
	{ __LINE__, "GET", "/candidate/bob", 0, "", STORE_UNAVAILABLE, 0, 503,
	  JSON, "{\"error\":\"store unavailable\"}\n", NULL, 1, 0, 1 },
	{ __LINE__, "POST", "/candidate/bob", 0, "", STORE_UNAVAILABLE, 0, 503,
	  JSON, "{\"error\":\"store unavailable\"}\n", NULL, 1, 0, 1 },
	{ __LINE__, "POST", "/candidate/bob", 0, "", STORE_REFUSED, 0, 500,
	  TEXT, "Unable to update", NULL, 0, 0, 1 },
	{ __LINE__, "POST", "/candidate/bob", 0, "", STORE_NOT_FOUND, 0, 500,
	  TEXT, "Unable to update", NULL, 0, 0, 1 },
	/* A refused read is no failed update. */
	{ __LINE__, "GET", "/candidate/bob", 0, "", STORE_REFUSED, 0, 500,
	  JSON, "{\"error\":\"store refused the request\"}\n", NULL, 0, 0,
	  1 },
	{ __LINE__, "GET", "/candidates", 0, "a", STORE_REFUSED, 0, 500,
	  JSON, "{\"error\":\"store refused the request\"}\n", NULL, 0, 1,
	  1 },
	{ __LINE__, "GET", "/candidates", 0, "", X, 0, 404, TEXT, "Not Found",
	  NULL, 0, 0, 0 },
	{ __LINE__, "GET", "/candidates", 0, "a,b", X, 0, 200, JSON,
	  "[{\"CandidateName\":\"a\"},{\"CandidateName\":\"b\"}]\n", NULL, 0,
	  2, 0 },
	/*
	 * A name stored behind the API's back that is not UTF-8 is left out
	 * of a listing, whose JSON must stay valid; alone, there is none.
	 */
	{ __LINE__, "GET", "/candidates", 0, "a,\xff,b\xc0\xaf", X, 0, 200,
	  JSON, "[{\"CandidateName\":\"a\"}]\n", NULL, 0, 3, 0 },
	{ __LINE__, "GET", "/candidates", 0, "\xff", X, 0, 404, TEXT,
	  "Not Found", NULL, 0, 1, 0 },
	/* Other names the API refuses are still listed, escaped. */
	{ __LINE__, "GET", "/candidates", 0, "__x__,a\\b", X, 0, 200, JSON,
	  "[{\"CandidateName\":\"__x__\"},{\"CandidateName\":\"a\\\\b\"}]\n",
	  NULL, 0, 2, 0 },
	/* A failure on a later page is a 503, not a truncated list. */
	{ __LINE__, "GET", "/candidates", 0, "a,b,c", STORE_UNAVAILABLE, 2,
	  503, JSON, "{\"error\":\"store unavailable\"}\n", NULL, 1, 3, 1 },
	{ __LINE__, "GET", "/candidates", 0, "", STORE_UNAVAILABLE, 0, 503,
	  JSON, "{\"error\":\"store unavailable\"}\n", NULL, 1, 0, 1 },
	{ __LINE__, "POST", "/candidates", 0, "", X, 0, 405, TEXT,
	  "Method Not Allowed", "GET, HEAD", 0, 0, 0 },
};

/* Adds the names in stored, "a,b", to the store. */
static void
load(const char *stored)
{
	const char	*p = stored, *comma;
	size_t		 len;

	while (*p != '\0') {
		comma = strchr(p, ',');
		len = comma ? (size_t)(comma - p) : strlen(p);
		mem_add(p, len);
		p += len + (comma ? 1 : 0);
	}
}

static void
test_rows(void **state)
{
	struct handler_ctx	 ctx = { &mem_ops, NULL, "i-0abc", NULL, 5000,
	    20000, NULL, NULL, NULL };
	struct response		 resp;
	struct request		 req;
	size_t			 i;

	(void)state;
	buf_init(&resp.body, RESPONSE_MAX);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];

		mem_reset(r->fail, r->fail_after);
		load(r->stored);
		req.method = r->method;
		req.target = r->target;
		req.target_len = strlen(r->target);
		req.body_len = r->body_len;
		handle(&ctx, &req, &resp);

		if (resp.status != r->status)
			ROW_FAIL(r->line, "status %d", resp.status);
		if ((resp.content_type == NULL) != (r->type == NULL) ||
		    (r->type != NULL &&
		    strcmp(resp.content_type, r->type) != 0))
			ROW_FAIL(r->line, "content type %s",
			    resp.content_type ? resp.content_type : "(none)");
		if (resp.body.len != strlen(r->body) || (resp.body.len > 0 &&
		    memcmp(resp.body.data, r->body, resp.body.len) != 0))
			ROW_FAIL(r->line, "body %s", resp.body.data);
		if ((resp.allow == NULL) != (r->allow == NULL) ||
		    (r->allow != NULL && strcmp(resp.allow, r->allow) != 0))
			ROW_FAIL(r->line, "allow %s", resp.allow);
		if (resp.retry_after != r->retry_after)
			ROW_FAIL(r->line, "retry-after %d", resp.retry_after);
		if (mem.count != r->count_after)
			ROW_FAIL(r->line, "stored %d names", mem.count);
		if ((resp.error[0] != '\0') != r->logs)
			ROW_FAIL(r->line, "error line '%s'", resp.error);
	}
	buf_free(&resp.body);
}

static void
count_block(void *arg)
{
	(*(int *)arg)++;
}

/*
 * A gate that stays full turns data requests into 503s; /gtg answers.
 * Whatever may wait on the store (the gate, the call) is announced first,
 * so the server can put another worker on duty; /gtg never is.
 */
static void
test_gate(void **state)
{
	struct store_gate	 gate;
	int			 blocks = 0;
	struct handler_ctx	 ctx = { &mem_ops, NULL, "i-0abc", &gate, 5000,
				    20000, NULL, count_block, &blocks };
	struct response		 resp;
	struct request		 req = { "POST", "/candidate/a", 12, 0 };
	struct deadline		 dl;

	(void)state;
	mem_reset(STORE_OK, 0);
	buf_init(&resp.body, RESPONSE_MAX);
	assert_int_equal(gate_init(&gate, 1, 20), 0);
	handle(&ctx, &req, &resp);
	assert_int_equal(resp.status, 200);
	assert_int_equal(blocks, 1);
	/* The slot was given back. */
	assert_int_equal(gate.busy, 0);

	/* Another worker holds the slot, stuck for longer than 20 ms. */
	deadline_start(&dl, 5000);
	assert_int_equal(gate_enter(&gate, GATE_POINT, &dl), GATE_IN);
	req.target = "/candidate/b", req.target_len = 12;
	handle(&ctx, &req, &resp);
	assert_int_equal(resp.status, 503);
	assert_int_equal(resp.retry_after, 1);
	assert_non_null(strstr(resp.error, "store slot"));
	assert_int_equal(mem.count, 1);
	req.method = "GET", req.target = "/candidates", req.target_len = 11;
	handle(&ctx, &req, &resp);
	assert_int_equal(resp.status, 503);
	assert_int_equal(blocks, 3);
	req.target = "/gtg", req.target_len = 4;
	handle(&ctx, &req, &resp);
	assert_int_equal(resp.status, 200);
	assert_int_equal(blocks, 3);
	assert_int_equal(gate.busy, 1);
	gate_leave(&gate, GATE_POINT);
	gate_destroy(&gate);
	buf_free(&resp.body);
}

/*
 * A listing is served again from the worker's cache while the store's
 * version holds, and from the store as soon as a write moves it; no
 * cache, or a store that cannot tell its version, always lists.
 */
static void
test_list_cache(void **state)
{
	struct list_cache	 cache = { { 0 }, 0, 0 };
	struct handler_ctx	 ctx = { &mem_ops, NULL, "i-0abc", NULL, 5000,
				    20000, &cache, NULL, NULL };
	struct response		 resp;
	struct request		 list = { "GET", "/candidates", 11, 0 };
	struct request		 post = { "POST", "/candidate/c", 12, 0 };
	char			 first[256];

	(void)state;
	buf_init(&cache.body, LIST_CACHE_MAX);
	buf_init(&resp.body, RESPONSE_MAX);
	mem_reset(STORE_OK, 0);
	mem_add("a", 1);
	mem_add("b", 1);
	handle(&ctx, &list, &resp);
	assert_int_equal(resp.status, 200);
	snprintf(first, sizeof(first), "%s", resp.body.data);
	handle(&ctx, &list, &resp);
	assert_int_equal(resp.status, 200);
	assert_string_equal(resp.body.data, first);
	assert_int_equal(mem.lists, 1);
	/* A write moves the version: the next listing holds it. */
	handle(&ctx, &post, &resp);
	assert_int_equal(resp.status, 200);
	handle(&ctx, &list, &resp);
	assert_int_equal(mem.lists, 2);
	assert_non_null(strstr(resp.body.data, "{\"CandidateName\":\"c\"}"));
	handle(&ctx, &list, &resp);
	assert_int_equal(mem.lists, 2);
	/* A store that cannot tell its version is always asked. */
	mem.fail = STORE_UNAVAILABLE;
	handle(&ctx, &list, &resp);
	assert_int_equal(resp.status, 503);
	assert_int_equal(mem.lists, 3);
	mem.fail = STORE_OK;
	/* No cache: every listing goes to the store. */
	ctx.cache = NULL;
	handle(&ctx, &list, &resp);
	handle(&ctx, &list, &resp);
	assert_int_equal(mem.lists, 5);
	buf_free(&resp.body);
	buf_free(&cache.body);
}

static void
test_buf_ceiling(void **state)
{
	struct buf	 b;
	char		*p;
	size_t		 len;

	(void)state;
	buf_init(&b, 8);
	assert_int_equal(buf_add(&b, "12345678", 8), 0);
	assert_int_equal(buf_add(&b, "9", 1), -1);
	/* Overflow frees: the buffer is empty and usable again. */
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(buf_printf(&b, "%d-%s", 42, "x"), 0);
	assert_string_equal(b.data, "42-x");
	assert_int_equal(buf_printf(&b, "%s", "too long!"), -1);
	buf_init(&b, 1024);
	assert_int_equal(buf_printf(&b, "%0300d", 7), 0);
	assert_int_equal(b.len, 300);
	p = buf_take(&b, &len);
	assert_int_equal(len, 300);
	assert_null(b.data);
	free(p);
}

static void
test_log_escape(void **state)
{
	static const struct {
		int		 line;
		const char	*in;
		size_t		 inlen;
		size_t		 dstlen;
		const char	*out;
	} esc[] = {
		{ __LINE__, "plain", 5, 64, "plain" },
		{ __LINE__, "a\nb", 3, 64, "a\\x0ab" },
		{ __LINE__, "\r\n", 2, 64, "\\x0d\\x0a" },
		{ __LINE__, "\a\\", 2, 64, "\\x07\\x5c" },
		{ __LINE__, "\x7f\xff", 2, 64, "\\x7f\\xff" },
		{ __LINE__, "a\0b", 3, 64, "a\\x00b" },
		/* Truncation never splits an escape nor overruns. */
		{ __LINE__, "ab\ncd", 5, 6, "ab" },
		{ __LINE__, "ab\ncd", 5, 7, "ab\\x0a" },
		{ __LINE__, "abc", 3, 1, "" },
	};
	char	 dst[64];
	size_t	 i, n;

	(void)state;
	for (i = 0; i < sizeof(esc) / sizeof(esc[0]); i++) {
		memset(dst, 'Z', sizeof(dst));
		n = log_escape(dst, esc[i].dstlen, esc[i].in, esc[i].inlen);
		if (strcmp(dst, esc[i].out) != 0 || n != strlen(esc[i].out))
			ROW_FAIL(esc[i].line, "got '%s'", dst);
		if (esc[i].dstlen < sizeof(dst) && dst[esc[i].dstlen] != 'Z')
			ROW_FAIL(esc[i].line, "wrote past the end");
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows),
		cmocka_unit_test(test_gate),
		cmocka_unit_test(test_list_cache),
		cmocka_unit_test(test_buf_ceiling),
		cmocka_unit_test(test_log_escape),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
