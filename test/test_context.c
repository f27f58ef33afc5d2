/*
 * The engine end to end: a server context and a client context on one loop,
 * talking over loopback UDP (RFC 7252).
 */
#include "context_fixture.h"

#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int renders;

static int hello_get(coap_resource *res, coap_message *req, coap_message *resp,
                     coap_future **later) {
  (void)res;
  (void)req;
  (void)later;
  renders++;
  coap_options_set_content_format(&resp->opt, COAP_CT_TEXT_PLAIN);
  return coap_message_set_payload_string(resp, "hello");
}

static char stored[256] = "initial";

static int store_put(coap_resource *res, coap_message *req, coap_message *resp,
                     coap_future **later) {
  (void)res;
  (void)later;
  renders++;
  if (req->payload_len >= sizeof stored)
    return COAP_EREQUEST_ENTITY_TOO_LARGE;
  memcpy(stored, req->payload, req->payload_len);
  stored[req->payload_len] = '\0';
  resp->code = COAP_CODE_CHANGED;
  return 0;
}

static int store_get(coap_resource *res, coap_message *req, coap_message *resp,
                     coap_future **later) {
  (void)res;
  (void)req;
  (void)later;
  return coap_message_set_payload_string(resp, stored);
}

static int store_post(coap_resource *res, coap_message *req, coap_message *resp,
                      coap_future **later) {
  (void)res;
  (void)later;
  resp->code = COAP_CODE_CREATED;
  coap_options_set_location_path_string(&resp->opt, "store/1");
  return coap_message_set_payload(resp, req->payload, req->payload_len);
}

static int store_delete(coap_resource *res, coap_message *req,
                        coap_message *resp, coap_future **later) {
  (void)res;
  (void)req;
  (void)resp;
  (void)later;
  strcpy(stored, "");
  return 0;
}

static const coap_resource_methods hello = {.render_get = hello_get};
static const coap_resource_methods store = {.render_get = store_get,
                                            .render_put = store_put,
                                            .render_post = store_post,
                                            .render_delete = store_delete};

static void payload_is(const coap_message *m, const char *text) {
  cr_assert_eq(m->payload_len, strlen(text), "payload length %zu",
               m->payload_len);
  cr_assert_arr_eq(m->payload, text, strlen(text));
}

COAP_TEST(context, get_piggybacked_response) {
  fixture fx;
  fixture_start(&fx, NULL);
  fixture_add(&fx, "hello", &hello, NULL);
  coap_message *resp = NULL;
  cr_assert_eq(fixture_request(&fx,
                               fixture_message(&fx, COAP_CODE_GET, "/hello"),
                               &resp, 5000),
               0);
  cr_assert_eq(resp->code, COAP_CODE_CONTENT);
  cr_assert_eq(resp->mtype, COAP_TYPE_ACK, "piggybacked on the ACK");
  payload_is(resp, "hello");
  uint16_t cf = 0;
  cr_assert_eq(coap_options_get_content_format(&resp->opt, &cf), 0);
  cr_assert_eq(cf, 0);
  char uri[128], want[128];
  cr_assert_geq(coap_message_get_request_uri(resp, uri, sizeof uri), 0);
  snprintf(want, sizeof want, "%s/hello", fx.base);
  cr_assert_str_eq(uri, want, "the response knows its request URI");
  coap_message_free(resp);
  fixture_stop(&fx);
}

COAP_TEST(context, put_post_delete_round_trip) {
  fixture fx;
  fixture_start(&fx, NULL);
  fixture_add(&fx, "store", &store, NULL);
  coap_message *resp = NULL;
  coap_message *put = fixture_message(&fx, COAP_CODE_PUT, "/store");
  coap_message_set_payload_string(put, "new value");
  cr_assert_eq(fixture_request(&fx, put, &resp, 5000), 0);
  cr_assert_eq(resp->code, COAP_CODE_CHANGED);
  coap_message_free(resp);

  cr_assert_eq(fixture_request(&fx,
                               fixture_message(&fx, COAP_CODE_GET, "/store"),
                               &resp, 5000),
               0);
  payload_is(resp, "new value");
  coap_message_free(resp);

  coap_message *post = fixture_message(&fx, COAP_CODE_POST, "/store");
  coap_message_set_payload_string(post, "posted");
  cr_assert_eq(fixture_request(&fx, post, &resp, 5000), 0);
  cr_assert_eq(resp->code, COAP_CODE_CREATED);
  char loc[64];
  cr_assert_geq(
      coap_options_get_location_path_string(&resp->opt, loc, sizeof loc), 0);
  cr_assert_str_eq(loc, "store/1");
  payload_is(resp, "posted");
  coap_message_free(resp);

  cr_assert_eq(fixture_request(&fx,
                               fixture_message(&fx, COAP_CODE_DELETE, "/store"),
                               &resp, 5000),
               0);
  cr_assert_eq(resp->code, COAP_CODE_DELETED, "default code for DELETE");
  coap_message_free(resp);
  cr_assert_str_eq(stored, "");
  fixture_stop(&fx);
}

COAP_TEST(context, non_request_gets_non_response) {
  fixture fx;
  fixture_start(&fx, NULL);
  fixture_add(&fx, "hello", &hello, NULL);
  coap_message *msg = fixture_message(&fx, COAP_CODE_GET, "/hello");
  msg->mtype = COAP_TYPE_NON;
  coap_message *resp = NULL;
  cr_assert_eq(fixture_request(&fx, msg, &resp, 5000), 0);
  cr_assert_eq(resp->mtype, COAP_TYPE_NON, "RFC 7252 §5.2.3");
  payload_is(resp, "hello");
  coap_message_free(resp);
  fixture_stop(&fx);
}

COAP_TEST(context, unknown_path_is_4_04_and_missing_method_4_05) {
  fixture fx;
  fixture_start(&fx, NULL);
  fixture_add(&fx, "hello", &hello, NULL);
  coap_message *resp = NULL;
  cr_assert_eq(fixture_request(&fx,
                               fixture_message(&fx, COAP_CODE_GET, "/nothing"),
                               &resp, 5000),
               0);
  cr_assert_eq(resp->code, COAP_CODE_NOT_FOUND);
  coap_message_free(resp);
  cr_assert_eq(fixture_request(&fx,
                               fixture_message(&fx, COAP_CODE_POST, "/hello"),
                               &resp, 5000),
               0);
  cr_assert_eq(resp->code, COAP_CODE_METHOD_NOT_ALLOWED);
  cr_assert_gt(resp->payload_len, 0, "a diagnostic payload");
  coap_message_free(resp);
  fixture_stop(&fx);
}

COAP_TEST(context, unrecognised_critical_option_is_4_02) {
  fixture fx;
  fixture_start(&fx, NULL);
  fixture_add(&fx, "hello", &hello, NULL);
  renders = 0;
  coap_message *msg = fixture_message(&fx, COAP_CODE_GET, "/hello");
  coap_options_add(&msg->opt, 2049, "x", 1); /* odd: critical, unknown */
  coap_message *resp = NULL;
  cr_assert_eq(fixture_request(&fx, msg, &resp, 5000), 0);
  cr_assert_eq(resp->code, COAP_CODE_BAD_OPTION, "RFC 7252 §5.4.1");
  cr_assert_eq(renders, 0, "the resource never saw it");
  coap_message_free(resp);

  msg = fixture_message(&fx, COAP_CODE_GET, "/hello");
  coap_options_add(&msg->opt, 2048, "x", 1); /* even: elective, ignored */
  cr_assert_eq(fixture_request(&fx, msg, &resp, 5000), 0);
  cr_assert_eq(resp->code, COAP_CODE_CONTENT);
  coap_message_free(resp);
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

COAP_TEST(context, separate_response_after_empty_ack) {
  fixture fx;
  coap_context_config config;
  coap_context_config_default(&config);
  config.empty_ack_delay_ms = 50;
  fixture_start(&fx, &config);
  slow_loop = &fx.loop;
  fixture_add(&fx, "slow", &slow, NULL);
  coap_message *resp = NULL;
  cr_assert_eq(fixture_request(&fx,
                               fixture_message(&fx, COAP_CODE_GET, "/slow"),
                               &resp, 5000),
               0);
  cr_assert_eq(resp->mtype, COAP_TYPE_CON, "separate response (§5.2.2)");
  cr_assert_eq(resp->code, COAP_CODE_CONTENT);
  payload_is(resp, "late");
  coap_message_free(resp);
  coap_context_stats stats;
  coap_context_get_stats(fx.server, &stats);
  cr_assert_eq(stats.separate_responses, 1);
  fixture_stop(&fx);
}

/* A raw socket, to send exactly the datagrams a test wants. */
static int raw_socket(void) {
  int fd = socket(AF_INET6, SOCK_DGRAM, 0);
  cr_assert_geq(fd, 0);
  struct timeval tv = {.tv_sec = 0, .tv_usec = 20000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

static void raw_send(int fd, fixture *fx, const void *data, size_t len) {
  struct sockaddr_in6 to = {.sin6_family = AF_INET6,
                            .sin6_port = htons(fx->port),
                            .sin6_addr = IN6ADDR_LOOPBACK_INIT};
  cr_assert_eq(sendto(fd, data, len, 0, (struct sockaddr *)&to, sizeof to),
               (ssize_t)len);
}

/* Runs the loop until a datagram arrives on fd (the server answers from
 * the loop, so the test must keep turning it). */
static ssize_t raw_recv(int fd, fixture *fx, uint8_t *buf, size_t cap) {
  for (int i = 0; i < 200; i++) {
    uv_run(&fx->loop, UV_RUN_NOWAIT);
    ssize_t n = recv(fd, buf, cap, MSG_DONTWAIT);
    if (n >= 0)
      return n;
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    poll(&pfd, 1, 5);
  }
  return -1;
}

COAP_TEST(context, ping_gets_rst) {
  fixture fx;
  fixture_start(&fx, NULL);
  int fd = raw_socket();
  static const uint8_t ping[] = {0x40, 0x00, 0x12, 0x34}; /* CON 0.00 */
  raw_send(fd, &fx, ping, sizeof ping);
  uint8_t buf[64];
  ssize_t n = raw_recv(fd, &fx, buf, sizeof buf);
  cr_assert_eq(n, 4);
  cr_assert_eq(buf[0], 0x70, "RST, empty (RFC 7252 §4.3)");
  cr_assert_eq(buf[1], 0x00);
  cr_assert_eq(buf[2], 0x12);
  cr_assert_eq(buf[3], 0x34);
  close(fd);
  fixture_stop(&fx);
}

COAP_TEST(context, duplicate_con_processed_once_answered_twice) {
  fixture fx;
  fixture_start(&fx, NULL);
  fixture_add(&fx, "hello", &hello, NULL);
  renders = 0;
  int fd = raw_socket();
  /* CON GET /hello, MID 0x0101, token 0xAB */
  static const uint8_t get[] = {0x41, 0x01, 0x01, 0x01, 0xab, 0xb5,
                                'h',  'e',  'l',  'l',  'o'};
  uint8_t first[128], second[128];
  raw_send(fd, &fx, get, sizeof get);
  ssize_t n1 = raw_recv(fd, &fx, first, sizeof first);
  raw_send(fd, &fx, get, sizeof get);
  ssize_t n2 = raw_recv(fd, &fx, second, sizeof second);
  cr_assert_gt(n1, 4);
  cr_assert_eq(n1, n2);
  cr_assert_arr_eq(first, second, (size_t)n1,
                   "the same ACK again (RFC 7252 §4.5)");
  cr_assert_eq(renders, 1, "processed once");
  close(fd);
  fixture_stop(&fx);
}

COAP_TEST(context, well_known_core_filters) {
  fixture fx;
  fixture_start(&fx, NULL);
  coap_resource *h = fixture_add(&fx, "hello", &hello, NULL);
  coap_link_attributes attrs = {.rt = "greeting", .ct = "0", .sz = -1};
  coap_resource_set_link_attributes(h, &attrs);
  fixture_add(&fx, "store", &store, NULL);
  coap_resource *wkc;
  cr_assert_eq(coap_wkc_resource_new(fx.site, &wkc), 0);
  cr_assert_eq(coap_site_add_resource_path(fx.site, ".well-known/core", wkc),
               0);
  coap_resource_unref(wkc);
  coap_message *resp = NULL;
  cr_assert_eq(
      fixture_request(&fx,
                      fixture_message(&fx, COAP_CODE_GET, "/.well-known/core"),
                      &resp, 5000),
      0);
  uint16_t cf = 0;
  cr_assert_eq(coap_options_get_content_format(&resp->opt, &cf), 0);
  cr_assert_eq(cf, COAP_CT_LINK_FORMAT);
  char text[512];
  cr_assert_lt(resp->payload_len, sizeof text);
  memcpy(text, resp->payload, resp->payload_len);
  text[resp->payload_len] = '\0';
  cr_assert(strstr(text, "</hello>") != NULL, "%s", text);
  cr_assert(strstr(text, "</store>") != NULL, "%s", text);
  coap_message_free(resp);

  cr_assert_eq(fixture_request(&fx,
                               fixture_message(&fx, COAP_CODE_GET,
                                               "/.well-known/core?rt=greet*"),
                               &resp, 5000),
               0);
  memcpy(text, resp->payload, resp->payload_len);
  text[resp->payload_len] = '\0';
  cr_assert(strstr(text, "</hello>") != NULL, "%s", text);
  cr_assert(strstr(text, "</store>") == NULL, "filtered out: %s", text);
  coap_message_free(resp);
  fixture_stop(&fx);
}

COAP_TEST(context, closed_port_fails_fast_by_icmp) {
  fixture fx;
  fixture_start(&fx, NULL);
  /* A port nobody listens on: bind, learn it, close. */
  int fd = socket(AF_INET6, SOCK_DGRAM, 0);
  struct sockaddr_in6 a = {.sin6_family = AF_INET6,
                           .sin6_addr = IN6ADDR_LOOPBACK_INIT};
  socklen_t alen = sizeof a;
  bind(fd, (struct sockaddr *)&a, sizeof a);
  getsockname(fd, (struct sockaddr *)&a, &alen);
  close(fd);
  char uri[64];
  snprintf(uri, sizeof uri, "coap://[::1]:%u/x", ntohs(a.sin6_port));
  coap_message *msg;
  coap_message_new(&msg);
  msg->code = COAP_CODE_GET;
  coap_message_set_request_uri(msg, uri, true);
  uint64_t start = uv_hrtime();
  int rc = fixture_request(&fx, msg, NULL, 5000);
  uint64_t elapsed_ms = (uv_hrtime() - start) / 1000000;
  cr_assert_eq(rc, COAP_ECONNREFUSED, "got %s", coap_err_name(rc));
  cr_assert_lt(elapsed_ms, 1000, "took %llu ms",
               (unsigned long long)elapsed_ms);
  fixture_stop(&fx);
}

static int monitor_sent;
static void count_sent(void *data) {
  (void)data;
  monitor_sent++;
}

COAP_TEST(context, kill_transactions_fails_pending) {
  fixture fx;
  fixture_start(&fx, NULL);
  /* A server that never answers: a raw socket that reads nothing. */
  int fd = raw_socket();
  struct sockaddr_in6 a = {.sin6_family = AF_INET6,
                           .sin6_addr = IN6ADDR_LOOPBACK_INIT};
  socklen_t alen = sizeof a;
  bind(fd, (struct sockaddr *)&a, sizeof a);
  getsockname(fd, (struct sockaddr *)&a, &alen);
  char uri[64];
  snprintf(uri, sizeof uri, "coap://[::1]:%u/x", ntohs(a.sin6_port));
  coap_message *msg;
  coap_message_new(&msg);
  msg->code = COAP_CODE_GET;
  coap_message_set_request_uri(msg, uri, true);
  coap_exchange_monitor mon = {.sent = count_sent};
  coap_request_params params;
  coap_request_params_default(&params);
  params.monitor = &mon;
  monitor_sent = 0;
  coap_request *req;
  cr_assert_eq(coap_context_request(fx.client, msg, &params, &req), 0);
  coap_future *f = coap_request_response(req);
  bool never = false;
  fixture_run_for_or_until(&fx, &never, 50);
  cr_assert_eq(monitor_sent, 1);
  coap_remote remote = {.addr = a};
  cr_assert_eq(coap_context_kill_transactions(fx.client, &remote, 0), 1);
  cr_assert_eq(coap_future_error(f), COAP_EKILLED);
  coap_request_unref(req);
  close(fd);
  fixture_stop(&fx);
}

COAP_TEST(context, shutdown_fails_pending_requests) {
  fixture fx;
  fixture_start(&fx, NULL);
  coap_message *msg;
  coap_message_new(&msg);
  msg->code = COAP_CODE_GET;
  coap_message_set_request_uri(msg, "coap://[::1]:9/x", true);
  coap_request *req;
  cr_assert_eq(coap_context_request(fx.client, msg, NULL, &req), 0);
  coap_future *f = coap_request_response_raising(req);
  fixture_shutdown(&fx);
  cr_assert_eq(coap_future_error(f), COAP_ESHUTDOWN);
  coap_request_unref(req);
  fixture_close(&fx);
}

COAP_TEST(context, response_raising_wraps_error_response) {
  fixture fx;
  fixture_start(&fx, NULL);
  coap_request *req;
  cr_assert_eq(coap_context_request(
                   fx.client, fixture_message(&fx, COAP_CODE_GET, "/missing"),
                   NULL, &req),
               0);
  coap_future *raising = coap_request_response_raising(req);
  coap_future *nonraising = coap_request_response_nonraising(req);
  coap_run_until_complete(&fx.loop, raising);
  coap_run_until_complete(&fx.loop, nonraising);
  cr_assert_eq(coap_future_error(raising), COAP_ERESPONSE);
  const coap_message *wrapped = coap_future_result(raising);
  cr_assert_not_null(wrapped, "the response rides along");
  cr_assert_eq(wrapped->code, COAP_CODE_NOT_FOUND);
  cr_assert_eq(coap_future_error(nonraising), 0);
  cr_assert_eq(((const coap_message *)coap_future_result(nonraising))->code,
               COAP_CODE_NOT_FOUND);
  coap_request_unref(req);
  fixture_stop(&fx);
}

/* DESIGN.md: no allocation per datagram in steady state.  A raw client
 * sends CON GETs with fresh MIDs; once the deduplication cache is full and
 * recycling, the server allocates nothing more. */
COAP_TEST(context, server_hot_path_allocates_nothing) {
  fixture fx;
  coap_context_config config;
  coap_context_config_default(&config);
  config.dedup_entries = 64; /* reach the recycling state quickly */
  fixture_start(&fx, &config);
  fixture_add(&fx, "hello", &hello, NULL);
  int fd = raw_socket();
  uint8_t get[] = {0x41, 0x01, 0x00, 0x00, 0xab, 0xb5, 'h', 'e', 'l', 'l', 'o'};
  uint8_t buf[128];
  long before = 0;
  for (int i = 0; i < 1200; i++) {
    if (i == 200)
      before = coap_test_total_allocations;
    get[2] = (uint8_t)(i >> 8);
    get[3] = (uint8_t)i;
    raw_send(fd, &fx, get, sizeof get);
    ssize_t n = raw_recv(fd, &fx, buf, sizeof buf);
    cr_assert_gt(n, 4, "answer %d", i);
    cr_assert_eq(buf[1], COAP_CODE_CONTENT);
  }
  cr_assert_eq(coap_test_total_allocations, before,
               "%ld allocations in 1000 requests",
               coap_test_total_allocations - before);
  close(fd);
  fixture_stop(&fx);
}

/* Host names go through uv_getaddrinfo; "localhost" may come back as ::1 or
 * 127.0.0.1 (as ::ffff:127.0.0.1), so the server listens on [::]. */
COAP_TEST(context, host_name_is_resolved) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  coap_site *site;
  cr_assert_eq(coap_site_new(&site), 0);
  coap_resource *res;
  cr_assert_eq(coap_resource_new_methods(&hello, NULL, &res), 0);
  coap_site_add_resource_path(site, "hello", res);
  coap_resource_unref(res);
  coap_context *server, *client;
  cr_assert_eq(
      coap_context_create_server_context(&loop, site, "[::]:0", NULL, &server),
      0);
  cr_assert_eq(coap_context_create_client_context(&loop, NULL, &client), 0);
  struct sockaddr_in6 addr;
  coap_context_local_address(server, &addr);
  char uri[64];
  snprintf(uri, sizeof uri, "coap://localhost:%u/hello", ntohs(addr.sin6_port));
  coap_message *msg;
  coap_message_new(&msg);
  msg->code = COAP_CODE_GET;
  cr_assert_eq(coap_message_set_request_uri(msg, uri, true), 0);
  char host[32];
  cr_assert_gt(
      coap_options_get_string(&msg->opt, COAP_OPT_URI_HOST, host, sizeof host),
      0, "a name is sent as Uri-Host");
  coap_request *req;
  cr_assert_eq(coap_context_request(client, msg, NULL, &req), 0);
  coap_future *f = coap_request_response(req);
  cr_assert_eq(coap_run_until_complete(&loop, f), 0);
  const coap_message *resp = coap_future_result(f);
  payload_is(resp, "hello");
  coap_request_unref(req);
  coap_context_shutdown(client, NULL, NULL);
  coap_context_shutdown(server, NULL, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  coap_site_unref(site);
  cr_assert_eq(uv_loop_close(&loop), 0);
}

COAP_TEST(context, non_request_monitor_reports_sent_once) {
  fixture fx;
  fixture_start(&fx, NULL);
  fixture_add(&fx, "hello", &hello, NULL);
  coap_message *msg = fixture_message(&fx, COAP_CODE_GET, "/hello");
  msg->mtype = COAP_TYPE_NON;
  coap_exchange_monitor mon = {.sent = count_sent};
  coap_request_params params;
  coap_request_params_default(&params);
  params.monitor = &mon;
  monitor_sent = 0;
  coap_request *req;
  cr_assert_eq(coap_context_request(fx.client, msg, &params, &req), 0);
  cr_assert_eq(coap_run_until_complete(&fx.loop, coap_request_response(req)),
               0);
  cr_assert_eq(monitor_sent, 1, "sent fired %d times", monitor_sent);
  coap_request_unref(req);
  fixture_stop(&fx);
}

/* An application may shut the server down from inside a render function
 * (a "shutdown" resource): the answer in progress is dropped, nothing
 * crashes, and the context still closes. */
static coap_context *shutdown_target;
static int shutdown_cb_ran;

static void count_shutdown(coap_context *ctx, void *data) {
  (void)ctx;
  (void)data;
  shutdown_cb_ran++;
}

static int shutdown_get(coap_resource *res, coap_message *req,
                        coap_message *resp, coap_future **later) {
  (void)res;
  (void)req;
  (void)later;
  coap_context_shutdown(shutdown_target, count_shutdown, NULL);
  return coap_message_set_payload_string(resp, "bye");
}

static const coap_resource_methods shutdown_methods = {.render_get =
                                                           shutdown_get};

COAP_TEST(context, shutdown_from_inside_a_render_function) {
  fixture fx;
  coap_context_config config;
  coap_context_config_default(&config);
  config.transmission.ack_timeout_ms = 20;
  config.transmission.max_retransmit = 1;
  fixture_start(&fx, &config);
  fixture_add(&fx, "shutdown", &shutdown_methods, NULL);
  shutdown_target = fx.server;
  shutdown_cb_ran = 0;
  int rc = fixture_request(
      &fx, fixture_message(&fx, COAP_CODE_GET, "/shutdown"), NULL, 5000);
  cr_assert(rc == COAP_ETIMEDOUT || rc == COAP_ECONNREFUSED || rc == 0,
            "got %s", coap_err_name(rc));
  cr_assert_eq(shutdown_cb_ran, 1);
  int closed = 0;
  coap_context_shutdown(fx.client, NULL, &closed);
  fixture_close(&fx);
}

/* RFC 7252 §5.2.2: once a CON request has its empty ACK, the client waits
 * for the separate response however busy the server is.  A dedup cache
 * that forgets the request (evicted here by a second request; EXCHANGE_
 * LIFETIME does the same to a slower resource) must not lose the answer. */
static void limit_reached(uv_timer_t *t) {
  (void)t;
}

COAP_TEST(context, separate_response_survives_dedup_eviction) {
  fixture fx;
  coap_context_config config;
  coap_context_config_default(&config);
  config.empty_ack_delay_ms = 20;
  config.dedup_entries = 1;
  fixture_start(&fx, &config);
  slow_loop = &fx.loop;
  fixture_add(&fx, "slow", &slow, NULL);
  fixture_add(&fx, "hello", &hello, NULL);
  coap_request *req;
  cr_assert_eq(
      coap_context_request(
          fx.client, fixture_message(&fx, COAP_CODE_GET, "/slow"), NULL, &req),
      0);
  coap_future *f = coap_request_response(req);
  coap_future_ref(f);
  coap_message *resp = NULL;
  cr_assert_eq(fixture_request(&fx,
                               fixture_message(&fx, COAP_CODE_GET, "/hello"),
                               &resp, 5000),
               0);
  coap_message_free(resp);
  uv_timer_t limit;
  uv_timer_init(&fx.loop, &limit);
  uv_timer_start(&limit, limit_reached, 2000, 0);
  while (!coap_future_done(f) && uv_is_active((uv_handle_t *)&limit))
    uv_run(&fx.loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&limit, NULL);
  cr_assert(coap_future_done(f), "the separate response never came");
  cr_assert_eq(coap_future_error(f), 0);
  const coap_message *late = coap_future_result(f);
  cr_assert_eq(late->code, COAP_CODE_CONTENT);
  payload_is(late, "late");
  coap_future_unref(f);
  coap_request_unref(req);
  fixture_stop(&fx);
}

/* A monitor may cancel its request from the sent callback (a fire-and-
 * forget sender): the request ends there, and the message layer forgets
 * the CON with it, so nothing is retransmitted for (or reported to) a
 * request the application has already let go of. */
static void cancel_on_sent(void *user_data) {
  coap_request *const *req = user_data;
  cr_assert_not_null(*req, "*out is set before the first transmission");
  coap_request_cancel(*req);
}

COAP_TEST(context, monitor_may_cancel_from_sent) {
  fixture fx;
  coap_context_config config;
  coap_context_config_default(&config);
  config.transmission.ack_timeout_ms = 20;
  config.transmission.max_retransmit = 2;
  fixture_start(&fx, &config);
  /* A peer that never answers: the CON would be retransmitted. */
  int silent = socket(AF_INET6, SOCK_DGRAM, 0);
  struct sockaddr_in6 addr = {.sin6_family = AF_INET6,
                              .sin6_addr = IN6ADDR_LOOPBACK_INIT};
  cr_assert_eq(bind(silent, (struct sockaddr *)&addr, sizeof addr), 0);
  socklen_t len = sizeof addr;
  cr_assert_eq(getsockname(silent, (struct sockaddr *)&addr, &len), 0);
  char uri[64];
  snprintf(uri, sizeof uri, "coap://[::1]:%u/x", ntohs(addr.sin6_port));
  coap_message *msg;
  cr_assert_eq(coap_message_new(&msg), 0);
  msg->code = COAP_CODE_GET;
  cr_assert_eq(coap_message_set_request_uri(msg, uri, true), 0);
  coap_request *req = NULL;
  coap_exchange_monitor mon = {.sent = cancel_on_sent, .user_data = &req};
  coap_request_params params;
  coap_request_params_default(&params);
  params.monitor = &mon;
  cr_assert_eq(coap_context_request(fx.client, msg, &params, &req), 0);
  coap_future *f = coap_future_ref(coap_request_response(req));
  coap_request_unref(req);
  cr_assert_eq(coap_run_until_complete(&fx.loop, f), COAP_ECANCELED);
  coap_future_unref(f);
  /* Long enough for every retransmission and the timeout. */
  uv_timer_t wait;
  uv_timer_init(&fx.loop, &wait);
  uv_timer_start(&wait, limit_reached, 400, 0);
  while (uv_is_active((uv_handle_t *)&wait))
    uv_run(&fx.loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&wait, NULL);
  coap_context_stats stats;
  coap_context_get_stats(fx.client, &stats);
  cr_assert_eq(stats.retransmissions, 0,
               "a cancelled request's CON was retransmitted %u times",
               (unsigned)stats.retransmissions);
  fixture_stop(&fx);
  close(silent);
}

/* The monitor's response callback may cancel the request too, even when
 * the response is the first block of a larger body (RFC 7959 §2.4): the
 * request ends and asks for no further block. */
static int big_get(coap_resource *res, coap_message *req, coap_message *resp,
                   coap_future **later) {
  (void)res;
  (void)req;
  (void)later;
  static char body[3000];
  memset(body, 'b', sizeof body);
  return coap_message_set_payload(resp, body, sizeof body);
}

static const coap_resource_methods big = {.render_get = big_get};

static void cancel_on_response(const coap_message *resp, void *user_data) {
  (void)resp;
  coap_request *const *req = user_data;
  coap_request_cancel(*req);
}

COAP_TEST(context, monitor_may_cancel_from_response) {
  fixture fx;
  fixture_start(&fx, NULL);
  fixture_add(&fx, "big", &big, NULL);
  coap_request *req = NULL;
  coap_exchange_monitor mon = {.response = cancel_on_response,
                               .user_data = &req};
  coap_request_params params;
  coap_request_params_default(&params);
  params.monitor = &mon;
  cr_assert_eq(coap_context_request(fx.client,
                                    fixture_message(&fx, COAP_CODE_GET, "/big"),
                                    &params, &req),
               0);
  coap_future *f = coap_future_ref(coap_request_response(req));
  coap_request_unref(req);
  cr_assert_eq(coap_run_until_complete(&fx.loop, f), COAP_ECANCELED);
  coap_future_unref(f);
  fixture_stop(&fx);
}

/* Issue 9: binding an address this machine does not have says so, rather
 * than "unknown error"; other system errors get their own text too. */
COAP_TEST(context, bind_to_absent_address_says_address_not_available) {
  uv_loop_t loop;
  cr_assert_eq(uv_loop_init(&loop), 0);
  coap_site *site;
  cr_assert_eq(coap_site_new(&site), 0);
  coap_context *ctx = NULL;
  /* 192.0.2.0/24 is TEST-NET-1 (RFC 5737): never a local address here. */
  int rc = coap_context_create_server_context(&loop, site, "192.0.2.1:5683",
                                              NULL, &ctx);
  cr_assert_eq(rc, COAP_EADDRNOTAVAIL, "got %s", coap_strerror(rc));
  cr_assert_null(ctx);
  cr_assert_str_eq(coap_strerror(rc), "address not available");
  cr_assert_str_neq(coap_strerror(-ENOBUFS), "unknown error");
  coap_site_unref(site);
  uv_run(&loop, UV_RUN_DEFAULT);
  cr_assert_eq(uv_loop_close(&loop), 0);
}
/* net.core.rmem_max / wmem_max: the cap SO_RCVBUF / SO_SNDBUF obey without
 * CAP_NET_ADMIN. */
static uint64_t sysctl_value(const char *path) {
  FILE *f = fopen(path, "r");
  cr_assert_not_null(f);
  unsigned long long v = 0;
  cr_assert_eq(fscanf(f, "%llu", &v), 1);
  fclose(f);
  return v;
}

COAP_TEST(context, socket_buffers_default_to_4_mib) {
  coap_context_config config;
  coap_context_config_default(&config);
  cr_assert_eq(config.socket_rcvbuf, 4u << 20);
  cr_assert_eq(config.socket_sndbuf, 4u << 20);
}

COAP_TEST(context, socket_buffers_are_applied) {
  coap_context_config config;
  coap_context_config_default(&config);
  config.socket_rcvbuf = 3u << 20;
  config.socket_sndbuf = 1u << 20;
  uv_loop_t loop;
  cr_assert_eq(uv_loop_init(&loop), 0);
  coap_context *ctx;
  cr_assert_eq(coap_context_create_client_context(&loop, &config, &ctx), 0);
  coap_context_stats stats;
  coap_context_get_stats(ctx, &stats);
  /* socket(7): getsockopt reports twice the value set; without privilege
   * the value set is capped at the sysctl. */
  uint64_t rcv = config.socket_rcvbuf, snd = config.socket_sndbuf;
  if (geteuid() != 0) {
    uint64_t rmax = sysctl_value("/proc/sys/net/core/rmem_max");
    uint64_t wmax = sysctl_value("/proc/sys/net/core/wmem_max");
    rcv = rcv < rmax ? rcv : rmax;
    snd = snd < wmax ? snd : wmax;
  }
  cr_assert_geq(stats.socket_rcvbuf, 2 * rcv);
  cr_assert_geq(stats.socket_sndbuf, 2 * snd);
  coap_context_shutdown(ctx, NULL, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  cr_assert_eq(uv_loop_close(&loop), 0);
}

/* Sends count datagrams to the server while its loop is not running, so
 * that only the socket's receive buffer holds them, then lets the server
 * read them and one more (the kernel reports a drop with the next datagram
 * queued after it), and returns the server's stats. */
static coap_context_stats flood(fixture *fx, int count) {
  int fd = raw_socket();
  /* An Empty NON: ignored (RFC 7252 §4.3), so nothing is answered. */
  static const uint8_t empty_non[] = {0x50, 0x00, 0x00, 0x01};
  for (int i = 0; i < count; i++)
    raw_send(fd, fx, empty_non, sizeof empty_non);
  coap_context_stats stats;
  uint64_t seen = UINT64_MAX;
  for (int i = 0; i < 1000; i++) {
    uv_run(&fx->loop, UV_RUN_NOWAIT);
    coap_context_get_stats(fx->server, &stats);
    if (stats.datagrams_received == seen)
      break;
    seen = stats.datagrams_received;
  }
  raw_send(fd, fx, empty_non, sizeof empty_non);
  for (int i = 0; i < 1000 && stats.datagrams_received == seen; i++) {
    uv_run(&fx->loop, UV_RUN_NOWAIT);
    coap_context_get_stats(fx->server, &stats);
  }
  cr_assert_eq(stats.datagrams_received, seen + 1);
  close(fd);
  return stats;
}

COAP_TEST(context, kernel_drops_counted_with_a_tiny_receive_buffer) {
  coap_context_config config;
  coap_context_config_default(&config);
  config.socket_rcvbuf = 1; /* the kernel's minimum, a few datagrams */
  fixture fx;
  fixture_start(&fx, &config);
  coap_context_stats stats = flood(&fx, 1000);
  cr_assert_gt(stats.kernel_drops, 0);
  cr_assert_eq(stats.datagrams_received + stats.kernel_drops, 1001);
  fixture_stop(&fx);
}

COAP_TEST(context, no_kernel_drops_with_a_large_receive_buffer) {
  fixture fx;
  fixture_start(&fx, NULL);
  coap_context_stats stats;
  coap_context_get_stats(fx.server, &stats);
  /* Each small datagram costs the buffer well under 4 KiB of overhead;
   * where the sysctl caps the default 4 MiB, send fewer. */
  int count =
      (int)(stats.socket_rcvbuf / 4096 < 1000 ? stats.socket_rcvbuf / 4096
                                              : 1000);
  cr_assert_gt(count, 16);
  stats = flood(&fx, count);
  cr_assert_eq(stats.kernel_drops, 0);
  cr_assert_eq(stats.datagrams_received, (uint64_t)count + 1);
  fixture_stop(&fx);
}

/* Issue 10: a render function reaches its context (and so its loop)
 * through the request, without a global. */
static coap_context *seen_context;
static int context_get(coap_resource *res, coap_message *req,
                       coap_message *resp, coap_future **later) {
  (void)res;
  (void)resp;
  seen_context = coap_message_context(req);
  return coap_future_new(coap_context_loop(seen_context), later) == 0
             ? (coap_future_resolve(*later, NULL, NULL), 0)
             : COAP_ENOMEM;
}

COAP_TEST(resource, render_reaches_its_context_through_the_request) {
  fixture fx;
  fixture_start(&fx, NULL);
  static const coap_resource_methods m = {.render_get = context_get};
  fixture_add(&fx, "ctx", &m, NULL);
  seen_context = NULL;
  coap_message *resp = NULL;
  fixture_request(&fx, fixture_message(&fx, COAP_CODE_GET, "/ctx"), &resp,
                  5000);
  coap_message_free(resp);
  cr_assert_eq(seen_context, fx.server);
  coap_message *mine;
  cr_assert_eq(coap_message_new(&mine), 0);
  cr_assert_null(coap_message_context(mine), "made by the application");
  coap_message_free(mine);
  fixture_stop(&fx);
}

/* A request made long after the loop last read the clock (application
 * code between two loop turns) counts its deadlines from when it is made:
 * RFC 7252 §4.2's first retransmission comes ACK_TIMEOUT after the send,
 * not at once.  The loop's clock is left 60 ms stale by keeping the CPU
 * busy, without running the loop. */
COAP_TEST(context, request_after_a_stale_loop_clock_waits_its_ack_timeout) {
  fixture fx;
  coap_context_config config;
  coap_context_config_default(&config);
  config.transmission.ack_timeout_ms = 40;
  config.transmission.ack_random_factor = 1.0;
  fixture_start(&fx, &config);
  int silent = socket(AF_INET6, SOCK_DGRAM, 0);
  struct sockaddr_in6 addr = {.sin6_family = AF_INET6,
                              .sin6_addr = IN6ADDR_LOOPBACK_INIT};
  cr_assert_eq(bind(silent, (struct sockaddr *)&addr, sizeof addr), 0);
  socklen_t len = sizeof addr;
  cr_assert_eq(getsockname(silent, (struct sockaddr *)&addr, &len), 0);
  char uri[64];
  snprintf(uri, sizeof uri, "coap://[::1]:%u/x", ntohs(addr.sin6_port));
  uv_update_time(&fx.loop);
  uint64_t until = uv_hrtime() + 60u * 1000 * 1000;
  while (uv_hrtime() < until) {
  }
  coap_message *msg;
  cr_assert_eq(coap_message_new(&msg), 0);
  msg->code = COAP_CODE_GET;
  cr_assert_eq(coap_message_set_request_uri(msg, uri, true), 0);
  coap_request *req;
  cr_assert_eq(coap_context_request(fx.client, msg, NULL, &req), 0);
  uv_run(&fx.loop, UV_RUN_NOWAIT);
  uv_run(&fx.loop, UV_RUN_NOWAIT);
  coap_context_stats stats;
  coap_context_get_stats(fx.client, &stats);
  cr_assert_eq(stats.retransmissions, 0,
               "retransmitted at once: the deadline came from a stale clock");
  coap_request_cancel(req);
  coap_request_unref(req);
  fixture_stop(&fx);
  close(silent);
}
