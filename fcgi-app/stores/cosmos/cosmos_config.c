#include "cosmos_config.h"

#include <string.h>

#define HOST_MAX	253

static int
alnum(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9');
}

static int
hexdigit(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	    (c >= 'A' && c <= 'F');
}

/*
 * A DNS name or IPv4 address: dot-separated labels of letters, digits and
 * inner hyphens, none empty.
 */
static int
valid_host(const char *s, size_t n)
{
	size_t	 i, label = 0;

	if (n == 0 || n > HOST_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (label == 0 || s[i - 1] == '-')
				return 0;
			label = 0;
		} else if (alnum(s[i]) || (s[i] == '-' && label > 0))
			label++;
		else
			return 0;
	}
	return label > 0 && s[n - 1] != '-';
}

/* "[" hex digits, colons and dots (an embedded IPv4) "]". */
static int
valid_ipv6(const char *s, size_t n)
{
	size_t	 i;

	if (n < 4 || n > 47 || s[0] != '[' || s[n - 1] != ']')
		return 0;
	for (i = 1; i < n - 1; i++)
		if (!hexdigit(s[i]) && s[i] != ':' && s[i] != '.')
			return 0;
	return memchr(s, ':', n) != NULL;
}

/* host[:port] with a port from 1 to 65535, written without sign. */
static int
valid_authority(const char *s, size_t n)
{
	size_t	 host = n, i;
	long	 port = 0;

	if (n > 0 && s[0] == '[') {
		for (host = 0; host < n && s[host] != ']'; host++)
			continue;
		if (host == n)
			return 0;
		host++;
		if (!valid_ipv6(s, host))
			return 0;
	} else {
		for (host = 0; host < n && s[host] != ':'; host++)
			continue;
		if (!valid_host(s, host))
			return 0;
	}
	if (host == n)
		return 1;
	if (s[host] != ':' || n - host - 1 < 1 || n - host - 1 > 5)
		return 0;
	for (i = host + 1; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		port = port * 10 + (s[i] - '0');
	}
	return port >= 1 && port <= 65535;
}

/*
 * One of schemes, an authority, then one slash at most (any number if
 * many_slashes), copied without the slashes into out.
 */
static int
parse_url(const char *s, size_t n, const char *const *schemes,
    int many_slashes, char *out, size_t outlen)
{
	size_t	 i, skip = 0, end;

	if (outlen > 0)
		out[0] = '\0';
	if (s == NULL || memchr(s, '\0', n) != NULL)
		return -1;
	for (i = 0; schemes[i] != NULL; i++) {
		size_t	 sl = strlen(schemes[i]);

		if (n > sl && strncmp(s, schemes[i], sl) == 0) {
			skip = sl;
			break;
		}
	}
	if (skip == 0)
		return -1;
	for (end = n; end > skip && s[end - 1] == '/'; end--)
		continue;
	if ((n - end > 1 && !many_slashes) ||
	    !valid_authority(s + skip, end - skip) || end >= outlen)
		return -1;
	memcpy(out, s, end);
	out[end] = '\0';
	return 0;
}

int
cosmos_parse_endpoint(const char *s, size_t n, char *out, size_t outlen)
{
	static const char *const https[] = { "https://", NULL };

	return parse_url(s, n, https, 0, out, outlen);
}

int
cosmos_parse_imds_host(const char *s, size_t n, char *out, size_t outlen)
{
	static const char *const both[] = { "http://", "https://", NULL };

	return parse_url(s, n, both, 1, out, outlen);
}

int
cosmos_valid_client_id(const char *s, size_t n)
{
	size_t	 i;

	if (s == NULL || n != COSMOS_CLIENT_ID_SIZE - 1)
		return 0;
	for (i = 0; i < n; i++) {
		int dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != '-' : !hexdigit(s[i]))
			return 0;
	}
	return 1;
}
