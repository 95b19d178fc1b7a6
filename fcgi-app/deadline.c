#include "deadline.h"

struct timespec
mono_now(void)
{
	struct timespec	 ts;

	/* Cannot fail on Linux; time 0 makes every deadline look passed. */
	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1) {
		ts.tv_sec = 0;
		ts.tv_nsec = 0;
	}
	return ts;
}

long
mono_now_ms(void)
{
	struct timespec	 ts = mono_now();

	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
mono_add_ms(struct timespec *t, long ms)
{
	t->tv_sec += ms / 1000;
	t->tv_nsec += (ms % 1000) * 1000000L;
	if (t->tv_nsec >= 1000000000L) {
		t->tv_sec++;
		t->tv_nsec -= 1000000000L;
	}
}

long
mono_ms_between(const struct timespec *a, const struct timespec *b)
{
	return (long)((long long)(b->tv_sec - a->tv_sec) * 1000 +
	    (b->tv_nsec - a->tv_nsec) / 1000000);
}

void
deadline_start(struct deadline *dl, long ms)
{
	dl->end = mono_now();
	if (dl->end.tv_sec != 0)
		mono_add_ms(&dl->end, ms);
}

long
deadline_left_ms(const struct deadline *dl)
{
	struct timespec	 now = mono_now();
	long		 ms;

	if (now.tv_sec == 0)
		return 0;
	ms = mono_ms_between(&now, &dl->end);
	return ms > 0 ? ms : 0;
}

int
deadline_before(const struct deadline *a, const struct deadline *b)
{
	return a->end.tv_sec < b->end.tv_sec || (a->end.tv_sec ==
	    b->end.tv_sec && a->end.tv_nsec < b->end.tv_nsec);
}
