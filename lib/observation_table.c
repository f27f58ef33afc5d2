/*
 * The table of a context's server-side observations (RFC 7641 §4.1: an
 * observer is identified by its endpoint and token): a chained hash by
 * (remote, token), and a second chain by remote alone, so that a peer's
 * observations are found, counted and ended in O(that peer's) (issue 9).
 * Both are keyed per context, so that clients cannot aim at a bucket.
 */
#include "alloc-internal.h"
#include "hash-internal.h"
#include "observation_server-internal.h"

#include <string.h>

/* SipHash-2-4 over (remote, token) under the table's own 128-bit key:
 * clients choose their addresses and tokens, and must not aim at one
 * bucket.  The token's length is implied by the input's; the chain by
 * remote alone hashes no token. */
static uint64_t key_hash(const coap__hash_key *key, const coap_remote *remote,
                         const uint8_t *token, size_t len) {
  const struct sockaddr_in6 *a = &remote->addr;
  uint8_t in[16 + 2 + 4 + COAP_TOKEN_MAX_LENGTH];
  if (len > COAP_TOKEN_MAX_LENGTH)
    len = COAP_TOKEN_MAX_LENGTH;
  memcpy(in, &a->sin6_addr, 16);
  memcpy(in + 16, &a->sin6_port, 2);
  memcpy(in + 18, &a->sin6_scope_id, 4);
  if (len > 0)
    memcpy(in + 22, token, len);
  return coap__siphash(key, in, 22 + len);
}

coap__observations *coap__observations_get(coap_context *ctx) {
  if (ctx->observations != NULL || ctx->shutting_down)
    return ctx->observations;
  coap__observations *o = coap__calloc(1, sizeof *o);
  if (o == NULL)
    return NULL;
  coap__queue_init(&o->clients);
  coap__queue_init(&o->starved);
  coap__hash_key_random(&o->hash_key);
  ctx->observations = o;
  return o;
}

coap_server_observation *coap__obs_find(const coap__observations *o,
                                        const coap_remote *remote,
                                        const uint8_t *token, size_t len) {
  if (o == NULL || o->nbuckets == 0)
    return NULL;
  uint64_t h = key_hash(&o->hash_key, remote, token, len);
  for (coap_server_observation *s = o->buckets[h & (o->nbuckets - 1)];
       s != NULL; s = s->hash_next)
    if (s->hash == h && s->token_len == len &&
        memcmp(s->token, token, len) == 0 &&
        coap_remote_equal(&s->remote, remote))
      return s;
  return NULL;
}

static int table_grow(coap__observations *o) {
  size_t n = o->nbuckets ? o->nbuckets * 2 : 64;
  coap_server_observation **buckets = coap__calloc(n, sizeof *buckets);
  coap_server_observation **peer_buckets = coap__calloc(n, sizeof *buckets);
  if (buckets == NULL || peer_buckets == NULL) {
    coap__free(buckets);
    coap__free(peer_buckets);
    return COAP_ENOMEM;
  }
  for (size_t i = 0; i < o->nbuckets; i++) {
    coap_server_observation *s = o->buckets[i];
    while (s != NULL) {
      coap_server_observation *next = s->hash_next;
      s->hash_next = buckets[s->hash & (n - 1)];
      buckets[s->hash & (n - 1)] = s;
      s = next;
    }
    s = o->peer_buckets[i];
    while (s != NULL) {
      coap_server_observation *next = s->peer_next;
      s->peer_next = peer_buckets[s->peer_hash & (n - 1)];
      peer_buckets[s->peer_hash & (n - 1)] = s;
      s = next;
    }
  }
  coap__free(o->buckets);
  coap__free(o->peer_buckets);
  o->buckets = buckets;
  o->peer_buckets = peer_buckets;
  o->nbuckets = n;
  return 0;
}

/* The first observation with remote in its peer chain from s on. */
static coap_server_observation *peer_from(coap_server_observation *s,
                                          const coap_remote *remote) {
  while (s != NULL && !coap_remote_equal(&s->remote, remote))
    s = s->peer_next;
  return s;
}

coap_server_observation *coap__obs_peer_first(const coap__observations *o,
                                              const coap_remote *remote) {
  if (o == NULL || o->nbuckets == 0)
    return NULL;
  uint64_t h = key_hash(&o->hash_key, remote, NULL, 0);
  return peer_from(o->peer_buckets[h & (o->nbuckets - 1)], remote);
}

/* Accepted observations held by remote; O(its observations). */
coap_server_observation *coap__obs_peer_next(const coap_server_observation *s,
                                             const coap_remote *remote) {
  return peer_from(s->peer_next, remote);
}

size_t coap__obs_peer_accepted(const coap__observations *o,
                               const coap_remote *remote) {
  size_t n = 0;
  for (coap_server_observation *s = coap__obs_peer_first(o, remote); s != NULL;
       s = coap__obs_peer_next(s, remote))
    n += s->accepted;
  return n;
}

int coap__obs_table_insert(coap__observations *o,
                           coap_server_observation *obs) {
  if (o->count >= o->nbuckets && table_grow(o) < 0 && o->nbuckets == 0)
    return COAP_ENOMEM;
  obs->hash = key_hash(&o->hash_key, &obs->remote, obs->token, obs->token_len);
  coap_server_observation **head = &o->buckets[obs->hash & (o->nbuckets - 1)];
  obs->hash_next = *head;
  *head = obs;
  obs->peer_hash = key_hash(&o->hash_key, &obs->remote, NULL, 0);
  head = &o->peer_buckets[obs->peer_hash & (o->nbuckets - 1)];
  obs->peer_next = *head;
  *head = obs;
  o->count++;
  return 0;
}

void coap__obs_table_remove(coap__observations *o,
                            coap_server_observation *obs) {
  coap_server_observation **p =
      &o->peer_buckets[obs->peer_hash & (o->nbuckets - 1)];
  for (; *p != NULL; p = &(*p)->peer_next) {
    if (*p == obs) {
      *p = obs->peer_next;
      obs->peer_next = NULL;
      break;
    }
  }
  p = &o->buckets[obs->hash & (o->nbuckets - 1)];
  for (; *p != NULL; p = &(*p)->hash_next) {
    if (*p == obs) {
      *p = obs->hash_next;
      obs->hash_next = NULL;
      o->count--;
      return;
    }
  }
}
