/*
 * Future combinators (future.h): asyncio's gather, wait(FIRST_COMPLETED)
 * and as_completed, so that aiocoap's parallel-request idioms port to C in
 * as many lines.  Each holds a reference on every input and on its own
 * output until every input has completed; the inputs' done callbacks run
 * from the loop like any other (aiocoap.h), so nothing here runs on the
 * stack of whoever completed an input.
 */
#include "alloc-internal.h"

#include <aiocoap/future.h>

#include <stdbool.h>
#include <string.h>

enum { GATHER, FIRST_OF };

/* A future as another's result: the result's reference goes with it. */
static void unref_result(void *future) {
  coap_future_unref(future);
}

typedef struct combinator {
  int kind;
  coap_future *out;
  coap_future **inputs;
  size_t n, pending;
} combinator;

static void combinator_free(combinator *c) {
  for (size_t i = 0; i < c->n; i++)
    coap_future_unref(c->inputs[i]);
  coap__free(c->inputs);
  coap_future_unref(c->out);
  coap__free(c);
}

/* asyncio: cancelling the outer future cancels what it waits for. */
static void on_out_cancelled(coap_future *out, void *user_data) {
  (void)out;
  combinator *c = user_data;
  for (size_t i = 0; i < c->n; i++)
    coap_future_cancel(c->inputs[i]);
}

static void input_done(coap_future *f, void *user_data) {
  combinator *c = user_data;
  c->pending--;
  if (!coap_future_done(c->out)) {
    int err = coap_future_error(f);
    if (c->kind == FIRST_OF) {
      /* The result is the input itself (borrowed from the combinator,
       * which keeps it as long as the output lives). */
      coap_future_resolve(c->out, coap_future_ref(f), unref_result);
    } else if (err != 0) {
      coap_future_fail(c->out, err, NULL, NULL);
    } else if (c->pending == 0) {
      coap_future_resolve(c->out, NULL, NULL);
    }
  }
  if (c->pending == 0)
    combinator_free(c);
}

/* The arguments every combinator takes: a loop, n futures (none NULL) and
 * somewhere for the result. */
static bool inputs_valid(const uv_loop_t *loop, coap_future *const *futures,
                         size_t n, const void *out) {
  if (loop == NULL || out == NULL || (n > 0 && futures == NULL))
    return false;
  for (size_t i = 0; i < n; i++)
    if (futures[i] == NULL)
      return false;
  return true;
}

static int combine(int kind, uv_loop_t *loop, coap_future *const *futures,
                   size_t n, coap_future **out) {
  if (out != NULL)
    *out = NULL;
  if (!inputs_valid(loop, futures, n, out))
    return COAP_EINVAL;
  if (n == 0)
    return kind == GATHER ? coap_future_new_resolved(loop, NULL, NULL, out)
                          : COAP_EINVAL;
  combinator *c = coap__calloc(1, sizeof *c);
  if (c == NULL)
    return COAP_ENOMEM;
  c->kind = kind;
  c->inputs = coap__calloc(n, sizeof *c->inputs);
  int rc = c->inputs == NULL ? COAP_ENOMEM : coap_future_new(loop, &c->out);
  if (rc < 0) {
    coap__free(c->inputs);
    coap__free(c);
    return rc;
  }
  /* Reserve every callback before adding any, so that a failure leaves
   * no callback pointing at a freed combinator. */
  for (size_t i = 0; i < n; i++) {
    rc = coap_future_add_done_callback(futures[i], input_done, c);
    if (rc < 0) {
      for (size_t k = 0; k < i; k++)
        coap_future_remove_done_callback(futures[k], input_done, c);
      for (size_t k = 0; k < i; k++)
        coap_future_unref(c->inputs[k]);
      coap__free(c->inputs);
      coap_future_unref(c->out);
      coap__free(c);
      return rc;
    }
    c->inputs[i] = coap_future_ref(futures[i]);
  }
  c->n = c->pending = n;
  coap_future_set_cancel_hook(c->out, on_out_cancelled, c);
  *out = coap_future_ref(c->out);
  return 0;
}

int coap_future_gather(uv_loop_t *loop, coap_future *const *futures, size_t n,
                       coap_future **out) {
  return combine(GATHER, loop, futures, n, out);
}

int coap_future_first_of(uv_loop_t *loop, coap_future *const *futures, size_t n,
                         coap_future **out) {
  return combine(FIRST_OF, loop, futures, n, out);
}

/* ---- as_completed ---- */

struct coap_as_completed {
  uv_loop_t *loop;
  unsigned refs;      /* the application's, and one per input still pending */
  coap_future **done; /* inputs in completion order, not yet handed out */
  size_t n_done, first_done;
  coap_future **waiters; /* next() futures waiting, in order */
  size_t n_waiters, cap_waiters;
  size_t remaining; /* inputs not yet handed out */
};

static void as_completed_release(coap_as_completed *it) {
  if (--it->refs > 0)
    return;
  for (size_t i = it->first_done; i < it->n_done; i++)
    coap_future_unref(it->done[i]);
  for (size_t i = 0; i < it->n_waiters; i++)
    coap_future_unref(it->waiters[i]);
  coap__free(it->done);
  coap__free(it->waiters);
  coap__free(it);
}

/* Hands the oldest completed input to the oldest waiter. */
static void as_completed_pump(coap_as_completed *it) {
  while (it->n_waiters > 0 && it->first_done < it->n_done) {
    coap_future *w = it->waiters[0];
    memmove(it->waiters, it->waiters + 1,
            --it->n_waiters * sizeof *it->waiters);
    coap_future *f = it->done[it->first_done++];
    if (coap_future_done(w)) { /* the application cancelled that next() */
      it->first_done--;
      it->remaining++;
      coap_future_unref(w);
      continue;
    }
    coap_future_resolve(w, f, unref_result);
    coap_future_unref(w);
  }
}

static void as_completed_input_done(coap_future *f, void *user_data) {
  coap_as_completed *it = user_data;
  it->done[it->n_done++] = coap_future_ref(f);
  coap_future_unref(f); /* the iterator's hold while it was pending */
  as_completed_pump(it);
  as_completed_release(it);
}

int coap_future_as_completed(uv_loop_t *loop, coap_future *const *futures,
                             size_t n, coap_as_completed **out) {
  if (out != NULL)
    *out = NULL;
  if (!inputs_valid(loop, futures, n, out))
    return COAP_EINVAL;
  coap_as_completed *it = coap__calloc(1, sizeof *it);
  if (it == NULL)
    return COAP_ENOMEM;
  it->loop = loop;
  it->refs = 1;
  it->remaining = n;
  it->done = coap__calloc(n > 0 ? n : 1, sizeof *it->done);
  if (it->done == NULL) {
    coap__free(it);
    return COAP_ENOMEM;
  }
  size_t added = 0;
  for (; added < n; added++) {
    if (coap_future_add_done_callback(futures[added], as_completed_input_done,
                                      it) < 0)
      break;
  }
  if (added < n) {
    for (size_t k = 0; k < added; k++)
      coap_future_remove_done_callback(futures[k], as_completed_input_done, it);
    coap__free(it->done);
    coap__free(it);
    return COAP_ENOMEM;
  }
  for (size_t i = 0; i < n; i++) {
    coap_future_ref(futures[i]);
    it->refs++;
  }
  *out = it;
  return 0;
}

coap_future *coap_as_completed_next(coap_as_completed *it) {
  if (it == NULL || it->remaining == 0)
    return NULL;
  if (it->n_waiters == it->cap_waiters) {
    size_t cap = it->cap_waiters ? it->cap_waiters * 2 : 4;
    coap_future **grown = coap__realloc(it->waiters, cap * sizeof *grown);
    if (grown == NULL)
      return NULL;
    it->waiters = grown;
    it->cap_waiters = cap;
  }
  coap_future *f;
  if (coap_future_new(it->loop, &f) < 0)
    return NULL;
  it->remaining--;
  it->waiters[it->n_waiters++] = coap_future_ref(f);
  as_completed_pump(it);
  return f;
}

void coap_as_completed_free(coap_as_completed *it) {
  if (it != NULL)
    as_completed_release(it);
}
