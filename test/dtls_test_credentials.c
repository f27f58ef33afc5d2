/*
 * A stand-in for lib/credentials.c (issue 13, built on another branch),
 * only so that the DTLS transport's tests link before it lands: the map's
 * constructor, add and the three lookups credentials-internal.h names,
 * with the semantics credentials.h documents (longest matching pattern,
 * labels never match a URI).  Compiled into the DTLS tests only while
 * lib/credentials.c is absent (test/meson.build).
 */
#include "credentials-internal.h"

#include <aiocoap/error.h>

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define ENTRIES_MAX 64

typedef struct entry {
  char *pattern;
  coap__credential cred;
} entry;

struct coap_credentials {
  unsigned refs;
  entry entries[ENTRIES_MAX];
  size_t count;
};

int coap_credentials_new(coap_credentials **out) {
  *out = calloc(1, sizeof **out);
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

static void clear(coap__credential *c) {
  if (c->psk != NULL)
    sodium_memzero(c->psk, c->psk_len);
  free(c->psk);
  free(c->client_identity);
  free(c->certfile);
  free(c->keyfile);
  free(c->cafile);
  memset(c, 0, sizeof *c);
}

void coap_credentials_unref(coap_credentials *c) {
  if (c == NULL || --c->refs > 0)
    return;
  for (size_t i = 0; i < c->count; i++) {
    free(c->entries[i].pattern);
    clear(&c->entries[i].cred);
  }
  free(c);
}

static uint8_t *dup_bytes(const uint8_t *p, size_t len) {
  uint8_t *d = malloc(len > 0 ? len : 1);
  if (d != NULL && len > 0)
    memcpy(d, p, len);
  return d;
}

static char *dup_str(const char *s) {
  return s != NULL ? strdup(s) : NULL;
}

int coap_credentials_add(coap_credentials *c, const char *pattern,
                         const coap_credential *cred) {
  if (c == NULL || pattern == NULL || pattern[0] == '\0' || cred == NULL ||
      c->count == ENTRIES_MAX)
    return COAP_EINVAL;
  entry *e = &c->entries[c->count];
  memset(e, 0, sizeof *e);
  e->pattern = strdup(pattern);
  if (cred->psk_len > 0) {
    e->cred.psk = dup_bytes(cred->psk, cred->psk_len);
    e->cred.psk_len = cred->psk_len;
  }
  if (cred->client_identity_len > 0) {
    e->cred.client_identity =
        dup_bytes(cred->client_identity, cred->client_identity_len);
    e->cred.client_identity_len = cred->client_identity_len;
  }
  e->cred.certfile = dup_str(cred->certfile);
  e->cred.keyfile = dup_str(cred->keyfile);
  e->cred.cafile = dup_str(cred->cafile);
  e->cred.insecure_no_verify = cred->insecure_no_verify;
  c->count++;
  return 0;
}

size_t coap_credentials_count(const coap_credentials *c) {
  return c != NULL ? c->count : 0;
}

const coap__credential *coap__credentials_for_uri(const coap_credentials *c,
                                                  const char *uri) {
  const coap__credential *best = NULL;
  size_t best_len = 0;
  for (size_t i = 0; c != NULL && i < c->count; i++) {
    const char *p = c->entries[i].pattern;
    size_t len = strlen(p);
    if (p[0] == ':')
      continue;
    bool match = len > 0 && p[len - 1] == '*' ? strncmp(uri, p, len - 1) == 0
                                              : strcmp(uri, p) == 0;
    if (match && len > best_len) {
      best = &c->entries[i].cred;
      best_len = len;
    }
  }
  return best;
}

const coap__credential *
coap__credentials_for_identity(const coap_credentials *c,
                               const uint8_t *identity, size_t len) {
  for (size_t i = 0; c != NULL && i < c->count; i++) {
    const coap__credential *e = &c->entries[i].cred;
    if (e->psk_len > 0 && e->client_identity_len == len &&
        memcmp(e->client_identity, identity, len) == 0)
      return e;
  }
  return NULL;
}

const coap__credential *
coap__credentials_certificate(const coap_credentials *c) {
  for (size_t i = 0; c != NULL && i < c->count; i++)
    if (c->entries[i].cred.certfile != NULL &&
        c->entries[i].cred.keyfile != NULL)
      return &c->entries[i].cred;
  return NULL;
}
