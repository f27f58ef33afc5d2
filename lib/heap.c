/*
 * Intrusive binary min-heap of deadlines.  The array holds pointers to nodes
 * that live inside the timed objects; each node keeps its own index so that
 * removal and rescheduling need no search.
 */
#include "heap.h"

#include "alloc-internal.h"

#include <aiocoap/error.h>

#define HEAP_INITIAL_CAP 16u

void coap__heap_init(coap__heap *heap) {
  heap->nodes = NULL;
  heap->count = 0;
  heap->cap = 0;
}

void coap__heap_free(coap__heap *heap) {
  for (uint32_t i = 0; i < heap->count; i++)
    heap->nodes[i]->index = UINT32_MAX;
  coap__free(heap->nodes);
  coap__heap_init(heap);
}

void coap__heap_node_init(coap__heap_node *node) {
  node->deadline = 0;
  node->index = UINT32_MAX;
}

static void place(coap__heap *heap, coap__heap_node *node, uint32_t i) {
  heap->nodes[i] = node;
  node->index = i;
}

static void sift_up(coap__heap *heap, uint32_t i) {
  coap__heap_node *node = heap->nodes[i];
  while (i > 0) {
    uint32_t parent = (i - 1) / 2;
    if (heap->nodes[parent]->deadline <= node->deadline)
      break;
    place(heap, heap->nodes[parent], i);
    i = parent;
  }
  place(heap, node, i);
}

static void sift_down(coap__heap *heap, uint32_t i) {
  coap__heap_node *node = heap->nodes[i];
  for (;;) {
    uint32_t child = 2 * i + 1;
    if (child >= heap->count)
      break;
    if (child + 1 < heap->count &&
        heap->nodes[child + 1]->deadline < heap->nodes[child]->deadline)
      child++;
    if (node->deadline <= heap->nodes[child]->deadline)
      break;
    place(heap, heap->nodes[child], i);
    i = child;
  }
  place(heap, node, i);
}

static int grow(coap__heap *heap) {
  if (heap->cap > UINT32_MAX / 2 - 1)
    return COAP_ENOMEM;
  uint32_t cap = heap->cap ? heap->cap * 2 : HEAP_INITIAL_CAP;
  coap__heap_node **nodes =
      coap__realloc(heap->nodes, (size_t)cap * sizeof *nodes);
  if (nodes == NULL)
    return COAP_ENOMEM;
  heap->nodes = nodes;
  heap->cap = cap;
  return 0;
}

int coap__heap_schedule(coap__heap *heap, coap__heap_node *node,
                        uint64_t deadline) {
  if (coap__heap_node_active(node)) {
    uint64_t old = node->deadline;
    node->deadline = deadline;
    if (deadline < old)
      sift_up(heap, node->index);
    else if (deadline > old)
      sift_down(heap, node->index);
    return 0;
  }
  if (heap->count == heap->cap) {
    int r = grow(heap);
    if (r < 0)
      return r;
  }
  node->deadline = deadline;
  place(heap, node, heap->count++);
  sift_up(heap, node->index);
  return 0;
}

void coap__heap_remove(coap__heap *heap, coap__heap_node *node) {
  if (!coap__heap_node_active(node))
    return;
  uint32_t i = node->index;
  node->index = UINT32_MAX;
  heap->count--;
  if (i == heap->count)
    return;
  /* The last node fills the hole and may need to move either way. */
  coap__heap_node *last = heap->nodes[heap->count];
  place(heap, last, i);
  if (i > 0 && heap->nodes[(i - 1) / 2]->deadline > last->deadline)
    sift_up(heap, i);
  else
    sift_down(heap, i);
}

coap__heap_node *coap__heap_pop_due(coap__heap *heap, uint64_t now) {
  coap__heap_node *min = coap__heap_min(heap);
  if (min == NULL || min->deadline > now)
    return NULL;
  coap__heap_remove(heap, min);
  return min;
}
