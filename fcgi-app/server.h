/*
 * The worker threads: each blocks in FCGX_Accept_r on the listening
 * socket spawn-fcgi handed us as fd 0, serves one request at a time with
 * its own store handle, and stops when the server drains.
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
 * Stops accepting: workers finish the request in hand, then exit. Safe
 * to call once, from the thread that took the signal.
 */
void	server_drain(struct server *);
/* Waits for every worker and frees everything. */
void	server_wait(struct server *);

#endif
