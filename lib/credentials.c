/*
 * aiocoap.credentials: the map from URI patterns and labels to
 * credentials, and the lookups the secure transports make in it.
 *
 * Entries sit in one array in insertion order: a map holds a handful of
 * entries, read at handshake time, so a linear scan is the simple and
 * sufficient structure.
 */
#include "alloc-internal.h"
#include "credentials-internal.h"

#include <aiocoap/error.h>

#include <sodium.h>
#include <stdbool.h>
#include <string.h>

typedef struct entry {
  char *pattern;
  size_t pattern_len;
  coap__credential cred;
} entry;

struct coap_credentials {
  unsigned refcount;
  entry *entries;
  size_t count;
  size_t cap;
};

int coap_credentials_new(coap_credentials **out) {
  coap_credentials *c;

  if (out == NULL)
    return COAP_EINVAL;
  *out = NULL;
  c = coap__calloc(1, sizeof(*c));
  if (c == NULL)
    return COAP_ENOMEM;
  c->refcount = 1;
  *out = c;
  return 0;
}

coap_credentials *coap_credentials_ref(coap_credentials *c) {
  if (c != NULL)
    c->refcount++;
  return c;
}

void coap_credentials_unref(coap_credentials *c) {
  if (c == NULL || --c->refcount > 0)
    return;
  for (size_t i = 0; i < c->count; i++) {
    coap__free(c->entries[i].pattern);
    coap__credential_clear(&c->entries[i].cred);
  }
  coap__free(c->entries);
  coap__free(c);
}

size_t coap_credentials_count(const coap_credentials *c) {
  return c == NULL ? 0 : c->count;
}

static bool is_label(const char *pattern) {
  return pattern[0] == ':';
}

const char *coap__credential_check(const char *pattern,
                                   const coap_credential *cred) {
  const char *star;
  bool has_psk;
  bool has_identity;

  if (pattern == NULL || pattern[0] == '\0')
    return "empty pattern";
  if (is_label(pattern) && pattern[1] == '\0')
    return "empty label";
  /* Only a trailing "*" is a wildcard; one anywhere else would read as a
   * glob that matching does not implement, so it is refused rather than
   * taken literally. */
  star = strchr(pattern, '*');
  if (!is_label(pattern) && star != NULL && star[1] != '\0')
    return "'*' is only allowed at the end of a pattern";
  if (cred == NULL)
    return "no credential";
  if ((cred->psk_len > 0 && cred->psk == NULL) ||
      (cred->client_identity_len > 0 && cred->client_identity == NULL))
    return "a length without bytes";
  has_psk = cred->psk_len > 0;
  has_identity = cred->client_identity_len > 0;
  if (!has_psk && !has_identity && cred->certfile == NULL &&
      cred->keyfile == NULL && cred->cafile == NULL &&
      !cred->insecure_no_verify)
    return "nothing set";
  if (cred->psk_len > COAP_CREDENTIALS_PSK_MAX)
    return "psk longer than COAP_CREDENTIALS_PSK_MAX";
  if (cred->client_identity_len > COAP_CREDENTIALS_IDENTITY_MAX)
    return "client-identity longer than COAP_CREDENTIALS_IDENTITY_MAX";
  if (has_identity && !has_psk)
    return "client-identity without psk";
  /* A client presents the identity with its PSK (RFC 4279 §2); only a
   * server's label entry may leave it out. */
  if (has_psk && !has_identity && !is_label(pattern))
    return "psk without client-identity";
  if ((cred->certfile == NULL) != (cred->keyfile == NULL))
    return cred->certfile == NULL ? "keyfile without certfile"
                                  : "certfile without keyfile";
  if ((cred->certfile != NULL && cred->certfile[0] == '\0') ||
      (cred->keyfile != NULL && cred->keyfile[0] == '\0') ||
      (cred->cafile != NULL && cred->cafile[0] == '\0'))
    return "empty file name";
  return NULL;
}

void coap__credential_clear(coap__credential *cred) {
  if (cred->psk != NULL) {
    sodium_memzero(cred->psk, cred->psk_len);
    coap__free(cred->psk);
  }
  if (cred->client_identity != NULL) {
    sodium_memzero(cred->client_identity, cred->client_identity_len);
    coap__free(cred->client_identity);
  }
  coap__free(cred->certfile);
  coap__free(cred->keyfile);
  coap__free(cred->cafile);
  memset(cred, 0, sizeof(*cred));
}

static int copy_bytes(uint8_t **dst, const uint8_t *src, size_t len) {
  if (len == 0)
    return 0;
  *dst = coap__malloc(len);
  if (*dst == NULL)
    return COAP_ENOMEM;
  memcpy(*dst, src, len);
  return 0;
}

static int copy_string(char **dst, const char *src) {
  if (src == NULL)
    return 0;
  *dst = coap__strdup(src);
  return *dst == NULL ? COAP_ENOMEM : 0;
}

int coap__credential_copy(coap__credential *dst, const coap_credential *src) {
  memset(dst, 0, sizeof(*dst));
  if (copy_bytes(&dst->psk, src->psk, src->psk_len) < 0)
    goto fail;
  dst->psk_len = src->psk_len;
  if (copy_bytes(&dst->client_identity, src->client_identity,
                 src->client_identity_len) < 0)
    goto fail;
  dst->client_identity_len = src->client_identity_len;
  if (copy_string(&dst->certfile, src->certfile) < 0 ||
      copy_string(&dst->keyfile, src->keyfile) < 0 ||
      copy_string(&dst->cafile, src->cafile) < 0)
    goto fail;
  dst->insecure_no_verify = src->insecure_no_verify;
  return 0;
fail:
  coap__credential_clear(dst);
  return COAP_ENOMEM;
}

static entry *find(const coap_credentials *c, const char *pattern) {
  for (size_t i = 0; i < c->count; i++)
    if (strcmp(c->entries[i].pattern, pattern) == 0)
      return &c->entries[i];
  return NULL;
}

int coap__credentials_reserve(coap_credentials *c, size_t more) {
  entry *grown;
  size_t cap;

  if (more <= c->cap - c->count)
    return 0;
  if (more > SIZE_MAX / sizeof(entry) - c->count)
    return COAP_ENOMEM;
  cap = c->count + more;
  if (cap < 2 * c->cap && 2 * c->cap <= SIZE_MAX / sizeof(entry))
    cap = 2 * c->cap;
  grown = coap__realloc(c->entries, cap * sizeof(entry));
  if (grown == NULL)
    return COAP_ENOMEM;
  c->entries = grown;
  c->cap = cap;
  return 0;
}

static void remove_entry(coap_credentials *c, entry *e) {
  coap__free(e->pattern);
  coap__credential_clear(&e->cred);
  /* Keep insertion order: coap__credentials_certificate and the identity
   * lookup return the first entry that fits. */
  memmove(e, e + 1, (size_t)(&c->entries[c->count] - (e + 1)) * sizeof(*e));
  c->count--;
}

void coap__credentials_put(coap_credentials *c, char *pattern,
                           coap__credential *cred) {
  entry *e = find(c, pattern);

  if (cred == NULL) {
    coap__free(pattern);
    if (e != NULL)
      remove_entry(c, e);
    return;
  }
  if (e != NULL) {
    coap__free(pattern);
    coap__credential_clear(&e->cred);
  } else {
    e = &c->entries[c->count++];
    e->pattern = pattern;
    e->pattern_len = strlen(pattern);
  }
  e->cred = *cred;
  memset(cred, 0, sizeof(*cred));
}

int coap_credentials_add(coap_credentials *c, const char *pattern,
                         const coap_credential *cred) {
  coap__credential copy;
  char *owned;

  if (c == NULL || coap__credential_check(pattern, cred) != NULL)
    return COAP_EINVAL;
  if (coap__credentials_reserve(c, 1) < 0)
    return COAP_ENOMEM;
  owned = coap__strdup(pattern);
  if (owned == NULL)
    return COAP_ENOMEM;
  if (coap__credential_copy(&copy, cred) < 0) {
    coap__free(owned);
    return COAP_ENOMEM;
  }
  coap__credentials_put(c, owned, &copy);
  return 0;
}

int coap_credentials_remove(coap_credentials *c, const char *pattern) {
  entry *e;

  if (c == NULL || pattern == NULL)
    return COAP_EINVAL;
  e = find(c, pattern);
  if (e == NULL)
    return COAP_ENOENT;
  remove_entry(c, e);
  return 0;
}

const coap__credential *coap__credentials_get(const coap_credentials *c,
                                              const char *pattern) {
  const entry *e;

  if (c == NULL || pattern == NULL)
    return NULL;
  e = find(c, pattern);
  return e == NULL ? NULL : &e->cred;
}

/* How well pattern matches uri: its length when it matches, -1 when not.
 * A wildcard pattern counts one more than the literal text it needs, so of
 * "coaps://ab" and "coaps://a*" (same length) the exact one wins. */
static long match_score(const entry *e, const char *uri, size_t uri_len) {
  size_t n = e->pattern_len;

  if (is_label(e->pattern))
    return -1;
  if (e->pattern[n - 1] == '*') {
    n--;
    if (uri_len < n || memcmp(uri, e->pattern, n) != 0)
      return -1;
    return 2 * (long)n + 1;
  }
  if (uri_len != n || memcmp(uri, e->pattern, n) != 0)
    return -1;
  return 2 * (long)n + 2;
}

const coap__credential *coap__credentials_for_uri(const coap_credentials *c,
                                                  const char *uri) {
  const entry *best = NULL;
  long best_score = -1;
  size_t uri_len;

  if (c == NULL || uri == NULL)
    return NULL;
  uri_len = strlen(uri);
  for (size_t i = 0; i < c->count; i++) {
    long score = match_score(&c->entries[i], uri, uri_len);
    if (score > best_score) {
      best = &c->entries[i];
      best_score = score;
    }
  }
  return best == NULL ? NULL : &best->cred;
}

const coap__credential *
coap__credentials_for_identity(const coap_credentials *c,
                               const uint8_t *identity, size_t len) {
  if (c == NULL || (identity == NULL && len > 0) || len == 0)
    return NULL;
  for (size_t i = 0; i < c->count; i++) {
    const coap__credential *cred = &c->entries[i].cred;
    if (cred->psk_len > 0 && cred->client_identity_len == len &&
        memcmp(cred->client_identity, identity, len) == 0)
      return cred;
  }
  return NULL;
}

bool coap__credentials_has_server_psk(const coap_credentials *c) {
  for (size_t i = 0; c != NULL && i < c->count; i++)
    if (c->entries[i].cred.psk_len > 0 &&
        c->entries[i].cred.client_identity_len > 0)
      return true;
  return false;
}

const coap__credential *
coap__credentials_certificate(const coap_credentials *c) {
  const coap__credential *first = NULL;

  if (c == NULL)
    return NULL;
  for (size_t i = 0; i < c->count; i++) {
    const coap__credential *cred = &c->entries[i].cred;
    if (cred->certfile == NULL || cred->keyfile == NULL)
      continue;
    /* aiocoap-server's --tls-server-certificate lands here: the label says
     * which certificate is the server's when a file holds others too. */
    if (strcmp(c->entries[i].pattern, COAP_CREDENTIALS_SERVER_CERTIFICATE) == 0)
      return cred;
    if (first == NULL)
      first = cred;
  }
  return first;
}
