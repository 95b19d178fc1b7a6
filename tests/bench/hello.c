/*
 * The benchmark's floor: the least a libfcgi responder can do. It answers
 * every request with "hello", so what it costs behind the web server is the
 * price of the FastCGI hop itself, which the service cannot go below.
 *
 * It uses the service's threading model (CANDIDATES_THREADS threads, each
 * blocking in FCGX_Accept_r on the socket spawn-fcgi passes as fd 0), so
 * both behave the same when the web server keeps its connections open.
 */
#include <fcgiapp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define THREADS_MAX	1024

static void *
serve(void *arg)
{
	FCGX_Request	 req;

	(void)arg;
	if (FCGX_InitRequest(&req, 0, 0) != 0)
		return NULL;
	while (FCGX_Accept_r(&req) >= 0)
		FCGX_PutS("Status: 200 OK\r\n"
		    "Content-Type: text/plain\r\n\r\nhello\n", req.out);
	return NULL;
}

int
main(void)
{
	static pthread_t	 tid[THREADS_MAX];
	const char		*v = getenv("CANDIDATES_THREADS");
	char			*end;
	long			 n = 16;
	int			 i;

	if (v != NULL) {
		n = strtol(v, &end, 10);
		if (*v == '\0' || *end != '\0' || n < 1 || n > THREADS_MAX) {
			fprintf(stderr, "hello: CANDIDATES_THREADS must be "
			    "1 to %d\n", THREADS_MAX);
			return 1;
		}
	}
	if (FCGX_Init() != 0) {
		fprintf(stderr, "hello: FCGX_Init failed\n");
		return 1;
	}
	/* The main thread is the last worker, so n threads serve. */
	for (i = 0; i < n - 1; i++)
		if (pthread_create(&tid[i], NULL, serve, NULL) != 0) {
			fprintf(stderr, "hello: pthread_create failed\n");
			return 1;
		}
	serve(NULL);
	return 0;
}
