/*
 * A response cache for proxies (RFC 7252 §5.6), sans-I/O: the caller says
 * what time it is, hands in the request it would forward and the response
 * that came back, and asks before forwarding whether a stored response
 * serves.  It keeps whole responses (blockwise transfers assembled), bounded
 * in entries and in bytes, least recently used going first.
 *
 * What the RFC asks of it, and where it is done:
 * - the cache key is the method and every cache-key option of the request
 *   (§5.6, §5.4.6: NoCacheKey options left out), plus the payload of a
 *   FETCH (RFC 8132 §2); options the cache interprets itself (ETag, the
 *   Block and Size options, Observe, Hop-Limit) are left out too;
 * - freshness (§5.6.1) from Max-Age, 60 s when absent; a served copy's
 *   Max-Age is reduced by the time it spent here (§5.7.1);
 * - validation (§5.6.2): a stale 2.05 with an ETag is revalidated with that
 *   ETag, and a 2.03 Valid refreshes it: its Max-Age, and for each
 *   safe-to-forward option in the 2.03 the stored set is replaced
 *   (§5.9.1.3);
 * - 2.05 and the 4.xx and 5.xx classes are cacheable (§5.9.1.5, §5.9.2,
 *   §5.9.3; the error classes cannot be validated); a 2.02 Deleted or 2.04
 *   Changed marks what is stored for that URI not fresh (§5.9.1.2,
 *   §5.9.1.4), and so does any successful unsafe request (POST, PUT,
 *   DELETE, PATCH, iPATCH) to it;
 * - requests with Observe are not served from here (RFC 7641 §4.2 wants the
 *   registration to reach the origin).
 */
#ifndef AIOCOAP_RESPONSE_CACHE_INTERNAL_H
#define AIOCOAP_RESPONSE_CACHE_INTERNAL_H

#include "hash-internal.h"

#include <aiocoap/message.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct coap__cache coap__cache;

typedef struct coap__cache_config {
  /* Entries kept (default 1024); 0 stores nothing. */
  uint32_t max_entries;
  /* Bytes of stored responses (payload, options and the key; default
   * 4 MiB); a response larger than this is not stored. */
  size_t max_bytes;
} coap__cache_config;

#define COAP__CACHE_DEFAULT_ENTRIES 1024u
#define COAP__CACHE_DEFAULT_BYTES (4u * 1024u * 1024u)

typedef struct coap__cache_stats {
  uint64_t hits;          /* fresh responses served */
  uint64_t misses;        /* nothing stored for the key */
  uint64_t stale;         /* stored but not fresh (validatable or not) */
  uint64_t revalidated;   /* 2.03 Valid refreshed a stale entry */
  uint64_t stored;        /* responses stored (or replaced) */
  uint64_t evicted;       /* entries pushed out by the bounds */
  uint64_t invalidated;   /* entries marked not fresh by an unsafe request */
  uint32_t entries;       /* now */
  size_t bytes;           /* now */
} coap__cache_stats;

/* config NULL: the defaults.  0, COAP_EINVAL or COAP_ENOMEM. */
int coap__cache_new(const coap__cache_config *config, coap__cache **out);
void coap__cache_free(coap__cache *cache);

typedef enum coap__cache_result {
  COAP__CACHE_MISS,  /* forward the request as it is */
  COAP__CACHE_FRESH, /* *served is the answer */
  COAP__CACHE_STALE  /* forward with the ETag given; pass the answer to
                        coap__cache_response, which serves on 2.03 */
} coap__cache_result;

/*
 * Looks request up at now_ms (any monotonic clock in milliseconds).  scope
 * (scope_len bytes, may be 0) is what the request's options do not say and
 * the key must: where it goes (a proxy's upstream); the same scope must be
 * given to coap__cache_response.  FRESH: *served (initialised by the
 * caller) becomes a copy of the stored response, its Max-Age the seconds
 * of freshness left.  STALE: the stored response can be validated: etag
 * (room for 8 bytes) gets its ETag, *etag_len its length, and *served a
 * copy of it with Max-Age 0 (to serve should the 2.03 find the entry gone).
 * A request the cache does not serve (not GET or FETCH, or with Observe) is
 * a MISS.  COAP_ENOMEM when the copy fails.
 */
int coap__cache_lookup(coap__cache *cache, const uint8_t *scope,
                       size_t scope_len, const coap_message *request,
                       uint64_t now_ms, coap_message *served, uint8_t *etag,
                       size_t *etag_len);

/*
 * Tells the cache what came back for request (the request as forwarded;
 * an ETag a STALE lookup added makes no difference to the key) at now_ms.
 * A cacheable response is stored, replacing what was there; a 2.03 Valid
 * whose ETag matches the stored one refreshes it and, when served is not
 * NULL, copies the refreshed response there and returns 1 (serve that
 * instead of the 2.03); a 2.02 or 2.04, or any 2.xx to an unsafe request,
 * marks every entry for the request's URI in that scope not fresh.
 * Returns 0 otherwise, or COAP_ENOMEM (the cache is then as before, less
 * what the bounds pushed out).
 */
int coap__cache_response(coap__cache *cache, const uint8_t *scope,
                         size_t scope_len, const coap_message *request,
                         const coap_message *response, uint64_t now_ms,
                         coap_message *served);

void coap__cache_get_stats(const coap__cache *cache, coap__cache_stats *out);

#endif
