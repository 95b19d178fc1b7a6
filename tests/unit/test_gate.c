/*
 * The store gate with threads: a busy store is waited for, a hanging one
 * fails fast, listings leave point requests a slot, and a wait never
 * outlives the request's deadline.
 */
#include "unit.h"

#include <pthread.h>
#include <unistd.h>

#include "gate.h"

#define STALL_MS	200

struct entrant {
	struct store_gate	*gate;
	enum gate_kind		 kind;
	long			 deadline_ms;
	enum gate_result	 res;
	long			 waited_ms;
};

static void *
enter_one(void *arg)
{
	struct entrant	*e = arg;
	struct deadline	 dl;
	long		 t0 = mono_now_ms();

	deadline_start(&dl, e->deadline_ms);
	e->res = gate_enter(e->gate, e->kind, &dl);
	e->waited_ms = mono_now_ms() - t0;
	return NULL;
}

static enum gate_result
enter_now(struct store_gate *g, enum gate_kind kind, long deadline_ms,
    long *waited_ms)
{
	struct entrant	 e = { g, kind, deadline_ms, GATE_IN, 0 };

	enter_one(&e);
	*waited_ms = e.waited_ms;
	return e.res;
}

/* Two slots: one listing at most, and a point request always gets in. */
static void
test_listings_leave_a_slot(void **state)
{
	struct store_gate	 g;
	long			 waited;

	(void)state;
	assert_int_equal(gate_init(&g, 2, STALL_MS), 0);
	assert_int_equal(g.list_limit, 1);
	assert_int_equal(enter_now(&g, GATE_LIST, 5000, &waited), GATE_IN);
	/* A second listing waits; the store shows no life: stuck. */
	assert_int_equal(enter_now(&g, GATE_LIST, 5000, &waited), GATE_STUCK);
	assert_true(waited >= STALL_MS - 20 && waited < STALL_MS + 500);
	/* A point request does not wait at all. */
	assert_int_equal(enter_now(&g, GATE_POINT, 5000, &waited), GATE_IN);
	assert_true(waited < 100);
	gate_leave(&g, GATE_POINT);
	gate_leave(&g, GATE_LIST);
	assert_int_equal(g.busy, 0);
	assert_int_equal(g.listing, 0);
	gate_destroy(&g);
}

/*
 * A long listing that moves is a busy store, not a stuck one: the second
 * listing waits past the stall time for the first to end, and gets in.
 */
static void
test_moving_store_is_waited_for(void **state)
{
	struct store_gate	 g;
	struct entrant		 e;
	pthread_t		 t;
	long			 waited;
	int			 i;

	(void)state;
	assert_int_equal(gate_init(&g, 2, STALL_MS), 0);
	assert_int_equal(enter_now(&g, GATE_LIST, 5000, &waited), GATE_IN);
	e = (struct entrant){ &g, GATE_LIST, 5000, GATE_STUCK, 0 };
	assert_int_equal(pthread_create(&t, NULL, enter_one, &e), 0);
	/* Three stall periods of listing, moving all along. */
	for (i = 0; i < 12; i++) {
		usleep(STALL_MS * 1000 / 4);
		gate_moved(&g);
	}
	gate_leave(&g, GATE_LIST);
	pthread_join(t, NULL);
	assert_int_equal(e.res, GATE_IN);
	assert_true(e.waited_ms >= 3 * STALL_MS - 50);
	gate_leave(&g, GATE_LIST);
	gate_destroy(&g);
}

/* A store that moves but never frees a slot: the deadline ends the wait. */
static void
test_deadline_ends_the_wait(void **state)
{
	struct store_gate	 g;
	struct entrant		 e;
	pthread_t		 t;
	long			 waited;
	int			 i;

	(void)state;
	assert_int_equal(gate_init(&g, 1, STALL_MS), 0);
	assert_int_equal(enter_now(&g, GATE_POINT, 5000, &waited), GATE_IN);
	e = (struct entrant){ &g, GATE_POINT, 2 * STALL_MS, GATE_IN, 0 };
	assert_int_equal(pthread_create(&t, NULL, enter_one, &e), 0);
	for (i = 0; i < 16; i++) {
		usleep(STALL_MS * 1000 / 4);
		gate_moved(&g);
	}
	pthread_join(t, NULL);
	assert_int_equal(e.res, GATE_TIMEOUT);
	assert_true(e.waited_ms >= 2 * STALL_MS - 20 &&
	    e.waited_ms < 2 * STALL_MS + 500);
	gate_leave(&g, GATE_POINT);
	gate_destroy(&g);
}

/*
 * After a long quiet spell the store's clock starts with the first call:
 * a burst that fills the slots waits for the stall time, not 0.
 */
static void
test_quiet_store_gets_its_chance(void **state)
{
	struct store_gate	 g;
	long			 waited;

	(void)state;
	assert_int_equal(gate_init(&g, 1, STALL_MS), 0);
	usleep(2 * STALL_MS * 1000);
	assert_int_equal(enter_now(&g, GATE_POINT, 5000, &waited), GATE_IN);
	assert_int_equal(enter_now(&g, GATE_POINT, 5000, &waited), GATE_STUCK);
	assert_true(waited >= STALL_MS - 20);
	gate_leave(&g, GATE_POINT);
	gate_destroy(&g);
}

/* One slot: a listing and a point request share it. */
static void
test_one_slot(void **state)
{
	struct store_gate	 g;
	long			 waited;

	(void)state;
	assert_int_equal(gate_init(&g, 1, STALL_MS), 0);
	assert_int_equal(g.list_limit, 1);
	assert_int_equal(enter_now(&g, GATE_LIST, 5000, &waited), GATE_IN);
	gate_leave(&g, GATE_LIST);
	assert_int_equal(enter_now(&g, GATE_POINT, 5000, &waited), GATE_IN);
	gate_leave(&g, GATE_POINT);
	gate_destroy(&g);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_listings_leave_a_slot),
		cmocka_unit_test(test_moving_store_is_waited_for),
		cmocka_unit_test(test_deadline_ends_the_wait),
		cmocka_unit_test(test_quiet_store_gets_its_chance),
		cmocka_unit_test(test_one_slot),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
