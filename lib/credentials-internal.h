/*
 * How the transports read a credentials map (credentials.c).  Never
 * installed.
 */
#ifndef AIOCOAP_CREDENTIALS_INTERNAL_H
#define AIOCOAP_CREDENTIALS_INTERNAL_H

#include <aiocoap/credentials.h>

/* One entry's credential as the map holds it: owned copies, the key
 * bytes zeroed when freed.  Lengths 0 / NULL pointers mean unset. */
typedef struct coap__credential {
  uint8_t *psk;
  size_t psk_len;
  uint8_t *client_identity;
  size_t client_identity_len;
  char *certfile;
  char *keyfile;
  char *cafile;
  bool insecure_no_verify;
} coap__credential;

/* Why cred cannot be the entry for pattern (a short static reason, for
 * an error text), or NULL when it can: coap_credentials_add's checks. */
const char *coap__credential_check(const char *pattern,
                                   const coap_credential *cred);

/* Owned copies of src's members into dst: 0 or COAP_ENOMEM (dst then
 * holds nothing). */
int coap__credential_copy(coap__credential *dst, const coap_credential *src);

/* Zeroes the key bytes and frees every member; dst is left empty.  */
void coap__credential_clear(coap__credential *cred);

/* Makes room for more new entries, so that as many coap__credentials_put
 * calls cannot fail: 0 or COAP_ENOMEM.  The JSON loader reserves before it
 * changes anything, which is how a failed load leaves the map unchanged. */
int coap__credentials_reserve(coap_credentials *c, size_t more);

/* Sets pattern's entry to *cred, taking ownership of pattern (coap__malloc'd)
 * and of cred's members (*cred is left empty); a cred of NULL removes the
 * entry (and frees pattern).  Never fails after a reserve that covers it. */
void coap__credentials_put(coap_credentials *c, char *pattern,
                           coap__credential *cred);

/* The entry for pattern exactly (labels too), or NULL. */
const coap__credential *coap__credentials_get(const coap_credentials *c,
                                              const char *pattern);

/* The credential for a request to uri ("coaps://host:port/path..."): the
 * longest pattern that matches it (labels never do).  Borrowed while the map
 * lives and is not changed; NULL when none matches. */
const coap__credential *coap__credentials_for_uri(const coap_credentials *c,
                                                  const char *uri);

/* A server's PSK lookup: the entry (label or URI pattern) with a psk whose
 * client_identity equals identity.  Borrowed as above; NULL when none. */
const coap__credential *
coap__credentials_for_identity(const coap_credentials *c,
                               const uint8_t *identity, size_t len);

/* Whether any entry holds a PSK with a client identity (what a DTLS server
 * can accept a PSK client by). */
bool coap__credentials_has_server_psk(const coap_credentials *c);

/* A server's own certificate: the entry labelled
 * COAP_CREDENTIALS_SERVER_CERTIFICATE when it has a certfile and keyfile,
 * else the first entry that has both, or NULL. */
const coap__credential *
coap__credentials_certificate(const coap_credentials *c);

#endif
