/*
 * Messages handed out one future at a time (message_stream-internal.h).
 * Resolving a future runs none of the application's code here: its done
 * callbacks are queued on the scheduler (aiocoap.h, the callback rule).
 */
#include "message_stream-internal.h"

#include "alloc-internal.h"

#include <aiocoap/error.h>

#include <string.h>

static void free_message(void *msg) {
  coap_message_free(msg);
}

void coap__msg_stream_init(coap__msg_stream *s, coap__scheduler *scheduler,
                           size_t limit) {
  memset(s, 0, sizeof *s);
  s->scheduler = scheduler;
  s->limit = limit > 0 ? limit : 1;
}

static int queue(coap__msg_stream *s, coap_message *msg) {
  if (s->len == s->limit) {
    coap_message_free(s->ring[s->head]);
    s->head = (s->head + 1) % s->cap;
    s->len--;
    s->dropped++;
  }
  if (s->len == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 8;
    if (cap > s->limit)
      cap = s->limit;
    coap_message **ring = coap__malloc(cap * sizeof *ring);
    if (ring == NULL) {
      coap_message_free(msg);
      return COAP_ENOMEM;
    }
    for (size_t i = 0; i < s->len; i++)
      ring[i] = s->ring[(s->head + i) % s->cap];
    coap__free(s->ring);
    s->ring = ring;
    s->cap = cap;
    s->head = 0;
  }
  s->ring[(s->head + s->len) % s->cap] = msg;
  s->len++;
  return 0;
}

int coap__msg_stream_push(coap__msg_stream *s, coap_message *msg) {
  if (s->ended) {
    coap_message_free(msg);
    return 0;
  }
  while (s->n_waiters > 0) {
    coap_future *f = s->waiters[0];
    memmove(s->waiters, s->waiters + 1, --s->n_waiters * sizeof *s->waiters);
    /* A waiter the application cancelled meanwhile takes nothing. */
    bool pending = !coap_future_done(f);
    if (pending)
      coap_future_resolve(f, msg, free_message);
    coap_future_unref(f);
    if (pending)
      return 0;
  }
  return queue(s, msg);
}

coap_future *coap__msg_stream_next(coap__msg_stream *s) {
  coap_future *f = NULL;
  if (s->len > 0) {
    if (coap__future_new_on(s->scheduler, &f) < 0)
      return NULL;
    coap_message *msg = s->ring[s->head];
    s->head = (s->head + 1) % s->cap;
    s->len--;
    coap_future_resolve(f, msg, free_message);
    return f;
  }
  if (coap__future_new_on(s->scheduler, &f) < 0)
    return NULL;
  if (s->ended) {
    coap_future_fail(f, s->end_err, NULL, NULL);
    return f;
  }
  if (s->n_waiters == s->cap_waiters) {
    size_t cap = s->cap_waiters ? s->cap_waiters * 2 : 2;
    coap_future **grown = coap__realloc(s->waiters, cap * sizeof *grown);
    if (grown == NULL) {
      coap_future_unref(f);
      return NULL;
    }
    s->waiters = grown;
    s->cap_waiters = cap;
  }
  s->waiters[s->n_waiters++] = coap_future_ref(f);
  return f;
}

/* Fails every waiter with err, in the order they were asked for (their
 * callbacks run from the scheduler in the order queued). */
static void fail_waiters(coap__msg_stream *s, int err) {
  for (size_t i = 0; i < s->n_waiters; i++) {
    coap_future *f = s->waiters[i];
    if (!coap_future_done(f))
      coap_future_fail(f, err, NULL, NULL);
    coap_future_unref(f);
  }
  s->n_waiters = 0;
}

void coap__msg_stream_end(coap__msg_stream *s, int err) {
  if (s->ended)
    return;
  s->ended = true;
  s->end_err = err;
  /* Waiters exist only while the queue is empty. */
  fail_waiters(s, err);
}

void coap__msg_stream_free(coap__msg_stream *s) {
  while (s->len > 0) {
    coap_message_free(s->ring[s->head]);
    s->head = (s->head + 1) % s->cap;
    s->len--;
  }
  coap__free(s->ring);
  s->ring = NULL;
  fail_waiters(s, COAP_ECANCELED);
  coap__free(s->waiters);
  s->waiters = NULL;
  s->cap_waiters = 0;
}
