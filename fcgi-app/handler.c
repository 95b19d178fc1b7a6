#include "handler.h"

#include <stdio.h>
#include <string.h>

#include "name.h"
#include "render.h"
#include "route.h"

static void
set_text(struct response *resp, int status, const char *text)
{
	resp->status = status;
	resp->content_type = "text/plain; charset=utf-8";
	buf_reset(&resp->body);
	if (buf_addstr(&resp->body, text) == -1)
		resp->status = 500;
}

static void
set_json_error(struct response *resp, int status, const char *message)
{
	resp->status = status;
	resp->content_type = "application/json";
	buf_reset(&resp->body);
	if (render_error(&resp->body, message) == -1)
		set_text(resp, 500, "Internal Server Error");
}

static void
set_out_of_memory(struct response *resp)
{
	snprintf(resp->error, sizeof(resp->error), "out of memory");
	set_text(resp, 500, "Internal Server Error");
}

/* What the request asked of the store, for the answer and the log. */
enum store_op {
	OP_GET,
	OP_PUT,
	OP_LIST,
};

static const char *const op_names[] = { "get", "put", "list" };

/*
 * The one place a store's failure becomes an HTTP answer, with the
 * store's reason for the log. A store that is down is a 503 the client
 * may retry, never a 404 that hides the outage; a write that did not
 * happen is never a 404 either.
 */
static void
set_store_failure(struct response *resp, enum store_op op,
    enum store_status st, const char *reason)
{
	snprintf(resp->error, sizeof(resp->error), "%s: %s", op_names[op],
	    reason);
	switch (st) {
	case STORE_UNAVAILABLE:
		resp->retry_after = 1;
		set_json_error(resp, 503, "store unavailable");
		break;
	case STORE_OK:		/* not a failure: never passed here */
	case STORE_NOT_FOUND:	/* a get's is a 404, answered before */
	case STORE_REFUSED:
		if (op == OP_PUT)	/* the original's words */
			set_text(resp, 500, "Unable to update");
		else
			set_json_error(resp, 500, "store refused the request");
		break;
	}
}

static void
set_candidate(struct response *resp, const char *name, size_t len, int list)
{
	struct json_object	*scratch;

	resp->status = 200;
	resp->content_type = "application/json";
	buf_reset(&resp->body);
	if ((scratch = render_scratch()) == NULL) {
		set_out_of_memory(resp);
		return;
	}
	if (render_candidate(&resp->body, scratch, name, len, list ? '[' :
	    '\0') == -1 ||
	    (list && buf_add(&resp->body, "]", 1) == -1) ||
	    buf_add(&resp->body, "\n", 1) == -1)
		set_out_of_memory(resp);
	render_scratch_free(scratch);
}

/*
 * Takes a store slot within dl; 0 with resp set to the 503 when the store
 * looks stuck or the wait used up the request's time. The gate is
 * optional, so unit tests and fuzzers can leave it out.
 */
static int
enter(const struct handler_ctx *ctx, enum gate_kind kind,
    const struct deadline *dl, enum store_op op, struct response *resp)
{
	if (ctx->may_block != NULL)
		ctx->may_block(ctx->may_block_arg);
	if (ctx->gate == NULL)
		return 1;
	switch (gate_enter(ctx->gate, kind, dl)) {
	case GATE_IN:
		return 1;
	case GATE_STUCK:
		set_store_failure(resp, op, STORE_UNAVAILABLE, "every store "
		    "slot is taken and the store has not moved for a while");
		return 0;
	case GATE_TIMEOUT:
		set_store_failure(resp, op, STORE_UNAVAILABLE, "the deadline "
		    "passed waiting for a store slot");
		return 0;
	}
	return 0;
}

static void
leave(const struct handler_ctx *ctx, enum gate_kind kind)
{
	if (ctx->gate != NULL)
		gate_leave(ctx->gate, kind);
}

/* A listing tells the gate it moves every this many names. */
#define LIST_MOVED_EVERY	256

struct listing {
	struct buf		*body;
	struct json_object	*scratch;
	struct store_gate	*gate;		/* NULL: none */
	size_t			 count;
	int			 failed;	/* out of memory or too large */
};

static int
list_one(void *arg, const char *name, size_t len)
{
	struct listing	*l = arg;

	/* A name someone else stored as invalid UTF-8 would break the JSON. */
	if (!utf8_valid(name, len))
		return 0;
	if (render_candidate(l->body, l->scratch, name, len, l->count == 0 ?
	    '[' : ',') == -1) {
		l->failed = 1;
		return -1;
	}
	if (++l->count % LIST_MOVED_EVERY == 0 && l->gate != NULL)
		gate_moved(l->gate);
	return 0;
}

/*
 * The store's version of its names, when it keeps one and the worker a
 * cache: 1 with *v set, else 0.
 */
static int
store_version(const struct handler_ctx *ctx, unsigned long long *v)
{
	return ctx->cache != NULL && ctx->ops->version != NULL &&
	    ctx->ops->version(ctx->store, v) == 0;
}

/* A 200 listing as it was rendered under the same version. */
static int
from_cache(const struct handler_ctx *ctx, unsigned long long v,
    struct response *resp)
{
	struct list_cache	*c = ctx->cache;

	if (!c->valid || c->version != v)
		return 0;
	buf_reset(&resp->body);
	if (buf_add(&resp->body, c->body.data, c->body.len) == -1) {
		set_out_of_memory(resp);
		return 1;
	}
	resp->status = 200;
	resp->content_type = "application/json";
	return 1;
}

/* Keeps a 200 listing rendered under version v, if small enough. */
static void
to_cache(const struct handler_ctx *ctx, unsigned long long v,
    const struct buf *body)
{
	struct list_cache	*c = ctx->cache;

	c->valid = 0;
	if (body->len > LIST_CACHE_MAX)
		return;
	buf_reset(&c->body);
	if (buf_add(&c->body, body->data, body->len) == -1)
		return;
	c->version = v;
	c->valid = 1;
}

static void
handle_list(const struct handler_ctx *ctx, struct response *resp)
{
	struct listing		 l = { &resp->body, NULL, ctx->gate, 0, 0 };
	struct deadline		 dl;
	enum store_status	 st;
	unsigned long long	 version = 0;
	char			 reason[256] = "";
	int			 versioned;

	/* One deadline for the whole listing: the wait and every page. */
	deadline_start(&dl, ctx->list_timeout_ms);
	if (!enter(ctx, GATE_LIST, &dl, OP_LIST, resp))
		return;
	/*
	 * Read before the listing: a write that lands during it makes the
	 * next version differ, so what is kept is never older than its tag.
	 */
	versioned = store_version(ctx, &version);
	if (versioned && from_cache(ctx, version, resp)) {
		leave(ctx, GATE_LIST);
		return;
	}
	if ((l.scratch = render_scratch()) == NULL) {
		leave(ctx, GATE_LIST);
		set_out_of_memory(resp);
		return;
	}
	/*
	 * The listing is built whole before the status is sent, so a store
	 * failure on a later page is still a 503, not a truncated 200.
	 */
	st = ctx->ops->list(ctx->store, list_one, &l, &dl, reason,
	    sizeof(reason));
	leave(ctx, GATE_LIST);
	render_scratch_free(l.scratch);
	if (l.failed) {
		set_out_of_memory(resp);
		return;
	}
	if (st != STORE_OK)
		set_store_failure(resp, OP_LIST, st, reason);
	else if (l.count == 0)
		set_text(resp, 404, "Not Found");
	else if (buf_add(&resp->body, "]\n", 2) == -1)
		set_out_of_memory(resp);
	else {
		resp->status = 200;
		resp->content_type = "application/json";
		if (versioned)
			to_cache(ctx, version, &resp->body);
	}
}

static void
handle_candidate(const struct handler_ctx *ctx, const struct route_match *m,
    enum method method, struct response *resp)
{
	/* Decoding never lengthens, so a longer segment cannot be valid. */
	char			 name[3 * NAME_MAX_BYTES];
	char			 reason[256] = "";
	struct deadline		 dl;
	size_t			 len;
	enum name_err		 e;
	enum store_status	 st;
	enum store_op		 op = method == METHOD_POST ? OP_PUT : OP_GET;

	if (m->segment_len > sizeof(name))
		e = NAME_TOO_LONG;
	else
		e = name_parse(m->segment, m->segment_len, name, &len);
	if (e != NAME_OK) {
		set_json_error(resp, 400, name_strerror(e));
		return;
	}
	/* The wait for a slot and the call share the request's deadline. */
	deadline_start(&dl, ctx->timeout_ms);
	if (!enter(ctx, GATE_POINT, &dl, op, resp))
		return;
	if (op == OP_PUT)
		st = ctx->ops->put(ctx->store, name, len, &dl, reason,
		    sizeof(reason));
	else
		st = ctx->ops->get(ctx->store, name, len, &dl, reason,
		    sizeof(reason));
	leave(ctx, GATE_POINT);
	if (st == STORE_OK)
		set_candidate(resp, name, len, op == OP_GET);
	else if (st == STORE_NOT_FOUND && op == OP_GET)
		set_text(resp, 404, "Not Found");
	else
		set_store_failure(resp, op, st, reason);
}

void
handle(const struct handler_ctx *ctx, const struct request *req,
    struct response *resp)
{
	struct route_match	 m;
	enum method		 method;

	resp->status = 500;
	resp->content_type = NULL;
	resp->allow = NULL;
	resp->retry_after = 0;
	resp->error[0] = '\0';
	buf_reset(&resp->body);

	route_match(req->target, req->target_len, &m);
	method = route_method(req->method);
	if (m.route == ROUTE_NONE) {
		set_text(resp, 404, "Not Found");
		return;
	}
	if (!route_allows(m.route, method)) {
		resp->allow = route_allow(m.route);
		set_text(resp, 405, "Method Not Allowed");
		return;
	}
	if (req->body_len > BODY_MAX) {
		set_json_error(resp, 413, "request body is larger than 16 KiB");
		return;
	}

	switch (m.route) {
	case ROUTE_NONE:
		break;
	case ROUTE_ROOT:
		resp->status = 400;
		resp->content_type = "application/json";
		if (buf_addstr(&resp->body, "{\"status\":\"invalid request\"}\n")
		    == -1)
			set_out_of_memory(resp);
		break;
	case ROUTE_GTG:
		/* Never touches the store: the load balancer's health path. */
		resp->status = 200;
		if (m.details) {
			resp->content_type = "application/json";
			if (render_details(&resp->body, ctx->instance_id) == -1)
				set_out_of_memory(resp);
		}
		break;
	case ROUTE_CANDIDATES:
		handle_list(ctx, resp);
		break;
	case ROUTE_CANDIDATE:
		handle_candidate(ctx, &m, method, resp);
		break;
	}
}
