/*
 * The Cosmos DB store's settings, checked as pure functions: the account
 * endpoint (COSMOS_ENDPOINT), the instance metadata host
 * (AZURE_POD_IDENTITY_AUTHORITY_HOST) and a managed identity's client id
 * (AZURE_CLIENT_ID). Each takes the bytes and their length and says yes
 * or no; the store names the variable in the one line a refusal prints.
 */
#ifndef CANDIDATES_COSMOS_CONFIG_H
#define CANDIDATES_COSMOS_CONFIG_H

#include <stddef.h>

/* "https://" and an authority of at most 253 + ":65535" bytes, a NUL. */
#define COSMOS_URL_MAX		272
#define COSMOS_IMDS_DEFAULT	"http://169.254.169.254"
/* A GUID: 36 characters and a NUL. */
#define COSMOS_CLIENT_ID_SIZE	37

/*
 * The account's endpoint, "https://<host>[:<port>]" with at most a slash
 * after it (the portal shows ".../:443/"), into out without the slash.
 * https only: a master-key signature or an Entra token never travels in
 * clear. The host is a DNS name or an IPv4 address, or an IPv6 one in
 * brackets; nothing else (no user, path, query or fragment). -1 if s is
 * not of that form or does not fit outlen.
 */
int	cosmos_parse_endpoint(const char *s, size_t n, char *out,
	    size_t outlen);

/*
 * The instance metadata service's base URL, as @azure/identity reads
 * AZURE_POD_IDENTITY_AUTHORITY_HOST: http:// or https://, an authority as
 * above, trailing slashes dropped, into out. -1 otherwise.
 */
int	cosmos_parse_imds_host(const char *s, size_t n, char *out,
	    size_t outlen);

/* Whether s is a client id as Entra ID writes one: a GUID, any case. */
int	cosmos_valid_client_id(const char *s, size_t n);

#endif
