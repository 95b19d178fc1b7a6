/*
 * The holding parent. The process spawn-fcgi (or systemd through it)
 * started keeps the listening socket, fd 0, for its whole life and runs
 * the server in a worker process it forks, as nginx's master and php-fpm
 * do. A worker that dies (a crash, the OOM killer, kill -9) is replaced at
 * once while the socket stays open, so connects made meanwhile wait in its
 * backlog instead of being refused: lighttpd takes a refused connect to
 * mean the backend is down and answers 503 for seconds.
 */
#ifndef CANDIDATES_SUPERVISE_H
#define CANDIDATES_SUPERVISE_H

/*
 * A worker that lived this long before dying is replaced at once; one
 * that died sooner is taken for a crash loop and the next waits, from the
 * first delay doubling up to the last, so a worker that cannot live costs
 * a fork every few seconds, never a core.
 */
#define SUPERVISE_STABLE_MS	1000
#define SUPERVISE_DELAY_MIN_MS	100
#define SUPERVISE_DELAY_MAX_MS	5000
/* The first worker's time to start before the parent sheds its pages. */
#define SUPERVISE_SHED_AFTER_MS	1000

enum supervise_role {
	SUPERVISE_WORKER,	/* in the worker: serve, as if never forked */
	SUPERVISE_EXIT,		/* in the parent: exit with *status */
};

enum supervise_next {
	SUPERVISE_RESTART,	/* start another worker */
	SUPERVISE_STOP,		/* the parent exits with the worker's status */
};

/*
 * Call once, single-threaded, with SIGTERM and SIGINT blocked and fd 0
 * the listening socket. Returns SUPERVISE_WORKER in each worker, with the
 * signal mask it was called with; the worker dies with the parent
 * (PR_SET_PDEATHSIG), so killing the parent never leaves one holding the
 * socket. The parent returns SUPERVISE_EXIT with *status set once it is
 * time to exit: a worker exited with a failure of its own (a store that
 * will not open: systemd's Restart=on-failure decides), or SIGTERM or
 * SIGINT came, was passed on to the worker, and the worker drained.
 */
enum supervise_role supervise(int *status);

/*
 * The wait before the next worker (ms), given the wait before the one
 * that died (0 for none) and how long it lived (ms). Pure.
 */
long	supervise_delay(long last_ms, long lived_ms);

/*
 * What the wait status (waitpid) of a worker the parent did not ask to
 * stop calls for. Killed by a signal, or exited 0 (a SIGTERM sent to the
 * worker alone drains and exits 0): the service must go on, so another
 * worker starts, and exiting 0 would leave systemd's Restart=on-failure
 * nothing to restart. Exited with a failure: the parent exits with it,
 * for systemd to decide. On SUPERVISE_STOP *exit_status is the worker's
 * status, else 1. Pure.
 */
enum supervise_next supervise_verdict(int wstatus, int *exit_status);

#endif
