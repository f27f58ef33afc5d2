/*
 * Tokens of outgoing requests (aiocoap's tokenmanager): a chained hash from
 * token to the request waiting for it.  Nodes live inside the requests, so
 * matching a response allocates nothing; the bucket array grows with the
 * number of requests in flight and is kept.
 */
#include "alloc-internal.h"
#include "context-internal.h"
#include "hash-internal.h"

#include <string.h>

/* Tokens we send are our own random bytes, but every response looks up
 * the token its sender put in it: SipHash under the map's secret key, so
 * that the lookups a peer makes cannot be aimed at a bucket either. */
static uint64_t token_hash(const coap__token_map *map, const uint8_t *token,
                           size_t len) {
  return coap__siphash(&map->key, token, len);
}

void coap__token_map_init(coap__token_map *map) {
  map->buckets = NULL;
  map->nbuckets = 0;
  map->count = 0;
  coap__hash_key_random(&map->key);
}

void coap__token_map_free(coap__token_map *map) {
  coap__free(map->buckets);
  map->buckets = NULL;
  map->nbuckets = 0;
  map->count = 0;
}

static int grow(coap__token_map *map) {
  size_t n = map->nbuckets ? map->nbuckets * 2 : 64;
  coap__token_entry **buckets = coap__calloc(n, sizeof *buckets);
  if (buckets == NULL)
    return COAP_ENOMEM;
  for (size_t i = 0; i < map->nbuckets; i++) {
    coap__token_entry *e = map->buckets[i];
    while (e != NULL) {
      coap__token_entry *next = e->next;
      size_t b = e->hash & (n - 1);
      e->next = buckets[b];
      buckets[b] = e;
      e = next;
    }
  }
  coap__free(map->buckets);
  map->buckets = buckets;
  map->nbuckets = n;
  return 0;
}

int coap__token_map_insert(coap__token_map *map, coap__token_entry *entry) {
  if (map->count >= map->nbuckets) {
    int rc = grow(map);
    if (rc < 0)
      return rc;
  }
  entry->hash = token_hash(map, entry->token, entry->token_len);
  size_t b = entry->hash & (map->nbuckets - 1);
  entry->next = map->buckets[b];
  map->buckets[b] = entry;
  map->count++;
  return 0;
}

void coap__token_map_remove(coap__token_map *map, coap__token_entry *entry) {
  if (map->nbuckets == 0)
    return;
  coap__token_entry **p = &map->buckets[entry->hash & (map->nbuckets - 1)];
  for (; *p != NULL; p = &(*p)->next) {
    if (*p == entry) {
      *p = entry->next;
      entry->next = NULL;
      map->count--;
      return;
    }
  }
}

coap__token_entry *coap__token_map_find(const coap__token_map *map,
                                        const uint8_t *token, size_t len) {
  if (map->nbuckets == 0)
    return NULL;
  uint64_t h = token_hash(map, token, len);
  for (coap__token_entry *e = map->buckets[h & (map->nbuckets - 1)]; e != NULL;
       e = e->next) {
    if (e->hash == h && e->token_len == len &&
        memcmp(e->token, token, len) == 0)
      return e;
  }
  return NULL;
}
