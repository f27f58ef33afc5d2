/*
 * A context with several endpoints (aiocoap's Context with several
 * transports): binding more, routing requests by the URI's scheme, and
 * answers leaving by the endpoint the request came in on.
 */
#include "context_fixture.h"

#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int hello_get(coap_resource *res, coap_message *req, coap_message *resp,
                     coap_future **later) {
  (void)res;
  (void)later;
  coap_options_set_content_format(&resp->opt, COAP_CT_TEXT_PLAIN);
  /* The scheme the request came by, so tests see which endpoint served. */
  return coap_message_set_payload_string(resp,
                                         coap_remote_scheme(&req->remote));
}

static const coap_resource_methods hello = {.render_get = hello_get};

static uint16_t endpoint_port(coap_context *ctx, const char *scheme,
                              unsigned index) {
  struct sockaddr_in6 addr;
  int rc = coap_context_endpoint_address(ctx, scheme, index, &addr);
  cr_assert_eq(rc, 0);
  return ntohs(addr.sin6_port);
}

Test(endpoints, second_coap_endpoint_serves_and_answers_from_itself) {
  fixture fx;
  fixture_start(&fx, NULL);
  fixture_add(&fx, "hello", &hello, NULL);
  char err[128] = "";
  int rc = coap_context_bind(fx.server, "coap://[::1]:0", err, sizeof err);
  cr_assert_eq(rc, 0, "bind: %s", err);
  cr_assert_eq(endpoint_port(fx.server, "coap", 0), fx.port);
  uint16_t second = endpoint_port(fx.server, "coap", 1);
  cr_assert_neq(second, fx.port);
  struct sockaddr_in6 addr;
  rc = coap_context_endpoint_address(fx.server, "coap", 2, &addr);
  cr_assert_eq(rc, COAP_ENOENT);
  rc = coap_context_endpoint_address(fx.server, "coaps", 0, &addr);
  cr_assert_eq(rc, COAP_ENOENT);

  /* The client library matches a response only when it comes from where
   * the request went: so a response at all says the second endpoint
   * answered by itself. */
  coap_message *msg;
  cr_assert_eq(coap_message_new(&msg), 0);
  msg->code = COAP_CODE_GET;
  char uri[80];
  snprintf(uri, sizeof uri, "coap://[::1]:%u/hello", second);
  cr_assert_eq(coap_message_set_request_uri(msg, uri, true), 0);
  coap_message *resp = NULL;
  rc = fixture_request(&fx, msg, &resp, 2000);
  cr_assert_eq(rc, 0);
  cr_assert_eq(resp->code, COAP_CODE_CONTENT);
  cr_assert_eq(resp->payload_len, 4);
  cr_assert(memcmp(resp->payload, "coap", 4) == 0);
  coap_message_free(resp);

  /* And from a plain socket: the answer's source port is the one asked. */
  int fd = socket(AF_INET6, SOCK_DGRAM, 0);
  cr_assert(fd >= 0);
  struct sockaddr_in6 to = {.sin6_family = AF_INET6,
                            .sin6_addr = IN6ADDR_LOOPBACK_INIT,
                            .sin6_port = htons(second)};
  /* CON GET /hello, MID 0x1234, no token. */
  const uint8_t get[] = {0x40, 0x01, 0x12, 0x34, 0xb5, 'h', 'e', 'l', 'l', 'o'};
  cr_assert_eq(sendto(fd, get, sizeof get, 0, (struct sockaddr *)&to,
                      sizeof to),
               (ssize_t)sizeof get);
  bool answered = false;
  struct sockaddr_in6 from;
  uint8_t buf[256];
  for (int i = 0; i < 200 && !answered; i++) {
    uv_run(&fx.loop, UV_RUN_NOWAIT);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 5) == 1) {
      socklen_t fl = sizeof from;
      ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from,
                           &fl);
      cr_assert_gt(n, 4);
      answered = true;
    }
  }
  cr_assert(answered, "no answer from the second endpoint");
  cr_assert_eq(ntohs(from.sin6_port), second);
  cr_assert_eq(buf[0] & 0x30, 0x20, "an ACK");
  close(fd);
  fixture_stop(&fx);
}

Test(endpoints, bind_rejects_what_it_cannot_serve) {
  fixture fx;
  fixture_start(&fx, NULL);
  char err[128] = "";
  int rc = coap_context_bind(fx.server, "coap+tcp://[::1]:0", err, sizeof err);
  cr_assert_eq(rc, COAP_EURI_SCHEME);
  cr_assert(strstr(err, "coap+tcp") != NULL, "err says which: %s", err);
  rc = coap_context_bind(fx.server, "coap://[::1", err, sizeof err);
  cr_assert_lt(rc, 0);
  rc = coap_context_bind(fx.server, NULL, err, sizeof err);
  cr_assert_eq(rc, COAP_EINVAL);
  rc = coap_context_bind(NULL, "coap://[::1]:0", err, sizeof err);
  cr_assert_eq(rc, COAP_EINVAL);
  /* The port the server already holds. */
  char taken[64];
  snprintf(taken, sizeof taken, "coap://[::1]:%u", fx.port);
  rc = coap_context_bind(fx.server, taken, err, sizeof err);
  cr_assert_eq(rc, COAP_EADDRINUSE);
  fixture_stop(&fx);
}

Test(endpoints, endpoints_are_bounded) {
  fixture fx;
  fixture_start(&fx, NULL);
  int rc = 0;
  unsigned added = 0;
  /* The first endpoint is there already. */
  while ((rc = coap_context_bind(fx.server, "[::1]:0", NULL, 0)) == 0)
    added++;
  cr_assert_eq(rc, COAP_ELIMIT);
  cr_assert_eq(added, 15u, "16 endpoints at most, the first included");
  fixture_stop(&fx);
}

Test(endpoints, request_scheme_picks_the_transport) {
  fixture fx;
  fixture_start(&fx, NULL);
  coap_message *msg;
  cr_assert_eq(coap_message_new(&msg), 0);
  msg->code = COAP_CODE_GET;
  cr_assert_eq(coap_message_set_request_uri(msg, "coap+tcp://[::1]/x", true),
               0);
  coap_request *req = NULL;
  int rc = coap_context_request(fx.client, msg, NULL, &req);
  cr_assert_eq(rc, COAP_EURI_SCHEME);
  cr_assert_null(req);
  fixture_stop(&fx);
}

Test(endpoints, remote_of_another_context_is_refused) {
  fixture fx;
  fixture_start(&fx, NULL);
  fixture_add(&fx, "hello", &hello, NULL);
  /* A response carries the remote of the client context's endpoint. */
  coap_message *resp = NULL;
  int rc = fixture_request(&fx, fixture_message(&fx, COAP_CODE_GET, "/hello"),
                           &resp, 2000);
  cr_assert_eq(rc, 0);
  coap_message *msg;
  cr_assert_eq(coap_message_new(&msg), 0);
  msg->code = COAP_CODE_GET;
  msg->remote = resp->remote;
  coap_message_free(resp);
  coap_request *req = NULL;
  /* The server context cannot send by the client context's socket. */
  rc = coap_context_request(fx.server, msg, NULL, &req);
  cr_assert_eq(rc, COAP_EINVAL);
  cr_assert_null(req);
  fixture_stop(&fx);
}

Test(endpoints, scheme_of_a_remote) {
  coap_remote none;
  memset(&none, 0, sizeof none);
  cr_assert_str_eq(coap_remote_scheme(&none), "coap");
  cr_assert_str_eq(coap_remote_scheme(NULL), "coap");
  char buf[32];
  cr_assert_eq(coap_remote_peer_identity(&none, buf, sizeof buf), COAP_ENOENT);
  cr_assert_eq(coap_remote_peer_identity(NULL, buf, sizeof buf), COAP_EINVAL);
}

Test(endpoints, server_context_on_a_coaps_bind_without_credentials) {
  uv_loop_t loop;
  cr_assert_eq(uv_loop_init(&loop), 0);
  coap_site *site;
  cr_assert_eq(coap_site_new(&site), 0);
  coap_context *ctx = NULL;
  int rc = coap_context_create_server_context(&loop, site, "coaps://[::1]:0",
                                              NULL, &ctx);
  /* Without DTLS in the build, the scheme is not served; with it, a coaps
   * endpoint with no server credential cannot accept anyone. */
  cr_assert(rc == COAP_ECREDENTIALS || rc == COAP_EURI_SCHEME,
            "rc %d (%s)", rc, coap_err_name(rc));
  cr_assert_null(ctx);
  coap_site_unref(site);
  uv_run(&loop, UV_RUN_DEFAULT);
  cr_assert_eq(uv_loop_close(&loop), 0);
}

Test(endpoints, one_address_over_two_transports_is_two_peers) {
  coap_remote a, b;
  memset(&a, 0, sizeof a);
  a.addr.sin6_family = AF_INET6;
  a.addr.sin6_addr = in6addr_loopback;
  a.addr.sin6_port = htons(5684);
  b = a;
  int x, y;
  a.endpoint = &x;
  b.endpoint = &y;
  cr_assert(!coap_remote_equal(&a, &b), "a response over coap is not one "
                                        "for a request over coaps");
  b.endpoint = &x;
  cr_assert(coap_remote_equal(&a, &b));
  /* A remote the application made names no transport. */
  b.endpoint = NULL;
  cr_assert(coap_remote_equal(&a, &b));
}

Test(endpoints, join_group_refuses_what_is_not_a_group) {
  fixture fx;
  fixture_start(&fx, NULL);
  cr_assert_eq(coap_context_join_group(fx.server, "::1", NULL), COAP_EINVAL);
  cr_assert_eq(coap_context_join_group(fx.server, "10.0.0.1", NULL),
               COAP_EINVAL);
  cr_assert_eq(coap_context_join_group(fx.server, "ff02::fd:", NULL),
               COAP_EINVAL);
  cr_assert_eq(coap_context_join_group(fx.server, NULL, NULL), COAP_EINVAL);
  cr_assert_eq(coap_context_join_group(NULL, "ff02::fd", NULL), COAP_EINVAL);
  cr_assert_eq(coap_context_join_group(fx.server, "ff02::fd", "nosuch0"),
               COAP_ENODEV);
  fixture_stop(&fx);
}
