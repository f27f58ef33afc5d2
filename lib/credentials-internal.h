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

/* The first entry with a certfile and keyfile (a server's own
 * certificate), or NULL. */
const coap__credential *
coap__credentials_certificate(const coap_credentials *c);

#endif
