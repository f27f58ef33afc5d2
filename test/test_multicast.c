/*
 * Requests to a group (include/aiocoap/multicast.h) and the server's
 * leisure (RFC 7252 §8.2), in a network namespace of their own with a
 * veth pair v0/v1 (test/netns_run.sh sets that up): a real server context
 * joined to ff02::fd on v1, the group asked by v0, and fake servers, UDP sockets
 * of the test on [::1], that answer with the request's token from ports
 * of their own, as servers of a group answer from their own unicast
 * addresses, and serve Block2 follow-ups by unicast.
 */
#include "test_common.h"

#include <aiocoap/aiocoap.h>

#include <arpa/inet.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>

/* ---- a fake server: a UDP socket that answers as the test says ---- */

typedef struct fake {
  uv_udp_t udp;
  uint16_t port;
  uint8_t body[8192]; /* what Block2 follow-ups are served from */
  size_t body_len;
  uint8_t etag;          /* 0: none */
  uint8_t etag_later;    /* blocks after the first carry this one (0: same) */
  unsigned block_reqs;   /* unicast Block2 requests served */
  unsigned rsts;         /* RSTs received */
  uint16_t next_mid;
} fake;

typedef struct world {
  uv_loop_t loop;
  coap_site *site;
  coap_context *server, *client;
  uint16_t port; /* the group's port: the real server's */
  struct sockaddr_in6 client_addr;
  fake fakes[4];
  unsigned n_fakes;
} world;

static void on_fake_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  (void)suggested;
  static char space[2048];
  *buf = uv_buf_init(space, sizeof space);
}

static void fake_sendto(fake *f, const struct sockaddr_in6 *to,
                        const coap_message *m) {
  uint8_t buf[2048];
  int n = coap_message_encode(m, buf, sizeof buf);
  cr_assert_gt(n, 0);
  uv_buf_t b = uv_buf_init((char *)buf, (unsigned)n);
  cr_assert_eq(uv_udp_try_send(&f->udp, &b, 1, (const struct sockaddr *)to), n);
}

/* A block of the fake's body as the response to req (piggybacked). */
static void fake_on_recv(uv_udp_t *udp, ssize_t nread, const uv_buf_t *buf,
                         const struct sockaddr *addr, unsigned flags) {
  (void)flags;
  fake *f = udp->data;
  if (nread <= 0 || addr == NULL)
    return;
  coap_message req;
  coap_message_init(&req);
  if (coap_message_decode(&req, (const uint8_t *)buf->base, (size_t)nread) < 0) {
    coap_message_clear(&req);
    return;
  }
  if (req.mtype == COAP_TYPE_RST) {
    f->rsts++;
    coap_message_clear(&req);
    return;
  }
  coap_block want;
  if (req.code == COAP_CODE_GET &&
      coap_options_get_block(&req.opt, COAP_OPT_BLOCK2, &want) == 0) {
    f->block_reqs++;
    coap_message resp;
    coap_message_init(&resp);
    resp.mtype = req.mtype == COAP_TYPE_CON ? COAP_TYPE_ACK : COAP_TYPE_NON;
    resp.mid = req.mtype == COAP_TYPE_CON ? req.mid : f->next_mid++;
    resp.code = COAP_CODE_CONTENT;
    coap_message_set_token(&resp, req.token, req.token_len);
    size_t size = coap_block_size(want.szx);
    size_t start = coap_block_start(&want);
    size_t len = start >= f->body_len ? 0 : f->body_len - start;
    if (len > size)
      len = size;
    coap_block b = {.num = want.num, .szx = want.szx,
                    .more = start + len < f->body_len};
    uint8_t etag = f->etag_later ? f->etag_later : f->etag;
    if (etag)
      coap_options_set_etag(&resp.opt, &etag, 1);
    coap_options_set_block(&resp.opt, COAP_OPT_BLOCK2, &b);
    coap_message_set_payload(&resp, f->body + start, len);
    fake_sendto(f, (const struct sockaddr_in6 *)(const void *)addr, &resp);
    coap_message_clear(&resp);
  }
  coap_message_clear(&req);
}

static void fake_start(world *w, fake *f, size_t body_len, char fill) {
  memset(f, 0, sizeof *f);
  f->next_mid = 0x4000;
  f->body_len = body_len;
  for (size_t i = 0; i < body_len; i++)
    f->body[i] = (uint8_t)(fill + (i % 7));
  cr_assert_eq(uv_udp_init(&w->loop, &f->udp), 0);
  f->udp.data = f;
  struct sockaddr_in6 a;
  uv_ip6_addr("::1", 0, &a);
  cr_assert_eq(uv_udp_bind(&f->udp, (const struct sockaddr *)&a, 0), 0);
  int len = sizeof a;
  uv_udp_getsockname(&f->udp, (struct sockaddr *)&a, &len);
  f->port = ntohs(a.sin6_port);
  cr_assert_eq(uv_udp_recv_start(&f->udp, on_fake_alloc, fake_on_recv), 0);
}

/* The fake's answer to the multicast request mr: a NON with its token;
 * block0 sends the first block of its body (more to come) instead. */
static void fake_answer(world *w, fake *f, coap_multicast_request *mr,
                        uint8_t code, const char *payload, bool block0,
                        int observe) {
  const coap_message *sent = coap_multicast_request_message(mr);
  coap_message m;
  coap_message_init(&m);
  m.mtype = COAP_TYPE_NON;
  m.mid = f->next_mid++;
  m.code = code;
  coap_message_set_token(&m, sent->token, sent->token_len);
  if (observe >= 0)
    coap_options_set_observe(&m.opt, (uint32_t)observe);
  if (block0) {
    coap_block b = {.num = 0, .szx = 6, .more = f->body_len > 1024};
    if (f->etag)
      coap_options_set_etag(&m.opt, &f->etag, 1);
    coap_options_set_block(&m.opt, COAP_OPT_BLOCK2, &b);
    coap_message_set_payload(&m, f->body, f->body_len > 1024 ? 1024 : f->body_len);
  } else if (payload != NULL) {
    coap_message_set_payload_string(&m, payload);
  }
  fake_sendto(f, &w->client_addr, &m);
  coap_message_clear(&m);
}

/* ---- the world: a server joined to ff02::fd on lo, a client ---- */

static int render_hello(coap_resource *res, coap_message *req,
                        coap_message *resp, coap_future **later) {
  (void)res;
  (void)req;
  (void)later;
  resp->code = COAP_CODE_CONTENT;
  coap_message_set_payload_string(resp, "real");
  return 0;
}

static uint8_t big_body[4096];

static int render_big(coap_resource *res, coap_message *req,
                      coap_message *resp, coap_future **later) {
  (void)res;
  (void)req;
  (void)later;
  resp->code = COAP_CODE_CONTENT;
  return coap_message_set_payload(resp, big_body, sizeof big_body);
}

static void world_start(world *w, const coap_context_config *server_config) {
  memset(w, 0, sizeof *w);
  for (size_t i = 0; i < sizeof big_body; i++)
    big_body[i] = (uint8_t)('a' + i % 26);
  cr_assert_eq(uv_loop_init(&w->loop), 0);
  cr_assert_eq(coap_site_new(&w->site), 0);
  static const coap_resource_methods hello = {.render_get = render_hello};
  static const coap_resource_methods big = {.render_get = render_big};
  coap_resource *r;
  cr_assert_eq(coap_resource_new_methods(&hello, NULL, &r), 0);
  cr_assert_eq(coap_site_add_resource_path(w->site, "hello", r), 0);
  coap_resource_unref(r);
  cr_assert_eq(coap_resource_new_methods(&big, NULL, &r), 0);
  cr_assert_eq(coap_site_add_resource_path(w->site, "big", r), 0);
  coap_resource_unref(r);
  coap_context_config sc;
  coap_context_config_default(&sc);
  if (server_config != NULL)
    sc = *server_config;
  else
    sc.multicast_leisure_ms = 0;
  cr_assert_eq(coap_context_create_server_context(&w->loop, w->site, "[::]:0",
                                                  &sc, &w->server),
               0);
  int rc = coap_context_join_group(w->server, "ff02::fd", "v1");
  cr_assert_eq(rc, 1, "joined ff02::fd on v1: %s (run under netns_run.sh)",
               coap_strerror(rc));
  struct sockaddr_in6 a;
  cr_assert_eq(coap_context_local_address(w->server, &a), 0);
  w->port = ntohs(a.sin6_port);
  coap_context_config cc;
  coap_context_config_default(&cc);
  cr_assert_eq(coap_context_create_client_context(&w->loop, &cc, &w->client),
               0);
  cr_assert_eq(coap_context_local_address(w->client, &w->client_addr), 0);
  uv_ip6_addr("::1", ntohs(w->client_addr.sin6_port), &w->client_addr);
}

static void on_shutdown(coap_context *ctx, void *data) {
  (void)ctx;
  (*(int *)data)++;
}

static void world_stop(world *w) {
  int closed = 0;
  if (w->client != NULL)
    coap_context_shutdown(w->client, on_shutdown, &closed);
  coap_context_shutdown(w->server, on_shutdown, &closed);
  for (unsigned i = 0; i < w->n_fakes; i++)
    uv_close((uv_handle_t *)&w->fakes[i].udp, NULL);
  uv_run(&w->loop, UV_RUN_DEFAULT);
  coap_site_unref(w->site);
  uv_run(&w->loop, UV_RUN_DEFAULT);
  int rc = uv_loop_close(&w->loop);
  if (rc != 0)
    uv_print_all_handles(&w->loop, stderr);
  cr_expect_eq(rc, 0, "nothing left on the loop");
}

static fake *world_fake(world *w, size_t body_len, char fill) {
  cr_assert_lt(w->n_fakes, 4u);
  fake *f = &w->fakes[w->n_fakes++];
  fake_start(w, f, body_len, fill);
  return f;
}

static coap_message *group_message(world *w, const char *path) {
  coap_message *m;
  cr_assert_eq(coap_message_new(&m), 0);
  m->code = COAP_CODE_GET;
  char uri[128];
  snprintf(uri, sizeof uri, "coap://[ff02::fd%%25v0]:%u/%s", w->port, path);
  cr_assert_eq(coap_message_set_request_uri(m, uri, false), 0);
  return m;
}

static void on_limit(uv_timer_t *t) {
  *(bool *)t->data = true;
}

/* Runs the loop for ms of loop time, or until *flag. */
static void run_for(world *w, uint64_t ms, const bool *flag) {
  bool expired = false;
  uv_timer_t t;
  uv_timer_init(&w->loop, &t);
  t.data = &expired;
  uv_timer_start(&t, on_limit, ms, 0);
  while (!expired && (flag == NULL || !*flag))
    uv_run(&w->loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&w->loop, UV_RUN_NOWAIT);
}

/* Collects responses of mr into got[] until the iteration ends. */
typedef struct collector {
  coap_multicast_request *mr;
  coap_future *next;
  coap_message *got[16];
  unsigned n;
  int end;
  bool ended;
  uint64_t ended_at;
  uv_loop_t *loop;
  /* What a callback does when the first response comes. */
  enum { KEEP, UNREF_IN_CB, SHUTDOWN_IN_CB, CANCEL_IN_CB, REQUEST_IN_CB } action;
  coap_multicast_request *again; /* REQUEST_IN_CB's new request */
  char again_uri[128];
  coap_context *ctx;
} collector;

static void collect_next(collector *c);

static void on_next(coap_future *f, void *data) {
  collector *c = data;
  int err = coap_future_error(f);
  coap_future_unref(c->next);
  c->next = NULL;
  if (err < 0) {
    c->end = err;
    c->ended = true;
    c->ended_at = uv_now(c->loop);
    return;
  }
  cr_assert_lt(c->n, 16u);
  c->got[c->n++] = coap_future_take_result(f);
  if (c->action == UNREF_IN_CB) {
    coap_multicast_request_unref(c->mr); /* the last reference */
    c->mr = NULL;
    c->ended = true;
    return;
  }
  if (c->action == SHUTDOWN_IN_CB) {
    coap_context_shutdown(c->ctx, NULL, NULL);
    c->action = KEEP;
  }
  if (c->action == CANCEL_IN_CB) {
    coap_multicast_request_cancel(c->mr);
    c->action = KEEP;
  }
  if (c->action == REQUEST_IN_CB) {
    /* A new request to the group from inside the callback. */
    coap_message *m;
    cr_assert_eq(coap_message_new(&m), 0);
    m->code = COAP_CODE_GET;
    cr_assert_eq(coap_message_set_request_uri(m, c->again_uri, false), 0);
    coap_multicast_params p;
    coap_multicast_params_default(&p);
    p.timeout_ms = 300;
    cr_assert_eq(coap_context_multicast_request(c->ctx, m, &p, &c->again), 0);
    c->action = KEEP;
  }
  collect_next(c);
}

static void collect_next(collector *c) {
  c->next = coap_multicast_request_next(c->mr);
  cr_assert_not_null(c->next);
  cr_assert_eq(coap_future_add_done_callback(c->next, on_next, c), 0);
}

static void collector_start(collector *c, world *w,
                            coap_multicast_request *mr) {
  memset(c, 0, sizeof *c);
  c->mr = mr;
  c->loop = &w->loop;
  c->ctx = w->client;
  collect_next(c);
}

static void collector_free(collector *c) {
  for (unsigned i = 0; i < c->n; i++)
    coap_message_free(c->got[i]);
  coap_multicast_request_unref(c->mr);
}

/* Index of the response from port, or -1. */
static int from_port(const collector *c, uint16_t port) {
  for (unsigned i = 0; i < c->n; i++)
    if (ntohs(c->got[i]->remote.addr.sin6_port) == port)
      return (int)i;
  return -1;
}

static coap_multicast_request *send_group(world *w, const char *path,
                                          uint32_t timeout_ms,
                                          coap_multicast_params *override) {
  coap_multicast_params p;
  coap_multicast_params_default(&p);
  if (override != NULL)
    p = *override;
  p.timeout_ms = timeout_ms;
  coap_multicast_request *mr;
  int rc = coap_context_multicast_request(w->client, group_message(w, path),
                                          &p, &mr);
  cr_assert_eq(rc, 0, "%s", coap_strerror(rc));
  return mr;
}

/* ---- tests ---- */

COAP_TEST(multicast, every_server_answers_once_then_the_time_is_up) {
  world w;
  world_start(&w, NULL);
  fake *a = world_fake(&w, 0, 'A');
  fake *b = world_fake(&w, 0, 'B');
  uint64_t t0 = uv_now(&w.loop);
  coap_multicast_request *mr = send_group(&w, "hello", 600, NULL);
  collector c;
  collector_start(&c, &w, mr);
  run_for(&w, 100, NULL);
  fake_answer(&w, a, mr, COAP_CODE_CONTENT, "from a", false, -1);
  fake_answer(&w, b, mr, COAP_CODE_CONTENT, "from b", false, -1);
  fake_answer(&w, a, mr, COAP_CODE_CONTENT, "a again", false, -1);
  run_for(&w, 3000, &c.ended);
  cr_assert(c.ended);
  cr_expect_eq(c.end, COAP_EDONE, "%s", coap_strerror(c.end));
  cr_expect_geq(c.ended_at - t0, 600u);
  cr_expect_lt(c.ended_at - t0, 1500u);
  cr_assert_eq(c.n, 3u, "the real server and the two fakes");
  int ia = from_port(&c, a->port), ib = from_port(&c, b->port),
      ir = from_port(&c, w.port);
  cr_assert(ia >= 0 && ib >= 0 && ir >= 0);
  cr_expect_eq(c.got[ia]->payload_len, 6u);
  cr_expect_eq(memcmp(c.got[ia]->payload, "from a", 6), 0);
  cr_expect_eq(memcmp(c.got[ir]->payload, "real", 4), 0);
  char uri[256];
  cr_assert_geq(coap_message_get_request_uri(c.got[ia], uri, sizeof uri), 0);
  char want[64];
  snprintf(want, sizeof want, "coap://[::1]:%u/hello", a->port);
  cr_expect_str_eq(uri, want, "a response names its server's unicast URI");
  coap_multicast_request_stats st;
  coap_multicast_request_stats_get(mr, &st);
  cr_expect_eq(st.responders, 3u);
  cr_expect_eq(st.duplicates, 1u, "a's second answer dropped");
  cr_expect(!coap_multicast_request_active(mr));
  /* Once over, next fails at once with the end. */
  coap_future *f = coap_multicast_request_next(mr);
  cr_assert_not_null(f);
  cr_expect_eq(coap_future_error(f), COAP_EDONE);
  coap_future_unref(f);
  collector_free(&c);
  world_stop(&w);
}

COAP_TEST(multicast, block2_answers_are_completed_by_unicast_per_server) {
  world w;
  world_start(&w, NULL);
  fake *a = world_fake(&w, 3000, 'A');
  a->etag = 7;
  coap_multicast_request *mr = send_group(&w, "big", 800, NULL);
  collector c;
  collector_start(&c, &w, mr);
  run_for(&w, 50, NULL);
  fake_answer(&w, a, mr, COAP_CODE_CONTENT, NULL, true, -1);
  run_for(&w, 4000, &c.ended);
  cr_assert(c.ended);
  cr_expect_eq(c.end, COAP_EDONE);
  cr_assert_eq(c.n, 2u);
  int ia = from_port(&c, a->port), ir = from_port(&c, w.port);
  cr_assert(ia >= 0 && ir >= 0);
  cr_expect_eq(c.got[ia]->payload_len, 3000u);
  cr_expect_eq(memcmp(c.got[ia]->payload, a->body, 3000), 0, "a's body intact");
  cr_expect_eq(a->block_reqs, 2u, "blocks 1 and 2 asked of a alone");
  cr_expect(!coap_options_has(&c.got[ia]->opt, COAP_OPT_BLOCK2));
  cr_expect_eq(c.got[ir]->payload_len, sizeof big_body);
  cr_expect_eq(memcmp(c.got[ir]->payload, big_body, sizeof big_body), 0,
               "the real server's 4 KiB body intact");
  collector_free(&c);
  world_stop(&w);
}

COAP_TEST(multicast, a_changed_representation_fails_that_server_only) {
  world w;
  world_start(&w, NULL);
  fake *a = world_fake(&w, 3000, 'A');
  a->etag = 1;
  a->etag_later = 2; /* block 1 is of another representation */
  coap_multicast_request *mr = send_group(&w, "big", 800, NULL);
  collector c;
  collector_start(&c, &w, mr);
  run_for(&w, 50, NULL);
  fake_answer(&w, a, mr, COAP_CODE_CONTENT, NULL, true, -1);
  run_for(&w, 4000, &c.ended);
  cr_assert(c.ended);
  cr_expect_eq(c.n, 1u, "the real server's answer alone");
  cr_expect_eq(from_port(&c, w.port), 0);
  coap_multicast_request_stats st;
  coap_multicast_request_stats_get(mr, &st);
  cr_expect_eq(st.fetch_failures, 1u);
  collector_free(&c);
  world_stop(&w);
}

COAP_TEST(multicast, observe_each_source_in_its_own_order_until_cancelled) {
  world w;
  world_start(&w, NULL);
  fake *a = world_fake(&w, 0, 'A');
  fake *b = world_fake(&w, 0, 'B');
  coap_multicast_params p;
  coap_multicast_params_default(&p);
  coap_message *m = group_message(&w, "hello");
  coap_options_set_observe(&m->opt, 0);
  p.timeout_ms = 300;
  coap_multicast_request *mr;
  cr_assert_eq(coap_context_multicast_request(w.client, m, &p, &mr), 0);
  collector c;
  collector_start(&c, &w, mr);
  run_for(&w, 50, NULL);
  fake_answer(&w, a, mr, COAP_CODE_CONTENT, "a5", false, 5);
  fake_answer(&w, b, mr, COAP_CODE_CONTENT, "b1", false, 1);
  run_for(&w, 50, NULL);
  fake_answer(&w, a, mr, COAP_CODE_CONTENT, "a7", false, 7);
  fake_answer(&w, a, mr, COAP_CODE_CONTENT, "a6", false, 6); /* stale */
  fake_answer(&w, b, mr, COAP_CODE_CONTENT, "b-end", false, -1);
  run_for(&w, 600, NULL); /* past the timeout: a is still observed */
  cr_expect(coap_multicast_request_active(mr), "a is still observed");
  cr_expect(!c.ended);
  /* a5, b1, a7, b-end and the real server's plain answer (its /hello is not
   * observable). */
  cr_assert_eq(c.n, 5u);
  const char *order[5];
  unsigned na = 0;
  for (unsigned i = 0; i < c.n; i++)
    if (ntohs(c.got[i]->remote.addr.sin6_port) == a->port)
      order[na++] = (const char *)c.got[i]->payload;
  cr_assert_eq(na, 2u);
  cr_expect_eq(memcmp(order[0], "a5", 2), 0);
  cr_expect_eq(memcmp(order[1], "a7", 2), 0);
  coap_multicast_request_stats st;
  coap_multicast_request_stats_get(mr, &st);
  cr_expect_eq(st.stale, 1u);
  cr_expect_eq(st.observing, 1u, "b ended its part; a goes on");
  /* A server that answers first after the timeout is not listened to. */
  fake *late = world_fake(&w, 0, 'L');
  fake_answer(&w, late, mr, COAP_CODE_CONTENT, "late", false, 1);
  run_for(&w, 100, NULL);
  coap_multicast_request_stats_get(mr, &st);
  cr_expect_eq(st.late, 1u);
  coap_multicast_request_cancel(mr);
  run_for(&w, 200, &c.ended);
  cr_assert(c.ended);
  cr_expect_eq(c.end, COAP_ECANCELED);
  /* §3.6: the token is forgotten; a's next notification gets RST. */
  fake_answer(&w, a, mr, COAP_CODE_CONTENT, "a8", false, 8);
  run_for(&w, 300, NULL);
  cr_expect_eq(a->rsts, 1u, "a's notification after the cancel is rejected");
  collector_free(&c);
  world_stop(&w);
}

COAP_TEST(multicast, responder_and_queue_limits_at_the_limit) {
  world w;
  world_start(&w, NULL);
  fake *f1 = world_fake(&w, 0, '1');
  fake *f2 = world_fake(&w, 0, '2');
  coap_multicast_params p;
  coap_multicast_params_default(&p);
  p.max_responders = 2;
  p.max_queued = 2;
  coap_multicast_request *mr = send_group(&w, "nosuch", 300, &p);
  /* Nobody waits: answers queue; the real server stays silent (4.04 to a
   * group is not sent, §8.2). */
  run_for(&w, 50, NULL);
  fake_answer(&w, f1, mr, COAP_CODE_CONTENT, "one", false, -1);
  fake_answer(&w, f2, mr, COAP_CODE_CONTENT, "two", false, -1);
  fake *f3 = world_fake(&w, 0, '3');
  fake_answer(&w, f3, mr, COAP_CODE_CONTENT, "three", false, -1);
  run_for(&w, 600, NULL);
  coap_multicast_request_stats st;
  coap_multicast_request_stats_get(mr, &st);
  cr_expect_eq(st.responders, 2u, "max_responders: 2");
  cr_expect_eq(st.over_limit, 1u, "the third server's answer dropped");
  cr_expect_eq(st.queue_dropped, 0u, "two answers fit a queue of two");
  collector c;
  collector_start(&c, &w, mr);
  run_for(&w, 100, &c.ended);
  cr_expect(c.ended);
  cr_expect_eq(c.n, 2u);
  cr_expect_eq(c.end, COAP_EDONE);
  collector_free(&c);

  /* A queue of one keeps the newest. */
  p.max_responders = 8;
  p.max_queued = 1;
  mr = send_group(&w, "nosuch", 300, &p);
  run_for(&w, 50, NULL);
  fake_answer(&w, f1, mr, COAP_CODE_CONTENT, "one", false, -1);
  fake_answer(&w, f2, mr, COAP_CODE_CONTENT, "two", false, -1);
  run_for(&w, 600, NULL);
  coap_multicast_request_stats_get(mr, &st);
  cr_expect_eq(st.queue_dropped, 1u);
  collector_start(&c, &w, mr);
  run_for(&w, 100, &c.ended);
  cr_assert_eq(c.n, 1u);
  cr_expect_eq(memcmp(c.got[0]->payload, "two", 3), 0);
  collector_free(&c);
  world_stop(&w);
}

COAP_TEST(multicast, bad_arguments_are_refused) {
  world w;
  world_start(&w, NULL);
  coap_multicast_request *mr = (void *)1;
  coap_message *m = group_message(&w, "hello");
  m->mtype = COAP_TYPE_CON;
  cr_expect_eq(coap_context_multicast_request(w.client, m, NULL, &mr),
               COAP_EINVAL, "RFC 7252 §8.1: no CON to a group");
  cr_expect_null(mr);
  static const struct {
    const char *uri;
    int err;
  } bad[] = {
      {"coap://[::1]:5683/x", COAP_EINVAL},       /* not a group */
      {"coap://[ff02::fd]:5683/x", COAP_EINVAL},  /* no interface */
      {"coap://example.invalid/x", COAP_EINVAL},  /* a name */
      {"coaps://[ff05::fd]/x", COAP_EURI_SCHEME}, /* no DTLS to groups */
      {"coap://[ff02::fd%25nosuch0]/x", COAP_ENODEV},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    cr_assert_eq(coap_message_new(&m), 0);
    m->code = COAP_CODE_GET;
    cr_assert_eq(coap_message_set_request_uri(m, bad[i].uri, false), 0);
    int rc = coap_context_multicast_request(w.client, m, NULL, &mr);
    cr_expect_eq(rc, bad[i].err, "%s: %s", bad[i].uri, coap_strerror(rc));
  }
  cr_assert_eq(coap_message_new(&m), 0);
  m->code = COAP_CODE_CONTENT;
  cr_expect_eq(coap_context_multicast_request(w.client, m, NULL, &mr),
               COAP_EINVAL, "a response code");
  cr_expect_eq(coap_context_multicast_request(w.client, NULL, NULL, &mr),
               COAP_EINVAL);
  cr_expect_eq(coap_context_multicast_request(NULL, group_message(&w, "x"),
                                              NULL, &mr),
               COAP_EINVAL);
  cr_expect_null(coap_multicast_request_next(NULL));
  coap_multicast_request_cancel(NULL);
  coap_multicast_request_unref(NULL);
  world_stop(&w);
}

COAP_TEST(multicast, a_callback_may_drop_the_last_reference) {
  world w;
  world_start(&w, NULL);
  coap_multicast_request *mr = send_group(&w, "hello", 2000, NULL);
  collector c;
  collector_start(&c, &w, mr);
  c.action = UNREF_IN_CB;
  run_for(&w, 2000, &c.ended);
  cr_assert(c.ended);
  cr_expect_eq(c.n, 1u);
  cr_expect_null(c.mr);
  collector_free(&c);
  world_stop(&w);
}

COAP_TEST(multicast, a_callback_may_shut_the_context_down) {
  world w;
  world_start(&w, NULL);
  fake *a = world_fake(&w, 0, 'A');
  coap_multicast_request *mr = send_group(&w, "hello", 2000, NULL);
  collector c;
  collector_start(&c, &w, mr);
  c.action = SHUTDOWN_IN_CB;
  run_for(&w, 2000, &c.ended);
  cr_assert(c.ended);
  cr_expect_eq(c.end, COAP_ESHUTDOWN, "%s", coap_strerror(c.end));
  /* The fake answers after the shutdown: nobody listens, nothing breaks. */
  fake_answer(&w, a, mr, COAP_CODE_CONTENT, "a", false, -1);
  run_for(&w, 100, NULL);
  w.client = NULL; /* shut down already */
  collector_free(&c);
  world_stop(&w);
}

COAP_TEST(multicast, a_callback_may_cancel) {
  world w;
  world_start(&w, NULL);
  coap_multicast_request *mr = send_group(&w, "hello", 2000, NULL);
  collector c;
  collector_start(&c, &w, mr);
  c.action = CANCEL_IN_CB;
  run_for(&w, 2000, &c.ended);
  cr_assert(c.ended);
  cr_expect_eq(c.end, COAP_ECANCELED);
  cr_expect_lt(c.ended_at, uv_now(&w.loop) + 1);
  collector_free(&c);
  world_stop(&w);
}

COAP_TEST(multicast, a_callback_may_send_another_request) {
  world w;
  world_start(&w, NULL);
  coap_multicast_request *mr = send_group(&w, "hello", 300, NULL);
  collector c;
  collector_start(&c, &w, mr);
  c.action = REQUEST_IN_CB;
  snprintf(c.again_uri, sizeof c.again_uri, "coap://[ff02::fd%%25v0]:%u/hello",
           w.port);
  run_for(&w, 2000, &c.ended);
  cr_assert(c.ended);
  cr_expect_eq(c.end, COAP_EDONE);
  cr_assert_not_null(c.again);
  collector c2;
  collector_start(&c2, &w, c.again);
  c.again = NULL;
  run_for(&w, 2000, &c2.ended);
  cr_assert(c2.ended);
  cr_expect_eq(c2.n, 1u, "the request made in the callback is answered");
  cr_expect_eq(c2.end, COAP_EDONE);
  collector_free(&c2);
  collector_free(&c);
  world_stop(&w);
}

COAP_TEST(multicast, the_default_timeout_is_leisure_plus_max_latency) {
  world w;
  world_start(&w, NULL);
  /* A client whose MAX_LATENCY and leisure are short enough to wait for. */
  coap_context_config cc;
  coap_context_config_default(&cc);
  cc.transmission.max_latency_ms = 300;
  cc.multicast_leisure_ms = 200;
  coap_context *client;
  cr_assert_eq(coap_context_create_client_context(&w.loop, &cc, &client), 0);
  coap_multicast_request *mr;
  uint64_t t0 = uv_now(&w.loop);
  cr_assert_eq(coap_context_multicast_request(
                   client, group_message(&w, "hello"), NULL, &mr),
               0);
  collector c;
  collector_start(&c, &w, mr);
  run_for(&w, 3000, &c.ended);
  cr_assert(c.ended);
  cr_expect_eq(c.end, COAP_EDONE);
  cr_expect_geq(c.ended_at - t0, 500u);
  cr_expect_lt(c.ended_at - t0, 1500u);
  cr_expect_eq(c.n, 1u);
  collector_free(&c);
  coap_context_shutdown(client, NULL, NULL);
  world_stop(&w);
}

/* The server side: RFC 7252 §8.2's leisure. */
COAP_TEST(multicast, the_server_answers_within_its_leisure) {
  world w;
  coap_context_config sc;
  coap_context_config_default(&sc);
  sc.multicast_leisure_ms = 400;
  world_start(&w, &sc);
  uint64_t t0 = uv_now(&w.loop);
  coap_multicast_request *mr = send_group(&w, "hello", 1000, NULL);
  collector c;
  collector_start(&c, &w, mr);
  bool one = false;
  while (!one && uv_now(&w.loop) - t0 < 2000) {
    run_for(&w, 10, NULL);
    one = c.n > 0;
  }
  cr_assert(one);
  cr_expect_leq(uv_now(&w.loop) - t0, 400u + 150u, "within the leisure");
  coap_context_stats st;
  coap_context_get_stats(w.server, &st);
  cr_expect_eq(st.leisure_delayed, 1u);
  collector_free(&c);
  /* The same by unicast is answered at once. */
  coap_message *m;
  cr_assert_eq(coap_message_new(&m), 0);
  m->code = COAP_CODE_GET;
  char uri[64];
  snprintf(uri, sizeof uri, "coap://[::1]:%u/hello", w.port);
  coap_message_set_request_uri(m, uri, false);
  coap_request *req;
  cr_assert_eq(coap_context_request(w.client, m, NULL, &req), 0);
  coap_future *f = coap_request_response(req);
  t0 = uv_now(&w.loop);
  while (!coap_future_done(f) && uv_now(&w.loop) - t0 < 1000)
    run_for(&w, 5, NULL);
  cr_expect(coap_future_done(f));
  cr_expect_lt(uv_now(&w.loop) - t0, 100u);
  coap_request_unref(req);
  coap_context_get_stats(w.server, &st);
  cr_expect_eq(st.leisure_delayed, 1u, "unicast: no leisure");
  world_stop(&w);
}

COAP_TEST(multicast, shutdown_while_an_answer_waits_out_its_leisure) {
  world w;
  coap_context_config sc;
  coap_context_config_default(&sc);
  sc.multicast_leisure_ms = 60000;
  sc.multicast_group_size = 0;
  world_start(&w, &sc);
  coap_multicast_request *mr = send_group(&w, "big", 1000, NULL);
  /* Wait until the server has the request and holds its answer. */
  coap_context_stats st;
  uint64_t t0 = uv_now(&w.loop);
  do {
    run_for(&w, 10, NULL);
    coap_context_get_stats(w.server, &st);
  } while (st.leisure_delayed == 0 && uv_now(&w.loop) - t0 < 2000);
  cr_assert_eq(st.leisure_delayed, 1u);
  coap_multicast_request_unref(mr);
  world_stop(&w); /* nothing leaks (ASan) and the loop closes */
}

/* §8.2: with the group's size G and the rate R configured the leisure is
 * S * G / R for an answer of S bytes: a fast link and a small group give
 * none; a slow one holds the answer back. */
COAP_TEST(multicast, the_leisure_is_s_times_g_over_r_when_configured) {
  world w;
  coap_context_config sc;
  coap_context_config_default(&sc);
  sc.multicast_leisure_ms = 60000; /* not used: G and R are set */
  sc.multicast_group_size = 1;
  sc.multicast_data_rate = 100000000; /* 100 MB/s: well under 1 ms */
  world_start(&w, &sc);
  coap_multicast_request *mr = send_group(&w, "hello", 300, NULL);
  collector c;
  collector_start(&c, &w, mr);
  run_for(&w, 1000, &c.ended);
  cr_expect_eq(c.n, 1u);
  coap_context_stats st;
  coap_context_get_stats(w.server, &st);
  cr_expect_eq(st.leisure_delayed, 0u, "a leisure under 1 ms: at once");
  collector_free(&c);
  world_stop(&w);

  /* 4 KiB from each of 100 servers over 8 kB/s: 51 s of leisure. */
  sc.multicast_group_size = 100;
  sc.multicast_data_rate = 8000;
  world_start(&w, &sc);
  mr = send_group(&w, "big", 300, NULL);
  collector_start(&c, &w, mr);
  run_for(&w, 1000, &c.ended);
  coap_context_get_stats(w.server, &st);
  cr_expect_eq(st.leisure_delayed, 1u, "held back (for a random part of it)");
  collector_free(&c);
  world_stop(&w);
}

/* RFC 7641 §3.3.1: an observed server silent past its notification's
 * Max-Age (plus the margin) has forgotten us: its part ends, and with it
 * the request once no server is left. */
COAP_TEST(multicast, an_observed_server_silent_past_max_age_ends_its_part) {
  world w;
  world_start(&w, NULL);
  coap_context_config cc;
  coap_context_config_default(&cc);
  cc.reregister_margin_ms = 100;
  coap_context *client;
  cr_assert_eq(coap_context_create_client_context(&w.loop, &cc, &client), 0);
  struct sockaddr_in6 ca;
  cr_assert_eq(coap_context_local_address(client, &ca), 0);
  uv_ip6_addr("::1", ntohs(ca.sin6_port), &w.client_addr);
  fake *a = world_fake(&w, 0, 'A');
  coap_message *m = group_message(&w, "nosuch"); /* the real one is silent */
  coap_options_set_observe(&m->opt, 0);
  coap_multicast_params p;
  coap_multicast_params_default(&p);
  p.timeout_ms = 200;
  coap_multicast_request *mr;
  cr_assert_eq(coap_context_multicast_request(client, m, &p, &mr), 0);
  collector c;
  collector_start(&c, &w, mr);
  run_for(&w, 50, NULL);
  /* Max-Age 1: stale 1.1 s after it came. */
  const coap_message *sent = coap_multicast_request_message(mr);
  coap_message n;
  coap_message_init(&n);
  n.mtype = COAP_TYPE_NON;
  n.mid = 0x5000;
  n.code = COAP_CODE_CONTENT;
  coap_message_set_token(&n, sent->token, sent->token_len);
  coap_options_set_observe(&n.opt, 2);
  coap_options_set_max_age(&n.opt, 1);
  coap_message_set_payload_string(&n, "a2");
  fake_sendto(a, &w.client_addr, &n);
  coap_message_clear(&n);
  uint64_t t0 = uv_now(&w.loop);
  run_for(&w, 600, NULL);
  cr_expect(coap_multicast_request_active(mr), "observed, past the timeout");
  run_for(&w, 3000, &c.ended);
  cr_assert(c.ended);
  cr_expect_eq(c.end, COAP_EDONE);
  cr_expect_geq(c.ended_at - t0, 1000u);
  cr_expect_lt(c.ended_at - t0, 2500u);
  coap_multicast_request_stats st;
  coap_multicast_request_stats_get(mr, &st);
  cr_expect_eq(st.expired, 1u);
  cr_expect_eq(c.n, 1u);
  collector_free(&c);
  coap_context_shutdown(client, NULL, NULL);
  world_stop(&w);
}

/* RFC 7967 to a group: suppressing 2.xx leaves nothing to wait for (a
 * group sends no 4.xx or 5.xx, RFC 7252 §8.2). */
COAP_TEST(multicast, no_response_to_a_group_ends_once_sent) {
  world w;
  world_start(&w, NULL);
  coap_message *m = group_message(&w, "hello");
  coap_options_set_uint(&m->opt, COAP_OPT_NO_RESPONSE, COAP_NO_RESPONSE_2XX);
  coap_multicast_params p;
  coap_multicast_params_default(&p);
  p.timeout_ms = 5000;
  coap_multicast_request *mr;
  uint64_t t0 = uv_now(&w.loop);
  cr_assert_eq(coap_context_multicast_request(w.client, m, &p, &mr), 0);
  collector c;
  collector_start(&c, &w, mr);
  run_for(&w, 1000, &c.ended);
  cr_assert(c.ended);
  cr_expect_eq(c.end, COAP_ENORESPONSE, "%s", coap_strerror(c.end));
  cr_expect_lt(c.ended_at - t0, 200u, "not at the 5 s timeout");
  cr_expect_eq(c.n, 0u);
  run_for(&w, 200, NULL);
  coap_context_stats st;
  coap_context_get_stats(w.server, &st);
  cr_expect_eq(st.requests_handled, 1u, "the server still processed it");
  collector_free(&c);
  world_stop(&w);
}
