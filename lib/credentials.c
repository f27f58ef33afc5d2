/* Placeholder until the credentials map lands (issue 13): an empty map. */
#include "alloc-internal.h"
#include "credentials-internal.h"

#include <aiocoap/error.h>

struct coap_credentials {
  unsigned refs;
};

int coap_credentials_new(coap_credentials **out) {
  *out = coap__calloc(1, sizeof **out);
  if (*out == NULL)
    return COAP_ENOMEM;
  (*out)->refs = 1;
  return 0;
}

coap_credentials *coap_credentials_ref(coap_credentials *c) {
  if (c != NULL)
    c->refs++;
  return c;
}

void coap_credentials_unref(coap_credentials *c) {
  if (c != NULL && --c->refs == 0)
    coap__free(c);
}

const coap__credential *coap__credentials_for_uri(const coap_credentials *c,
                                                  const char *uri) {
  (void)c;
  (void)uri;
  return NULL;
}

int coap_credentials_add(coap_credentials *c, const char *pattern,
                         const coap_credential *cred) {
  (void)c;
  (void)pattern;
  (void)cred;
  return COAP_ENOTSUP;
}
