/*
 * Bounds how many workers may be inside a store call at once. A store
 * that hangs would otherwise hold every worker until its deadline, and
 * /gtg, which every load balancer polls, would queue behind them until the
 * instance was replaced for an outage that is not its own.
 *
 * When every slot is taken, a data request waits for one only while the
 * store looks healthy: once the oldest call in flight has run longer than
 * suspect_ms, the store is taken to be hanging and the request gives up at
 * once (a 503), so the queue in front of /gtg drains quickly.
 */
#ifndef CANDIDATES_GATE_H
#define CANDIDATES_GATE_H

#include <pthread.h>
#include <time.h>

struct store_gate {
	pthread_mutex_t	 lock;
	pthread_cond_t	 freed;
	long		 limit;		/* slots */
	long		 busy;		/* slots taken */
	long		 suspect_ms;
	struct timespec	*started;	/* per slot; tv_sec 0 when free */
};

int	gate_init(struct store_gate *, long limit, long suspect_ms);
void	gate_destroy(struct store_gate *);
/*
 * Takes a slot and returns 1 with its number in *slot, to be given back
 * with gate_leave; returns 0 when the store is busy and looks stuck.
 */
int	gate_enter(struct store_gate *, long *slot);
void	gate_leave(struct store_gate *, long slot);

#endif
