#include "name.h"

#include <stdint.h>
#include <string.h>

#include "pct.h"

enum name_err
name_decode(const char *src, size_t len, char *dst, size_t *dstlen)
{
	size_t	 i, n = 0;
	int	 hi, lo;

	*dstlen = 0;
	for (i = 0; i < len; i++) {
		if (src[i] != '%') {
			dst[n++] = src[i];
			continue;
		}
		if (len - i < 3 ||
		    (hi = pct_hexval((unsigned char)src[i + 1])) < 0 ||
		    (lo = pct_hexval((unsigned char)src[i + 2])) < 0)
			return NAME_BAD_ESCAPE;
		dst[n++] = (char)(hi << 4 | lo);
		i += 2;
	}
	*dstlen = n;
	return NAME_OK;
}

/*
 * Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlongs,
 * no surrogates, nothing past U+10FFFF), or 0 if it is malformed.
 */
static size_t
utf8_seq(const unsigned char *s, size_t len, unsigned long *cp)
{
	size_t		 need, i;
	unsigned long	 c, min;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	} else if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		need = 2, c = s[0] & 0x1f, min = 0x80;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		need = 3, c = s[0] & 0x0f, min = 0x800;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		need = 4, c = s[0] & 0x07, min = 0x10000;
	} else
		return 0;
	if (len < need)
		return 0;
	for (i = 1; i < need; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return need;
}

enum name_err
name_validate(const char *name, size_t len)
{
	const unsigned char	*s = (const unsigned char *)name;
	size_t			 i, n;
	unsigned long		 cp;

	if (len == 0)
		return NAME_EMPTY;
	if (len > NAME_MAX_BYTES)
		return NAME_TOO_LONG;
	for (i = 0; i < len; i += n) {
		if ((n = utf8_seq(s + i, len - i, &cp)) == 0)
			return NAME_BAD_UTF8;
		if (cp < 0x20 || cp == 0x7f)
			return NAME_CONTROL;
		if (cp == '/' || cp == '\\' || cp == '?' || cp == '#')
			return NAME_RESERVED_CHAR;
	}
	if ((len == 1 && name[0] == '.') ||
	    (len == 2 && name[0] == '.' && name[1] == '.'))
		return NAME_DOT;
	/* Firestore reserves ids matching __.*__. */
	if (len >= 4 && memcmp(name, "__", 2) == 0 &&
	    memcmp(name + len - 2, "__", 2) == 0)
		return NAME_UNDERSCORES;
	return NAME_OK;
}

int
utf8_valid(const char *s, size_t len)
{
	const unsigned char	*u = (const unsigned char *)s;
	size_t			 i = 0, n;
	unsigned long		 cp;
	uint64_t		 w;

	while (i < len) {
		/* Eight ASCII bytes have no high bit among them. */
		if (len - i >= 8) {
			memcpy(&w, u + i, 8);
			if ((w & 0x8080808080808080ULL) == 0) {
				i += 8;
				continue;
			}
		}
		if (u[i] < 0x80) {
			i++;
			continue;
		}
		if ((n = utf8_seq(u + i, len - i, &cp)) == 0)
			return 0;
		i += n;
	}
	return 1;
}

size_t
utf8_scrub(char *s, size_t len)
{
	size_t		 i, n, bad = 0;
	unsigned long	 cp;

	for (i = 0; i < len; i += n)
		if ((n = utf8_seq((unsigned char *)s + i, len - i, &cp)) == 0) {
			s[i] = '?';
			n = 1;
			bad++;
		}
	return bad;
}

enum name_err
name_parse(const char *raw, size_t rawlen, char *dst, size_t *dstlen)
{
	enum name_err	 e;

	if ((e = name_decode(raw, rawlen, dst, dstlen)) != NAME_OK)
		return e;
	if ((e = name_validate(dst, *dstlen)) != NAME_OK)
		*dstlen = 0;
	return e;
}

const char *
name_strerror(enum name_err e)
{
	switch (e) {
	case NAME_OK:
		return "name is valid";
	case NAME_EMPTY:
		return "name is empty";
	case NAME_TOO_LONG:
		return "name is longer than 255 bytes";
	case NAME_BAD_ESCAPE:
		return "name has a malformed percent-escape";
	case NAME_BAD_UTF8:
		return "name is not valid UTF-8";
	case NAME_CONTROL:
		return "name contains a control character";
	case NAME_RESERVED_CHAR:
		return "name contains one of / \\ ? #";
	case NAME_DOT:
		return "name may not be . or ..";
	case NAME_UNDERSCORES:
		return "name may not be of the form __...__";
	}
	return "name is not valid";
}
