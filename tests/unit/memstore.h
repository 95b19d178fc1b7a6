/*
 * An in-memory store for driving handle() without I/O, shared by
 * tests/unit/test_handler.c and tests/fuzz/fuzz_handler.c. Names keep the
 * order they came in, and the test injects one failure that every call
 * then returns (list from the page fail_after on). Each program includes
 * it from one file, so everything here is static.
 *
 * The includer first defines MEM_CHECK(cond, fmt, ...), how a broken
 * promise fails its test: cmocka fails the test, the fuzzer aborts so
 * libFuzzer keeps the input.
 */
#ifndef CANDIDATES_MEMSTORE_H
#define CANDIDATES_MEMSTORE_H

#ifndef MEM_CHECK
#error "define MEM_CHECK(cond, fmt, ...) before including memstore.h"
#endif

#include <stdio.h>
#include <string.h>

#include "name.h"
#include "store.h"

/* Room for the 15 names the fuzzer may seed and the one a request adds. */
#define MEM_MAX	32

static struct {
	char			 names[MEM_MAX][NAME_MAX_BYTES];
	size_t			 lens[MEM_MAX];
	int			 count;
	enum store_status	 fail;		/* STORE_OK: behave */
	int			 fail_after;	/* list: fail after this many */
	unsigned long long	 version;	/* moves with every name added */
	int			 lists;		/* list calls made */
} mem;

/* Empties the store and sets the failure every call will return. */
static void
mem_reset(enum store_status fail, int fail_after)
{
	memset(&mem, 0, sizeof(mem));
	mem.fail = fail;
	mem.fail_after = fail_after;
}

/*
 * Stores a copy of name without checking it, as another writer could.
 * A store too small for the test fails it rather than drop the name.
 */
static void
mem_add(const char *name, size_t len)
{
	MEM_CHECK(len <= NAME_MAX_BYTES, "%zu bytes stored", len);
	MEM_CHECK(mem.count < MEM_MAX, "store full");
	memcpy(mem.names[mem.count], name, len);
	mem.lens[mem.count++] = len;
}

static int
mem_find(const char *name, size_t len)
{
	int	 i;

	for (i = 0; i < mem.count; i++)
		if (mem.lens[i] == len && memcmp(mem.names[i], name, len) == 0)
			return i;
	return -1;
}

/*
 * store.h promises a backend only valid names, and a deadline to keep:
 * hold the handler to it.
 */
static void
mem_check_call(const char *op, const char *name, size_t len,
    const struct deadline *dl)
{
	MEM_CHECK(len >= 1 && len <= NAME_MAX_BYTES, "%s of %zu bytes", op,
	    len);
	MEM_CHECK(name_validate(name, len) == NAME_OK, "%s of an invalid name",
	    op);
	MEM_CHECK(dl != NULL && deadline_left_ms(dl) > 0, "%s with no time",
	    op);
}

static int
mem_setup(const struct config *cfg, char *err, size_t errlen)
{
	(void)cfg, (void)err, (void)errlen;
	return 0;
}

static void
mem_teardown(void)
{
}

static int
mem_open(struct store **out, char *err, size_t errlen)
{
	(void)err, (void)errlen;
	*out = NULL;
	return 0;
}

static void
mem_close(struct store *s)
{
	(void)s;
}

static enum store_status
mem_get(struct store *s, const char *name, size_t len,
    const struct deadline *dl, char *err, size_t errlen)
{
	(void)s;
	mem_check_call("get", name, len, dl);
	if (mem.fail != STORE_OK) {
		/* A store's error is untrusted: the log line must escape it. */
		snprintf(err, errlen, "injected\r\nfake: line");
		return mem.fail;
	}
	return mem_find(name, len) >= 0 ? STORE_OK : STORE_NOT_FOUND;
}

static enum store_status
mem_put(struct store *s, const char *name, size_t len,
    const struct deadline *dl, char *err, size_t errlen)
{
	(void)s;
	mem_check_call("put", name, len, dl);
	if (mem.fail != STORE_OK) {
		snprintf(err, errlen, "injected");
		return mem.fail;
	}
	if (mem_find(name, len) < 0) {
		mem_add(name, len);
		mem.version++;
	}
	return STORE_OK;
}

static enum store_status
mem_list(struct store *s, store_name_fn fn, void *ctx,
    const struct deadline *dl, char *err, size_t errlen)
{
	int	 i;

	(void)s;
	MEM_CHECK(dl != NULL && deadline_left_ms(dl) > 0, "list with no time");
	mem.lists++;
	for (i = 0; i < mem.count; i++) {
		if (mem.fail != STORE_OK && i >= mem.fail_after) {
			snprintf(err, errlen, "injected on page %d", i);
			return mem.fail;
		}
		if (fn(ctx, mem.names[i], mem.lens[i]) != 0)
			return STORE_UNAVAILABLE;
	}
	if (mem.fail != STORE_OK) {
		snprintf(err, errlen, "injected at the end");
		return mem.fail;
	}
	return STORE_OK;
}

/* A failing store cannot say what it holds. */
static int
mem_version(struct store *s, unsigned long long *out)
{
	(void)s;
	if (mem.fail != STORE_OK)
		return -1;
	*out = mem.version;
	return 0;
}

static const struct store_ops mem_ops = {
	.name = "memory",
	.setup = mem_setup,
	.teardown = mem_teardown,
	.open = mem_open,
	.close = mem_close,
	.get = mem_get,
	.put = mem_put,
	.list = mem_list,
	.version = mem_version,
};

#endif
