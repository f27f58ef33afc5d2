/*
 * Anti-amplification in the message layer (RFC 7252 §11.3, after RFC 9000
 * §8.1): to a peer that has not shown it receives what is sent, everything
 * beyond the first response to a request stays within
 * amplification_factor times the bytes received from it.  Fake clock, no
 * sockets (mm_harness.h, manual mode: nothing reaches the client unless a
 * test delivers it).
 */
#include "mm_harness.h"

enum { FACTOR = 3 };

static void setup_amp(uint32_t factor) {
  coap__mm_config client = test_config();
  coap__mm_config server = test_config();
  server.amplification_factor = factor;
  server.non_records = 64;
  harness_init(&H, &client, &server);
}

static void teardown(void) {
  harness_fini(&H);
}

/* Bytes the server sent from log entry `from` on, not counting 4-byte
 * empty ACKs. */
static size_t server_bytes_from(size_t from, size_t *datagrams) {
  size_t sum = 0, n = 0;
  for (size_t i = from; i < H.server.log_len; i++) {
    if (H.server.log[i].len == 4)
      continue;
    sum += H.server.log[i].len;
    n++;
  }
  if (datagrams != NULL)
    *datagrams = n;
  return sum;
}

/* A notification (a 2.05 with a token and an 11-byte payload) from the
 * server to the client; owner receives the events. */
static int notify(int mtype, exchange *owner) {
  coap_message msg;
  coap_message_init(&msg);
  msg.mtype = mtype;
  msg.code = COAP_CODE_CONTENT;
  put_token(&msg, 1);
  coap_options_set_observe(&msg.opt, 7);
  static const char body[] = "12:00:00 UT";
  coap_message_set_payload_borrowed(&msg, body, sizeof body - 1);
  msg.remote = H.client.self;
  int r = coap__mm_send(H.server.mm, &msg, owner, H.now);
  coap_message_clear(&msg);
  return r;
}

/* The client registers (NON GET) and the server answers at once. */
static size_t register_observer(void) {
  cr_assert_eq(client_request(&H, 1, COAP_TYPE_NON), 0);
  deliver(&H, &H.client, 0);
  cr_assert_eq(H.server.log_len, 1, "the first response is sent");
  return H.client.log[0].len;
}

static void inject_empty(int mtype, uint16_t mid) {
  const uint8_t ack[4] = {(uint8_t)(1 << 6 | mtype << 4), 0,
                          (uint8_t)(mid >> 8), (uint8_t)mid};
  inject(&H, &H.server, ack, sizeof ack);
}

Test(amplification, silent_observer_gets_at_most_factor_times_its_bytes,
     .fini = teardown) {
  setup_amp(FACTOR);
  size_t request = register_observer();
  unsigned refused = 0;
  exchange owners[40];
  memset(owners, 0, sizeof owners);
  for (int i = 0; i < 40; i++) {
    int r = notify(i % 5 == 4 ? COAP_TYPE_CON : COAP_TYPE_NON, &owners[i]);
    if (r == COAP_EAGAIN)
      refused++;
    else
      cr_assert_eq(r, 0);
    run_until(&H, H.now + 1000);
  }
  run_until(&H, H.now + 300000);
  size_t datagrams;
  size_t sent = server_bytes_from(1, &datagrams);
  /* Beyond the budget, one CON goes as the peer's probe (its ACK would
   * validate the peer; without it a peer whose notifications outgrow its
   * budget could never be validated); its retransmissions stay within the
   * budget, so they are not sent. */
  const size_t notification = H.server.log[1].len;
  cr_assert_leq(sent, FACTOR * request + notification,
                "%zu bytes for a %zu-byte request", sent, request);
  unsigned timeouts = 0;
  for (int i = 0; i < 40; i++)
    timeouts += owners[i].events[COAP__MM_TIMEOUT];
  cr_assert_eq(timeouts, 1, "the probe CON was never acknowledged");
  cr_assert_gt(datagrams, 0, "the budget lets some notifications go");
  cr_assert_gt(refused, 0);
  coap__mm_stats stats;
  coap__mm_get_stats(H.server.mm, &stats);
  cr_assert_geq(stats.amplification_limited, refused);
}

Test(amplification, ack_to_a_con_notification_validates_the_peer,
     .fini = teardown) {
  setup_amp(FACTOR);
  (void)register_observer();
  exchange con;
  memset(&con, 0, sizeof con);
  cr_assert_eq(notify(COAP_TYPE_CON, &con), 0);
  cr_assert_eq(H.server.log_len, 2, "the CON fits the budget");
  cr_assert(!coap__mm_peer_validated(H.server.mm, &H.client.self));
  /* RFC 7252 §4.2: its ACK echoes the MID only the client was sent. */
  inject_empty(COAP_TYPE_ACK, log_mid(&H.server, 1));
  cr_assert_eq(con.events[COAP__MM_ACKED], 1);
  cr_assert(coap__mm_peer_validated(H.server.mm, &H.client.self));
  cr_assert_eq(H.server.validations, 1, "the layer above is told once");
  coap__mm_peer_validate(H.server.mm, &H.client.self, H.now);
  cr_assert_eq(H.server.validations, 1);
  exchange owners[50];
  memset(owners, 0, sizeof owners);
  for (int i = 0; i < 50; i++)
    cr_assert_eq(notify(COAP_TYPE_NON, &owners[i]), 0);
  cr_assert_eq(H.server.log_len, 52, "every notification goes");
}

Test(amplification, validate_lets_notifications_flow, .fini = teardown) {
  setup_amp(FACTOR);
  (void)register_observer();
  exchange owners[50];
  memset(owners, 0, sizeof owners);
  int r = 0;
  for (int i = 0; i < 50 && r == 0; i++)
    r = notify(COAP_TYPE_NON, &owners[i]);
  cr_assert_eq(r, COAP_EAGAIN, "the budget runs out");
  size_t before = H.server.log_len;
  /* As the Echo check (RFC 9175 §2.4) does. */
  coap__mm_peer_validate(H.server.mm, &H.client.self, H.now);
  for (int i = 0; i < 20; i++)
    cr_assert_eq(notify(COAP_TYPE_NON, &owners[i]), 0);
  cr_assert_eq(H.server.log_len, before + 20);
}

Test(amplification, rst_to_a_non_validates_the_peer, .fini = teardown) {
  setup_amp(FACTOR);
  (void)register_observer();
  exchange non;
  memset(&non, 0, sizeof non);
  cr_assert_eq(notify(COAP_TYPE_NON, &non), 0);
  inject_empty(COAP_TYPE_RST, log_mid(&H.server, 1));
  cr_assert_eq(non.events[COAP__MM_RST], 1);
  cr_assert(coap__mm_peer_validated(H.server.mm, &H.client.self));
}

/* The client sends a CON request that the server answers late: an empty
 * ACK, then the separate CON response, never acknowledged. */
static exchange *separate_response(void) {
  H.server.respond_mode = RESPOND_LATER;
  H.server.respond_delay = 500;
  cr_assert_eq(client_request(&H, 2, COAP_TYPE_CON), 0);
  deliver(&H, &H.client, 0);
  run_until(&H, H.now + 600);
  cr_assert_eq(H.server.ex[2].events[COAP__MM_SENT], 1);
  run_until(&H, H.now + 300000);
  return &H.server.ex[2];
}

static unsigned response_datagrams(void) {
  unsigned n = 0;
  for (size_t i = 0; i < H.server.log_len; i++)
    if (log_code(&H.server, i) == COAP_CODE_CONTENT)
      n++;
  return n;
}

Test(amplification, separate_response_retransmissions_held_back,
     .fini = teardown) {
  setup_amp(1);
  exchange *ex = separate_response();
  /* The first transmission always goes; a 17-byte request buys one more
   * (the response is 15 bytes) of the four retransmissions. */
  unsigned sent = response_datagrams();
  cr_assert_geq(sent, 1, "the first response is sent");
  cr_assert_lt(sent, 5, "retransmissions beyond the budget are skipped");
  size_t response = 0;
  for (size_t i = 0; i < H.server.log_len; i++)
    if (log_code(&H.server, i) == COAP_CODE_CONTENT)
      response = H.server.log[i].len;
  cr_assert_leq((sent - 1) * response, H.client.log[0].len);
  cr_assert_eq(ex->events[COAP__MM_TIMEOUT], 1,
               "it times out as for a lost datagram");
  coap__mm_stats stats;
  coap__mm_get_stats(H.server.mm, &stats);
  cr_assert_eq(stats.amplification_limited, 5 - sent);
}

Test(amplification, validated_peer_gets_every_retransmission,
     .fini = teardown) {
  setup_amp(1);
  coap__mm_peer_validate(H.server.mm, &H.client.self, H.now);
  (void)separate_response();
  cr_assert_eq(response_datagrams(), 5, "RFC 7252 §4.2: 1 + MAX_RETRANSMIT");
}

Test(amplification, factor_zero_is_no_limit, .fini = teardown) {
  setup_amp(0);
  (void)separate_response();
  cr_assert_eq(response_datagrams(), 5);
}

Test(amplification, first_response_is_always_sent, .fini = teardown) {
  setup_amp(FACTOR);
  H.server.respond_mode = RESPOND_NEVER;
  cr_assert_eq(client_request(&H, 3, COAP_TYPE_CON), 0);
  deliver(&H, &H.client, 0);
  coap_message resp;
  coap_message_init(&resp);
  resp.code = COAP_CODE_CONTENT;
  put_token(&resp, 3);
  static char body[1000];
  memset(body, 'x', sizeof body);
  coap_message_set_payload_borrowed(&resp, body, sizeof body);
  cr_assert_eq(
      coap__mm_respond(H.server.mm, H.server.last_in, &resp, NULL, H.now), 0);
  coap_message_clear(&resp);
  cr_assert_eq(H.server.log_len, 1);
  cr_assert_gt(H.server.log[0].len, 1000, "sent whole, piggybacked");
}

Test(amplification, own_requests_are_not_limited, .fini = teardown) {
  coap__mm_config client = test_config();
  client.amplification_factor = 1;
  harness_init(&H, &client, &client);
  cr_assert_eq(client_request(&H, 4, COAP_TYPE_CON), 0);
  run_until(&H, H.now + 300000);
  unsigned gets = 0;
  for (size_t i = 0; i < H.client.log_len; i++)
    if (log_code(&H.client, i) == COAP_CODE_GET)
      gets++;
  cr_assert_eq(gets, 5);
}

/* The harness's helpers this file has no use for. */
__attribute__((unused)) static void unused_helpers(void) {
  (void)run_until_done;
  (void)log_type;
}
