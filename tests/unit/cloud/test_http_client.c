/*
 * The HTTP client against a small HTTP/1.1 server on a loopback port of
 * this process: one connection for many requests, response headers
 * captured, the body ceiling, the deadline, the connect timeout through
 * a TLS handshake that never ends, a refused connection, what goes on
 * the wire whatever the method before, and the proxy that metadata calls
 * never use.
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

#include "cloud/http_client.h"

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

/* The process-wide part: connect timeout and CAs, as a store sets them. */
static int
global_init(long connect_ms, const char *ca)
{
	struct http_config	 cfg = { connect_ms, ca };
	char			 err[128];

	if (http_global_init(&cfg, err, sizeof(err)) == -1) {
		print_error("http_global_init: %s\n", err);
		return -1;
	}
	return 0;
}

static int
group_setup(void **state)
{
	struct sockaddr_in	 sa;
	socklen_t		 sl = sizeof(sa);

	(void)state;
	if (global_init(1000, NULL) == -1)
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
client(void)
{
	struct http_client	*c;
	char			 err[128];

	assert_int_equal(http_client_new(&c, err, sizeof(err)), 0);
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
	struct http_request	 req = { "GET", NULL, NULL, 0, NULL, 0, 0 };
	struct http_client	*c = client();
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
	struct http_request	 req = { "POST", NULL, hdrs, 2, "a\0c", 3, 0 };
	struct http_client	*c = client();
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

	/* The handle is never reset: each method must undo the last's. */
	req.method = "PATCH";
	req.body = "{}";
	req.bodylen = 2;
	assert_int_equal(http_perform(c, &req, &resp, &dl, err, sizeof(err)),
	    HTTP_DONE);
	assert_non_null(strstr(resp.body.data, "PATCH /p?q=1 HTTP/1.1\r\n"));
	assert_memory_equal(resp.body.data + resp.body.len - 2, "{}", 2);
	req.method = "POST";
	assert_int_equal(http_perform(c, &req, &resp, &dl, err, sizeof(err)),
	    HTTP_DONE);
	assert_non_null(strstr(resp.body.data, "POST /p?q=1 HTTP/1.1\r\n"));
	assert_non_null(strstr(resp.body.data, "\r\nContent-Length: 2\r\n"));
	buf_free(&resp.body);
	http_client_free(c);
}

/*
 * http_proxy and ALL_PROXY are honoured for the store, never for a
 * metadata service (direct), as the SDKs do: the loopback server here is
 * the proxy, the target a port where nothing listens.
 */
static void
test_proxy(void **state)
{
	static const char *const vars[] = { "http_proxy", "ALL_PROXY" };
	struct http_response	 resp = { 0, { 0 }, NULL, 0 };
	struct http_request	 req = { "GET", NULL, NULL, 0, NULL, 0, 0 };
	struct http_client	*c = client();
	struct deadline		 dl;
	char			 proxy[64], url[64], line[96], err[256];
	size_t			 i;
	int			 port = dead_port();

	(void)state;
	assert_true(port > 0);
	atomic_store(&srv.mode, MODE_ECHO);
	snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", srv.port);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/meta", port);
	snprintf(line, sizeof(line), "GET %s HTTP/1.1\r\n", url);
	req.url = url;
	buf_init(&resp.body, 8192);
	unsetenv("no_proxy");
	unsetenv("NO_PROXY");
	for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		assert_int_equal(setenv(vars[i], proxy, 1), 0);
		req.direct = 0;
		deadline_start(&dl, 5000);
		if (http_perform(c, &req, &resp, &dl, err, sizeof(err)) !=
		    HTTP_DONE || strstr(resp.body.data, line) == NULL)
			fail_msg("%s: not through the proxy: %s", vars[i], err);
		req.direct = 1;
		if (http_perform(c, &req, &resp, &dl, err, sizeof(err)) !=
		    HTTP_TRANSPORT)
			fail_msg("%s: a direct request reached the proxy",
			    vars[i]);
		unsetenv(vars[i]);
	}
	buf_free(&resp.body);
	http_client_free(c);
}

/* Past the ceiling: TOO_LARGE, and the client still works after. */
static void
test_ceiling(void **state)
{
	struct http_response	 resp = { 0, { 0 }, NULL, 0 };
	struct http_request	 req = { "GET", NULL, NULL, 0, NULL, 0, 0 };
	struct http_client	*c = client();
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
	struct http_request	 req = { "GET", NULL, NULL, 0, NULL, 0, 0 };
	struct http_client	*c = client();
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

/*
 * A peer that takes the TCP connection but never answers the TLS
 * handshake: nothing accept()s on the listener below until the call is
 * over, so the kernel completes the TCP handshake and queues the
 * ClientHello, and no answer ever comes. libcurl counts the TLS
 * handshake of https:// as part of "connect", so the connect timeout
 * ends it; with less of the deadline left than that (http_client.c
 * takes the smaller), the deadline does. Each row: both limits, and the
 * window the failure must land in.
 *
 * The client trusts a one-certificate bundle: parsing the system's
 * (some 140 CAs) happens inside the connect phase too, and under the
 * sanitizers on a busy machine it alone takes 100-400 ms that no timeout
 * can cut short, which would blur what this measures. Any valid
 * certificate will do; it only has to parse.
 */
static const char one_ca[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBmTCCAT+gAwIBAgIUSR2JBHrKbhwSW3PtBeRY2DJdI6AwCgYIKoZIzj0EAwIw\n"
    "IjEgMB4GA1UEAwwXY29ubmVjdC10aW1lb3V0IHRlc3QgQ0EwHhcNMjYxMTIzMTYw\n"
    "NTAxWhcNMjYxMTI0MTYwNTAxWjAiMSAwHgYDVQQDDBdjb25uZWN0LXRpbWVvdXQg\n"
    "dGVzdCBDQTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABOrTNCANsx8vYvOMiJpj\n"
    "YJ1E+8F/Hb5pbF9E2QWKygS3MIKq6Z66tD14FTzIsDdIwaNp4UjpobcilYeuTaX1\n"
    "a8OjUzBRMB0GA1UdDgQWBBRYPDnTluanmb94d/F/qJYKjfRCFTAfBgNVHSMEGDAW\n"
    "gBRYPDnTluanmb94d/F/qJYKjfRCFTAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49\n"
    "BAMCA0gAMEUCIQCVGIMuNaH6WuuqPX3k5chCc72/gFd0sMrKvJS0UK6/1AIgXpG9\n"
    "5V2GQQ+9BwBfg2DZYPqL/f0ikIEFCKLtl6hfs7g=\n"
    "-----END CERTIFICATE-----\n";

/* The bundle's file, removed by the teardown even when a row fails. */
static char one_ca_path[] = "/tmp/test_http_client-ca-XXXXXX";
static int one_ca_made;

static int
remove_one_ca(void **state)
{
	(void)state;
	if (one_ca_made)
		unlink(one_ca_path);
	one_ca_made = 0;
	return 0;
}

static void
test_connect_timeout(void **state)
{
	static const struct {
		int	 line;
		long	 connect_ms, deadline_ms, min_ms, max_ms;
	} rows[] = {
		/* The connect timeout, not the 5 s deadline, ends it. */
		{ __LINE__, 200, 5000, 150, 600 },
		/* The deadline's rest is shorter than the connect timeout. */
		{ __LINE__, 5000, 300, 250, 700 },
	};
	struct sockaddr_in	 sa;
	socklen_t		 sl = sizeof(sa);
	const char		*ca = one_ca_path;
	size_t			 i;
	int			 lfd, cafd;

	(void)state;
	if ((cafd = mkstemp(one_ca_path)) == -1)
		fail_msg("CA file %s: %s", ca, strerror(errno));
	one_ca_made = 1;
	if (write(cafd, one_ca, sizeof(one_ca) - 1) !=
	    (ssize_t)(sizeof(one_ca) - 1) || close(cafd) == -1)
		fail_msg("CA file %s: %s", ca, strerror(errno));
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (lfd == -1 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    listen(lfd, 8) == -1 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &sl) == -1)
		fail_msg("silent listener: %s", strerror(errno));
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct http_response	 resp = { 0, { 0 }, NULL, 0 };
		struct http_request	 req = { "GET", NULL, NULL, 0, NULL, 0, 0 };
		struct http_client	*c;
		struct deadline		 dl;
		struct pollfd		 pfd = { lfd, POLLIN, 0 };
		unsigned char		 hello[8];
		char			 url[64], err[256] = "";
		enum http_result	 r;
		long			 t0, took;
		int			 fd = -1;

		/* The connect timeout and the CAs are the process's. */
		http_global_cleanup();
		assert_int_equal(global_init(rows[i].connect_ms, ca), 0);
		assert_int_equal(http_client_new(&c, err, sizeof(err)), 0);
		snprintf(url, sizeof(url), "https://127.0.0.1:%d/",
		    ntohs(sa.sin_port));
		req.url = url;
		buf_init(&resp.body, 1000);
		t0 = now_ms();
		deadline_start(&dl, rows[i].deadline_ms);
		r = http_perform(c, &req, &resp, &dl, err, sizeof(err));
		took = now_ms() - t0;
		http_client_free(c);
		buf_free(&resp.body);
		if (r != HTTP_TIMEOUT)
			ROW_FAIL(rows[i].line, "result %d, not HTTP_TIMEOUT: %s",
			    (int)r, err);
		if (took < rows[i].min_ms || took > rows[i].max_ms)
			ROW_FAIL(rows[i].line, "connect %ld ms, deadline %ld ms: "
			    "failed after %ld ms, not in [%ld, %ld] (%s)",
			    rows[i].connect_ms, rows[i].deadline_ms, took,
			    rows[i].min_ms, rows[i].max_ms, err);
		/*
		 * It timed out inside the TLS handshake, not before TCP: the
		 * connection is queued here and its first bytes are a TLS
		 * handshake record (0x16) carrying a ClientHello (type 1).
		 */
		if (poll(&pfd, 1, 1000) != 1 ||
		    (fd = accept(lfd, NULL, NULL)) == -1)
			ROW_FAIL(rows[i].line, "no TCP connection was made");
		if (recv(fd, hello, sizeof(hello), MSG_WAITALL) !=
		    (ssize_t)sizeof(hello) || hello[0] != 0x16 || hello[5] != 1) {
			close(fd);
			ROW_FAIL(rows[i].line, "no TLS ClientHello was sent");
		}
		close(fd);
	}
	close(lfd);
	http_global_cleanup();
	assert_int_equal(global_init(1000, NULL), 0);
}

static void
test_refused(void **state)
{
	struct http_response	 resp = { 0, { 0 }, NULL, 0 };
	struct http_request	 req = { "GET", NULL, NULL, 0, NULL, 0, 0 };
	struct http_client	*c = client();
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reuse_and_capture),
		cmocka_unit_test(test_wire),
		cmocka_unit_test(test_ceiling),
		cmocka_unit_test(test_deadline),
		cmocka_unit_test_teardown(test_connect_timeout, remove_one_ca),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_proxy),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
