/*
 * The proxy's response cache (RFC 7252 §5.6): fresh 2.05 responses to GET
 * requests, served again until their Max-Age runs out.
 *
 * Kept deliberately small: only 2.05 Content is stored (caching less than
 * §5.6 allows is always allowed), requests that carry ETag (the client
 * validating its own copy, §5.6.2) or Observe go upstream, and a stale
 * entry is dropped rather than revalidated.  A 2.01, 2.02 or 2.04 response
 * for a URI makes every entry for that URI not fresh (§5.9.1.1, §5.9.1.3,
 * §5.9.1.4).  Entries are kept least recently used first and the oldest
 * goes when coap_proxy_config.cache_entries are taken.
 */
#include "alloc-internal.h"
#include "proxy-internal.h"
#include "queue.h"

#include <string.h>

/* RFC 7252 §5.10.5: Max-Age defaults to 60 seconds. */
#define DEFAULT_MAX_AGE 60

/* The request URI an entry is invalidated by. */
#define URI_MAX 1100

typedef struct cache_entry {
  coap__queue link; /* least recently used first */
  uint8_t *key;
  size_t key_len;
  char *uri;
  coap_message *response; /* as translated for the client */
  uint64_t expires_ms;    /* loop time */
} cache_entry;

struct coap__proxy_cache {
  coap__queue entries;
  size_t count, cap;
};

int coap__proxy_cache_new(size_t entries, coap__proxy_cache **out) {
  coap__proxy_cache *c = coap__calloc(1, sizeof *c);
  if (c == NULL)
    return COAP_ENOMEM;
  coap__queue_init(&c->entries);
  c->cap = entries;
  *out = c;
  return 0;
}

static void entry_drop(coap__proxy_cache *c, cache_entry *e) {
  coap__queue_remove(&e->link);
  c->count--;
  coap_message_free(e->response);
  coap__free(e->key);
  coap__free(e->uri);
  coap__free(e);
}

void coap__proxy_cache_free(coap__proxy_cache *c) {
  if (c == NULL)
    return;
  while (!coap__queue_empty(&c->entries))
    entry_drop(
        c, coap__queue_data(coap__queue_head(&c->entries), cache_entry, link));
  coap__free(c);
}

size_t coap__proxy_cache_count(const coap__proxy_cache *c) {
  return c != NULL ? c->count : 0;
}

static cache_entry *find(coap__proxy_cache *c, const uint8_t *key, size_t len) {
  for (coap__queue *q = c->entries.next; q != &c->entries; q = q->next) {
    cache_entry *e = coap__queue_data(q, cache_entry, link);
    if (e->key_len == len && memcmp(e->key, key, len) == 0)
      return e;
  }
  return NULL;
}

/* Whether a request may be answered from, and its response go to, the
 * cache. */
static bool cacheable_request(const coap_message *msg) {
  return msg->code == COAP_CODE_GET &&
         !coap_options_has(&msg->opt, COAP_OPT_OBSERVE) &&
         !coap_options_has(&msg->opt, COAP_OPT_ETAG);
}

int coap__proxy_cache_lookup(coap_proxy *proxy, const coap_message *outgoing,
                             coap_message **out) {
  *out = NULL;
  coap__proxy_cache *c = proxy->cache;
  if (c == NULL || !cacheable_request(outgoing))
    return COAP_ENOENT;
  uint8_t *key;
  size_t len;
  int rc = coap__proxy_key(outgoing, &key, &len);
  if (rc < 0)
    return COAP_ENOENT; /* no memory: ask upstream */
  cache_entry *e = find(c, key, len);
  coap__free(key);
  if (e == NULL)
    return COAP_ENOENT;
  uint64_t now = uv_now(proxy->loop);
  if (now >= e->expires_ms) {
    entry_drop(c, e);
    return COAP_ENOENT;
  }
  coap_message *m = NULL;
  if (coap_message_new(&m) < 0 || coap_message_copy(m, e->response) < 0) {
    coap_message_free(m);
    return COAP_ENOENT;
  }
  /* RFC 7252 §5.6.1: what is left of its freshness, in whole seconds. */
  if (coap_options_set_max_age(&m->opt,
                               (uint32_t)((e->expires_ms - now) / 1000)) < 0) {
    coap_message_free(m);
    return COAP_ENOENT;
  }
  coap__queue_remove(&e->link);
  coap__queue_insert_tail(&c->entries, &e->link);
  *out = m;
  return 0;
}

static void invalidate(coap__proxy_cache *c, const char *uri) {
  coap__queue *q = c->entries.next;
  while (q != &c->entries) {
    cache_entry *e = coap__queue_data(q, cache_entry, link);
    q = q->next;
    if (strcmp(e->uri, uri) == 0)
      entry_drop(c, e);
  }
}

void coap__proxy_cache_store(coap_proxy *proxy, const coap_message *outgoing,
                             const coap_message *response) {
  coap__proxy_cache *c = proxy->cache;
  if (c == NULL || c->cap == 0)
    return;
  char uri[URI_MAX];
  if (coap_message_get_request_uri(outgoing, uri, sizeof uri) < 0)
    return; /* too long to remember: not stored */
  if (response->code == COAP_CODE_CREATED ||
      response->code == COAP_CODE_DELETED ||
      response->code == COAP_CODE_CHANGED) {
    invalidate(c, uri);
    return;
  }
  if (response->code != COAP_CODE_CONTENT || !cacheable_request(outgoing))
    return;
  uint32_t max_age = DEFAULT_MAX_AGE;
  (void)coap_options_get_max_age(&response->opt, &max_age);
  if (max_age == 0)
    return;
  coap_message *m = coap__proxy_translate(response, 0);
  cache_entry *e = coap__calloc(1, sizeof *e);
  if (m == NULL || e == NULL || m->code != COAP_CODE_CONTENT ||
      coap__proxy_key(outgoing, &e->key, &e->key_len) < 0 ||
      (e->uri = coap__strdup(uri)) == NULL) {
    coap_message_free(m);
    if (e != NULL) {
      coap__free(e->key);
      coap__free(e);
    }
    return;
  }
  e->response = m;
  e->expires_ms = uv_now(proxy->loop) + (uint64_t)max_age * 1000;
  cache_entry *old = find(c, e->key, e->key_len);
  if (old != NULL)
    entry_drop(c, old);
  if (c->count >= c->cap)
    entry_drop(
        c, coap__queue_data(coap__queue_head(&c->entries), cache_entry, link));
  coap__queue_insert_tail(&c->entries, &e->link);
  c->count++;
}
