#include "google_config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

static int
alnum(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9');
}

/*
 * A DNS name or an IPv4 address: labels of letters, digits and '-' (not
 * first or last), 1 to 63 bytes each, joined by '.', 253 bytes at most
 * with one '.' allowed at the end ("metadata.google.internal.").
 */
static int
dns_name(const char *s, size_t n)
{
	size_t	 i, label = 0;

	if (n > 0 && s[n - 1] == '.')
		n--;
	if (n == 0 || n > 253)
		return 0;
	for (i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (label == 0 || s[i - 1] == '-')
				return 0;
			label = 0;
			continue;
		}
		if (!alnum(s[i]) && (s[i] != '-' || label == 0))
			return 0;
		if (++label > 63)
			return 0;
	}
	return s[n - 1] != '-';
}

/* An IPv6 address between brackets, as inet_pton reads one. */
static int
ipv6(const char *s, size_t n)
{
	unsigned char	 addr[16];
	char		 tmp[48];

	if (n < 2 || n >= sizeof(tmp) || memchr(s, '\0', n) != NULL)
		return 0;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	return inet_pton(AF_INET6, tmp, addr) == 1;
}

/* 1 to 65535, written without a leading zero. */
static int
port(const char *s, size_t n)
{
	unsigned long	 v = 0;
	size_t		 i;

	if (n == 0 || n > 5 || s[0] == '0')
		return 0;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	return v <= 65535;
}

int
google_check_hostport(const char *s, size_t len, int need_port, char *out,
    size_t outlen, char *err, size_t errlen)
{
	const char	*colon;
	size_t		 hostlen;
	int		 ok;

	if (outlen > 0)
		out[0] = '\0';
	if (s == NULL || len == 0 || len >= outlen) {
		snprintf(err, errlen, "empty or longer than %zu bytes",
		    outlen > 0 ? outlen - 1 : 0);
		return -1;
	}
	if (s[0] == '[') {
		const char *close = memchr(s, ']', len);

		if (close == NULL) {
			snprintf(err, errlen, "an IPv6 address has no ']'");
			return -1;
		}
		ok = ipv6(s + 1, (size_t)(close - s - 1));
		hostlen = (size_t)(close - s) + 1;
		colon = hostlen < len ? s + hostlen : NULL;
		if (colon != NULL && *colon != ':') {
			snprintf(err, errlen, "something other than :port "
			    "follows the IPv6 address");
			return -1;
		}
	} else {
		colon = memchr(s, ':', len);
		hostlen = colon != NULL ? (size_t)(colon - s) : len;
		ok = dns_name(s, hostlen);
	}
	if (!ok) {
		snprintf(err, errlen, "not a host name, IPv4 address or "
		    "[IPv6] address");
		return -1;
	}
	if (colon == NULL ? need_port : !port(colon + 1,
	    len - hostlen - 1)) {
		snprintf(err, errlen, "%s", need_port ? "no port (1 to 65535) "
		    "after the host" : "the port is not 1 to 65535");
		return -1;
	}
	memcpy(out, s, len);
	out[len] = '\0';
	return 0;
}

int
google_check_https_url(const char *s, size_t len, char *out, size_t outlen,
    char *err, size_t errlen)
{
	static const char	 scheme[] = "https://";
	size_t			 n = sizeof(scheme) - 1;

	if (outlen > 0)
		out[0] = '\0';
	if (s == NULL || len <= n || memcmp(s, scheme, n) != 0) {
		snprintf(err, errlen, "not an https:// URL");
		return -1;
	}
	/* One '/' may end it, as a base URL is often written. */
	if (s[len - 1] == '/')
		len--;
	if (len >= outlen || google_check_hostport(s + n, len - n, 0,
	    out + n, outlen - n, err, errlen) == -1) {
		if (len < outlen)
			snprintf(err, errlen, "not https://host[:port] with "
			    "no path");
		else
			snprintf(err, errlen, "longer than %zu bytes",
			    outlen > 0 ? outlen - 1 : 0);
		if (outlen > 0)
			out[0] = '\0';
		return -1;
	}
	memcpy(out, scheme, n);
	return 0;
}

int
gce_metadata_word(const char *body, size_t len, char *out, size_t outlen)
{
	size_t	 i, n = len;

	if (outlen == 0)
		return -1;
	out[0] = '\0';
	if (n > 0 && body[n - 1] == '\n')
		n--;
	if (n > 0 && body[n - 1] == '\r')
		n--;
	if (n == 0 || n >= outlen)
		return -1;
	for (i = 0; i < n; i++)
		if (!alnum(body[i]) && memchr("-._:", body[i], 4) == NULL)
			return -1;
	memcpy(out, body, n);
	out[n] = '\0';
	return 0;
}
