/*
 * Observe (RFC 7641) on the wire: the freshness rule, and raw sockets
 * playing a server that sends chosen sequence numbers and a client that
 * sends chosen requests, so that exactly what a foreign peer does is
 * tested.
 */
#include "observation_fixture.h"

#include "observation-internal.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* RFC 7641 §3.4: the freshness rule, with 24-bit wrap-around. */
COAP_TEST(observation_wire, freshness_rule_orders_24_bit_sequence_numbers) {
  const uint64_t t = 1000000;
  cr_assert(coap__observe_is_fresh(10, t, 11, t));
  cr_assert_not(coap__observe_is_fresh(11, t, 10, t), "older");
  cr_assert_not(coap__observe_is_fresh(10, t, 10, t), "the same");
  cr_assert(coap__observe_is_fresh(0xffffff, t, 3, t), "wrapped");
  cr_assert_not(coap__observe_is_fresh(3, t, 0xffffff, t), "before the wrap");
  cr_assert_not(coap__observe_is_fresh(0, t, 1u << 23, t),
                "exactly 2^23 ahead is not newer");
  cr_assert(coap__observe_is_fresh(0, t, (1u << 23) - 1, t));
  cr_assert(coap__observe_is_fresh(11, t, 10, t + 128001),
            "anything 128 s younger is fresh");
  cr_assert_not(coap__observe_is_fresh(11, t, 10, t + 128000));
}

static void raw_notify(int fd, const struct sockaddr_in6 *to, int mtype,
                       uint16_t mid, const uint8_t *token, size_t token_len,
                       uint32_t seq, const char *text) {
  coap_message m;
  coap_message_init(&m);
  m.mtype = mtype;
  m.mid = mid;
  m.code = COAP_CODE_CONTENT;
  coap_message_set_token(&m, token, token_len);
  coap_options_set_observe(&m.opt, seq);
  coap_message_set_payload_string(&m, text);
  uint8_t buf[256];
  int n = coap_message_encode(&m, buf, sizeof buf);
  cr_assert_gt(n, 0);
  cr_assert_eq(
      sendto(fd, buf, (size_t)n, 0, (const struct sockaddr *)to, sizeof *to),
      n);
  coap_message_clear(&m);
}

/* RFC 7641 §3.4: notifications that arrive out of order are delivered only
 * when newer than the newest so far. */
COAP_TEST(observation_wire, reordered_notifications_older_ones_dropped) {
  fixture fx;
  fixture_start(&fx, NULL);
  int fd = socket(AF_INET6, SOCK_DGRAM, 0);
  struct sockaddr_in6 a = {.sin6_family = AF_INET6,
                           .sin6_addr = IN6ADDR_LOOPBACK_INIT};
  socklen_t alen = sizeof a;
  cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  getsockname(fd, (struct sockaddr *)&a, &alen);
  char uri[64];
  snprintf(uri, sizeof uri, "coap://[::1]:%u/obs", ntohs(a.sin6_port));
  coap_message *msg;
  coap_message_new(&msg);
  msg->code = COAP_CODE_GET;
  coap_message_set_request_uri(msg, uri, true);
  coap_options_set_observe(&msg->opt, 0);
  coap_request *req;
  cr_assert_eq(coap_context_request(fx.client, msg, NULL, &req), 0);
  coap_observation *obs = coap_observation_ref(coap_request_observation(req));

  uint8_t buf[256];
  struct sockaddr_in6 client;
  ssize_t n = raw_recv_from(fd, &fx, buf, sizeof buf, &client);
  cr_assert_gt(n, 4);
  coap_message got;
  coap_message_init(&got);
  cr_assert_eq(coap_message_decode(&got, buf, (size_t)n), 0);
  uint8_t token[8];
  size_t token_len = got.token_len;
  memcpy(token, got.token, token_len);
  /* The registration's answer, piggybacked, then NONs out of order, and
   * across the 24-bit wrap. */
  raw_notify(fd, &client, COAP_TYPE_ACK, (uint16_t)got.mid, token, token_len,
             0xfffffd, "first");
  coap_message_clear(&got);
  cr_assert(wait_future(&fx, coap_request_response(req), 5000));
  payload_is(first_response(req), "first");
  raw_notify(fd, &client, COAP_TYPE_NON, 1, token, token_len, 0xffffff, "b");
  raw_notify(fd, &client, COAP_TYPE_NON, 2, token, token_len, 0xfffffe, "a");
  raw_notify(fd, &client, COAP_TYPE_NON, 3, token, token_len, 1, "d");
  raw_notify(fd, &client, COAP_TYPE_NON, 4, token, token_len, 0, "c");
  raw_notify(fd, &client, COAP_TYPE_NON, 5, token, token_len, 2, "e");
  coap_future *f = next_notification(&fx, obs, 5000);
  payload_is(coap_future_result(f), "b");
  coap_future_unref(f);
  f = next_notification(&fx, obs, 5000);
  payload_is(coap_future_result(f), "d");
  coap_future_unref(f);
  f = next_notification(&fx, obs, 5000);
  payload_is(coap_future_result(f), "e");
  coap_future_unref(f);
  f = coap_observation_next(obs);
  run_for(&fx, 50);
  cr_assert_not(coap_future_done(f), "a and c were dropped as older");
  coap_future_unref(f);
  coap_context_stats stats;
  coap_context_get_stats(fx.client, &stats);
  cr_assert_eq(stats.rst_sent, 0, "dropped, not rejected");
  coap_observation_unref(obs);
  coap_request_unref(req);
  close(fd);
  fixture_stop(&fx);
}

/* A CON notification is acknowledged; a notification for a token nobody
 * observes is rejected with RST (RFC 7641 §3.6). */
COAP_TEST(observation_wire,
          confirmable_notification_acked_unknown_token_reset) {
  fixture fx;
  fixture_start(&fx, NULL);
  int fd = socket(AF_INET6, SOCK_DGRAM, 0);
  struct sockaddr_in6 a = {.sin6_family = AF_INET6,
                           .sin6_addr = IN6ADDR_LOOPBACK_INIT};
  socklen_t alen = sizeof a;
  cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  getsockname(fd, (struct sockaddr *)&a, &alen);
  char uri[64];
  snprintf(uri, sizeof uri, "coap://[::1]:%u/obs", ntohs(a.sin6_port));
  coap_message *msg;
  coap_message_new(&msg);
  msg->code = COAP_CODE_GET;
  coap_message_set_request_uri(msg, uri, true);
  coap_options_set_observe(&msg->opt, 0);
  coap_request *req;
  cr_assert_eq(coap_context_request(fx.client, msg, NULL, &req), 0);
  coap_observation *obs = coap_observation_ref(coap_request_observation(req));
  uint8_t buf[256];
  struct sockaddr_in6 client;
  ssize_t n = raw_recv_from(fd, &fx, buf, sizeof buf, &client);
  coap_message got;
  coap_message_init(&got);
  cr_assert_eq(coap_message_decode(&got, buf, (size_t)n), 0);
  uint8_t token[8];
  size_t token_len = got.token_len;
  memcpy(token, got.token, token_len);
  raw_notify(fd, &client, COAP_TYPE_ACK, (uint16_t)got.mid, token, token_len, 5,
             "first");
  coap_message_clear(&got);
  cr_assert(wait_future(&fx, coap_request_response(req), 5000));

  raw_notify(fd, &client, COAP_TYPE_CON, 0x4242, token, token_len, 6, "con");
  n = raw_recv_from(fd, &fx, buf, sizeof buf, &client);
  cr_assert_eq(n, 4);
  cr_assert_eq(buf[0], 0x60, "an empty ACK");
  cr_assert_eq(buf[2] << 8 | buf[3], 0x4242);
  coap_future *f = next_notification(&fx, obs, 5000);
  payload_is(coap_future_result(f), "con");
  coap_future_unref(f);

  const uint8_t other[2] = {0xde, 0xad};
  raw_notify(fd, &client, COAP_TYPE_NON, 0x4343, other, 2, 7, "stray");
  n = raw_recv_from(fd, &fx, buf, sizeof buf, &client);
  cr_assert_eq(n, 4);
  cr_assert_eq(buf[0], 0x70, "an RST");
  cr_assert_eq(buf[2] << 8 | buf[3], 0x4343);
  coap_observation_unref(obs);
  coap_request_unref(req);
  close(fd);
  fixture_stop(&fx);
}

/* Observations end with the context: the client's with COAP_ESHUTDOWN,
 * the server's with their count going to 0. */
/* A raw client, to send exactly the requests a test wants. */
static int raw_client(void) {
  int fd = socket(AF_INET6, SOCK_DGRAM, 0);
  cr_assert_geq(fd, 0);
  return fd;
}

/* Sends GET /state with token 0x5a and observe (-1 for none); returns the
 * answer's code and Observe (-1 for none). */
static int raw_get(int fd, fixture *fx, uint16_t mid, int observe,
                   long *seen_observe) {
  coap_message m;
  coap_message_init(&m);
  m.mtype = COAP_TYPE_CON;
  m.mid = mid;
  m.code = COAP_CODE_GET;
  const uint8_t token = 0x5a;
  coap_message_set_token(&m, &token, 1);
  if (observe >= 0)
    coap_options_set_observe(&m.opt, (uint32_t)observe);
  coap_options_add_string(&m.opt, COAP_OPT_URI_PATH, "state");
  uint8_t buf[256];
  int n = coap_message_encode(&m, buf, sizeof buf);
  coap_message_clear(&m);
  struct sockaddr_in6 to = {.sin6_family = AF_INET6,
                            .sin6_port = htons(fx->port),
                            .sin6_addr = IN6ADDR_LOOPBACK_INIT};
  cr_assert_eq(sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&to, sizeof to),
               n);
  struct sockaddr_in6 from;
  ssize_t got = raw_recv_from(fd, fx, buf, sizeof buf, &from);
  cr_assert_gt(got, 4);
  coap_message r;
  coap_message_init(&r);
  cr_assert_eq(coap_message_decode(&r, buf, (size_t)got), 0);
  cr_assert_eq(r.mtype, COAP_TYPE_ACK);
  uint32_t v;
  *seen_observe = coap_options_get_observe(&r.opt, &v) == 0 ? (long)v : -1;
  int code = r.code;
  coap_message_clear(&r);
  return code;
}

/* RFC 7641 §4.1: a registration with an existing entry's token updates it
 * (no second observer, a newer Observe value); any other request with that
 * token ends it, and is answered as usual. */
COAP_TEST(observation_wire, same_token_reregisters_and_plain_get_deregisters) {
  reset_resource_state();
  fixture fx;
  fixture_start(&fx, NULL);
  add_observable(&fx, "state");
  int fd = raw_client();
  long first, again, plain;
  cr_assert_eq(raw_get(fd, &fx, 1, 0, &first), COAP_CODE_CONTENT);
  cr_assert_geq(first, 0);
  cr_assert_eq(observers_now, 1);
  cr_assert_eq(raw_get(fd, &fx, 2, 0, &again), COAP_CODE_CONTENT);
  cr_assert(coap__observe_is_fresh((uint32_t)first, 0, (uint32_t)again, 0));
  cr_assert_eq(observers_now, 1);
  cr_assert_eq(count_calls, 1, "updated in place");
  cr_assert_eq(raw_get(fd, &fx, 3, -1, &plain), COAP_CODE_CONTENT);
  cr_assert_eq(plain, -1);
  cr_assert_eq(observers_now, 0, "a GET without Observe ends it");
  cr_assert_eq(raw_get(fd, &fx, 4, 0, &first), COAP_CODE_CONTENT);
  cr_assert_eq(observers_now, 1);
  cr_assert_eq(raw_get(fd, &fx, 5, 1, &plain), COAP_CODE_CONTENT);
  cr_assert_eq(plain, -1, "§3.6: the deregistration is answered plainly");
  cr_assert_eq(observers_now, 0);
  close(fd);
  fixture_stop(&fx);
}

/* A resource that renders through a future: the registration and every
 * notification wait for it. */

/* Receives the next datagram on fd and decodes it into m (owned by the
 * caller: coap_message_clear), borrowing buf. */
static void raw_next(int fd, fixture *fx, uint8_t *buf, size_t cap,
                     coap_message *m, struct sockaddr_in6 *from) {
  ssize_t n = raw_recv_from(fd, fx, buf, cap, from);
  cr_assert_gt(n, 4, "nothing arrived");
  coap_message_init(m);
  cr_assert_eq(coap_message_decode(m, buf, (size_t)n), 0);
}

static bool message_payload_is(const coap_message *m, const char *text) {
  return m->payload_len == strlen(text) &&
         memcmp(m->payload, text, m->payload_len) == 0;
}

/* RFC 7641 §4.5.2: while a CON notification is unacknowledged and the
 * state changes, the new state goes in its place (a new MID, when the old
 * one would have been retransmitted) and the stale state is never sent
 * again; an ACK of the new one ends it. */
COAP_TEST(observation_wire, new_state_replaces_unacknowledged_con) {
  reset_resource_state();
  coap_context_config config;
  coap_context_config_default(&config);
  config.transmission.ack_timeout_ms = 200;
  config.transmission.ack_random_factor = 1.0;
  config.notification_con_interval = 1; /* every notification CON */
  fixture fx;
  fixture_start(&fx, &config);
  coap_resource *res = add_observable(&fx, "state");
  int fd = raw_client();
  long first;
  set_state("zero");
  cr_assert_eq(raw_get(fd, &fx, 1, 0, &first), COAP_CODE_CONTENT);
  cr_assert_eq(observers_now, 1);

  set_state("one");
  cr_assert_eq(coap_observable_resource_updated_state(res, NULL), 1);
  uint8_t buf[256];
  struct sockaddr_in6 server;
  coap_message one;
  raw_next(fd, &fx, buf, sizeof buf, &one, &server);
  cr_assert_eq(one.mtype, COAP_TYPE_CON);
  cr_assert(message_payload_is(&one, "one"));
  uint32_t seq_one = 0, seq_two = 0;
  cr_assert_eq(coap_options_get_observe(&one.opt, &seq_one), 0);
  const uint16_t mid_one = (uint16_t)one.mid;
  coap_message_clear(&one);

  /* Not acknowledged; the state changes twice more. */
  set_state("two");
  cr_assert_eq(coap_observable_resource_updated_state(res, NULL), 1);
  set_state("three");
  cr_assert_eq(coap_observable_resource_updated_state(res, NULL), 1);
  coap_message next;
  raw_next(fd, &fx, buf, sizeof buf, &next, &server);
  cr_assert_eq(next.mtype, COAP_TYPE_CON);
  cr_assert(message_payload_is(&next, "three"), "the stale state came again");
  cr_assert_neq((uint16_t)next.mid, mid_one);
  cr_assert_eq(coap_options_get_observe(&next.opt, &seq_two), 0);
  cr_assert(coap__observe_is_fresh(seq_one, 0, seq_two, 0));
  const uint8_t ack[] = {0x60, 0x00, (uint8_t)(next.mid >> 8),
                         (uint8_t)next.mid};
  coap_message_clear(&next);
  cr_assert_eq(
      sendto(fd, ack, sizeof ack, 0, (struct sockaddr *)&server, sizeof server),
      (ssize_t)sizeof ack);
  /* Nothing more: neither state is retransmitted. */
  cr_assert_eq(raw_recv_from(fd, &fx, buf, sizeof buf, &server), -1);
  cr_assert_eq(observers_now, 1);
  close(fd);
  fixture_stop(&fx);
}

/* coap_observable_resource_set_con_interval: 1 makes every notification
 * of the resource CON whatever the context says; the context's choice
 * comes back with COAP_NOTIFICATION_CON_INTERVAL_CONTEXT; a resource that
 * is not observable has no such choice. */
COAP_TEST(observation_wire, resource_con_interval_overrides_context) {
  reset_resource_state();
  fixture fx;
  fixture_start(&fx, NULL);
  coap_resource *res = add_observable(&fx, "state");
  cr_assert_eq(coap_observable_resource_set_con_interval(res, 1), 0);
  int fd = raw_client();
  long seq;
  cr_assert_eq(raw_get(fd, &fx, 1, 0, &seq), COAP_CODE_CONTENT);
  uint8_t buf[256];
  struct sockaddr_in6 from;
  for (int i = 0; i < 3; i++) {
    set_state(i % 2 ? "odd" : "even");
    coap_observable_resource_updated_state(res, NULL);
    ssize_t n = raw_recv_from(fd, &fx, buf, sizeof buf, &from);
    cr_assert_gt(n, 4);
    cr_assert_eq(buf[0] >> 4 & 3, COAP_TYPE_CON, "notification %d CON", i);
    uint8_t ack[4] = {0x60, 0, buf[2], buf[3]};
    cr_assert_eq(sendto(fd, ack, 4, 0, (struct sockaddr *)&from, sizeof from),
                 4);
    run_for(&fx, 20);
  }
  cr_assert_eq(coap_observable_resource_set_con_interval(
                   res, COAP_NOTIFICATION_CON_INTERVAL_CONTEXT),
               0);
  set_state("back to the context's");
  coap_observable_resource_updated_state(res, NULL);
  ssize_t n = raw_recv_from(fd, &fx, buf, sizeof buf, &from);
  cr_assert_gt(n, 4);
  cr_assert_eq(buf[0] >> 4 & 3, COAP_TYPE_NON, "the context's NON again");
  static const coap_resource_methods plain_methods = {.render_get = state_get};
  coap_resource *plain;
  cr_assert_eq(coap_resource_new_methods(&plain_methods, NULL, &plain), 0);
  cr_assert_eq(coap_observable_resource_set_con_interval(plain, 1),
               COAP_EINVAL);
  cr_assert_eq(coap_observable_resource_set_con_interval(NULL, 1), COAP_EINVAL);
  coap_resource_unref(plain);
  close(fd);
  fixture_stop(&fx);
}
