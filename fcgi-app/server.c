#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "handler.h"
#include "log.h"

#define LISTEN_FD	0	/* where spawn-fcgi puts the socket */
#define SWEEP_EVENTS	2	/* the drain's event and one more, at most */
#define CONNS_MAX	65536	/* kept connections tracked, by descriptor */

struct worker {
	struct server	*server;
	pthread_t	 thread;
	int		 started;
	FCGX_Request	 req;
	struct store	*store;
	struct response	 resp;
};

/*
 * Workers kept out of store calls, free for /gtg whatever the store does,
 * and how long the oldest store call may run before the store is taken
 * to be stuck: a healthy one answers in milliseconds, and load balancers
 * give up on a health check after about 5 s.
 */
#define HEALTH_RESERVE	2
#define GATE_SUSPECT_MS	1000

/*
 * How long a new connection may hold the listening socket disarmed while
 * its request is on its way (see take_new): web servers write it right
 * after connecting, so this only bounds a connector that sends nothing.
 */
#define FIRST_REQUEST_MS	5

/*
 * Every worker waits in epoll_wait on one epoll set holding the listening
 * socket, each FastCGI connection the web server keeps open between
 * requests, and the drain's eventfd. Sockets are armed EPOLLONESHOT, so an
 * event hands one of them to exactly one worker, which serves it and arms
 * it again: a worker is never tied to an idle kept connection, however
 * many the web server keeps.
 */
struct server {
	const struct store_ops	*ops;
	const char		*instance_id;
	struct store_gate	 gate;
	int			 epfd;
	int			 wakefd;	/* readable once draining */
	pthread_mutex_t		 lock;		/* draining, idle */
	int			 draining;
	/*
	 * idle[fd] is 1 while fd is a kept connection armed in the epoll
	 * set, owned by no worker: the drain shuts those down.
	 */
	unsigned char		*idle;
	size_t			 nidle;
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
	/* Don't read what is declared too large; finish() deals with it. */
	r.body_len = declared > BODY_MAX ? declared : drain_body(req);

	handle(&ctx, &r, &w->resp);
	write_response(req, &w->resp, r.method != NULL &&
	    strcmp(r.method, "HEAD") == 0);
	if (w->resp.error[0] != '\0')
		log_line("%s %s: %d %s", r.method != NULL ? r.method : "-",
		    r.target, w->resp.status, w->resp.error);
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

/* Arms fd for one event; op is EPOLL_CTL_ADD the first time, else MOD. */
static int
arm(struct server *s, int fd, int op)
{
	struct epoll_event	 ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | EPOLLONESHOT;
	ev.data.fd = fd;
	if (epoll_ctl(s->epfd, op, fd, &ev) == 0)
		return 0;
	/* Only if something kept a copy of a closed connection's socket. */
	if (op == EPOLL_CTL_ADD && errno == EEXIST &&
	    epoll_ctl(s->epfd, EPOLL_CTL_MOD, fd, &ev) == 0)
		return 0;
	return -1;
}

/*
 * Ends the request and returns the connection if the web server keeps it
 * open (FCGI_KEEP_CONN), else -1 with the connection closed.
 *
 * libfcgi closes with a "lingering close" unless the request is detached:
 * shutdown(SHUT_WR), then poll() and read() until the web server closes
 * its end, which costs three system calls and holds the worker until the
 * web server gets round to it. On a unix socket that buys nothing once
 * the whole request has been read: what we wrote is already in the web
 * server's receive queue and close() cannot discard it, and the peer is
 * only told of a reset (after it has read that data) when unread bytes are
 * left in our queue. So a request whose input was read to its end (GET
 * bodies are empty, POST bodies are read by drain_body) closes at once.
 * One with input left unread (a body declared too large, one past
 * BODY_MAX) must not be kept, as the rest of its body would be taken for
 * the next request, and keeps libfcgi's lingering close, which reads and
 * discards the rest so the web server, still sending it, sees no error
 * before it has read our answer.
 */
static int
finish(struct worker *w)
{
	FCGX_Request	*req = &w->req;
	int		 fd;

	if (FCGX_HasSeenEOF(req->in) == EOF)
		(void)FCGX_Detach(req);
	else {
		(void)FCGX_Attach(req);
		req->keepConnection = 0;
	}
	FCGX_Finish_r(req);
	fd = req->ipcFd;
	/* The connection is ours now, not the request's. */
	req->ipcFd = -1;
	return fd;
}

/*
 * Puts a kept connection back in the epoll set for its next request;
 * registered says whether it is in the set already (disarmed) or new.
 */
static void
keep(struct server *s, int fd, int registered)
{
	int	 draining;

	pthread_mutex_lock(&s->lock);
	draining = s->draining;
	if (!draining && (size_t)fd < s->nidle)
		s->idle[fd] = 1;
	pthread_mutex_unlock(&s->lock);
	/* The web server drops a kept connection it sees closed. */
	if (draining || (size_t)fd >= s->nidle) {
		close(fd);
		return;
	}
	/*
	 * A drain coming in now shuts fd down (it is marked idle and still
	 * ours to close); armed, it then reports at once.
	 */
	if (arm(s, fd, registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD) == -1) {
		log_line("epoll_ctl: %s", strerror(errno));
		pthread_mutex_lock(&s->lock);
		s->idle[fd] = 0;
		pthread_mutex_unlock(&s->lock);
		close(fd);
	}
}

/*
 * Serves requests on connection fd, which this worker owns: libfcgi's
 * FCGX_Accept_r reads the next request from req.ipcFd when it is set
 * instead of accepting, and closes it if no request comes.
 */
static void
serve_conn(struct worker *w, int fd, int registered)
{
	FCGX_Request	*req = &w->req;

	req->ipcFd = fd;
	/* FCGX_Accept_r first finishes a request; keep it from closing fd. */
	req->keepConnection = 1;
	/* And if nothing but end-of-file comes, no lingering close. */
	(void)FCGX_Detach(req);
	if (FCGX_Accept_r(req) < 0) {
		/* Closed by libfcgi; accepting on listen_sock -1 failed. */
		req->ipcFd = -1;
		return;
	}
	serve(w);
	if ((fd = finish(w)) >= 0)
		keep(w->server, fd, registered);
}

static void
take_new(struct worker *w)
{
	struct server		*s = w->server;
	struct timespec		 pause = { 0, 100 * 1000 * 1000 };
	int			 fd, err;

	/*
	 * A shut listening socket refuses new connections but still hands
	 * out those already queued, whose requests the web server has sent:
	 * a drain serves them too, and stops once none is left.
	 */
	fd = accept4(LISTEN_FD, NULL, NULL, SOCK_CLOEXEC);
	err = errno;
	if (fd == -1 && is_draining(s))
		return;
	if (fd == -1 && err != EAGAIN && err != EWOULDBLOCK &&
	    err != EINTR && err != ECONNABORTED) {
		/* Out of descriptors and the like: pass, don't die. */
		log_line("accept: %s", strerror(err));
		nanosleep(&pause, NULL);
	}
	/*
	 * A worker is woken as soon as the web server connects, before it
	 * has written the request, and on a busy core it then takes the CPU
	 * from the web server only to wait for it: two context switches a
	 * request more, the web server's (lighttpd's, which opens a
	 * connection per request, 1.9 switches a request instead of 0.9).
	 * So the listening socket stays disarmed until this request is
	 * here: connections that come meanwhile wait in the backlog, wake
	 * no one, and are accepted with their request already in.
	 */
	if (fd >= 0) {
		struct pollfd	 first = { fd, POLLIN, 0 };

		(void)poll(&first, 1, FIRST_REQUEST_MS);
	}
	/* Re-armed before serving, so other workers accept meanwhile. */
	if (arm(s, LISTEN_FD, EPOLL_CTL_MOD) == -1)
		log_line("epoll_ctl: listening socket: %s", strerror(errno));
	if (fd >= 0)
		serve_conn(w, fd, 0);
}

static void
take_kept(struct worker *w, int fd)
{
	struct server	*s = w->server;

	pthread_mutex_lock(&s->lock);
	if ((size_t)fd < s->nidle)
		s->idle[fd] = 0;
	pthread_mutex_unlock(&s->lock);
	serve_conn(w, fd, 1);
}

static void *
worker_main(void *arg)
{
	struct worker		*w = arg;
	struct server		*s = w->server;
	struct epoll_event	 ev[SWEEP_EVENTS];
	int			 i, n, woken, sweeping = 0;

	for (;;) {
		/*
		 * One event at a time, so a request never waits behind
		 * another taken by a busy worker. Once draining, take what
		 * is ready without waiting, and stop when the drain's
		 * eventfd (level-triggered, never read) is all there is.
		 */
		n = epoll_wait(s->epfd, ev, sweeping ? SWEEP_EVENTS : 1,
		    sweeping ? 0 : -1);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			log_line("epoll_wait: %s", strerror(errno));
			break;
		}
		woken = 0;
		for (i = 0; i < n; i++) {
			if (ev[i].data.fd == s->wakefd)
				woken = 1;
			else if (ev[i].data.fd == LISTEN_FD)
				take_new(w);
			else
				take_kept(w, ev[i].data.fd);
		}
		if (sweeping && n == woken)
			break;
		if (woken)
			sweeping = 1;
	}
	return NULL;
}

static void
free_workers(struct server *s)
{
	size_t	 fd;
	long	 i;

	for (i = 0; i < s->nworkers; i++) {
		if (s->workers[i].store != NULL)
			s->ops->close(s->workers[i].store);
		buf_free(&s->workers[i].resp.body);
		FCGX_Free(&s->workers[i].req, 1);
	}
	/* Kept connections no request came on after the drain shut them. */
	for (fd = 0; fd < s->nidle; fd++)
		if (s->idle[fd])
			close((int)fd);
	free(s->idle);
	free(s->workers);
	if (s->wakefd != -1)
		close(s->wakefd);
	if (s->epfd != -1)
		close(s->epfd);
	pthread_mutex_destroy(&s->lock);
	gate_destroy(&s->gate);
	free(s);
}

/*
 * The epoll set, with the listening socket made non-blocking (a worker
 * woken for it must not block in accept if the connection went away) and
 * the drain's eventfd in it.
 */
static int
poll_init(struct server *s, char *err, size_t errlen)
{
	struct epoll_event	 ev;
	struct rlimit		 rl;
	int			 fl;

	/*
	 * A descriptor per kept connection, and nginx keeps a pool per
	 * worker, one worker per CPU: lift the soft limit systemd leaves at
	 * 1024 for select() users (libfcgi's requests use poll) to the hard.
	 */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max &&
	    rl.rlim_cur < CONNS_MAX) {
		rl.rlim_cur = rl.rlim_max < CONNS_MAX ? rl.rlim_max : CONNS_MAX;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur > CONNS_MAX)
		rl.rlim_cur = CONNS_MAX;
	if ((s->idle = calloc((size_t)rl.rlim_cur, 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	s->nidle = (size_t)rl.rlim_cur;
	if ((s->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1 ||
	    (s->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) == -1) {
		snprintf(err, errlen, "epoll: %s", strerror(errno));
		return -1;
	}
	if ((fl = fcntl(LISTEN_FD, F_GETFL)) == -1 ||
	    fcntl(LISTEN_FD, F_SETFL, fl | O_NONBLOCK) == -1) {
		snprintf(err, errlen, "fd 0: %s", strerror(errno));
		return -1;
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.fd = s->wakefd;
	if (arm(s, LISTEN_FD, EPOLL_CTL_ADD) == -1 ||
	    epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->wakefd, &ev) == -1) {
		snprintf(err, errlen, "epoll_ctl: %s", strerror(errno));
		return -1;
	}
	return 0;
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
	s->epfd = s->wakefd = -1;
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
		buf_init(&w->resp.body, RESPONSE_MAX);
		/* No listening socket: libfcgi never accepts on its own. */
		FCGX_InitRequest(&w->req, -1, 0);
	}
	if (poll_init(s, err, errlen) == -1) {
		free_workers(s);
		return -1;
	}
	for (i = 0; i < threads; i++)
		if (ops->open(&s->workers[i].store, err, errlen) == -1) {
			free_workers(s);
			return -1;
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
	uint64_t	 one = 1;
	size_t		 fd;

	FCGX_ShutdownPending();
	pthread_mutex_lock(&s->lock);
	s->draining = 1;
	/*
	 * A shut listening socket refuses new connections at once (queued
	 * ones are still served, see take_new). Idle kept connections are
	 * shut for reading: one that had a request arrive is still served
	 * (queued bytes are read first), then closed like every other, so
	 * the web server sees them end.
	 */
	shutdown(LISTEN_FD, SHUT_RDWR);
	for (fd = 0; fd < s->nidle; fd++)
		if (s->idle[fd])
			shutdown((int)fd, SHUT_RD);
	pthread_mutex_unlock(&s->lock);
	/* Wakes every worker waiting in epoll_wait. */
	if (write(s->wakefd, &one, sizeof(one)) != (ssize_t)sizeof(one))
		log_line("drain: eventfd: %s", strerror(errno));
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
