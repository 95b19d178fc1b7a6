/*
 * The HTTP client against a small HTTP/1.1 server on a loopback port of
 * this process: one connection for many requests, response headers
 * captured, the body ceiling, the deadline, a refused connection, what
 * goes on the wire; and the backoff's bounds, exhaustively.
 */
#include "unit.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http_client.h"

enum mode { MODE_OK, MODE_BIG, MODE_HANG, MODE_ECHO };

static struct {
	int		 fd;
	int		 port;
	pthread_t	 thread;
	atomic_int	 mode;
	atomic_int	 accepts;
	atomic_int	 stop;
} srv;

static int
send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads one request (head and Content-Length body) into req. */
static int
read_request(int fd, char *req, size_t cap, size_t *len)
{
	size_t	 n = 0, need = 0;
	char	*end, *cl;

	for (;;) {
		struct pollfd	 pfd = { fd, POLLIN, 0 };
		ssize_t		 r;

		if (poll(&pfd, 1, 100) == 0) {
			if (atomic_load(&srv.stop))
				return -1;
			continue;
		}
		if (n + 1 >= cap || (r = recv(fd, req + n, cap - n - 1, 0)) <= 0)
			return -1;
		n += (size_t)r;
		req[n] = '\0';
		if ((end = strstr(req, "\r\n\r\n")) == NULL)
			continue;
		if (need == 0) {
			need = (size_t)(end + 4 - req);
			if ((cl = strcasestr(req, "\r\nContent-Length:")) != NULL &&
			    cl < end)
				need += strtoul(cl + 17, NULL, 10);
		}
		if (n >= need) {
			*len = n;
			return 0;
		}
	}
}

static void
serve(int fd)
{
	static const char ok[] = "HTTP/1.1 200 OK\r\n"
	    "Date: Sun, 30 Aug 2015 12:36:00 GMT\r\n"
	    "x-test:   spaced  \r\n"
	    "Content-Length: 5\r\n\r\nhello";
	static char	 req[65536], big[100000];
	char		 head[256];
	size_t		 len;

	while (read_request(fd, req, sizeof(req), &len) == 0) {
		switch (atomic_load(&srv.mode)) {
		case MODE_OK:
			if (send_all(fd, ok, sizeof(ok) - 1) == -1)
				return;
			break;
		case MODE_BIG:
			memset(big, 'b', sizeof(big));
			snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\n"
			    "Content-Length: %zu\r\n\r\n", sizeof(big));
			if (send_all(fd, head, strlen(head)) == -1 ||
			    send_all(fd, big, sizeof(big)) == -1)
				return;
			break;
		case MODE_HANG:
			/* Say nothing until the client gives up. */
			while (recv(fd, req, sizeof(req), 0) > 0)
				continue;
			return;
		case MODE_ECHO:
			snprintf(head, sizeof(head), "HTTP/1.1 201 Created\r\n"
			    "Content-Length: %zu\r\n\r\n", len);
			if (send_all(fd, head, strlen(head)) == -1 ||
			    send_all(fd, req, len) == -1)
				return;
			break;
		}
	}
}

static void *
server_main(void *arg)
{
	(void)arg;
	while (!atomic_load(&srv.stop)) {
		struct pollfd	 pfd = { srv.fd, POLLIN, 0 };
		int		 c;

		if (poll(&pfd, 1, 100) <= 0)
			continue;
		if ((c = accept(srv.fd, NULL, NULL)) == -1)
			continue;
		atomic_fetch_add(&srv.accepts, 1);
		serve(c);
		close(c);
	}
	return NULL;
}

/* A loopback port nobody listens on (bound, then closed). */
static int
dead_port(void)
{
	struct sockaddr_in	 sa;
	socklen_t		 sl = sizeof(sa);
	int			 fd, port;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd == -1 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) == -1)
		return -1;
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

static int
group_setup(void **state)
{
	struct sockaddr_in	 sa;
	socklen_t		 sl = sizeof(sa);
	char			 err[128];

	(void)state;
	if (http_global_init(err, sizeof(err)) == -1)
		return -1;
	srv.fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (srv.fd == -1 || bind(srv.fd, (struct sockaddr *)&sa,
	    sizeof(sa)) == -1 || listen(srv.fd, 8) == -1 ||
	    getsockname(srv.fd, (struct sockaddr *)&sa, &sl) == -1)
		return -1;
	srv.port = ntohs(sa.sin_port);
	return pthread_create(&srv.thread, NULL, server_main, NULL) == 0 ?
	    0 : -1;
}

static int
group_teardown(void **state)
{
	(void)state;
	atomic_store(&srv.stop, 1);
	pthread_join(srv.thread, NULL);
	close(srv.fd);
	http_global_cleanup();
	return 0;
}

static struct http_client *
client(long connect_ms)
{
	struct http_config	 cfg = { 5000, connect_ms, NULL };
	struct http_client	*c;
	char			 err[128];

	assert_int_equal(http_client_new(&c, &cfg, err, sizeof(err)), 0);
	return c;
}

static long
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Many requests, one connection; response headers captured, trimmed. */
static void
test_reuse_and_capture(void **state)
{
	struct http_capture	 cap[3] = { { "Date", "" }, { "X-Test", "" },
				    { "Retry-After", "" } };
	struct http_response	 resp = { 0, { 0 }, cap, 3 };
	struct http_request	 req = { "GET", NULL, NULL, 0, NULL, 0 };
	struct http_client	*c = client(1000);
	struct deadline		 dl;
	char			 url[64], err[256];
	int			 i, before = atomic_load(&srv.accepts);

	(void)state;
	atomic_store(&srv.mode, MODE_OK);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", srv.port);
	req.url = url;
	buf_init(&resp.body, 1024);
	for (i = 0; i < 50; i++) {
		deadline_start(&dl, 5000);
		if (http_perform(c, &req, &resp, &dl, err, sizeof(err)) !=
		    HTTP_DONE)
			fail_msg("request %d: %s", i, err);
		assert_int_equal(resp.status, 200);
		assert_string_equal(resp.body.data, "hello");
		assert_string_equal(cap[0].value,
		    "Sun, 30 Aug 2015 12:36:00 GMT");
		assert_string_equal(cap[1].value, "spaced");
		assert_string_equal(cap[2].value, "");
	}
	assert_int_equal(atomic_load(&srv.accepts) - before, 1);
	buf_free(&resp.body);
	http_client_free(c);
}

/* What is sent: method, body, our headers, and no Expect. */
static void
test_wire(void **state)
{
	static const char *const hdrs[] = { "X-One: 1", "Content-Type:" };
	struct http_response	 resp = { 0, { 0 }, NULL, 0 };
	struct http_request	 req = { "POST", NULL, hdrs, 2, "a\0c", 3 };
	struct http_client	*c = client(1000);
	struct deadline		 dl;
	char			 url[64], err[256];

	(void)state;
	atomic_store(&srv.mode, MODE_ECHO);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/p?q=1", srv.port);
	req.url = url;
	buf_init(&resp.body, 8192);
	deadline_start(&dl, 5000);
	assert_int_equal(http_perform(c, &req, &resp, &dl, err, sizeof(err)),
	    HTTP_DONE);
	assert_int_equal(resp.status, 201);
	assert_non_null(strstr(resp.body.data, "POST /p?q=1 HTTP/1.1\r\n"));
	assert_non_null(strstr(resp.body.data, "\r\nX-One: 1\r\n"));
	assert_non_null(strstr(resp.body.data, "\r\nContent-Length: 3\r\n"));
	assert_null(strcasestr(resp.body.data, "\r\nExpect:"));
	assert_null(strcasestr(resp.body.data, "\r\nContent-Type:"));
	assert_memory_equal(resp.body.data + resp.body.len - 3, "a\0c", 3);

	req.method = "PUT";
	req.body = NULL;
	req.bodylen = 0;
	assert_int_equal(http_perform(c, &req, &resp, &dl, err, sizeof(err)),
	    HTTP_DONE);
	assert_non_null(strstr(resp.body.data, "PUT /p?q=1 HTTP/1.1\r\n"));
	assert_non_null(strstr(resp.body.data, "\r\nContent-Length: 0\r\n"));

	req.method = "GET";
	assert_int_equal(http_perform(c, &req, &resp, &dl, err, sizeof(err)),
	    HTTP_DONE);
	assert_non_null(strstr(resp.body.data, "GET /p?q=1 HTTP/1.1\r\n"));
	assert_null(strcasestr(resp.body.data, "\r\nContent-Length:"));
	buf_free(&resp.body);
	http_client_free(c);
}

/* Past the ceiling: TOO_LARGE, and the client still works after. */
static void
test_ceiling(void **state)
{
	struct http_response	 resp = { 0, { 0 }, NULL, 0 };
	struct http_request	 req = { "GET", NULL, NULL, 0, NULL, 0 };
	struct http_client	*c = client(1000);
	struct deadline		 dl;
	char			 url[64], err[256];

	(void)state;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", srv.port);
	req.url = url;
	buf_init(&resp.body, 1000);
	deadline_start(&dl, 5000);
	atomic_store(&srv.mode, MODE_BIG);
	assert_int_equal(http_perform(c, &req, &resp, &dl, err, sizeof(err)),
	    HTTP_TOO_LARGE);
	assert_non_null(strstr(err, "1000"));
	atomic_store(&srv.mode, MODE_OK);
	assert_int_equal(http_perform(c, &req, &resp, &dl, err, sizeof(err)),
	    HTTP_DONE);
	assert_string_equal(resp.body.data, "hello");
	buf_free(&resp.body);
	http_client_free(c);
}

/* A server that never answers costs the deadline, not more. */
static void
test_deadline(void **state)
{
	struct http_response	 resp = { 0, { 0 }, NULL, 0 };
	struct http_request	 req = { "GET", NULL, NULL, 0, NULL, 0 };
	struct http_client	*c = client(1000);
	struct deadline		 dl;
	char			 url[64], err[256];
	long			 t0, took;

	(void)state;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", srv.port);
	req.url = url;
	buf_init(&resp.body, 1000);
	atomic_store(&srv.mode, MODE_HANG);
	t0 = now_ms();
	deadline_start(&dl, 300);
	assert_int_equal(http_perform(c, &req, &resp, &dl, err, sizeof(err)),
	    HTTP_TIMEOUT);
	took = now_ms() - t0;
	if (took < 250 || took > 1500)
		fail_msg("a 300 ms deadline took %ld ms", took);
	assert_int_equal(deadline_left_ms(&dl), 0);
	/* Spent already: no connection is even tried. */
	t0 = now_ms();
	assert_int_equal(http_perform(c, &req, &resp, &dl, err, sizeof(err)),
	    HTTP_TIMEOUT);
	assert_true(now_ms() - t0 < 50);
	atomic_store(&srv.mode, MODE_OK);
	buf_free(&resp.body);
	http_client_free(c);
}

static void
test_refused(void **state)
{
	struct http_response	 resp = { 0, { 0 }, NULL, 0 };
	struct http_request	 req = { "GET", NULL, NULL, 0, NULL, 0 };
	struct http_client	*c = client(1000);
	struct deadline		 dl;
	char			 url[64], err[256];
	int			 port = dead_port();

	(void)state;
	assert_true(port > 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
	req.url = url;
	buf_init(&resp.body, 1000);
	deadline_start(&dl, 5000);
	assert_int_equal(http_perform(c, &req, &resp, &dl, err, sizeof(err)),
	    HTTP_TRANSPORT);
	assert_true(http_result_retryable(HTTP_TRANSPORT));
	/* Only http and https: no file://, no gopher://. */
	req.url = "file:///etc/passwd";
	assert_int_equal(http_perform(c, &req, &resp, &dl, err, sizeof(err)),
	    HTTP_FAILED);
	assert_false(http_result_retryable(HTTP_FAILED));
	assert_false(http_result_retryable(HTTP_TOO_LARGE));
	assert_true(http_result_retryable(HTTP_TIMEOUT));
	buf_free(&resp.body);
	http_client_free(c);
}

/* Full jitter: always within [0, min(cap, base * 2^(attempt-1))]. */
static void
test_backoff_bounds(void **state)
{
	static const long bases[] = { 1, 100, 500, 7 };
	uint32_t	 rnd = 2463534242u;
	size_t		 b;
	int		 attempt, k;

	(void)state;
	for (b = 0; b < sizeof(bases) / sizeof(bases[0]); b++)
		for (attempt = 1; attempt <= 40; attempt++) {
			long ceiling = bases[b];
			int i;

			for (i = 1; i < attempt && ceiling < HTTP_RETRY_CAP_MS;
			    i++)
				ceiling *= 2;
			if (ceiling > HTTP_RETRY_CAP_MS)
				ceiling = HTTP_RETRY_CAP_MS;
			if (http_backoff_ms(attempt, bases[b],
			    HTTP_RETRY_CAP_MS, 0) != 0 ||
			    http_backoff_ms(attempt, bases[b],
			    HTTP_RETRY_CAP_MS, (uint32_t)ceiling) != ceiling)
				fail_msg("base %ld attempt %d: ends of [0, %ld]",
				    bases[b], attempt, ceiling);
			for (k = 0; k < 2000; k++) {
				long w;

				rnd ^= rnd << 13;
				rnd ^= rnd >> 17;
				rnd ^= rnd << 5;
				w = http_backoff_ms(attempt, bases[b],
				    HTTP_RETRY_CAP_MS, rnd);
				if (w < 0 || w > ceiling)
					fail_msg("base %ld attempt %d: %ld "
					    "outside [0, %ld]", bases[b],
					    attempt, w, ceiling);
			}
			if (http_backoff_ms(attempt, bases[b],
			    HTTP_RETRY_CAP_MS, UINT32_MAX) > ceiling)
				fail_msg("UINT32_MAX");
		}
	assert_int_equal(http_backoff_ms(0, 100, 1000, 5), 0);
	assert_int_equal(http_backoff_ms(1, 0, 1000, 5), 0);
}

/* A backoff that would eat the rest of the deadline is not slept. */
static void
test_backoff_sleep(void **state)
{
	struct deadline	 dl;
	long		 t0;

	(void)state;
	/* It would wait up to 20 s: refusing must take far less. */
	deadline_start(&dl, 20);
	t0 = now_ms();
	assert_int_equal(http_backoff_sleep(9, 100000, &dl), -1);
	assert_true(now_ms() - t0 < 1000);
	/* At most 20 ms, with plenty of time left: it sleeps and says so. */
	deadline_start(&dl, 10000);
	t0 = now_ms();
	assert_int_equal(http_backoff_sleep(1, 20, &dl), 0);
	assert_true(now_ms() - t0 < 1000);
	deadline_start(&dl, 0);
	assert_int_equal(deadline_left_ms(&dl), 0);
}

static void
test_config_env(void **state)
{
	static const struct {
		int		 line;
		const char	*timeout, *connect;
		int		 rc;
		long		 want_t, want_c;
		const char	*names;
	} rows[] = {
		{ __LINE__, NULL, NULL, 0, 5000, 1000, NULL },
		{ __LINE__, "", "", 0, 5000, 1000, NULL },
		{ __LINE__, "250", "50", 0, 250, 50, NULL },
		{ __LINE__, "0", NULL, -1, 0, 0, "CANDIDATES_TIMEOUT_MS" },
		{ __LINE__, "5s", NULL, -1, 0, 0, "CANDIDATES_TIMEOUT_MS" },
		{ __LINE__, "600001", NULL, -1, 0, 0, "CANDIDATES_TIMEOUT_MS" },
		{ __LINE__, NULL, "-1", -1, 0, 0,
		    "CANDIDATES_CONNECT_TIMEOUT_MS" },
	};
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct http_config	 cfg;
		char			 err[256] = "";
		int			 rc;

		unsetenv("CANDIDATES_TIMEOUT_MS");
		unsetenv("CANDIDATES_CONNECT_TIMEOUT_MS");
		if (rows[i].timeout)
			setenv("CANDIDATES_TIMEOUT_MS", rows[i].timeout, 1);
		if (rows[i].connect)
			setenv("CANDIDATES_CONNECT_TIMEOUT_MS", rows[i].connect,
			    1);
		rc = http_config_from_env(&cfg, err, sizeof(err));
		if (rc != rows[i].rc)
			ROW_FAIL(rows[i].line, "rc %d (%s)", rc, err);
		if (rc == 0 && (cfg.timeout_ms != rows[i].want_t ||
		    cfg.connect_timeout_ms != rows[i].want_c))
			ROW_FAIL(rows[i].line, "%ld %ld", cfg.timeout_ms,
			    cfg.connect_timeout_ms);
		if (rc == -1 && strstr(err, rows[i].names) == NULL)
			ROW_FAIL(rows[i].line, "'%s' does not name %s", err,
			    rows[i].names);
	}
	unsetenv("CANDIDATES_TIMEOUT_MS");
	unsetenv("CANDIDATES_CONNECT_TIMEOUT_MS");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reuse_and_capture),
		cmocka_unit_test(test_wire),
		cmocka_unit_test(test_ceiling),
		cmocka_unit_test(test_deadline),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_backoff_bounds),
		cmocka_unit_test(test_backoff_sleep),
		cmocka_unit_test(test_config_env),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
