/*
 * What the EC2 metadata service answers: the role credentials document,
 * a one-word answer (role name, region, instance id) and the Expiration
 * time inside the document. Beyond memory errors and leaks, each input
 * checks that a refused document leaves no key behind and never quotes
 * the secret or the token in its error, that an accepted one holds
 * header-safe keys, that a word is only the allowed characters, and that
 * a time read back prints as the digits it came from.
 *
 * Input: which parser, then the body.
 */
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "stores/dynamodb/aws_creds.h"
#include "stores/dynamodb/aws_imds.h"
#include "fuzz.h"

/* Printable ASCII without spaces, NUL-terminated within max. */
static int
clean(const char *s, size_t max, int may_be_empty)
{
	size_t	 i;

	for (i = 0; i < max && s[i] != '\0'; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return 0;
	return i < max && (may_be_empty || i > 0);
}

static int
all_zero(const void *p, size_t n)
{
	const unsigned char	*b = p;

	while (n-- > 0)
		if (*b++ != 0)
			return 0;
	return 1;
}

/*
 * Where err quotes the start of code, the longest such quote: *len bytes
 * at the result, or NULL. The service cuts Code to 64 bytes.
 */
static const char *
find_code(const char *err, const char *code, size_t *len)
{
	const char	*best = NULL;
	size_t		 n;

	*len = 0;
	for (; *err != '\0'; err++) {
		for (n = 0; err[n] != '\0' && err[n] == code[n]; n++)
			;
		if (n > *len)
			best = err, *len = n;
	}
	return best;
}

/*
 * Fails if err quotes the document's value for key. The error may quote
 * Code, which says why IMDS failed; a secret that Code happens to contain,
 * or that the quoted Code and the text around it spell (a secret of " "
 * and Code), is the input's doing, not a leak: a quote of the secret
 * that overlaps the quoted Code is allowed, any other is not.
 */
static void
check_not_quoted(const char *err, struct json_object *doc, const char *key)
{
	struct json_object	*v, *code;
	const char		*s, *p, *at, *quoted_code = "";
	size_t			 at_len;

	if (!json_object_object_get_ex(doc, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return;
	s = json_object_get_string(v);
	if (json_object_object_get_ex(doc, "Code", &code) &&
	    json_object_is_type(code, json_type_string))
		quoted_code = json_object_get_string(code);
	/*
	 * Short values, and values of letters and spaces only ("Expiration"),
	 * are words any message may contain; keys and tokens as issued always
	 * have digits or base64 signs, and the fuzzer makes plenty of those.
	 */
	if (strlen(s) < 8 || strspn(s, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ ") == strlen(s) ||
	    strstr(quoted_code, s) != NULL)
		return;
	at = find_code(err, quoted_code, &at_len);
	for (p = err; (p = strstr(p, s)) != NULL; p++)
		CHECK(at != NULL && p < at + at_len && p + strlen(s) > at,
		    "error '%s' quotes the %s", err, key);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct aws_creds	 c;
	struct json_object	*doc;
	struct tm		 tm;
	char			 err[256], word[64], *body, printed[32];
	size_t			 len, i;
	time_t			 t;

	if (size < 1)
		return 0;
	len = size - 1;
	if ((body = malloc(len + 1)) == NULL)
		return 0;
	memcpy(body, data + 1, len);
	body[len] = '\0';
	memset(err, 0, sizeof(err));

	switch (data[0] % 3) {
	case 0:
		memset(&c, 'Z', sizeof(c));
		if (aws_parse_role_creds(body, len, &c, err, sizeof(err)) == 0) {
			CHECK(clean(c.access_key_id, AWS_KEY_MAX, 0) &&
			    clean(c.secret_access_key, AWS_KEY_MAX, 0) &&
			    clean(c.session_token, AWS_TOKEN_MAX, 0),
			    "accepted keys unfit for a header");
			CHECK(c.expiration > 0, "no expiration");
			break;
		}
		CHECK(all_zero(c.access_key_id, sizeof(c.access_key_id)) &&
		    all_zero(c.secret_access_key,
		    sizeof(c.secret_access_key)) &&
		    all_zero(c.session_token, sizeof(c.session_token)) &&
		    c.expiration == 0, "refused document left keys behind");
		CHECK(err[0] != '\0' && memchr(err, '\0', sizeof(err)) != NULL,
		    "no reason given");
		if ((doc = json_tokener_parse(body)) != NULL &&
		    json_object_is_type(doc, json_type_object)) {
			check_not_quoted(err, doc, "SecretAccessKey");
			check_not_quoted(err, doc, "Token");
		}
		json_object_put(doc);
		break;
	case 1:
		memset(word, 'Z', sizeof(word));
		if (aws_imds_word(body, len, "+=,.@_-", word, sizeof(word)) ==
		    0) {
			CHECK(memchr(word, '\0', sizeof(word)) != NULL &&
			    word[0] != '\0', "empty or unterminated word");
			for (i = 0; word[i] != '\0'; i++)
				CHECK(strchr("+=,.@_-", word[i]) != NULL ||
				    (word[i] >= '0' && word[i] <= '9') ||
				    (word[i] >= 'A' && word[i] <= 'Z') ||
				    (word[i] >= 'a' && word[i] <= 'z'),
				    "byte 0x%02x in a word",
				    (unsigned char)word[i]);
		} else
			CHECK(word[0] == '\0', "refused word left bytes");
		break;
	default:
		if (aws_parse_time(body, len, &t) != 0) {
			CHECK(t == 0, "time %lld on failure", (long long)t);
			break;
		}
		/* A leap second is carried into the next minute. */
		if (len >= 19 && memcmp(body + 17, "60", 2) == 0)
			break;
		CHECK(gmtime_r(&t, &tm) != NULL &&
		    strftime(printed, sizeof(printed), "%Y-%m-%dT%H:%M:%S",
		    &tm) == 19 && memcmp(printed, body, 19) == 0,
		    "'%.*s' read as %s", (int)len, body, printed);
		break;
	}
	free(body);
	return 0;
}
