/*
 * aiocoap-plugtest-server's resources (cli/plugtest_*.c, issue 15), served
 * by a server context on loopback: each rule of the ETSI CoAP#4 set,
 * checked through the library's client where the answer is what counts
 * and through a raw socket where the messages themselves are (types,
 * MIDs, retransmissions, options of single blocks).  Timing rules run
 * with short configured timers (ack_timeout, a random factor of 1 so the
 * schedule is exact, short periods and delays).
 */
#include "observation_fixture.h"

#include "../cli/plugtest.h"

#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct pt {
  fixture fx;
  plugtest_site *site;
  int fd;
  struct sockaddr_in6 server;
} pt;

static void pt_start(pt *t, const coap_context_config *config,
                     const plugtest_config *pconfig) {
  memset(t, 0, sizeof *t);
  fixture *fx = &t->fx;
  cr_assert_eq(uv_loop_init(&fx->loop), 0);
  cr_assert_eq(plugtest_site_new(&fx->loop, pconfig, &t->site), 0);
  fx->site = coap_site_ref(plugtest_site_site(t->site));
  cr_assert_eq(coap_context_create_server_context(
                   &fx->loop, fx->site, "[::1]:0", config, &fx->server),
               0);
  cr_assert_eq(
      coap_context_create_client_context(&fx->loop, config, &fx->client), 0);
  cr_assert_eq(coap_context_local_address(fx->server, &t->server), 0);
  fx->port = ntohs(t->server.sin6_port);
  snprintf(fx->base, sizeof fx->base, "coap://[::1]:%u", fx->port);
  t->fd = socket(AF_INET6, SOCK_DGRAM, 0);
  cr_assert_geq(t->fd, 0);
  struct sockaddr_in6 a = {.sin6_family = AF_INET6,
                           .sin6_addr = IN6ADDR_LOOPBACK_INIT};
  cr_assert_eq(bind(t->fd, (struct sockaddr *)&a, sizeof a), 0);
}

static void on_client_down(coap_context *ctx, void *data) {
  (void)ctx;
  ((pt *)data)->fx.client = NULL;
}

/* As the program does: the site's timers go once the server is down. */
static void on_server_down(coap_context *ctx, void *data) {
  (void)ctx;
  pt *t = data;
  t->fx.server = NULL;
  plugtest_site_free(t->site);
  t->site = NULL;
}

static void pt_stop(pt *t) {
  close(t->fd);
  coap_context_shutdown(t->fx.client, on_client_down, t);
  coap_context_shutdown(t->fx.server, on_server_down, t);
  uv_run(&t->fx.loop, UV_RUN_DEFAULT);
  cr_expect_null(t->fx.server, "the server shut down");
  cr_expect_null(t->fx.client, "the client shut down");
  fixture_close(&t->fx);
}

/* Short timers with an exact schedule: ACK_TIMEOUT ms, doubling. */
static void fast_config(coap_context_config *c, uint32_t ack_timeout_ms,
                        uint32_t max_retransmit) {
  coap_context_config_default(c);
  c->transmission.ack_timeout_ms = ack_timeout_ms;
  c->transmission.ack_random_factor = 1.0;
  c->transmission.max_retransmit = max_retransmit;
}

static void plug_config(plugtest_config *p, uint32_t period_ms,
                        uint32_t separate_ms) {
  plugtest_config_default(p);
  p->obs_period_ms = period_ms;
  p->separate_delay_ms = separate_ms;
}

/* ---- the raw client ---- */

static const uint8_t token_a[2] = {0xa1, 0xa2};

static void raw_init(coap_message *m, int mtype, uint16_t mid, uint8_t code,
                     const char *path) {
  coap_message_init(m);
  m->mtype = mtype;
  m->mid = mid;
  m->code = code;
  coap_message_set_token(m, token_a, sizeof token_a);
  if (path != NULL)
    cr_assert_eq(coap_options_set_uri_path_string(&m->opt, path), 0);
}

/* Sends m and clears it. */
static void raw_send(pt *t, coap_message *m) {
  uint8_t buf[2048];
  int n = coap_message_encode(m, buf, sizeof buf);
  cr_assert_gt(n, 0);
  cr_assert_eq(sendto(t->fd, buf, (size_t)n, 0,
                      (const struct sockaddr *)&t->server, sizeof t->server),
               n);
  coap_message_clear(m);
}

static void raw_empty(pt *t, int mtype, uint16_t mid) {
  uint8_t h[4] = {(uint8_t)(0x40 | mtype << 4), 0, (uint8_t)(mid >> 8),
                  (uint8_t)mid};
  cr_assert_eq(sendto(t->fd, h, 4, 0, (const struct sockaddr *)&t->server,
                      sizeof t->server),
               4);
}

/* Runs the loop until a datagram comes (decoded into m, borrowing buf) or
 * limit_ms of loop time pass; its length, or -1. */
static ssize_t raw_recv(pt *t, coap_message *m, uint8_t *buf, size_t cap,
                        uint64_t limit_ms) {
  uint64_t start = uv_now(&t->fx.loop);
  coap_message_init(m);
  do {
    uv_run(&t->fx.loop, UV_RUN_NOWAIT);
    ssize_t n = recv(t->fd, buf, cap, MSG_DONTWAIT);
    if (n >= 0) {
      cr_assert_eq(coap_message_decode(m, buf, (size_t)n), 0);
      return n;
    }
    struct pollfd pfd = {.fd = t->fd, .events = POLLIN};
    poll(&pfd, 1, 2);
    uv_update_time(&t->fx.loop);
  } while (uv_now(&t->fx.loop) - start < limit_ms);
  return -1;
}

/* The one answer to a raw request: within 2 s. */
static void raw_answer(pt *t, coap_message *m, uint8_t *buf, size_t cap) {
  cr_assert_gt(raw_recv(t, m, buf, cap, 2000), 0, "an answer came");
}

/* ---- the library's client ---- */

/* path's answer to code (with payload when given); the caller frees it. */
static coap_message *ask(pt *t, uint8_t code, const char *path,
                         const char *payload) {
  coap_message *msg = fixture_message(&t->fx, code, path);
  if (payload != NULL)
    cr_assert_eq(coap_message_set_payload_string(msg, payload), 0);
  coap_message *resp = NULL;
  cr_assert_eq(fixture_request(&t->fx, msg, &resp, 5000), 0);
  return resp;
}

static void code_is(const coap_message *m, uint8_t code) {
  char a[5], b[5];
  cr_assert_eq(m->code, code, "code %s, want %s", coap_code_dotted(m->code, a),
               coap_code_dotted(code, b));
}

static void cf_is(const coap_message *m, uint16_t cf) {
  uint16_t got = 0;
  cr_assert_eq(coap_options_get_content_format(&m->opt, &got), 0,
               "a 2.xx with a payload carries Content-Format");
  cr_assert_eq(got, cf);
}

static bool payload_has(const coap_message *m, const char *text) {
  return m->payload_len >= strlen(text) &&
         memmem(m->payload, m->payload_len, text, strlen(text)) != NULL;
}

/* ---- TD_COAP_CORE ---- */

/* TD_COAP_CORE_01..04: the four methods on /test, and GET still works
 * after DELETE. */
COAP_TEST(plugtest, test_answers_every_method_and_survives_delete) {
  pt t;
  pt_start(&t, NULL, NULL);
  coap_message *r = ask(&t, COAP_CODE_GET, "/test", NULL);
  code_is(r, COAP_CODE_CONTENT);
  cf_is(r, COAP_CT_TEXT_PLAIN);
  cr_assert_gt(r->payload_len, 0);
  coap_message_free(r);

  r = ask(&t, COAP_CODE_POST, "/test", "posted");
  code_is(r, COAP_CODE_CREATED);
  char loc[128];
  cr_assert_gt(coap_options_get_location_path_string(&r->opt, loc, sizeof loc),
               0);
  cr_assert_str_eq(loc, "location1/location2/location3");
  coap_message_free(r);

  r = ask(&t, COAP_CODE_PUT, "/test", "put text");
  code_is(r, COAP_CODE_CHANGED);
  coap_message_free(r);
  r = ask(&t, COAP_CODE_GET, "/test", NULL);
  payload_is(r, "put text");
  coap_message_free(r);

  r = ask(&t, COAP_CODE_DELETE, "/test", NULL);
  code_is(r, COAP_CODE_DELETED);
  coap_message_free(r);
  r = ask(&t, COAP_CODE_GET, "/test", NULL);
  code_is(r, COAP_CODE_CONTENT);
  cr_assert(payload_has(r, "/test resource"), "back to the default");
  coap_message_free(r);
  pt_stop(&t);
}

/* RFC 7252 §5.2.1 and §5.2.3: a CON is answered piggybacked on its ACK, a
 * NON with a NON. */
COAP_TEST(plugtest, con_piggybacked_non_answered_with_non) {
  pt t;
  pt_start(&t, NULL, NULL);
  coap_message m;
  uint8_t buf[1500];
  raw_init(&m, COAP_TYPE_CON, 0x1001, COAP_CODE_GET, "test");
  raw_send(&t, &m);
  raw_answer(&t, &m, buf, sizeof buf);
  cr_assert_eq(m.mtype, COAP_TYPE_ACK);
  cr_assert_eq(m.mid, 0x1001);
  code_is(&m, COAP_CODE_CONTENT);
  cr_assert_eq(m.token_len, 2);
  cf_is(&m, COAP_CT_TEXT_PLAIN);
  coap_message_clear(&m);

  raw_init(&m, COAP_TYPE_NON, 0x1002, COAP_CODE_GET, "test");
  raw_send(&t, &m);
  raw_answer(&t, &m, buf, sizeof buf);
  cr_assert_eq(m.mtype, COAP_TYPE_NON);
  code_is(&m, COAP_CODE_CONTENT);
  cr_assert_arr_eq(m.token, token_a, 2);
  coap_message_clear(&m);
  pt_stop(&t);
}

/* RFC 7252 §4.5: a duplicate CON gets the same answer and is not
 * processed again, even a POST that creates a resource. */
COAP_TEST(plugtest, duplicate_post_answered_again_not_processed) {
  pt t;
  pt_start(&t, NULL, NULL);
  uint8_t first[1500], again[1500];
  coap_message m;
  raw_init(&m, COAP_TYPE_CON, 0x2001, COAP_CODE_POST, "large-create");
  coap_message_set_payload_string(&m, "made once");
  raw_send(&t, &m);
  ssize_t n1 = raw_recv(&t, &m, first, sizeof first, 2000);
  cr_assert_gt(n1, 0);
  code_is(&m, COAP_CODE_CREATED);
  coap_message_clear(&m);
  raw_init(&m, COAP_TYPE_CON, 0x2001, COAP_CODE_POST, "large-create");
  coap_message_set_payload_string(&m, "made once");
  raw_send(&t, &m);
  ssize_t n2 = raw_recv(&t, &m, again, sizeof again, 2000);
  coap_message_clear(&m);
  cr_assert_eq(n2, n1);
  cr_assert_arr_eq(again, first, (size_t)n1, "the very same bytes");
  cr_assert_not_null(plugtest_site_resource(t.site, "large-create/1"));
  cr_assert_null(plugtest_site_resource(t.site, "large-create/2"),
                 "the duplicate created nothing");
  pt_stop(&t);
}

/* TD_COAP_CORE_05/06 (NON), 07, 08, 13, 14: the other core resources. */
COAP_TEST(plugtest, seg_query_location_query) {
  pt t;
  pt_start(&t, NULL, NULL);
  coap_message *r = ask(&t, COAP_CODE_GET, "/seg1/seg2/seg3", NULL);
  code_is(r, COAP_CODE_CONTENT);
  cf_is(r, COAP_CT_TEXT_PLAIN);
  coap_message_free(r);
  r = ask(&t, COAP_CODE_GET, "/query?first=1&second=2&third=3", NULL);
  code_is(r, COAP_CODE_CONTENT);
  payload_is(r, "first=1&second=2&third=3");
  coap_message_free(r);
  r = ask(&t, COAP_CODE_POST, "/location-query", "x");
  code_is(r, COAP_CODE_CREATED);
  char q[64];
  cr_assert_gt(coap_options_get_location_query_string(&r->opt, q, sizeof q), 0);
  cr_assert_str_eq(q, "first=1&second=2");
  cr_assert_eq(coap_options_count_of(&r->opt, COAP_OPT_LOCATION_QUERY), 2);
  coap_message_free(r);
  pt_stop(&t);
}

static coap_message *get_accept(pt *t, const char *path, int accept) {
  coap_message *msg = fixture_message(&t->fx, COAP_CODE_GET, path);
  if (accept >= 0)
    coap_options_set_accept(&msg->opt, (uint16_t)accept);
  coap_message *resp = NULL;
  cr_assert_eq(fixture_request(&t->fx, msg, &resp, 5000), 0);
  return resp;
}

/* TD_COAP_CORE_15..17 (Accept). */
COAP_TEST(plugtest, multi_format_by_accept) {
  pt t;
  pt_start(&t, NULL, NULL);
  coap_message *r = get_accept(&t, "/multi-format", COAP_CT_TEXT_PLAIN);
  code_is(r, COAP_CODE_CONTENT);
  cf_is(r, COAP_CT_TEXT_PLAIN);
  coap_message_free(r);
  r = get_accept(&t, "/multi-format", COAP_CT_XML);
  code_is(r, COAP_CODE_CONTENT);
  cf_is(r, COAP_CT_XML);
  cr_assert(payload_has(r, "<?xml version=\"1.0\""));
  cr_assert(payload_has(r, "</plugtest>"));
  coap_message_free(r);
  r = get_accept(&t, "/multi-format", -1);
  cf_is(r, COAP_CT_TEXT_PLAIN);
  coap_message_free(r);
  r = get_accept(&t, "/multi-format", COAP_CT_JSON);
  code_is(r, COAP_CODE_NOT_ACCEPTABLE);
  coap_message_free(r);
  pt_stop(&t);
}

static size_t etag_of(const coap_message *m, uint8_t *etag) {
  const uint8_t *v;
  size_t len;
  cr_assert_eq(coap_options_get_etag(&m->opt, &v, &len), 0, "an ETag");
  memcpy(etag, v, len);
  return len;
}

/* TD_COAP_CORE_18..21: ETag, 2.03, If-Match. */
COAP_TEST(plugtest, validate_etag_valid_and_if_match) {
  pt t;
  pt_start(&t, NULL, NULL);
  uint8_t e1[8], e2[8];
  coap_message *r = ask(&t, COAP_CODE_GET, "/validate", NULL);
  code_is(r, COAP_CODE_CONTENT);
  size_t l1 = etag_of(r, e1);
  coap_message_free(r);

  coap_message *msg = fixture_message(&t.fx, COAP_CODE_GET, "/validate");
  coap_options_add_etag(&msg->opt, e1, l1);
  cr_assert_eq(fixture_request(&t.fx, msg, &r, 5000), 0);
  code_is(r, COAP_CODE_VALID);
  cr_assert_eq(r->payload_len, 0);
  coap_message_free(r);

  r = ask(&t, COAP_CODE_PUT, "/validate", "changed");
  code_is(r, COAP_CODE_CHANGED);
  coap_message_free(r);
  r = ask(&t, COAP_CODE_GET, "/validate", NULL);
  payload_is(r, "changed");
  size_t l2 = etag_of(r, e2);
  cr_assert(l2 != l1 || memcmp(e1, e2, l1) != 0, "the ETag changed");
  coap_message_free(r);

  msg = fixture_message(&t.fx, COAP_CODE_PUT, "/validate");
  coap_options_add_if_match(&msg->opt, e1, l1);
  coap_message_set_payload_string(msg, "stale");
  cr_assert_eq(fixture_request(&t.fx, msg, &r, 5000), 0);
  code_is(r, COAP_CODE_PRECONDITION_FAILED);
  coap_message_free(r);
  msg = fixture_message(&t.fx, COAP_CODE_PUT, "/validate");
  coap_options_add_if_match(&msg->opt, e2, l2);
  coap_message_set_payload_string(msg, "current");
  cr_assert_eq(fixture_request(&t.fx, msg, &r, 5000), 0);
  code_is(r, COAP_CODE_CHANGED);
  coap_message_free(r);
  r = ask(&t, COAP_CODE_GET, "/validate", NULL);
  payload_is(r, "current");
  coap_message_free(r);
  pt_stop(&t);
}

static coap_message *put_if_none_match(pt *t, const char *text) {
  coap_message *msg = fixture_message(&t->fx, COAP_CODE_PUT, "/create1");
  coap_options_set_if_none_match(&msg->opt, true);
  coap_message_set_payload_string(msg, text);
  coap_message *r;
  cr_assert_eq(fixture_request(&t->fx, msg, &r, 5000), 0);
  return r;
}

/* TD_COAP_CORE_22/23: If-None-Match; DELETE makes it absent again, so the
 * test runs again and again. */
COAP_TEST(plugtest, create1_if_none_match_twice) {
  pt t;
  pt_start(&t, NULL, NULL);
  for (int round = 0; round < 2; round++) {
    coap_message *r = ask(&t, COAP_CODE_GET, "/create1", NULL);
    code_is(r, COAP_CODE_NOT_FOUND);
    coap_message_free(r);
    r = put_if_none_match(&t, "one");
    code_is(r, COAP_CODE_CREATED);
    coap_message_free(r);
    r = put_if_none_match(&t, "two");
    code_is(r, COAP_CODE_PRECONDITION_FAILED);
    coap_message_free(r);
    r = ask(&t, COAP_CODE_GET, "/create1", NULL);
    payload_is(r, "one");
    coap_message_free(r);
    r = ask(&t, COAP_CODE_DELETE, "/create1", NULL);
    code_is(r, COAP_CODE_DELETED);
    coap_message_free(r);
  }
  pt_stop(&t);
}

/* TD_COAP_CORE_09/10 (RFC 7252 §5.2.2): an empty ACK at once, then the
 * answer as a CON of its own retransmitted until ACKed; the request
 * repeated meanwhile is acknowledged again and not rendered twice
 * (§4.5). */
COAP_TEST(plugtest, separate_con_empty_ack_then_retransmitted_con) {
  coap_context_config c;
  fast_config(&c, 200, 4);
  /* The raw peer never proves its address (RFC 7252 §11.3), so beyond
   * three times its bytes retransmissions would be skipped. */
  c.amplification_factor = 0;
  plugtest_config p;
  plug_config(&p, 60000, 400);
  pt t;
  pt_start(&t, &c, &p);
  coap_message m;
  uint8_t buf[1500];
  raw_init(&m, COAP_TYPE_CON, 0x3001, COAP_CODE_GET, "separate");
  raw_send(&t, &m);
  ssize_t n = raw_recv(&t, &m, buf, sizeof buf, 300);
  cr_assert_eq(n, 4, "an empty ACK");
  cr_assert_eq(m.mtype, COAP_TYPE_ACK);
  cr_assert_eq(m.mid, 0x3001);
  coap_message_clear(&m);
  /* The request again, as if that ACK was lost. */
  raw_init(&m, COAP_TYPE_CON, 0x3001, COAP_CODE_GET, "separate");
  raw_send(&t, &m);
  n = raw_recv(&t, &m, buf, sizeof buf, 300);
  cr_assert_eq(n, 4, "acknowledged again");
  cr_assert_eq(m.mid, 0x3001);
  coap_message_clear(&m);

  uint64_t t0 = uv_now(&t.fx.loop);
  n = raw_recv(&t, &m, buf, sizeof buf, 1000);
  cr_assert_gt(n, 4);
  uint64_t t1 = uv_now(&t.fx.loop);
  cr_assert_eq(m.mtype, COAP_TYPE_CON);
  code_is(&m, COAP_CODE_CONTENT);
  cf_is(&m, COAP_CT_TEXT_PLAIN);
  cr_assert_arr_eq(m.token, token_a, 2);
  int32_t mid = m.mid;
  cr_assert_neq(mid, 0x3001, "a message of its own");
  coap_message_clear(&m);
  /* Not ACKed: the same message again after ACK_TIMEOUT, then after twice
   * that (RFC 7252 §4.2). */
  n = raw_recv(&t, &m, buf, sizeof buf, 1000);
  uint64_t t2 = uv_now(&t.fx.loop);
  cr_assert_gt(n, 4);
  cr_assert_eq(m.mid, mid, "a retransmission");
  coap_message_clear(&m);
  n = raw_recv(&t, &m, buf, sizeof buf, 1000);
  uint64_t t3 = uv_now(&t.fx.loop);
  cr_assert_eq(m.mid, mid);
  coap_message_clear(&m);
  cr_assert(t2 - t1 >= 180 && t2 - t1 <= 320, "first gap %llu ms",
            (unsigned long long)(t2 - t1));
  cr_assert(t3 - t2 >= 370 && t3 - t2 <= 520, "second gap %llu ms",
            (unsigned long long)(t3 - t2));
  (void)t0;
  raw_empty(&t, COAP_TYPE_ACK, (uint16_t)mid);
  n = raw_recv(&t, &m, buf, sizeof buf, 1000);
  cr_assert_eq(n, -1, "nothing more once ACKed");
  coap_context_stats st;
  coap_context_get_stats(t.fx.server, &st);
  cr_assert_eq(st.separate_responses, 1, "rendered and answered once");
  pt_stop(&t);
}

/* TD_COAP_CORE_11/12: a NON request, a NON answer later, nothing else. */
COAP_TEST(plugtest, separate_non_answered_later_with_non) {
  plugtest_config p;
  plug_config(&p, 60000, 300);
  pt t;
  pt_start(&t, NULL, &p);
  coap_message m;
  uint8_t buf[1500];
  raw_init(&m, COAP_TYPE_NON, 0x3101, COAP_CODE_GET, "separate");
  raw_send(&t, &m);
  uint64_t start = uv_now(&t.fx.loop);
  raw_answer(&t, &m, buf, sizeof buf);
  cr_assert_geq(uv_now(&t.fx.loop) - start, 250);
  cr_assert_eq(m.mtype, COAP_TYPE_NON);
  code_is(&m, COAP_CODE_CONTENT);
  coap_message_clear(&m);
  cr_assert_eq(raw_recv(&t, &m, buf, sizeof buf, 300), -1);
  pt_stop(&t);
}

/* ---- TD_COAP_BLOCK ---- */

/* Block2 at the smallest size: every block with the same ETag, Size2
 * with the first, the blocks adding up to the whole. */
COAP_TEST(plugtest, large_in_16_byte_blocks_one_etag) {
  pt t;
  pt_start(&t, NULL, NULL);
  coap_message *whole = ask(&t, COAP_CODE_GET, "/large", NULL);
  code_is(whole, COAP_CODE_CONTENT);
  cr_assert_gt(whole->payload_len, 1900);
  cr_assert_lt(whole->payload_len, 2300);
  uint8_t etag0[8];
  size_t etag0_len = 0;
  size_t got = 0;
  uint8_t buf[1500];
  for (uint32_t num = 0;; num++) {
    coap_message m;
    raw_init(&m, COAP_TYPE_CON, (uint16_t)(0x4000 + num), COAP_CODE_GET,
             "large");
    coap_block b = {.num = num, .szx = 0};
    coap_options_set_block2(&m.opt, &b);
    if (num == 0)
      coap_options_set_size2(&m.opt, 0);
    raw_send(&t, &m);
    raw_answer(&t, &m, buf, sizeof buf);
    code_is(&m, COAP_CODE_CONTENT);
    cr_assert_eq(coap_options_get_block2(&m.opt, &b), 0);
    cr_assert_eq(b.num, num);
    cr_assert_eq(b.szx, 0);
    uint8_t etag[8];
    size_t len = etag_of(&m, etag);
    if (num == 0) {
      uint32_t size2 = 0;
      cr_assert_eq(coap_options_get_size2(&m.opt, &size2), 0, "Size2");
      cr_assert_eq(size2, whole->payload_len);
      memcpy(etag0, etag, len);
      etag0_len = len;
    } else {
      cr_assert_eq(len, etag0_len);
      cr_assert_arr_eq(etag, etag0, len, "the same ETag on block %u", num);
    }
    cr_assert_leq(got + m.payload_len, whole->payload_len);
    cr_assert_arr_eq(m.payload, whole->payload + got, m.payload_len);
    got += m.payload_len;
    bool more = b.more;
    cr_assert(more ? m.payload_len == 16 : m.payload_len <= 16);
    coap_message_clear(&m);
    if (!more)
      break;
  }
  cr_assert_eq(got, whole->payload_len);
  cr_assert_null(memchr(whole->payload, '\0', whole->payload_len),
                 "text, no NUL");
  coap_message_free(whole);
  coap_message *wkc =
      ask(&t, COAP_CODE_GET, "/.well-known/core?href=/large", NULL);
  char want[64];
  snprintf(want, sizeof want, "</large>;ct=0;rt=\"block\";sz=%zu", got);
  cr_assert(payload_has(wkc, want), "/large listed with sz");
  coap_message_free(wkc);
  pt_stop(&t);
}

/* Sends body to path as POST or PUT in blocks of 2**(szx+4); checks each
 * 2.31 and returns the final answer (in m, borrowing buf). */
static void raw_upload(pt *t, uint8_t code, const char *path,
                       const uint8_t *body, size_t len, uint8_t szx,
                       coap_message *m, uint8_t *buf, size_t cap) {
  size_t bs = coap_block_size(szx);
  for (uint32_t num = 0;; num++) {
    size_t off = (size_t)num * bs;
    size_t n = len - off < bs ? len - off : bs;
    coap_message req;
    raw_init(&req, COAP_TYPE_CON, (uint16_t)(0x5000 + num), code, path);
    coap_block b = {.num = num, .more = off + n < len, .szx = szx};
    coap_options_set_block1(&req.opt, &b);
    coap_message_set_payload(&req, body + off, n);
    raw_send(t, &req);
    raw_answer(t, m, buf, cap);
    coap_block ack;
    cr_assert_eq(coap_options_get_block1(&m->opt, &ack), 0, "Block1 echoed");
    cr_assert_eq(ack.num, num);
    if (!b.more) {
      cr_assert_not(ack.more);
      return;
    }
    code_is(m, COAP_CODE_CONTINUE);
    coap_message_clear(m);
  }
}

static uint8_t upload_body[3000];

static void fill_body(void) {
  for (size_t i = 0; i < sizeof upload_body; i++)
    upload_body[i] = (uint8_t)('A' + i % 23);
}

/* TD_COAP_BLOCK_03: PUT with Block1, 2.31 per block, 2.04 at the end; GET
 * returns what was stored. */
COAP_TEST(plugtest, large_update_block1_then_get) {
  pt t;
  pt_start(&t, NULL, NULL);
  fill_body();
  coap_message m;
  uint8_t buf[1500];
  raw_upload(&t, COAP_CODE_PUT, "large-update", upload_body, 1000, 2, &m, buf,
             sizeof buf);
  code_is(&m, COAP_CODE_CHANGED);
  coap_message_clear(&m);
  coap_message *r = ask(&t, COAP_CODE_GET, "/large-update", NULL);
  code_is(r, COAP_CODE_CONTENT);
  cr_assert_eq(r->payload_len, 1000);
  cr_assert_arr_eq(r->payload, upload_body, 1000);
  coap_message_free(r);
  pt_stop(&t);
}

/* RFC 7959 §2.5: a server with smaller blocks answers block 0 with its
 * SZX, and the client goes on in that size where its bytes ended. */
COAP_TEST(plugtest, large_update_szx_renegotiated_on_block_0) {
  coap_context_config c;
  coap_context_config_default(&c);
  c.block_size_exp = 2; /* 64 bytes */
  pt t;
  pt_start(&t, &c, NULL);
  fill_body();
  coap_message m;
  uint8_t buf[1500];
  coap_message req;
  raw_init(&req, COAP_TYPE_CON, 0x5100, COAP_CODE_PUT, "large-update");
  coap_block b = {.num = 0, .more = true, .szx = 4};
  coap_options_set_block1(&req.opt, &b);
  coap_message_set_payload(&req, upload_body, 256);
  raw_send(&t, &req);
  raw_answer(&t, &m, buf, sizeof buf);
  code_is(&m, COAP_CODE_CONTINUE);
  coap_block ack;
  cr_assert_eq(coap_options_get_block1(&m.opt, &ack), 0);
  cr_assert_eq(ack.szx, 2, "the server's size");
  cr_assert_eq(ack.num, 0);
  coap_message_clear(&m);
  /* Block 4 of 64 bytes starts at byte 256. */
  raw_init(&req, COAP_TYPE_CON, 0x5101, COAP_CODE_PUT, "large-update");
  b = (coap_block){.num = 4, .more = false, .szx = 2};
  coap_options_set_block1(&req.opt, &b);
  coap_message_set_payload(&req, upload_body + 256, 40);
  raw_send(&t, &req);
  raw_answer(&t, &m, buf, sizeof buf);
  code_is(&m, COAP_CODE_CHANGED);
  coap_message_clear(&m);
  coap_message *r = ask(&t, COAP_CODE_GET, "/large-update", NULL);
  cr_assert_eq(r->payload_len, 296);
  cr_assert_arr_eq(r->payload, upload_body, 296);
  coap_message_free(r);
  pt_stop(&t);
}

/* TD_COAP_BLOCK_04: each POST creates a resource of its own. */
COAP_TEST(plugtest, large_create_makes_new_resources) {
  pt t;
  pt_start(&t, NULL, NULL);
  fill_body();
  char first[64] = "";
  for (int i = 0; i < 2; i++) {
    coap_message *msg = fixture_message(&t.fx, COAP_CODE_POST, "/large-create");
    coap_message_set_payload(msg, upload_body, 2500 - (size_t)i);
    coap_options_set_content_format(&msg->opt, COAP_CT_TEXT_PLAIN);
    coap_message *r;
    cr_assert_eq(fixture_request(&t.fx, msg, &r, 5000), 0);
    code_is(r, COAP_CODE_CREATED);
    char loc[64], uri[80];
    cr_assert_gt(
        coap_options_get_location_path_string(&r->opt, loc, sizeof loc), 0);
    cr_assert_eq(strncmp(loc, "large-create/", 13), 0, "%s", loc);
    cr_assert_str_neq(loc, first);
    snprintf(first, sizeof first, "%s", loc);
    coap_message_free(r);
    snprintf(uri, sizeof uri, "/%s", loc);
    r = ask(&t, COAP_CODE_GET, uri, NULL);
    code_is(r, COAP_CODE_CONTENT);
    cr_assert_eq(r->payload_len, 2500 - (size_t)i);
    cr_assert_arr_eq(r->payload, upload_body, r->payload_len);
    coap_message_free(r);
  }
  pt_stop(&t);
}

/* Bounded: the oldest created resource goes for the newest. */
COAP_TEST(plugtest, large_create_keeps_at_most_its_limit) {
  pt t;
  pt_start(&t, NULL, NULL);
  for (unsigned i = 0; i < PLUGTEST_LARGE_CREATE_MAX + 2; i++) {
    coap_message *r = ask(&t, COAP_CODE_POST, "/large-create", "x");
    code_is(r, COAP_CODE_CREATED);
    coap_message_free(r);
  }
  cr_assert_null(plugtest_site_resource(t.site, "large-create/1"));
  cr_assert_null(plugtest_site_resource(t.site, "large-create/2"));
  cr_assert_not_null(plugtest_site_resource(t.site, "large-create/3"));
  char last[32];
  snprintf(last, sizeof last, "large-create/%u", PLUGTEST_LARGE_CREATE_MAX + 2);
  cr_assert_not_null(plugtest_site_resource(t.site, last));
  pt_stop(&t);
}

/* TD_COAP_BLOCK_05/06: the answer to the last Block1 block names it and
 * is itself Block2 block 0; the rest comes with Block2. */
COAP_TEST(plugtest, large_post_answer_is_blockwise_too) {
  pt t;
  pt_start(&t, NULL, NULL);
  fill_body();
  coap_message m;
  uint8_t buf[1500];
  raw_upload(&t, COAP_CODE_POST, "large-post", upload_body, 300, 2, &m, buf,
             sizeof buf);
  code_is(&m, COAP_CODE_CHANGED);
  coap_block b2;
  cr_assert_eq(coap_options_get_block2(&m.opt, &b2), 0, "Block2 too");
  cr_assert_eq(b2.num, 0);
  cr_assert(b2.more);
  cr_assert(payload_has(&m, "received 300 bytes"));
  size_t first_len = m.payload_len;
  coap_message_clear(&m);
  coap_message req;
  raw_init(&req, COAP_TYPE_CON, 0x5201, COAP_CODE_POST, "large-post");
  coap_block next = {.num = 1, .szx = b2.szx};
  coap_options_set_block2(&req.opt, &next);
  raw_send(&t, &req);
  raw_answer(&t, &m, buf, sizeof buf);
  code_is(&m, COAP_CODE_CHANGED);
  cr_assert_eq(coap_options_get_block2(&m.opt, &b2), 0);
  cr_assert_eq(b2.num, 1);
  cr_assert_gt(m.payload_len, 0);
  coap_message_clear(&m);
  (void)first_len;

  /* The library's client puts it together. */
  coap_message *msg = fixture_message(&t.fx, COAP_CODE_POST, "/large-post");
  coap_message_set_payload(msg, upload_body, 2000);
  coap_message *r;
  cr_assert_eq(fixture_request(&t.fx, msg, &r, 5000), 0);
  code_is(r, COAP_CODE_CHANGED);
  cr_assert(payload_has(r, "received 2000 bytes"));
  cr_assert_gt(r->payload_len, 2000);
  cr_assert(payload_has(r, "30 abcdefghijklmnopqrstuvwxyz"), "to the end");
  coap_message_free(r);
  pt_stop(&t);
}

/* ---- TD_COAP_OBS ---- */

/* A raw registration of path; returns the first response's Observe. */
static uint32_t raw_register(pt *t, const char *path, uint16_t mid) {
  coap_message m;
  uint8_t buf[1500];
  raw_init(&m, COAP_TYPE_CON, mid, COAP_CODE_GET, path);
  coap_options_set_observe(&m.opt, 0);
  raw_send(t, &m);
  raw_answer(t, &m, buf, sizeof buf);
  cr_assert_eq(m.mtype, COAP_TYPE_ACK);
  code_is(&m, COAP_CODE_CONTENT);
  uint32_t seq;
  cr_assert_eq(coap_options_get_observe(&m.opt, &seq), 0, "registered");
  coap_message_clear(&m);
  return seq;
}

static size_t observers_of(pt *t, const char *path) {
  return coap_observable_resource_observation_count(
      plugtest_site_resource(t->site, path));
}

/* TD_COAP_OBS_01..03 and RFC 7641 §4.5.2: CON notifications, one in
 * flight; an unacknowledged one is replaced by the newest state with a
 * new MID on the retransmission schedule (200, 400, 800 ms here), and an
 * observer that never answers is dropped when that schedule ends. */
COAP_TEST(plugtest, obs_con_replaced_on_schedule_then_dropped) {
  coap_context_config c;
  fast_config(&c, 200, 3);
  plugtest_config p;
  plug_config(&p, 50, 1000);
  pt t;
  pt_start(&t, &c, &p);
  uint32_t last_seq = raw_register(&t, "obs", 0x6001);
  coap_message m;
  uint8_t buf[1500];
  /* The first notification, acknowledged. */
  cr_assert_gt(raw_recv(&t, &m, buf, sizeof buf, 1000), 0);
  cr_assert_eq(m.mtype, COAP_TYPE_CON);
  cf_is(&m, COAP_CT_TEXT_PLAIN);
  uint32_t seq;
  cr_assert_eq(coap_options_get_observe(&m.opt, &seq), 0);
  cr_assert_gt(seq, last_seq);
  last_seq = seq;
  raw_empty(&t, COAP_TYPE_ACK, (uint16_t)m.mid);
  coap_message_clear(&m);
  /* From now on nothing is acknowledged. */
  int32_t mids[8];
  uint64_t at[8];
  char payload[8][64];
  int n = 0;
  while (n < 8 && raw_recv(&t, &m, buf, sizeof buf, 2500) > 0) {
    cr_assert_eq(m.mtype, COAP_TYPE_CON, "every notification of /obs is CON");
    cr_assert_eq(coap_options_get_observe(&m.opt, &seq), 0);
    cr_assert_gt(seq, last_seq, "always a newer state");
    last_seq = seq;
    mids[n] = m.mid;
    at[n] = uv_now(&t.fx.loop);
    snprintf(payload[n], sizeof payload[n], "%.*s", (int)m.payload_len,
             (const char *)m.payload);
    n++;
    coap_message_clear(&m);
  }
  cr_assert_eq(n, 4,
               "the unacknowledged one and its three replacements, "
               "got %d",
               n);
  for (int i = 1; i < n; i++) {
    cr_assert_neq(mids[i], mids[i - 1], "a new MID, not a retransmission");
    cr_assert_str_neq(payload[i], payload[i - 1], "a newer state");
  }
  uint64_t gaps[3] = {at[1] - at[0], at[2] - at[1], at[3] - at[2]};
  cr_assert(gaps[0] >= 180 && gaps[0] <= 300, "gap %llu",
            (unsigned long long)gaps[0]);
  cr_assert(gaps[1] >= 370 && gaps[1] <= 520, "the timer carried over: %llu",
            (unsigned long long)gaps[1]);
  cr_assert(gaps[2] >= 760 && gaps[2] <= 950, "gap %llu",
            (unsigned long long)gaps[2]);
  /* MAX_RETRANSMIT reached: dropped 1600 ms after the last. */
  uint64_t start = uv_now(&t.fx.loop);
  while (observers_of(&t, "obs") > 0 && uv_now(&t.fx.loop) - start < 3000)
    run_for(&t.fx, 20);
  cr_assert_eq(observers_of(&t, "obs"), 0, "the silent observer is gone");
  cr_assert_eq(raw_recv(&t, &m, buf, sizeof buf, 300), -1, "and gets nothing");
  pt_stop(&t);
}

/* TD_COAP_OBS_05 (RFC 7641 §3.6): an RST to a notification ends the
 * observation. */
COAP_TEST(plugtest, obs_rst_removes_observer) {
  plugtest_config p;
  plug_config(&p, 50, 1000);
  pt t;
  pt_start(&t, NULL, &p);
  raw_register(&t, "obs", 0x6101);
  cr_assert_eq(observers_of(&t, "obs"), 1);
  coap_message m;
  uint8_t buf[1500];
  cr_assert_gt(raw_recv(&t, &m, buf, sizeof buf, 1000), 0);
  raw_empty(&t, COAP_TYPE_RST, (uint16_t)m.mid);
  coap_message_clear(&m);
  uint64_t start = uv_now(&t.fx.loop);
  while (observers_of(&t, "obs") > 0 && uv_now(&t.fx.loop) - start < 1000)
    run_for(&t.fx, 10);
  cr_assert_eq(observers_of(&t, "obs"), 0);
  pt_stop(&t);
}

/* TD_COAP_OBS_06/07: a plain GET (a new token) leaves the observation
 * alone; a GET with Observe 1 and its token deregisters. */
COAP_TEST(plugtest, obs_plain_get_keeps_observe_1_deregisters) {
  plugtest_config p;
  plug_config(&p, 60000, 1000);
  pt t;
  pt_start(&t, NULL, &p);
  raw_register(&t, "obs", 0x6201);
  coap_message *r = ask(&t, COAP_CODE_GET, "/obs", NULL);
  code_is(r, COAP_CODE_CONTENT);
  cr_assert(!coap_options_has(&r->opt, COAP_OPT_OBSERVE));
  coap_message_free(r);
  cr_assert_eq(observers_of(&t, "obs"), 1, "still observed");
  coap_message m;
  uint8_t buf[1500];
  raw_init(&m, COAP_TYPE_CON, 0x6202, COAP_CODE_GET, "obs");
  coap_options_set_observe(&m.opt, 1);
  raw_send(&t, &m);
  raw_answer(&t, &m, buf, sizeof buf);
  code_is(&m, COAP_CODE_CONTENT);
  cr_assert(!coap_options_has(&m.opt, COAP_OPT_OBSERVE));
  coap_message_clear(&m);
  run_for(&t.fx, 20);
  cr_assert_eq(observers_of(&t, "obs"), 0);
  pt_stop(&t);
}

static coap_future *next_of(pt *t, coap_observation *obs) {
  coap_future *f = coap_observation_next(obs);
  cr_assert(wait_future(&t->fx, f, 2000));
  return f;
}

static coap_message *put_cf(pt *t, const char *path, const char *text,
                            uint16_t cf) {
  coap_message *msg = fixture_message(&t->fx, COAP_CODE_PUT, path);
  coap_options_set_content_format(&msg->opt, cf);
  coap_message_set_payload_string(msg, text);
  coap_message *r;
  cr_assert_eq(fixture_request(&t->fx, msg, &r, 5000), 0);
  return r;
}

/* TD_COAP_OBS_08/09: PUT in the same format notifies at once; in another
 * format observers get 4.06; DELETE gives them 4.04 and the periodic
 * changes come back.  Run twice: the resource is as good as new. */
COAP_TEST(plugtest, obs_put_same_format_other_format_delete) {
  plugtest_config p;
  plug_config(&p, 60000, 1000); /* no periodic change in the way */
  pt t;
  pt_start(&t, NULL, &p);
  for (int round = 0; round < 2; round++) {
    coap_observation *obs;
    coap_request *req = observe(&t.fx, "/obs", &obs);
    coap_message *r = put_cf(&t, "/obs", "same format", COAP_CT_TEXT_PLAIN);
    code_is(r, COAP_CODE_CHANGED);
    coap_message_free(r);
    uint64_t start = uv_now(&t.fx.loop);
    coap_future *f = next_of(&t, obs);
    cr_assert_lt(uv_now(&t.fx.loop) - start, 500, "at once");
    payload_is(coap_future_result(f), "same format");
    coap_future_unref(f);
    r = put_cf(&t, "/obs", "<x/>", COAP_CT_XML);
    code_is(r, COAP_CODE_CHANGED);
    coap_message_free(r);
    f = next_of(&t, obs);
    cr_assert_eq(coap_future_error(f), COAP_ERESPONSE);
    code_is(coap_future_result(f), COAP_CODE_NOT_ACCEPTABLE);
    coap_future_unref(f);
    coap_observation_unref(obs);
    coap_request_unref(req);
    run_for(&t.fx, 20);
    cr_assert_eq(observers_of(&t, "obs"), 0, "4.06 ended it");

    req = observe(&t.fx, "/obs", &obs);
    cf_is(first_response(req), COAP_CT_XML);
    r = ask(&t, COAP_CODE_DELETE, "/obs", NULL);
    code_is(r, COAP_CODE_DELETED);
    coap_message_free(r);
    f = next_of(&t, obs);
    cr_assert_eq(coap_future_error(f), COAP_ERESPONSE);
    code_is(coap_future_result(f), COAP_CODE_NOT_FOUND);
    coap_future_unref(f);
    coap_observation_unref(obs);
    coap_request_unref(req);
    r = ask(&t, COAP_CODE_GET, "/obs", NULL);
    cf_is(r, COAP_CT_TEXT_PLAIN);
    cr_assert(payload_has(r, "/obs state "), "periodic again");
    coap_message_free(r);
  }
  pt_stop(&t);
}

/* TD_COAP_OBS (NON): /obs-non notifies with NONs, and a CON among them
 * now and then (RFC 7641 §4.5; the context's default is every 20th). */
COAP_TEST(plugtest, obs_non_mostly_non_with_a_con) {
  plugtest_config p;
  plug_config(&p, 20, 1000);
  pt t;
  pt_start(&t, NULL, &p);
  raw_register(&t, "obs-non", 0x6301);
  int non = 0, con = 0;
  coap_message m;
  uint8_t buf[1500];
  while (non + con < 25 && raw_recv(&t, &m, buf, sizeof buf, 1000) > 0) {
    cf_is(&m, COAP_CT_TEXT_PLAIN);
    if (m.mtype == COAP_TYPE_CON) {
      con++;
      raw_empty(&t, COAP_TYPE_ACK, (uint16_t)m.mid);
    } else {
      cr_assert_eq(m.mtype, COAP_TYPE_NON);
      non++;
    }
    coap_message_clear(&m);
  }
  cr_assert_eq(non + con, 25);
  cr_assert_geq(con, 1, "a CON from time to time");
  cr_assert_geq(non, 20);
  pt_stop(&t);
}

/* RFC 7959 §2.6: /obs-large's registration answer and notifications carry
 * Block2 block 0; the rest is fetched with the same ETag. */
COAP_TEST(plugtest, obs_large_block0_then_rest_same_etag) {
  plugtest_config p;
  plug_config(&p, 100, 1000);
  pt t;
  pt_start(&t, NULL, &p);
  coap_message m;
  uint8_t buf[1500];
  raw_init(&m, COAP_TYPE_CON, 0x6401, COAP_CODE_GET, "obs-large");
  coap_options_set_observe(&m.opt, 0);
  raw_send(&t, &m);
  raw_answer(&t, &m, buf, sizeof buf);
  coap_block b;
  cr_assert(coap_options_has(&m.opt, COAP_OPT_OBSERVE));
  cr_assert_eq(coap_options_get_block2(&m.opt, &b), 0);
  cr_assert_eq(b.num, 0);
  cr_assert(b.more);
  coap_message_clear(&m);
  /* A notification, block 0 again, then its block 1 by GET. */
  cr_assert_gt(raw_recv(&t, &m, buf, sizeof buf, 1000), 0);
  cr_assert(coap_options_has(&m.opt, COAP_OPT_OBSERVE));
  cr_assert_eq(coap_options_get_block2(&m.opt, &b), 0);
  cr_assert_eq(b.num, 0);
  uint8_t etag[8], etag1[8];
  size_t elen = etag_of(&m, etag);
  if (m.mtype == COAP_TYPE_CON)
    raw_empty(&t, COAP_TYPE_ACK, (uint16_t)m.mid);
  coap_message_clear(&m);
  coap_message req;
  raw_init(&req, COAP_TYPE_CON, 0x6402, COAP_CODE_GET, "obs-large");
  req.token[0] = 0x77; /* a request of its own (§2.6) */
  coap_block next = {.num = 1, .szx = b.szx};
  coap_options_set_block2(&req.opt, &next);
  raw_send(&t, &req);
  /* Notifications may come in between: wait for the ACK. */
  for (;;) {
    raw_answer(&t, &m, buf, sizeof buf);
    if (m.mtype == COAP_TYPE_ACK && m.mid == 0x6402)
      break;
    if (m.mtype == COAP_TYPE_CON)
      raw_empty(&t, COAP_TYPE_ACK, (uint16_t)m.mid);
    coap_message_clear(&m);
  }
  code_is(&m, COAP_CODE_CONTENT);
  cr_assert_eq(coap_options_get_block2(&m.opt, &b), 0);
  cr_assert_eq(b.num, 1);
  cr_assert_eq(etag_of(&m, etag1), elen);
  cr_assert_arr_eq(etag1, etag, elen, "the notification's ETag");
  coap_message_clear(&m);
  pt_stop(&t);
}

/* The library's client observing /obs-large: the registration answer,
 * completed from its blocks, still says Observe (the client library
 * keeps block 0's, RFC 7959 §2.6), and notifications come whole. */
COAP_TEST(plugtest, obs_large_through_the_client_whole_and_observed) {
  plugtest_config p;
  plug_config(&p, 100, 1000);
  pt t;
  pt_start(&t, NULL, &p);
  coap_observation *obs;
  coap_request *req = observe(&t.fx, "/obs-large", &obs);
  const coap_message *first = first_response(req);
  cr_assert(coap_options_has(&first->opt, COAP_OPT_OBSERVE),
            "the assembled registration answer carries Observe");
  cr_assert(!coap_options_has(&first->opt, COAP_OPT_BLOCK2));
  cr_assert_eq(first->payload_len, 1500);
  cr_assert(coap_observation_active(obs));
  coap_future *f = next_of(&t, obs);
  const coap_message *n = coap_future_result(f);
  cr_assert_not_null(n);
  cr_assert_eq(n->payload_len, 1500);
  cr_assert(payload_has(n, "/obs-large state "));
  coap_future_unref(f);
  coap_observation_cancel(obs);
  coap_observation_unref(obs);
  coap_request_unref(req);
  pt_stop(&t);
}

/* /obs-pumping through the library's client: whole notifications, one
 * fitting a message and the next needing blockwise, in turn. */
COAP_TEST(plugtest, obs_pumping_swings_between_small_and_large) {
  plugtest_config p;
  plug_config(&p, 100, 1000);
  pt t;
  pt_start(&t, NULL, &p);
  coap_observation *obs;
  coap_request *req = observe(&t.fx, "/obs-pumping", &obs);
  bool small = false, large = false;
  for (int i = 0; i < 4; i++) {
    coap_future *f = next_of(&t, obs);
    const coap_message *n = coap_future_result(f);
    cr_assert_not_null(n);
    cr_assert(payload_has(n, "/obs-pumping state "));
    if (n->payload_len > 1024) {
      cr_assert_eq(n->payload_len, 1500, "complete");
      large = true;
    } else {
      small = true;
    }
    coap_future_unref(f);
  }
  cr_assert(small && large);
  coap_observation_cancel(obs);
  coap_observation_unref(obs);
  coap_request_unref(req);
  pt_stop(&t);
}

/* ---- TD_COAP_LINK ---- */

static char *wkc(pt *t, const char *query, char *out, size_t cap) {
  char path[128];
  snprintf(path, sizeof path, "/.well-known/core%s", query);
  coap_message *r = ask(t, COAP_CODE_GET, path, NULL);
  code_is(r, COAP_CODE_CONTENT);
  cf_is(r, COAP_CT_LINK_FORMAT);
  snprintf(out, cap, "%.*s", (int)r->payload_len, (const char *)r->payload);
  coap_message_free(r);
  return out;
}

/* TD_COAP_LINK_01..09: every resource listed; filters on href and any
 * attribute, '*' as a prefix, rt and if as lists. */
COAP_TEST(plugtest, well_known_core_lists_and_filters) {
  pt t;
  pt_start(&t, NULL, NULL);
  char all[4096];
  wkc(&t, "", all, sizeof all);
  static const char *const listed[] = {"</test>",
                                       "</separate>",
                                       "</seg1/seg2/seg3>",
                                       "</query>",
                                       "</location-query>",
                                       "</multi-format>",
                                       "</validate>",
                                       "</create1>",
                                       "</large>",
                                       "</large-update>",
                                       "</large-create>",
                                       "</large-post>",
                                       "</obs>;ct=0;rt=\"observe\";obs",
                                       "</obs-non>",
                                       "</obs-large>",
                                       "</obs-pumping>",
                                       "</link1>;rt=\"Type1 Type2\";if=\"If1\"",
                                       "</link2>;rt=\"Type2 Type3\";if=\"If2\"",
                                       "</link3>;rt=\"Type1 Type3\";if=\"foo\"",
                                       "</path>;ct=40",
                                       "</path/sub1>",
                                       "</path/sub2>",
                                       "</path/sub3>",
                                       "</.well-known/core>;ct=40"};
  for (size_t i = 0; i < sizeof listed / sizeof listed[0]; i++)
    cr_assert(strstr(all, listed[i]) != NULL, "%s in %s", listed[i], all);
  /* Blockwise at the size the client asks (RFC 7959 §2.4). */
  coap_message m;
  uint8_t buf[1500];
  raw_init(&m, COAP_TYPE_CON, 0x7001, COAP_CODE_GET, ".well-known/core");
  coap_block b = {.num = 0, .szx = 2};
  coap_options_set_block2(&m.opt, &b);
  raw_send(&t, &m);
  raw_answer(&t, &m, buf, sizeof buf);
  code_is(&m, COAP_CODE_CONTENT);
  cr_assert_eq(coap_options_get_block2(&m.opt, &b), 0);
  cr_assert(b.more && b.szx == 2 && m.payload_len == 64);
  cr_assert_arr_eq(m.payload, all, 64);
  coap_message_clear(&m);

  char f[1024];
  wkc(&t, "?rt=Type1", f, sizeof f);
  cr_assert_str_eq(f, "</link1>;rt=\"Type1 Type2\";if=\"If1\","
                      "</link3>;rt=\"Type1 Type3\";if=\"foo\"");
  wkc(&t, "?rt=Type2", f, sizeof f);
  cr_assert_str_eq(f, "</link1>;rt=\"Type1 Type2\";if=\"If1\","
                      "</link2>;rt=\"Type2 Type3\";if=\"If2\"");
  wkc(&t, "?if=If*", f, sizeof f);
  cr_assert_str_eq(f, "</link1>;rt=\"Type1 Type2\";if=\"If1\","
                      "</link2>;rt=\"Type2 Type3\";if=\"If2\"");
  wkc(&t, "?href=/link*", f, sizeof f);
  cr_assert(strstr(f, "</link1>") && strstr(f, "</link2>") &&
            strstr(f, "</link3>") && !strstr(f, "</large>"));
  wkc(&t, "?href=/path/sub2", f, sizeof f);
  cr_assert_str_eq(f, "</path/sub2>;ct=0");
  wkc(&t, "?ct=40", f, sizeof f);
  cr_assert(strstr(f, "</path>;ct=40") != NULL);
  cr_assert(strstr(f, "</link1>") == NULL);
  wkc(&t, "?rt=Type1*", f, sizeof f);
  cr_assert(strstr(f, "</link1>") && strstr(f, "</link3>") &&
            !strstr(f, "</link2>"));
  pt_stop(&t);
}

/* TD_COAP_LINK_10: /path lists what is below it, and each answers. */
COAP_TEST(plugtest, path_lists_its_subresources) {
  pt t;
  pt_start(&t, NULL, NULL);
  coap_message *r = ask(&t, COAP_CODE_GET, "/path", NULL);
  cf_is(r, COAP_CT_LINK_FORMAT);
  payload_is(r, "</path/sub1>;ct=0,</path/sub2>;ct=0,</path/sub3>;ct=0");
  coap_message_free(r);
  r = ask(&t, COAP_CODE_GET, "/path/sub3", NULL);
  payload_is(r, "/path/sub3");
  coap_message_free(r);
  pt_stop(&t);
}

/* Every 2.xx with a payload says its Content-Format (RFC 7252 §5.5.1),
 * for each resource /.well-known/core lists. */
COAP_TEST(plugtest, every_listed_resource_answers_get_with_content_format) {
  pt t;
  pt_start(&t, NULL, NULL);
  char all[4096];
  wkc(&t, "", all, sizeof all);
  int checked = 0;
  for (char *p = strchr(all, '<'); p != NULL; p = strchr(p + 1, '<')) {
    char path[128];
    char *end = strchr(p, '>');
    cr_assert_not_null(end);
    snprintf(path, sizeof path, "%.*s", (int)(end - p - 1), p + 1);
    if (strcmp(path, "/separate") == 0)
      continue; /* its own test: 1.5 s */
    coap_message *r = ask(&t, COAP_CODE_GET, path, NULL);
    if (!coap_code_is_successful(r->code))
      cr_assert_eq(COAP_CODE_CLASS(r->code), 4, "GET %s", path);
    else if (r->payload_len > 0)
      cr_assert(coap_options_has(&r->opt, COAP_OPT_CONTENT_FORMAT),
                "GET %s: 2.xx without Content-Format", path);
    coap_message_free(r);
    checked++;
  }
  cr_assert_geq(checked, 20);
  pt_stop(&t);
}

/* PLUGTEST_BODY_MAX: a body of exactly that size is stored, one byte more
 * is refused with 4.13 and changes nothing. */
COAP_TEST(plugtest, stored_body_limit_exact_and_one_more) {
  pt t;
  pt_start(&t, NULL, NULL);
  static uint8_t big[PLUGTEST_BODY_MAX + 1];
  memset(big, 'b', sizeof big);
  coap_message *msg = fixture_message(&t.fx, COAP_CODE_PUT, "/large-update");
  coap_message_set_payload(msg, big, PLUGTEST_BODY_MAX);
  coap_message *r;
  cr_assert_eq(fixture_request(&t.fx, msg, &r, 10000), 0);
  code_is(r, COAP_CODE_CHANGED);
  coap_message_free(r);
  msg = fixture_message(&t.fx, COAP_CODE_PUT, "/large-update");
  big[PLUGTEST_BODY_MAX] = 'c';
  coap_message_set_payload(msg, big, PLUGTEST_BODY_MAX + 1);
  cr_assert_eq(fixture_request(&t.fx, msg, &r, 10000), 0);
  code_is(r, COAP_CODE_REQUEST_ENTITY_TOO_LARGE);
  coap_message_free(r);
  r = ask(&t, COAP_CODE_GET, "/large-update", NULL);
  cr_assert_eq(r->payload_len, PLUGTEST_BODY_MAX);
  cr_assert_eq(r->payload[PLUGTEST_BODY_MAX - 1], 'b');
  coap_message_free(r);
  pt_stop(&t);
}

/* /query echoes as much as a datagram can carry, and nothing when there
 * is no query. */
COAP_TEST(plugtest, query_echoes_long_and_empty_queries) {
  pt t;
  pt_start(&t, NULL, NULL);
  coap_message *msg = fixture_message(&t.fx, COAP_CODE_GET, "/query");
  char item[256], want[1400] = "";
  for (int i = 0; i < 5; i++) {
    snprintf(item, sizeof item, "k%d=%0250d", i, i);
    coap_options_add_uri_query(&msg->opt, item);
    if (i > 0)
      strcat(want, "&");
    strcat(want, item);
  }
  coap_message *r;
  cr_assert_eq(fixture_request(&t.fx, msg, &r, 5000), 0);
  code_is(r, COAP_CODE_CONTENT);
  payload_is(r, want);
  coap_message_free(r);
  r = ask(&t, COAP_CODE_GET, "/query", NULL);
  code_is(r, COAP_CODE_CONTENT);
  cr_assert_eq(r->payload_len, 0);
  coap_message_free(r);
  pt_stop(&t);
}

/* A /separate answer still pending when the server shuts down: its timer
 * goes with the site, nothing is sent, nothing leaks. */
COAP_TEST(plugtest, separate_pending_at_shutdown) {
  plugtest_config p;
  plug_config(&p, 60000, 5000);
  pt t;
  pt_start(&t, NULL, &p);
  coap_message m;
  uint8_t buf[1500];
  raw_init(&m, COAP_TYPE_CON, 0x3201, COAP_CODE_GET, "separate");
  raw_send(&t, &m);
  cr_assert_eq(raw_recv(&t, &m, buf, sizeof buf, 500), 4, "the empty ACK");
  coap_message_clear(&m);
  pt_stop(&t);
}
