/*
 * The message layer's intrusive hash table and its keyed hash.  Buckets
 * double when the load passes one entry per bucket; the array only grows, so
 * once a workload has reached its peak the table allocates nothing more.
 */
#include "messagemanager-internal.h"

#include "alloc-internal.h"

#include <aiocoap/error.h>

#include <string.h>

int coap__mm_table_init(coap__mm_table *table, uint32_t buckets) {
  uint32_t n = 1;
  while (n < buckets && n < (1u << 30))
    n <<= 1;
  table->buckets = coap__calloc(n, sizeof *table->buckets);
  if (table->buckets == NULL)
    return COAP_ENOMEM;
  table->mask = n - 1;
  table->count = 0;
  return 0;
}

void coap__mm_table_free(coap__mm_table *table) {
  coap__free(table->buckets);
  table->buckets = NULL;
  table->mask = 0;
  table->count = 0;
}

static void grow(coap__mm_table *table) {
  uint32_t old_n = table->mask + 1;
  if (old_n >= (1u << 30))
    return;
  uint32_t n = old_n * 2;
  coap__mm_hnode **buckets = coap__calloc(n, sizeof *buckets);
  if (buckets == NULL)
    return;
  for (uint32_t i = 0; i < old_n; i++) {
    coap__mm_hnode *node = table->buckets[i];
    while (node != NULL) {
      coap__mm_hnode *next = node->next;
      coap__mm_hnode **head = &buckets[node->hash & (n - 1)];
      node->next = *head;
      if (*head != NULL)
        (*head)->pprev = &node->next;
      node->pprev = head;
      *head = node;
      node = next;
    }
  }
  coap__free(table->buckets);
  table->buckets = buckets;
  table->mask = n - 1;
}

void coap__mm_table_insert(coap__mm_table *table, coap__mm_hnode *node,
                           uint64_t hash) {
  if (table->count >= table->mask + 1)
    grow(table);
  coap__mm_hnode **head = &table->buckets[hash & table->mask];
  node->hash = hash;
  node->next = *head;
  if (*head != NULL)
    (*head)->pprev = &node->next;
  node->pprev = head;
  *head = node;
  table->count++;
}

void coap__mm_table_remove(coap__mm_table *table, coap__mm_hnode *node) {
  if (node->pprev == NULL)
    return;
  *node->pprev = node->next;
  if (node->next != NULL)
    node->next->pprev = node->pprev;
  node->next = NULL;
  node->pprev = NULL;
  table->count--;
}

/* splitmix64's finaliser: every input bit affects every output bit. */
static uint64_t mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9u;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebu;
  x ^= x >> 31;
  return x;
}

uint64_t coap__mm_hash(const coap__hash_key *key, const coap_remote *remote,
                       uint32_t mid) {
  uint8_t in[16 + 2 + 4 + 4];
  memcpy(in, &remote->addr.sin6_addr, 16);
  memcpy(in + 16, &remote->addr.sin6_port, 2);
  memcpy(in + 18, &remote->addr.sin6_scope_id, 4);
  memcpy(in + 22, &mid, 4);
  return coap__siphash(key, in, sizeof in);
}

uint64_t coap__mm_owner_hash(uint64_t key, const void *owner) {
  return mix(key ^ (uint64_t)(uintptr_t)owner);
}
