#include "cosmos_auth.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "cosmos_wire.h"
#include "pct.h"

#define MAC_LEN		32	/* HMAC-SHA256 */
#define MAC_B64_LEN	44	/* its base64, padded */
#define MASTER_PREFIX	"type=master&ver=1.0&sig="
#define AAD_PREFIX	"type=aad&ver=1.0&sig="
/* Longer than any string to sign: a link of ids of 255 bytes each. */
#define STS_MAX		4096

/* English names, whatever LC_TIME says: the date is protocol, not prose. */
static const char weekdays[7][4] = {
	"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat",
};
static const char months[12][4] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};

void
cosmos_key_wipe(struct cosmos_key *key)
{
	OPENSSL_cleanse(key->bytes, sizeof(key->bytes));
	key->len = 0;
}

static int
b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int
cosmos_key_decode(struct cosmos_key *key, const char *b64, size_t n)
{
	unsigned char	 tmp[COSMOS_KEY_MAX + 3];
	size_t		 i, pad = 0;
	int		 got;

	cosmos_key_wipe(key);
	/*
	 * OpenSSL's decoder skips white space and stops at odd bytes, so the
	 * whole is checked first: a key pasted with a stray byte must stop
	 * the start, not sign with a different key.
	 */
	if (b64 == NULL || n == 0 || n % 4 != 0 || n / 4 * 3 > sizeof(tmp) ||
	    n > INT_MAX)
		return -1;
	if (b64[n - 1] == '=')
		pad = b64[n - 2] == '=' ? 2 : 1;
	for (i = 0; i < n - pad; i++)
		if (b64_value((unsigned char)b64[i]) < 0)
			return -1;
	got = EVP_DecodeBlock(tmp, (const unsigned char *)b64, (int)n);
	if (got < 0 || (size_t)got != n / 4 * 3 || (size_t)got - pad == 0 ||
	    (size_t)got - pad > COSMOS_KEY_MAX) {
		OPENSSL_cleanse(tmp, sizeof(tmp));
		return -1;
	}
	key->len = (size_t)got - pad;
	memcpy(key->bytes, tmp, key->len);
	OPENSSL_cleanse(tmp, sizeof(tmp));
	return 0;
}

int
cosmos_format_date(time_t t, char out[COSMOS_DATE_SIZE])
{
	struct tm	 tm;
	int		 n;

	out[0] = '\0';
	if (gmtime_r(&t, &tm) == NULL || tm.tm_year < 1000 - 1900 ||
	    tm.tm_year > 9999 - 1900 || tm.tm_wday < 0 || tm.tm_wday > 6 ||
	    tm.tm_mon < 0 || tm.tm_mon > 11)
		return -1;
	n = snprintf(out, COSMOS_DATE_SIZE, "%s, %02d %s %04d %02d:%02d:%02d "
	    "GMT", weekdays[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	if (n != COSMOS_DATE_SIZE - 1) {
		out[0] = '\0';
		return -1;
	}
	return 0;
}

/* n decimal digits at s into *v; -1 if any is not a digit. */
static int
digits(const char *s, int n, int *v)
{
	int	 i;

	*v = 0;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		*v = *v * 10 + (s[i] - '0');
	}
	return 0;
}

/*
 * Days from 1970-01-01 to y-m-d of the proleptic Gregorian calendar (m
 * 1..12), by the era arithmetic of Howard Hinnant's days_from_civil: no
 * timegm, whose -1 for an error is also 1969-12-31T23:59:59.
 */
static long long
days_from_civil(long long y, int m, int d)
{
	long long	 era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int
month_days(int year, int mon)
{
	static const int len[12] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31,
	};
	int	 leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return len[mon] + (mon == 1 && leap);
}

int
cosmos_parse_date(const char *s, size_t n, time_t *out)
{
	long long	 days;
	int		 day, year, hh, mm, ss, mon, wday;

	*out = 0;
	/* "Tue, 01 Nov 1994 08:12:31 GMT": every byte has its place. */
	if (s == NULL || n != COSMOS_DATE_SIZE - 1 || s[3] != ',' ||
	    s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
	    s[19] != ':' || s[22] != ':' || s[25] != ' ' ||
	    memcmp(s + 26, "GMT", 3) != 0 ||
	    digits(s + 5, 2, &day) == -1 || digits(s + 12, 4, &year) == -1 ||
	    digits(s + 17, 2, &hh) == -1 || digits(s + 20, 2, &mm) == -1 ||
	    digits(s + 23, 2, &ss) == -1)
		return -1;
	for (wday = 0; wday < 7 && memcmp(s, weekdays[wday], 3) != 0; wday++)
		continue;
	for (mon = 0; mon < 12 && memcmp(s + 8, months[mon], 3) != 0; mon++)
		continue;
	/* A leap second (:60) is refused with the rest: Cosmos sends none. */
	if (wday == 7 || mon == 12 || year < 1000 || day < 1 ||
	    day > month_days(year, mon) || hh > 23 || mm > 59 || ss > 59)
		return -1;
	days = days_from_civil(year, mon + 1, day);
	/* 1970-01-01 was a Thursday; a wrong weekday is a garbled date. */
	if (((days % 7 + 7) % 7 + 4) % 7 != wday)
		return -1;
	*out = (time_t)(days * 86400 + hh * 3600 + mm * 60 + ss);
	return 0;
}

static int
add_lower(struct buf *out, const char *s, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		char	 c = s[i];

		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		if (buf_add(out, &c, 1) == -1)
			return -1;
	}
	return 0;
}

int
cosmos_string_to_sign(struct buf *out, const char *verb,
    const char *resource_type, const char *link, size_t linklen,
    const char *date)
{
	if (verb == NULL || resource_type == NULL || date == NULL ||
	    (link == NULL && linklen > 0))
		return -1;
	if (add_lower(out, verb, strlen(verb)) == -1 ||
	    buf_add(out, "\n", 1) == -1 ||
	    add_lower(out, resource_type, strlen(resource_type)) == -1 ||
	    buf_add(out, "\n", 1) == -1 ||
	    buf_add(out, link, linklen) == -1 ||
	    buf_add(out, "\n", 1) == -1 ||
	    add_lower(out, date, strlen(date)) == -1 ||
	    buf_add(out, "\n\n", 2) == -1)
		return -1;
	return 0;
}

int
cosmos_auth_master(struct buf *out, const struct cosmos_key *key,
    const char *verb, const char *resource_type, const char *link,
    size_t linklen, const char *date)
{
	unsigned char	 mac[MAC_LEN];
	char		 plain[sizeof(MASTER_PREFIX) + MAC_B64_LEN];
	struct buf	 sts;
	unsigned int	 maclen = 0;
	int		 rc = -1;

	if (key == NULL || key->len == 0 || key->len > COSMOS_KEY_MAX)
		return -1;
	buf_init(&sts, STS_MAX);
	if (cosmos_string_to_sign(&sts, verb, resource_type, link, linklen,
	    date) == -1)
		goto out;
	if (HMAC(EVP_sha256(), key->bytes, (int)key->len,
	    (const unsigned char *)sts.data, sts.len, mac, &maclen) == NULL ||
	    maclen != MAC_LEN)
		goto out;
	memcpy(plain, MASTER_PREFIX, sizeof(MASTER_PREFIX) - 1);
	if (EVP_EncodeBlock((unsigned char *)plain + sizeof(MASTER_PREFIX) - 1,
	    mac, MAC_LEN) != MAC_B64_LEN)
		goto out;
	rc = pct_encode(out, plain, sizeof(plain) - 1, 0);
out:
	OPENSSL_cleanse(mac, sizeof(mac));
	OPENSSL_cleanse(plain, sizeof(plain));
	if (sts.data != NULL)
		OPENSSL_cleanse(sts.data, sts.len);
	buf_free(&sts);
	return rc;
}

int
cosmos_auth_aad(struct buf *out, const char *token, size_t len)
{
	size_t	 i;

	if (token == NULL || len == 0)
		return -1;
	for (i = 0; i < len; i++)
		if ((unsigned char)token[i] <= 0x20 ||
		    (unsigned char)token[i] >= 0x7f)
			return -1;
	if (pct_encode(out, AAD_PREFIX, sizeof(AAD_PREFIX) - 1, 0) == -1 ||
	    pct_encode(out, token, len, 0) == -1)
		return -1;
	return 0;
}
