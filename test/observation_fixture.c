/* The Observe tests' resource and helpers (observation_fixture.h). */
#include "observation_fixture.h"

#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

char state[4096] = "0";
size_t state_len = 1;
size_t observers_now;
int count_calls;
int observe0_renders;
int deregistrations;
uint32_t max_age = 0;
bool gone;

void set_state(const char *text) {
  state_len = strlen(text);
  memcpy(state, text, state_len);
}

int state_get(coap_resource *res, coap_message *req, coap_message *resp,
              coap_future **later) {
  (void)res;
  (void)later;
  uint32_t observe;
  if (coap_options_get_observe(&req->opt, &observe) == 0)
    observe == 0 ? observe0_renders++ : deregistrations++;
  if (gone)
    return COAP_ENOT_FOUND;
  coap_options_set_content_format(&resp->opt, COAP_CT_TEXT_PLAIN);
  if (max_age > 0)
    coap_options_set_max_age(&resp->opt, max_age);
  return coap_message_set_payload(resp, state, state_len);
}

void on_count(coap_resource *res, size_t n) {
  (void)res;
  observers_now = n;
  count_calls++;
}

static const coap_resource_methods state_methods = {.render_get = state_get};

void reset_resource_state(void) {
  set_state("0");
  observers_now = 0;
  count_calls = observe0_renders = deregistrations = 0;
  max_age = 0;
  gone = false;
}

coap_resource *add_observable(fixture *fx, const char *path) {
  coap_resource *res;
  cr_assert_eq(coap_observable_resource_new_methods(&state_methods, on_count,
                                                    NULL, &res),
               0);
  cr_assert_eq(coap_site_add_resource_path(fx->site, path, res), 0);
  coap_resource_unref(res);
  return res;
}

static void on_done(coap_future *f, void *data) {
  (void)f;
  *(bool *)data = true;
}

/* Runs the loop until f is done or limit_ms of loop time pass. */
bool wait_future_at(fixture *fx, coap_future *f, uint64_t limit_ms,
                    const char *what, const char *file, int line) {
  if (coap_future_done(f))
    return true;
  bool done = false;
  coap_future_add_done_callback(f, on_done, &done);
  fixture_run_for_or_until(fx, &done, limit_ms);
  coap_future_remove_done_callback(f, on_done, &done);
  if (!coap_future_done(f))
    coap_test_note("%s:%d: waited %llu ms of loop time for the future %s to "
                 "complete; it is still pending",
                 file, line, (unsigned long long)limit_ms, what);
  return coap_future_done(f);
}

void wait_observers(fixture *fx, size_t want, uint64_t limit_ms) {
  uint64_t start = uv_now(&fx->loop);
  while (observers_now != want && uv_now(&fx->loop) - start < limit_ms) {
    bool never = false;
    fixture_run_for_or_until(fx, &never, 10);
  }
  if (observers_now != want)
    coap_test_note("waited %llu ms of loop time for %zu observers; there are "
                 "%zu",
                 (unsigned long long)limit_ms, want, observers_now);
}

void run_for(fixture *fx, uint64_t ms) {
  bool never = false;
  fixture_run_for_or_until(fx, &never, ms);
}

void payload_is(const coap_message *m, const char *text) {
  cr_assert_eq(m->payload_len, strlen(text), "payload length %zu, want %zu",
               m->payload_len, strlen(text));
  cr_assert_arr_eq(m->payload, text, strlen(text));
}

/* Sends GET path with Observe 0 and waits for the first response. */
coap_request *observe(fixture *fx, const char *path, coap_observation **obs) {
  coap_message *msg = fixture_message(fx, COAP_CODE_GET, path);
  cr_assert_eq(coap_options_set_observe(&msg->opt, 0), 0);
  coap_request *req;
  cr_assert_eq(coap_context_request(fx->client, msg, NULL, &req), 0);
  *obs = coap_observation_ref(coap_request_observation(req));
  cr_assert_not_null(*obs, "a GET with Observe 0 has an observation");
  cr_assert(wait_future(fx, coap_request_response(req), 5000));
  return req;
}

const coap_message *first_response(coap_request *req) {
  coap_future *f = coap_request_response(req);
  cr_assert_eq(coap_future_error(f), 0, "%s",
               coap_err_name(coap_future_error(f)));
  return coap_future_result(f);
}

/* The next notification (the future's reference is the caller's). */
coap_future *next_notification(fixture *fx, coap_observation *obs,
                               uint64_t limit_ms) {
  coap_future *f = coap_observation_next(obs);
  cr_assert_not_null(f);
  cr_assert(wait_future(fx, f, limit_ms), "a notification came");
  return f;
}

ssize_t raw_recv_from(int fd, fixture *fx, uint8_t *buf, size_t cap,
                      struct sockaddr_in6 *from) {
  for (int i = 0; i < 400; i++) {
    uv_run(&fx->loop, UV_RUN_NOWAIT);
    socklen_t len = sizeof *from;
    ssize_t n =
        recvfrom(fd, buf, cap, MSG_DONTWAIT, (struct sockaddr *)from, &len);
    if (n >= 0)
      return n;
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    poll(&pfd, 1, 5);
  }
  return -1;
}
