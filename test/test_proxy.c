/*
 * The proxy module (aiocoap.proxy): forward and reverse proxies between a
 * client context and an origin server on one loop, over loopback UDP.
 */
#include "context_fixture.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

/* An elective option that is unsafe to forward (RFC 7252 §5.4.6: bit 1
 * set) and one that is safe, neither registered. */
#define OPT_UNKNOWN_UNSAFE 2050
#define OPT_UNKNOWN_SAFE 2048

#define BIG (256u * 1024u)

/* ---- The origin server's resources ---- */

static int render_hello(coap_resource *res, coap_message *req,
                        coap_message *resp, coap_future **later) {
  (void)res;
  (void)later;
  const uint8_t *v;
  size_t len;
  char text[128] = "hello";
  if (coap_options_get_opaque(&req->opt, OPT_UNKNOWN_SAFE, &v, &len) == 0)
    snprintf(text, sizeof text, "hello, safe=%.*s", (int)len, (const char *)v);
  coap_options_set_max_age(&resp->opt, 30);
  coap_options_set_content_format(&resp->opt, 0);
  coap_options_add(&resp->opt, COAP_OPT_ETAG, "\x01\x02", 2);
  coap_options_add(&resp->opt, OPT_UNKNOWN_SAFE, "back", 4);
  return coap_message_set_payload_string(resp, text);
}

static int render_unsafe(coap_resource *res, coap_message *req,
                         coap_message *resp, coap_future **later) {
  (void)res;
  (void)req;
  (void)later;
  coap_options_add(&resp->opt, OPT_UNKNOWN_UNSAFE, "x", 1);
  return coap_message_set_payload_string(resp, "unsafe");
}

/* An elective-unknown is ignored by clients; a critical one (odd number,
 * RFC 7252 §5.4.6) must be rejected by the client (§5.4.1). */
#define OPT_UNKNOWN_CRITICAL 2049

static int render_critical(coap_resource *res, coap_message *req,
                           coap_message *resp, coap_future **later) {
  (void)res;
  (void)req;
  (void)later;
  coap_options_add(&resp->opt, OPT_UNKNOWN_CRITICAL, "x", 1);
  return coap_message_set_payload_string(resp, "critical");
}

static int render_create(coap_resource *res, coap_message *req,
                         coap_message *resp, coap_future **later) {
  (void)res;
  (void)req;
  (void)later;
  resp->code = COAP_CODE_CREATED;
  coap_options_add_string(&resp->opt, COAP_OPT_LOCATION_PATH, "made");
  coap_options_add_string(&resp->opt, COAP_OPT_LOCATION_PATH, "1");
  return 0;
}

/* Counts its renders; Max-Age from the first path segment's resource. */
static int renders;
static int render_counted(coap_message *resp, uint32_t max_age) {
  renders++;
  coap_options_set_max_age(&resp->opt, max_age);
  char text[32];
  snprintf(text, sizeof text, "render %d", renders);
  return coap_message_set_payload_string(resp, text);
}
static int render_count(coap_resource *res, coap_message *req,
                        coap_message *resp, coap_future **later) {
  (void)res;
  (void)req;
  (void)later;
  return render_counted(resp, 30);
}
static int render_short(coap_resource *res, coap_message *req,
                        coap_message *resp, coap_future **later) {
  (void)res;
  (void)req;
  (void)later;
  return render_counted(resp, 1);
}
static int render_nocache(coap_resource *res, coap_message *req,
                          coap_message *resp, coap_future **later) {
  (void)res;
  (void)req;
  (void)later;
  return render_counted(resp, 0);
}
static int render_count_put(coap_resource *res, coap_message *req,
                            coap_message *resp, coap_future **later) {
  (void)res;
  (void)req;
  (void)resp;
  (void)later;
  return 0;
}
/* /tagged: one representation with a fixed ETag, fresh for a second, so
 * that the cache revalidates it; the origin answers 2.03 itself (get_etag)
 * and counts how often it rendered a body. */
static int tagged_renders, missing_renders;
static int tagged_etag(coap_resource *res, const coap_message *req,
                       uint8_t *etag, size_t *len) {
  (void)res;
  (void)req;
  etag[0] = 0x42;
  *len = 1;
  return 0;
}
static int render_tagged(coap_resource *res, coap_message *req,
                         coap_message *resp, coap_future **later) {
  (void)res;
  (void)req;
  (void)later;
  tagged_renders++;
  coap_options_set_max_age(&resp->opt, 1);
  coap_options_set_etag(&resp->opt, "\x42", 1);
  return coap_message_set_payload_string(resp, "tagged body");
}
static const coap_resource_methods tagged_methods = {
    .render_get = render_tagged, .get_etag = tagged_etag};
/* /missing: a 4.04 with a diagnostic, which a cache keeps (§5.9.2). */
static int render_missing(coap_resource *res, coap_message *req,
                          coap_message *resp, coap_future **later) {
  (void)res;
  (void)req;
  (void)later;
  missing_renders++;
  resp->code = COAP_CODE_NOT_FOUND;
  coap_options_set_max_age(&resp->opt, 30);
  return coap_message_set_payload_string(resp, "not here");
}
static const coap_resource_methods missing_methods = {.render_get =
                                                          render_missing};
static const coap_resource_methods count_methods = {
    .render_get = render_count, .render_put = render_count_put};
static const coap_resource_methods short_methods = {.render_get = render_short};
static const coap_resource_methods nocache_methods = {.render_get =
                                                          render_nocache};

static int render_forbidden(coap_resource *res, coap_message *req,
                            coap_message *resp, coap_future **later) {
  (void)res;
  (void)req;
  (void)later;
  resp->code = COAP_CODE_FORBIDDEN;
  return coap_message_set_payload_string(resp, "not for you");
}

static int render_host(coap_resource *res, coap_message *req,
                       coap_message *resp, coap_future **later) {
  (void)res;
  (void)later;
  char host[256] = "-";
  (void)coap_options_get_string(&req->opt, COAP_OPT_URI_HOST, host,
                                sizeof host);
  uint32_t hop = 0;
  (void)coap_options_get_uint(&req->opt, COAP_OPT_HOP_LIMIT, &hop);
  char text[300];
  snprintf(text, sizeof text, "host=%s hop=%u", host, (unsigned)hop);
  return coap_message_set_payload_string(resp, text);
}

static uint8_t *big_body;
static size_t big_len;

static int render_big_get(coap_resource *res, coap_message *req,
                          coap_message *resp, coap_future **later) {
  (void)res;
  (void)req;
  (void)later;
  return coap_message_set_payload(resp, big_body, big_len);
}

static int render_big_put(coap_resource *res, coap_message *req,
                          coap_message *resp, coap_future **later) {
  (void)res;
  (void)resp;
  (void)later;
  if (req->payload_len > BIG)
    return COAP_EREQUEST_ENTITY_TOO_LARGE;
  memcpy(big_body, req->payload, req->payload_len);
  big_len = req->payload_len;
  return 0;
}

/* /slow never answers by itself: its future is kept here. */
static coap_future *slow_future;
static bool slow_reached;

static int render_slow(coap_resource *res, coap_message *req,
                       coap_message *resp, coap_future **later) {
  (void)req;
  (void)resp;
  slow_reached = true;
  coap_future_unref(slow_future);
  int rc = coap_future_new(res->user_data, &slow_future);
  if (rc < 0)
    return rc;
  *later = coap_future_ref(slow_future);
  return 0;
}

static const coap_resource_methods hello_methods = {.render_get = render_hello};
static const coap_resource_methods unsafe_methods = {.render_get =
                                                         render_unsafe};
static const coap_resource_methods critical_methods = {.render_get =
                                                           render_critical};
static const coap_resource_methods create_methods = {.render_post =
                                                         render_create};
static const coap_resource_methods forbidden_methods = {.render_get =
                                                            render_forbidden};
static const coap_resource_methods host_methods = {.render_get = render_host};
static const coap_resource_methods big_methods = {.render_get = render_big_get,
                                                  .render_put = render_big_put};
static const coap_resource_methods slow_methods = {.render_get = render_slow};

static int obs_counter;
static int render_obs(coap_resource *res, coap_message *req, coap_message *resp,
                      coap_future **later) {
  (void)res;
  (void)req;
  (void)later;
  char text[32];
  snprintf(text, sizeof text, "state %d", obs_counter);
  return coap_message_set_payload_string(resp, text);
}
static const coap_resource_methods obs_methods = {.render_get = render_obs};

/* ---- The proxy between them ---- */

typedef struct pfx {
  fixture fx;
  coap_site *psite;
  coap_context *pserver;
  coap_context *pout;
  coap_proxy *proxy;
  char pbase[64];
  char paddr[64];  /* "[::1]:PORT" */
  char origin[64]; /* "[::1]:PORT" of the origin */
  coap_resource *obs_resource;
} pfx;

static void start_proxy_contexts(pfx *p, const coap_context_config *config,
                                 coap_site **site, coap_context **server,
                                 coap_context **out, char *base, char *addr) {
  cr_assert_eq(coap_site_new(site), 0);
  cr_assert_eq(coap_context_create_server_context(&p->fx.loop, *site, "[::1]:0",
                                                  config, server),
               0);
  cr_assert_eq(coap_context_create_client_context(&p->fx.loop, config, out), 0);
  struct sockaddr_in6 a;
  cr_assert_eq(coap_context_local_address(*server, &a), 0);
  snprintf(addr, 64, "[::1]:%u", ntohs(a.sin6_port));
  snprintf(base, 64, "coap://%s", addr);
}

/* The origin's and the client's config (NULL: defaults). */
static const coap_context_config *fixture_config;

/* cache_entries for the next proxy started. */
static size_t cache_entries;

static void pfx_start_with(pfx *p, coap_proxy_kind kind, bool pooled,
                           const coap_context_config *pconfig) {
  memset(p, 0, sizeof *p);
  fixture_start(&p->fx, fixture_config);
  snprintf(p->origin, sizeof p->origin, "[::1]:%u", p->fx.port);
  big_body = malloc(BIG);
  big_len = 0;
  obs_counter = 0;
  slow_reached = false;
  slow_future = NULL;
  fixture_add(&p->fx, "hello", &hello_methods, NULL);
  fixture_add(&p->fx, "unsafe", &unsafe_methods, NULL);
  fixture_add(&p->fx, "forbidden", &forbidden_methods, NULL);
  fixture_add(&p->fx, "critical", &critical_methods, NULL);
  fixture_add(&p->fx, "count", &count_methods, NULL);
  fixture_add(&p->fx, "short", &short_methods, NULL);
  fixture_add(&p->fx, "nocache", &nocache_methods, NULL);
  fixture_add(&p->fx, "tagged", &tagged_methods, NULL);
  fixture_add(&p->fx, "missing", &missing_methods, NULL);
  renders = 0;
  fixture_add(&p->fx, "create", &create_methods, NULL);
  fixture_add(&p->fx, "host", &host_methods, NULL);
  fixture_add(&p->fx, "big", &big_methods, NULL);
  fixture_add(&p->fx, "slow", &slow_methods, &p->fx.loop);
  cr_assert_eq(coap_observable_resource_new_methods(&obs_methods, NULL, NULL,
                                                    &p->obs_resource),
               0);
  cr_assert_eq(coap_site_add_resource_path(p->fx.site, "obs", p->obs_resource),
               0);
  start_proxy_contexts(p, pconfig, &p->psite, &p->pserver, &p->pout, p->pbase,
                       p->paddr);
  coap_proxy_config c;
  coap_proxy_config_default(&c);
  c.kind = kind;
  c.pooled_observations = pooled;
  c.cache_entries = cache_entries;
  cr_assert_eq(coap_proxy_new(p->pout, &c, &p->proxy), 0);
  cr_assert_eq(coap_proxy_serve(p->proxy, p->psite), 0);
}

static void pfx_start(pfx *p, coap_proxy_kind kind, bool pooled) {
  pfx_start_with(p, kind, pooled, NULL);
}

static void on_closed(coap_context *ctx, void *data) {
  (void)ctx;
  (*(int *)data)++;
}

static void pfx_stop(pfx *p) {
  int closed = 0, expected = 2;
  if (p->pserver != NULL) {
    coap_context_shutdown(p->pserver, on_closed, &closed);
    expected++;
  }
  if (p->pout != NULL) {
    coap_context_shutdown(p->pout, on_closed, &closed);
    expected++;
  }
  coap_context_shutdown(p->fx.client, on_closed, &closed);
  coap_context_shutdown(p->fx.server, on_closed, &closed);
  uv_run(&p->fx.loop, UV_RUN_DEFAULT);
  cr_expect_eq(closed, expected, "every context closed");
  coap_future_unref(slow_future);
  slow_future = NULL;
  coap_proxy_unref(p->proxy);
  coap_site_unref(p->psite);
  coap_resource_unref(p->obs_resource);
  fixture_close(&p->fx);
  free(big_body);
  big_body = NULL;
}

/* A request to the proxy itself (its base plus path). */
static coap_message *to_proxy(pfx *p, uint8_t code, const char *path) {
  coap_message *msg;
  cr_assert_eq(coap_message_new(&msg), 0);
  msg->code = code;
  char uri[256];
  snprintf(uri, sizeof uri, "%s%s", p->pbase, path);
  cr_assert_eq(coap_message_set_request_uri(msg, uri, true), 0);
  return msg;
}

static coap_message *with_proxy_uri(pfx *p, const char *uri) {
  coap_message *msg = to_proxy(p, COAP_CODE_GET, "");
  cr_assert_eq(coap_options_set_string(&msg->opt, COAP_OPT_PROXY_URI, uri), 0);
  return msg;
}

static void payload_is(const coap_message *m, const char *text) {
  cr_assert_not_null(m);
  cr_expect_eq(m->payload_len, strlen(text), "payload %.*s, wanted %s",
               (int)m->payload_len, (const char *)m->payload, text);
  if (m->payload_len == strlen(text))
    cr_expect(memcmp(m->payload, text, m->payload_len) == 0,
              "payload %.*s, wanted %s", (int)m->payload_len,
              (const char *)m->payload, text);
}

static bool payload_starts(const coap_message *m, const char *text) {
  size_t n = strlen(text);
  return m->payload_len >= n && memcmp(m->payload, text, n) == 0;
}

/* Sends msg from the client and returns the response (the caller frees
 * it); fails the test when none came. */
static coap_message *ask(pfx *p, coap_message *msg) {
  coap_message *resp = NULL;
  int rc = fixture_request(&p->fx, msg, &resp, 10000);
  cr_assert_eq(rc, 0);
  cr_assert_not_null(resp);
  return resp;
}

static void on_done(coap_future *f, void *data) {
  (void)f;
  *(bool *)data = true;
}

/* Waits for req's response and takes it. */
static coap_message *wait_response(pfx *p, coap_request *req) {
  coap_future *f = coap_request_response(req);
  bool done = false;
  coap_future_add_done_callback(f, on_done, &done);
  fixture_run_until(&p->fx, &done, 10000);
  cr_assert(done);
  cr_assert_eq(coap_future_error(f), 0);
  return coap_future_take_result(f);
}

/* ---- Forward proxy ---- */

COAP_TEST(proxy_forward, proxy_uri_reaches_origin_with_options_both_ways) {
  pfx p;
  pfx_start(&p, COAP_PROXY_FORWARD, false);
  char uri[128];
  snprintf(uri, sizeof uri, "coap://%s/hello", p.origin);
  coap_message *msg = with_proxy_uri(&p, uri);
  coap_options_add(&msg->opt, OPT_UNKNOWN_SAFE, "fwd", 3);
  coap_message *resp = ask(&p, msg);
  cr_expect_eq(resp->code, COAP_CODE_CONTENT);
  payload_is(resp, "hello, safe=fwd");
  /* RFC 7252 §5.7.1: the response's options come back. */
  uint32_t max_age = 0;
  cr_expect_eq(coap_options_get_max_age(&resp->opt, &max_age), 0);
  cr_expect_eq(max_age, 30u);
  const uint8_t *v;
  size_t len;
  cr_expect_eq(coap_options_get_opaque(&resp->opt, COAP_OPT_ETAG, &v, &len), 0);
  cr_expect_eq(len, 2u);
  cr_expect_eq(coap_options_get_opaque(&resp->opt, OPT_UNKNOWN_SAFE, &v, &len),
               0);
  cr_expect_eq(len, 4u);
  uint16_t cf = 99;
  cr_expect_eq(coap_options_get_content_format(&resp->opt, &cf), 0);
  cr_expect_eq(cf, 0);
  coap_message_free(resp);
  pfx_stop(&p);
}

COAP_TEST(proxy_forward, forwarder_with_proxy_scheme_looks_direct) {
  pfx p;
  pfx_start(&p, COAP_PROXY_FORWARD, false);
  coap_proxy_forwarder *fw;
  cr_assert_eq(coap_proxy_forwarder_new(p.fx.client, p.pbase, &fw), 0);
  for (int use_uri = 0; use_uri < 2; use_uri++) {
    coap_proxy_forwarder_set_use_proxy_uri(fw, use_uri);
    coap_message *msg = fixture_message(&p.fx, COAP_CODE_GET, "/hello");
    coap_request *req;
    cr_assert_eq(coap_proxy_forwarder_request(fw, msg, NULL, &req), 0);
    const coap_message *sent = coap_request_message(req);
    cr_expect_eq(coap_options_has(&sent->opt, COAP_OPT_PROXY_SCHEME), !use_uri);
    cr_expect_eq(coap_options_has(&sent->opt, COAP_OPT_PROXY_URI), use_uri);
    coap_message *resp = wait_response(&p, req);
    cr_expect_eq(resp->code, COAP_CODE_CONTENT);
    payload_is(resp, "hello");
    char got[256], want[256];
    snprintf(want, sizeof want, "%s/hello", p.fx.base);
    cr_expect_gt(coap_message_get_request_uri(resp, got, sizeof got), 0);
    cr_expect_str_eq(got, want);
    coap_message_free(resp);
    coap_request_unref(req);
  }
  coap_proxy_forwarder_free(fw);
  pfx_stop(&p);
}

COAP_TEST(proxy_forward, forwarder_refuses_bad_addresses) {
  coap_proxy_forwarder *fw = NULL;
  uv_loop_t loop;
  uv_loop_init(&loop);
  coap_context *ctx;
  cr_assert_eq(coap_context_create_client_context(&loop, NULL, &ctx), 0);
  cr_expect_eq(coap_proxy_forwarder_new(ctx, "coaps://[::1]", &fw),
               COAP_EURI_SCHEME);
  cr_expect_eq(coap_proxy_forwarder_new(ctx, "coap://[::1", &fw), COAP_EINVAL);
  cr_expect_eq(coap_proxy_forwarder_new(ctx, "coap://h/path", &fw),
               COAP_EINVAL);
  cr_expect_eq(coap_proxy_forwarder_new(NULL, "h", &fw), COAP_EINVAL);
  cr_expect_eq(coap_proxy_forwarder_new(ctx, "h:5683", &fw), 0);
  coap_message *msg;
  cr_assert_eq(coap_message_new(&msg), 0);
  msg->code = COAP_CODE_GET;
  coap_request *req;
  /* No destination to name to the proxy. */
  cr_expect_eq(coap_proxy_forwarder_request(fw, msg, NULL, &req), COAP_EINVAL);
  coap_proxy_forwarder_free(fw);
  coap_context_shutdown(ctx, NULL, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  cr_expect_eq(uv_loop_close(&loop), 0);
}

COAP_TEST(proxy_forward, upstream_error_comes_back_with_its_payload) {
  pfx p;
  pfx_start(&p, COAP_PROXY_FORWARD, false);
  char uri[128];
  snprintf(uri, sizeof uri, "coap://%s/forbidden", p.origin);
  coap_message *resp = ask(&p, with_proxy_uri(&p, uri));
  cr_expect_eq(resp->code, COAP_CODE_FORBIDDEN);
  payload_is(resp, "not for you");
  coap_message_free(resp);
  snprintf(uri, sizeof uri, "coap://%s/nothing", p.origin);
  resp = ask(&p, with_proxy_uri(&p, uri));
  cr_expect_eq(resp->code, COAP_CODE_NOT_FOUND);
  coap_message_free(resp);
  pfx_stop(&p);
}

COAP_TEST(proxy_forward, other_schemes_get_5_05) {
  pfx p;
  pfx_start(&p, COAP_PROXY_FORWARD, false);
  coap_message *resp = ask(&p, with_proxy_uri(&p, "coaps://[::1]:1/x"));
  cr_expect_eq(resp->code, COAP_CODE_PROXYING_NOT_SUPPORTED);
  cr_expect_gt(resp->payload_len, 0u, "a diagnostic payload");
  coap_message_free(resp);
  resp = ask(&p, with_proxy_uri(&p, "http://example.com/"));
  cr_expect_eq(resp->code, COAP_CODE_PROXYING_NOT_SUPPORTED);
  coap_message_free(resp);
  coap_message *msg = to_proxy(&p, COAP_CODE_GET, "/x");
  coap_options_set_string(&msg->opt, COAP_OPT_PROXY_SCHEME, "coap+tcp");
  coap_options_set_string(&msg->opt, COAP_OPT_URI_HOST, "example.com");
  resp = ask(&p, msg);
  cr_expect_eq(resp->code, COAP_CODE_PROXYING_NOT_SUPPORTED);
  coap_message_free(resp);
  pfx_stop(&p);
}

COAP_TEST(proxy_forward, proxy_scheme_without_uri_host_is_4_00) {
  pfx p;
  pfx_start(&p, COAP_PROXY_FORWARD, false);
  coap_message *msg = to_proxy(&p, COAP_CODE_GET, "/x");
  coap_options_set_string(&msg->opt, COAP_OPT_PROXY_SCHEME, "coap");
  coap_message *resp = ask(&p, msg);
  cr_expect_eq(resp->code, COAP_CODE_BAD_REQUEST);
  coap_message_free(resp);
  pfx_stop(&p);
}

COAP_TEST(proxy_forward, unknown_unsafe_option_in_request_is_4_02) {
  pfx p;
  pfx_start(&p, COAP_PROXY_FORWARD, false);
  char uri[128];
  snprintf(uri, sizeof uri, "coap://%s/hello", p.origin);
  coap_message *msg = with_proxy_uri(&p, uri);
  coap_options_add(&msg->opt, OPT_UNKNOWN_UNSAFE, "u", 1);
  coap_message *resp = ask(&p, msg);
  /* RFC 7252 §5.7.1. */
  cr_expect_eq(resp->code, COAP_CODE_BAD_OPTION);
  cr_expect_gt(resp->payload_len, 0u);
  coap_message_free(resp);
  pfx_stop(&p);
}

COAP_TEST(proxy_forward, unknown_unsafe_option_in_response_is_5_02) {
  pfx p;
  pfx_start(&p, COAP_PROXY_FORWARD, false);
  char uri[128];
  snprintf(uri, sizeof uri, "coap://%s/unsafe", p.origin);
  coap_message *resp = ask(&p, with_proxy_uri(&p, uri));
  /* RFC 7252 §5.7.2. */
  cr_expect_eq(resp->code, COAP_CODE_BAD_GATEWAY);
  cr_expect(!coap_options_has(&resp->opt, OPT_UNKNOWN_UNSAFE));
  cr_expect_gt(resp->payload_len, 0u);
  coap_message_free(resp);
  pfx_stop(&p);
}

COAP_TEST(proxy_forward, unknown_critical_option_in_response_is_5_02) {
  pfx p;
  pfx_start(&p, COAP_PROXY_FORWARD, false);
  char uri[128];
  snprintf(uri, sizeof uri, "coap://%s/critical", p.origin);
  coap_message *resp = ask(&p, with_proxy_uri(&p, uri));
  cr_expect_eq(resp->code, COAP_CODE_BAD_GATEWAY);
  cr_expect(!coap_options_has(&resp->opt, OPT_UNKNOWN_CRITICAL));
  cr_expect_gt(resp->payload_len, 0u);
  coap_message_free(resp);
  pfx_stop(&p);
}

COAP_TEST(proxy_forward, location_options_come_back) {
  pfx p;
  pfx_start(&p, COAP_PROXY_FORWARD, false);
  char uri[128];
  snprintf(uri, sizeof uri, "coap://%s/create", p.origin);
  coap_message *msg = with_proxy_uri(&p, uri);
  msg->code = COAP_CODE_POST;
  coap_message *resp = ask(&p, msg);
  cr_expect_eq(resp->code, COAP_CODE_CREATED);
  char path[64] = "";
  cr_expect_geq(coap_options_join_segments(&resp->opt, COAP_OPT_LOCATION_PATH,
                                           '/', path, sizeof path),
                0);
  cr_expect_str_eq(path, "made/1");
  coap_message_free(resp);
  pfx_stop(&p);
}

COAP_TEST(proxy_forward, name_that_does_not_resolve_is_5_02) {
  pfx p;
  pfx_start(&p, COAP_PROXY_FORWARD, false);
  /* RFC 6761 §6.4: .invalid never resolves. */
  coap_message *resp =
      ask(&p, with_proxy_uri(&p, "coap://no-such-host.invalid/x"));
  cr_expect_eq(resp->code, COAP_CODE_BAD_GATEWAY);
  cr_expect(payload_starts(resp, "upstream unreachable"), "payload %.*s",
            (int)resp->payload_len, (const char *)resp->payload);
  coap_message_free(resp);
  pfx_stop(&p);
}

/* A UDP port nobody listens on (bound, read, closed). */
static uint16_t dead_port(uv_loop_t *loop) {
  uv_udp_t udp;
  uv_udp_init(loop, &udp);
  struct sockaddr_in6 a;
  uv_ip6_addr("::1", 0, &a);
  cr_assert_eq(uv_udp_bind(&udp, (const struct sockaddr *)&a, 0), 0);
  int len = sizeof a;
  uv_udp_getsockname(&udp, (struct sockaddr *)&a, &len);
  uv_close((uv_handle_t *)&udp, NULL);
  uv_run(loop, UV_RUN_NOWAIT);
  return ntohs(a.sin6_port);
}

COAP_TEST(proxy_forward, unreachable_upstream_is_5_02) {
  pfx p;
  pfx_start(&p, COAP_PROXY_FORWARD, false);
  char uri[128];
  snprintf(uri, sizeof uri, "coap://[::1]:%u/x", dead_port(&p.fx.loop));
  coap_message *resp = ask(&p, with_proxy_uri(&p, uri));
  cr_expect_eq(resp->code, COAP_CODE_BAD_GATEWAY);
  cr_expect(payload_starts(resp, "upstream unreachable"), "payload %.*s",
            (int)resp->payload_len, (const char *)resp->payload);
  coap_message_free(resp);
  pfx_stop(&p);
}

COAP_TEST(proxy_forward, silent_upstream_is_5_04) {
  coap_context_config config;
  coap_context_config_default(&config);
  config.transmission.ack_timeout_ms = 50;
  config.transmission.ack_random_factor = 1.0;
  config.transmission.max_retransmit = 1;
  pfx p;
  pfx_start_with(&p, COAP_PROXY_FORWARD, false, &config);
  /* Bound but never read: no ICMP, no answer. */
  uv_udp_t silent;
  uv_udp_init(&p.fx.loop, &silent);
  struct sockaddr_in6 a;
  uv_ip6_addr("::1", 0, &a);
  cr_assert_eq(uv_udp_bind(&silent, (const struct sockaddr *)&a, 0), 0);
  int len = sizeof a;
  uv_udp_getsockname(&silent, (struct sockaddr *)&a, &len);
  char uri[128];
  snprintf(uri, sizeof uri, "coap://[::1]:%u/x", ntohs(a.sin6_port));
  coap_message *resp = ask(&p, with_proxy_uri(&p, uri));
  cr_expect_eq(resp->code, COAP_CODE_GATEWAY_TIMEOUT);
  cr_expect_gt(resp->payload_len, 0u);
  coap_message_free(resp);
  uv_close((uv_handle_t *)&silent, NULL);
  pfx_stop(&p);
}

COAP_TEST(proxy_forward, adds_and_decrements_hop_limit) {
  pfx p;
  pfx_start(&p, COAP_PROXY_FORWARD, false);
  char uri[128];
  snprintf(uri, sizeof uri, "coap://%s/host", p.origin);
  coap_message *resp = ask(&p, with_proxy_uri(&p, uri));
  payload_is(resp, "host=- hop=16");
  coap_message_free(resp);
  coap_message *msg = with_proxy_uri(&p, uri);
  coap_options_set_uint(&msg->opt, COAP_OPT_HOP_LIMIT, 5);
  resp = ask(&p, msg);
  payload_is(resp, "host=- hop=4");
  coap_message_free(resp);
  msg = with_proxy_uri(&p, uri);
  coap_options_add(&msg->opt, COAP_OPT_HOP_LIMIT, "\0", 1);
  resp = ask(&p, msg);
  cr_expect_eq(resp->code, COAP_CODE_BAD_REQUEST, "Hop-Limit 0");
  coap_message_free(resp);
  msg = with_proxy_uri(&p, uri);
  coap_options_set_uint(&msg->opt, COAP_OPT_HOP_LIMIT, 1);
  resp = ask(&p, msg);
  cr_expect_eq(resp->code, COAP_CODE_HOP_LIMIT_REACHED);
  cr_expect(payload_starts(resp, "Hop-Limit reached at"));
  coap_message_free(resp);
  pfx_stop(&p);
}

COAP_TEST(proxy_forward, two_proxies_pointed_at_each_other_end_with_5_08) {
  pfx p;
  pfx_start(&p, COAP_PROXY_FORWARD, false);
  /* A second forward proxy; each sends everything on to the other. */
  coap_site *site2;
  coap_context *server2, *out2;
  char base2[64], addr2[64];
  start_proxy_contexts(&p, NULL, &site2, &server2, &out2, base2, addr2);
  coap_proxy *proxy2;
  cr_assert_eq(coap_forward_proxy_new(out2, &proxy2), 0);
  cr_assert_eq(coap_proxy_serve(proxy2, site2), 0);
  coap_redirector *r;
  char dest[80];
  snprintf(dest, sizeof dest, "coap://%s", addr2);
  cr_assert_eq(coap_unconditional_redirector_new(dest, true, &r), 0);
  cr_assert_eq(coap_proxy_add_redirector(p.proxy, r), 0);
  cr_assert_eq(coap_unconditional_redirector_new(p.paddr, true, &r), 0);
  cr_assert_eq(coap_proxy_add_redirector(proxy2, r), 0);

  char uri[128];
  snprintf(uri, sizeof uri, "coap://%s/hello", p.origin);
  coap_message *resp = ask(&p, with_proxy_uri(&p, uri));
  cr_expect_eq(resp->code, COAP_CODE_HOP_LIMIT_REACHED);
  cr_expect(payload_starts(resp, "Hop-Limit reached at"), "payload %.*s",
            (int)resp->payload_len, (const char *)resp->payload);
  coap_message_free(resp);

  int closed = 0;
  coap_context_shutdown(server2, on_closed, &closed);
  coap_context_shutdown(out2, on_closed, &closed);
  uv_run(&p.fx.loop, UV_RUN_NOWAIT);
  coap_proxy_unref(proxy2);
  coap_site_unref(site2);
  pfx_stop(&p);
  cr_expect_eq(closed, 2);
}

/* ---- Reverse proxy and redirectors ---- */

static coap_message *with_host(pfx *p, const char *path, const char *host) {
  coap_message *msg = to_proxy(p, COAP_CODE_GET, path);
  if (host != NULL)
    coap_options_set_string(&msg->opt, COAP_OPT_URI_HOST, host);
  return msg;
}

COAP_TEST(proxy_reverse, subresource_strips_its_prefix) {
  pfx p;
  pfx_start(&p, COAP_PROXY_REVERSE, false);
  coap_redirector *r;
  cr_assert_eq(coap_subresource_virtual_host_new("/up/stream", p.origin, &r),
               0);
  cr_assert_eq(coap_proxy_add_redirector(p.proxy, r), 0);
  coap_message *resp = ask(&p, to_proxy(&p, COAP_CODE_GET, "/up/stream/hello"));
  cr_expect_eq(resp->code, COAP_CODE_CONTENT);
  payload_is(resp, "hello");
  coap_message_free(resp);
  resp = ask(&p, to_proxy(&p, COAP_CODE_GET, "/up/hello"));
  cr_expect_eq(resp->code, COAP_CODE_NOT_FOUND, "no rule matches");
  coap_message_free(resp);
  pfx_stop(&p);
}

COAP_TEST(proxy_reverse, name_based_keeps_or_rewrites_uri_host) {
  pfx p;
  pfx_start(&p, COAP_PROXY_REVERSE, false);
  coap_redirector *r;
  cr_assert_eq(coap_name_based_virtual_host_new("keep.example", p.origin, false,
                                                false, &r),
               0);
  cr_assert_eq(coap_proxy_add_redirector(p.proxy, r), 0);
  char dest[80];
  snprintf(dest, sizeof dest, "coap://%s", p.origin);
  cr_assert_eq(coap_name_based_virtual_host_new("rewrite.example", dest, true,
                                                false, &r),
               0);
  cr_assert_eq(coap_proxy_add_redirector(p.proxy, r), 0);
  coap_message *resp = ask(&p, with_host(&p, "/host", "keep.example"));
  payload_is(resp, "host=keep.example hop=16");
  coap_message_free(resp);
  resp = ask(&p, with_host(&p, "/host", "REWRITE.example"));
  payload_is(resp, "host=::1 hop=16");
  coap_message_free(resp);
  resp = ask(&p, with_host(&p, "/host", "other.example"));
  cr_expect_eq(resp->code, COAP_CODE_NOT_FOUND);
  coap_message_free(resp);
  pfx_stop(&p);
}

COAP_TEST(proxy_reverse, subdomain_matches_names_below_only) {
  pfx p;
  pfx_start(&p, COAP_PROXY_REVERSE, false);
  coap_redirector *r;
  cr_assert_eq(coap_subdomain_virtual_host_new("example", p.origin, false, &r),
               0);
  cr_assert_eq(coap_proxy_add_redirector(p.proxy, r), 0);
  coap_message *resp = ask(&p, with_host(&p, "/host", "a.b.example"));
  payload_is(resp, "host=a.b.example hop=16");
  coap_message_free(resp);
  resp = ask(&p, with_host(&p, "/host", "example"));
  cr_expect_eq(resp->code, COAP_CODE_NOT_FOUND);
  coap_message_free(resp);
  resp = ask(&p, with_host(&p, "/host", "notexample"));
  cr_expect_eq(resp->code, COAP_CODE_NOT_FOUND);
  coap_message_free(resp);
  pfx_stop(&p);
}

COAP_TEST(proxy_reverse, redirectors_are_tried_in_the_order_added) {
  pfx p;
  pfx_start(&p, COAP_PROXY_REVERSE, false);
  char dead[64];
  snprintf(dead, sizeof dead, "[::1]:%u", dead_port(&p.fx.loop));
  coap_redirector *r;
  cr_assert_eq(coap_name_based_virtual_host_new("one.example", p.origin, false,
                                                false, &r),
               0);
  cr_assert_eq(coap_proxy_add_redirector(p.proxy, r), 0);
  cr_assert_eq(coap_unconditional_redirector_new(dead, false, &r), 0);
  cr_assert_eq(coap_proxy_add_redirector(p.proxy, r), 0);
  /* Reaches the origin: the name rule came first. */
  coap_message *resp = ask(&p, with_host(&p, "/hello", "one.example"));
  cr_expect_eq(resp->code, COAP_CODE_CONTENT);
  coap_message_free(resp);
  /* Everything else goes to the dead port. */
  resp = ask(&p, with_host(&p, "/hello", "two.example"));
  cr_expect_eq(resp->code, COAP_CODE_BAD_GATEWAY);
  coap_message_free(resp);
  resp = ask(&p, to_proxy(&p, COAP_CODE_GET, "/hello"));
  cr_expect_eq(resp->code, COAP_CODE_BAD_GATEWAY);
  coap_message_free(resp);
  pfx_stop(&p);

  /* The other way round, the unconditional rule takes everything. */
  pfx_start(&p, COAP_PROXY_REVERSE, false);
  snprintf(dead, sizeof dead, "[::1]:%u", dead_port(&p.fx.loop));
  cr_assert_eq(coap_unconditional_redirector_new(dead, false, &r), 0);
  cr_assert_eq(coap_proxy_add_redirector(p.proxy, r), 0);
  cr_assert_eq(coap_name_based_virtual_host_new("one.example", p.origin, false,
                                                false, &r),
               0);
  cr_assert_eq(coap_proxy_add_redirector(p.proxy, r), 0);
  resp = ask(&p, with_host(&p, "/hello", "one.example"));
  cr_expect_eq(resp->code, COAP_CODE_BAD_GATEWAY);
  coap_message_free(resp);
  pfx_stop(&p);
}

COAP_TEST(proxy_reverse, no_rule_is_4_04_and_proxy_uri_5_05) {
  pfx p;
  pfx_start(&p, COAP_PROXY_REVERSE, false);
  coap_message *resp = ask(&p, to_proxy(&p, COAP_CODE_GET, "/hello"));
  cr_expect_eq(resp->code, COAP_CODE_NOT_FOUND);
  coap_message_free(resp);
  char uri[128];
  snprintf(uri, sizeof uri, "coap://%s/hello", p.origin);
  resp = ask(&p, with_proxy_uri(&p, uri));
  cr_expect_eq(resp->code, COAP_CODE_PROXYING_NOT_SUPPORTED);
  coap_message_free(resp);
  pfx_stop(&p);
}

COAP_TEST(proxy_redirector, refuses_malformed_targets) {
  coap_redirector *r = NULL;
  cr_expect_eq(coap_unconditional_redirector_new("", false, &r), COAP_EINVAL);
  cr_expect_eq(coap_unconditional_redirector_new("h:99999", false, &r),
               COAP_EINVAL);
  cr_expect_eq(coap_unconditional_redirector_new("coaps://h", false, &r),
               COAP_EINVAL);
  cr_expect_eq(coap_unconditional_redirector_new("h/path", false, &r),
               COAP_EINVAL);
  cr_expect_eq(coap_name_based_virtual_host_new("", "h", false, false, &r),
               COAP_EINVAL);
  cr_expect_eq(coap_unconditional_redirector_new("[::1]:5683", false, &r), 0);
  coap_redirector_free(r);
  char target[64];
  bool rewrite, as_proxy;
  cr_expect_eq(coap_proxy_parse_destination("!@h:1", target, sizeof target,
                                            &rewrite, &as_proxy),
               0);
  cr_expect_str_eq(target, "h:1");
  cr_expect(rewrite && as_proxy);
  cr_expect_eq(coap_proxy_parse_destination("@", target, sizeof target,
                                            &rewrite, &as_proxy),
               COAP_EINVAL);
}

/* ---- Blockwise ---- */

COAP_TEST(proxy_blockwise, body_of_256_kib_both_ways) {
  coap_context_config pconfig;
  coap_context_config_default(&pconfig);
  pconfig.block_size_exp = 4; /* 256-byte blocks on the proxy's side */
  pfx p;
  pfx_start_with(&p, COAP_PROXY_FORWARD, false, &pconfig);
  uint8_t *body = malloc(BIG);
  for (size_t i = 0; i < BIG; i++)
    body[i] = (uint8_t)(i * 7 + (i >> 10));
  char uri[128];
  snprintf(uri, sizeof uri, "coap://%s/big", p.origin);
  coap_message *msg = with_proxy_uri(&p, uri);
  msg->code = COAP_CODE_PUT;
  cr_assert_eq(coap_message_set_payload(msg, body, BIG), 0);
  coap_message *resp = NULL;
  cr_assert_eq(fixture_request(&p.fx, msg, &resp, 60000), 0);
  cr_expect_eq(resp->code, COAP_CODE_CHANGED);
  coap_message_free(resp);
  cr_expect_eq(big_len, BIG);
  cr_expect(memcmp(big_body, body, BIG) == 0, "the origin got the body");
  resp = NULL;
  cr_assert_eq(fixture_request(&p.fx, with_proxy_uri(&p, uri), &resp, 60000),
               0);
  cr_expect_eq(resp->code, COAP_CODE_CONTENT);
  cr_expect_eq(resp->payload_len, BIG);
  if (resp->payload_len == BIG)
    cr_expect(memcmp(resp->payload, body, BIG) == 0, "the client got it");
  coap_message_free(resp);
  free(body);
  pfx_stop(&p);
}

COAP_TEST(proxy_blockwise, bodies_beyond_max_body_size_at_each_side) {
  coap_context_config pconfig;
  coap_context_config_default(&pconfig);
  pconfig.max_body_size = 16 * 1024;
  pfx p;
  pfx_start_with(&p, COAP_PROXY_FORWARD, false, &pconfig);
  char uri[128];
  snprintf(uri, sizeof uri, "coap://%s/big", p.origin);
  uint8_t *body = calloc(1, BIG);
  /* At the limit: passes. */
  coap_message *msg = with_proxy_uri(&p, uri);
  msg->code = COAP_CODE_PUT;
  cr_assert_eq(coap_message_set_payload(msg, body, 16 * 1024), 0);
  coap_message *resp = ask(&p, msg);
  cr_expect_eq(resp->code, COAP_CODE_CHANGED);
  coap_message_free(resp);
  resp = ask(&p, with_proxy_uri(&p, uri));
  cr_expect_eq(resp->code, COAP_CODE_CONTENT);
  cr_expect_eq(resp->payload_len, 16u * 1024);
  coap_message_free(resp);
  /* One byte beyond: the proxy's server side refuses it (RFC 7959 §2.9.3). */
  msg = with_proxy_uri(&p, uri);
  msg->code = COAP_CODE_PUT;
  cr_assert_eq(coap_message_set_payload(msg, body, 16 * 1024 + 1), 0);
  resp = ask(&p, msg);
  cr_expect_eq(resp->code, COAP_CODE_REQUEST_ENTITY_TOO_LARGE);
  coap_message_free(resp);
  /* A response beyond the outgoing context's limit: 5.02. */
  big_len = 16 * 1024 + 1;
  resp = ask(&p, with_proxy_uri(&p, uri));
  cr_expect_eq(resp->code, COAP_CODE_BAD_GATEWAY);
  cr_expect_gt(resp->payload_len, 0u);
  coap_message_free(resp);
  free(body);
  pfx_stop(&p);
}

/* ---- Pooled observations ---- */

typedef struct watcher {
  coap_request *req;
  int notifications;
  char last[64];
} watcher;

static void on_notification(coap_observation *obs, const coap_message *m,
                            void *data) {
  (void)obs;
  watcher *w = data;
  w->notifications++;
  snprintf(w->last, sizeof w->last, "%.*s", (int)m->payload_len,
           (const char *)m->payload);
}

static bool all_have(watcher *w, size_t n, int count) {
  for (size_t i = 0; i < n; i++)
    if (w[i].notifications < count)
      return false;
  return true;
}

COAP_TEST(proxy_pooled, three_clients_share_one_upstream_observation) {
  pfx p;
  pfx_start(&p, COAP_PROXY_FORWARD, true);
  coap_proxy_forwarder *fw;
  cr_assert_eq(coap_proxy_forwarder_new(p.fx.client, p.pbase, &fw), 0);
  watcher w[3];
  memset(w, 0, sizeof w);
  for (int i = 0; i < 3; i++) {
    coap_message *msg = fixture_message(&p.fx, COAP_CODE_GET, "/obs");
    coap_options_set_observe(&msg->opt, 0);
    cr_assert_eq(coap_proxy_forwarder_request(fw, msg, NULL, &w[i].req), 0);
    coap_observation *obs = coap_request_observation(w[i].req);
    cr_assert_not_null(obs);
    cr_assert_eq(
        coap_observation_register_callback(obs, on_notification, &w[i]), 0);
    coap_message *resp = wait_response(&p, w[i].req);
    cr_expect_eq(resp->code, COAP_CODE_CONTENT);
    payload_is(resp, "state 0");
    cr_expect(coap_options_has(&resp->opt, COAP_OPT_OBSERVE),
              "client %d registered", i);
    coap_message_free(resp);
  }
  cr_expect_eq(coap_observable_resource_observation_count(p.obs_resource), 1u,
               "one upstream registration");
  cr_expect_eq(coap_proxy_pooled_observation_count(p.proxy), 1u);
  cr_expect_eq(coap_proxy_pooled_client_count(p.proxy), 3u);

  for (int round = 1; round <= 2; round++) {
    obs_counter = round;
    cr_assert_geq(coap_observable_resource_updated_state(p.obs_resource, NULL),
                  0);
    bool all = false;
    for (int spin = 0; spin < 200 && !all; spin++) {
      bool never = false;
      fixture_run_for_or_until(&p.fx, &never, 10);
      all = all_have(w, 3, round);
    }
    cr_expect(all, "every client notified in round %d", round);
    for (int i = 0; i < 3; i++) {
      char want[32];
      snprintf(want, sizeof want, "state %d", round);
      cr_expect_str_eq(w[i].last, want);
    }
  }

  for (int i = 0; i < 3; i++) {
    coap_observation_cancel(coap_request_observation(w[i].req));
    bool never = false;
    fixture_run_for_or_until(&p.fx, &never, 300);
    if (i < 2)
      cr_expect_eq(coap_observable_resource_observation_count(p.obs_resource),
                   1u, "upstream kept while a client is left");
  }
  cr_expect_eq(coap_proxy_pooled_client_count(p.proxy), 0u);
  cr_expect_eq(coap_proxy_pooled_observation_count(p.proxy), 0u);
  cr_expect_eq(coap_observable_resource_observation_count(p.obs_resource), 0u,
               "upstream observation cancelled after the last client");
  for (int i = 0; i < 3; i++)
    coap_request_unref(w[i].req);
  coap_proxy_forwarder_free(fw);
  pfx_stop(&p);
}

COAP_TEST(proxy_pooled, reverse_registration_then_everything_shuts_down) {
  pfx p;
  pfx_start(&p, COAP_PROXY_REVERSE, true);
  coap_redirector *r;
  cr_assert_eq(coap_unconditional_redirector_new(p.origin, false, &r), 0);
  cr_assert_eq(coap_proxy_add_redirector(p.proxy, r), 0);
  coap_request *req;
  coap_message *msg = to_proxy(&p, COAP_CODE_GET, "/obs");
  coap_options_set_observe(&msg->opt, 0);
  cr_assert_eq(coap_context_request(p.fx.client, msg, NULL, &req), 0);
  coap_message *resp = wait_response(&p, req);
  cr_expect(coap_options_has(&resp->opt, COAP_OPT_OBSERVE));
  payload_is(resp, "state 0");
  coap_message_free(resp);
  cr_expect_eq(coap_observable_resource_observation_count(p.obs_resource), 1u);
  cr_expect_eq(coap_proxy_pooled_client_count(p.proxy), 1u);
  /* All four contexts at once, with the observation live on both hops:
   * nothing crashes, nothing leaks (the test's leak check). */
  coap_request_unref(req);
  pfx_stop(&p);
}

COAP_TEST(proxy_forward, without_pooling_a_registration_is_served_plain) {
  pfx p;
  pfx_start(&p, COAP_PROXY_FORWARD, false);
  char uri[128];
  snprintf(uri, sizeof uri, "coap://%s/obs", p.origin);
  coap_message *msg = with_proxy_uri(&p, uri);
  coap_options_set_observe(&msg->opt, 0);
  coap_message *resp = ask(&p, msg);
  cr_expect_eq(resp->code, COAP_CODE_CONTENT);
  cr_expect(!coap_options_has(&resp->opt, COAP_OPT_OBSERVE),
            "RFC 7641 §2: served without Observe");
  cr_expect_eq(coap_observable_resource_observation_count(p.obs_resource), 0u,
               "nothing left registered upstream");
  coap_message_free(resp);
  pfx_stop(&p);
}

/* ---- The cache (RFC 7252 §5.6) ---- */

static coap_message *get_via(pfx *p, const char *path) {
  char uri[160];
  snprintf(uri, sizeof uri, "coap://%s%s", p->origin, path);
  return ask(p, with_proxy_uri(p, uri));
}

static void pfx_start_cached(pfx *p, size_t entries) {
  cache_entries = entries;
  pfx_start(p, COAP_PROXY_FORWARD, false);
  cache_entries = 0;
}

COAP_TEST(proxy_cache, off_by_default) {
  pfx p;
  pfx_start(&p, COAP_PROXY_FORWARD, false);
  coap_message_free(get_via(&p, "/count"));
  coap_message *resp = get_via(&p, "/count");
  payload_is(resp, "render 2");
  coap_message_free(resp);
  cr_expect_eq(coap_proxy_cached_response_count(p.proxy), 0u);
  pfx_stop(&p);
}

COAP_TEST(proxy_cache, fresh_response_served_with_remaining_max_age) {
  pfx p;
  pfx_start_cached(&p, 4);
  coap_message *resp = get_via(&p, "/count");
  payload_is(resp, "render 1");
  coap_message_free(resp);
  resp = get_via(&p, "/count");
  payload_is(resp, "render 1");
  uint32_t max_age = 99;
  cr_expect_eq(coap_options_get_max_age(&resp->opt, &max_age), 0);
  cr_expect_leq(max_age, 30u, "RFC 7252 §5.6.1: what is left");
  cr_expect_geq(max_age, 28u);
  coap_message_free(resp);
  cr_expect_eq(renders, 1, "the origin was asked once");
  /* A client validating its own copy (ETag) goes upstream. */
  coap_message *msg;
  char uri[160];
  snprintf(uri, sizeof uri, "coap://%s/count", p.origin);
  msg = with_proxy_uri(&p, uri);
  coap_options_add(&msg->opt, COAP_OPT_ETAG, "\x09", 1);
  coap_message_free(ask(&p, msg));
  cr_expect_eq(renders, 2);
  pfx_stop(&p);
}

COAP_TEST(proxy_cache, put_makes_the_entry_not_fresh) {
  pfx p;
  pfx_start_cached(&p, 4);
  coap_message_free(get_via(&p, "/count"));
  cr_expect_eq(coap_proxy_cached_response_count(p.proxy), 1u);
  char uri[160];
  snprintf(uri, sizeof uri, "coap://%s/count", p.origin);
  coap_message *msg = with_proxy_uri(&p, uri);
  msg->code = COAP_CODE_PUT;
  coap_message *resp = ask(&p, msg);
  cr_expect_eq(resp->code, COAP_CODE_CHANGED);
  coap_message_free(resp);
  /* RFC 7252 §5.9.1.4: marked not fresh (it stays, for validation), so
   * the next GET goes upstream. */
  resp = get_via(&p, "/count");
  payload_is(resp, "render 2");
  coap_message_free(resp);
  pfx_stop(&p);
}

COAP_TEST(proxy_cache, stale_and_max_age_0_go_upstream) {
  pfx p;
  pfx_start_cached(&p, 4);
  coap_message_free(get_via(&p, "/nocache"));
  coap_message_free(get_via(&p, "/nocache"));
  cr_expect_eq(renders, 2, "Max-Age 0 is not stored");
  coap_message_free(get_via(&p, "/short"));
  coap_message_free(get_via(&p, "/short"));
  cr_expect_eq(renders, 3, "fresh for a second");
  bool never = false;
  fixture_run_for_or_until(&p.fx, &never, 1100);
  coap_message *resp = get_via(&p, "/short");
  payload_is(resp, "render 4");
  coap_message_free(resp);
  pfx_stop(&p);
}

/* RFC 7252 §5.6.2: once stale, the entry is revalidated with its ETag; the
 * origin's 2.03 makes the proxy answer with the stored body (the client
 * never sent an ETag), fresh again for the 2.03's Max-Age. */
COAP_TEST(proxy_cache, stale_entry_revalidated_with_its_etag) {
  pfx p;
  pfx_start_cached(&p, 4);
  tagged_renders = 0;
  coap_message *resp = get_via(&p, "/tagged");
  payload_is(resp, "tagged body");
  coap_message_free(resp);
  cr_expect_eq(tagged_renders, 1);
  bool never = false;
  fixture_run_for_or_until(&p.fx, &never, 1100);
  resp = get_via(&p, "/tagged");
  cr_expect_eq(resp->code, COAP_CODE_CONTENT,
               "the client asked without ETag: it gets the body, not 2.03");
  payload_is(resp, "tagged body");
  uint32_t max_age = 99;
  cr_expect_eq(coap_options_get_max_age(&resp->opt, &max_age), 0);
  /* The origin's 2.03 (the library's, from get_etag) carries no Max-Age:
   * 60 s by default (RFC 7252 §5.10.5), the stored one no longer counts. */
  cr_expect_leq(max_age, 60u);
  cr_expect_geq(max_age, 59u);
  coap_message_free(resp);
  cr_expect_eq(tagged_renders, 1,
               "the origin answered 2.03 without rendering the body again");
  resp = get_via(&p, "/tagged");
  payload_is(resp, "tagged body");
  coap_message_free(resp);
  cr_expect_eq(tagged_renders, 1, "fresh again: served from the cache");
  pfx_stop(&p);
}

COAP_TEST(proxy_cache, error_responses_are_cached_too) {
  pfx p;
  pfx_start_cached(&p, 4);
  missing_renders = 0;
  for (int i = 0; i < 3; i++) {
    coap_message *resp = get_via(&p, "/missing");
    cr_expect_eq(resp->code, COAP_CODE_NOT_FOUND);
    payload_is(resp, "not here");
    coap_message_free(resp);
  }
  cr_expect_eq(missing_renders, 1, "RFC 7252 §5.9.2: 4.xx is cacheable");
  pfx_stop(&p);
}

COAP_TEST(proxy_cache, at_cache_entries_the_least_recently_used_goes) {
  pfx p;
  pfx_start_cached(&p, 2);
  coap_message_free(get_via(&p, "/count?a"));
  coap_message_free(get_via(&p, "/count?b"));
  coap_message_free(get_via(&p, "/count?a")); /* a is now the newest */
  cr_expect_eq(renders, 2);
  coap_message_free(get_via(&p, "/count?c")); /* b goes */
  cr_expect_eq(coap_proxy_cached_response_count(p.proxy), 2u);
  coap_message_free(get_via(&p, "/count?a"));
  cr_expect_eq(renders, 3, "a was kept");
  coap_message_free(get_via(&p, "/count?b"));
  cr_expect_eq(renders, 4, "b was not");
  pfx_stop(&p);
}

/* ---- Allocation failures ---- */

/* nghttp2's failmalloc idea over a proxied exchange: every allocation
 * along a GET through the forward proxy, and along a pooled registration,
 * fails in turn (and every one after it); the client's request still
 * ends, nothing crashes and nothing leaks.  (The pooled one found the
 * server observation's cancellation callback lost when no record could be
 * allocated to queue it: it is reserved at accept now.) */
static void failmalloc_over(bool pooled) {
  coap_context_config c;
  coap_context_config_default(&c);
  c.transmission.ack_timeout_ms = 5;
  c.transmission.ack_random_factor = 1.0;
  c.transmission.max_retransmit = 1;
  fixture_config = &c;
  int failed = 0, succeeded = 0;
  for (long n = 0;; n++) {
    pfx p;
    pfx_start_with(&p, COAP_PROXY_FORWARD, pooled, &c);
    char uri[128];
    snprintf(uri, sizeof uri, "coap://%s/%s", p.origin,
             pooled ? "obs" : "hello");
    coap_message *msg = with_proxy_uri(&p, uri);
    if (pooled)
      coap_options_set_observe(&msg->opt, 0);
    coap_test_fail_after = n;
    coap_message *resp = NULL;
    int rc = fixture_request(&p.fx, msg, &resp, 300);
    bool injected = coap_test_fail_after == 0;
    coap_test_fail_after = -1;
    if (rc == 0 && resp->code == COAP_CODE_CONTENT)
      succeeded++;
    else
      failed++;
    coap_message_free(resp);
    pfx_stop(&p);
    cr_assert_eq(coap_test_live_allocations, 0,
                 "failing allocation %ld leaks %ld", n,
                 coap_test_live_allocations);
    if (!injected)
      break;
  }
  fixture_config = NULL;
  cr_assert_gt(failed, 10, "allocations along the exchange failed");
  cr_assert_geq(succeeded, 1, "and without failure it works");
}

COAP_TEST(proxy_failmalloc, forwarded_get_ends_cleanly, .timeout = 120) {
  failmalloc_over(false);
}

COAP_TEST(proxy_failmalloc, pooled_registration_ends_cleanly, .timeout = 120) {
  failmalloc_over(true);
}

COAP_TEST(proxy_failmalloc, cached_get_ends_cleanly, .timeout = 120) {
  cache_entries = 4;
  failmalloc_over(false);
  cache_entries = 0;
}

/* ---- Shutting down in the middle ---- */

COAP_TEST(proxy_shutdown, server_context_mid_request) {
  pfx p;
  pfx_start(&p, COAP_PROXY_FORWARD, false);
  char uri[128];
  snprintf(uri, sizeof uri, "coap://%s/slow", p.origin);
  coap_request *req;
  cr_assert_eq(
      coap_context_request(p.fx.client, with_proxy_uri(&p, uri), NULL, &req),
      0);
  fixture_run_until(&p.fx, &slow_reached, 5000);
  cr_assert(slow_reached);
  int closed = 0;
  coap_context_shutdown(p.pserver, on_closed, &closed);
  p.pserver = NULL;
  bool never = false;
  fixture_run_for_or_until(&p.fx, &never, 200);
  cr_expect_eq(closed, 1);
  coap_request_cancel(req);
  coap_request_unref(req);
  pfx_stop(&p);
}

COAP_TEST(proxy_shutdown, outgoing_context_mid_request) {
  pfx p;
  pfx_start(&p, COAP_PROXY_FORWARD, false);
  char uri[128];
  snprintf(uri, sizeof uri, "coap://%s/slow", p.origin);
  coap_request *req;
  cr_assert_eq(
      coap_context_request(p.fx.client, with_proxy_uri(&p, uri), NULL, &req),
      0);
  fixture_run_until(&p.fx, &slow_reached, 5000);
  cr_assert(slow_reached);
  int closed = 0;
  coap_context_shutdown(p.pout, on_closed, &closed);
  p.pout = NULL;
  coap_message *resp = wait_response(&p, req);
  cr_expect_eq(resp->code, COAP_CODE_BAD_GATEWAY);
  coap_message_free(resp);
  coap_request_unref(req);
  cr_expect_eq(closed, 1);
  /* The proxy noticed: later requests are answered, not sent into a
   * freed context. */
  resp = ask(&p, with_proxy_uri(&p, uri));
  cr_expect_eq(resp->code, COAP_CODE_BAD_GATEWAY);
  coap_message_free(resp);
  pfx_stop(&p);
}

COAP_TEST(proxy_shutdown, pooled_observation_when_outgoing_stops) {
  pfx p;
  pfx_start(&p, COAP_PROXY_FORWARD, true);
  coap_proxy_forwarder *fw;
  cr_assert_eq(coap_proxy_forwarder_new(p.fx.client, p.pbase, &fw), 0);
  coap_message *msg = fixture_message(&p.fx, COAP_CODE_GET, "/obs");
  coap_options_set_observe(&msg->opt, 0);
  coap_request *req;
  cr_assert_eq(coap_proxy_forwarder_request(fw, msg, NULL, &req), 0);
  coap_message_free(wait_response(&p, req));
  cr_expect_eq(coap_proxy_pooled_client_count(p.proxy), 1u);
  int closed = 0;
  coap_context_shutdown(p.pout, on_closed, &closed);
  p.pout = NULL;
  bool never = false;
  fixture_run_for_or_until(&p.fx, &never, 300);
  cr_expect_eq(closed, 1);
  cr_expect_eq(coap_proxy_pooled_observation_count(p.proxy), 0u);
  cr_expect(!coap_observation_active(coap_request_observation(req)),
            "the client was told");
  coap_request_unref(req);
  coap_proxy_forwarder_free(fw);
  pfx_stop(&p);
}
