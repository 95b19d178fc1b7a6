/*
 * The benchmark's lower bound: the least any FastCGI responder can cost.
 * One thread, one epoll loop, the records read raw and never parsed past
 * their headers, and the same canned 200 with an empty body for every
 * request, written in one system call. It keeps the connections the web
 * server keeps (FCGI_KEEP_CONN), as the service does, so behind the
 * shipped configuration it shows what is left of a request's cost and
 * latency once the app itself costs nothing: the web server's and the
 * kernel's share. Not a FastCGI implementation: enough for the bench.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define LISTEN_FD	0	/* where spawn-fcgi puts the socket */
#define CONNS_MAX	4096
#define BUF_SIZE	(64 * 1024 + 16)	/* a whole record and a header */
#define FCGI_BEGIN	1
#define FCGI_END	3
#define FCGI_STDIN	5
#define FCGI_STDOUT	6

struct conn {
	size_t		 len;
	int		 keep;
	unsigned char	 buf[BUF_SIZE];
};

static struct conn	*conns[CONNS_MAX];

static void
drop(int fd)
{
	free(conns[fd]);
	conns[fd] = NULL;
	close(fd);
}

/* STDOUT with the headers, the empty STDOUT that ends it, END_REQUEST. */
static int
reply(int fd, unsigned id)
{
	static const char	 hdr[] = "Status: 200 OK\r\nContent-Length: 0\r\n\r\n";
	unsigned char		 out[8 + sizeof(hdr) + 8 + 16], *p = out;
	const size_t		 n = sizeof(hdr) - 1;
	const unsigned char	 hi = (unsigned char)(id >> 8), lo = (unsigned char)id;
	const unsigned char	 stdout_hdr[8] = { 1, FCGI_STDOUT, hi, lo, 0, (unsigned char)n, 0, 0 };
	const unsigned char	 stdout_end[8] = { 1, FCGI_STDOUT, hi, lo, 0, 0, 0, 0 };
	const unsigned char	 end[16] = { 1, FCGI_END, hi, lo, 0, 8, 0, 0 };

	memcpy(p, stdout_hdr, 8), p += 8;
	memcpy(p, hdr, n), p += n;
	memcpy(p, stdout_end, 8), p += 8;
	memcpy(p, end, 16), p += 16;
	return write(fd, out, (size_t)(p - out)) == p - out ? 0 : -1;
}

/* Answers every request complete in c's buffer; -1 once fd is closed. */
static int
serve(int fd, struct conn *c)
{
	size_t	 off = 0, body, rec;

	while (c->len - off >= 8) {
		unsigned char	*h = c->buf + off;
		unsigned	 id = (unsigned)(h[2] << 8 | h[3]);

		body = (size_t)(h[4] << 8 | h[5]);
		rec = 8 + body + h[6];
		if (c->len - off < rec)
			break;
		if (h[1] == FCGI_BEGIN && body >= 3)
			c->keep = h[10] & 1;
		if (h[1] == FCGI_STDIN && body == 0 &&
		    (reply(fd, id) == -1 || !c->keep)) {
			drop(fd);
			return -1;
		}
		off += rec;
	}
	memmove(c->buf, c->buf + off, c->len - off);
	c->len -= off;
	return 0;
}

int
main(void)
{
	struct epoll_event	 ev, evs[64];
	struct conn		*c;
	ssize_t			 r;
	int			 ep, fd, i, n;

	if ((ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		return 1;
	ev.events = EPOLLIN;
	ev.data.fd = LISTEN_FD;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, LISTEN_FD, &ev) == -1)
		return 1;
	for (;;) {
		if ((n = epoll_wait(ep, evs, 64, -1)) == -1) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		for (i = 0; i < n; i++) {
			if ((fd = evs[i].data.fd) == LISTEN_FD) {
				fd = accept4(LISTEN_FD, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
				if (fd == -1)
					continue;
				ev.data.fd = fd;
				if (fd >= CONNS_MAX)
					close(fd);
				else if ((conns[fd] = calloc(1, sizeof(*c))) == NULL ||
				    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == -1)
					drop(fd);
				continue;
			}
			c = conns[fd];
			r = read(fd, c->buf + c->len, sizeof(c->buf) - c->len);
			if (r == -1 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (r <= 0) {
				drop(fd);
				continue;
			}
			c->len += (size_t)r;
			(void)serve(fd, c);
		}
	}
}
