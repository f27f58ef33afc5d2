/*
 * aiocoap-c — coap_future, the one asynchronous primitive (asyncio's Future as
 * aiocoap uses it).
 *
 * A future is pending until it is resolved with a result, failed with an
 * error code, or cancelled.  It is reference-counted: the creator holds one
 * reference, and every holder that keeps it past a call takes its own with
 * coap_future_ref.  Done callbacks never run inside the call that completes
 * the future: they are queued and run from the loop (a uv_async_t-free
 * uv_idle/uv_check pair on the future's loop), in the order added.
 */
#ifndef AIOCOAP_FUTURE_H
#define AIOCOAP_FUTURE_H

#include "common.h"
#include "error.h"

#include <stdbool.h>
#include <uv.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct coap_future coap_future;

typedef enum coap_future_state {
  COAP_FUTURE_PENDING,
  COAP_FUTURE_DONE,     /* resolved with a result */
  COAP_FUTURE_FAILED,   /* failed with an error code */
  COAP_FUTURE_CANCELLED /* cancelled; error is COAP_ECANCELED */
} coap_future_state;

/*
 * Frees a result when the future is freed: the result's owner hook (e.g.
 * coap_message_free for a response).  May be NULL for borrowed results.
 */
typedef void (*coap_future_result_free_cb)(void *result);

/*
 * Fires once when the future is done, from the loop, never from inside
 * resolve/fail/cancel.  The future is alive for the call; the callback may
 * unref it (dropping the last reference frees it after the callback returns)
 * and may add further callbacks (they are queued too).
 */
typedef void (*coap_future_done_cb)(coap_future *future, void *user_data);

/*
 * Creates a pending future on loop with one reference held by the caller.
 * Returns 0, COAP_EINVAL (loop NULL) or COAP_ENOMEM.
 */
AIOCOAP_EXTERN int coap_future_new(uv_loop_t *loop, coap_future **out);

/* A future already resolved with result (ownership as in
 * coap_future_resolve).  0, COAP_EINVAL or COAP_ENOMEM (result is then freed
 * with free_cb). */
AIOCOAP_EXTERN int coap_future_new_resolved(uv_loop_t *loop, void *result,
                                            coap_future_result_free_cb free_cb,
                                            coap_future **out);
/* A future already failed with err (< 0). */
AIOCOAP_EXTERN int coap_future_new_failed(uv_loop_t *loop, int err,
                                          coap_future **out);

/* Takes another reference; returns future. */
AIOCOAP_EXTERN coap_future *coap_future_ref(coap_future *future);
/*
 * Drops a reference; the last one frees the future and, through free_cb, its
 * result.  Callbacks not yet run when the last reference goes are dropped.
 * NULL is ignored.
 */
AIOCOAP_EXTERN void coap_future_unref(coap_future *future);

/*
 * Resolves a pending future with result; the future takes ownership of
 * result and frees it with free_cb when it is freed, unless the result was
 * taken with coap_future_take_result.  Returns 0, or COAP_EINVAL when the
 * future is not pending (result is then freed with free_cb).
 */
AIOCOAP_EXTERN int coap_future_resolve(coap_future *future, void *result,
                                       coap_future_result_free_cb free_cb);
/*
 * Fails a pending future with err (< 0).  For an unsuccessful response
 * (aiocoap's ResponseWrappingError) pass err = COAP_ERESPONSE and the
 * response as result: the future is failed, and the response stays readable
 * through coap_future_result.  Returns 0 or COAP_EINVAL (not pending, or err
 * >= 0; result is then freed).
 */
AIOCOAP_EXTERN int coap_future_fail(coap_future *future, int err, void *result,
                                    coap_future_result_free_cb free_cb);
/*
 * Cancels a pending future: the state becomes CANCELLED, the error
 * COAP_ECANCELED, and cancellation hooks (coap_future_set_cancel_hook) run at
 * once so the producer stops working.  Returns true when the future was
 * pending.
 */
AIOCOAP_EXTERN bool coap_future_cancel(coap_future *future);

/*
 * For producers: hook called synchronously from coap_future_cancel, so that,
 * e.g., a request stops retransmitting.  One hook per future; NULL clears.
 */
typedef void (*coap_future_cancel_hook)(coap_future *future, void *user_data);
AIOCOAP_EXTERN void coap_future_set_cancel_hook(coap_future *future,
                                                coap_future_cancel_hook hook,
                                                void *user_data);

/*
 * Adds cb to run when the future is done (queued on the loop at once if it
 * is done already).  Returns 0 or COAP_ENOMEM.
 */
AIOCOAP_EXTERN int coap_future_add_done_callback(coap_future *future,
                                                 coap_future_done_cb cb,
                                                 void *user_data);
/* Removes every callback added with this (cb, user_data) that has not run;
 * returns how many. */
AIOCOAP_EXTERN size_t coap_future_remove_done_callback(coap_future *future,
                                                       coap_future_done_cb cb,
                                                       void *user_data);

AIOCOAP_EXTERN coap_future_state coap_future_get_state(const coap_future *f);
AIOCOAP_EXTERN bool coap_future_done(const coap_future *future);
AIOCOAP_EXTERN bool coap_future_cancelled(const coap_future *future);
/* The result (borrowed: valid while the future lives), or NULL.  Also set
 * on a future failed with a result (ResponseWrappingError). */
AIOCOAP_EXTERN void *coap_future_result(const coap_future *future);
/* 0 while pending or resolved; the error code once failed or cancelled. */
AIOCOAP_EXTERN int coap_future_error(const coap_future *future);
/* Takes ownership of the result away from the future (it will not free it);
 * returns it, or NULL. */
AIOCOAP_EXTERN void *coap_future_take_result(coap_future *future);
/* The loop the future was created on. */
AIOCOAP_EXTERN uv_loop_t *coap_future_loop(const coap_future *future);

/* ---- Combinators: asyncio's gather, wait and as_completed ---- */

/*
 * asyncio.gather: *out (a new future, one reference for the caller)
 * resolves, with no result, once every one of the n futures has resolved;
 * it fails with the error of the first one that fails or is cancelled
 * (the others go on; read each one's own result or error).  Cancelling
 * *out cancels the n futures.  The futures are borrowed: the combinator
 * takes references of its own until they complete.  n = 0 gives a future
 * resolved at once.  0, COAP_EINVAL (NULL loop, out or future) or
 * COAP_ENOMEM.
 */
AIOCOAP_EXTERN int coap_future_gather(uv_loop_t *loop,
                                      coap_future *const *futures, size_t n,
                                      coap_future **out);

/*
 * asyncio.wait(return_when=FIRST_COMPLETED): *out resolves once any of the
 * n futures is done (resolved, failed or cancelled), with that future as
 * its result (borrowed: valid while *out lives).  Cancelling *out cancels
 * the n futures.  0, COAP_EINVAL (as above, or n = 0) or COAP_ENOMEM.
 */
AIOCOAP_EXTERN int coap_future_first_of(uv_loop_t *loop,
                                        coap_future *const *futures, size_t n,
                                        coap_future **out);

/*
 * asyncio.as_completed: an iterator over the n futures in the order they
 * complete.  Each coap_as_completed_next gives a new future (a reference
 * for the caller) that resolves with the next input to complete as its
 * result (borrowed: valid while that future lives); after n calls it
 * gives NULL.  Free the iterator with coap_as_completed_free when done
 * (futures it handed out stay valid).  0, COAP_EINVAL or COAP_ENOMEM.
 */
typedef struct coap_as_completed coap_as_completed;
AIOCOAP_EXTERN int coap_future_as_completed(uv_loop_t *loop,
                                            coap_future *const *futures,
                                            size_t n, coap_as_completed **out);
/* The next completion, or NULL when all n were handed out (or on
 * COAP_ENOMEM). */
AIOCOAP_EXTERN coap_future *coap_as_completed_next(coap_as_completed *it);
AIOCOAP_EXTERN void coap_as_completed_free(coap_as_completed *it);

/*
 * asyncio's run_until_complete: runs loop (UV_RUN_ONCE at a time) until
 * future is done.  Returns the future's error (0 when resolved), or
 * COAP_EAGAIN when the loop ran out of work first with the future pending.
 */
AIOCOAP_EXTERN int coap_run_until_complete(uv_loop_t *loop,
                                           coap_future *future);

#ifdef __cplusplus
}
#endif

#endif
