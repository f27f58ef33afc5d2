/*
 * The future combinators: gather, first_of, as_completed (asyncio's
 * gather, wait(FIRST_COMPLETED) and as_completed), alone and over real
 * requests as aiocoap's guided tour runs them in parallel.
 */
#include "context_fixture.h"

#include <string.h>

static uv_loop_t loop;

static void loop_start(void) {
  cr_assert_eq(uv_loop_init(&loop), 0);
}

static void loop_finish(void) {
  uv_run(&loop, UV_RUN_DEFAULT);
  cr_assert_eq(uv_loop_close(&loop), 0);
}

static coap_future *pending(void) {
  coap_future *f;
  cr_assert_eq(coap_future_new(&loop, &f), 0);
  return f;
}

COAP_TEST(combinators, gather_resolves_when_all_have) {
  loop_start();
  coap_future *in[3] = {pending(), pending(), pending()};
  coap_future *all;
  cr_assert_eq(coap_future_gather(&loop, in, 3, &all), 0);
  coap_future_resolve(in[2], NULL, NULL);
  coap_future_resolve(in[0], NULL, NULL);
  uv_run(&loop, UV_RUN_NOWAIT);
  cr_assert_not(coap_future_done(all), "one still pending");
  coap_future_resolve(in[1], NULL, NULL);
  cr_assert_eq(coap_run_until_complete(&loop, all), 0);
  for (int i = 0; i < 3; i++)
    coap_future_unref(in[i]);
  coap_future_unref(all);
  loop_finish();
}

COAP_TEST(combinators, gather_fails_with_the_first_failure) {
  loop_start();
  coap_future *in[2] = {pending(), pending()};
  coap_future *all;
  cr_assert_eq(coap_future_gather(&loop, in, 2, &all), 0);
  coap_future_fail(in[1], COAP_ETIMEDOUT, NULL, NULL);
  cr_assert_eq(coap_run_until_complete(&loop, all), COAP_ETIMEDOUT);
  cr_assert_not(coap_future_done(in[0]), "the others go on");
  coap_future_resolve(in[0], NULL, NULL);
  for (int i = 0; i < 2; i++)
    coap_future_unref(in[i]);
  coap_future_unref(all);
  loop_finish();
}

COAP_TEST(combinators, cancelling_gather_cancels_the_inputs) {
  loop_start();
  coap_future *in[2] = {pending(), pending()};
  coap_future *all;
  cr_assert_eq(coap_future_gather(&loop, in, 2, &all), 0);
  cr_assert(coap_future_cancel(all));
  cr_assert(coap_future_cancelled(in[0]));
  cr_assert(coap_future_cancelled(in[1]));
  for (int i = 0; i < 2; i++)
    coap_future_unref(in[i]);
  coap_future_unref(all);
  loop_finish();
}

COAP_TEST(combinators, gather_of_none_is_done_at_once) {
  loop_start();
  coap_future *all;
  cr_assert_eq(coap_future_gather(&loop, NULL, 0, &all), 0);
  cr_assert(coap_future_done(all));
  coap_future_unref(all);
  cr_assert_eq(coap_future_first_of(&loop, NULL, 0, &all), COAP_EINVAL);
  loop_finish();
}

COAP_TEST(combinators, first_of_gives_the_first_done) {
  loop_start();
  coap_future *in[3] = {pending(), pending(), pending()};
  coap_future *first;
  cr_assert_eq(coap_future_first_of(&loop, in, 3, &first), 0);
  coap_future_fail(in[1], COAP_ERESET, NULL, NULL);
  coap_future_resolve(in[2], NULL, NULL);
  cr_assert_eq(coap_run_until_complete(&loop, first), 0);
  cr_assert_eq(coap_future_result(first), in[1]);
  coap_future_resolve(in[0], NULL, NULL);
  for (int i = 0; i < 3; i++)
    coap_future_unref(in[i]);
  coap_future_unref(first);
  loop_finish();
}

COAP_TEST(combinators, as_completed_yields_in_completion_order) {
  loop_start();
  coap_future *in[3] = {pending(), pending(), pending()};
  coap_as_completed *it;
  cr_assert_eq(coap_future_as_completed(&loop, in, 3, &it), 0);
  coap_future *a = coap_as_completed_next(it); /* asked before any is done */
  coap_future_resolve(in[2], NULL, NULL);
  coap_future_resolve(in[0], NULL, NULL);
  cr_assert_eq(coap_run_until_complete(&loop, a), 0);
  cr_assert_eq(coap_future_result(a), in[2]);
  coap_future *b = coap_as_completed_next(it);
  cr_assert_eq(coap_run_until_complete(&loop, b), 0);
  cr_assert_eq(coap_future_result(b), in[0]);
  coap_future *c = coap_as_completed_next(it);
  coap_future_fail(in[1], COAP_ECANCELED, NULL, NULL);
  cr_assert_eq(coap_run_until_complete(&loop, c), 0);
  cr_assert_eq(coap_future_result(c), in[1]);
  cr_assert_null(coap_as_completed_next(it), "all three handed out");
  coap_as_completed_free(it);
  coap_future_unref(a);
  coap_future_unref(b);
  coap_future_unref(c);
  for (int i = 0; i < 3; i++)
    coap_future_unref(in[i]);
  loop_finish();
}

/* The tour's parallel requests: three GETs at once, each printed as it
 * arrives (aiocoap: `for f in asyncio.as_completed(...)`). */
static int get_text(coap_resource *res, coap_message *req, coap_message *resp,
                    coap_future **later) {
  (void)req;
  (void)later;
  return coap_message_set_payload_string(resp, res->user_data);
}

COAP_TEST(combinators, parallel_requests_as_in_the_tour) {
  fixture fx;
  fixture_start(&fx, NULL);
  static const coap_resource_methods m = {.render_get = get_text};
  fixture_add(&fx, "a", &m, "A");
  fixture_add(&fx, "b", &m, "B");
  fixture_add(&fx, "c", &m, "C");
  const char *paths[3] = {"/a", "/b", "/c"};
  coap_request *reqs[3];
  coap_future *responses[3];
  for (int i = 0; i < 3; i++) {
    cr_assert_eq(coap_context_request(
                     fx.client, fixture_message(&fx, COAP_CODE_GET, paths[i]),
                     NULL, &reqs[i]),
                 0);
    responses[i] = coap_request_response(reqs[i]);
  }
  coap_as_completed *it;
  cr_assert_eq(coap_future_as_completed(&fx.loop, responses, 3, &it), 0);
  char seen[4] = {0};
  coap_future *next;
  for (int i = 0; (next = coap_as_completed_next(it)) != NULL; i++) {
    cr_assert_eq(coap_run_until_complete(&fx.loop, next), 0);
    const coap_message *r = coap_future_result(coap_future_result(next));
    cr_assert_eq(r->payload_len, 1);
    seen[i] = (char)r->payload[0];
    coap_future_unref(next);
  }
  coap_as_completed_free(it);
  cr_assert(strchr(seen, 'A') && strchr(seen, 'B') && strchr(seen, 'C'),
            "all three arrived: %s", seen);
  for (int i = 0; i < 3; i++)
    coap_request_unref(reqs[i]);
  fixture_stop(&fx);
}
