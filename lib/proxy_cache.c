/*
 * The proxy's side of the RFC 7252 §5.6 response cache: what the proxy
 * forwards and gets back, put to the sans-I/O cache of response_cache.c
 * (which has the rules) with the upstream as the key's scope and the
 * loop's clock as its time.
 *
 * What is stored is the response as the proxy sends it on (translated by
 * coap__proxy_translate: hop-by-hop options gone), so a hit is served as
 * it is.  A request that carries its own ETag is the client validating its
 * copy (§5.6.2) and goes upstream untouched; otherwise a stale entry with
 * an ETag is revalidated: the proxy adds the ETag, and a 2.03 that
 * confirms it is answered with the stored response, refreshed.
 */
#include "alloc-internal.h"
#include "message-internal.h"
#include "proxy-internal.h"
#include "response_cache-internal.h"

#include <string.h>

struct coap__proxy_cache {
  coap__cache *cache;
};

int coap__proxy_cache_new(size_t entries, size_t bytes,
                          coap__proxy_cache **out) {
  coap__proxy_cache *c = coap__calloc(1, sizeof *c);
  if (c == NULL)
    return COAP_ENOMEM;
  coap__cache_config cfg = {
      .max_entries = entries > UINT32_MAX ? UINT32_MAX : (uint32_t)entries,
      .max_bytes = bytes != 0 ? bytes : COAP__CACHE_DEFAULT_BYTES};
  int rc = coap__cache_new(&cfg, &c->cache);
  if (rc < 0) {
    coap__free(c);
    return rc;
  }
  *out = c;
  return 0;
}

void coap__proxy_cache_free(coap__proxy_cache *c) {
  if (c == NULL)
    return;
  coap__cache_free(c->cache);
  coap__free(c);
}

size_t coap__proxy_cache_count(const coap__proxy_cache *c) {
  if (c == NULL)
    return 0;
  coap__cache_stats st;
  coap__cache_get_stats(c->cache, &st);
  return st.entries;
}

/* The upstream the message goes to: its unresolved remote as
 * coap__proxy_prepare set it (host and port, or the proxy it goes
 * through). */
static const uint8_t *scope_of(const coap_message *msg, size_t *len) {
  const char *remote = coap_message_get_unresolved_remote(msg);
  *len = remote != NULL ? strlen(remote) : 0;
  return (const uint8_t *)remote;
}

int coap__proxy_cache_lookup(coap_proxy *proxy, coap_message *outgoing,
                             coap_message **fresh, coap_message **stale) {
  *fresh = *stale = NULL;
  coap__proxy_cache *c = proxy->cache;
  if (c == NULL || coap_options_has(&outgoing->opt, COAP_OPT_ETAG))
    return COAP_ENOENT;
  coap_message *m;
  if (coap_message_new(&m) < 0)
    return COAP_ENOENT; /* no memory: ask upstream */
  size_t scope_len;
  const uint8_t *scope = scope_of(outgoing, &scope_len);
  uint8_t etag[8];
  size_t etag_len = 0;
  int r = coap__cache_lookup(c->cache, scope, scope_len, outgoing,
                             uv_now(proxy->loop), m, etag, &etag_len);
  if (r == COAP__CACHE_FRESH) {
    *fresh = m;
    return 0;
  }
  /* §5.6.2: ask whether the stored copy is still good. */
  if (r == COAP__CACHE_STALE &&
      coap_options_add(&outgoing->opt, COAP_OPT_ETAG, etag, etag_len) == 0) {
    *stale = m;
    return COAP_ENOENT;
  }
  coap_message_free(m);
  return COAP_ENOENT;
}

coap_message *coap__proxy_cache_store(coap_proxy *proxy,
                                      const coap_message *outgoing,
                                      const coap_message *response,
                                      const coap_message *stale) {
  coap__proxy_cache *c = proxy->cache;
  if (c == NULL)
    return NULL;
  coap_message *translated = coap__proxy_translate(response, 0);
  if (translated == NULL)
    return NULL; /* the caller translates again and fails the same way */
  coap_message *served = NULL;
  if (stale != NULL && response->code == COAP_CODE_VALID &&
      coap_message_new(&served) < 0)
    served = NULL;
  size_t scope_len;
  const uint8_t *scope = scope_of(outgoing, &scope_len);
  int r = coap__cache_response(c->cache, scope, scope_len, outgoing,
                               translated, uv_now(proxy->loop), served);
  coap_message_free(translated);
  if (r == 1)
    return served;
  coap_message_free(served);
  if (stale == NULL || response->code != COAP_CODE_VALID)
    return NULL;
  /* The 2.03 answers the ETag the proxy added, not one the client sent:
   * the client must get the representation, even when the entry is gone
   * (pushed out meanwhile, or its refresh failed).  The copy taken at
   * lookup serves, with the 2.03's freshness (§5.9.1.3). */
  coap_message *copy;
  uint32_t max_age = 60;
  coap_options_get_max_age(&response->opt, &max_age);
  if (coap_message_new(&copy) < 0 || coap_message_copy(copy, stale) < 0 ||
      coap_options_set_max_age(&copy->opt, max_age) < 0) {
    coap_message_free(copy);
    return coap__proxy_error_response(COAP_CODE_INTERNAL_SERVER_ERROR,
                                      "out of memory");
  }
  return copy;
}
