/*
 * A byte buffer with a ceiling chosen at init. Appending past the
 * ceiling (or running out of memory) frees the contents and fails, so a
 * caller can never build an unbounded string from untrusted input.
 */
#ifndef CANDIDATES_BUF_H
#define CANDIDATES_BUF_H

#include <stddef.h>

#define WARN_UNUSED __attribute__((warn_unused_result))

struct buf {
	char	*data;	/* always NUL-terminated when non-NULL */
	size_t	 len;
	size_t	 cap;
	size_t	 max;	/* most bytes it may ever hold */
	int	 secret;	/* wipe every byte before letting go of it */
};

void	buf_init(struct buf *b, size_t max);
/*
 * A buffer for secrets (a key, a token, a request that carries one):
 * whatever memory it lets go of, when it grows, is reset or is freed, is
 * wiped first, so no copy is left in freed memory.
 */
void	buf_init_secret(struct buf *b, size_t max);
/* Appends; on failure frees the contents and returns -1. */
int	buf_add(struct buf *b, const void *p, size_t n) WARN_UNUSED;
int	buf_addstr(struct buf *b, const char *s) WARN_UNUSED;
/*
 * Makes room for n more bytes and counts them in: the caller writes
 * exactly n bytes at the pointer returned. NULL as buf_add fails.
 */
char	*buf_extend(struct buf *b, size_t n) WARN_UNUSED;
int	buf_printf(struct buf *b, const char *fmt, ...) WARN_UNUSED
	    __attribute__((format(printf, 2, 3)));
/* Empties the buffer, keeping its memory for reuse. */
void	buf_reset(struct buf *b);
/* Hands the contents to the caller, who frees them; the buffer is empty. */
char	*buf_take(struct buf *b, size_t *len);
void	buf_free(struct buf *b);

#endif
