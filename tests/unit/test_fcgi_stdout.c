/*
 * An answer written as STDOUT records: read back from the other end of a
 * socket, the records carry head then body byte for byte, each of at most
 * 65535 bytes, with the request's id, however many writes it took, and
 * end the request: an empty STDOUT record, then END_REQUEST, then nothing.
 */
#include "unit.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fastcgi.h>

#include "fcgi_stdout.h"

struct job {
	int		 fd;
	unsigned	 id;
	const char	*head, *body;
	size_t		 head_len, body_len;
	int		 rc;
};

static void *
write_job(void *arg)
{
	struct job	*j = arg;

	j->rc = fcgi_write_stdout(j->fd, j->id, j->head, j->head_len, j->body,
	    j->body_len);
	close(j->fd);
	return NULL;
}

/* Everything the writer sent, until it closed its end. */
static unsigned char *
read_all(int fd, size_t *len)
{
	size_t		 cap = 1 << 16;
	unsigned char	*p = malloc(cap);
	ssize_t		 n;

	*len = 0;
	assert_non_null(p);
	for (;;) {
		if (*len == cap) {
			cap *= 2;
			assert_non_null(p = realloc(p, cap));
		}
		n = read(fd, p + *len, cap - *len);
		if (n == -1 && errno == EINTR)
			continue;
		assert_true(n >= 0);
		if (n == 0)
			return p;
		*len += (size_t)n;
	}
}

static void
check_row(int line, unsigned id, size_t head_len, size_t body_len)
{
	struct job	 j = { -1, id, NULL, NULL, head_len, body_len, -1 };
	char		*head = malloc(head_len + 1), *body = malloc(body_len + 1);
	unsigned char	*wire, *h;
	size_t		 len, at = 0, got = 0, n, records = 0;
	pthread_t	 t;
	int		 sv[2];

	assert_non_null(head);
	assert_non_null(body);
	for (n = 0; n < head_len; n++)
		head[n] = (char)('A' + n % 26);
	for (n = 0; n < body_len; n++)
		body[n] = (char)(n * 7 % 251);
	j.head = head, j.body = body;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	j.fd = sv[0];
	assert_int_equal(pthread_create(&t, NULL, write_job, &j), 0);
	wire = read_all(sv[1], &len);
	pthread_join(t, NULL);
	close(sv[1]);
	if (j.rc != 0)
		ROW_FAIL(line, "fcgi_write_stdout returned %d", j.rc);
	for (;;) {
		if (len - at < 8)
			ROW_FAIL(line, "a record header cut at %zu", at);
		h = wire + at;
		n = (size_t)h[4] << 8 | h[5];
		if (n == 0)
			break;
		if (h[0] != 1 || h[1] != 6 || ((unsigned)h[2] << 8 | h[3]) != id ||
		    h[6] != 0)
			ROW_FAIL(line, "record %zu: header %02x %02x %02x%02x "
			    "len %zu pad %u", records, h[0], h[1], h[2], h[3], n,
			    h[6]);
		if (len - at - 8 < n)
			ROW_FAIL(line, "record %zu: content cut", records);
		for (size_t i = 0; i < n; i++, got++) {
			char want = got < head_len ? head[got] :
			    body[got - head_len];

			if (got >= head_len + body_len ||
			    (char)h[8 + i] != want)
				ROW_FAIL(line, "byte %zu differs", got);
		}
		at += 8 + n;
		records++;
	}
	if (got != head_len + body_len)
		ROW_FAIL(line, "%zu bytes of %zu", got, head_len + body_len);
	/* The stream's end, then the request's: version, type, id, 8 bytes
	 * of body (exit status 0, FCGI_REQUEST_COMPLETE), then nothing. */
	if (memcmp(h, (unsigned char[]){ 1, 6, id >> 8 & 0xff, id & 0xff, 0,
	    0, 0, 0 }, 8) != 0)
		ROW_FAIL(line, "no empty STDOUT record after the content");
	at += 8;
	if (len - at != 16 || memcmp(wire + at, (unsigned char[]){ 1, 3,
	    id >> 8 & 0xff, id & 0xff, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
	    16) != 0)
		ROW_FAIL(line, "%zu bytes after the stream, not END_REQUEST",
		    len - at);
	if (records != (head_len + body_len + FCGI_MAX_LENGTH - 1) /
	    FCGI_MAX_LENGTH)
		ROW_FAIL(line, "%zu records", records);
	free(wire);
	free(head);
	free(body);
}

static void
test_rows(void **state)
{
	(void)state;
	check_row(__LINE__, 1, 0, 0);		/* only the end */
	check_row(__LINE__, 1, 40, 0);
	check_row(__LINE__, 1, 40, 9000);
	check_row(__LINE__, 0x1234, 40, FCGI_MAX_LENGTH - 40);
	check_row(__LINE__, 0xfffe, 40, FCGI_MAX_LENGTH - 39);
	check_row(__LINE__, 7, FCGI_MAX_LENGTH + 3, 10);
	/* More records than one writev frames, and more than the socket holds. */
	check_row(__LINE__, 2, 120, 5u * 1024 * 1024 + 17);
}

/* A peer that has gone: -1, not a crash or a spin. */
static void
test_peer_gone(void **state)
{
	static char	 body[200000];
	int		 sv[2];

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	close(sv[1]);
	assert_int_equal(fcgi_write_stdout(sv[0], 1, "Status: 200\r\n\r\n", 15,
	    body, sizeof(body)), -1);
	assert_int_equal(errno, EPIPE);
	close(sv[0]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows),
		cmocka_unit_test(test_peer_gone),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
