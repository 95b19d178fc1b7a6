#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "duty.h"
#include "fcgi_peek.h"
#include "fcgi_stdout.h"
#include "handler.h"
#include "log.h"

#define LISTEN_FD	0	/* where spawn-fcgi puts the socket */
#define SWEEP_EVENTS	2	/* the drain's event and one more, at most */
#define CONNS_MAX	65536	/* kept connections tracked, by descriptor */

/*
 * Workers kept out of store calls, free for /gtg whatever the store does,
 * and how long a store with every slot taken may show no life before it
 * is taken to be hanging: a healthy one answers in milliseconds, and load
 * balancers give up on a health check after about 5 s.
 */
#define HEALTH_RESERVE	2
#define GATE_STALL_MS	1000

/*
 * With a local store, how long a call may hold the worker on duty before
 * another is called (duty.h): longer than a point call or a cached
 * listing takes on SQLite (5-100 us), nothing to a health check.
 */
#define DUTY_GRACE_US	1000

/*
 * How long a new connection may hold the listening socket disarmed while
 * its request is on its way (see take_new): web servers write it right
 * after connecting, so this only bounds a connector that sends nothing.
 */
#define FIRST_REQUEST_MS	5

/*
 * Out of descriptors, accepting pauses this long, doubling while it
 * lasts: the connection waits in the backlog rather than every worker
 * spinning on accept's EMFILE.
 */
#define ACCEPT_PAUSE_MIN_MS	100
#define ACCEPT_PAUSE_MAX_MS	1600

/*
 * An answer bigger than this is given back to the system once sent, so a
 * large listing does not leave its worker holding the memory for life.
 */
#define RESPONSE_KEEP		(64 * 1024)

/*
 * An answer up to this size goes through libfcgi's 8 KiB buffer, which
 * FCGX_Finish_r writes with the stream's end in one call; a bigger one is
 * written in records of its own (fcgi_stdout.h).
 */
#define BUFFERED_MAX		(8 * 1024 - 64)

struct worker {
	struct server	*server;
	pthread_t	 thread;
	int		 started;
	FCGX_Request	 req;
	struct store	*store;
	struct response	 resp;
	struct list_cache cache;
	/*
	 * The connection this worker is serving (-1: none), and whether it
	 * is still reading the request; both under the server's lock, for
	 * the drain.
	 */
	int		 conn;
	int		 reading;
	int		 away;		/* off duty for the request (duty.h) */
	int		 bounded;	/* conn's reads and writes time out */
	int		 cut;		/* the answer broke off mid-record */
	unsigned char	 peek[FCGI_PEEK_MAX];
};

/*
 * Every worker waits in epoll_wait on one epoll set holding the listening
 * socket, each FastCGI connection the web server keeps open between
 * requests or whose request has not all arrived, the drain's eventfd and
 * the accept pause's timerfd. Sockets are armed EPOLLONESHOT, so an event
 * hands one of them to exactly one worker, which serves it and arms it
 * again: a worker is never tied to an idle connection. On a local store
 * only the worker on duty waits there, the others parked (duty.h).
 */
struct server {
	const struct config	*cfg;
	const char		*instance_id;
	struct store_gate	 gate;
	struct duty		 duty;
	int			 epfd;
	int			 wakefd;	/* readable once draining */
	int			 pausefd;	/* readable when accepting resumes */
	pthread_mutex_t		 lock;		/* everything below */
	pthread_cond_t		 exited;	/* a worker has exited */
	int			 draining;
	int			 deaf;		/* the listener left the epoll set */
	long			 running;	/* workers not yet exited */
	/*
	 * idle[fd] is 1 while fd is a connection armed in the epoll set,
	 * owned by no worker: the drain shuts those down.
	 */
	unsigned char		*idle;
	size_t			 nidle;
	/* Out of descriptors: since when, and the current pause. */
	int			 paused;
	struct timespec		 paused_since;
	long			 pause_ms;
	unsigned long		 paused_refusals;
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

/* Marks what w is doing with conn, for the drain. */
static void
set_conn(struct worker *w, int conn, int reading)
{
	pthread_mutex_lock(&w->server->lock);
	w->conn = conn;
	w->reading = reading;
	pthread_mutex_unlock(&w->server->lock);
}

/*
 * Bounds every read and write on fd (server.h), once per connection. Not
 * at accept: a connection whose whole request was peeked and whose answer
 * fits the socket's buffer never waits, and behind lighttpd, which opens
 * a connection per request, that is most of them and the two calls
 * would be 3% of what a request costs. So the timeouts are set before
 * the first read or write that may wait: a request bigger than the peek,
 * an answer written past libfcgi's buffer, a connection going into the
 * epoll set for more.
 */
static void
bound_io(struct worker *w, int fd)
{
	struct timeval	 tv = { FCGI_IO_TIMEOUT_MS / 1000,
			    (FCGI_IO_TIMEOUT_MS % 1000) * 1000 };

	if (w->bounded)
		return;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == -1)
		log_line("setsockopt: %s", strerror(errno));
	w->bounded = 1;
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

/* 0, or -1 when the connection broke off in the middle of a record. */
static int
write_response(struct worker *w, int head)
{
	FCGX_Request		*req = &w->req;
	const struct response	*resp = &w->resp;
	char			 hdr[512];
	int			 n;

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
	if (!head && (size_t)n + resp->body.len > BUFFERED_MAX) {
		/* More than the socket may take at once. */
		bound_io(w, req->ipcFd);
		/*
		 * These records end the request: FCGX_Finish_r, finding the
		 * stream closed, writes no end of its own. (It closes err
		 * first, unused and one writer of two, which writes nothing.)
		 */
		req->out->wasFCloseCalled = 1;
		req->out->isClosed = 1;
		return fcgi_write_stdout(req->ipcFd, (unsigned)req->requestId,
		    hdr, (size_t)n, resp->body.data, resp->body.len);
	}
	if (FCGX_PutStr(hdr, n, req->out) != n)
		return 0;
	if (!head && resp->body.len > 0)
		(void)FCGX_PutStr(resp->body.data, (int)resp->body.len,
		    req->out);
	return 0;
}

/* The handler is about to block: another worker goes on duty. */
static void
may_block(void *arg)
{
	struct worker	*w = arg;

	if (!w->away) {
		w->away = 1;
		duty_leave(&w->server->duty);
	}
}

static void
serve(struct worker *w)
{
	FCGX_Request	*req = &w->req;
	struct server	*s = w->server;
	struct request	 r;
	const char	*length, *target, *logged_method;
	char		*end;
	unsigned long	 declared;
	struct handler_ctx ctx = { s->cfg->store, w->store, s->instance_id,
			    &s->gate, s->cfg->timeout_ms,
			    s->cfg->list_timeout_ms, &w->cache, may_block, w };

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
	set_conn(w, req->ipcFd, 0);

	handle(&ctx, &r, &w->resp);
	w->cut = write_response(w, r.method != NULL &&
	    strcmp(r.method, "HEAD") == 0) == -1;
	logged_method = r.method != NULL ? r.method : "-";
	if (w->cut)
		log_line("%s %s: answer cut: %s", logged_method, r.target,
		    errno == EAGAIN || errno == EWOULDBLOCK ?
		    "the web server read none of it for the write timeout" :
		    strerror(errno));
	if (w->resp.error[0] != '\0')
		log_line("%s %s: %d %s", logged_method, r.target,
		    w->resp.status, w->resp.error);
	/* A big answer's memory goes back to the system, not to the pool. */
	if (w->resp.body.cap > RESPONSE_KEEP) {
		buf_free(&w->resp.body);
		(void)malloc_trim(0);
	}
}

/* Arms fd for one event; op is EPOLL_CTL_ADD the first time, else MOD. */
static int
arm(struct server *s, int fd, int op)
{
	struct epoll_event	 ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
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
	if (w->cut)
		req->keepConnection = 0;
	/*
	 * libfcgi may close the descriptor from here on, and another
	 * connection may then get its number: the drain must not touch it.
	 */
	set_conn(w, -1, 0);
	FCGX_Finish_r(req);
	fd = req->ipcFd;
	/* The connection is ours now, not the request's. */
	req->ipcFd = -1;
	return fd;
}

/*
 * Puts a connection in the epoll set for its next request, or for the
 * rest of this one; registered says whether it is in the set already
 * (disarmed) or new.
 */
static void
keep(struct worker *w, int fd, int registered)
{
	struct server	*s = w->server;
	int		 draining;

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
	/* What comes next on it may come slowly, or not be read. */
	if (!registered)
		bound_io(w, fd);
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

	set_conn(w, fd, 1);
	req->ipcFd = fd;
	/* FCGX_Accept_r first finishes a request; keep it from closing fd. */
	req->keepConnection = 1;
	/* And if nothing but end-of-file comes, no lingering close. */
	(void)FCGX_Detach(req);
	if (FCGX_Accept_r(req) < 0) {
		/* Closed by libfcgi; accepting on listen_sock -1 failed. */
		set_conn(w, -1, 0);
		req->ipcFd = -1;
		return;
	}
	serve(w);
	if ((fd = finish(w)) >= 0)
		keep(w, fd, registered);
}

/*
 * Peeks at what waits on fd: 1 if the request is all there (or cannot be
 * judged, or the peer will send nothing more: hangup), with *n what the
 * peek returned; 0 if more is to come.
 */
static int
request_ready(struct worker *w, int fd, int hangup, ssize_t *n)
{
	*n = recv(fd, w->peek, sizeof(w->peek), MSG_PEEK | MSG_DONTWAIT);
	if (hangup)
		return 1;
	if (*n == -1)
		return errno != EAGAIN && errno != EWOULDBLOCK;
	return *n == 0 || fcgi_peek_request(w->peek, (size_t)*n,
	    sizeof(w->peek)) != FCGI_PEEK_PART;
}

/* Serves fd, whose request request_ready found there (n as it gave). */
static void
serve_ready(struct worker *w, int fd, int registered, ssize_t n)
{
	/* Reading more than was peeked may wait on the peer. */
	if (n == (ssize_t)sizeof(w->peek)) {
		bound_io(w, fd);
		may_block(w);
	}
	serve_conn(w, fd, registered);
}

/*
 * Serves fd if its request is all there; else hands it back to epoll to
 * wait for the rest, holding no thread.
 */
static void
serve_or_wait(struct worker *w, int fd, int registered, int hangup)
{
	ssize_t	 n;

	w->bounded = registered;	/* by keep(), before it went in */
	if (request_ready(w, fd, hangup, &n))
		serve_ready(w, fd, registered, n);
	else
		keep(w, fd, registered);
}

/*
 * Out of descriptors: the listening socket stays disarmed for a pause,
 * doubling while the episode lasts, and the timerfd re-arms it. One log
 * line per episode, not one per worker per try.
 */
static void
pause_accepting(struct server *s, int err)
{
	struct itimerspec	 its;

	memset(&its, 0, sizeof(its));
	pthread_mutex_lock(&s->lock);
	if (!s->paused) {
		s->paused = 1;
		s->paused_since = mono_now();
		s->pause_ms = ACCEPT_PAUSE_MIN_MS;
		s->paused_refusals = 0;
		log_line("accept: %s: pausing new connections (they wait in "
		    "the backlog) until descriptors free up", strerror(err));
	} else if (s->pause_ms < ACCEPT_PAUSE_MAX_MS)
		s->pause_ms *= 2;
	s->paused_refusals++;
	its.it_value.tv_sec = s->pause_ms / 1000;
	its.it_value.tv_nsec = (s->pause_ms % 1000) * 1000000L;
	pthread_mutex_unlock(&s->lock);
	if (timerfd_settime(s->pausefd, 0, &its, NULL) == -1)
		log_line("timerfd_settime: %s", strerror(errno));
}

/* An accept worked: if it ends an episode, say so once. */
static void
accepting_again(struct server *s)
{
	struct timespec	 now;

	pthread_mutex_lock(&s->lock);
	if (s->paused) {
		now = mono_now();
		log_line("accept: accepting again after %ld ms (%lu pauses)",
		    mono_ms_between(&s->paused_since, &now),
		    s->paused_refusals);
		s->paused = 0;
	}
	pthread_mutex_unlock(&s->lock);
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

/* Arms the listening socket again, unless a drain took it away. */
static void
rearm_listener(struct server *s)
{
	int	 deaf;

	pthread_mutex_lock(&s->lock);
	deaf = s->deaf;
	pthread_mutex_unlock(&s->lock);
	if (!deaf && arm(s, LISTEN_FD, EPOLL_CTL_MOD) == -1)
		log_line("epoll_ctl: listening socket: %s", strerror(errno));
}

static void
take_new(struct worker *w)
{
	struct server	*s = w->server;
	struct pollfd	 first;
	ssize_t		 n = 0;
	int		 fd, err, ready = 0;

	/*
	 * A shut listening socket refuses new connections but still hands
	 * out those already queued, whose requests the web server has sent:
	 * a drain serves them too, and stops once none is left.
	 */
	fd = accept4(LISTEN_FD, NULL, NULL, SOCK_CLOEXEC);
	err = errno;
	if (fd == -1 && is_draining(s))
		return;
	if (fd == -1 && (err == EMFILE || err == ENFILE || err == ENOBUFS ||
	    err == ENOMEM)) {
		pause_accepting(s, err);
		return;
	}
	if (fd == -1 && err != EAGAIN && err != EWOULDBLOCK && err != EINTR &&
	    err != ECONNABORTED)
		log_line("accept: %s", strerror(err));
	if (fd >= 0)
		accepting_again(s);
	/*
	 * A worker is woken as soon as the web server connects, before it
	 * has written the request, and on a busy core it then takes the CPU
	 * from the web server only to wait for it: two context switches a
	 * request more, the web server's (lighttpd's, which opens a
	 * connection per request, 1.9 switches a request instead of 0.9).
	 * So the listening socket stays disarmed until this request is
	 * here: connections that come meanwhile wait in the backlog, wake
	 * no one, and are accepted with their request already in. Mostly
	 * it is, and one peek finds it.
	 */
	if (fd >= 0) {
		w->bounded = 0;
		if (!(ready = request_ready(w, fd, 0, &n))) {
			first.fd = fd;
			first.events = POLLIN | POLLRDHUP;
			first.revents = 0;
			(void)poll(&first, 1, FIRST_REQUEST_MS);
			ready = request_ready(w, fd, first.revents &
			    (POLLRDHUP | POLLHUP | POLLERR), &n);
		}
	}
	/* Re-armed before serving, so other workers accept meanwhile. */
	rearm_listener(s);
	if (fd >= 0 && ready)
		serve_ready(w, fd, 0, n);
	else if (fd >= 0)
		keep(w, fd, 0);
}

static void
take_kept(struct worker *w, int fd, uint32_t events)
{
	struct server	*s = w->server;

	pthread_mutex_lock(&s->lock);
	if ((size_t)fd < s->nidle)
		s->idle[fd] = 0;
	pthread_mutex_unlock(&s->lock);
	serve_or_wait(w, fd, 1, events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR));
}

/* The pause is over: accept again. */
static void
resume_accepting(struct server *s)
{
	uint64_t	 expirations;

	/* Several workers may wake for one expiry; one reads it. */
	if (read(s->pausefd, &expirations, sizeof(expirations)) !=
	    (ssize_t)sizeof(expirations))
		return;
	rearm_listener(s);
}

static void *
worker_main(void *arg)
{
	struct worker		*w = arg;
	struct server		*s = w->server;
	struct epoll_event	 ev[SWEEP_EVENTS];
	int			 i, n, woken, sweeping = 0;

	duty_take(&s->duty);
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
			else if (ev[i].data.fd == s->pausefd) {
				if (!sweeping)
					resume_accepting(s);
			} else if (ev[i].data.fd == LISTEN_FD)
				take_new(w);
			else
				take_kept(w, ev[i].data.fd, ev[i].events);
			if (w->away) {
				w->away = 0;
				duty_take(&s->duty);
			}
		}
		if (sweeping && n == woken)
			break;
		if (woken)
			sweeping = 1;
	}
	pthread_mutex_lock(&s->lock);
	s->running--;
	pthread_cond_signal(&s->exited);
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

static void
free_workers(struct server *s)
{
	size_t	 fd;
	long	 i;

	for (i = 0; i < s->nworkers; i++) {
		if (s->workers[i].store != NULL)
			s->cfg->store->close(s->workers[i].store);
		buf_free(&s->workers[i].resp.body);
		buf_free(&s->workers[i].cache.body);
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
	if (s->pausefd != -1)
		close(s->pausefd);
	if (s->epfd != -1)
		close(s->epfd);
	pthread_cond_destroy(&s->exited);
	pthread_mutex_destroy(&s->lock);
	duty_destroy(&s->duty);
	gate_destroy(&s->gate);
	free(s);
}

/* Adds fd to the epoll set for every event, level-triggered. */
static int
watch(struct server *s, int fd)
{
	struct epoll_event	 ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.fd = fd;
	return epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev);
}

/*
 * The epoll set, with the listening socket made non-blocking (a worker
 * woken for it must not block in accept if the connection went away), the
 * drain's eventfd and the accept pause's timerfd in it.
 */
static int
poll_init(struct server *s, char *err, size_t errlen)
{
	struct rlimit	 rl;
	int		 fl;

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
	    (s->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) == -1 ||
	    (s->pausefd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC |
	    TFD_NONBLOCK)) == -1) {
		snprintf(err, errlen, "epoll: %s", strerror(errno));
		return -1;
	}
	if ((fl = fcntl(LISTEN_FD, F_GETFL)) == -1 ||
	    fcntl(LISTEN_FD, F_SETFL, fl | O_NONBLOCK) == -1) {
		snprintf(err, errlen, "fd 0: %s", strerror(errno));
		return -1;
	}
	if (arm(s, LISTEN_FD, EPOLL_CTL_ADD) == -1 || watch(s, s->wakefd) ==
	    -1 || watch(s, s->pausefd) == -1) {
		snprintf(err, errlen, "epoll_ctl: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * libfcgi's FCGX_Init installs handlers for SIGPIPE, SIGUSR1 and SIGTERM
 * (2.4.2): a SIGPIPE handler instead of the ignored disposition turns a
 * client that hung up into EINTR, and the others would fight main()'s
 * sigwait. The dispositions main() chose are put back.
 */
static int
fcgx_init(char *err, size_t errlen)
{
	static const int	 sigs[] = { SIGPIPE, SIGUSR1, SIGTERM };
	struct sigaction	 saved[sizeof(sigs) / sizeof(sigs[0])];
	size_t			 i;
	int			 rc;

	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (sigaction(sigs[i], NULL, &saved[i]) == -1) {
			snprintf(err, errlen, "sigaction: %s", strerror(errno));
			return -1;
		}
	rc = FCGX_Init();
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (sigaction(sigs[i], &saved[i], NULL) == -1) {
			snprintf(err, errlen, "sigaction: %s", strerror(errno));
			return -1;
		}
	if (rc != 0) {
		snprintf(err, errlen, "FCGX_Init failed");
		return -1;
	}
	return 0;
}

/* The drain's grace period is on the monotonic clock. */
static int
cond_init_monotonic(pthread_cond_t *c)
{
	pthread_condattr_t	 attr;
	int			 rc;

	if ((rc = pthread_condattr_init(&attr)) != 0)
		return rc;
	if ((rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)) == 0)
		rc = pthread_cond_init(c, &attr);
	pthread_condattr_destroy(&attr);
	return rc;
}

int
server_start(struct server **out, const struct config *cfg,
    const char *instance_id, char *err, size_t errlen)
{
	struct server	*s;
	struct worker	*w;
	long		 i, threads = cfg->threads;
	int		 rc;

	*out = NULL;
	if (fcgx_init(err, errlen) == -1)
		return -1;
	if (FCGX_IsCGI()) {
		snprintf(err, errlen, "fd 0 is not a listening socket: start "
		    "the app with spawn-fcgi");
		return -1;
	}
	/*
	 * Allocations from 128 KiB up are mapped on their own and given back
	 * when freed: without a fixed threshold glibc raises it after each
	 * such free, and a large listing's buffer then stays in the heap.
	 */
	(void)mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->workers = calloc((size_t)threads, sizeof(*w))) == NULL) {
		free(s);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	s->cfg = cfg;
	s->instance_id = instance_id;
	s->nworkers = threads;
	s->epfd = s->wakefd = s->pausefd = -1;
	/* A single worker must serve everything, the store included. */
	if (gate_init(&s->gate, threads > HEALTH_RESERVE ?
	    threads - HEALTH_RESERVE : 1, GATE_STALL_MS) != 0) {
		free(s->workers);
		free(s);
		snprintf(err, errlen, "cannot set up the store gate");
		return -1;
	}
	if (duty_init(&s->duty, cfg->store->local ? DUTY_GRACE_US : -1) != 0) {
		gate_destroy(&s->gate);
		free(s->workers);
		free(s);
		snprintf(err, errlen, "cannot set up the workers' duty");
		return -1;
	}
	pthread_mutex_init(&s->lock, NULL);
	if (cond_init_monotonic(&s->exited) != 0) {
		pthread_mutex_destroy(&s->lock);
		duty_destroy(&s->duty);
		gate_destroy(&s->gate);
		free(s->workers);
		free(s);
		snprintf(err, errlen, "cannot create a condition variable");
		return -1;
	}
	/* Every handle first, so a store that will not open stops the start. */
	for (i = 0; i < threads; i++) {
		w = &s->workers[i];
		w->server = s;
		w->conn = -1;
		buf_init(&w->resp.body, RESPONSE_MAX);
		buf_init(&w->cache.body, LIST_CACHE_MAX);
		/* No listening socket: libfcgi never accepts on its own. */
		FCGX_InitRequest(&w->req, -1, 0);
	}
	if (poll_init(s, err, errlen) == -1) {
		free_workers(s);
		return -1;
	}
	for (i = 0; i < threads; i++)
		if (cfg->store->open(&s->workers[i].store, err, errlen) == -1) {
			free_workers(s);
			return -1;
		}
	for (i = 0; i < threads; i++) {
		w = &s->workers[i];
		pthread_mutex_lock(&s->lock);
		s->running++;
		pthread_mutex_unlock(&s->lock);
		if ((rc = pthread_create(&w->thread, NULL, worker_main, w))
		    != 0) {
			pthread_mutex_lock(&s->lock);
			s->running--;
			pthread_mutex_unlock(&s->lock);
			snprintf(err, errlen, "pthread_create: %s",
			    strerror(rc));
			server_drain(s, 0);
			server_wait(s);
			return -1;
		}
		w->started = 1;
	}
	*out = s;
	return 0;
}

void
server_drain(struct server *s, int stopping)
{
	uint64_t	 one = 1;
	size_t		 fd;
	long		 i;

	FCGX_ShutdownPending();
	pthread_mutex_lock(&s->lock);
	s->draining = 1;
	/*
	 * A shut listening socket refuses new connections at once (queued
	 * ones are still served, see take_new). But it is the app's, shared
	 * with the workers it starts after this one: when only this worker
	 * stops, it just stops listening. Connections idle or still waiting
	 * for their request, and those a worker is reading a request from,
	 * are shut for reading: a request that had arrived is still served
	 * (queued bytes are read first), then closed like every other, so
	 * the web server sees them end; one that had not is not in flight,
	 * and ends.
	 */
	if (stopping)
		shutdown(LISTEN_FD, SHUT_RDWR);
	else {
		s->deaf = 1;
		if (epoll_ctl(s->epfd, EPOLL_CTL_DEL, LISTEN_FD, NULL) == -1)
			log_line("drain: epoll_ctl: %s", strerror(errno));
	}
	for (fd = 0; fd < s->nidle; fd++)
		if (s->idle[fd])
			shutdown((int)fd, SHUT_RD);
	for (i = 0; i < s->nworkers; i++)
		if (s->workers[i].conn >= 0 && s->workers[i].reading)
			shutdown(s->workers[i].conn, SHUT_RD);
	pthread_mutex_unlock(&s->lock);
	/* Parked workers join the others in epoll_wait, */
	duty_close(&s->duty);
	/* which this wakes. */
	if (write(s->wakefd, &one, sizeof(one)) != (ssize_t)sizeof(one))
		log_line("drain: eventfd: %s", strerror(errno));
}

void
server_wait(struct server *s)
{
	struct timespec	 grace = mono_now();
	long		 i, cut = 0;

	/*
	 * Requests in flight finish within their deadline; the grace period
	 * is the longest of those and a second. What a worker still holds
	 * after it is a stalled peer: shut, its reads and writes fail.
	 */
	mono_add_ms(&grace, (s->cfg->list_timeout_ms > s->cfg->timeout_ms ?
	    s->cfg->list_timeout_ms : s->cfg->timeout_ms) + 1000);
	pthread_mutex_lock(&s->lock);
	while (s->running > 0 && s->draining)
		if (pthread_cond_timedwait(&s->exited, &s->lock, &grace) ==
		    ETIMEDOUT) {
			for (i = 0; i < s->nworkers; i++)
				if (s->workers[i].conn >= 0) {
					shutdown(s->workers[i].conn,
					    SHUT_RDWR);
					cut++;
				}
			break;
		}
	pthread_mutex_unlock(&s->lock);
	if (cut > 0)
		log_line("drain: grace period over, %ld stalled connection%s "
		    "cut", cut, cut == 1 ? "" : "s");
	for (i = 0; i < s->nworkers; i++)
		if (s->workers[i].started)
			pthread_join(s->workers[i].thread, NULL);
	free_workers(s);
}
