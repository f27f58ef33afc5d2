/*
 * The response cache (response_cache-internal.h has the rules).
 *
 * Entries sit in two chained hash tables, one by cache key and one by URI
 * (so an unsafe request finds what it makes stale without a scan), and on
 * one LRU list.  Both tables are keyed by SipHash under a key of the
 * cache's own: the keys are request options a client picks.  The key and
 * URI of a request are built in scratch buffers the cache keeps, so a
 * lookup allocates nothing but the copy it hands out.
 */
#include "alloc-internal.h"
#include "response_cache-internal.h"

#include <aiocoap/error.h>
#include <aiocoap/numbers.h>
#include <aiocoap/options.h>

#include <string.h>

/* RFC 7252 §5.10.5: Max-Age when a response carries none. */
#define DEFAULT_MAX_AGE_S 60u

typedef struct entry entry;
struct entry {
  entry *lru_prev, *lru_next; /* most recently used at the head */
  entry *key_next, *uri_next; /* hash chains */
  uint64_t key_hash, uri_hash;
  uint8_t *key;
  size_t key_len;
  uint8_t *uri;
  size_t uri_len;
  coap_message response; /* owned copy */
  uint64_t fresh_until_ms;
  size_t bytes;
};

typedef struct scratch {
  uint8_t *buf;
  size_t len, cap;
} scratch;

struct coap__cache {
  coap__cache_config config;
  coap__hash_key hash_key;
  entry **by_key, **by_uri;
  uint32_t mask; /* buckets - 1 */
  entry *lru_head, *lru_tail;
  scratch key, uri;
  coap__cache_stats stats;
};

/* Options the cache interprets itself, so they are no part of the key:
 * the validator (§5.6.2), blockwise (the cache holds whole bodies; RFC
 * 7959 §2.10), Observe (not served from here), and Hop-Limit, which each
 * proxy rewrites (RFC 8768 §3). */
static const uint16_t interpreted[] = {
    COAP_OPT_ETAG,   COAP_OPT_BLOCK1, COAP_OPT_BLOCK2,    COAP_OPT_SIZE1,
    COAP_OPT_SIZE2,  COAP_OPT_OBSERVE, COAP_OPT_HOP_LIMIT, COAP_OPT_ECHO,
    COAP_OPT_REQUEST_TAG};

/* What names the resource: a stale mark reaches every entry for it,
 * whatever the method and other options of its request. */
static bool is_uri_option(uint16_t n) {
  return n == COAP_OPT_URI_HOST || n == COAP_OPT_URI_PORT ||
         n == COAP_OPT_URI_PATH || n == COAP_OPT_URI_QUERY ||
         n == COAP_OPT_PROXY_URI || n == COAP_OPT_PROXY_SCHEME;
}

static int scratch_reserve(scratch *s, size_t len) {
  if (s->cap >= len)
    return 0;
  size_t cap = s->cap ? s->cap : 256;
  while (cap < len)
    cap *= 2;
  uint8_t *buf = coap__realloc(s->buf, cap);
  if (buf == NULL)
    return COAP_ENOMEM;
  s->buf = buf;
  s->cap = cap;
  return 0;
}

/* The cache key of request: its code and cache-key options (RFC 7252
 * §5.6) as coap_message_get_cache_key writes them, then a FETCH's payload
 * (RFC 8132 §2: the body selects the representation). */
/* scope goes first, behind its length, so that no scope's bytes can be
 * taken for another's options. */
static uint8_t *put_scope(uint8_t *p, const uint8_t *scope, size_t len) {
  for (int s = 24; s >= 0; s -= 8)
    *p++ = (uint8_t)(len >> s);
  if (len > 0)
    memcpy(p, scope, len);
  return p + len;
}

static int build_key(coap__cache *c, const uint8_t *scope, size_t scope_len,
                     const coap_message *req) {
  size_t bound = 4 + scope_len + 1 + req->payload_len;
  size_t n = coap_options_count(&req->opt);
  for (size_t i = 0; i < n; i++)
    bound += 6 + coap_options_at(&req->opt, i)->len;
  if (scratch_reserve(&c->key, bound) < 0)
    return COAP_ENOMEM;
  size_t head = (size_t)(put_scope(c->key.buf, scope, scope_len) - c->key.buf);
  int len = coap_message_get_cache_key(
      req, interpreted, sizeof interpreted / sizeof interpreted[0],
      c->key.buf + head, c->key.cap - head);
  if (len < 0)
    return len;
  c->key.len = head + (size_t)len;
  if (req->code == COAP_CODE_FETCH && req->payload_len > 0) {
    memcpy(c->key.buf + c->key.len, req->payload, req->payload_len);
    c->key.len += req->payload_len;
  }
  return 0;
}

static int build_uri(coap__cache *c, const uint8_t *scope, size_t scope_len,
                     const coap_message *req) {
  size_t n = coap_options_count(&req->opt), bound = 4 + scope_len;
  for (size_t i = 0; i < n; i++)
    bound += 6 + coap_options_at(&req->opt, i)->len;
  if (scratch_reserve(&c->uri, bound) < 0)
    return COAP_ENOMEM;
  uint8_t *p = put_scope(c->uri.buf, scope, scope_len);
  for (size_t i = 0; i < n; i++) {
    const coap_option *o = coap_options_at(&req->opt, i);
    if (!is_uri_option(o->number))
      continue;
    /* Fixed-width number and length keep the bytes unambiguous. */
    *p++ = (uint8_t)(o->number >> 8);
    *p++ = (uint8_t)o->number;
    for (int s = 24; s >= 0; s -= 8)
      *p++ = (uint8_t)(o->len >> s);
    if (o->len > 0)
      memcpy(p, o->value, o->len);
    p += o->len;
  }
  c->uri.len = (size_t)(p - c->uri.buf);
  return 0;
}

int coap__cache_new(const coap__cache_config *config, coap__cache **out) {
  if (out == NULL)
    return COAP_EINVAL;
  coap__cache *c = coap__calloc(1, sizeof *c);
  if (c == NULL)
    return COAP_ENOMEM;
  if (config != NULL) {
    c->config = *config;
  } else {
    c->config.max_entries = COAP__CACHE_DEFAULT_ENTRIES;
    c->config.max_bytes = COAP__CACHE_DEFAULT_BYTES;
  }
  uint32_t buckets = 16;
  while (buckets < c->config.max_entries && buckets < (1u << 24))
    buckets *= 2;
  c->mask = buckets - 1;
  c->by_key = coap__calloc(buckets, sizeof *c->by_key);
  c->by_uri = coap__calloc(buckets, sizeof *c->by_uri);
  if (c->by_key == NULL || c->by_uri == NULL) {
    coap__free(c->by_key);
    coap__free(c->by_uri);
    coap__free(c);
    return COAP_ENOMEM;
  }
  coap__hash_key_random(&c->hash_key);
  *out = c;
  return 0;
}

static void unlink_chain(entry **head, entry *e, bool by_key) {
  for (entry **pp = head; *pp != NULL;
       pp = by_key ? &(*pp)->key_next : &(*pp)->uri_next) {
    if (*pp == e) {
      *pp = by_key ? e->key_next : e->uri_next;
      return;
    }
  }
}

static void lru_unlink(coap__cache *c, entry *e) {
  if (e->lru_prev != NULL)
    e->lru_prev->lru_next = e->lru_next;
  else
    c->lru_head = e->lru_next;
  if (e->lru_next != NULL)
    e->lru_next->lru_prev = e->lru_prev;
  else
    c->lru_tail = e->lru_prev;
  e->lru_prev = e->lru_next = NULL;
}

static void lru_push(coap__cache *c, entry *e) {
  e->lru_prev = NULL;
  e->lru_next = c->lru_head;
  if (c->lru_head != NULL)
    c->lru_head->lru_prev = e;
  c->lru_head = e;
  if (c->lru_tail == NULL)
    c->lru_tail = e;
}

static void entry_destroy(entry *e) {
  coap_message_clear(&e->response);
  coap__free(e->key);
  coap__free(e->uri);
  coap__free(e);
}

static void entry_remove(coap__cache *c, entry *e) {
  unlink_chain(&c->by_key[e->key_hash & c->mask], e, true);
  unlink_chain(&c->by_uri[e->uri_hash & c->mask], e, false);
  lru_unlink(c, e);
  c->stats.entries--;
  c->stats.bytes -= e->bytes;
  entry_destroy(e);
}

void coap__cache_free(coap__cache *c) {
  if (c == NULL)
    return;
  while (c->lru_head != NULL)
    entry_remove(c, c->lru_head);
  coap__free(c->by_key);
  coap__free(c->by_uri);
  coap__free(c->key.buf);
  coap__free(c->uri.buf);
  coap__free(c);
}

static entry *find_key(coap__cache *c, uint64_t hash) {
  for (entry *e = c->by_key[hash & c->mask]; e != NULL; e = e->key_next)
    if (e->key_hash == hash && e->key_len == c->key.len &&
        memcmp(e->key, c->key.buf, c->key.len) == 0)
      return e;
  return NULL;
}

static bool servable_request(const coap_message *req) {
  return (req->code == COAP_CODE_GET || req->code == COAP_CODE_FETCH) &&
         !coap_options_has(&req->opt, COAP_OPT_OBSERVE);
}

static uint32_t max_age_of(const coap_message *msg) {
  uint32_t v;
  return coap_options_get_max_age(&msg->opt, &v) == 0 ? v : DEFAULT_MAX_AGE_S;
}

/* A copy of what e stores with the freshness left as its Max-Age (§5.7.1:
 * the served value is reduced by the time spent in the cache). */
static int serve(const entry *e, uint64_t now_ms, coap_message *served) {
  int r = coap_message_copy(served, &e->response);
  if (r < 0)
    return r;
  uint64_t left = e->fresh_until_ms > now_ms ? e->fresh_until_ms - now_ms : 0;
  return coap_options_set_max_age(&served->opt, (uint32_t)(left / 1000));
}

int coap__cache_lookup(coap__cache *c, const uint8_t *scope,
                       size_t scope_len, const coap_message *req,
                       uint64_t now_ms, coap_message *served, uint8_t *etag,
                       size_t *etag_len) {
  if (!servable_request(req) || c->config.max_entries == 0) {
    c->stats.misses++;
    return COAP__CACHE_MISS;
  }
  if (build_key(c, scope, scope_len, req) < 0)
    return COAP_ENOMEM;
  entry *e = find_key(c, coap__siphash(&c->hash_key, c->key.buf, c->key.len));
  if (e == NULL) {
    c->stats.misses++;
    return COAP__CACHE_MISS;
  }
  lru_unlink(c, e);
  lru_push(c, e);
  if (now_ms < e->fresh_until_ms) {
    int r = serve(e, now_ms, served);
    if (r < 0)
      return r;
    c->stats.hits++;
    return COAP__CACHE_FRESH;
  }
  c->stats.stale++;
  /* §5.9.2, §5.9.3: the error classes cannot be validated. */
  const uint8_t *tag;
  size_t tag_len;
  if (e->response.code != COAP_CODE_CONTENT ||
      coap_options_get_etag(&e->response.opt, &tag, &tag_len) < 0 ||
      tag_len == 0 || tag_len > 8)
    return COAP__CACHE_MISS;
  int r = serve(e, now_ms, served);
  if (r < 0)
    return r;
  memcpy(etag, tag, tag_len);
  *etag_len = tag_len;
  return COAP__CACHE_STALE;
}

static bool cacheable_code(uint8_t code) {
  uint8_t cls = (uint8_t)(code >> 5);
  return code == COAP_CODE_CONTENT || cls == 4 || cls == 5;
}

static bool unsafe_method(uint8_t code) {
  return code == COAP_CODE_POST || code == COAP_CODE_PUT ||
         code == COAP_CODE_DELETE || code == COAP_CODE_PATCH ||
         code == COAP_CODE_IPATCH;
}

/* Marks every entry for the request's URI not fresh (it stays for
 * validation). */
static int make_stale(coap__cache *c, const uint8_t *scope, size_t scope_len,
                      const coap_message *req) {
  if (build_uri(c, scope, scope_len, req) < 0)
    return COAP_ENOMEM;
  uint64_t hash = coap__siphash(&c->hash_key, c->uri.buf, c->uri.len);
  for (entry *e = c->by_uri[hash & c->mask]; e != NULL; e = e->uri_next) {
    if (e->uri_hash == hash && e->uri_len == c->uri.len &&
        memcmp(e->uri, c->uri.buf, c->uri.len) == 0 && e->fresh_until_ms > 0) {
      e->fresh_until_ms = 0;
      c->stats.invalidated++;
    }
  }
  return 0;
}

/* §5.9.1.3: the 2.03's Max-Age, and for each safe-to-forward option it
 * carries, its set in place of the stored one. */
static int refresh(entry *e, const coap_message *valid, uint64_t now_ms) {
  size_t n = coap_options_count(&valid->opt);
  for (size_t i = 0; i < n; i++) {
    const coap_option *o = coap_options_at(&valid->opt, i);
    if (!coap_option_is_safe_to_forward(o->number))
      continue;
    if (i == 0 || coap_options_at(&valid->opt, i - 1)->number != o->number)
      coap_options_delete(&e->response.opt, o->number);
    int r = coap_options_add(&e->response.opt, o->number, o->value, o->len);
    if (r < 0)
      return r;
  }
  e->fresh_until_ms = now_ms + (uint64_t)max_age_of(valid) * 1000;
  return 0;
}

static int revalidated(coap__cache *c, const uint8_t *scope,
                       size_t scope_len, const coap_message *req,
                       const coap_message *valid, uint64_t now_ms,
                       coap_message *served) {
  if (build_key(c, scope, scope_len, req) < 0)
    return COAP_ENOMEM;
  entry *e = find_key(c, coap__siphash(&c->hash_key, c->key.buf, c->key.len));
  const uint8_t *got, *have;
  size_t got_len, have_len;
  if (e == NULL ||
      coap_options_get_etag(&valid->opt, &got, &got_len) < 0 ||
      coap_options_get_etag(&e->response.opt, &have, &have_len) < 0 ||
      got_len != have_len || memcmp(got, have, got_len) != 0)
    return 0;
  int r = refresh(e, valid, now_ms);
  if (r < 0) {
    entry_remove(c, e); /* half refreshed is worse than gone */
    return r;
  }
  c->stats.revalidated++;
  if (served == NULL)
    return 1;
  r = serve(e, now_ms, served);
  return r < 0 ? r : 1;
}

static void evict_for(coap__cache *c, size_t bytes) {
  while (c->lru_tail != NULL &&
         (c->stats.entries >= c->config.max_entries ||
          c->stats.bytes + bytes > c->config.max_bytes)) {
    entry_remove(c, c->lru_tail);
    c->stats.evicted++;
  }
}

static int store(coap__cache *c, const uint8_t *scope, size_t scope_len,
                 const coap_message *req, const coap_message *resp,
                 uint64_t now_ms) {
  if (build_key(c, scope, scope_len, req) < 0 ||
      build_uri(c, scope, scope_len, req) < 0)
    return COAP_ENOMEM;
  uint64_t key_hash = coap__siphash(&c->hash_key, c->key.buf, c->key.len);
  entry *old = find_key(c, key_hash);
  if (old != NULL)
    entry_remove(c, old);
  uint32_t max_age = max_age_of(resp);
  bool validatable = resp->code == COAP_CODE_CONTENT &&
                     coap_options_has(&resp->opt, COAP_OPT_ETAG);
  size_t bytes = sizeof(entry) + c->key.len + c->uri.len + resp->payload_len +
                 coap_options_encoded_size(&resp->opt);
  /* Never fresh and never validatable, or too big to keep: not worth a
   * slot (what was there is gone: it was older than this answer). */
  if ((max_age == 0 && !validatable) || bytes > c->config.max_bytes ||
      c->config.max_entries == 0)
    return 0;
  entry *e = coap__calloc(1, sizeof *e);
  if (e == NULL)
    return COAP_ENOMEM;
  coap_message_init(&e->response);
  e->key = coap__malloc(c->key.len);
  e->uri = coap__malloc(c->uri.len ? c->uri.len : 1);
  if (e->key == NULL || e->uri == NULL ||
      coap_message_copy(&e->response, resp) < 0) {
    entry_destroy(e);
    return COAP_ENOMEM;
  }
  memcpy(e->key, c->key.buf, c->key.len);
  e->key_len = c->key.len;
  if (c->uri.len > 0)
    memcpy(e->uri, c->uri.buf, c->uri.len);
  e->uri_len = c->uri.len;
  e->key_hash = key_hash;
  e->uri_hash = coap__siphash(&c->hash_key, c->uri.buf, c->uri.len);
  e->fresh_until_ms = now_ms + (uint64_t)max_age * 1000;
  e->bytes = bytes;
  /* The stored copy is not for the transport: its message ID, token and
   * type belong to the exchange it came in. */
  e->response.mid = 0;
  e->response.token_len = 0;
  evict_for(c, bytes);
  e->key_next = c->by_key[key_hash & c->mask];
  c->by_key[key_hash & c->mask] = e;
  e->uri_next = c->by_uri[e->uri_hash & c->mask];
  c->by_uri[e->uri_hash & c->mask] = e;
  lru_push(c, e);
  c->stats.entries++;
  c->stats.bytes += bytes;
  c->stats.stored++;
  return 0;
}

int coap__cache_response(coap__cache *c, const uint8_t *scope,
                         size_t scope_len, const coap_message *req,
                         const coap_message *resp, uint64_t now_ms,
                         coap_message *served) {
  if (resp->code == COAP_CODE_VALID && servable_request(req))
    return revalidated(c, scope, scope_len, req, resp, now_ms, served);
  uint8_t cls = (uint8_t)(resp->code >> 5);
  if (resp->code == COAP_CODE_DELETED || resp->code == COAP_CODE_CHANGED ||
      (unsafe_method(req->code) && cls == 2))
    return make_stale(c, scope, scope_len, req);
  if (servable_request(req) && cacheable_code(resp->code) &&
      !coap_options_has(&resp->opt, COAP_OPT_OBSERVE))
    return store(c, scope, scope_len, req, resp, now_ms);
  return 0;
}

void coap__cache_get_stats(const coap__cache *c, coap__cache_stats *out) {
  *out = c->stats;
}
