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

/*
 * The one place a store's answer becomes an HTTP status. A store that is
 * down is a 503 the client may retry, never a 404 that hides the outage.
 */
static int
store_status_http(enum store_status st, int found)
{
	switch (st) {
	case STORE_OK:
		return found;
	case STORE_NOT_FOUND:
		return 404;
	case STORE_UNAVAILABLE:
		return 503;
	case STORE_REFUSED:
		return 500;
	}
	return 500;
}

/* Fills resp for a store failure, with the store's reason for the log. */
static void
set_store_failure(struct response *resp, int status, const char *what,
    const char *reason)
{
	snprintf(resp->error, sizeof(resp->error), "%s: %s", what, reason);
	if (status == 503) {
		resp->retry_after = 1;
		set_json_error(resp, 503, "store unavailable");
	} else if (strcmp(what, "put") == 0)
		set_text(resp, 500, "Unable to update");	/* the original's */
	else
		set_json_error(resp, 500, "store refused the request");
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
	if ((list && buf_add(&resp->body, "[", 1) == -1) ||
	    render_candidate(&resp->body, scratch, name, len) == -1 ||
	    (list && buf_add(&resp->body, "]", 1) == -1) ||
	    buf_add(&resp->body, "\n", 1) == -1)
		set_out_of_memory(resp);
	render_scratch_free(scratch);
}

/* The gate is optional, so unit tests and fuzzers can leave it out. */
static int
enter(const struct handler_ctx *ctx, long *slot)
{
	*slot = -1;
	return ctx->gate == NULL || gate_enter(ctx->gate, slot);
}

static void
leave(const struct handler_ctx *ctx, long slot)
{
	if (ctx->gate != NULL)
		gate_leave(ctx->gate, slot);
}

#define GATE_FULL "every store slot is taken and the oldest call is stuck"

struct listing {
	struct buf		*body;
	struct json_object	*scratch;
	size_t			 count;
	int			 failed;	/* out of memory or too large */
};

static int
list_one(void *arg, const char *name, size_t len)
{
	struct listing	*l = arg;

	/* A name someone else stored as invalid UTF-8 would break the JSON. */
	if (name_validate(name, len) == NAME_BAD_UTF8)
		return 0;
	if (buf_add(l->body, l->count == 0 ? "[" : ",", 1) == -1 ||
	    render_candidate(l->body, l->scratch, name, len) == -1) {
		l->failed = 1;
		return -1;
	}
	l->count++;
	return 0;
}

static void
handle_list(const struct handler_ctx *ctx, struct response *resp)
{
	struct listing		 l = { &resp->body, NULL, 0, 0 };
	enum store_status	 st;
	char			 reason[256] = "";
	long			 slot;
	int			 status;

	if (!enter(ctx, &slot)) {
		set_store_failure(resp, 503, "list", GATE_FULL);
		return;
	}
	if ((l.scratch = render_scratch()) == NULL) {
		leave(ctx, slot);
		set_out_of_memory(resp);
		return;
	}
	/*
	 * The listing is built whole before the status is sent, so a store
	 * failure on a later page is still a 503, not a truncated 200.
	 */
	st = ctx->ops->list(ctx->store, list_one, &l, reason, sizeof(reason));
	leave(ctx, slot);
	render_scratch_free(l.scratch);
	if (l.failed) {
		set_out_of_memory(resp);
		return;
	}
	status = store_status_http(st, 200);
	if (status != 200)
		set_store_failure(resp, status, "list", reason);
	else if (l.count == 0)
		set_text(resp, 404, "Not Found");
	else if (buf_add(&resp->body, "]\n", 2) == -1)
		set_out_of_memory(resp);
	else {
		resp->status = 200;
		resp->content_type = "application/json";
	}
}

static void
handle_candidate(const struct handler_ctx *ctx, const struct route_match *m,
    enum method method, struct response *resp)
{
	/* Decoding never lengthens, so a longer segment cannot be valid. */
	char			 name[3 * NAME_MAX_BYTES];
	char			 reason[256] = "";
	size_t			 len;
	enum name_err		 e;
	enum store_status	 st;
	long			 slot;
	int			 status;

	if (m->segment_len > sizeof(name))
		e = NAME_TOO_LONG;
	else
		e = name_parse(m->segment, m->segment_len, name, &len);
	if (e != NAME_OK) {
		set_json_error(resp, 400, name_strerror(e));
		return;
	}
	if (!enter(ctx, &slot)) {
		set_store_failure(resp, 503, method == METHOD_POST ? "put" :
		    "get", GATE_FULL);
		return;
	}
	if (method == METHOD_POST) {
		st = ctx->ops->put(ctx->store, name, len, reason,
		    sizeof(reason));
		leave(ctx, slot);
		status = store_status_http(st, 200);
		if (status == 200)
			set_candidate(resp, name, len, 0);
		else
			/* A write that did not happen is never a 404. */
			set_store_failure(resp, status == 404 ? 500 : status,
			    "put", reason);
		return;
	}
	st = ctx->ops->get(ctx->store, name, len, reason, sizeof(reason));
	leave(ctx, slot);
	status = store_status_http(st, 200);
	if (status == 200)
		set_candidate(resp, name, len, 1);
	else if (status == 404)
		set_text(resp, 404, "Not Found");
	else
		set_store_failure(resp, status, "get", reason);
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
