#include "gate.h"

int
gate_init(struct store_gate *g, long limit, long stall_ms)
{
	pthread_condattr_t	 attr;
	int			 rc;

	g->limit = limit > 0 ? limit : 1;
	/* With two slots or more, point requests always keep one. */
	g->list_limit = g->limit > 1 ? g->limit / 2 : 1;
	g->busy = g->listing = 0;
	g->stall_ms = stall_ms;
	g->moved = mono_now();
	/* The monotonic clock, so a clock step cannot stretch a wait. */
	if ((rc = pthread_condattr_init(&attr)) != 0)
		return -1;
	rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (rc == 0)
		rc = pthread_cond_init(&g->freed, &attr);
	pthread_condattr_destroy(&attr);
	if (rc == 0 && (rc = pthread_mutex_init(&g->lock, NULL)) != 0)
		pthread_cond_destroy(&g->freed);
	return rc == 0 ? 0 : -1;
}

void
gate_destroy(struct store_gate *g)
{
	pthread_cond_destroy(&g->freed);
	pthread_mutex_destroy(&g->lock);
}

static int
has_room(const struct store_gate *g, enum gate_kind kind)
{
	if (g->busy >= g->limit)
		return 0;
	return kind != GATE_LIST || g->listing < g->list_limit;
}

enum gate_result
gate_enter(struct store_gate *g, enum gate_kind kind,
    const struct deadline *dl)
{
	enum gate_result	 res;
	struct timespec		 now, stuck_at, until;

	pthread_mutex_lock(&g->lock);
	for (;;) {
		now = mono_now();
		if (has_room(g, kind)) {
			/*
			 * A store with nothing in flight has had no chance to
			 * move: its clock starts with this call.
			 */
			if (g->busy == 0)
				g->moved = now;
			g->busy++;
			if (kind == GATE_LIST)
				g->listing++;
			res = GATE_IN;
			break;
		}
		stuck_at = g->moved;
		mono_add_ms(&stuck_at, g->stall_ms);
		if (mono_ms_between(&now, &stuck_at) <= 0) {
			res = GATE_STUCK;
			break;
		}
		if (mono_ms_between(&now, &dl->end) <= 0) {
			res = GATE_TIMEOUT;
			break;
		}
		/* Until a slot frees, the store looks stuck, or time is up. */
		until = deadline_before(dl, &(struct deadline){ stuck_at }) ?
		    dl->end : stuck_at;
		pthread_cond_timedwait(&g->freed, &g->lock, &until);
	}
	pthread_mutex_unlock(&g->lock);
	return res;
}

void
gate_moved(struct store_gate *g)
{
	pthread_mutex_lock(&g->lock);
	g->moved = mono_now();
	pthread_mutex_unlock(&g->lock);
}

void
gate_leave(struct store_gate *g, enum gate_kind kind)
{
	pthread_mutex_lock(&g->lock);
	g->busy--;
	if (kind == GATE_LIST)
		g->listing--;
	g->moved = mono_now();
	/*
	 * Every waiter: the one a point slot suits may not be the one a
	 * listing's slot suits, and each must see the store moved.
	 */
	pthread_cond_broadcast(&g->freed);
	pthread_mutex_unlock(&g->lock);
}
