#include "fcgi_stdout.h"

#include <errno.h>
#include <string.h>
#include <sys/uio.h>

#include <fastcgi.h>	/* libfcgi's record types and lengths */

/*
 * Records framed per writev: three pieces each at most (the record's
 * header, the end of head, the start of body), and the request's two end
 * records after the last, well under IOV_MAX. 64 records is 4 MiB a call.
 */
#define BATCH_RECORDS	64

/* Writes every byte of iov[0..n), whatever the socket takes per call. */
static int
writev_all(int fd, struct iovec *iov, int n)
{
	ssize_t	 w;

	while (n > 0) {
		if ((w = writev(fd, iov, n)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++, n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

static FCGI_Header
header(int type, unsigned id, size_t len)
{
	FCGI_Header	 h;

	h.version = FCGI_VERSION_1;
	h.type = (unsigned char)type;
	h.requestIdB1 = (unsigned char)(id >> 8);
	h.requestIdB0 = (unsigned char)id;
	h.contentLengthB1 = (unsigned char)(len >> 8);
	h.contentLengthB0 = (unsigned char)len;
	h.paddingLength = 0;		/* none: the records need not align */
	h.reserved = 0;
	return h;
}

int
fcgi_write_stdout(int fd, unsigned id, const char *head, size_t head_len,
    const char *body, size_t body_len)
{
	FCGI_Header		 hdr[BATCH_RECORDS], eof;
	FCGI_EndRequestRecord	 done;
	struct iovec		 iov[BATCH_RECORDS * 3 + 2];
	size_t			 left = head_len + body_len, len, part;
	int			 r, n;

	eof = header(FCGI_STDOUT, id, 0);
	memset(&done, 0, sizeof(done));	/* exit status 0 */
	done.header = header(FCGI_END_REQUEST, id, sizeof(done.body));
	done.body.protocolStatus = FCGI_REQUEST_COMPLETE;
	do {
		n = 0;
		for (r = 0; r < BATCH_RECORDS && left > 0; r++) {
			len = left < FCGI_MAX_LENGTH ? left : FCGI_MAX_LENGTH;
			left -= len;
			hdr[r] = header(FCGI_STDOUT, id, len);
			iov[n].iov_base = &hdr[r];
			iov[n++].iov_len = sizeof(hdr[r]);
			if (head_len > 0) {
				part = head_len < len ? head_len : len;
				iov[n].iov_base = (void *)head;
				iov[n++].iov_len = part;
				head += part, head_len -= part, len -= part;
			}
			if (len > 0) {
				iov[n].iov_base = (void *)body;
				iov[n++].iov_len = len;
				body += len;
			}
		}
		/* The request's end goes with its last bytes. */
		if (left == 0) {
			iov[n].iov_base = &eof;
			iov[n++].iov_len = sizeof(eof);
			iov[n].iov_base = &done;
			iov[n++].iov_len = sizeof(done);
		}
		if (writev_all(fd, iov, n) == -1)
			return -1;
	} while (left > 0);
	return 0;
}
