/*
 * An answer written as FastCGI STDOUT records straight to the connection,
 * in one writev when the socket takes it all. libfcgi copies what it is
 * given through an 8 KiB buffer and writes a record each time the buffer
 * fills: a 36 KB listing is five writes, and as many reads for the web
 * server. The stream's end (an empty STDOUT record) and END_REQUEST are
 * still libfcgi's, written by FCGX_Finish_r.
 */
#ifndef CANDIDATES_FCGI_STDOUT_H
#define CANDIDATES_FCGI_STDOUT_H

#include <stddef.h>

/*
 * Writes head then body on fd as STDOUT records of request id, each of
 * at most FCGI_MAX_LENGTH bytes (<fastcgi.h>, the protocol's). 0 when
 * every byte is written; -1 with errno when a write fails or times out,
 * after which the connection is in the middle of a record and must be
 * closed.
 */
int	fcgi_write_stdout(int fd, unsigned id, const char *head,
	    size_t head_len, const char *body, size_t body_len);

#endif
