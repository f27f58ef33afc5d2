/*
 * The plugtest tests' fixture (plugtest_fixture.h).
 */
#include "plugtest_fixture.h"

#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

void pt_start(pt *t, const coap_context_config *config,
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

void pt_stop(pt *t) {
  close(t->fd);
  coap_context_shutdown(t->fx.client, on_client_down, t);
  coap_context_shutdown(t->fx.server, on_server_down, t);
  uv_run(&t->fx.loop, UV_RUN_DEFAULT);
  cr_expect_null(t->fx.server, "the server shut down");
  cr_expect_null(t->fx.client, "the client shut down");
  fixture_close(&t->fx);
}

/* Short timers with an exact schedule: ACK_TIMEOUT ms, doubling. */
void fast_config(coap_context_config *c, uint32_t ack_timeout_ms,
                 uint32_t max_retransmit) {
  coap_context_config_default(c);
  c->transmission.ack_timeout_ms = ack_timeout_ms;
  c->transmission.ack_random_factor = 1.0;
  c->transmission.max_retransmit = max_retransmit;
}

void plug_config(plugtest_config *p, uint32_t period_ms, uint32_t separate_ms) {
  plugtest_config_default(p);
  p->obs_period_ms = period_ms;
  p->separate_delay_ms = separate_ms;
}

/* ---- the raw client ---- */

const uint8_t token_a[2] = {0xa1, 0xa2};

void raw_init(coap_message *m, int mtype, uint16_t mid, uint8_t code,
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
void raw_send(pt *t, coap_message *m) {
  uint8_t buf[2048];
  int n = coap_message_encode(m, buf, sizeof buf);
  cr_assert_gt(n, 0);
  cr_assert_eq(sendto(t->fd, buf, (size_t)n, 0,
                      (const struct sockaddr *)&t->server, sizeof t->server),
               n);
  coap_message_clear(m);
}

void raw_empty(pt *t, int mtype, uint16_t mid) {
  uint8_t h[4] = {(uint8_t)(0x40 | mtype << 4), 0, (uint8_t)(mid >> 8),
                  (uint8_t)mid};
  cr_assert_eq(sendto(t->fd, h, 4, 0, (const struct sockaddr *)&t->server,
                      sizeof t->server),
               4);
}

/* Runs the loop until a datagram comes (decoded into m, borrowing buf) or
 * limit_ms of loop time pass; its length, or -1. */
ssize_t raw_recv(pt *t, coap_message *m, uint8_t *buf, size_t cap,
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
void raw_answer(pt *t, coap_message *m, uint8_t *buf, size_t cap) {
  cr_assert_gt(raw_recv(t, m, buf, cap, 2000), 0, "an answer came");
}

/* ---- the library's client ---- */

/* path's answer to code (with payload when given); the caller frees it. */
coap_message *ask(pt *t, uint8_t code, const char *path, const char *payload) {
  coap_message *msg = fixture_message(&t->fx, code, path);
  if (payload != NULL)
    cr_assert_eq(coap_message_set_payload_string(msg, payload), 0);
  coap_message *resp = NULL;
  cr_assert_eq(fixture_request(&t->fx, msg, &resp, 5000), 0);
  return resp;
}

void code_is(const coap_message *m, uint8_t code) {
  char a[5], b[5];
  cr_assert_eq(m->code, code, "code %s, want %s", coap_code_dotted(m->code, a),
               coap_code_dotted(code, b));
}

void cf_is(const coap_message *m, uint16_t cf) {
  uint16_t got = 0;
  cr_assert_eq(coap_options_get_content_format(&m->opt, &got), 0,
               "a 2.xx with a payload carries Content-Format");
  cr_assert_eq(got, cf);
}

bool payload_has(const coap_message *m, const char *text) {
  return m->payload_len >= strlen(text) &&
         memmem(m->payload, m->payload_len, text, strlen(text)) != NULL;
}

size_t etag_of(const coap_message *m, uint8_t *etag) {
  const uint8_t *v;
  size_t len;
  cr_assert_eq(coap_options_get_etag(&m->opt, &v, &len), 0, "an ETag");
  memcpy(etag, v, len);
  return len;
}

char *wkc(pt *t, const char *query, char *out, size_t cap) {
  char path[128];
  snprintf(path, sizeof path, "/.well-known/core%s", query);
  coap_message *r = ask(t, COAP_CODE_GET, path, NULL);
  code_is(r, COAP_CODE_CONTENT);
  cf_is(r, COAP_CT_LINK_FORMAT);
  snprintf(out, cap, "%.*s", (int)r->payload_len, (const char *)r->payload);
  coap_message_free(r);
  return out;
}
