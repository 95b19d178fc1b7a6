/* Routing on the raw request target. */
#include "unit.h"

#include "route.h"

static const struct {
	int		 line;
	const char	*target;
	enum route	 route;
	int		 details;
	const char	*segment;
} rows[] = {
	{ __LINE__, "/", ROUTE_ROOT, 0, NULL },
	{ __LINE__, "/?x=1", ROUTE_ROOT, 0, NULL },
	{ __LINE__, "/gtg", ROUTE_GTG, 0, NULL },
	{ __LINE__, "/gtg?", ROUTE_GTG, 0, NULL },
	{ __LINE__, "/gtg?details", ROUTE_GTG, 1, NULL },
	{ __LINE__, "/gtg?details=true", ROUTE_GTG, 1, NULL },
	{ __LINE__, "/gtg?details=", ROUTE_GTG, 1, NULL },
	{ __LINE__, "/gtg?a=1&details=0", ROUTE_GTG, 1, NULL },
	{ __LINE__, "/gtg?detailsx=1", ROUTE_GTG, 0, NULL },
	{ __LINE__, "/gtg?xdetails", ROUTE_GTG, 0, NULL },
	{ __LINE__, "/gtg?a=details", ROUTE_GTG, 0, NULL },
	{ __LINE__, "/gtg/", ROUTE_NONE, 0, NULL },
	{ __LINE__, "/gtgx", ROUTE_NONE, 0, NULL },
	{ __LINE__, "/candidates", ROUTE_CANDIDATES, 0, NULL },
	{ __LINE__, "/candidates?limit=1", ROUTE_CANDIDATES, 0, NULL },
	{ __LINE__, "/candidates/", ROUTE_NONE, 0, NULL },
	{ __LINE__, "/candidate/alice", ROUTE_CANDIDATE, 0, "alice" },
	{ __LINE__, "/candidate/al%20ice?x", ROUTE_CANDIDATE, 0, "al%20ice" },
	{ __LINE__, "/candidate/a%2Fb", ROUTE_CANDIDATE, 0, "a%2Fb" },
	{ __LINE__, "/candidate/", ROUTE_CANDIDATE, 0, "" },
	{ __LINE__, "/candidate", ROUTE_NONE, 0, NULL },
	{ __LINE__, "/candidate/a/b", ROUTE_NONE, 0, NULL },
	{ __LINE__, "/candidate/a/", ROUTE_NONE, 0, NULL },
	{ __LINE__, "//candidate/a", ROUTE_NONE, 0, NULL },
	{ __LINE__, "/Candidate/a", ROUTE_NONE, 0, NULL },
	{ __LINE__, "/candidate/../gtg", ROUTE_NONE, 0, NULL },
	{ __LINE__, "", ROUTE_NONE, 0, NULL },
	{ __LINE__, "*", ROUTE_NONE, 0, NULL },
	{ __LINE__, "http://x/gtg", ROUTE_NONE, 0, NULL },
};

static void
test_rows(void **state)
{
	struct route_match	 m;
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		route_match(rows[i].target, strlen(rows[i].target), &m);
		if (m.route != rows[i].route || m.details != rows[i].details)
			ROW_FAIL(rows[i].line, "%s: route %d details %d",
			    rows[i].target, m.route, m.details);
		if (rows[i].segment != NULL &&
		    (m.segment_len != strlen(rows[i].segment) ||
		    memcmp(m.segment, rows[i].segment, m.segment_len) != 0))
			ROW_FAIL(rows[i].line, "%s: segment %.*s",
			    rows[i].target, (int)m.segment_len, m.segment);
	}
}

static void
test_embedded_nul(void **state)
{
	struct route_match	 m;

	(void)state;
	/* The length rules, not a NUL: "/gtg\0x" is not /gtg. */
	route_match("/gtg\0x", 6, &m);
	assert_int_equal(m.route, ROUTE_NONE);
}

static void
test_methods(void **state)
{
	(void)state;
	assert_int_equal(route_method("GET"), METHOD_GET);
	assert_int_equal(route_method("HEAD"), METHOD_HEAD);
	assert_int_equal(route_method("POST"), METHOD_POST);
	assert_int_equal(route_method("get"), METHOD_OTHER);
	assert_int_equal(route_method("DELETE"), METHOD_OTHER);
	assert_int_equal(route_method(NULL), METHOD_OTHER);
	assert_true(route_allows(ROUTE_GTG, METHOD_HEAD));
	assert_false(route_allows(ROUTE_GTG, METHOD_POST));
	assert_false(route_allows(ROUTE_CANDIDATES, METHOD_POST));
	assert_true(route_allows(ROUTE_CANDIDATE, METHOD_POST));
	assert_false(route_allows(ROUTE_CANDIDATE, METHOD_OTHER));
	assert_false(route_allows(ROUTE_ROOT, METHOD_POST));
	assert_string_equal(route_allow(ROUTE_CANDIDATE), "GET, HEAD, POST");
	assert_string_equal(route_allow(ROUTE_CANDIDATES), "GET, HEAD");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows),
		cmocka_unit_test(test_embedded_nul),
		cmocka_unit_test(test_methods),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
