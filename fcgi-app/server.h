/*
 * The worker threads: each waits in epoll for the listening socket
 * spawn-fcgi handed us as fd 0 or for a connection the web server keeps
 * open (FCGI_KEEP_CONN), serves one request at a time with its own store
 * handle through libfcgi, and stops when the server drains. No thread
 * waits on an idle connection, so the web server may keep any number.
 */
#ifndef CANDIDATES_SERVER_H
#define CANDIDATES_SERVER_H

#include <stddef.h>

#include "store.h"

struct server;

/*
 * Opens a store handle per worker and starts the workers; on failure
 * nothing is left running and err says why. The caller keeps ops and
 * instance_id alive until server_wait returns.
 */
int	server_start(struct server **out, const struct store_ops *ops,
	    long threads, const char *instance_id, char *err, size_t errlen);
/*
 * Stops accepting and ends idle kept connections: workers finish the
 * requests in hand and any that had already arrived, then exit. Safe to
 * call once, from the thread that took the signal.
 */
void	server_drain(struct server *);
/* Waits for every worker and frees everything. */
void	server_wait(struct server *);

#endif
