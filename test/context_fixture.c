#include "context_fixture.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

void fixture_start(fixture *fx, const coap_context_config *config) {
  memset(fx, 0, sizeof *fx);
  cr_assert_eq(uv_loop_init(&fx->loop), 0);
  cr_assert_eq(coap_site_new(&fx->site), 0);
  cr_assert_eq(coap_context_create_server_context(
                   &fx->loop, fx->site, "[::1]:0", config, &fx->server),
               0);
  cr_assert_eq(
      coap_context_create_client_context(&fx->loop, config, &fx->client), 0);
  struct sockaddr_in6 addr;
  cr_assert_eq(coap_context_local_address(fx->server, &addr), 0);
  fx->port = ntohs(addr.sin6_port);
  snprintf(fx->base, sizeof fx->base, "coap://[::1]:%u", fx->port);
}

static void on_shutdown(coap_context *ctx, void *data) {
  (void)ctx;
  (*(int *)data)++;
}

void fixture_shutdown(fixture *fx) {
  int closed = 0;
  coap_context_shutdown(fx->client, on_shutdown, &closed);
  coap_context_shutdown(fx->server, on_shutdown, &closed);
  uv_run(&fx->loop, UV_RUN_DEFAULT);
  cr_expect_eq(closed, 2, "both contexts closed");
}

void fixture_close(fixture *fx) {
  coap_site_unref(fx->site);
  uv_run(&fx->loop, UV_RUN_DEFAULT);
  int rc = uv_loop_close(&fx->loop);
  if (rc != 0) /* say what is left: libuv names each handle's type */
    uv_print_all_handles(&fx->loop, stderr);
  cr_expect_eq(rc, 0, "nothing left on the loop");
}

void fixture_stop(fixture *fx) {
  fixture_shutdown(fx);
  fixture_close(fx);
}

coap_resource *fixture_add(fixture *fx, const char *path,
                           const coap_resource_methods *methods, void *data) {
  coap_resource *res;
  cr_assert_eq(coap_resource_new_methods(methods, data, &res), 0);
  cr_assert_eq(coap_site_add_resource_path(fx->site, path, res), 0);
  coap_resource_unref(res);
  return res;
}

coap_message *fixture_message(fixture *fx, uint8_t code, const char *path) {
  coap_message *msg;
  cr_assert_eq(coap_message_new(&msg), 0);
  msg->code = code;
  char uri[256];
  snprintf(uri, sizeof uri, "%s%s", fx->base, path);
  cr_assert_eq(coap_message_set_request_uri(msg, uri, true), 0);
  return msg;
}

static void on_limit(uv_timer_t *timer) {
  *(bool *)timer->data = true;
}

void fixture_run_until_at(fixture *fx, const bool *flag, uint64_t limit_ms,
                          const char *what, const char *file, int line) {
  fixture_run_for_or_until(fx, flag, limit_ms);
  if (!*flag)
    coap_test_note("%s:%d: waited %llu ms of loop time for %s; it did not "
                 "happen",
                 file, line, (unsigned long long)limit_ms, what);
}

void fixture_run_for_or_until(fixture *fx, const bool *flag,
                              uint64_t limit_ms) {
  bool expired = false;
  uv_timer_t limit;
  uv_timer_init(&fx->loop, &limit);
  limit.data = &expired;
  uv_timer_start(&limit, on_limit, limit_ms, 0);
  while (!*flag && !expired)
    uv_run(&fx->loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&limit, NULL);
  uv_run(&fx->loop, UV_RUN_NOWAIT);
}

static void on_done(coap_future *f, void *data) {
  (void)f;
  *(bool *)data = true;
}

int fixture_request_params(fixture *fx, coap_message *msg,
                           const coap_request_params *params,
                           coap_message **resp, uint64_t limit_ms) {
  coap_request *req;
  int rc = coap_context_request(fx->client, msg, params, &req);
  if (rc < 0)
    return rc;
  coap_future *f = coap_request_response(req);
  bool done = false;
  coap_future_add_done_callback(f, on_done, &done);
  fixture_run_for_or_until(fx, &done, limit_ms);
  coap_future_remove_done_callback(f, on_done, &done);
  if (!coap_future_done(f)) {
    char uri[256] = "";
    coap_message_get_request_uri(coap_request_message(req), uri, sizeof uri);
    coap_test_note("waited %llu ms of loop time for the response to %s %s; "
                 "none came, so the request was cancelled",
                 (unsigned long long)limit_ms,
                 coap_code_name(coap_request_message(req)->code), uri);
    coap_request_cancel(req);
    coap_request_unref(req);
    return COAP_EAGAIN;
  }
  rc = coap_future_error(f);
  if (rc == 0 && resp != NULL)
    *resp = coap_future_take_result(f);
  coap_request_unref(req);
  return rc;
}

int fixture_request(fixture *fx, coap_message *msg, coap_message **resp,
                    uint64_t limit_ms) {
  return fixture_request_params(fx, msg, NULL, resp, limit_ms);
}
