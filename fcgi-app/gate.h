/*
 * Bounds how many workers may be inside a store call at once, for two
 * reasons. A store that hangs would otherwise hold every worker until its
 * deadline, and /gtg, which every load balancer polls and which never
 * touches the store, would queue behind them until the instance was
 * replaced for an outage that is not its own. And listings, which may
 * take seconds on a large table, must not take every slot from the point
 * requests behind them: they may hold at most half of the slots.
 *
 * A request that finds no slot of its kind waits for one while the store
 * is moving: while some call has ended, or a listing has handed on names,
 * within the last stall_ms. A store that has shown no life for that long
 * with every slot taken is hanging, and the request gives up at once (a
 * 503), so the queue in front of /gtg drains. A store that is merely busy
 * is waited for, within the request's own deadline: busy is not down.
 */
#ifndef CANDIDATES_GATE_H
#define CANDIDATES_GATE_H

#include <pthread.h>
#include <time.h>

#include "deadline.h"

enum gate_kind {
	GATE_POINT,		/* a get or a put */
	GATE_LIST,		/* a listing */
};

enum gate_result {
	GATE_IN,		/* a slot is ours: gate_leave it */
	GATE_STUCK,		/* every slot taken, the store not moving */
	GATE_TIMEOUT,		/* the request's deadline passed waiting */
};

struct store_gate {
	pthread_mutex_t	 lock;
	pthread_cond_t	 freed;
	long		 limit;		/* slots */
	long		 list_limit;	/* of which listings may hold */
	long		 busy;		/* slots taken */
	long		 listing;	/* slots taken by listings */
	long		 stall_ms;
	struct timespec	 moved;		/* the store's last sign of life */
};

/* limit slots (>= 1); 0 on success. */
int	gate_init(struct store_gate *, long limit, long stall_ms);
void	gate_destroy(struct store_gate *);
/* Takes a slot of kind, waiting no later than dl. */
enum gate_result gate_enter(struct store_gate *, enum gate_kind,
	    const struct deadline *dl);
/* A listing in a slot has handed on names: the store is alive. */
void	gate_moved(struct store_gate *);
/* Gives back a slot of kind, taken by gate_enter. */
void	gate_leave(struct store_gate *, enum gate_kind);

#endif
