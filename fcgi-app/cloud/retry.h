/*
 * The retry policy every cloud store shares: the AWS SDKs' "standard"
 * mode, which the Azure and Google SDKs resemble.
 *
 * - At most a few attempts per call (RETRY_ATTEMPTS unless the caller
 *   says otherwise), and only after throttling, a 5xx or a transport
 *   error; the caller decides which answer is which.
 * - Before retry n, a wait drawn uniformly from [0, min(cap, base * 2^n)]
 *   ("full jitter", so that clients that failed together do not retry
 *   together), or the wait the server asked for (Cosmos DB's
 *   x-ms-retry-after-ms). Either is cut to what the call's deadline
 *   leaves, keeping time for the attempt: a wait never gives up a retry
 *   that still fits.
 * - A retry quota shared by the process: each retry takes RETRY_COST
 *   tokens (RETRY_TIMEOUT_COST after a timeout) from a bucket of
 *   RETRY_QUOTA, and a call that succeeds gives back what its last retry
 *   took, or one token when it needed none. In an outage the bucket runs
 *   dry and each request makes one attempt, instead of multiplying the
 *   load on a store that is already failing.
 */
#ifndef CANDIDATES_RETRY_H
#define CANDIDATES_RETRY_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "deadline.h"

#define RETRY_ATTEMPTS		3
#define RETRY_BASE_MS		100	/* transient errors */
#define RETRY_THROTTLE_MS	500	/* throttling: back off harder */
#define RETRY_CAP_MS		20000
#define RETRY_QUOTA		500
#define RETRY_COST		5
#define RETRY_TIMEOUT_COST	10
#define RETRY_NO_RETRY_REFUND	1
/* An attempt with less time than this left is not worth starting. */
#define RETRY_ATTEMPT_MIN_MS	50

enum retry_reason {
	RETRY_TRANSIENT,	/* 5xx, a dropped or refused connection */
	RETRY_TIMEOUT,		/* the attempt timed out */
	RETRY_THROTTLED,	/* the store said slow down */
};

/* The process's retry tokens, shared by every thread of a store. */
struct retry_quota {
	_Atomic long	 tokens;
};

/* One logical call's retries. */
struct retry {
	struct retry_quota	*quota;
	const struct deadline	*dl;
	int			 attempts;	/* made so far */
	int			 max_attempts;
	long			 paid;		/* by the last retry */
};

void	retry_quota_init(struct retry_quota *, long tokens);
/* Takes cost tokens if there are that many: 1, else 0. */
int	retry_quota_take(struct retry_quota *, long cost);
/* Gives n tokens back, never past RETRY_QUOTA. */
void	retry_quota_give(struct retry_quota *, long n);

/*
 * Starts a call of at most max_attempts attempts (0: RETRY_ATTEMPTS)
 * within dl; count each attempt with retry_attempt.
 */
void	retry_begin(struct retry *, struct retry_quota *,
	    const struct deadline *dl, int max_attempts);
void	retry_attempt(struct retry *);
/*
 * After a failed attempt: 1 once the wait is slept and another attempt
 * may start; 0 when none may (attempts, quota or time spent), with the
 * reason in why. server_wait_ms >= 0 is the wait the store asked for.
 */
int	retry_next(struct retry *, enum retry_reason, long server_wait_ms,
	    char *why, size_t whylen) WARN_UNUSED;
/* The call succeeded: give back what its retries took. */
void	retry_done(struct retry *);

/* Pure, for tests. */

/* The jitter ceiling before retry n (1, 2, ...) from base. */
long	retry_ceiling_ms(int n, long base_ms, long cap_ms);
/* A wait in [0, ceiling] from 32 random bits. */
long	retry_jitter_ms(long ceiling_ms, uint32_t rnd);
/*
 * The wait to sleep, given the wanted one and what the deadline leaves:
 * cut so that RETRY_ATTEMPT_MIN_MS remain for the attempt; -1 when even
 * no wait would leave that.
 */
long	retry_fit_ms(long wanted_ms, long left_ms);

#endif
