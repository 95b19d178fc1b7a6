/*
 * Time on the monotonic clock, which no clock step can stretch or cut:
 * the deadline of a request, a store call or a lock wait, and the
 * arithmetic every wait needs.
 */
#ifndef CANDIDATES_DEADLINE_H
#define CANDIDATES_DEADLINE_H

#include <time.h>

/* A point in time on the monotonic clock that a call must finish by. */
struct deadline {
	struct timespec	 end;
};

/* Now, on the monotonic clock; tv_sec 0 in the impossible failure. */
struct timespec mono_now(void);
/* Now, in milliseconds on the monotonic clock (0 in the same failure). */
long	mono_now_ms(void);
/* t moved ms milliseconds later (ms >= 0), normalised. */
void	mono_add_ms(struct timespec *t, long ms);
/* b - a in milliseconds, rounded towards zero. */
long	mono_ms_between(const struct timespec *a, const struct timespec *b);

void	deadline_start(struct deadline *, long ms);
/* Milliseconds left, 0 when it has passed. */
long	deadline_left_ms(const struct deadline *);
/* Whether a ends before b. */
int	deadline_before(const struct deadline *a, const struct deadline *b);

#endif
