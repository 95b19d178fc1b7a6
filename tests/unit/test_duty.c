/*
 * The duty with threads: one worker on duty and the rest parked, a store
 * call that ends within the grace period calls nobody, one that holds its
 * worker past it calls exactly one, and the drain brings every parked
 * worker back.
 */
#include "unit.h"

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "deadline.h"
#include "duty.h"

#define GRACE_US	20000
#define WORKERS		3

struct crew {
	struct duty	 duty;
	atomic_int	 on;		/* workers that came on duty */
	pthread_t	 threads[WORKERS];
};

static void *
take(void *arg)
{
	struct crew	*c = arg;

	duty_take(&c->duty);
	atomic_fetch_add(&c->on, 1);
	return NULL;
}

/* Waits up to ms for on to reach n; how long it took, -1 if it did not. */
static long
wait_on(struct crew *c, int n, long ms)
{
	long	 t0 = mono_now_ms();

	while (atomic_load(&c->on) < n) {
		if (mono_now_ms() - t0 > ms)
			return -1;
		usleep(1000);
	}
	return mono_now_ms() - t0;
}

/* The test's thread on duty, WORKERS more parked behind it. */
static void
start(struct crew *c, long grace_us)
{
	int	 i;

	assert_int_equal(duty_init(&c->duty, grace_us), 0);
	atomic_init(&c->on, 0);
	duty_take(&c->duty);
	for (i = 0; i < WORKERS; i++)
		assert_int_equal(pthread_create(&c->threads[i], NULL, take, c),
		    0);
}

static void
finish(struct crew *c)
{
	int	 i;

	duty_close(&c->duty);
	for (i = 0; i < WORKERS; i++)
		pthread_join(c->threads[i], NULL);
	duty_destroy(&c->duty);
}

static void
test_one_on_duty(void **state)
{
	struct crew	 c;

	(void)state;
	start(&c, GRACE_US);
	usleep(5 * GRACE_US);
	assert_int_equal(atomic_load(&c.on), 0);
	/* Calls that end within the grace period call nobody. */
	for (int i = 0; i < 100; i++) {
		duty_leave(&c.duty);
		duty_take(&c.duty);
	}
	usleep(5 * GRACE_US);
	assert_int_equal(atomic_load(&c.on), 0);
	finish(&c);
	assert_int_equal(atomic_load(&c.on), WORKERS);
}

static void
test_held_past_grace_calls_one(void **state)
{
	struct crew	 c;
	long		 t0, took;

	(void)state;
	start(&c, GRACE_US);
	usleep(2 * GRACE_US);
	t0 = mono_now_ms();
	duty_leave(&c.duty);
	took = wait_on(&c, 1, 5000);
	assert_true(took >= 0);
	assert_true(mono_now_ms() - t0 >= GRACE_US / 1000 - 1);
	/* Exactly one: the called worker is on duty, the others park on. */
	usleep(5 * GRACE_US);
	assert_int_equal(atomic_load(&c.on), 1);
	/* Back from its call with another on duty: this thread would park. */
	finish(&c);
	assert_int_equal(atomic_load(&c.on), WORKERS);
}

/* Two away at once: the second leaving calls the next parked worker. */
static void
test_each_away_worker_replaced(void **state)
{
	struct crew	 c;

	(void)state;
	start(&c, GRACE_US);
	duty_leave(&c.duty);
	assert_true(wait_on(&c, 1, 5000) >= 0);
	/* The called worker goes into a call too (its leave, made here). */
	duty_leave(&c.duty);
	assert_true(wait_on(&c, 2, 5000) >= 0);
	usleep(5 * GRACE_US);
	assert_int_equal(atomic_load(&c.on), 2);
	finish(&c);
}

static void
test_close_brings_everyone_back(void **state)
{
	struct crew	 c;

	(void)state;
	start(&c, GRACE_US);
	usleep(2 * GRACE_US);
	duty_close(&c.duty);
	assert_true(wait_on(&c, WORKERS, 5000) >= 0);
	/* Nobody parks after the drain. */
	duty_take(&c.duty);
	finish(&c);
}

/* A network store: every worker stays on duty, nobody parks. */
static void
test_no_grace_no_parking(void **state)
{
	struct crew	 c;

	(void)state;
	start(&c, -1);
	assert_true(wait_on(&c, WORKERS, 5000) >= 0);
	duty_leave(&c.duty);
	finish(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_on_duty),
		cmocka_unit_test(test_held_past_grace_calls_one),
		cmocka_unit_test(test_each_away_worker_replaced),
		cmocka_unit_test(test_close_brings_everyone_back),
		cmocka_unit_test(test_no_grace_no_parking),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
