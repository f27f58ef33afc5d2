/*
 * The per-loop scheduler behind coap_future and every other callback into
 * application code: a uv_check_t that runs queued callbacks after each poll
 * and a uv_idle_t that keeps poll from blocking while callbacks wait.
 * Found again from a loop by uv_walk (through a per-thread cache); a
 * context holds a reference so the scheduler, and its free lists, live as
 * long as the context.
 */
#ifndef AIOCOAP_FUTURE_INTERNAL_H
#define AIOCOAP_FUTURE_INTERNAL_H

#include <aiocoap/future.h>

#include <stdint.h>

typedef struct coap__scheduler coap__scheduler;

/* The loop's scheduler, created when missing, with a reference for the
 * caller.  0 or COAP_ENOMEM. */
int coap__scheduler_acquire(uv_loop_t *loop, coap__scheduler **out);
/* Drops a reference; the last one closes the handles (freed from the loop). */
void coap__scheduler_release(coap__scheduler *scheduler);
coap__scheduler *coap__scheduler_ref(coap__scheduler *scheduler);

/* coap_future_new without the look-up: a pending future on scheduler. */
int coap__future_new_on(coap__scheduler *scheduler, coap_future **out);

/*
 * A deferred call into application code (the rule at the top of
 * aiocoap.h): the library fills one in where something happened and
 * coap__scheduler_call_soon queues a copy behind everything queued before,
 * futures' done callbacks included.  run makes the application's call; it
 * re-checks whatever may have changed since (an observation cancelled
 * meanwhile fires nothing).  release, which may be NULL, drops what the
 * call holds (references on object and arg) after run.  The members
 * object, arg, fn, user_data and value are for run and release to use.
 */
typedef struct coap__call coap__call;
struct coap__call {
  void (*run)(coap__call *call);
  void (*release)(coap__call *call);
  void *object;
  void *arg;
  void (*fn)(void); /* the application's callback, cast back by run */
  void *user_data;
  intptr_t value;
};

/* Queues a copy of call.  0, or COAP_ENOMEM, in which case release has
 * run (nothing leaks; the application misses the event, which is logged by
 * the caller where it matters). */
int coap__scheduler_call_soon(coap__scheduler *scheduler,
                              const coap__call *call);

/*
 * For an event that must not be missed (a callback the API promises to
 * fire): reserve a record for it beforehand, when failing is still
 * possible, and queue the call with it later, which cannot fail.  An
 * unused reservation is given back with coap__scheduler_unreserve (plain
 * memory: it needs no scheduler).  reserve returns NULL on COAP_ENOMEM.
 */
void *coap__scheduler_reserve(coap__scheduler *scheduler);
void coap__scheduler_call_reserved(coap__scheduler *scheduler, void *record,
                                   const coap__call *call);
void coap__scheduler_unreserve(void *record);

/* Cancels future from the loop (its cancel hook may be application code,
 * which must not run on the library's stack).  0 or COAP_ENOMEM. */
int coap__future_cancel_soon(coap__scheduler *scheduler, coap_future *future);

#endif
