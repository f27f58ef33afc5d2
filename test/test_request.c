/*
 * coap_request against a scripted peer: a raw UDP socket on the loop whose
 * answers each test writes by hand, for what our own server never sends.
 */
#include "test_common.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

typedef struct peer peer;
/* Called for every datagram the peer receives (decoded in msg, which
 * borrows the datagram); answers with peer_send. */
typedef void (*peer_fn)(peer *p, const coap_message *msg);

struct peer {
  uv_loop_t loop;
  coap_context *client;
  uv_udp_t udp;
  struct sockaddr_in6 from;
  char uri[64];
  peer_fn fn;
  int received;
  int rst_received;
  int gets;
};

static void alloc_cb(uv_handle_t *h, size_t size, uv_buf_t *buf) {
  (void)h;
  (void)size;
  static char space[2048];
  *buf = uv_buf_init(space, sizeof space);
}

static void recv_cb(uv_udp_t *h, ssize_t n, const uv_buf_t *buf,
                    const struct sockaddr *from, unsigned flags) {
  (void)flags;
  peer *p = h->data;
  if (n <= 0 || from == NULL)
    return;
  memcpy(&p->from, from, sizeof p->from);
  coap_message msg;
  coap_message_init(&msg);
  if (coap_message_decode(&msg, (const uint8_t *)buf->base, (size_t)n) == 0) {
    p->received++;
    if (msg.mtype == COAP_TYPE_RST)
      p->rst_received++;
    else if (p->fn != NULL)
      p->fn(p, &msg);
  }
  coap_message_clear(&msg);
}

static void peer_send(peer *p, coap_message *msg) {
  uint8_t buf[2048];
  int n = coap_message_encode(msg, buf, sizeof buf);
  cr_assert_gt(n, 0);
  uv_buf_t out = uv_buf_init((char *)buf, (unsigned)n);
  cr_assert_eq(
      uv_udp_try_send(&p->udp, &out, 1, (const struct sockaddr *)&p->from), n);
}

static void peer_start(peer *p, const coap_context_config *config, peer_fn fn) {
  memset(p, 0, sizeof *p);
  p->fn = fn;
  cr_assert_eq(uv_loop_init(&p->loop), 0);
  cr_assert_eq(coap_context_create_client_context(&p->loop, config, &p->client),
               0);
  cr_assert_eq(uv_udp_init(&p->loop, &p->udp), 0);
  p->udp.data = p;
  struct sockaddr_in6 a = {.sin6_family = AF_INET6,
                           .sin6_addr = IN6ADDR_LOOPBACK_INIT};
  cr_assert_eq(uv_udp_bind(&p->udp, (const struct sockaddr *)&a, 0), 0);
  int len = sizeof a;
  uv_udp_getsockname(&p->udp, (struct sockaddr *)&a, &len);
  snprintf(p->uri, sizeof p->uri, "coap://[::1]:%u/x", ntohs(a.sin6_port));
  uv_udp_recv_start(&p->udp, alloc_cb, recv_cb);
}

static void on_closed(coap_context *ctx, void *data) {
  (void)ctx;
  *(bool *)data = true;
}

static void peer_stop(peer *p) {
  bool closed = false;
  coap_context_shutdown(p->client, on_closed, &closed);
  uv_close((uv_handle_t *)&p->udp, NULL);
  uv_run(&p->loop, UV_RUN_DEFAULT);
  cr_assert(closed);
  cr_assert_eq(uv_loop_close(&p->loop), 0);
}

static coap_message *get(const peer *p, bool observe) {
  coap_message *msg;
  cr_assert_eq(coap_message_new(&msg), 0);
  msg->code = COAP_CODE_GET;
  cr_assert_eq(coap_message_set_request_uri(msg, p->uri, true), 0);
  if (observe)
    cr_assert_eq(coap_options_set_observe(&msg->opt, 0), 0);
  return msg;
}

/* Runs the loop until f is done (bounded). */
static void wait_done(peer *p, coap_future *f) {
  for (int i = 0; i < 20000 && !coap_future_done(f); i++)
    uv_run(&p->loop, UV_RUN_NOWAIT);
  cr_assert(coap_future_done(f), "the future completed");
}

/* An answer to msg: a piggybacked ACK for a CON, else a NON. */
static void answer_init(coap_message *resp, const coap_message *req,
                        uint8_t code) {
  coap_message_init(resp);
  resp->code = code;
  resp->mtype = req->mtype == COAP_TYPE_CON ? COAP_TYPE_ACK : COAP_TYPE_NON;
  resp->mid = req->mtype == COAP_TYPE_CON ? req->mid : req->mid + 1;
  coap_message_set_token(resp, req->token, req->token_len);
}

/* ---- RFC 7252 §5.4.1: an unrecognised critical option in a response ---- */

static void answer_with_oscore(peer *p, const coap_message *req) {
  coap_message resp;
  coap_message_init(&resp);
  resp.code = COAP_CODE_CONTENT;
  resp.mtype = COAP_TYPE_NON;
  resp.mid = 0x4242;
  coap_message_set_token(&resp, req->token, req->token_len);
  /* Option 9 (OSCORE) is critical, and this client does not do OSCORE. */
  cr_assert_eq(coap_options_add(&resp.opt, COAP_OPT_OSCORE, NULL, 0), 0);
  coap_message_set_payload_string(&resp, "secret");
  peer_send(p, &resp);
  coap_message_clear(&resp);
}

COAP_TEST(request, response_with_unrecognised_critical_option_is_rejected) {
  peer p;
  peer_start(&p, NULL, answer_with_oscore);
  coap_request *req;
  cr_assert_eq(coap_context_request(p.client, get(&p, false), NULL, &req), 0);
  coap_future *f = coap_request_response(req);
  wait_done(&p, f);
  cr_assert_eq(coap_future_error(f), COAP_EBAD_RESPONSE_OPTION,
               "the payload is not handed to the application");
  for (int i = 0; i < 1000 && p.rst_received == 0; i++)
    uv_run(&p.loop, UV_RUN_NOWAIT);
  cr_assert_eq(p.rst_received, 1, "the NON response was rejected with RST");
  coap_request_unref(req);
  peer_stop(&p);
}

/* ---- results are not shared between the three futures ---- */

static void answer_hello(peer *p, const coap_message *req) {
  coap_message resp;
  answer_init(&resp, req, COAP_CODE_CONTENT);
  coap_message_set_payload_string(&resp, "hello");
  peer_send(p, &resp);
  coap_message_clear(&resp);
}

COAP_TEST(request, response_futures_do_not_share_their_message) {
  peer p;
  peer_start(&p, NULL, answer_hello);
  coap_request *req;
  cr_assert_eq(coap_context_request(p.client, get(&p, false), NULL, &req), 0);
  coap_future *a = coap_request_response(req);
  coap_future *b = coap_request_response_raising(req);
  coap_future *c = coap_request_response_nonraising(req);
  wait_done(&p, a);
  wait_done(&p, b);
  wait_done(&p, c);
  coap_message *mine = coap_future_result(a);
  cr_assert_not_null(mine);
  coap_message_set_payload_string(mine, "changed");
  mine->code = COAP_CODE_NOT_FOUND;
  const coap_message *rb = coap_future_result(b);
  const coap_message *rc = coap_future_result(c);
  cr_assert_eq(rb->code, COAP_CODE_CONTENT);
  cr_assert_eq(rb->payload_len, 5);
  cr_assert_eq(memcmp(rb->payload, "hello", 5), 0);
  cr_assert_eq(rc->payload_len, 5);
  cr_assert_eq(memcmp(rc->payload, "hello", 5), 0);
  coap_message_free(coap_future_take_result(b));
  cr_assert_eq(memcmp(rc->payload, "hello", 5), 0);
  coap_request_unref(req);
  peer_stop(&p);
}

/* ---- tokens run out (token_length 1: 256 tokens) ---- */

COAP_TEST(request, token_space_used_up_fails_with_limit) {
  coap_context_config config;
  coap_context_config_default(&config);
  config.token_length = 1;
  peer p;
  peer_start(&p, &config, NULL); /* silent */
  enum { N = 257 };
  coap_request *reqs[N];
  for (int i = 0; i < N; i++) {
    coap_message *msg = get(&p, false);
    msg->mtype = COAP_TYPE_NON;
    cr_assert_eq(coap_context_request(p.client, msg, NULL, &reqs[i]), 0);
  }
  for (int i = 0; i < N - 1; i++)
    cr_assert_not(coap_future_done(coap_request_response(reqs[i])),
                  "request %d has a token of its own", i);
  coap_future *last = coap_request_response(reqs[N - 1]);
  wait_done(&p, last);
  cr_assert_eq(coap_future_error(last), COAP_ELIMIT,
               "the 257th fails instead of searching for ever");
  /* A token given back is found again. */
  coap_request_cancel(reqs[0]);
  coap_request *again;
  coap_message *msg = get(&p, false);
  msg->mtype = COAP_TYPE_NON;
  cr_assert_eq(coap_context_request(p.client, msg, NULL, &again), 0);
  cr_assert_not(coap_future_done(coap_request_response(again)));
  coap_request_unref(again);
  for (int i = 0; i < N; i++)
    coap_request_unref(reqs[i]);
  peer_stop(&p);
}

/* ---- killing many requests is linear (one pass, no restart) ---- */

COAP_TEST(request, kill_transactions_fails_every_request_once) {
  enum { N = 20000 };
  coap_context_config config;
  coap_context_config_default(&config);
  config.max_outgoing_exchanges = N; /* NON requests count (NSTART) */
  config.max_outgoing_per_peer = 0;  /* all to one peer */
  peer p;
  peer_start(&p, &config, NULL); /* silent */
  coap_request **reqs = malloc(N * sizeof *reqs);
  for (int i = 0; i < N; i++) {
    coap_message *msg = get(&p, false);
    msg->mtype = COAP_TYPE_NON;
    cr_assert_eq(coap_context_request(p.client, msg, NULL, &reqs[i]), 0);
  }
  coap_remote remote;
  memset(&remote, 0, sizeof remote);
  remote.addr.sin6_family = AF_INET6;
  remote.addr.sin6_addr = in6addr_loopback;
  remote.addr.sin6_port = htons((uint16_t)atoi(strrchr(p.uri, ':') + 1));
  cr_assert_eq(coap_context_kill_transactions(p.client, &remote, 0), N);
  for (int i = 0; i < N; i++) {
    cr_assert_eq(coap_future_error(coap_request_response(reqs[i])),
                 COAP_EKILLED);
    coap_request_unref(reqs[i]);
  }
  free(reqs);
  peer_stop(&p);
}

/* ---- RFC 7959 §2.4 in an observation: the rest of a Block2
 * notification comes at a smaller block size than asked ---- */

static const char *etag = "e1";
static uint8_t body[1536];

static void block_answer(peer *p, const coap_message *req, uint32_t observe,
                         bool with_observe, coap_block b, size_t size) {
  coap_message resp;
  answer_init(&resp, req, COAP_CODE_CONTENT);
  if (with_observe)
    coap_options_set_observe(&resp.opt, observe);
  coap_options_add(&resp.opt, COAP_OPT_ETAG, etag, 2);
  coap_options_set_block(&resp.opt, COAP_OPT_BLOCK2, &b);
  size_t start = coap_block_start(&b);
  coap_message_set_payload(&resp, body + start, size);
  peer_send(p, &resp);
  coap_message_clear(&resp);
}

static coap_message notification_to; /* the registration, for later */
static uint8_t reg_token[8];
static size_t reg_token_len;

static void smaller_szx_server(peer *p, const coap_message *req) {
  coap_block asked;
  bool has_block =
      coap_options_get_block(&req->opt, COAP_OPT_BLOCK2, &asked) == 0;
  uint32_t observe;
  if (coap_options_get_observe(&req->opt, &observe) == 0 && observe == 0) {
    /* The registration: a small representation in one piece. */
    memcpy(reg_token, req->token, req->token_len);
    reg_token_len = req->token_len;
    coap_message resp;
    answer_init(&resp, req, COAP_CODE_CONTENT);
    coap_options_set_observe(&resp.opt, 2);
    coap_message_set_payload_string(&resp, "small");
    peer_send(p, &resp);
    coap_message_clear(&resp);
    return;
  }
  if (!has_block)
    return;
  p->gets++;
  /* Asked for block 1 of 1024 bytes: answered with block 2 of 512 (the
   * same offset, 1024), the last. */
  cr_assert_eq(asked.num, 1);
  cr_assert_eq(asked.szx, 6);
  block_answer(p, req, 0, false, (coap_block){.num = 2, .szx = 5, .more = 0},
               512);
}

static int notifications_seen;
static size_t notification_len;
static void on_notification(coap_observation *obs, const coap_message *n,
                            void *data) {
  (void)obs;
  (void)data;
  notifications_seen++;
  notification_len = n->payload_len;
}

COAP_TEST(request, observed_block2_notification_at_smaller_szx) {
  for (size_t i = 0; i < sizeof body; i++)
    body[i] = (uint8_t)i;
  peer p;
  peer_start(&p, NULL, smaller_szx_server);
  coap_request *req;
  cr_assert_eq(coap_context_request(p.client, get(&p, true), NULL, &req), 0);
  coap_future *first = coap_request_response(req);
  wait_done(&p, first);
  cr_assert_eq(coap_future_error(first), 0);
  coap_observation *obs = coap_observation_ref(coap_request_observation(req));
  cr_assert(coap_observation_active(obs));
  notifications_seen = 0;
  cr_assert_eq(coap_observation_register_callback(obs, on_notification, NULL),
               0);
  /* A notification: block 0 of 1024 bytes, more to come. */
  coap_message fake_req;
  coap_message_init(&fake_req);
  fake_req.mtype = COAP_TYPE_NON;
  fake_req.mid = 0x1000;
  coap_message_set_token(&fake_req, reg_token, reg_token_len);
  block_answer(&p, &fake_req, 3, true,
               (coap_block){.num = 0, .szx = 6, .more = 1}, 1024);
  coap_message_clear(&fake_req);
  coap_future *n = coap_observation_next(obs);
  wait_done(&p, n);
  cr_assert_eq(coap_future_error(n), 0, "delivered, not dropped as changed");
  const coap_message *whole = coap_future_result(n);
  cr_assert_eq(whole->payload_len, sizeof body);
  cr_assert_eq(memcmp(whole->payload, body, sizeof body), 0);
  cr_assert_eq(p.gets, 1);
  for (int i = 0; i < 100; i++)
    uv_run(&p.loop, UV_RUN_NOWAIT);
  cr_assert_eq(notifications_seen, 1);
  cr_assert_eq(notification_len, sizeof body);
  coap_future_unref(n);
  coap_observation_unref(obs);
  coap_request_unref(req);
  peer_stop(&p);
  (void)notification_to;
}

/* The same rule for a notification: the observation ends with the reason
 * and the server hears RST, so it forgets the observer (RFC 7641 §3.6). */
COAP_TEST(request, notification_with_unrecognised_critical_option_ends_it) {
  peer p;
  peer_start(&p, NULL, smaller_szx_server);
  coap_request *req;
  cr_assert_eq(coap_context_request(p.client, get(&p, true), NULL, &req), 0);
  wait_done(&p, coap_request_response(req));
  coap_observation *obs = coap_observation_ref(coap_request_observation(req));
  cr_assert(coap_observation_active(obs));
  coap_message n;
  coap_message_init(&n);
  n.code = COAP_CODE_CONTENT;
  n.mtype = COAP_TYPE_NON;
  n.mid = 0x2000;
  coap_message_set_token(&n, reg_token, reg_token_len);
  coap_options_set_observe(&n.opt, 5);
  cr_assert_eq(coap_options_add(&n.opt, COAP_OPT_OSCORE, NULL, 0), 0);
  peer_send(&p, &n);
  coap_message_clear(&n);
  coap_future *f = coap_observation_next(obs);
  wait_done(&p, f);
  cr_assert_eq(coap_future_error(f), COAP_EBAD_RESPONSE_OPTION);
  for (int i = 0; i < 1000 && p.rst_received == 0; i++)
    uv_run(&p.loop, UV_RUN_NOWAIT);
  cr_assert_eq(p.rst_received, 1);
  coap_future_unref(f);
  coap_observation_unref(obs);
  coap_request_unref(req);
  peer_stop(&p);
}

/* ---- an IPv6 zone id that names no interface is refused (issue 9) ---- */

static int request_to(peer *p, const char *uri) {
  coap_message *msg;
  cr_assert_eq(coap_message_new(&msg), 0);
  msg->code = COAP_CODE_GET;
  cr_assert_eq(coap_message_set_request_uri(msg, uri, true), 0);
  coap_request *req = NULL;
  int rc = coap_context_request(p->client, msg, NULL, &req);
  if (req != NULL) {
    coap_request_cancel(req);
    coap_request_unref(req);
  }
  return rc;
}

COAP_TEST(request, unknown_zone_id_is_refused) {
  peer p;
  peer_start(&p, NULL, NULL);
  cr_assert_eq(request_to(&p, "coap://[fe80::1%25nonexistent0]/x"), COAP_ENODEV,
               "not taken as scope 0");
  cr_assert_eq(request_to(&p, "coap://[fe80::1%25999999]/x"), COAP_ENODEV,
               "no interface has that index");
  cr_assert_eq(request_to(&p, "coap://[fe80::1%25lo]/x"), 0);
  cr_assert_eq(request_to(&p, "coap://[fe80::1%251]/x"), 0, "lo is index 1");
  cr_assert_str_eq(coap_strerror(COAP_ENODEV),
                   "no such network interface (zone id)");
  peer_stop(&p);
}
