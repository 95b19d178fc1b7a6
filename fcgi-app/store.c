#include "store.h"

#include <string.h>

/* Every backend compiled in, by its CANDIDATES_STORE value. */
static const struct store_ops *const stores[] = {
	&store_sqlite,
	&store_dynamodb,
};

const struct store_ops *
store_find(const char *value)
{
	size_t	 i;

	for (i = 0; i < sizeof(stores) / sizeof(stores[0]); i++)
		if (strcmp(stores[i]->name, value) == 0)
			return stores[i];
	return NULL;
}

void
store_names(char *out, size_t outlen)
{
	size_t	 i, n = 0;

	if (outlen == 0)
		return;
	out[0] = '\0';
	for (i = 0; i < sizeof(stores) / sizeof(stores[0]); i++) {
		size_t	len = strlen(stores[i]->name);

		if (n + len + 3 > outlen)
			break;
		if (i > 0) {
			memcpy(out + n, ", ", 2);
			n += 2;
		}
		memcpy(out + n, stores[i]->name, len + 1);
		n += len;
	}
}
