/*
 * Where the Firestore store's bearer comes from, as Google's clients
 * decide it: "owner" for an emulator (whatever else is set), the key file
 * GOOGLE_APPLICATION_CREDENTIALS names, else the metadata server. Every
 * bad key file stops the start with one line that names the variable and
 * never quotes the key; nothing here touches the network (the e2e tests
 * fetch real tokens from the fakes).
 *
 * The committed test-only key is read from $GOOGLE_JWT_TESTDATA, else
 * tests/testdata/google-jwt from the working directory.
 */
#include "unit.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "stores/firestore/google_creds.h"

#define KEY_VAR	"GOOGLE_APPLICATION_CREDENTIALS"

static const char	*testdata;
static char		 dir[] = "/tmp/test_google_creds.XXXXXX";
static char		*good_key;	/* the committed key file's text */

static char *
slurp(const char *path)
{
	char	*p = NULL;
	FILE	*f;
	long	 n;

	if ((f = fopen(path, "rb")) == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0 && (p = malloc((size_t)n + 1)) != NULL) {
		if (fread(p, 1, (size_t)n, f) != (size_t)n) {
			free(p);
			p = NULL;
		} else
			p[n] = '\0';
	}
	fclose(f);
	return p;
}

/* dir/name holding text (len bytes); returns the path (static). */
static const char *
write_file(const char *name, const char *text, size_t len)
{
	static char	 path[512];
	FILE		*f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_non_null(f = fopen(path, "wb"));
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	return path;
}

/* The committed key with one field changed (NULL value: removed). */
static char *
key_with(const char *field, const char *value)
{
	struct json_object	*o = json_tokener_parse(good_key);
	char			*s;

	assert_non_null(o);
	if (value == NULL)
		json_object_object_del(o, field);
	else
		json_object_object_add(o, field, json_object_new_string(value));
	s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	assert_non_null(s);
	return s;
}

static int
setup(void **state)
{
	char	 path[512];

	(void)state;
	if ((testdata = getenv("GOOGLE_JWT_TESTDATA")) == NULL ||
	    *testdata == '\0')
		testdata = "tests/testdata/google-jwt";
	snprintf(path, sizeof(path), "%s/sa-key.json", testdata);
	if ((good_key = slurp(path)) == NULL)
		fail_msg("cannot read %s (set GOOGLE_JWT_TESTDATA)", path);
	if (mkdtemp(dir) == NULL)
		fail_msg("mkdtemp");
	return 0;
}

static int
teardown(void **state)
{
	char	 cmd[600];

	(void)state;
	free(good_key);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
test_sources(void **state)
{
	struct gce_metadata	 md;
	struct google_creds	 c;
	struct google_token	 t;
	struct deadline		 dl;
	char			 err[256] = "", what[512];

	(void)state;
	memset(&md, 0, sizeof(md));
	snprintf(md.host, sizeof(md.host), "127.0.0.1:9");
	deadline_start(&dl, 1000);

	/* An emulator takes "owner", even with a key file that is bad. */
	setenv(KEY_VAR, "/nonexistent/key.json", 1);
	assert_int_equal(google_creds_init(&c, 1, &md, err, sizeof(err)), 0);
	assert_int_equal(c.source, GOOGLE_CREDS_EMULATOR);
	memset(&t, 'Z', sizeof(t));
	assert_int_equal(google_creds_get(&c, NULL, &dl, &t, err, sizeof(err)),
	    0);
	assert_string_equal(t.access_token, "owner");
	assert_int_equal(t.len, 5);
	assert_int_equal(google_creds_rejected(&c, &t), 0);
	google_creds_describe(&c, what, sizeof(what));
	assert_string_equal(what, "none (emulator)");
	google_creds_destroy(&c);

	/* No key file: the metadata server, through the token cache. */
	unsetenv(KEY_VAR);
	assert_int_equal(google_creds_init(&c, 0, &md, err, sizeof(err)), 0);
	assert_int_equal(c.source, GOOGLE_CREDS_METADATA);
	google_creds_describe(&c, what, sizeof(what));
	assert_string_equal(what, "the metadata server at 127.0.0.1:9");
	google_creds_destroy(&c);
	/* An empty value is no value, as config_str reads every variable. */
	setenv(KEY_VAR, "", 1);
	assert_int_equal(google_creds_init(&c, 0, &md, err, sizeof(err)), 0);
	assert_int_equal(c.source, GOOGLE_CREDS_METADATA);
	google_creds_destroy(&c);

	/* The key file: its account, its project, its key. */
	setenv(KEY_VAR, write_file("good.json", good_key, strlen(good_key)), 1);
	assert_int_equal(google_creds_init(&c, 0, &md, err, sizeof(err)), 0);
	assert_int_equal(c.source, GOOGLE_CREDS_KEY_FILE);
	assert_non_null(c.key.pkey);
	assert_string_equal(c.key.project_id, "demo-candidates");
	google_creds_describe(&c, what, sizeof(what));
	assert_string_equal(what, "the key file of "
	    "jwt-vectors@demo-candidates.iam.gserviceaccount.com");
	google_creds_destroy(&c);
	assert_null(c.key.pkey);
	unsetenv(KEY_VAR);
}

static void
test_bad_key_files(void **state)
{
	struct gce_metadata	 md;
	struct google_creds	 c;
	char			*big, *text, fifo[512];
	const char		*path;
	size_t			 i;
	struct row {
		int		 line;
		const char	*path;
		const char	*why;	/* in the one line, after the var */
	} rows[8];
	size_t			 n = 0;

	(void)state;
	memset(&md, 0, sizeof(md));
	snprintf(md.host, sizeof(md.host), "127.0.0.1:9");

	rows[n++] = (struct row){ __LINE__, "/nonexistent/key.json",
	    "cannot read" };
	rows[n++] = (struct row){ __LINE__, strdup(dir),
	    "not a regular file" };
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	rows[n++] = (struct row){ __LINE__, fifo, "not a regular file" };
	big = calloc(1, 70000);
	assert_non_null(big);
	memset(big, ' ', 69999);
	big[0] = '{';
	big[69998] = '}';
	rows[n++] = (struct row){ __LINE__,
	    strdup(write_file("big.json", big, 69999)), "not a regular file "
	    "of at most 65536 bytes" };
	free(big);
	rows[n++] = (struct row){ __LINE__,
	    strdup(write_file("empty.json", "", 0)), "empty" };
	rows[n++] = (struct row){ __LINE__,
	    strdup(write_file("cut.json", good_key, strlen(good_key) / 2)),
	    "not a JSON object" };
	text = key_with("type", "authorized_user");
	rows[n++] = (struct row){ __LINE__,
	    strdup(write_file("user.json", text, strlen(text))),
	    "type is not \"service_account\"" };
	free(text);
	text = key_with("token_uri", "http://oauth2.googleapis.com/token");
	rows[n++] = (struct row){ __LINE__,
	    strdup(write_file("http.json", text, strlen(text))),
	    "token_uri is not https://" };
	free(text);

	for (i = 0; i < n; i++) {
		char	 err[512] = "";

		path = rows[i].path;
		setenv(KEY_VAR, path, 1);
		memset(&c, 'Z', sizeof(c));
		if (google_creds_init(&c, 0, &md, err, sizeof(err)) != -1)
			ROW_FAIL(rows[i].line, "accepted");
		if (strncmp(err, KEY_VAR ": ", strlen(KEY_VAR) + 2) != 0 ||
		    strstr(err, rows[i].why) == NULL ||
		    strchr(err, '\n') != NULL)
			ROW_FAIL(rows[i].line, "err '%s'", err);
		if (strstr(err, "PRIVATE") != NULL || strstr(err, "MII") !=
		    NULL)
			ROW_FAIL(rows[i].line, "err quotes the key: %s", err);
		if (c.key.pkey != NULL)
			ROW_FAIL(rows[i].line, "a key left behind");
		if (i > 0 && rows[i].path != fifo)
			free((char *)rows[i].path);
	}
	unsetenv(KEY_VAR);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sources),
		cmocka_unit_test(test_bad_key_files),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
