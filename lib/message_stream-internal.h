/*
 * A stream of messages handed out one future at a time (aiocoap's async
 * iterators: MulticastRequest.responses): messages that arrive while
 * nobody waits are queued up to a bound, the oldest dropped first; futures
 * asked for while the queue is empty wait in order; once the stream has
 * ended and the queue is drained, every future fails with the end's error.
 */
#ifndef AIOCOAP_MESSAGE_STREAM_INTERNAL_H
#define AIOCOAP_MESSAGE_STREAM_INTERNAL_H

#include "future-internal.h"

#include <aiocoap/message.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct coap__msg_stream {
  coap__scheduler *scheduler; /* borrowed: the owner holds a reference */
  coap_message **ring;
  size_t head, len, cap, limit;
  coap_future **waiters;
  size_t n_waiters, cap_waiters;
  bool ended;
  int end_err;
  uint64_t dropped; /* pushed out of a full queue */
} coap__msg_stream;

/* limit: messages queued at most (at least 1). */
void coap__msg_stream_init(coap__msg_stream *s, coap__scheduler *scheduler,
                           size_t limit);
/* Takes msg: resolves the oldest waiter with it, or queues it (0), or
 * frees it when the stream has ended or memory is short (COAP_ENOMEM). */
int coap__msg_stream_push(coap__msg_stream *s, coap_message *msg);
/* The next message as a future (a reference for the caller); NULL on
 * COAP_ENOMEM. */
coap_future *coap__msg_stream_next(coap__msg_stream *s);
/* Ends the stream: the waiters (there are only waiters while the queue is
 * empty) fail with err now, later futures once the queue is drained.
 * Only the first end counts. */
void coap__msg_stream_end(coap__msg_stream *s, int err);
/* Frees what is queued; waiters left fail with COAP_ECANCELED. */
void coap__msg_stream_free(coap__msg_stream *s);

#endif
