/*
 * RFC 9175 §2.4 over loopback: with echo_first_response, a server answers
 * a request whose response would exceed amplification_factor times the
 * request, from a peer not yet validated, with 4.01 and an Echo; the
 * request repeated with it is served.  Our own client repeats it without
 * the application seeing the 4.01 (§2.3).  And the amplification limit
 * (RFC 7252 §11.3) end to end.  A raw socket plays the foreign client, so
 * exactly what it sends is under the test's control.
 */
#include "observation_fixture.h"

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum { BIG = 600 };

static int big_get(coap_resource *res, coap_message *req, coap_message *resp,
                   coap_future **later) {
  (void)res;
  (void)req;
  (void)later;
  static char body[BIG];
  memset(body, 'b', sizeof body);
  return coap_message_set_payload(resp, body, sizeof body);
}

static const coap_resource_methods big = {.render_get = big_get};

static int small_get(coap_resource *res, coap_message *req, coap_message *resp,
                     coap_future **later) {
  (void)res;
  (void)req;
  (void)later;
  return coap_message_set_payload(resp, "hi", 2);
}

static const coap_resource_methods small = {.render_get = small_get};

static int raw_socket(void) {
  int fd = socket(AF_INET6, SOCK_DGRAM, 0);
  cr_assert_geq(fd, 0);
  struct sockaddr_in6 a = {.sin6_family = AF_INET6,
                           .sin6_addr = IN6ADDR_LOOPBACK_INIT};
  cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  return fd;
}

/* Sends GET /big (CON, with echo when echo_len > 0) and decodes the
 * answer into *out (owned: coap_message_own). */
static void raw_get(int fd, fixture *fx, uint16_t mid, const uint8_t *echo,
                    size_t echo_len, coap_message *out) {
  coap_message m;
  coap_message_init(&m);
  m.mtype = COAP_TYPE_CON;
  m.mid = mid;
  m.code = COAP_CODE_GET;
  const uint8_t tok = (uint8_t)mid;
  coap_message_set_token(&m, &tok, 1);
  coap_options_add_string(&m.opt, COAP_OPT_URI_PATH, "big");
  if (echo_len > 0)
    cr_assert_eq(coap_options_add(&m.opt, COAP_OPT_ECHO, echo, echo_len), 0);
  uint8_t buf[1500];
  int n = coap_message_encode(&m, buf, sizeof buf);
  coap_message_clear(&m);
  cr_assert_gt(n, 0);
  struct sockaddr_in6 to = {.sin6_family = AF_INET6,
                            .sin6_port = htons(fx->port),
                            .sin6_addr = IN6ADDR_LOOPBACK_INIT};
  cr_assert_eq(sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&to, sizeof to),
               n);
  struct sockaddr_in6 from;
  ssize_t got = raw_recv_from(fd, fx, buf, sizeof buf, &from);
  cr_assert_gt(got, 4, "no answer");
  coap_message_init(out);
  cr_assert_eq(coap_message_decode(out, buf, (size_t)got), 0);
  cr_assert_eq(coap_message_own(out), 0);
  cr_assert_eq(out->mid, mid, "piggybacked");
}

static void start(fixture *fx, bool echo) {
  coap_context_config config;
  coap_context_config_default(&config);
  config.echo_first_response = echo;
  fixture_start(fx, &config);
  fixture_add(fx, "big", &big, NULL);
  fixture_add(fx, "small", &small, NULL);
}

COAP_TEST(echo, raw_client_is_challenged_then_served) {
  fixture fx;
  start(&fx, true);
  int fd = raw_socket();
  coap_message r;
  raw_get(fd, &fx, 1, NULL, 0, &r);
  cr_assert_eq(r.code, COAP_CODE_UNAUTHORIZED);
  const uint8_t *echo;
  size_t len;
  cr_assert_eq(coap_options_get_opaque(&r.opt, COAP_OPT_ECHO, &echo, &len), 0);
  cr_assert_eq(len, 8);
  uint8_t value[8];
  memcpy(value, echo, sizeof value);
  coap_message_clear(&r);
  /* A wrong Echo is challenged again. */
  uint8_t wrong[8];
  memcpy(wrong, value, sizeof wrong);
  wrong[0] ^= 1;
  raw_get(fd, &fx, 2, wrong, sizeof wrong, &r);
  cr_assert_eq(r.code, COAP_CODE_UNAUTHORIZED);
  coap_message_clear(&r);
  raw_get(fd, &fx, 3, value, sizeof value, &r);
  cr_assert_eq(r.code, COAP_CODE_CONTENT);
  cr_assert_eq(r.payload_len, BIG);
  coap_message_clear(&r);
  /* Validated: no Echo needed any more. */
  raw_get(fd, &fx, 4, NULL, 0, &r);
  cr_assert_eq(r.code, COAP_CODE_CONTENT);
  coap_message_clear(&r);
  coap_context_stats stats;
  coap_context_get_stats(fx.server, &stats);
  cr_assert_eq(stats.echo_challenges, 2);
  cr_assert_eq(stats.echo_validated, 1);
  close(fd);
  fixture_stop(&fx);
}

COAP_TEST(echo, own_client_answers_the_challenge_transparently) {
  fixture fx;
  start(&fx, true);
  coap_message *resp = NULL;
  cr_assert_eq(fixture_request(&fx, fixture_message(&fx, COAP_CODE_GET, "/big"),
                               &resp, 5000),
               0);
  cr_assert_eq(resp->code, COAP_CODE_CONTENT);
  cr_assert_eq(resp->payload_len, BIG);
  coap_message_free(resp);
  coap_context_stats stats;
  coap_context_get_stats(fx.server, &stats);
  cr_assert_eq(stats.echo_challenges, 1);
  cr_assert_eq(stats.echo_validated, 1);
  fixture_stop(&fx);
}

COAP_TEST(echo, off_by_default_serves_at_once) {
  coap_context_config config;
  coap_context_config_default(&config);
  cr_assert(!config.echo_first_response);
  cr_assert_eq(config.amplification_factor, 3);
  fixture fx;
  start(&fx, false);
  int fd = raw_socket();
  coap_message r;
  raw_get(fd, &fx, 1, NULL, 0, &r);
  cr_assert_eq(r.code, COAP_CODE_CONTENT);
  cr_assert_eq(r.payload_len, BIG);
  coap_message_clear(&r);
  close(fd);
  fixture_stop(&fx);
}

COAP_TEST(echo, small_response_is_not_challenged) {
  fixture fx;
  start(&fx, true);
  coap_message *resp = NULL;
  cr_assert_eq(fixture_request(&fx,
                               fixture_message(&fx, COAP_CODE_GET, "/small"),
                               &resp, 5000),
               0);
  cr_assert_eq(resp->code, COAP_CODE_CONTENT);
  coap_message_free(resp);
  coap_context_stats stats;
  coap_context_get_stats(fx.server, &stats);
  cr_assert_eq(stats.echo_challenges, 0, "within the factor");
  fixture_stop(&fx);
}

/* A resource that always challenges, as a server whose Echo values never
 * verify would: our client repeats the request once, then hands the 4.01
 * to the application (RFC 9175 §2.3; bounded so it cannot loop). */
static int challenges_rendered;

static int always_challenge(coap_resource *res, coap_message *req,
                            coap_message *resp, coap_future **later) {
  (void)res;
  (void)req;
  (void)later;
  challenges_rendered++;
  resp->code = COAP_CODE_UNAUTHORIZED;
  static const uint8_t echo[4] = {1, 2, 3, 4};
  return coap_options_add(&resp->opt, COAP_OPT_ECHO, echo, sizeof echo);
}

static const coap_resource_methods challenge = {.render_get = always_challenge};

COAP_TEST(echo, client_repeats_once_only) {
  fixture fx;
  start(&fx, false);
  fixture_add(&fx, "challenge", &challenge, NULL);
  challenges_rendered = 0;
  coap_message *resp = NULL;
  int rc = fixture_request(
      &fx, fixture_message(&fx, COAP_CODE_GET, "/challenge"), &resp, 5000);
  cr_assert_neq(rc, COAP_EAGAIN, "the request ended");
  cr_assert_eq(challenges_rendered, 2, "asked once, repeated once");
  coap_message_free(resp);
  fixture_stop(&fx);
}

/* RFC 7252 §11.3 end to end: an observer on a raw socket that registers
 * and then answers nothing gets, over many state changes, its first
 * response, what 3 times its registration buys, and one probe CON (whose
 * retransmissions stay within the budget). */
COAP_TEST(echo, silent_observer_is_held_to_its_budget) {
  reset_resource_state();
  coap_context_config config;
  coap_context_config_default(&config);
  config.transmission.ack_timeout_ms = 80;
  config.transmission.ack_random_factor = 1.0;
  config.transmission.max_retransmit = 2;
  fixture fx;
  fixture_start(&fx, &config);
  coap_resource *res = add_observable(&fx, "state");
  set_state("a state of twenty-four bytes, or so");
  int fd = raw_socket();
  coap_message m;
  coap_message_init(&m);
  m.mtype = COAP_TYPE_NON;
  m.mid = 7;
  m.code = COAP_CODE_GET;
  coap_options_set_observe(&m.opt, 0);
  coap_options_add_string(&m.opt, COAP_OPT_URI_PATH, "state");
  uint8_t buf[1500];
  const int request = coap_message_encode(&m, buf, sizeof buf);
  coap_message_clear(&m);
  cr_assert_gt(request, 0);
  struct sockaddr_in6 to = {.sin6_family = AF_INET6,
                            .sin6_port = htons(fx.port),
                            .sin6_addr = IN6ADDR_LOOPBACK_INIT};
  cr_assert_eq(
      sendto(fd, buf, (size_t)request, 0, (struct sockaddr *)&to, sizeof to),
      request);
  struct sockaddr_in6 from;
  ssize_t first = raw_recv_from(fd, &fx, buf, sizeof buf, &from);
  cr_assert_gt(first, 4, "the first response is sent");
  for (int i = 0; i < 20; i++) {
    (void)coap_observable_resource_updated_state(res, NULL);
    run_for(&fx, 30);
  }
  run_for(&fx, 800);
  size_t bytes = 0, datagrams = 0;
  ssize_t got;
  while ((got = recv(fd, buf, sizeof buf, MSG_DONTWAIT)) > 0) {
    bytes += (size_t)got;
    datagrams++;
  }
  cr_assert_gt(datagrams, 0);
  cr_assert_leq(bytes, 3 * (size_t)request + (size_t)first + 8,
                "%zu bytes in %zu datagrams for a %d-byte request", bytes,
                datagrams, request);
  coap_context_stats stats;
  coap_context_get_stats(fx.server, &stats);
  cr_assert_gt(stats.amplification_limited, 0);
  close(fd);
  fixture_stop(&fx);
}

/* An Observe registration whose first response is challenged: our client
 * repeats it with the Echo, the observation is established, and (the peer
 * now validated) notifications flow. */
COAP_TEST(echo, observation_survives_the_challenge) {
  reset_resource_state();
  coap_context_config config;
  coap_context_config_default(&config);
  config.echo_first_response = true;
  fixture fx;
  fixture_start(&fx, &config);
  coap_resource *res = add_observable(&fx, "state");
  char text[200];
  memset(text, 's', sizeof text - 1);
  text[sizeof text - 1] = '\0';
  set_state(text);
  coap_observation *obs;
  coap_request *req = observe(&fx, "/state", &obs);
  const coap_message *first = first_response(req);
  cr_assert_eq(first->code, COAP_CODE_CONTENT);
  uint32_t seq;
  cr_assert_eq(coap_options_get_observe(&first->opt, &seq), 0, "observed");
  for (int i = 0; i < 5; i++) {
    text[0] = (char)('a' + i);
    set_state(text);
    (void)coap_observable_resource_updated_state(res, NULL);
    coap_future *f = next_notification(&fx, obs, 2000);
    coap_future_unref(f);
  }
  coap_context_stats stats;
  coap_context_get_stats(fx.server, &stats);
  cr_assert_eq(stats.echo_challenges, 1);
  cr_assert_eq(stats.amplification_limited, 0);
  coap_observation_unref(obs);
  coap_request_unref(req);
  fixture_stop(&fx);
}

/* An observer held back by the limit that acknowledges the probe CON is
 * validated: from then on every state reaches it. */
COAP_TEST(echo, acknowledging_the_probe_lets_notifications_flow) {
  reset_resource_state();
  coap_context_config config;
  coap_context_config_default(&config);
  fixture fx;
  fixture_start(&fx, &config);
  coap_resource *res = add_observable(&fx, "state");
  set_state("a state of some forty bytes, more or less");
  int fd = raw_socket();
  coap_message m;
  coap_message_init(&m);
  m.mtype = COAP_TYPE_NON;
  m.mid = 9;
  m.code = COAP_CODE_GET;
  coap_options_set_observe(&m.opt, 0);
  coap_options_add_string(&m.opt, COAP_OPT_URI_PATH, "state");
  uint8_t buf[1500];
  int n = coap_message_encode(&m, buf, sizeof buf);
  coap_message_clear(&m);
  struct sockaddr_in6 to = {.sin6_family = AF_INET6,
                            .sin6_port = htons(fx.port),
                            .sin6_addr = IN6ADDR_LOOPBACK_INIT};
  cr_assert_eq(sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&to, sizeof to),
               n);
  struct sockaddr_in6 from;
  cr_assert_gt(raw_recv_from(fd, &fx, buf, sizeof buf, &from), 4);
  /* The next state is beyond the budget: it goes as the probe CON. */
  (void)coap_observable_resource_updated_state(res, NULL);
  ssize_t got;
  do {
    got = raw_recv_from(fd, &fx, buf, sizeof buf, &from);
    cr_assert_gt(got, 4, "the probe came");
  } while (((buf[0] >> 4) & 3) != COAP_TYPE_CON);
  const uint8_t ack[4] = {0x60, 0x00, buf[2], buf[3]};
  cr_assert_eq(
      sendto(fd, ack, sizeof ack, 0, (struct sockaddr *)&to, sizeof to),
      (ssize_t)sizeof ack);
  run_for(&fx, 50);
  while (recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0)
    ;
  for (int i = 0; i < 5; i++) {
    (void)coap_observable_resource_updated_state(res, NULL);
    cr_assert_gt(raw_recv_from(fd, &fx, buf, sizeof buf, &from), 4,
                 "notification %d came", i);
  }
  close(fd);
  fixture_stop(&fx);
}
