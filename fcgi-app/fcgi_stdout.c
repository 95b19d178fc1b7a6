#include "fcgi_stdout.h"

#include <errno.h>
#include <sys/uio.h>

#include <fastcgi.h>	/* libfcgi's record types and lengths */

/*
 * Records framed per writev: three pieces each at most (the record's
 * header, the end of head, the start of body), well under IOV_MAX. 64
 * records is 4 MiB a call.
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

int
fcgi_write_stdout(int fd, unsigned id, const char *head, size_t head_len,
    const char *body, size_t body_len)
{
	unsigned char	 hdr[BATCH_RECORDS][FCGI_HEADER_LEN];
	struct iovec	 iov[BATCH_RECORDS * 3];
	size_t		 left = head_len + body_len, len, part;
	int		 r, n;

	while (left > 0) {
		n = 0;
		for (r = 0; r < BATCH_RECORDS && left > 0; r++) {
			len = left < FCGI_MAX_LENGTH ? left : FCGI_MAX_LENGTH;
			left -= len;
			hdr[r][0] = FCGI_VERSION_1;
			hdr[r][1] = FCGI_STDOUT;
			hdr[r][2] = (unsigned char)(id >> 8);
			hdr[r][3] = (unsigned char)id;
			hdr[r][4] = (unsigned char)(len >> 8);
			hdr[r][5] = (unsigned char)len;
			hdr[r][6] = 0;		/* no padding */
			hdr[r][7] = 0;
			iov[n].iov_base = hdr[r];
			iov[n++].iov_len = FCGI_HEADER_LEN;
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
		if (writev_all(fd, iov, n) == -1)
			return -1;
	}
	return 0;
}
