#include "test_common.h"

#include <aiocoap/future.h>

#include <uv.h>

/* Each test runs on its own loop and closes it at the end: the scheduler's
 * handles must be closed (and its memory freed) by then, or uv_loop_close
 * says UV_EBUSY. */
static uv_loop_t loop;

static void setup_loop(void) {
  coap_test_init();
  cr_assert_eq(uv_loop_init(&loop), 0);
}

static void close_loop(void) {
  int rc = uv_loop_close(&loop);
  for (int i = 0; rc == UV_EBUSY && i < 100; i++) {
    uv_run(&loop, UV_RUN_NOWAIT);
    rc = uv_loop_close(&loop);
  }
  cr_assert_eq(rc, 0, "loop still has handles: %s", uv_err_name(rc));
}

/* The leak check runs at the end of the body: criterion ignores failed
 * assertions in .fini hooks. */
#define FUTURE_TEST(name, ...)                                                 \
  static void future_##name##_body(void);                                      \
  Test(future, name, .init = setup_loop, ##__VA_ARGS__) {                      \
    future_##name##_body();                                                    \
    coap_test_check_leaks();                                                   \
  }                                                                            \
  static void future_##name##_body(void)

static int results_freed;

static void count_free(void *result) {
  (void)result;
  results_freed++;
}

static int result_value = 42;

typedef struct recorder {
  int calls;
  int log[16];
  size_t log_len;
  coap_future_state state_seen;
} recorder;

static void record(coap_future *f, void *user_data) {
  recorder *r = user_data;
  r->calls++;
  r->state_seen = coap_future_get_state(f);
}

FUTURE_TEST(resolve_moves_pending_to_done) {
  coap_future *f;
  cr_assert_eq(coap_future_new(&loop, &f), 0);
  cr_expect_eq(coap_future_get_state(f), COAP_FUTURE_PENDING);
  cr_expect_not(coap_future_done(f));
  cr_expect_eq(coap_future_error(f), 0);
  cr_expect_null(coap_future_result(f));
  cr_expect_eq(coap_future_loop(f), &loop);

  cr_expect_eq(coap_future_resolve(f, &result_value, NULL), 0);
  cr_expect_eq(coap_future_get_state(f), COAP_FUTURE_DONE);
  cr_expect(coap_future_done(f));
  cr_expect_not(coap_future_cancelled(f));
  cr_expect_eq(coap_future_error(f), 0);
  cr_expect_eq(coap_future_result(f), &result_value);

  /* A done future stays as it is; a late result is freed, not leaked. */
  results_freed = 0;
  cr_expect_eq(coap_future_resolve(f, &result_value, count_free), COAP_EINVAL);
  cr_expect_eq(results_freed, 1);
  cr_expect_eq(coap_future_fail(f, COAP_ETIMEDOUT, NULL, NULL), COAP_EINVAL);
  cr_expect_not(coap_future_cancel(f));
  cr_expect_eq(coap_future_get_state(f), COAP_FUTURE_DONE);
  coap_future_unref(f);
  close_loop();
}

FUTURE_TEST(fail_sets_error_code) {
  coap_future *f;
  cr_assert_eq(coap_future_new(&loop, &f), 0);
  results_freed = 0;
  cr_expect_eq(coap_future_fail(f, 0, &result_value, count_free), COAP_EINVAL,
               "an error code must be negative");
  cr_expect_eq(results_freed, 1);
  cr_expect_eq(coap_future_get_state(f), COAP_FUTURE_PENDING);
  cr_expect_eq(coap_future_fail(f, COAP_ETIMEDOUT, NULL, NULL), 0);
  cr_expect_eq(coap_future_get_state(f), COAP_FUTURE_FAILED);
  cr_expect(coap_future_done(f));
  cr_expect_eq(coap_future_error(f), COAP_ETIMEDOUT);
  cr_expect_null(coap_future_result(f));
  cr_expect_eq(coap_future_resolve(f, NULL, NULL), COAP_EINVAL);
  coap_future_unref(f);
  close_loop();
}

/* aiocoap's ResponseWrappingError: failed, with the response readable. */
FUTURE_TEST(fail_with_result_keeps_response_readable) {
  coap_future *f;
  cr_assert_eq(coap_future_new(&loop, &f), 0);
  results_freed = 0;
  cr_expect_eq(coap_future_fail(f, COAP_ERESPONSE, &result_value, count_free),
               0);
  cr_expect_eq(coap_future_get_state(f), COAP_FUTURE_FAILED);
  cr_expect_eq(coap_future_error(f), COAP_ERESPONSE);
  cr_expect_eq(coap_future_result(f), &result_value);
  cr_expect_eq(results_freed, 0);
  coap_future_unref(f);
  cr_expect_eq(results_freed, 1);
  close_loop();
}

static int hook_calls;

static void cancel_hook(coap_future *f, void *user_data) {
  hook_calls++;
  cr_expect_eq(user_data, &hook_calls);
  cr_expect(coap_future_cancelled(f), "the state is set before the hook");
  cr_expect_eq(coap_future_resolve(f, NULL, NULL), COAP_EINVAL);
}

FUTURE_TEST(cancel_runs_hook_once_synchronously) {
  coap_future *f;
  recorder r = {0};
  cr_assert_eq(coap_future_new(&loop, &f), 0);
  hook_calls = 0;
  coap_future_set_cancel_hook(f, cancel_hook, &hook_calls);
  cr_assert_eq(coap_future_add_done_callback(f, record, &r), 0);
  cr_expect(coap_future_cancel(f));
  cr_expect_eq(hook_calls, 1);
  cr_expect_eq(r.calls, 0, "done callbacks are queued, not run");
  cr_expect_eq(coap_future_get_state(f), COAP_FUTURE_CANCELLED);
  cr_expect(coap_future_cancelled(f));
  cr_expect_eq(coap_future_error(f), COAP_ECANCELED);
  cr_expect_not(coap_future_cancel(f));
  cr_expect_eq(hook_calls, 1);
  uv_run(&loop, UV_RUN_NOWAIT);
  cr_expect_eq(r.calls, 1);
  cr_expect_eq(r.state_seen, COAP_FUTURE_CANCELLED);
  coap_future_unref(f);
  close_loop();
}

FUTURE_TEST(cancel_hook_not_called_after_resolve) {
  coap_future *f;
  cr_assert_eq(coap_future_new(&loop, &f), 0);
  hook_calls = 0;
  coap_future_set_cancel_hook(f, cancel_hook, &hook_calls);
  cr_expect_eq(coap_future_resolve(f, NULL, NULL), 0);
  cr_expect_not(coap_future_cancel(f));
  cr_expect_eq(hook_calls, 0);
  coap_future_unref(f);
  close_loop();
}

static void unref_hook(coap_future *f, void *user_data) {
  (void)user_data;
  hook_calls++;
  coap_future_unref(f);
}

FUTURE_TEST(cancel_hook_may_drop_a_reference) {
  coap_future *f;
  cr_assert_eq(coap_future_new(&loop, &f), 0);
  coap_future_ref(f); /* the producer's reference, dropped by the hook */
  hook_calls = 0;
  coap_future_set_cancel_hook(f, unref_hook, NULL);
  cr_expect(coap_future_cancel(f));
  cr_expect_eq(hook_calls, 1);
  cr_expect(coap_future_cancelled(f));
  coap_future_unref(f);
  close_loop();
}

FUTURE_TEST(callbacks_do_not_run_inside_resolve) {
  coap_future *f;
  recorder r = {0};
  cr_assert_eq(coap_future_new(&loop, &f), 0);
  cr_assert_eq(coap_future_add_done_callback(f, record, &r), 0);
  cr_expect_eq(coap_future_resolve(f, NULL, NULL), 0);
  cr_expect_eq(r.calls, 0);
  uv_run(&loop, UV_RUN_NOWAIT);
  cr_expect_eq(r.calls, 1);
  cr_expect_eq(r.state_seen, COAP_FUTURE_DONE);
  uv_run(&loop, UV_RUN_NOWAIT);
  cr_expect_eq(r.calls, 1, "a callback fires once");
  coap_future_unref(f);
  close_loop();
}

typedef struct ordered {
  recorder *r;
  int id;
} ordered;

static void log_id(coap_future *f, void *user_data) {
  (void)f;
  ordered *o = user_data;
  o->r->log[o->r->log_len++] = o->id;
}

FUTURE_TEST(callbacks_run_in_order_added) {
  coap_future *f;
  recorder r = {0};
  ordered o[7];
  cr_assert_eq(coap_future_new(&loop, &f), 0);
  /* More than the two inline slots, so the overflow array is used too. */
  for (int i = 0; i < 7; i++) {
    o[i] = (ordered){&r, i};
    cr_assert_eq(coap_future_add_done_callback(f, log_id, &o[i]), 0);
  }
  cr_expect_eq(coap_future_remove_done_callback(f, log_id, &o[3]), 1);
  cr_expect_eq(coap_future_remove_done_callback(f, log_id, &o[3]), 0);
  cr_expect_eq(coap_future_fail(f, COAP_ERESET, NULL, NULL), 0);
  uv_run(&loop, UV_RUN_NOWAIT);
  int expected[] = {0, 1, 2, 4, 5, 6};
  cr_assert_eq(r.log_len, 6);
  for (size_t i = 0; i < 6; i++)
    cr_expect_eq(r.log[i], expected[i]);
  coap_future_unref(f);
  close_loop();
}

FUTURE_TEST(futures_complete_in_fifo_order) {
  coap_future *a, *b;
  recorder r = {0};
  ordered oa = {&r, 1}, ob = {&r, 2};
  cr_assert_eq(coap_future_new(&loop, &a), 0);
  cr_assert_eq(coap_future_new(&loop, &b), 0);
  coap_future_add_done_callback(a, log_id, &oa);
  coap_future_add_done_callback(b, log_id, &ob);
  coap_future_resolve(b, NULL, NULL);
  coap_future_resolve(a, NULL, NULL);
  uv_run(&loop, UV_RUN_NOWAIT);
  cr_assert_eq(r.log_len, 2);
  cr_expect_eq(r.log[0], 2);
  cr_expect_eq(r.log[1], 1);
  coap_future_unref(a);
  coap_future_unref(b);
  close_loop();
}

FUTURE_TEST(callback_added_after_done_is_queued) {
  coap_future *f;
  recorder r = {0};
  cr_assert_eq(coap_future_new_resolved(&loop, &result_value, NULL, &f), 0);
  uv_run(&loop, UV_RUN_NOWAIT);
  cr_assert_eq(coap_future_add_done_callback(f, record, &r), 0);
  cr_expect_eq(r.calls, 0);
  uv_run(&loop, UV_RUN_NOWAIT);
  cr_expect_eq(r.calls, 1);
  coap_future_unref(f);
  close_loop();
}

FUTURE_TEST(new_failed_and_new_resolved) {
  coap_future *f;
  cr_expect_eq(coap_future_new_failed(&loop, 5, &f), COAP_EINVAL);
  cr_assert_eq(coap_future_new_failed(&loop, COAP_ENOT_FOUND, &f), 0);
  cr_expect_eq(coap_future_get_state(f), COAP_FUTURE_FAILED);
  cr_expect_eq(coap_future_error(f), COAP_ENOT_FOUND);
  coap_future_unref(f);
  results_freed = 0;
  cr_assert_eq(coap_future_new_resolved(&loop, &result_value, count_free, &f),
               0);
  cr_expect_eq(coap_future_result(f), &result_value);
  coap_future_unref(f);
  cr_expect_eq(results_freed, 1);
  cr_expect_eq(coap_future_new(NULL, &f), COAP_EINVAL);
  close_loop();
}

static void unref_in_callback(coap_future *f, void *user_data) {
  recorder *r = user_data;
  r->calls++;
  cr_expect_eq(results_freed, 0, "freed only after the callbacks");
  coap_future_unref(f);
}

FUTURE_TEST(callback_may_drop_last_reference) {
  coap_future *f;
  recorder r = {0}, second = {0};
  cr_assert_eq(coap_future_new(&loop, &f), 0);
  cr_assert_eq(coap_future_add_done_callback(f, unref_in_callback, &r), 0);
  cr_assert_eq(coap_future_add_done_callback(f, record, &second), 0);
  results_freed = 0;
  coap_future_resolve(f, &result_value, count_free);
  uv_run(&loop, UV_RUN_NOWAIT);
  cr_expect_eq(r.calls, 1);
  cr_expect_eq(second.calls, 1, "the callbacks already due still run");
  cr_expect_eq(results_freed, 1, "the result is freed exactly once");
  close_loop();
}

FUTURE_TEST(last_unref_drops_callbacks_not_run) {
  coap_future *f;
  recorder r = {0};
  cr_assert_eq(coap_future_new(&loop, &f), 0);
  coap_future_add_done_callback(f, record, &r);
  coap_future_resolve(f, NULL, NULL);
  coap_future_unref(f);
  uv_run(&loop, UV_RUN_NOWAIT);
  cr_expect_eq(r.calls, 0);
  close_loop();
}

typedef struct chain {
  coap_future *other;
  recorder *r;
  int adds_left;
} chain;

static void add_again(coap_future *f, void *user_data) {
  chain *c = user_data;
  c->r->calls++;
  if (c->adds_left-- > 0)
    cr_expect_eq(coap_future_add_done_callback(f, add_again, c), 0);
}

FUTURE_TEST(callback_may_add_callbacks) {
  coap_future *f;
  recorder r = {0};
  chain c = {NULL, &r, 3};
  cr_assert_eq(coap_future_new_resolved(&loop, NULL, NULL, &f), 0);
  coap_future_add_done_callback(f, add_again, &c);
  /* Each added callback waits for a later drain, as asyncio's call_soon
   * from a callback does; run_until_complete lets them all run. */
  cr_expect_eq(coap_run_until_complete(&loop, f), 0);
  cr_expect_eq(r.calls, 4);
  coap_future_unref(f);
  close_loop();
}

static void resolve_and_cancel_others(coap_future *f, void *user_data) {
  (void)f;
  chain *c = user_data;
  c->r->calls++;
  cr_expect_eq(coap_future_resolve(c->other, NULL, NULL), 0);
  cr_expect(coap_future_cancel(f) == false);
}

FUTURE_TEST(callback_may_resolve_other_futures) {
  coap_future *a, *b;
  recorder r = {0}, rb = {0};
  cr_assert_eq(coap_future_new(&loop, &a), 0);
  cr_assert_eq(coap_future_new(&loop, &b), 0);
  chain c = {b, &r, 0};
  coap_future_add_done_callback(a, resolve_and_cancel_others, &c);
  coap_future_add_done_callback(b, record, &rb);
  coap_future_resolve(a, NULL, NULL);
  cr_expect_eq(coap_run_until_complete(&loop, b), 0);
  cr_expect_eq(r.calls, 1);
  cr_expect_eq(rb.calls, 1);
  coap_future_unref(a);
  coap_future_unref(b);
  close_loop();
}

FUTURE_TEST(take_result_transfers_ownership) {
  coap_future *f;
  results_freed = 0;
  cr_assert_eq(coap_future_new_resolved(&loop, &result_value, count_free, &f),
               0);
  cr_expect_eq(coap_future_take_result(f), &result_value);
  cr_expect_null(coap_future_result(f));
  cr_expect_null(coap_future_take_result(f));
  coap_future_unref(f);
  cr_expect_eq(results_freed, 0);
  close_loop();
}

static void resolve_on_timer(uv_timer_t *timer) {
  coap_future *f = timer->data;
  coap_future_resolve(f, &result_value, NULL);
  uv_close((uv_handle_t *)timer, NULL);
}

FUTURE_TEST(run_until_complete_waits_for_timer) {
  coap_future *f;
  recorder r = {0};
  uv_timer_t timer;
  cr_assert_eq(coap_future_new(&loop, &f), 0);
  coap_future_add_done_callback(f, record, &r);
  uv_timer_init(&loop, &timer);
  timer.data = f;
  uv_timer_start(&timer, resolve_on_timer, 10, 0);
  cr_expect_eq(coap_run_until_complete(&loop, f), 0);
  cr_expect_eq(coap_future_result(f), &result_value);
  cr_expect_eq(r.calls, 1, "callbacks already waiting have run");
  coap_future_unref(f);
  uv_run(&loop, UV_RUN_DEFAULT);
  close_loop();
}

static void fail_on_timer(uv_timer_t *timer) {
  coap_future_fail(timer->data, COAP_ETIMEDOUT, NULL, NULL);
  uv_close((uv_handle_t *)timer, NULL);
}

FUTURE_TEST(run_until_complete_returns_error) {
  coap_future *f;
  uv_timer_t timer;
  cr_assert_eq(coap_future_new(&loop, &f), 0);
  uv_timer_init(&loop, &timer);
  timer.data = f;
  uv_timer_start(&timer, fail_on_timer, 1, 0);
  cr_expect_eq(coap_run_until_complete(&loop, f), COAP_ETIMEDOUT);
  coap_future_unref(f);
  uv_run(&loop, UV_RUN_DEFAULT);
  close_loop();
}

FUTURE_TEST(run_until_complete_eagain_when_loop_runs_dry) {
  coap_future *f;
  cr_assert_eq(coap_future_new(&loop, &f), 0);
  /* The scheduler's handles alone keep nothing alive. */
  cr_expect_eq(coap_run_until_complete(&loop, f), COAP_EAGAIN);
  cr_expect_eq(coap_future_get_state(f), COAP_FUTURE_PENDING);
  coap_future_unref(f);
  close_loop();
}

static void nothing(coap_future *f, void *user_data) {
  (void)f;
  (void)user_data;
}

FUTURE_TEST(steady_state_reuses_futures) {
  coap_future *keeper;
  cr_assert_eq(coap_future_new(&loop, &keeper), 0);
  for (int round = 0; round < 2; round++) {
    long before = coap_test_total_allocations;
    for (int i = 0; i < 1000; i++) {
      coap_future *f;
      cr_assert_eq(coap_future_new(&loop, &f), 0);
      coap_future_add_done_callback(f, nothing, NULL);
      coap_future_add_done_callback(f, nothing, NULL);
      coap_future_resolve(f, NULL, NULL);
      uv_run(&loop, UV_RUN_NOWAIT);
      coap_future_unref(f);
    }
    /* Round 0 warms the free list up; round 1 must not allocate. */
    if (round == 1)
      cr_expect_eq(coap_test_total_allocations, before,
                   "%ld allocations in steady state",
                   coap_test_total_allocations - before);
  }
  coap_future_unref(keeper);
  close_loop();
}

FUTURE_TEST(separate_loops_have_separate_schedulers) {
  uv_loop_t other;
  coap_future *a, *b;
  recorder ra = {0}, rb = {0};
  cr_assert_eq(uv_loop_init(&other), 0);
  cr_assert_eq(coap_future_new(&loop, &a), 0);
  cr_assert_eq(coap_future_new(&other, &b), 0);
  cr_expect_eq(coap_future_loop(b), &other);
  coap_future_add_done_callback(a, record, &ra);
  coap_future_add_done_callback(b, record, &rb);
  coap_future_resolve(a, NULL, NULL);
  coap_future_resolve(b, NULL, NULL);
  uv_run(&loop, UV_RUN_NOWAIT);
  cr_expect_eq(ra.calls, 1);
  cr_expect_eq(rb.calls, 0);
  uv_run(&other, UV_RUN_NOWAIT);
  cr_expect_eq(rb.calls, 1);
  coap_future_unref(a);
  coap_future_unref(b);
  uv_run(&other, UV_RUN_NOWAIT);
  cr_expect_eq(uv_loop_close(&other), 0);
  close_loop();
}

FUTURE_TEST(scheduler_can_come_back_while_closing) {
  coap_future *f;
  cr_assert_eq(coap_future_new(&loop, &f), 0);
  coap_future_unref(f); /* the scheduler's handles are closing now */
  recorder r = {0};
  cr_assert_eq(coap_future_new_resolved(&loop, NULL, NULL, &f), 0);
  coap_future_add_done_callback(f, record, &r);
  uv_run(&loop, UV_RUN_NOWAIT);
  cr_expect_eq(r.calls, 1);
  coap_future_unref(f);
  close_loop();
}

FUTURE_TEST(allocation_failures_return_enomem) {
  coap_future *f;
  coap_test_fail_after = 0;
  cr_expect_eq(coap_future_new(&loop, &f), COAP_ENOMEM, "scheduler");
  coap_test_fail_after = 1;
  cr_expect_eq(coap_future_new(&loop, &f), COAP_ENOMEM, "future");
  uv_run(&loop, UV_RUN_NOWAIT);
  results_freed = 0;
  coap_test_fail_after = 0;
  cr_expect_eq(coap_future_new_resolved(&loop, &result_value, count_free, &f),
               COAP_ENOMEM);
  cr_expect_eq(results_freed, 1, "the result is freed on failure");
  coap_test_fail_after = -1;

  cr_assert_eq(coap_future_new(&loop, &f), 0);
  cr_expect_eq(coap_future_add_done_callback(f, nothing, NULL), 0);
  cr_expect_eq(coap_future_add_done_callback(f, nothing, NULL), 0);
  coap_test_fail_after = 0;
  cr_expect_eq(coap_future_add_done_callback(f, nothing, NULL), COAP_ENOMEM,
               "the third callback needs the overflow array");
  coap_test_fail_after = -1;
  coap_future_resolve(f, NULL, NULL);
  cr_expect_eq(coap_run_until_complete(&loop, f), 0);
  coap_future_unref(f);
  close_loop();
}

FUTURE_TEST(removed_callback_does_not_run) {
  coap_future *f;
  recorder r = {0}, kept = {0};
  cr_assert_eq(coap_future_new(&loop, &f), 0);
  coap_future_add_done_callback(f, record, &r);
  coap_future_add_done_callback(f, record, &kept);
  coap_future_resolve(f, NULL, NULL);
  /* Already queued: removing still wins, as asyncio's does. */
  cr_expect_eq(coap_future_remove_done_callback(f, record, &r), 1);
  uv_run(&loop, UV_RUN_NOWAIT);
  cr_expect_eq(r.calls, 0);
  cr_expect_eq(kept.calls, 1);
  cr_expect_eq(coap_future_remove_done_callback(f, record, &kept), 0);
  coap_future_unref(f);
  close_loop();
}

static void cancel_other(coap_future *f, void *user_data) {
  (void)f;
  chain *c = user_data;
  c->r->calls++;
  cr_expect(coap_future_cancel(c->other));
  cr_expect_eq(coap_future_remove_done_callback(c->other, record, c->r), 1);
}

FUTURE_TEST(callback_may_cancel_and_remove_on_other_future) {
  coap_future *a, *b;
  recorder r = {0}, rb = {0};
  cr_assert_eq(coap_future_new(&loop, &a), 0);
  cr_assert_eq(coap_future_new(&loop, &b), 0);
  chain c = {b, &r, 0};
  coap_future_add_done_callback(a, cancel_other, &c);
  coap_future_add_done_callback(b, record, &r);
  coap_future_add_done_callback(b, record, &rb);
  coap_future_resolve(a, NULL, NULL);
  cr_expect_eq(coap_run_until_complete(&loop, b), COAP_ECANCELED);
  cr_expect_eq(r.calls, 1, "only cancel_other counted on r");
  cr_expect_eq(rb.calls, 1);
  coap_future_unref(a);
  coap_future_unref(b);
  close_loop();
}

/* A future completed in a phase after libuv has reckoned its poll timeout
 * (a prepare callback, as the UDP transport's flush is), with nothing else
 * to wake the loop: coap_run_until_complete must still return, not block
 * in poll until some unrelated timer fires. */
static void never_due(uv_timer_t *t) {
  (void)t;
}

static void fail_from_prepare(uv_prepare_t *p) {
  coap_future_fail(p->data, COAP_ENETUNREACH, NULL, NULL);
  uv_prepare_stop(p);
}

COAP_TEST(future, run_until_complete_returns_when_completed_in_prepare,
          .timeout = 10) {
  uv_loop_t loop;
  cr_assert_eq(uv_loop_init(&loop), 0);
  coap_future *f;
  cr_assert_eq(coap_future_new(&loop, &f), 0);
  uv_prepare_t prepare;
  uv_prepare_init(&loop, &prepare);
  prepare.data = f;
  uv_prepare_start(&prepare, fail_from_prepare);
  /* A far timer stands for the dedup expiry that once woke such loops. */
  uv_timer_t far;
  uv_timer_init(&loop, &far);
  uv_timer_start(&far, never_due, 3600 * 1000, 0);
  uint64_t t0 = uv_hrtime();
  cr_assert_eq(coap_run_until_complete(&loop, f), COAP_ENETUNREACH);
  cr_assert_lt(uv_hrtime() - t0, 1000000000u, "returned at once");
  uv_close((uv_handle_t *)&prepare, NULL);
  uv_close((uv_handle_t *)&far, NULL);
  coap_future_unref(f);
  uv_run(&loop, UV_RUN_DEFAULT);
  cr_assert_eq(uv_loop_close(&loop), 0);
}
