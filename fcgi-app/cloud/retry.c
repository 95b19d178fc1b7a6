#include "retry.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <openssl/rand.h>

void
retry_quota_init(struct retry_quota *q, long tokens)
{
	atomic_store(&q->tokens, tokens);
}

int
retry_quota_take(struct retry_quota *q, long cost)
{
	long	 have = atomic_load(&q->tokens);

	do {
		if (have < cost)
			return 0;
	} while (!atomic_compare_exchange_weak(&q->tokens, &have,
	    have - cost));
	return 1;
}

void
retry_quota_give(struct retry_quota *q, long n)
{
	long	 have = atomic_load(&q->tokens);

	while (have < RETRY_QUOTA && !atomic_compare_exchange_weak(&q->tokens,
	    &have, have + n > RETRY_QUOTA ? RETRY_QUOTA : have + n))
		continue;
}

long
retry_ceiling_ms(int n, long base_ms, long cap_ms)
{
	long	 ceiling = base_ms;
	int	 i;

	if (n < 1 || base_ms <= 0 || cap_ms <= 0)
		return 0;
	for (i = 1; i < n && ceiling < cap_ms; i++)
		ceiling *= 2;
	return ceiling < cap_ms ? ceiling : cap_ms;
}

long
retry_jitter_ms(long ceiling_ms, uint32_t rnd)
{
	if (ceiling_ms <= 0)
		return 0;
	return (long)(rnd % ((uint32_t)ceiling_ms + 1));
}

long
retry_fit_ms(long wanted_ms, long left_ms)
{
	long	 room = left_ms - RETRY_ATTEMPT_MIN_MS;

	if (room < 0)
		return -1;
	if (wanted_ms < 0)
		wanted_ms = 0;
	return wanted_ms < room ? wanted_ms : room;
}

void
retry_begin(struct retry *r, struct retry_quota *q, const struct deadline *dl,
    int max_attempts)
{
	r->quota = q;
	r->dl = dl;
	r->attempts = 0;
	r->max_attempts = max_attempts > 0 ? max_attempts : RETRY_ATTEMPTS;
	r->paid = 0;
}

void
retry_attempt(struct retry *r)
{
	r->attempts++;
}

int
retry_next(struct retry *r, enum retry_reason reason, long server_wait_ms,
    char *why, size_t whylen)
{
	struct timespec	 ts;
	uint32_t	 rnd;
	long		 cost, wait;

	if (r->attempts >= r->max_attempts) {
		snprintf(why, whylen, "%d attempt%s made", r->attempts,
		    r->attempts == 1 ? "" : "s");
		return 0;
	}
	if (server_wait_ms >= 0)
		wait = server_wait_ms;
	else {
		if (RAND_bytes((unsigned char *)&rnd, sizeof(rnd)) != 1)
			rnd = (uint32_t)random();
		wait = retry_jitter_ms(retry_ceiling_ms(r->attempts, reason ==
		    RETRY_THROTTLED ? RETRY_THROTTLE_MS : RETRY_BASE_MS,
		    RETRY_CAP_MS), rnd);
	}
	if ((wait = retry_fit_ms(wait, deadline_left_ms(r->dl))) < 0) {
		snprintf(why, whylen, "no time left for another attempt");
		return 0;
	}
	cost = reason == RETRY_TIMEOUT ? RETRY_TIMEOUT_COST : RETRY_COST;
	if (!retry_quota_take(r->quota, cost)) {
		snprintf(why, whylen, "retry quota spent: the store keeps "
		    "failing");
		return 0;
	}
	r->paid = cost;
	ts.tv_sec = wait / 1000;
	ts.tv_nsec = (wait % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		continue;
	return 1;
}

void
retry_done(struct retry *r)
{
	retry_quota_give(r->quota, r->paid > 0 ? r->paid :
	    RETRY_NO_RETRY_REFUND);
	r->paid = 0;
}
