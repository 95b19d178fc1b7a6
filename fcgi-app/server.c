#include "server.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <fcgiapp.h>

#include "handler.h"
#include "log.h"

#define LISTEN_FD	0	/* where spawn-fcgi puts the socket */

struct worker {
	struct server	*server;
	pthread_t	 thread;
	int		 started;
	FCGX_Request	 req;
	struct store	*store;
	struct response	 resp;
	/*
	 * The kept-alive connection this worker waits on for its next
	 * request, or -1: the drain shuts it so the worker wakes up.
	 */
	int		 idle_fd;
};

/*
 * Workers kept out of store calls, free for /gtg whatever the store does,
 * and how long the oldest store call may run before the store is taken
 * to be stuck: a healthy one answers in milliseconds, and load balancers
 * give up on a health check after about 5 s.
 */
#define HEALTH_RESERVE	2
#define GATE_SUSPECT_MS	1000

struct server {
	const struct store_ops	*ops;
	const char		*instance_id;
	struct store_gate	 gate;
	pthread_mutex_t		 lock;		/* draining, idle_fd */
	int			 draining;
	long			 nworkers;
	struct worker		*workers;
};

static const char *
reason_phrase(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 413: return "Payload Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	}
	return "Unknown";
}

/*
 * Reads the body to its end, keeping none of it: the API ignores bodies
 * but bounds them. Returns how many bytes came, stopping past BODY_MAX.
 */
static size_t
drain_body(FCGX_Request *req)
{
	char	 chunk[4096];
	size_t	 total = 0;
	int	 n;

	while (total <= BODY_MAX &&
	    (n = FCGX_GetStr(chunk, sizeof(chunk), req->in)) > 0)
		total += (size_t)n;
	return total;
}

static void
write_response(FCGX_Request *req, const struct response *resp, int head)
{
	char	 hdr[512];
	int	 n;

	n = snprintf(hdr, sizeof(hdr), "Status: %d %s\r\n", resp->status,
	    reason_phrase(resp->status));
	if (resp->allow != NULL)
		n += snprintf(hdr + n, sizeof(hdr) - (size_t)n,
		    "Allow: %s\r\n", resp->allow);
	if (resp->retry_after > 0)
		n += snprintf(hdr + n, sizeof(hdr) - (size_t)n,
		    "Retry-After: %d\r\n", resp->retry_after);
	if (resp->content_type != NULL)
		n += snprintf(hdr + n, sizeof(hdr) - (size_t)n,
		    "Content-Type: %s\r\n", resp->content_type);
	n += snprintf(hdr + n, sizeof(hdr) - (size_t)n,
	    "Content-Length: %zu\r\n\r\n", resp->body.len);
	/* The headers above are fixed strings and numbers: they fit. */
	if (FCGX_PutStr(hdr, n, req->out) != n)
		return;
	if (!head && resp->body.len > 0)
		(void)FCGX_PutStr(resp->body.data, (int)resp->body.len,
		    req->out);
}

static void
serve(struct worker *w)
{
	FCGX_Request	*req = &w->req;
	struct request	 r;
	const char	*length, *target;
	char		*end;
	unsigned long	 declared;
	struct handler_ctx ctx = { w->server->ops, w->store,
			    w->server->instance_id, &w->server->gate };

	r.method = FCGX_GetParam("REQUEST_METHOD", req->envp);
	target = FCGX_GetParam("REQUEST_URI", req->envp);
	r.target = target != NULL ? target : "";
	r.target_len = strlen(r.target);
	length = FCGX_GetParam("CONTENT_LENGTH", req->envp);
	declared = 0;
	if (length != NULL && *length != '\0') {
		errno = 0;
		declared = strtoul(length, &end, 10);
		if (errno != 0 || *end != '\0')
			declared = ULONG_MAX;
	}
	/* Don't read what is declared too large; FastCGI discards it. */
	r.body_len = declared > BODY_MAX ? declared : drain_body(req);

	handle(&ctx, &r, &w->resp);
	write_response(req, &w->resp, r.method != NULL &&
	    strcmp(r.method, "HEAD") == 0);
	if (w->resp.error[0] != '\0')
		log_line("%s %s: %d %s", r.method != NULL ? r.method : "-",
		    r.target, w->resp.status, w->resp.error);
}

static void
set_idle(struct worker *w, int fd)
{
	pthread_mutex_lock(&w->server->lock);
	w->idle_fd = fd;
	/* A drain that came before we got here would not have seen us. */
	if (fd >= 0 && w->server->draining)
		shutdown(fd, SHUT_RD);
	pthread_mutex_unlock(&w->server->lock);
}

static int
is_draining(struct server *s)
{
	int	 d;

	pthread_mutex_lock(&s->lock);
	d = s->draining;
	pthread_mutex_unlock(&s->lock);
	return d;
}

static void *
worker_main(void *arg)
{
	struct worker		*w = arg;
	struct timespec		 pause = { 0, 100 * 1000 * 1000 };
	int			 rc;

	for (;;) {
		set_idle(w, w->req.ipcFd);
		rc = FCGX_Accept_r(&w->req);
		set_idle(w, -1);
		if (rc < 0) {
			if (is_draining(w->server))
				break;
			/* Out of descriptors and the like: pass, don't die. */
			log_line("accept: %s", strerror(-rc));
			nanosleep(&pause, NULL);
			continue;
		}
		serve(w);
		/*
		 * Finishing here, not in the next accept, keeps ipcFd stable
		 * while set_idle publishes it.
		 */
		FCGX_Finish_r(&w->req);
	}
	FCGX_Finish_r(&w->req);
	return NULL;
}

static void
free_workers(struct server *s)
{
	long	 i;

	for (i = 0; i < s->nworkers; i++) {
		s->ops->close(s->workers[i].store);
		buf_free(&s->workers[i].resp.body);
		FCGX_Free(&s->workers[i].req, 1);
	}
	free(s->workers);
	pthread_mutex_destroy(&s->lock);
	gate_destroy(&s->gate);
	free(s);
}

int
server_start(struct server **out, const struct store_ops *ops, long threads,
    const char *instance_id, char *err, size_t errlen)
{
	struct server	*s;
	struct worker	*w;
	long		 i;
	int		 rc;

	*out = NULL;
	if (FCGX_Init() != 0) {
		snprintf(err, errlen, "FCGX_Init failed");
		return -1;
	}
	if (FCGX_IsCGI()) {
		snprintf(err, errlen, "fd 0 is not a listening socket: start "
		    "the app with spawn-fcgi");
		return -1;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->workers = calloc((size_t)threads, sizeof(*w))) == NULL) {
		free(s);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	s->ops = ops;
	s->instance_id = instance_id;
	s->nworkers = threads;
	/* A single worker must serve everything, the store included. */
	if (gate_init(&s->gate, threads > HEALTH_RESERVE ?
	    threads - HEALTH_RESERVE : 1, GATE_SUSPECT_MS) != 0) {
		free(s->workers);
		free(s);
		snprintf(err, errlen, "cannot set up the store gate");
		return -1;
	}
	pthread_mutex_init(&s->lock, NULL);
	/* Every handle first, so a store that will not open stops the start. */
	for (i = 0; i < threads; i++) {
		w = &s->workers[i];
		w->server = s;
		w->idle_fd = -1;
		buf_init(&w->resp.body, RESPONSE_MAX);
		FCGX_InitRequest(&w->req, LISTEN_FD, 0);
		if (ops->open(&w->store, err, errlen) == -1) {
			free_workers(s);
			return -1;
		}
	}
	for (i = 0; i < threads; i++) {
		w = &s->workers[i];
		if ((rc = pthread_create(&w->thread, NULL, worker_main, w))
		    != 0) {
			snprintf(err, errlen, "pthread_create: %s",
			    strerror(rc));
			server_drain(s);
			server_wait(s);
			return -1;
		}
		w->started = 1;
	}
	*out = s;
	return 0;
}

void
server_drain(struct server *s)
{
	long	 i;

	FCGX_ShutdownPending();
	pthread_mutex_lock(&s->lock);
	s->draining = 1;
	/*
	 * Shutting the listener down wakes every thread blocked in accept
	 * and closes libfcgi's window between its shutdown check and
	 * accept(): accept on a shut socket fails at once. Workers waiting
	 * on a kept connection are woken the same way; bytes already
	 * received on it are still read and served.
	 */
	shutdown(LISTEN_FD, SHUT_RDWR);
	for (i = 0; i < s->nworkers; i++)
		if (s->workers[i].idle_fd >= 0)
			shutdown(s->workers[i].idle_fd, SHUT_RD);
	pthread_mutex_unlock(&s->lock);
}

void
server_wait(struct server *s)
{
	long	 i;

	for (i = 0; i < s->nworkers; i++)
		if (s->workers[i].started)
			pthread_join(s->workers[i].thread, NULL);
	free_workers(s);
}
