/*
 * Which request options the server recognises (RFC 7252 §5.4.1, §5.4.3):
 * critical options it does not implement get 4.02 in a CON and an RST in a
 * NON, and an elective option of out-of-range length is ignored.
 */
#include "observation_fixture.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int renders;

static int count_get(coap_resource *r, coap_message *request,
                     coap_message *response, coap_future **later) {
  (void)r;
  (void)request;
  (void)later;
  renders++;
  return coap_message_set_payload_string(response, "hi");
}

static const coap_resource_methods counted = {.render_get = count_get};

static coap_message *get_with(fixture *fx, uint16_t number, const void *value,
                              size_t len) {
  coap_message *msg = fixture_message(fx, COAP_CODE_GET, "/r");
  cr_assert_eq(coap_options_add(&msg->opt, number, value, len), 0);
  return msg;
}

/* RFC 8613 §2: OSCORE is critical; a server without OSCORE must not answer
 * the request as if it were plain CoAP (RFC 7252 §5.4.1). */
COAP_TEST(server_options, oscore_request_is_4_02_until_oscore_exists) {
  fixture fx;
  fixture_start(&fx, NULL);
  fixture_add(&fx, "r", &counted, NULL);
  renders = 0;
  const uint8_t oscore[] = {0x09, 0x00};
  coap_message *resp = NULL;
  cr_assert_eq(fixture_request(
                   &fx, get_with(&fx, COAP_OPT_OSCORE, oscore, sizeof oscore),
                   &resp, 5000),
               0);
  cr_expect_eq(resp->code, COAP_CODE_BAD_OPTION);
  cr_expect_eq(renders, 0, "no plaintext answer");
  coap_message_free(resp);
  fixture_stop(&fx);
}

/* The critical options the server does handle still reach the resource:
 * Uri-Host and Uri-Port (one origin for every name), Accept, If-Match and
 * If-None-Match (handed to a resource that declares no ETag), Block2 (the
 * library's blockwise). */
COAP_TEST(server_options, critical_options_the_server_handles_are_served) {
  fixture fx;
  fixture_start(&fx, NULL);
  fixture_add(&fx, "r", &counted, NULL);
  renders = 0;
  struct {
    uint16_t number;
    const char *value;
    size_t len;
  } handled[] = {
      {COAP_OPT_URI_HOST, "example.com", 11},
      {COAP_OPT_URI_PORT, "\x16\x33", 2},
      {COAP_OPT_ACCEPT, "", 0},
      {COAP_OPT_IF_MATCH, "", 0},
      {COAP_OPT_IF_NONE_MATCH, "", 0},
      {COAP_OPT_BLOCK2, "\x06", 1},
  };
  for (size_t i = 0; i < sizeof handled / sizeof handled[0]; i++) {
    coap_message *resp = NULL;
    cr_assert_eq(fixture_request(&fx,
                                 get_with(&fx, handled[i].number,
                                          handled[i].value, handled[i].len),
                                 &resp, 5000),
                 0);
    cr_expect_eq(resp->code, COAP_CODE_CONTENT, "option %u", handled[i].number);
    coap_message_free(resp);
  }
  cr_expect_eq(renders, (int)(sizeof handled / sizeof handled[0]));
  fixture_stop(&fx);
}

/* RFC 7252 §5.4.1: an unrecognised critical option in a NON makes the
 * message rejected (§4.3: with an RST), not answered with 4.02. */
static void non_is_reset(uint16_t number, const void *value, size_t len) {
  fixture fx;
  fixture_start(&fx, NULL);
  fixture_add(&fx, "r", &counted, NULL);
  renders = 0;
  coap_message *msg = get_with(&fx, number, value, len);
  msg->mtype = COAP_TYPE_NON;
  coap_message *resp = NULL;
  cr_expect_eq(fixture_request(&fx, msg, &resp, 5000), COAP_ERESET);
  cr_expect_null(resp);
  coap_message_free(resp);
  cr_expect_eq(renders, 0);
  coap_context_stats stats;
  coap_context_get_stats(fx.server, &stats);
  cr_expect_eq(stats.rst_sent, 1);
  fixture_stop(&fx);
}

COAP_TEST(server_options, non_with_unknown_critical_option_is_reset) {
  non_is_reset(2049, "x", 1);
}

COAP_TEST(server_options, non_with_oscore_is_reset) {
  non_is_reset(COAP_OPT_OSCORE, "", 0);
}

/* RFC 7252 §5.4.3: a critical option of a length outside its bounds is
 * unrecognised too (Accept is 0..2 bytes). */
COAP_TEST(server_options, non_with_overlong_critical_option_is_reset) {
  non_is_reset(COAP_OPT_ACCEPT, "\x00\x00\x00", 3);
}

/* RFC 7252 §5.4.1: a CON keeps getting 4.02. */
COAP_TEST(server_options, con_with_unknown_critical_option_is_still_4_02) {
  fixture fx;
  fixture_start(&fx, NULL);
  fixture_add(&fx, "r", &counted, NULL);
  coap_message *resp = NULL;
  cr_assert_eq(fixture_request(&fx, get_with(&fx, 2049, "x", 1), &resp, 5000),
               0);
  cr_expect_eq(resp->code, COAP_CODE_BAD_OPTION);
  cr_expect_eq(resp->mtype, COAP_TYPE_ACK);
  coap_message_free(resp);
  fixture_stop(&fx);
}

/* A NON without such options is answered as before, with a NON. */
COAP_TEST(server_options, non_with_handled_options_is_answered) {
  fixture fx;
  fixture_start(&fx, NULL);
  fixture_add(&fx, "r", &counted, NULL);
  coap_message *msg = get_with(&fx, 2048, "x", 1); /* elective, ignored */
  msg->mtype = COAP_TYPE_NON;
  coap_message *resp = NULL;
  cr_assert_eq(fixture_request(&fx, msg, &resp, 5000), 0);
  cr_expect_eq(resp->code, COAP_CODE_CONTENT);
  cr_expect_eq(resp->mtype, COAP_TYPE_NON);
  coap_message_free(resp);
  fixture_stop(&fx);
}

static int bound_socket(struct sockaddr_in6 *a) {
  int fd = socket(AF_INET6, SOCK_DGRAM, 0);
  cr_assert_geq(fd, 0);
  *a = (struct sockaddr_in6){.sin6_family = AF_INET6,
                             .sin6_addr = IN6ADDR_LOOPBACK_INIT};
  cr_assert_eq(bind(fd, (struct sockaddr *)a, sizeof *a), 0);
  return fd;
}

/* RFC 7641 §2: Observe is 0..3 bytes; RFC 7252 §5.4.3: a longer one is
 * unrecognised, and as Observe is elective it is ignored: the GET is served
 * plainly and nothing is observed. */
COAP_TEST(server_options, observe_longer_than_3_bytes_is_ignored) {
  fixture fx;
  fixture_start(&fx, NULL);
  reset_resource_state();
  set_state("plain");
  add_observable(&fx, "obs");
  struct sockaddr_in6 me;
  int fd = bound_socket(&me);
  struct sockaddr_in6 server = {.sin6_family = AF_INET6,
                                .sin6_addr = IN6ADDR_LOOPBACK_INIT,
                                .sin6_port = htons(fx.port)};
  coap_message m;
  coap_message_init(&m);
  m.mtype = COAP_TYPE_CON;
  m.mid = 0x1234;
  m.code = COAP_CODE_GET;
  coap_message_set_token(&m, "tk", 2);
  cr_assert_eq(coap_options_add(&m.opt, COAP_OPT_OBSERVE, "\0\0\0\0", 4), 0);
  cr_assert_eq(coap_options_set_uri_path_string(&m.opt, "obs"), 0);
  uint8_t buf[256];
  int n = coap_message_encode(&m, buf, sizeof buf);
  cr_assert_gt(n, 0);
  coap_message_clear(&m);
  cr_assert_eq(
      sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&server, sizeof server),
      n);
  struct sockaddr_in6 from;
  ssize_t got = raw_recv_from(fd, &fx, buf, sizeof buf, &from);
  cr_assert_gt(got, 4);
  coap_message resp;
  coap_message_init(&resp);
  cr_assert_eq(coap_message_decode(&resp, buf, (size_t)got), 0);
  cr_expect_eq(resp.code, COAP_CODE_CONTENT);
  payload_is(&resp, "plain");
  cr_expect_not(coap_options_has(&resp.opt, COAP_OPT_OBSERVE),
                "not an observation");
  coap_message_clear(&resp);
  run_for(&fx, 20);
  cr_expect_eq(observers_now, 0);
  cr_expect_eq(count_calls, 0, "no observer ever counted");
  close(fd);
  fixture_stop(&fx);
}

/* The getter agrees: such an Observe has no value. */
COAP_TEST(server_options, observe_getter_rejects_more_than_3_bytes) {
  coap_options opt;
  coap_options_init(&opt);
  cr_assert_eq(coap_options_add(&opt, COAP_OPT_OBSERVE, "\0\0\0\1", 4), 0);
  uint32_t v = 7;
  cr_expect_eq(coap_options_get_observe(&opt, &v), COAP_ERANGE);
  cr_expect_eq(v, 7);
  coap_options_delete(&opt, COAP_OPT_OBSERVE);
  cr_assert_eq(coap_options_add(&opt, COAP_OPT_OBSERVE, "\1\0\0", 3), 0);
  cr_expect_eq(coap_options_get_observe(&opt, &v), 0);
  cr_expect_eq(v, 0x10000);
  coap_options_clear(&opt);
}

/* Proxy-Uri and Proxy-Scheme are recognised: a server that is no proxy
 * answers 5.05 (RFC 7252 §5.7.2, §5.10.2), also to a NON. */
COAP_TEST(server_options, proxy_options_get_5_05_not_4_02) {
  fixture fx;
  fixture_start(&fx, NULL);
  fixture_add(&fx, "r", &counted, NULL);
  renders = 0;
  const char *uri = "coap://example.com/x";
  coap_message *resp = NULL;
  cr_assert_eq(
      fixture_request(&fx, get_with(&fx, COAP_OPT_PROXY_URI, uri, strlen(uri)),
                      &resp, 5000),
      0);
  cr_expect_eq(resp->code, COAP_CODE_PROXYING_NOT_SUPPORTED);
  coap_message_free(resp);
  coap_message *msg = get_with(&fx, COAP_OPT_PROXY_SCHEME, "http", 4);
  msg->mtype = COAP_TYPE_NON;
  resp = NULL;
  cr_assert_eq(fixture_request(&fx, msg, &resp, 5000), 0);
  cr_expect_eq(resp->code, COAP_CODE_PROXYING_NOT_SUPPORTED);
  cr_expect_eq(resp->mtype, COAP_TYPE_NON);
  coap_message_free(resp);
  cr_expect_eq(renders, 0);
  fixture_stop(&fx);
}
