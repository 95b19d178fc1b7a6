/*
 * One line per event on stderr, which journald captures on a VM. Anything
 * that came from outside (names, store messages) is escaped, so a line
 * can never be split or forged by what it quotes. Never pass a secret.
 */
#ifndef CANDIDATES_LOG_H
#define CANDIDATES_LOG_H

#include <stddef.h>

#define LOG_LINE_MAX 1024

/* Writes fmt's expansion, escaped, as one line (truncated to fit). */
void	log_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Escapes src into dst (always NUL-terminated, truncated to fit): control
 * bytes, backslash, DEL and bytes >= 0x80 become \xHH; returns the length.
 */
size_t	log_escape(char *dst, size_t dstlen, const char *src, size_t srclen);

#endif
