/*
 * Intrusive binary min-heap of deadlines (libuv's heap-inl.h idea, as an
 * array of node pointers): each node lives inside the object it times and
 * remembers its index, so insert, remove and update are O(log n) and
 * allocate only when the array grows.  One heap drives all of a context's
 * timers behind its single uv_timer_t.
 */
#ifndef AIOCOAP_HEAP_H
#define AIOCOAP_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct coap__heap_node {
  uint64_t deadline; /* milliseconds on the caller's clock */
  uint32_t index;    /* position in the heap, UINT32_MAX when not in it */
} coap__heap_node;

typedef struct coap__heap {
  coap__heap_node **nodes;
  uint32_t count;
  uint32_t cap;
} coap__heap;

void coap__heap_init(coap__heap *heap);
/* Frees the array (not the nodes). */
void coap__heap_free(coap__heap *heap);
void coap__heap_node_init(coap__heap_node *node);
static inline bool coap__heap_node_active(const coap__heap_node *node) {
  return node->index != UINT32_MAX;
}
/* Inserts node with deadline, or moves it if already in: 0 or COAP_ENOMEM. */
int coap__heap_schedule(coap__heap *heap, coap__heap_node *node,
                        uint64_t deadline);
/* Removes node if it is in the heap. */
void coap__heap_remove(coap__heap *heap, coap__heap_node *node);
/* The earliest node, or NULL. */
static inline coap__heap_node *coap__heap_min(const coap__heap *heap) {
  return heap->count ? heap->nodes[0] : NULL;
}
/* The earliest deadline, or UINT64_MAX when empty. */
static inline uint64_t coap__heap_next_deadline(const coap__heap *heap) {
  return heap->count ? heap->nodes[0]->deadline : UINT64_MAX;
}
/* Removes and returns the earliest node whose deadline <= now, or NULL. */
coap__heap_node *coap__heap_pop_due(coap__heap *heap, uint64_t now);

#endif
