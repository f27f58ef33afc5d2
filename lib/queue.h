/*
 * Intrusive circular doubly linked list (libuv's src/queue.h idea): the node
 * sits inside the object, container_of finds the object again.
 */
#ifndef AIOCOAP_QUEUE_H
#define AIOCOAP_QUEUE_H

#include <stdbool.h>
#include <stddef.h>

typedef struct coap__queue {
  struct coap__queue *next;
  struct coap__queue *prev;
} coap__queue;

static inline void coap__queue_init(coap__queue *q) {
  q->next = q->prev = q;
}
static inline bool coap__queue_empty(const coap__queue *q) {
  return q->next == q;
}
static inline void coap__queue_insert_tail(coap__queue *h, coap__queue *q) {
  q->next = h;
  q->prev = h->prev;
  q->prev->next = q;
  h->prev = q;
}
static inline void coap__queue_remove(coap__queue *q) {
  q->prev->next = q->next;
  q->next->prev = q->prev;
  q->next = q->prev = q;
}
static inline coap__queue *coap__queue_head(const coap__queue *h) {
  return h->next;
}

#define coap__queue_data(ptr, type, field)                                     \
  ((type *)((char *)(ptr)-offsetof(type, field)))

#endif
