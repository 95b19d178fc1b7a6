/*
 * An answer written as FastCGI STDOUT records straight to the connection,
 * in one writev when the socket takes it all. libfcgi copies what it is
 * given through an 8 KiB buffer and writes a record each time the buffer
 * fills: a 36 KB listing is five writes, and as many reads for the web
 * server. The request's end (an empty STDOUT record and END_REQUEST) goes
 * in the same writev, where libfcgi's FCGX_Finish_r would write it in a
 * call of its own and wake the web server twice.
 */
#ifndef CANDIDATES_FCGI_STDOUT_H
#define CANDIDATES_FCGI_STDOUT_H

#include <stddef.h>

/*
 * Writes head then body on fd as STDOUT records of request id, each of
 * at most FCGI_MAX_LENGTH bytes (<fastcgi.h>, the protocol's), then ends
 * the request: the empty STDOUT record and END_REQUEST (exit status 0,
 * FCGI_REQUEST_COMPLETE). The caller must keep libfcgi from ending it a
 * second time. 0 when every byte is written; -1 with errno when a write
 * fails or times out, after which the connection is in the middle of a
 * record and must be closed.
 */
int	fcgi_write_stdout(int fd, unsigned id, const char *head,
	    size_t head_len, const char *body, size_t body_len);

#endif
