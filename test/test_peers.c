/*
 * Issue 9: no single peer, silent or hostile, can crash the server or
 * starve other clients.  Raw sockets play the silent or greedy peers, so
 * that exactly what they send (and never send) is under the test's
 * control; timeouts are configured small to keep real waiting short.
 */
#include "observation_fixture.h"

#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int raw_socket(void) {
  int fd = socket(AF_INET6, SOCK_DGRAM, 0);
  cr_assert_geq(fd, 0);
  struct sockaddr_in6 a = {.sin6_family = AF_INET6,
                           .sin6_addr = IN6ADDR_LOOPBACK_INIT};
  cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  return fd;
}

static void raw_send(int fd, fixture *fx, const coap_message *m) {
  uint8_t buf[256];
  int n = coap_message_encode(m, buf, sizeof buf);
  cr_assert_gt(n, 0);
  struct sockaddr_in6 to = {.sin6_family = AF_INET6,
                            .sin6_port = htons(fx->port),
                            .sin6_addr = IN6ADDR_LOOPBACK_INIT};
  cr_assert_eq(sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&to, sizeof to),
               n);
}

/* Registers with token tok (one byte) for path; returns the answer's
 * Observe value, or -1 when it carries none. */
static long raw_register(int fd, fixture *fx, const char *path, uint8_t tok,
                         uint16_t mid) {
  coap_message m;
  coap_message_init(&m);
  m.mtype = COAP_TYPE_CON;
  m.mid = mid;
  m.code = COAP_CODE_GET;
  coap_message_set_token(&m, &tok, 1);
  coap_options_set_observe(&m.opt, 0);
  coap_options_add_string(&m.opt, COAP_OPT_URI_PATH, path);
  raw_send(fd, fx, &m);
  coap_message_clear(&m);
  uint8_t buf[256];
  struct sockaddr_in6 from;
  for (;;) {
    ssize_t got = raw_recv_from(fd, fx, buf, sizeof buf, &from);
    cr_assert_gt(got, 4, "no answer to the registration");
    coap_message r;
    coap_message_init(&r);
    cr_assert_eq(coap_message_decode(&r, buf, (size_t)got), 0);
    if (r.mtype != COAP_TYPE_ACK || r.mid != mid) {
      coap_message_clear(&r);
      continue; /* a notification of an earlier registration */
    }
    uint32_t v;
    long seen = coap_options_get_observe(&r.opt, &v) == 0 ? (long)v : -1;
    coap_message_clear(&r);
    return seen;
  }
}

typedef struct tally {
  unsigned con, non;
} tally;

/* Runs the loop for ms, reading (and never answering) whatever reaches
 * the n sockets. */
static void drain(fixture *fx, const int *fds, size_t n, uint64_t ms,
                  tally *t) {
  uv_update_time(&fx->loop);
  uint64_t end = uv_now(&fx->loop) + ms;
  while (uv_now(&fx->loop) < end) {
    uv_run(&fx->loop, UV_RUN_NOWAIT);
    for (size_t i = 0; i < n; i++) {
      uint8_t buf[256];
      ssize_t got;
      while ((got = recv(fds[i], buf, sizeof buf, MSG_DONTWAIT)) >= 4) {
        int type = (buf[0] >> 4) & 3;
        t->con += type == COAP_TYPE_CON;
        t->non += type == COAP_TYPE_NON;
      }
    }
    poll(NULL, 0, 2);
    uv_update_time(&fx->loop);
  }
}

/* Short CON timeouts: MAX_TRANSMIT_WAIT = 80 * (2^2 - 1) = 240 ms. */
static void short_timeouts(coap_context_config *config) {
  config->transmission.ack_timeout_ms = 80;
  config->transmission.ack_random_factor = 1.0;
  config->transmission.max_retransmit = 1;
}

/* Issue 9 item 1a, RFC 7641 §4.5: an endpoint that leaves a CON
 * notification unacknowledged loses every observation at once.  Before,
 * each of its 8 observations went only when its own CON (sent one after
 * the other, NSTART) timed out: 16 CON datagrams over 8 MAX_TRANSMIT_WAIT.
 * Now the first CON's two transmissions are all it gets. */
COAP_TEST(peers, silent_endpoint_loses_every_observation_at_first_timeout) {
  reset_resource_state();
  coap_context_config config;
  coap_context_config_default(&config);
  short_timeouts(&config);
  config.notification_con_interval = 1;
  config.nstart_responses = 1;
  config.queue_timeout_ms = UINT32_MAX; /* this test is about item 1a alone */
  fixture fx;
  fixture_start(&fx, &config);
  coap_resource *res = add_observable(&fx, "state");
  int fd = raw_socket();
  for (uint8_t tok = 1; tok <= 8; tok++)
    cr_assert_geq(raw_register(fd, &fx, "state", tok, tok), 0);
  cr_assert_eq(observers_now, 8);
  set_state("1");
  cr_assert_eq(coap_observable_resource_updated_state(res, NULL), 8);
  tally t = {0};
  drain(&fx, &fd, 1, 2000, &t);
  cr_assert_eq(observers_now, 0);
  cr_assert_eq(t.con, 2, "one CON and its retransmission, got %u", t.con);
  cr_assert_eq(t.non, 0);
  close(fd);
  fixture_stop(&fx);
}

/* Issue 9 item 1c: max_observers_per_peer bounds one endpoint's
 * observations; at the limit it still registers, beyond it is served
 * without Observe, and another endpoint is not affected.  Before, all 4
 * registrations of the first endpoint were accepted. */
COAP_TEST(peers, max_observers_per_peer_serves_the_next_without_observe) {
  reset_resource_state();
  coap_context_config config;
  coap_context_config_default(&config);
  config.max_observers_per_peer = 3;
  fixture fx;
  fixture_start(&fx, &config);
  add_observable(&fx, "state");
  add_observable(&fx, "other");
  int a = raw_socket(), b = raw_socket();
  cr_assert_geq(raw_register(a, &fx, "state", 1, 1), 0);
  cr_assert_geq(raw_register(a, &fx, "state", 2, 2), 0);
  cr_assert_geq(raw_register(a, &fx, "other", 3, 3), 0, "at the limit");
  cr_assert_eq(raw_register(a, &fx, "state", 4, 4), -1, "beyond it");
  cr_assert_eq(raw_register(a, &fx, "other", 5, 5), -1,
               "counted across resources");
  cr_assert_geq(raw_register(b, &fx, "state", 1, 1), 0, "another endpoint");
  coap_context_stats stats;
  coap_context_get_stats(fx.server, &stats);
  cr_assert_eq(stats.peer_observers_refused, 2);
  close(a);
  close(b);
  fixture_stop(&fx);
}

/* Issue 9 item 2: with every outgoing slot taken, an observer that has
 * shown no sign of life for MAX_TRANSMIT_WAIT gets no NON in place of its
 * CON: it waits (dirty) for a slot, and the newest state goes as CON when
 * one frees.  An observer heard from recently still gets the NON.  Before,
 * the 4 silent observers without a slot got a NON per update (6 in 3
 * updates: NSTART let some CONs queue) and they went only much later; now they
 * get none, and every one of them goes once its CON times out. */
COAP_TEST(peers, full_con_slots_do_not_turn_silent_observers_to_non) {
  reset_resource_state();
  coap_context_config config;
  coap_context_config_default(&config);
  short_timeouts(&config);
  config.notification_con_interval = 1;
  config.max_outgoing_exchanges = 2;
  fixture fx;
  fixture_start(&fx, &config);
  coap_resource *res = add_observable(&fx, "state");
  enum { N = 6 };
  int fds[N];
  for (int i = 0; i < N; i++) {
    fds[i] = raw_socket();
    cr_assert_geq(raw_register(fds[i], &fx, "state", 1, 1), 0);
  }
  /* Just registered: no slot, so a NON, as before. */
  set_state("fresh");
  cr_assert_eq(coap_observable_resource_updated_state(res, NULL), N);
  tally t = {0};
  drain(&fx, fds, N, 20, &t);
  cr_assert_eq(t.con, 2);
  cr_assert_eq(t.non, N - 2, "responsive observers keep the NON fallback");
  /* The two CONs time out and their observers go; the rest stay silent
   * past MAX_TRANSMIT_WAIT. */
  drain(&fx, fds, N, 600, &t);
  cr_assert_eq(observers_now, N - 2);
  t = (tally){0};
  for (int k = 0; k < 3; k++) {
    set_state(k == 0 ? "a" : k == 1 ? "b" : "c");
    coap_observable_resource_updated_state(res, NULL);
  }
  drain(&fx, fds, N, 2000, &t);
  cr_assert_eq(t.non, 0, "got %u NONs", t.non);
  cr_assert_eq(observers_now, 0, "every silent observer went");
  coap_context_stats stats;
  coap_context_get_stats(fx.server, &stats);
  cr_assert_geq(stats.notifications_deferred, 2);
  for (int i = 0; i < N; i++)
    close(fds[i]);
  fixture_stop(&fx);
}

/* Issue 9 item 2: once a CON notification to an endpoint has been
 * retransmitted unanswered, its other observers get no more NONs; the
 * CON's own replacements carry its newest state.  Before, the two other
 * observers got a NON each per update (4 in 2 updates). */
COAP_TEST(peers, unanswered_con_stops_nons_to_that_endpoint) {
  reset_resource_state();
  coap_context_config config;
  coap_context_config_default(&config);
  config.transmission.ack_timeout_ms = 100;
  config.transmission.ack_random_factor = 1.0;
  config.transmission.max_retransmit = 2;
  config.notification_con_interval = 4;
  fixture fx;
  fixture_start(&fx, &config);
  coap_resource *res = add_observable(&fx, "state");
  int fd = raw_socket();
  cr_assert_geq(raw_register(fd, &fx, "state", 1, 1), 0);
  tally t = {0};
  for (int k = 0; k < 3; k++) /* NONs 1 to 3 to the first observer */
    coap_observable_resource_updated_state(res, NULL);
  drain(&fx, &fd, 1, 20, &t);
  cr_assert_eq(t.non, 3);
  cr_assert_geq(raw_register(fd, &fx, "state", 2, 2), 0);
  cr_assert_geq(raw_register(fd, &fx, "state", 3, 3), 0);
  t = (tally){0};
  coap_observable_resource_updated_state(res, NULL);
  drain(&fx, &fd, 1, 20, &t);
  cr_assert_eq(t.con, 1, "the first observer's 4th is CON");
  cr_assert_eq(t.non, 2);
  drain(&fx, &fd, 1, 120, &t); /* its retransmission at 100 ms */
  cr_assert_eq(t.con, 2);
  t = (tally){0};
  coap_observable_resource_updated_state(res, NULL);
  coap_observable_resource_updated_state(res, NULL);
  drain(&fx, &fd, 1, 20, &t);
  cr_assert_eq(t.non, 0, "got %u NONs", t.non);
  drain(&fx, &fd, 1, 1000, &t);
  cr_assert_eq(observers_now, 0, "all three went with the CON's timeout");
  cr_assert_eq(t.non, 0);
  close(fd);
  fixture_stop(&fx);
}

/* A resource that answers from a timer, after the empty-ACK delay. */
typedef struct {
  uv_timer_t timer;
  coap_future *future;
} slow_answer;

static uv_loop_t *slow_loop;

static void free_msg(void *m) {
  coap_message_free(m);
}

static void slow_closed(uv_handle_t *h) {
  slow_answer *s = h->data;
  coap_future_unref(s->future);
  free(s);
}

static void slow_due(uv_timer_t *t) {
  slow_answer *s = t->data;
  coap_message *m;
  cr_assert_eq(coap_message_new(&m), 0);
  coap_message_set_payload_string(m, "late");
  coap_future_resolve(s->future, m, free_msg);
  uv_close((uv_handle_t *)t, slow_closed);
}

static int slow_get(coap_resource *res, coap_message *req, coap_message *resp,
                    coap_future **later) {
  (void)res;
  (void)req;
  (void)resp;
  slow_answer *s = malloc(sizeof *s);
  cr_assert_eq(coap_future_new(slow_loop, &s->future), 0);
  uv_timer_init(slow_loop, &s->timer);
  s->timer.data = s;
  uv_timer_start(&s->timer, slow_due, 300, 0);
  *later = coap_future_ref(s->future);
  return 0;
}

static const coap_resource_methods slow = {.render_get = slow_get};

/* Issue 9 item 3: a silent endpoint's CON requests to a slow resource
 * filled max_outgoing_exchanges with separate responses it never
 * acknowledged, and everyone else's separate response failed.  Now at
 * max_outgoing_per_peer (here 4: outgoing messages plus unanswered CON
 * requests) its 4th request is still taken, and from the 5th on it is
 * answered 5.03 with Max-Age (RFC 7252 §5.9.3.4).  Before: 20 taken, no
 * 5.03, and the other client's request timed out. */
COAP_TEST(peers, busy_peer_gets_503_and_others_keep_their_slots) {
  coap_context_config config;
  coap_context_config_default(&config);
  config.max_outgoing_exchanges = 8;
  config.max_outgoing_per_peer = 4;
  config.nstart_responses = 1;
  config.separate_response_timeout_ms = 1500;
  fixture fx;
  fixture_start(&fx, &config);
  slow_loop = &fx.loop;
  fixture_add(&fx, "slow", &slow, NULL);
  int fd = raw_socket();
  enum { N = 20 };
  for (uint16_t mid = 1; mid <= N; mid++) {
    coap_message m;
    coap_message_init(&m);
    m.mtype = COAP_TYPE_CON;
    m.mid = mid;
    m.code = COAP_CODE_GET;
    uint8_t tok = (uint8_t)mid;
    coap_message_set_token(&m, &tok, 1);
    coap_options_add_string(&m.opt, COAP_OPT_URI_PATH, "slow");
    raw_send(fd, &fx, &m);
    coap_message_clear(&m);
  }
  coap_message *resp = NULL;
  int rc = fixture_request(&fx, fixture_message(&fx, COAP_CODE_GET, "/slow"),
                           &resp, 3000);
  cr_assert_eq(rc, 0, "the other client's request failed: %s",
               coap_strerror(rc));
  cr_assert_eq(resp->code, COAP_CODE_CONTENT);
  coap_message_free(resp);
  unsigned busy = 0, empty_acks = 0, busy_first = 0;
  uint8_t buf[256];
  ssize_t got;
  while ((got = recv(fd, buf, sizeof buf, MSG_DONTWAIT)) >= 4) {
    coap_message r;
    coap_message_init(&r);
    cr_assert_eq(coap_message_decode(&r, buf, (size_t)got), 0);
    uint32_t age = 0;
    if (r.mtype == COAP_TYPE_ACK && r.code == COAP_CODE_SERVICE_UNAVAILABLE) {
      cr_assert_eq(coap_options_get_max_age(&r.opt, &age), 0);
      cr_assert_eq(age, 93, "MAX_TRANSMIT_WAIT in seconds");
      if (busy++ == 0)
        busy_first = (uint32_t)r.mid;
    }
    empty_acks += r.mtype == COAP_TYPE_ACK && r.code == COAP_CODE_EMPTY;
    coap_message_clear(&r);
  }
  cr_assert_eq(busy, N - 4, "got %u 5.03", busy);
  cr_assert_eq(busy_first, 5, "the 4th request is still taken");
  cr_assert_eq(empty_acks, 4);
  coap_context_stats stats;
  coap_context_get_stats(fx.server, &stats);
  cr_assert_eq(stats.peer_busy_refusals, N - 4);
  close(fd);
  fixture_stop(&fx);
}

/* Issue 9 item 4: after the empty ACK of its CON request the client waits
 * separate_response_timeout_ms for the response (before: a fixed 93 s),
 * then fails with COAP_ETIMEDOUT; not earlier. */
COAP_TEST(peers, client_waits_separate_response_timeout_after_empty_ack) {
  coap_context_config config;
  coap_context_config_default(&config);
  config.separate_response_timeout_ms = 500;
  fixture fx;
  fixture_start(&fx, &config);
  int fd = raw_socket();
  struct sockaddr_in6 a;
  socklen_t alen = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &alen);
  char uri[64];
  snprintf(uri, sizeof uri, "coap://[::1]:%u/x", ntohs(a.sin6_port));
  coap_message *msg;
  coap_message_new(&msg);
  msg->code = COAP_CODE_GET;
  coap_message_set_request_uri(msg, uri, true);
  coap_request *req;
  cr_assert_eq(coap_context_request(fx.client, msg, NULL, &req), 0);
  uint8_t buf[256];
  struct sockaddr_in6 client;
  ssize_t n = raw_recv_from(fd, &fx, buf, sizeof buf, &client);
  cr_assert_gt(n, 4);
  const uint8_t ack[] = {0x60, 0x00, buf[2], buf[3]};
  cr_assert_eq(
      sendto(fd, ack, sizeof ack, 0, (struct sockaddr *)&client, sizeof client),
      (ssize_t)sizeof ack);
  uv_update_time(&fx.loop);
  const uint64_t acked_at = uv_now(&fx.loop);
  coap_future *f = coap_request_response(req);
  tally t = {0};
  drain(&fx, &fd, 1, 250, &t);
  cr_assert_not(coap_future_done(f), "gave up before the timeout");
  cr_assert(wait_future(&fx, f, 2000));
  uv_update_time(&fx.loop);
  const uint64_t waited = uv_now(&fx.loop) - acked_at;
  cr_assert_eq(coap_future_error(f), COAP_ETIMEDOUT);
  cr_assert_geq(waited, 490);
  cr_assert_lt(waited, 1500, "waited %lu ms", (unsigned long)waited);
  coap_request_unref(req);
  close(fd);
  fixture_stop(&fx);
}

/* An endpoint whose unanswered CON notification made its other observers
 * wait answers it with RST (RFC 7641 §3.6): that observation ends, and the
 * others are notified again, the state they missed first. */
COAP_TEST(peers, rst_to_the_unanswered_con_lets_the_others_go_on) {
  reset_resource_state();
  coap_context_config config;
  coap_context_config_default(&config);
  config.transmission.ack_timeout_ms = 100;
  config.transmission.ack_random_factor = 1.0;
  config.transmission.max_retransmit = 2;
  config.notification_con_interval = 4;
  fixture fx;
  fixture_start(&fx, &config);
  coap_resource *res = add_observable(&fx, "state");
  coap_resource *other = add_observable(&fx, "other");
  int fd = raw_socket();
  cr_assert_geq(raw_register(fd, &fx, "state", 1, 1), 0);
  cr_assert_geq(raw_register(fd, &fx, "other", 2, 2), 0);
  tally t = {0};
  for (int k = 0; k < 4; k++)
    coap_observable_resource_updated_state(res, NULL);
  /* The first observer's CON, then its retransmission. */
  uint8_t buf[256];
  struct sockaddr_in6 server;
  uint16_t con_mid = 0;
  unsigned cons = 0;
  while (cons < 2) {
    ssize_t n = raw_recv_from(fd, &fx, buf, sizeof buf, &server);
    cr_assert_gt(n, 4);
    if (((buf[0] >> 4) & 3) == COAP_TYPE_CON) {
      cons++;
      con_mid = (uint16_t)(buf[2] << 8 | buf[3]);
    }
  }
  set_state("missed");
  coap_observable_resource_updated_state(other, NULL);
  t = (tally){0};
  drain(&fx, &fd, 1, 20, &t);
  cr_assert_eq(t.non, 0, "the second observer waits");
  const uint8_t rst[] = {0x70, 0x00, (uint8_t)(con_mid >> 8), (uint8_t)con_mid};
  cr_assert_eq(
      sendto(fd, rst, sizeof rst, 0, (struct sockaddr *)&server, sizeof server),
      (ssize_t)sizeof rst);
  coap_message m;
  ssize_t n = raw_recv_from(fd, &fx, buf, sizeof buf, &server);
  cr_assert_gt(n, 4, "the second observer got nothing more");
  coap_message_init(&m);
  cr_assert_eq(coap_message_decode(&m, buf, (size_t)n), 0);
  cr_assert_eq(m.token[0], 2);
  cr_assert(m.payload_len == 6 && memcmp(m.payload, "missed", 6) == 0);
  coap_message_clear(&m);
  cr_assert_eq(coap_observable_resource_observation_count(res), 0);
  cr_assert_eq(coap_observable_resource_observation_count(other), 1);
  close(fd);
  fixture_stop(&fx);
}
