/*
 * Keeps one worker on duty, in epoll_wait for the next event or serving
 * a request, while the others stay parked, when the store's calls end in
 * microseconds (SQLite). A worker on duty that goes into a store call
 * arms a timer: if the call still holds it when the grace period is up
 * (a lock, a long listing), a parked worker is called to take its place,
 * so /gtg is never left waiting on the store.
 *
 * Why not every idle worker in epoll_wait, as for the network stores,
 * whose calls always wait: each event would wake a sleeping worker, which
 * takes the core from the web server that is still writing the next
 * requests, and a request would cost two context switches. With one
 * worker on duty, events that come while it works wait for it and are
 * taken in turn without a switch, as a one-thread event loop takes them.
 */
#ifndef CANDIDATES_DUTY_H
#define CANDIDATES_DUTY_H

#include <pthread.h>
#include <time.h>

struct duty {
	pthread_mutex_t	 lock;
	long		 grace_us;	/* < 0: nobody parks */
	int		 epfd;		/* where parked workers wait */
	int		 timerfd;	/* the grace period */
	int		 closefd;	/* readable once closed, never read */
	int		 armed;		/* timerfd set and not yet seen */
	int		 closed;	/* nobody parks any more */
	long		 on;		/* workers on duty */
	struct timespec	 left;		/* when the last on duty left */
	long		 parked;
};

/*
 * grace_us: how long a worker on duty may be held by a store call before
 * another is called; < 0 for stores whose calls always wait on the
 * network: every worker then stays on duty. 0 on success.
 */
int	duty_init(struct duty *, long grace_us);
void	duty_destroy(struct duty *);
/* Goes on duty, parked first for as long as another worker is on it. */
void	duty_take(struct duty *);
/* About to block: a parked worker is called if this one stays away. */
void	duty_leave(struct duty *);
/* Parking ends for good (the drain): every parked worker comes back. */
void	duty_close(struct duty *);

#endif
