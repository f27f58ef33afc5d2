/*
 * No-Response (RFC 7967) on both sides.  Server: a raw socket plays the
 * client and sees exactly what goes on the wire for each suppression bit,
 * CON and NON, 2.xx/4.xx/5.xx, duplicates and separate responses.  Client:
 * the request ends as soon as no answer can come, far below ACK_TIMEOUT
 * and NON_LIFETIME, and a server that ignores the option (a raw socket
 * again) still gets its response handed on.
 */
#include "observation_fixture.h"

#include <arpa/inet.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int renders;
static bool rendered;
static uv_loop_t *slow_loop;

static int render_ok(coap_resource *r, coap_message *request,
                     coap_message *response, coap_future **later) {
  (void)r;
  (void)request;
  (void)later;
  renders++;
  rendered = true;
  return coap_message_set_payload_string(response, "ok");
}

static int render_not_found(coap_resource *r, coap_message *request,
                            coap_message *response, coap_future **later) {
  (void)r;
  (void)request;
  (void)response;
  (void)later;
  renders++;
  return COAP_ENOT_FOUND;
}

static int render_failing(coap_resource *r, coap_message *request,
                          coap_message *response, coap_future **later) {
  (void)r;
  (void)request;
  (void)response;
  (void)later;
  renders++;
  return COAP_EINTERNAL_SERVER_ERROR;
}

typedef struct slow_answer {
  uv_timer_t timer;
  coap_future *future;
} slow_answer;

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

/* Answers 150 ms later: after the empty ACK (empty_ack_delay_ms 30). */
static int render_slow(coap_resource *r, coap_message *request,
                       coap_message *response, coap_future **later) {
  (void)r;
  (void)request;
  (void)response;
  renders++;
  slow_answer *s = malloc(sizeof *s);
  cr_assert_not_null(s);
  cr_assert_eq(coap_future_new(slow_loop, &s->future), 0);
  uv_timer_init(slow_loop, &s->timer);
  s->timer.data = s;
  uv_timer_start(&s->timer, slow_due, 150, 0);
  *later = coap_future_ref(s->future);
  return 0;
}

static const coap_resource_methods ok = {.render_get = render_ok};
static const coap_resource_methods not_found = {.render_get = render_not_found};
static const coap_resource_methods failing = {.render_get = render_failing};
static const coap_resource_methods slow = {.render_get = render_slow};

static void start(fixture *fx, uint32_t separate_timeout_ms) {
  coap_context_config config;
  coap_context_config_default(&config);
  config.empty_ack_delay_ms = 30;
  if (separate_timeout_ms != 0)
    config.separate_response_timeout_ms = separate_timeout_ms;
  fixture_start(fx, &config);
  slow_loop = &fx->loop;
  renders = 0;
  rendered = false;
  fixture_add(fx, "ok", &ok, NULL);
  fixture_add(fx, "nf", &not_found, NULL);
  fixture_add(fx, "err", &failing, NULL);
  fixture_add(fx, "slow", &slow, NULL);
}

static int bound_socket(uint16_t *port) {
  int fd = socket(AF_INET6, SOCK_DGRAM, 0);
  cr_assert_geq(fd, 0);
  struct sockaddr_in6 a = {.sin6_family = AF_INET6,
                           .sin6_addr = IN6ADDR_LOOPBACK_INIT};
  cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  socklen_t len = sizeof a;
  cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
  if (port != NULL)
    *port = ntohs(a.sin6_port);
  return fd;
}

/* No-Response value -1: no option.  -2: a 2-byte value (bad length). */
static void send_request(fixture *fx, int fd, uint8_t mtype, uint16_t mid,
                         const char *path, int no_response) {
  coap_message m;
  coap_message_init(&m);
  m.mtype = mtype;
  m.mid = mid;
  m.code = COAP_CODE_GET;
  coap_message_set_token(&m, "nr", 2);
  cr_assert_eq(coap_options_set_uri_path_string(&m.opt, path), 0);
  if (no_response >= 0)
    cr_assert_eq(coap_options_set_no_response(&m.opt, (uint8_t)no_response), 0);
  else if (no_response == -2)
    cr_assert_eq(coap_options_add(&m.opt, COAP_OPT_NO_RESPONSE, "\x00\x1a", 2),
                 0);
  uint8_t buf[256];
  int n = coap_message_encode(&m, buf, sizeof buf);
  cr_assert_gt(n, 0);
  coap_message_clear(&m);
  struct sockaddr_in6 server = {.sin6_family = AF_INET6,
                                .sin6_addr = IN6ADDR_LOOPBACK_INIT,
                                .sin6_port = htons(fx->port)};
  cr_assert_eq(
      sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&server, sizeof server),
      n);
}

typedef struct datagram {
  uint8_t data[512];
  size_t len;
} datagram;

/* Runs the loop for ms, collecting what the server sends to fd (at most
 * max datagrams kept; all counted). */
static int collect(fixture *fx, int fd, uint64_t ms, datagram *out, int max) {
  int count = 0;
  uint64_t end = uv_hrtime() + ms * 1000000u;
  while (uv_hrtime() < end) {
    uv_run(&fx->loop, UV_RUN_NOWAIT);
    uint8_t buf[512];
    ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n >= 0) {
      if (count < max) {
        memcpy(out[count].data, buf, (size_t)n);
        out[count].len = (size_t)n;
      }
      count++;
      continue;
    }
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    poll(&pfd, 1, 5);
  }
  return count;
}

static void expect_empty_ack(const datagram *d, uint16_t mid) {
  cr_expect_eq(d->len, 4, "an empty message is the header alone");
  cr_expect_eq((d->data[0] >> 4) & 3, COAP_TYPE_ACK);
  cr_expect_eq(d->data[1], COAP_CODE_EMPTY);
  cr_expect_eq(d->data[2] << 8 | d->data[3], mid);
}

static uint8_t code_of(const datagram *d) {
  cr_assert_geq(d->len, 4);
  return d->data[1];
}

/* The request is processed; a CON gets only its empty ACK, a NON nothing. */
static void suppressed(const char *path, int no_response) {
  for (int con = 0; con <= 1; con++) {
    fixture fx;
    start(&fx, 0);
    int fd = bound_socket(NULL);
    send_request(&fx, fd, con ? COAP_TYPE_CON : COAP_TYPE_NON, 0x4242, path,
                 no_response);
    datagram got[4];
    int n = collect(&fx, fd, 150, got, 4);
    cr_expect_eq(renders, 1, "the request is still processed");
    if (con) {
      cr_expect_eq(n, 1, "%s CON with No-Response %d: the empty ACK only", path,
                   no_response);
      if (n >= 1)
        expect_empty_ack(&got[0], 0x4242);
    } else {
      cr_expect_eq(n, 0, "%s NON with No-Response %d: nothing", path,
                   no_response);
    }
    close(fd);
    fixture_stop(&fx);
  }
}

/* A class not named is answered as usual. */
static void answered(const char *path, int no_response, uint8_t code) {
  for (int con = 0; con <= 1; con++) {
    fixture fx;
    start(&fx, 0);
    int fd = bound_socket(NULL);
    send_request(&fx, fd, con ? COAP_TYPE_CON : COAP_TYPE_NON, 0x4243, path,
                 no_response);
    datagram got[4];
    int n = collect(&fx, fd, 150, got, 4);
    cr_expect_eq(n, 1, "%s with No-Response %d is answered", path, no_response);
    if (n >= 1) {
      cr_expect_eq(code_of(&got[0]), code, "%s: %s", path,
                   coap_code_name(code_of(&got[0])));
      cr_expect_eq((got[0].data[0] >> 4) & 3,
                   con ? COAP_TYPE_ACK : COAP_TYPE_NON);
    }
    close(fd);
    fixture_stop(&fx);
  }
}

COAP_TEST(no_response, bit_2_suppresses_2xx) {
  suppressed("ok", COAP_NO_RESPONSE_2XX);
}

COAP_TEST(no_response, bit_8_suppresses_4xx) {
  suppressed("nf", COAP_NO_RESPONSE_4XX);
}

COAP_TEST(no_response, bit_16_suppresses_5xx) {
  suppressed("err", COAP_NO_RESPONSE_5XX);
}

COAP_TEST(no_response, all_bits_suppress_every_class) {
  suppressed("ok", COAP_NO_RESPONSE_ALL);
  suppressed("nf", COAP_NO_RESPONSE_ALL);
  suppressed("err", COAP_NO_RESPONSE_ALL);
}

/* Bits outside 2, 8, 16 name no class (RFC 7967 §2.1). */
COAP_TEST(no_response, every_other_class_is_answered) {
  answered("ok",
           COAP_NO_RESPONSE_4XX | COAP_NO_RESPONSE_5XX | 1 | 4 | 32 | 64 | 128,
           COAP_CODE_CONTENT);
  answered("nf", COAP_NO_RESPONSE_2XX | COAP_NO_RESPONSE_5XX,
           COAP_CODE_NOT_FOUND);
  answered("err", COAP_NO_RESPONSE_2XX | COAP_NO_RESPONSE_4XX,
           COAP_CODE_INTERNAL_SERVER_ERROR);
}

/* §2: value 0 means interested in every response. */
COAP_TEST(no_response, zero_and_absent_mean_every_response) {
  answered("ok", 0, COAP_CODE_CONTENT);
  answered("ok", -1, COAP_CODE_CONTENT);
}

/* RFC 7252 §5.4.3: No-Response is 0..1 bytes; a longer one is ignored. */
COAP_TEST(no_response, overlong_value_is_ignored) {
  answered("ok", -2, COAP_CODE_CONTENT);
}

/* RFC 7252 §4.5: a duplicate CON gets the same empty ACK again and is not
 * rendered twice; a duplicate NON gets nothing either. */
COAP_TEST(no_response, duplicates_are_not_rendered_again) {
  for (int con = 0; con <= 1; con++) {
    fixture fx;
    start(&fx, 0);
    int fd = bound_socket(NULL);
    uint8_t t = con ? COAP_TYPE_CON : COAP_TYPE_NON;
    send_request(&fx, fd, t, 0x0101, "ok", COAP_NO_RESPONSE_2XX);
    datagram got[4];
    int first = collect(&fx, fd, 100, got, 4);
    send_request(&fx, fd, t, 0x0101, "ok", COAP_NO_RESPONSE_2XX);
    send_request(&fx, fd, t, 0x0101, "ok", COAP_NO_RESPONSE_2XX);
    int again = collect(&fx, fd, 100, got + 1, 3);
    cr_expect_eq(renders, 1, "rendered once");
    cr_expect_eq(first, con ? 1 : 0);
    cr_expect_eq(again, con ? 2 : 0, "each duplicate CON gets the ACK");
    for (int i = 0; con && i < 3 && i < first + again; i++)
      expect_empty_ack(&got[i], 0x0101);
    close(fd);
    fixture_stop(&fx);
  }
}

/* A response ready only after the empty ACK went out: no separate CON (nor
 * NON) when its class is suppressed; without No-Response it does come. */
COAP_TEST(no_response, separate_response_is_not_sent) {
  for (int con = 0; con <= 1; con++) {
    fixture fx;
    start(&fx, 0);
    int fd = bound_socket(NULL);
    send_request(&fx, fd, con ? COAP_TYPE_CON : COAP_TYPE_NON, 0x0202, "slow",
                 COAP_NO_RESPONSE_2XX);
    datagram got[4];
    int n = collect(&fx, fd, 400, got, 4);
    cr_expect_eq(renders, 1);
    cr_expect_eq(n, con ? 1 : 0, "only the empty ACK, no separate response");
    if (con && n >= 1)
      expect_empty_ack(&got[0], 0x0202);
    close(fd);
    fixture_stop(&fx);
  }
  /* The control: the same exchange without No-Response. */
  fixture fx;
  start(&fx, 0);
  int fd = bound_socket(NULL);
  send_request(&fx, fd, COAP_TYPE_CON, 0x0203, "slow", -1);
  datagram got[4];
  int n = collect(&fx, fd, 400, got, 4);
  cr_expect_eq(n, 2, "empty ACK, then the separate response");
  if (n >= 2) {
    expect_empty_ack(&got[0], 0x0203);
    cr_expect_eq(code_of(&got[1]), COAP_CODE_CONTENT);
    cr_expect_eq((got[1].data[0] >> 4) & 3, COAP_TYPE_CON);
  }
  close(fd);
  fixture_stop(&fx);
}

/* Milliseconds fixture_request took in real time. */
static int timed_request(fixture *fx, coap_message *msg, coap_message **resp,
                         uint64_t *ms) {
  uint64_t t0 = uv_hrtime();
  int rc = fixture_request(fx, msg, resp, 10000);
  *ms = (uv_hrtime() - t0) / 1000000u;
  return rc;
}

static coap_message *request_to(fixture *fx, const char *path, uint8_t mtype,
                                int no_response) {
  coap_message *msg = fixture_message(fx, COAP_CODE_GET, path);
  msg->mtype = mtype;
  if (no_response >= 0)
    cr_assert_eq(coap_options_set_no_response(&msg->opt, (uint8_t)no_response),
                 0);
  return msg;
}

/* Every class suppressed: a NON is over once sent, not after NON_LIFETIME
 * (145 s); the server still processes it. */
COAP_TEST(no_response, client_non_completes_once_sent) {
  fixture fx;
  start(&fx, 0);
  uint64_t ms;
  coap_message *resp = NULL;
  int rc = timed_request(
      &fx, request_to(&fx, "/ok", COAP_TYPE_NON, COAP_NO_RESPONSE_ALL), &resp,
      &ms);
  cr_expect_eq(rc, COAP_ENORESPONSE, "%s", coap_strerror(rc));
  cr_expect_null(resp);
  coap_test_note("NON with No-Response 26 completed after %llu ms",
                 (unsigned long long)ms);
  cr_expect_lt(ms, 200, "far below NON_LIFETIME");
  fixture_run_until(&fx, &rendered, 2000);
  cr_expect_eq(renders, 1);
  fixture_stop(&fx);
}

/* Every class suppressed: a CON is over when its empty ACK arrives, not
 * after ACK_TIMEOUT (2 s) or the separate-response wait. */
COAP_TEST(no_response, client_con_completes_on_empty_ack) {
  const char *paths[] = {"/ok", "/nf", "/err", "/slow"};
  for (size_t i = 0; i < 4; i++) {
    fixture fx;
    start(&fx, 0);
    uint64_t ms;
    coap_message *resp = NULL;
    int rc = timed_request(
        &fx, request_to(&fx, paths[i], COAP_TYPE_CON, COAP_NO_RESPONSE_ALL),
        &resp, &ms);
    cr_expect_eq(rc, COAP_ENORESPONSE, "%s: %s", paths[i], coap_strerror(rc));
    cr_expect_null(resp);
    coap_test_note("CON %s with No-Response 26 completed after %llu ms",
                   paths[i], (unsigned long long)ms);
    cr_expect_lt(ms, 500, "far below ACK_TIMEOUT");
    cr_expect_eq(renders, 1);
    run_for(&fx, 200); /* the slow one's answer, suppressed */
    fixture_stop(&fx);
  }
}

/* Some classes suppressed: a response of another class is the result. */
COAP_TEST(no_response, client_gets_the_classes_not_suppressed) {
  fixture fx;
  start(&fx, 0);
  coap_message *resp = NULL;
  uint64_t ms;
  cr_assert_eq(
      timed_request(&fx,
                    request_to(&fx, "/nf", COAP_TYPE_CON, COAP_NO_RESPONSE_2XX),
                    &resp, &ms),
      0);
  cr_expect_eq(resp->code, COAP_CODE_NOT_FOUND);
  coap_message_free(resp);
  resp = NULL;
  cr_assert_eq(timed_request(
                   &fx,
                   request_to(&fx, "/err", COAP_TYPE_NON, COAP_NO_RESPONSE_2XX),
                   &resp, &ms),
               0);
  cr_expect_eq(resp->code, COAP_CODE_INTERNAL_SERVER_ERROR);
  coap_message_free(resp);
  fixture_stop(&fx);
}

/* Some classes suppressed and none of the others came: the wait for a
 * separate response ends with COAP_ENORESPONSE, not COAP_ETIMEDOUT. */
COAP_TEST(no_response, client_partial_suppression_ends_without_timeout) {
  fixture fx;
  start(&fx, 300);
  coap_message *resp = NULL;
  uint64_t ms;
  int rc = timed_request(
      &fx, request_to(&fx, "/ok", COAP_TYPE_CON, COAP_NO_RESPONSE_2XX), &resp,
      &ms);
  cr_expect_eq(rc, COAP_ENORESPONSE, "%s", coap_strerror(rc));
  cr_expect_geq(ms, 250, "waited for a 4.xx or 5.xx that might come");
  cr_expect_lt(ms, 2000);
  fixture_stop(&fx);
}

/* A server that ignores the option: its answer is the result.  A raw
 * socket plays it, answering piggybacked, or with an empty ACK and then a
 * separate CON. */
static void ignoring_server(bool separate) {
  fixture fx;
  start(&fx, 0);
  uint16_t port;
  int fd = bound_socket(&port);
  coap_message *msg;
  cr_assert_eq(coap_message_new(&msg), 0);
  msg->code = COAP_CODE_GET;
  msg->mtype = COAP_TYPE_CON;
  char uri[64];
  snprintf(uri, sizeof uri, "coap://[::1]:%u/x", port);
  cr_assert_eq(coap_message_set_request_uri(msg, uri, true), 0);
  cr_assert_eq(
      coap_options_set_no_response(&msg->opt, separate ? COAP_NO_RESPONSE_2XX
                                                       : COAP_NO_RESPONSE_ALL),
      0);
  coap_request *req;
  cr_assert_eq(coap_context_request(fx.client, msg, NULL, &req), 0);
  coap_future *f = coap_request_response(req);
  struct sockaddr_in6 from;
  uint8_t buf[512];
  ssize_t n = raw_recv_from(fd, &fx, buf, sizeof buf, &from);
  cr_assert_gt(n, 4);
  coap_message in;
  coap_message_init(&in);
  cr_assert_eq(coap_message_decode(&in, buf, (size_t)n), 0);
  uint8_t nr = 0xff;
  cr_expect_eq(coap_options_get_no_response(&in.opt, &nr), 0);
  cr_expect_eq(nr, separate ? COAP_NO_RESPONSE_2XX : COAP_NO_RESPONSE_ALL);
  coap_message out;
  coap_message_init(&out);
  out.code = COAP_CODE_CONTENT;
  coap_message_set_token(&out, in.token, in.token_len);
  coap_message_set_payload_string(&out, "anyway");
  if (separate) {
    uint8_t ack[4] = {0x60, 0, buf[2], buf[3]};
    cr_assert_eq(sendto(fd, ack, 4, 0, (struct sockaddr *)&from, sizeof from),
                 4);
    run_for(&fx, 50);
    cr_expect_not(coap_future_done(f), "a 2.xx may still come");
    out.mtype = COAP_TYPE_CON;
    out.mid = 0x7777;
  } else {
    out.mtype = COAP_TYPE_ACK;
    out.mid = in.mid;
  }
  coap_message_clear(&in);
  n = coap_message_encode(&out, buf, sizeof buf);
  cr_assert_gt(n, 0);
  coap_message_clear(&out);
  cr_assert_eq(
      sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from, sizeof from), n);
  for (int i = 0; i < 200 && !coap_future_done(f); i++)
    run_for(&fx, 5);
  cr_assert(coap_future_done(f));
  cr_expect_eq(coap_future_error(f), 0, "%s",
               coap_strerror(coap_future_error(f)));
  const coap_message *resp = coap_future_result(f);
  cr_assert_not_null(resp);
  cr_expect_eq(resp->code, COAP_CODE_CONTENT);
  payload_is(resp, "anyway");
  coap_request_unref(req);
  run_for(&fx, 20);
  close(fd);
  fixture_stop(&fx);
}

COAP_TEST(no_response, client_takes_a_piggybacked_answer_anyway) {
  ignoring_server(false);
}

COAP_TEST(no_response, client_takes_a_separate_answer_anyway) {
  ignoring_server(true);
}

static void send_registration(fixture *fx, int fd, uint16_t mid,
                              uint8_t no_response) {
  coap_message m;
  coap_message_init(&m);
  m.mtype = COAP_TYPE_CON;
  m.mid = mid;
  m.code = COAP_CODE_GET;
  coap_message_set_token(&m, "ob", 2);
  cr_assert_eq(coap_options_set_observe(&m.opt, 0), 0);
  cr_assert_eq(coap_options_set_uri_path_string(&m.opt, "obs"), 0);
  cr_assert_eq(coap_options_set_no_response(&m.opt, no_response), 0);
  uint8_t buf[256];
  int n = coap_message_encode(&m, buf, sizeof buf);
  cr_assert_gt(n, 0);
  coap_message_clear(&m);
  struct sockaddr_in6 server = {.sin6_family = AF_INET6,
                                .sin6_addr = IN6ADDR_LOOPBACK_INIT,
                                .sin6_port = htons(fx->port)};
  cr_assert_eq(
      sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&server, sizeof server),
      n);
}

/* RFC 7967 §2: notifications answer the registration, so its No-Response
 * covers them: with 2.xx suppressed the registration gets its empty ACK
 * and the observer gets no 2.xx notification, though it stays registered. */
COAP_TEST(no_response, observation_2xx_notifications_suppressed) {
  fixture fx;
  start(&fx, 0);
  reset_resource_state();
  set_state("zero");
  coap_resource *res = add_observable(&fx, "obs");
  int fd = bound_socket(NULL);
  send_registration(&fx, fd, 0x0a0a, COAP_NO_RESPONSE_2XX);
  datagram got[4];
  int n = collect(&fx, fd, 100, got, 4);
  cr_expect_eq(n, 1, "the registration's empty ACK only");
  if (n >= 1)
    expect_empty_ack(&got[0], 0x0a0a);
  set_state("one");
  cr_expect_eq(coap_observable_resource_updated_state(res, NULL), 1,
               "still observed");
  cr_expect_eq(collect(&fx, fd, 150, got, 4), 0, "no 2.xx notification");
  close(fd);
  fixture_stop(&fx);
}

/* With 4.xx suppressed, 2.xx notifications come; the 4.04 that ends the
 * observation (RFC 7641 §4.2) does not, and the observation is over. */
COAP_TEST(no_response, observation_error_notification_suppressed) {
  fixture fx;
  start(&fx, 0);
  reset_resource_state();
  set_state("zero");
  coap_resource *res = add_observable(&fx, "obs");
  int fd = bound_socket(NULL);
  send_registration(&fx, fd, 0x0b0b, COAP_NO_RESPONSE_4XX);
  datagram got[4];
  int n = collect(&fx, fd, 100, got, 4);
  cr_assert_eq(n, 1, "the registration's 2.05");
  cr_expect_eq(code_of(&got[0]), COAP_CODE_CONTENT);
  set_state("one");
  cr_expect_eq(coap_observable_resource_updated_state(res, NULL), 1);
  n = collect(&fx, fd, 150, got, 4);
  cr_assert_eq(n, 1, "a 2.05 notification");
  cr_expect_eq(code_of(&got[0]), COAP_CODE_CONTENT);
  if (((got[0].data[0] >> 4) & 3) == COAP_TYPE_CON) {
    uint8_t ack[4] = {0x60, 0, got[0].data[2], got[0].data[3]};
    struct sockaddr_in6 server = {.sin6_family = AF_INET6,
                                  .sin6_addr = IN6ADDR_LOOPBACK_INIT,
                                  .sin6_port = htons(fx.port)};
    cr_assert_eq(
        sendto(fd, ack, 4, 0, (struct sockaddr *)&server, sizeof server), 4);
  }
  gone = true;
  cr_expect_eq(coap_observable_resource_updated_state(res, NULL), 1);
  cr_expect_eq(collect(&fx, fd, 150, got, 4), 0, "no 4.04 notification");
  cr_expect_eq(coap_observable_resource_updated_state(res, NULL), 0,
               "the observation ended with the 4.04");
  close(fd);
  fixture_stop(&fx);
}
