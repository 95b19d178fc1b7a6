#include "gate.h"

#include <stdlib.h>

static long
ms_between(const struct timespec *a, const struct timespec *b)
{
	return (b->tv_sec - a->tv_sec) * 1000 +
	    (b->tv_nsec - a->tv_nsec) / 1000000;
}

static void
add_ms(struct timespec *t, long ms)
{
	t->tv_sec += ms / 1000;
	t->tv_nsec += (ms % 1000) * 1000000L;
	if (t->tv_nsec >= 1000000000L) {
		t->tv_sec++;
		t->tv_nsec -= 1000000000L;
	}
}

int
gate_init(struct store_gate *g, long limit, long suspect_ms)
{
	pthread_condattr_t	 attr;
	int			 rc;

	g->limit = limit;
	g->busy = 0;
	g->suspect_ms = suspect_ms;
	if ((g->started = calloc((size_t)limit, sizeof(*g->started))) == NULL)
		return -1;
	/* The monotonic clock, so a clock step cannot stretch a wait. */
	if ((rc = pthread_condattr_init(&attr)) == 0) {
		rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
		if (rc == 0)
			rc = pthread_cond_init(&g->freed, &attr);
		pthread_condattr_destroy(&attr);
	}
	if (rc == 0 && (rc = pthread_mutex_init(&g->lock, NULL)) != 0)
		pthread_cond_destroy(&g->freed);
	if (rc != 0) {
		free(g->started);
		g->started = NULL;
		return -1;
	}
	return 0;
}

void
gate_destroy(struct store_gate *g)
{
	pthread_cond_destroy(&g->freed);
	pthread_mutex_destroy(&g->lock);
	free(g->started);
	g->started = NULL;
}

/* When the oldest call in flight began; the gate is full and locked. */
static struct timespec
oldest(const struct store_gate *g)
{
	struct timespec	 t = g->started[0];
	long		 i;

	for (i = 1; i < g->limit; i++)
		if (g->started[i].tv_sec < t.tv_sec ||
		    (g->started[i].tv_sec == t.tv_sec &&
		    g->started[i].tv_nsec < t.tv_nsec))
			t = g->started[i];
	return t;
}

int
gate_enter(struct store_gate *g, long *slot)
{
	struct timespec	 now, until;
	long		 i;
	int		 entered = 0;

	*slot = -1;
	pthread_mutex_lock(&g->lock);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (g->busy < g->limit)
			break;
		/* Wait until a slot frees or the oldest call looks stuck. */
		until = oldest(g);
		add_ms(&until, g->suspect_ms);
		if (ms_between(&now, &until) <= 0)
			break;
		pthread_cond_timedwait(&g->freed, &g->lock, &until);
	}
	if (g->busy < g->limit) {
		for (i = 0; g->started[i].tv_sec != 0; i++)
			continue;
		/* tv_sec 0 marks a free slot; the monotonic clock is past it. */
		g->started[i] = now;
		if (g->started[i].tv_sec == 0)
			g->started[i].tv_sec = 1;
		g->busy++;
		*slot = i;
		entered = 1;
	}
	pthread_mutex_unlock(&g->lock);
	return entered;
}

void
gate_leave(struct store_gate *g, long slot)
{
	pthread_mutex_lock(&g->lock);
	g->started[slot].tv_sec = 0;
	g->started[slot].tv_nsec = 0;
	g->busy--;
	pthread_cond_signal(&g->freed);
	pthread_mutex_unlock(&g->lock);
}
