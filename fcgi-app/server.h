/*
 * The worker threads: each waits in epoll for the listening socket
 * spawn-fcgi handed us as fd 0 or for a connection the web server keeps
 * open (FCGI_KEEP_CONN), serves one request at a time with its own store
 * handle through libfcgi, and stops when the server drains. No thread
 * waits on an idle connection, nor on one whose request has not all
 * arrived, so the web server may keep any number and a silent peer holds
 * no thread; every read and write on a connection has a timeout.
 */
#ifndef CANDIDATES_SERVER_H
#define CANDIDATES_SERVER_H

#include <stddef.h>

#include "config.h"

/*
 * How long one read or write on a FastCGI connection may wait: web
 * servers write a request at once and read answers as they come, so this
 * only bounds a peer that stalls.
 */
#define FCGI_IO_TIMEOUT_MS	5000

struct server;

/*
 * Opens a store handle per worker and starts the workers; on failure
 * nothing is left running and err says why. The caller keeps cfg and
 * instance_id alive until server_wait returns.
 */
int	server_start(struct server **out, const struct config *cfg,
	    const char *instance_id, char *err, size_t errlen);
/*
 * Stops accepting and ends idle kept connections and those still waiting
 * for their request: workers finish the requests in hand, then exit.
 * When the service is stopping, the listening socket is shut, refusing
 * new connections, and those already queued are served; otherwise (this
 * worker alone is) it is left as it is for the next worker, queue and
 * all. Safe to call once, from the thread that took the signal.
 */
void	server_drain(struct server *, int stopping);
/*
 * Waits for every worker and frees everything. A worker still holding a
 * connection after the drain's grace period (the longest a store call
 * may take, and a second) has that connection cut, so a stalled peer
 * cannot keep the process from exiting.
 */
void	server_wait(struct server *);

#endif
