/*
 * The EC2 instance metadata service, version 2 only: every read carries a
 * session token obtained by a PUT, so the instance's credentials are out
 * of reach of a request forged through a proxy (IMDSv1 would answer it).
 * The token is cached until shortly before its TTL runs out and shared by
 * all threads; a 401 fetches a new one once.
 */
#ifndef CANDIDATES_AWS_IMDS_H
#define CANDIDATES_AWS_IMDS_H

#include <pthread.h>
#include <stddef.h>
#include <time.h>

#include "buf.h"
#include "cloud/http_client.h"

#define AWS_IMDS_ENDPOINT_DEFAULT	"http://169.254.169.254"
#define AWS_IMDS_TOKEN_TTL		21600	/* seconds, the SDKs' choice */
#define AWS_IMDS_BODY_MAX		(64 * 1024)
#define AWS_IMDS_TOKEN_MAX		1024

struct aws_imds {
	char		 endpoint[256];	/* no trailing slash */
	int		 disabled;	/* AWS_EC2_METADATA_DISABLED=true */
	pthread_mutex_t	 lock;		/* guards the token */
	char		 token[AWS_IMDS_TOKEN_MAX];
	time_t		 token_expires;	/* wall clock; 0: none yet */
};

/*
 * Reads AWS_EC2_METADATA_SERVICE_ENDPOINT and AWS_EC2_METADATA_DISABLED;
 * on a bad value fills err naming the variable.
 */
int	aws_imds_init(struct aws_imds *, char *err, size_t errlen) WARN_UNUSED;
void	aws_imds_destroy(struct aws_imds *);

/*
 * GETs path (e.g. "/latest/meta-data/instance-id") with a token, within
 * dl, into out (reset first; its ceiling is the caller's). Any status
 * but 200 is a failure, with the status in err.
 */
int	aws_imds_get(struct aws_imds *, struct http_client *, const char *path,
	    struct buf *out, const struct deadline *dl, char *err,
	    size_t errlen) WARN_UNUSED;

/*
 * The first line of an IMDS text answer, trimmed, into out; -1 unless it
 * is 1..outlen-1 bytes of [A-Za-z0-9] and the characters of extra. Role
 * names, regions and instance ids are all of that form.
 */
int	aws_imds_word(const char *body, size_t len, const char *extra,
	    char *out, size_t outlen) WARN_UNUSED;

#endif
