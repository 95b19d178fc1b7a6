/*
 * The document store behind the API, as a table of functions. Each
 * backend (SQLite, DynamoDB, Cosmos DB, Firestore) lives in its own folder
 * under stores/ and fills one of these tables; the core never names one
 * but in store.c's list. Every worker thread opens its own handle, so a
 * backend never shares a connection between threads; what is shared
 * (credentials, tokens) the backend guards itself.
 */
#ifndef CANDIDATES_STORE_H
#define CANDIDATES_STORE_H

#include <stddef.h>

#include "deadline.h"

struct config;

enum store_status {
	STORE_OK,		/* done; for get, the name exists */
	STORE_NOT_FOUND,	/* get: the name is not stored */
	STORE_UNAVAILABLE,	/* unreachable, timed out, throttled or
				 * garbled past the retry budget: 503 */
	STORE_REFUSED,		/* the store answered and said no: 500 */
};

struct store;

/*
 * Called once per name by list, in the store's order. The name is not
 * NUL-terminated and is only valid during the call. Returning non-zero
 * stops the listing, which then returns STORE_UNAVAILABLE.
 */
typedef int (*store_name_fn)(void *ctx, const char *name, size_t len);

struct store_ops {
	const char *name;	/* the CANDIDATES_STORE value */
	/*
	 * Once at start-up, before any thread, given the settings main()
	 * read: read and check this store's own environment, set up what the
	 * workers share. On failure fills err with one line naming the
	 * variable and returns -1.
	 */
	int	(*setup)(const struct config *, char *err, size_t errlen);
	/* Once at exit, after every handle is closed. */
	void	(*teardown)(void);
	/* Per worker. On failure *out stays NULL and err says why. */
	int	(*open)(struct store **out, char *err, size_t errlen);
	void	(*close)(struct store *);
	/*
	 * Names are 1..255 bytes, already validated, not NUL-terminated.
	 * Each call, retries included, ends by the deadline it is given: past
	 * it, the answer is STORE_UNAVAILABLE.
	 */
	enum store_status (*get)(struct store *, const char *name, size_t len,
	    const struct deadline *, char *err, size_t errlen);
	enum store_status (*put)(struct store *, const char *name, size_t len,
	    const struct deadline *, char *err, size_t errlen);
	/* Every name, following the store's pagination to the end. */
	enum store_status (*list)(struct store *, store_name_fn fn, void *ctx,
	    const struct deadline *, char *err, size_t errlen);
	/*
	 * Optional: the instance id from this cloud's metadata service, read
	 * once at start-up; NULL means the host name is used.
	 */
	int	(*instance_id)(char *out, size_t outlen);
	/*
	 * Optional: a number that changes whenever the stored names may have
	 * changed, through this handle or any other, in this process or
	 * another; -1 when it cannot be read. While it holds, a listing
	 * rendered under it may be served again (handler.h). NULL: no such
	 * number, every listing goes to the store.
	 */
	int	(*version)(struct store *, unsigned long long *out);
	/*
	 * Whether calls run in this process and end in microseconds unless
	 * a lock or a long listing holds them (an embedded database), rather
	 * than waiting on the network: the server then serves with one
	 * worker on duty (duty.h).
	 */
	int	local;
};

/*
 * The backend named by value (a CANDIDATES_STORE value), compiled in or
 * loaded from its module. NULL when value names no store or its module
 * cannot be loaded, with err saying which.
 */
const struct store_ops *store_load(const char *value, char *err,
	    size_t errlen);

/*
 * A store built as a module, store_<name>.so, exports its table as
 * store_<name> and, with STORE_MODULE(name), the version of this interface
 * it was built against. Change STORE_ABI whenever struct store_ops or a
 * function of the app that modules call changes: a stale module is then
 * refused at start-up instead of crashing later.
 */
#define STORE_ABI	3
#define STORE_MODULE(name) \
	extern const unsigned store_##name##_abi; \
	const unsigned store_##name##_abi = STORE_ABI

/* The stores compiled into the app (STORES_IN in the Makefile). */
extern const struct store_ops store_sqlite;

#endif
