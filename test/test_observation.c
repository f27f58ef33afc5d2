/*
 * Observe (RFC 7641) end to end: an observable resource on a server
 * context and a client context observing it over loopback UDP.
 */
#include "observation_fixture.h"

#include "observation-internal.h"

#include <stdio.h>
#include <string.h>

COAP_TEST(observation, register_then_three_notifications_in_order) {
  reset_resource_state();
  fixture fx;
  fixture_start(&fx, NULL);
  coap_resource *res = add_observable(&fx, "state");
  coap_observation *obs;
  coap_request *req = observe(&fx, "/state", &obs);
  const coap_message *first = first_response(req);
  uint32_t seq0 = 0;
  cr_assert_eq(coap_options_get_observe(&first->opt, &seq0), 0,
               "the registration's answer carries Observe (§4.1)");
  payload_is(first, "0");
  cr_assert_eq(observers_now, 1, "update_observation_count(1)");
  cr_assert(coap_observation_active(obs));

  uint32_t prev = seq0;
  for (int i = 1; i <= 3; i++) {
    char text[16];
    snprintf(text, sizeof text, "%d", i);
    set_state(text);
    cr_assert_eq(coap_observable_resource_updated_state(res, NULL), 1);
    coap_future *f = next_notification(&fx, obs, 5000);
    cr_assert_eq(coap_future_error(f), 0);
    const coap_message *n = coap_future_result(f);
    payload_is(n, text);
    uint32_t seq = 0;
    cr_assert_eq(coap_options_get_observe(&n->opt, &seq), 0);
    cr_assert(coap__observe_is_fresh(prev, 0, seq, 0), "§4.4: increasing");
    prev = seq;
    cr_assert_eq(n->token_len, first->token_len, "the registration's token");
    cr_assert_arr_eq(n->token, first->token, n->token_len);
    char uri[128], want[128];
    cr_assert_geq(coap_message_get_request_uri(n, uri, sizeof uri), 0);
    snprintf(want, sizeof want, "%s/state", fx.base);
    cr_assert_str_eq(uri, want);
    coap_future_unref(f);
  }
  cr_assert_eq(observe0_renders, 4, "each notification rendered afresh");
  coap_context_stats stats;
  coap_context_get_stats(fx.server, &stats);
  cr_assert_eq(stats.requests_handled, 1, "one request, three notifications");
  coap_observation_unref(obs);
  coap_request_unref(req);
  fixture_stop(&fx);
  cr_assert_eq(observers_now, 0, "shutdown drops the observer");
}

COAP_TEST(observation, notifications_queue_in_order_until_asked_for) {
  reset_resource_state();
  fixture fx;
  fixture_start(&fx, NULL);
  coap_resource *res = add_observable(&fx, "state");
  coap_observation *obs;
  coap_request *req = observe(&fx, "/state", &obs);
  for (int i = 1; i <= 3; i++) {
    char text[16];
    snprintf(text, sizeof text, "%d", i);
    set_state(text);
    coap_observable_resource_updated_state(res, NULL);
    run_for(&fx, 30);
  }
  for (int i = 1; i <= 3; i++) {
    char text[16];
    snprintf(text, sizeof text, "%d", i);
    coap_future *f = coap_observation_next(obs);
    cr_assert(coap_future_done(f), "queued already");
    payload_is(coap_future_result(f), text);
    coap_future_unref(f);
  }
  coap_future *pending = coap_observation_next(obs);
  cr_assert_not(coap_future_done(pending));
  coap_observation_unref(obs);
  coap_request_unref(req);
  cr_assert_eq(coap_future_error(pending), COAP_ECANCELED,
               "ended when the last reference went");
  coap_future_unref(pending);
  fixture_stop(&fx);
}

static int callback_calls;
static char callback_seen[64];

static void on_notification(coap_observation *obs, const coap_message *n,
                            void *data) {
  (void)obs;
  (void)data;
  callback_calls++;
  size_t len = n->payload_len < 63 ? n->payload_len : 63;
  memcpy(callback_seen, n->payload, len);
  callback_seen[len] = '\0';
}

static int errback_err;
static uint8_t errback_code;

static void on_error(coap_observation *obs, int err, const coap_message *resp,
                     void *data) {
  (void)obs;
  (void)data;
  errback_err = err;
  errback_code = resp != NULL ? resp->code : 0;
}

/* RFC 7641 §3.2, §4.2: a 4.04 notification ends the observation on both
 * sides; it is sent without Observe and reported with the response. */
COAP_TEST(observation, unsuccessful_notification_ends_observation) {
  reset_resource_state();
  fixture fx;
  fixture_start(&fx, NULL);
  coap_resource *res = add_observable(&fx, "state");
  coap_observation *obs;
  coap_request *req = observe(&fx, "/state", &obs);
  callback_calls = 0;
  errback_err = 0;
  cr_assert_eq(coap_observation_register_callback(obs, on_notification, NULL),
               0);
  cr_assert_eq(coap_observation_register_errback(obs, on_error, NULL), 0);
  set_state("still here");
  coap_observable_resource_updated_state(res, NULL);
  coap_future *f = next_notification(&fx, obs, 5000);
  cr_assert_eq(callback_calls, 1);
  cr_assert_str_eq(callback_seen, "still here");
  coap_future_unref(f);

  gone = true;
  coap_observable_resource_updated_state(res, NULL);
  cr_assert_eq(coap_observable_resource_observation_count(res), 0,
               "the server forgets it at once");
  f = next_notification(&fx, obs, 5000);
  cr_assert_eq(observers_now, 0, "the count callback ran from the loop");
  cr_assert_eq(coap_future_error(f), COAP_ERESPONSE);
  const coap_message *why = coap_future_result(f);
  cr_assert_not_null(why);
  cr_assert_eq(why->code, COAP_CODE_NOT_FOUND);
  cr_assert_not(coap_options_has(&why->opt, COAP_OPT_OBSERVE));
  cr_assert_eq(errback_err, COAP_ERESPONSE);
  cr_assert_eq(errback_code, COAP_CODE_NOT_FOUND);
  cr_assert_eq(callback_calls, 1, "no callback for the error");
  cr_assert_not(coap_observation_active(obs));
  coap_future_unref(f);
  cr_assert_eq(coap_observable_resource_updated_state(res, NULL), 0);
  coap_observation_unref(obs);
  coap_request_unref(req);
  fixture_stop(&fx);
}

/* A resource with its own vtable that accepts with a cancellation
 * callback (aiocoap's ServerObservation.accept(cb)). */
static coap_server_observation *accepted;
static int cancellations;

static void on_cancelled(coap_server_observation *o, void *data) {
  (void)data;
  cr_assert_eq(o, accepted);
  accepted = NULL;
  cancellations++;
}

static void accept_with_callback(coap_resource *res, const coap_message *req,
                                 coap_server_observation *o) {
  (void)res;
  (void)req;
  cr_assert_eq(coap_server_observation_accept(o, on_cancelled, NULL), 0);
  cr_assert_eq(coap_server_observation_accept(o, on_cancelled, NULL),
               COAP_EINVAL, "once only");
  accepted = o;
}

static const coap_resource_vtable own_vtable = {
    .render = state_get, .add_observation = accept_with_callback};

COAP_TEST(observation, server_deregister_fires_cancellation_and_stops) {
  reset_resource_state();
  accepted = NULL;
  cancellations = 0;
  fixture fx;
  fixture_start(&fx, NULL);
  coap_resource *res;
  cr_assert_eq(coap_resource_new(&own_vtable, NULL, &res), 0);
  cr_assert_eq(coap_site_add_resource_path(fx.site, "own", res), 0);
  coap_resource_unref(res);
  coap_observation *obs;
  coap_request *req = observe(&fx, "/own", &obs);
  cr_assert(coap_options_has(&first_response(req)->opt, COAP_OPT_OBSERVE));
  cr_assert_not_null(accepted);
  set_state("1");
  cr_assert_eq(coap_server_observation_trigger(accepted, NULL), 0);
  coap_future *f = next_notification(&fx, obs, 5000);
  payload_is(coap_future_result(f), "1");
  coap_future_unref(f);

  coap_server_observation_deregister(accepted, COAP_ECANCELED);
  cr_assert_eq(cancellations, 0, "callbacks never run inside the call");
  run_for(&fx, 1);
  cr_assert_eq(cancellations, 1);
  cr_assert_null(accepted);
  /* The client hears nothing (it would re-register after Max-Age). */
  f = coap_observation_next(obs);
  run_for(&fx, 200);
  cr_assert_not(coap_future_done(f));
  cr_assert(coap_observation_active(obs));
  coap_future_unref(f);
  coap_observation_unref(obs);
  coap_request_unref(req);
  fixture_stop(&fx);
  cr_assert_eq(cancellations, 1);
}

/* RFC 7641 §3.6: active cancellation is a GET with Observe 1 and the
 * token; the server drops the observer and answers it normally. */
COAP_TEST(observation, client_cancel_sends_deregistration) {
  reset_resource_state();
  fixture fx;
  fixture_start(&fx, NULL);
  add_observable(&fx, "state");
  coap_observation *obs;
  coap_request *req = observe(&fx, "/state", &obs);
  cr_assert_eq(observers_now, 1);
  coap_future *pending = coap_observation_next(obs);
  coap_observation_cancel(obs);
  cr_assert_not(coap_observation_active(obs));
  cr_assert(wait_future(&fx, pending, 100));
  cr_assert_eq(coap_future_error(pending), COAP_EOBSERVATION_CANCELLED);
  coap_future_unref(pending);
  wait_observers(&fx, 0, 5000);
  cr_assert_eq(observers_now, 0, "update_observation_count(0)");
  cr_assert_eq(deregistrations, 1, "the server saw GET with Observe 1");
  coap_future *after = coap_observation_next(obs);
  cr_assert_eq(coap_future_error(after), COAP_EOBSERVATION_CANCELLED);
  coap_future_unref(after);
  coap_observation_cancel(obs); /* harmless again */
  coap_observation_unref(obs);
  coap_request_unref(req);
  run_for(&fx, 50);
  coap_context_stats stats;
  coap_context_get_stats(fx.client, &stats);
  cr_assert_eq(stats.rst_sent, 0, "the answer to the GET was consumed");
  fixture_stop(&fx);
}

/* RFC 7641 §3.6: a client that forgot the observation answers the next
 * notification with RST, and the server drops the observer then. */
COAP_TEST(observation, unwanted_non_notification_is_reset_and_dropped) {
  reset_resource_state();
  fixture fx;
  fixture_start(&fx, NULL);
  coap_resource *res = add_observable(&fx, "state");
  coap_observation *obs;
  coap_request *req = observe(&fx, "/state", &obs);
  cr_assert_eq(observers_now, 1);
  coap_observation_unref(obs);
  coap_request_unref(req); /* the last references: ended without a word */
  run_for(&fx, 20);
  cr_assert_eq(observers_now, 1, "the server does not know yet");
  cr_assert_eq(deregistrations, 0);
  set_state("anyone?");
  coap_observable_resource_updated_state(res, NULL);
  wait_observers(&fx, 0, 5000);
  cr_assert_eq(observers_now, 0, "RST to a NON notification removes it");
  coap_context_stats stats;
  coap_context_get_stats(fx.client, &stats);
  cr_assert_eq(stats.rst_sent, 1);
  fixture_stop(&fx);
}

/* RFC 7641 §3.3.1: with no fresh notification by the time Max-Age runs
 * out, the client registers again, with the same token, so the server
 * updates its entry instead of adding one (§4.1). */
COAP_TEST(observation, reregisters_when_max_age_runs_out) {
  reset_resource_state();
  max_age = 1;
  coap_context_config config;
  coap_context_config_default(&config);
  config.reregister_margin_ms = 100;
  fixture fx;
  fixture_start(&fx, &config);
  add_observable(&fx, "state");
  coap_observation *obs;
  coap_request *req = observe(&fx, "/state", &obs);
  int counted = count_calls;
  set_state("re");
  coap_future *f = next_notification(&fx, obs, 5000);
  coap_context_stats stats;
  coap_context_get_stats(fx.server, &stats);
  cr_assert_eq(stats.requests_handled, 2, "registered again after Max-Age");
  cr_assert_eq(coap_future_error(f), 0);
  payload_is(coap_future_result(f), "re");
  cr_assert_eq(observers_now, 1);
  cr_assert_eq(count_calls, counted, "the same entry: the count never moved");
  coap_future_unref(f);
  f = next_notification(&fx, obs, 5000);
  coap_context_get_stats(fx.server, &stats);
  cr_assert_eq(stats.requests_handled, 3, "and again");
  coap_future_unref(f);
  coap_observation_unref(obs);
  coap_request_unref(req);
  fixture_stop(&fx);
}

/* RFC 7641 §4.5: NON notifications with a CON among them every
 * notification_con_interval. */
COAP_TEST(observation, every_nth_notification_is_confirmable) {
  reset_resource_state();
  coap_context_config config;
  coap_context_config_default(&config);
  config.notification_con_interval = 3;
  fixture fx;
  fixture_start(&fx, &config);
  coap_resource *res = add_observable(&fx, "state");
  coap_observation *obs;
  coap_request *req = observe(&fx, "/state", &obs);
  int types[6];
  for (int i = 0; i < 6; i++) {
    coap_observable_resource_updated_state(res, NULL);
    coap_future *f = next_notification(&fx, obs, 5000);
    types[i] = ((const coap_message *)coap_future_result(f))->mtype;
    coap_future_unref(f);
  }
  const int want[6] = {COAP_TYPE_NON, COAP_TYPE_NON, COAP_TYPE_CON,
                       COAP_TYPE_NON, COAP_TYPE_NON, COAP_TYPE_CON};
  for (int i = 0; i < 6; i++)
    cr_assert_eq(types[i], want[i], "notification %d", i);
  coap_observation_unref(obs);
  coap_request_unref(req);
  fixture_stop(&fx);
}

/* The server's limit: one observer per resource; the second request is
 * served without Observe, so its observation reports NotObservable. */
COAP_TEST(observation, limit_serves_second_observer_without_observe) {
  reset_resource_state();
  coap_context_config config;
  coap_context_config_default(&config);
  config.max_observers_per_resource = 1;
  fixture fx;
  fixture_start(&fx, &config);
  add_observable(&fx, "state");
  coap_observation *a, *b;
  coap_request *ra = observe(&fx, "/state", &a);
  coap_request *rb = observe(&fx, "/state", &b);
  cr_assert(coap_options_has(&first_response(ra)->opt, COAP_OPT_OBSERVE));
  const coap_message *second = first_response(rb);
  cr_assert_eq(second->code, COAP_CODE_CONTENT, "served all the same");
  cr_assert_not(coap_options_has(&second->opt, COAP_OPT_OBSERVE));
  cr_assert_eq(observers_now, 1);
  cr_assert(coap_observation_active(a));
  cr_assert_not(coap_observation_active(b));
  coap_future *f = coap_observation_next(b);
  cr_assert_eq(coap_future_error(f), COAP_ENOT_OBSERVABLE);
  coap_future_unref(f);
  coap_observation_unref(a);
  coap_observation_unref(b);
  coap_request_unref(ra);
  coap_request_unref(rb);
  fixture_stop(&fx);
}

static int plain_get(coap_resource *res, coap_message *req, coap_message *resp,
                     coap_future **later) {
  (void)res;
  (void)req;
  (void)later;
  return coap_message_set_payload_string(resp, "plain");
}

COAP_TEST(observation, resource_that_is_not_observable_reports_so) {
  reset_resource_state();
  fixture fx;
  fixture_start(&fx, NULL);
  static const coap_resource_methods plain = {.render_get = plain_get};
  fixture_add(&fx, "plain", &plain, NULL);
  coap_observation *obs;
  coap_request *req = observe(&fx, "/plain", &obs);
  cr_assert_not(coap_options_has(&first_response(req)->opt, COAP_OPT_OBSERVE));
  coap_future *f = coap_observation_next(obs);
  cr_assert_eq(coap_future_error(f), COAP_ENOT_OBSERVABLE);
  coap_future_unref(f);
  coap_observation_unref(obs);
  coap_request_unref(req);
  fixture_stop(&fx);
}

/* RFC 7959 §2.6: a notification larger than a block carries the first
 * block; the client fetches the rest with GET (without Observe) before
 * handing it out. */
COAP_TEST(observation, blockwise_notification_is_completed_before_delivery) {
  reset_resource_state();
  fixture fx;
  fixture_start(&fx, NULL);
  coap_resource *res = add_observable(&fx, "big");
  char big[3000];
  for (size_t i = 0; i < sizeof big - 1; i++)
    big[i] = (char)('a' + i % 26);
  big[sizeof big - 1] = '\0';
  set_state(big);
  coap_observation *obs;
  coap_request *req = observe(&fx, "/big", &obs);
  const coap_message *first = first_response(req);
  payload_is(first, big);
  cr_assert(coap_observation_active(obs), "block 0 carried Observe");
  coap_context_stats before, after;
  coap_context_get_stats(fx.server, &before);

  for (size_t i = 0; i < sizeof big - 1; i++)
    big[i] = (char)('A' + i % 26);
  set_state(big);
  coap_observable_resource_updated_state(res, NULL);
  coap_future *f = next_notification(&fx, obs, 5000);
  cr_assert_eq(coap_future_error(f), 0);
  const coap_message *n = coap_future_result(f);
  payload_is(n, big);
  cr_assert_not(coap_options_has(&n->opt, COAP_OPT_BLOCK2));
  coap_context_get_stats(fx.server, &after);
  cr_assert_eq(after.requests_handled - before.requests_handled, 2,
               "blocks 1 and 2 asked for");
  cr_assert_eq(deregistrations, 0);
  cr_assert_eq(observers_now, 1, "fetching blocks keeps the observation");
  coap_future_unref(f);
  coap_observation_unref(obs);
  coap_request_unref(req);
  fixture_stop(&fx);
}

/* coap_observation_unref: when the application's last reference goes while
 * the rest of a blockwise notification is being fetched (RFC 7959 §2.6),
 * the fetch finishes without touching a freed observation, and the
 * observation ends: the next notification is answered with RST (RFC 7641
 * §3.6) and the server forgets the observer. */
COAP_TEST(observation, last_reference_dropped_while_fetching_blocks) {
  reset_resource_state();
  fixture fx;
  fixture_start(&fx, NULL);
  coap_resource *res = add_observable(&fx, "big");
  char big[3000];
  for (size_t i = 0; i < sizeof big - 1; i++)
    big[i] = (char)('a' + i % 26);
  big[sizeof big - 1] = '\0';
  set_state(big);
  coap_observation *obs;
  coap_request *req = observe(&fx, "/big", &obs);
  payload_is(first_response(req), big);
  coap_context_stats before, now;
  coap_context_get_stats(fx.server, &before);
  big[0] = 'Z';
  set_state(big);
  coap_observable_resource_updated_state(res, NULL);
  /* Block 1 asked for and answered by the server: block 2 still to come. */
  for (int i = 0; i < 2000; i++) {
    coap_context_get_stats(fx.server, &now);
    if (now.requests_handled > before.requests_handled)
      break;
    uv_run(&fx.loop, UV_RUN_ONCE);
  }
  cr_assert_eq(now.requests_handled, before.requests_handled + 1);
  coap_observation_unref(obs);
  coap_request_unref(req);
  run_for(&fx, 200);
  big[0] = 'Y';
  set_state(big);
  coap_observable_resource_updated_state(res, NULL);
  wait_observers(&fx, 0, 5000);
  cr_assert_eq(observers_now, 0, "the server was told with RST");
  fixture_stop(&fx);
}

static coap_message seen_request;
static int seen_rc = -1;

static void add_and_read_request(coap_resource *res, const coap_message *req,
                                 coap_server_observation *obs) {
  (void)req;
  coap_observable_resource_add_observation(res, req, obs);
  coap_message_init(&seen_request);
  seen_rc = coap_server_observation_request(obs, &seen_request);
}

/* coap_server_observation_request (observation.h) gives the observer's
 * registration: its token and options. */
COAP_TEST(observation, server_observation_request_gives_registration) {
  reset_resource_state();
  fixture fx;
  fixture_start(&fx, NULL);
  static const coap_resource_vtable vt = {
      .render = state_get, .add_observation = add_and_read_request};
  coap_resource *res;
  cr_assert_eq(coap_observable_resource_new(&vt, on_count, NULL, &res), 0);
  cr_assert_eq(coap_site_add_resource_path(fx.site, "state", res), 0);
  coap_resource_unref(res);
  coap_observation *obs;
  coap_request *req = observe(&fx, "/state", &obs);
  const coap_message *first = first_response(req);
  cr_assert_eq(seen_rc, 0);
  uint32_t observe = 1;
  cr_assert_eq(coap_options_get_observe(&seen_request.opt, &observe), 0);
  cr_assert_eq(observe, 0);
  cr_assert_eq(seen_request.token_len, first->token_len);
  cr_assert_arr_eq(seen_request.token, first->token, first->token_len);
  coap_message_clear(&seen_request);
  coap_observation_unref(obs);
  coap_request_unref(req);
  fixture_stop(&fx);
}

COAP_TEST(observation, shutdown_ends_both_sides) {
  reset_resource_state();
  fixture fx;
  fixture_start(&fx, NULL);
  add_observable(&fx, "state");
  coap_observation *obs;
  coap_request *req = observe(&fx, "/state", &obs);
  errback_err = 0;
  coap_observation_register_errback(obs, on_error, NULL);
  coap_future *f = coap_observation_next(obs);
  fixture_shutdown(&fx);
  cr_assert_eq(coap_future_error(f), COAP_ESHUTDOWN);
  cr_assert_eq(errback_err, COAP_ESHUTDOWN);
  cr_assert_eq(observers_now, 0);
  coap_future_unref(f);
  coap_observation_unref(obs);
  coap_request_unref(req);
  fixture_close(&fx);
}

/* nghttp2's failmalloc idea: every allocation along a registration, two
 * notifications and a cancellation fails in turn; nothing crashes and
 * nothing leaks. */
COAP_TEST(observation, allocation_failures_never_crash_or_leak) {
  for (long n = 0;; n++) {
    reset_resource_state();
    fixture fx;
    fixture_start(&fx, NULL);
    coap_resource *res = add_observable(&fx, "state");
    coap_message *msg = fixture_message(&fx, COAP_CODE_GET, "/state");
    coap_options_set_observe(&msg->opt, 0);
    coap_test_fail_after = n;
    coap_request *req = NULL;
    coap_observation *obs = NULL;
    if (coap_context_request(fx.client, msg, NULL, &req) == 0) {
      obs = coap_observation_ref(coap_request_observation(req));
      wait_future(&fx, coap_request_response(req), 100);
    }
    for (int i = 0; i < 2; i++) {
      coap_observable_resource_updated_state(res, NULL);
      run_for(&fx, 20);
    }
    coap_future *f = obs != NULL ? coap_observation_next(obs) : NULL;
    coap_observation_cancel(obs);
    run_for(&fx, 20);
    bool exhausted = coap_test_fail_after > 0;
    coap_test_fail_after = -1;
    coap_future_unref(f);
    coap_observation_unref(obs);
    coap_request_unref(req);
    fixture_stop(&fx);
    cr_assert_eq(coap_test_live_allocations, 0, "leak with failure %ld", n);
    if (exhausted)
      break;
  }
}

static uv_loop_t *async_loop;

typedef struct async_render {
  uv_timer_t timer;
  coap_future *future;
} async_render;

static void async_closed(uv_handle_t *h) {
  async_render *a = h->data;
  coap_future_unref(a->future);
  free(a);
}

static void free_message(void *m) {
  coap_message_free(m);
}

static void async_due(uv_timer_t *t) {
  async_render *a = t->data;
  coap_message *m;
  cr_assert_eq(coap_message_new(&m), 0);
  coap_message_set_payload(m, state, state_len);
  coap_future_resolve(a->future, m, free_message);
  uv_close((uv_handle_t *)t, async_closed);
}

static int async_get(coap_resource *res, coap_message *req, coap_message *resp,
                     coap_future **later) {
  (void)res;
  (void)req;
  (void)resp;
  async_render *a = malloc(sizeof *a);
  cr_assert_eq(coap_future_new(async_loop, &a->future), 0);
  uv_timer_init(async_loop, &a->timer);
  a->timer.data = a;
  uv_timer_start(&a->timer, async_due, 5, 0);
  *later = coap_future_ref(a->future);
  return 0;
}

COAP_TEST(observation, resource_rendering_later_notifies_in_order) {
  reset_resource_state();
  fixture fx;
  fixture_start(&fx, NULL);
  async_loop = &fx.loop;
  static const coap_resource_methods async_methods = {.render_get = async_get};
  coap_resource *res;
  cr_assert_eq(coap_observable_resource_new_methods(&async_methods, on_count,
                                                    NULL, &res),
               0);
  cr_assert_eq(coap_site_add_resource_path(fx.site, "async", res), 0);
  coap_resource_unref(res);
  set_state("a0");
  coap_observation *obs;
  coap_request *req = observe(&fx, "/async", &obs);
  cr_assert(coap_options_has(&first_response(req)->opt, COAP_OPT_OBSERVE));
  set_state("a1");
  coap_observable_resource_updated_state(res, NULL);
  /* A second change while the first is still rendering: sent after it. */
  coap_observable_resource_updated_state(res, NULL);
  set_state("a2");
  coap_future *f = next_notification(&fx, obs, 5000);
  payload_is(coap_future_result(f), "a2");
  coap_future_unref(f);
  f = next_notification(&fx, obs, 5000);
  payload_is(coap_future_result(f), "a2");
  coap_future_unref(f);
  /* Ending while a render is pending drops it cleanly. */
  coap_observable_resource_updated_state(res, NULL);
  coap_observation_unref(obs);
  coap_request_unref(req);
  fixture_stop(&fx);
  cr_assert_eq(observers_now, 0);
}
