/*
 * The callback rule of aiocoap.h, tested as a matrix: for every kind of
 * callback into application code, a callback that (a) shuts its context
 * down, (b) cancels and unrefs its own request or observation, (c) starts a
 * new request on the same context, (d) drops its resource and the site.
 * Every cell runs to a clean end: both contexts shut down, the loop closes,
 * nothing leaks (the leak check of COAP_TEST; under ASan in CI, any
 * use-after-free fails the cell), and a request the callback started has
 * settled.
 */
#include "test_common.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

typedef enum kind {
  K_FUTURE,   /* a response future's done callback */
  K_ENQUEUED, /* exchange monitor members */
  K_SENT,
  K_RETRANSMITTED,
  K_TIMEOUT,
  K_RST,
  K_CANCELLED,
  K_RESPONSE,
  K_OBS_CALLBACK,   /* client observation callback */
  K_OBS_ERRBACK,    /* client observation errback */
  K_COUNT,          /* update_observation_count */
  K_SERVER_CANCEL,  /* server observation cancellation callback */
  K_RENDER,         /* a render function (called synchronously) */
  K_ADD_OBSERVATION /* the vtable's add_observation (synchronously) */
} kind;

typedef enum action {
  A_SHUTDOWN,    /* shut the callback's context down */
  A_DROP,        /* cancel and unref its own request or observation */
  A_NEW_REQUEST, /* start a request on the same context */
  A_FREE         /* remove the resource from the site, free the site */
} action;

static const char *const kind_names[] = {
    "future", "enqueued",      "sent",     "retransmitted",  "timeout",
    "rst",    "cancelled",     "response", "obs-callback",   "obs-errback",
    "count",  "server-cancel", "render",   "add_observation"};
static const char *const action_names[] = {"shutdown", "drop", "new-request",
                                           "free"};

/* One cell's world. */
static struct world {
  uv_loop_t loop;
  coap_site *site; /* the test's reference; NULL once freed */
  coap_context *server, *client;
  bool server_down, client_down;
  char base[64];
  uv_udp_t peer; /* silent, or answering RST */
  bool peer_rst;
  char peer_uri[64];
  kind k;
  action a;
  int fired;             /* how often the callback under test ran */
  bool acted;            /* the action ran (once) */
  coap_request *req;     /* the test's reference, NULL once dropped */
  coap_observation *obs; /* the test's reference, NULL once dropped */
  coap_server_observation *server_obs; /* accepted at /own */
  coap_request *started;               /* the request the action started */
  int started_rc;
  coap_resource *observable; /* /obs, borrowed from the site */
} w;

static void on_shutdown_done(coap_context *ctx, void *data) {
  (void)data;
  if (ctx == w.server)
    w.server = NULL;
  if (ctx == w.client)
    w.client = NULL;
}

static void shutdown_ctx(coap_context *ctx) {
  if (ctx == w.server && !w.server_down) {
    w.server_down = true;
    coap_context_shutdown(ctx, on_shutdown_done, NULL);
  } else if (ctx == w.client && !w.client_down) {
    w.client_down = true;
    coap_context_shutdown(ctx, on_shutdown_done, NULL);
  }
}

static bool server_side(kind k) {
  return k == K_COUNT || k == K_SERVER_CANCEL || k == K_RENDER ||
         k == K_ADD_OBSERVATION;
}

static coap_message *message_to(const char *uri, bool observe) {
  coap_message *msg;
  cr_assert_eq(coap_message_new(&msg), 0);
  msg->code = COAP_CODE_GET;
  cr_assert_eq(coap_message_set_request_uri(msg, uri, true), 0);
  if (observe)
    cr_assert_eq(coap_options_set_observe(&msg->opt, 0), 0);
  return msg;
}

/* What every callback under test does: count, and act the first time. */
static void act(void) {
  w.fired++;
  if (w.acted)
    return;
  w.acted = true;
  coap_context *ctx = server_side(w.k) ? w.server : w.client;
  bool down = server_side(w.k) ? w.server_down : w.client_down;
  switch (w.a) {
  case A_SHUTDOWN:
    shutdown_ctx(ctx);
    break;
  case A_DROP:
    if (w.obs != NULL) {
      coap_observation_cancel(w.obs);
      coap_observation_unref(w.obs);
      w.obs = NULL;
    }
    if (w.req != NULL) {
      coap_request_cancel(w.req);
      coap_request_unref(w.req);
      w.req = NULL;
    }
    if (w.server_obs != NULL && server_side(w.k)) {
      coap_server_observation_deregister(w.server_obs, COAP_ECANCELED);
      w.server_obs = NULL;
    }
    break;
  case A_NEW_REQUEST: {
    char uri[96];
    snprintf(uri, sizeof uri, "%s/r", w.base);
    w.started_rc = down ? COAP_ESHUTDOWN
                        : coap_context_request(ctx, message_to(uri, false),
                                               NULL, &w.started);
    break;
  }
  case A_FREE:
    if (w.site != NULL) {
      static const char *const paths[][1] = {
          {"r"}, {"obs"}, {"own"}, {"render"}};
      for (size_t i = 0; i < 4; i++)
        coap_site_remove_resource(w.site, paths[i], 1);
      coap_site_unref(w.site);
      w.site = NULL;
    }
    break;
  }
}

/* ---- resources ---- */

static int get_r(coap_resource *res, coap_message *req, coap_message *resp,
                 coap_future **later) {
  (void)res;
  (void)req;
  (void)later;
  coap_message_set_payload_string(resp, "r");
  return 0;
}

static int get_render(coap_resource *res, coap_message *req, coap_message *resp,
                      coap_future **later) {
  if (w.k == K_RENDER)
    act();
  return get_r(res, req, resp, later);
}

static void on_count(coap_resource *res, size_t n) {
  (void)res;
  (void)n;
  if (w.k == K_COUNT)
    act();
}

static void on_server_cancel(coap_server_observation *o, void *data) {
  (void)data;
  if (o == w.server_obs)
    w.server_obs = NULL;
  if (w.k == K_SERVER_CANCEL)
    act();
}

static void own_add_observation(coap_resource *res, const coap_message *req,
                                coap_server_observation *o) {
  (void)res;
  (void)req;
  if (w.k == K_ADD_OBSERVATION)
    act();
  /* Whatever the action did, accepting is safe: after a shutdown it is
   * refused. */
  if (coap_server_observation_accept(o, on_server_cancel, NULL) == 0)
    w.server_obs = o;
}

static const coap_resource_methods r_methods = {.render_get = get_r};
static const coap_resource_methods render_methods = {.render_get = get_render};
static const coap_resource_vtable own_vtable = {
    .render = get_r, .add_observation = own_add_observation};

/* ---- the silent or RST-answering peer ---- */

static void peer_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf) {
  (void)h;
  static char space[2048];
  (void)size;
  *buf = uv_buf_init(space, sizeof space);
}

static void peer_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *buf,
                      const struct sockaddr *from, unsigned flags) {
  (void)flags;
  if (n < 4 || from == NULL || !w.peer_rst)
    return;
  /* RFC 7252 §4.2: an RST carries the MID of the message it rejects. */
  static char rst[4];
  rst[0] = 0x70;
  rst[1] = 0;
  rst[2] = buf->base[2];
  rst[3] = buf->base[3];
  uv_buf_t out = uv_buf_init(rst, 4);
  uv_udp_try_send(h, &out, 1, from);
}

/* ---- callbacks on the client side ---- */

static void on_future(coap_future *f, void *data) {
  (void)f;
  (void)data;
  if (w.k == K_FUTURE)
    act();
}

#define MONITOR_CB(name, k_)                                                   \
  static void mon_##name(void *data) {                                         \
    (void)data;                                                                \
    if (w.k == k_)                                                             \
      act();                                                                   \
  }
MONITOR_CB(enqueued, K_ENQUEUED)
MONITOR_CB(sent, K_SENT)
MONITOR_CB(retransmitted, K_RETRANSMITTED)
MONITOR_CB(timeout, K_TIMEOUT)
MONITOR_CB(rst, K_RST)
MONITOR_CB(cancelled, K_CANCELLED)

static void mon_response(const coap_message *resp, void *data) {
  (void)data;
  cr_assert_not_null(resp);
  if (w.k == K_RESPONSE)
    act();
}

static const coap_exchange_monitor monitor = {
    .enqueued = mon_enqueued,
    .sent = mon_sent,
    .retransmitted = mon_retransmitted,
    .timeout = mon_timeout,
    .rst = mon_rst,
    .cancelled = mon_cancelled,
    .response = mon_response,
};

static void on_obs_callback(coap_observation *obs, const coap_message *n,
                            void *data) {
  (void)obs;
  (void)data;
  cr_assert_not_null(n);
  if (w.k == K_OBS_CALLBACK)
    act();
}

static void on_obs_errback(coap_observation *obs, int err,
                           const coap_message *resp, void *data) {
  (void)obs;
  (void)err;
  (void)resp;
  (void)data;
  if (w.k == K_OBS_ERRBACK)
    act();
}

/* ---- driving the loop ---- */

static void on_limit(uv_timer_t *t) {
  *(bool *)t->data = true;
}

/* Runs the loop until cond holds, failing after limit_ms of loop time with
 * what it waited for (an unbounded loop would only hang until meson's
 * timeout). */
#define RUN_UNTIL(cond, limit_ms)                                              \
  do {                                                                         \
    bool expired_ = false;                                                     \
    uv_timer_t limit_;                                                         \
    uv_timer_init(&w.loop, &limit_);                                           \
    limit_.data = &expired_;                                                   \
    uv_timer_start(&limit_, on_limit, (limit_ms), 0);                          \
    while (!(cond) && !expired_)                                               \
      uv_run(&w.loop, UV_RUN_ONCE);                                            \
    uv_close((uv_handle_t *)&limit_, NULL);                                    \
    uv_run(&w.loop, UV_RUN_NOWAIT);                                            \
    cr_assert(cond, "waited %d ms of loop time for %s; it did not happen",     \
              (int)(limit_ms), #cond);                                         \
  } while (0)

/* Runs the loop until the callback has fired or limit_ms passed. */
static void run_until_fired(uint64_t limit_ms) {
  bool expired = false;
  uv_timer_t limit;
  uv_timer_init(&w.loop, &limit);
  limit.data = &expired;
  uv_timer_start(&limit, on_limit, limit_ms, 0);
  while (w.fired == 0 && !expired)
    uv_run(&w.loop, UV_RUN_ONCE);
  /* Let what the action set going run a little. */
  uv_timer_stop(&limit);
  expired = false;
  uv_timer_start(&limit, on_limit, 50, 0);
  while (!expired)
    uv_run(&w.loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&limit, NULL);
  uv_run(&w.loop, UV_RUN_NOWAIT);
}

static void world_start(kind k, action a) {
  memset(&w, 0, sizeof w);
  w.k = k;
  w.a = a;
  cr_assert_eq(uv_loop_init(&w.loop), 0);
  cr_assert_eq(coap_site_new(&w.site), 0);
  coap_context_config config;
  coap_context_config_default(&config);
  /* Quick retransmission, so the timeout cells end in well under a
   * second: 20 ms, 40 ms, then the timeout. */
  config.transmission.ack_timeout_ms = 20;
  config.transmission.ack_random_factor = 1.0;
  config.transmission.max_retransmit = 1;
  cr_assert_eq(coap_context_create_server_context(&w.loop, w.site, "[::1]:0",
                                                  &config, &w.server),
               0);
  cr_assert_eq(coap_context_create_client_context(&w.loop, &config, &w.client),
               0);
  struct sockaddr_in6 addr;
  cr_assert_eq(coap_context_local_address(w.server, &addr), 0);
  snprintf(w.base, sizeof w.base, "coap://[::1]:%u", ntohs(addr.sin6_port));

  coap_resource *res;
  cr_assert_eq(coap_resource_new_methods(&r_methods, NULL, &res), 0);
  cr_assert_eq(coap_site_add_resource_path(w.site, "r", res), 0);
  coap_resource_unref(res);
  cr_assert_eq(coap_resource_new_methods(&render_methods, NULL, &res), 0);
  cr_assert_eq(coap_site_add_resource_path(w.site, "render", res), 0);
  coap_resource_unref(res);
  cr_assert_eq(
      coap_observable_resource_new_methods(&r_methods, on_count, NULL, &res),
      0);
  cr_assert_eq(coap_site_add_resource_path(w.site, "obs", res), 0);
  w.observable = res;
  coap_resource_unref(res);
  cr_assert_eq(coap_resource_new(&own_vtable, NULL, &res), 0);
  cr_assert_eq(coap_site_add_resource_path(w.site, "own", res), 0);
  coap_resource_unref(res);

  cr_assert_eq(uv_udp_init(&w.loop, &w.peer), 0);
  struct sockaddr_in6 any = {.sin6_family = AF_INET6,
                             .sin6_addr = IN6ADDR_LOOPBACK_INIT};
  cr_assert_eq(uv_udp_bind(&w.peer, (const struct sockaddr *)&any, 0), 0);
  int len = sizeof any;
  uv_udp_getsockname(&w.peer, (struct sockaddr *)&any, &len);
  snprintf(w.peer_uri, sizeof w.peer_uri, "coap://[::1]:%u/x",
           ntohs(any.sin6_port));
  uv_udp_recv_start(&w.peer, peer_alloc, peer_recv);
}

/* Sends the request the cell's kind needs, with the monitor. */
static void start_request(const char *uri, bool observe) {
  coap_request_params params;
  coap_request_params_default(&params);
  params.monitor = &monitor;
  cr_assert_eq(
      coap_context_request(w.client, message_to(uri, observe), &params, &w.req),
      0);
  cr_assert_eq(coap_future_add_done_callback(coap_request_response(w.req),
                                             on_future, NULL),
               0);
  if (observe) {
    w.obs = coap_observation_ref(coap_request_observation(w.req));
    cr_assert_not_null(w.obs);
    cr_assert_eq(
        coap_observation_register_callback(w.obs, on_obs_callback, NULL), 0);
    cr_assert_eq(coap_observation_register_errback(w.obs, on_obs_errback, NULL),
                 0);
  }
}

static void wait_first_response(void) {
  coap_future *f = coap_request_response(w.req);
  bool expired = false;
  uv_timer_t limit;
  uv_timer_init(&w.loop, &limit);
  limit.data = &expired;
  uv_timer_start(&limit, on_limit, 2000, 0);
  while (!coap_future_done(f) && !expired && w.fired == 0)
    uv_run(&w.loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&limit, NULL);
  uv_run(&w.loop, UV_RUN_NOWAIT);
}

static void trigger(void) {
  char uri[96];
  switch (w.k) {
  case K_FUTURE:
  case K_ENQUEUED:
  case K_SENT:
  case K_RESPONSE:
    snprintf(uri, sizeof uri, "%s/r", w.base);
    start_request(uri, false);
    break;
  case K_RETRANSMITTED:
  case K_TIMEOUT:
    start_request(w.peer_uri, false);
    break;
  case K_RST:
    w.peer_rst = true;
    start_request(w.peer_uri, false);
    break;
  case K_CANCELLED:
    start_request(w.peer_uri, false);
    coap_request_cancel(w.req);
    break;
  case K_RENDER:
    snprintf(uri, sizeof uri, "%s/render", w.base);
    start_request(uri, false);
    break;
  case K_COUNT:
  case K_OBS_CALLBACK:
  case K_OBS_ERRBACK:
    snprintf(uri, sizeof uri, "%s/obs", w.base);
    start_request(uri, true);
    if (w.k == K_COUNT)
      break;
    wait_first_response();
    cr_assert(coap_observation_active(w.obs), "registered");
    if (w.k == K_OBS_CALLBACK) {
      coap_observable_resource_updated_state(w.observable, NULL);
    } else {
      coap_message gone;
      coap_message_init(&gone);
      gone.code = COAP_CODE_NOT_FOUND;
      coap_observable_resource_updated_state(w.observable, &gone);
      coap_message_clear(&gone);
    }
    break;
  case K_SERVER_CANCEL:
  case K_ADD_OBSERVATION:
    snprintf(uri, sizeof uri, "%s/own", w.base);
    start_request(uri, true);
    if (w.k == K_ADD_OBSERVATION)
      break;
    wait_first_response();
    cr_assert_not_null(w.server_obs, "accepted");
    /* RFC 7641 §3.6: the client deregisters; the server's callback
     * fires. */
    coap_observation_cancel(w.obs);
    break;
  }
}

static void world_finish(void) {
  /* What is still running ends with the contexts. */
  if (!w.client_down)
    shutdown_ctx(w.client);
  if (!w.server_down)
    shutdown_ctx(w.server);
  uv_close((uv_handle_t *)&w.peer, NULL);
  uv_run(&w.loop, UV_RUN_DEFAULT);
  cr_assert_null(w.server, "the server context finished shutting down");
  cr_assert_null(w.client, "the client context finished shutting down");
  if (w.acted && w.a == A_NEW_REQUEST && w.started != NULL) {
    coap_future *f = coap_request_response(w.started);
    cr_assert(coap_future_done(f), "the request the callback made settled");
    coap_request_unref(w.started);
  } else if (w.acted && w.a == A_NEW_REQUEST) {
    cr_assert_lt(w.started_rc, 0, "refused, then, and said why");
  }
  if (w.obs != NULL)
    coap_observation_unref(w.obs);
  if (w.req != NULL)
    coap_request_unref(w.req);
  if (w.site != NULL)
    coap_site_unref(w.site);
  uv_run(&w.loop, UV_RUN_DEFAULT);
  cr_assert_eq(uv_loop_close(&w.loop), 0, "nothing left on the loop");
}

static void cell(kind k, action a) {
  world_start(k, a);
  trigger();
  run_until_fired(3000);
  cr_assert_gt(w.fired, 0, "the %s callback fired (action %s)", kind_names[k],
               action_names[a]);
  cr_assert(w.acted);
  world_finish();
}

/* A row per callback kind, a test per cell, so a failing cell is named. */
#define ROW(name, k)                                                           \
  COAP_TEST(callbacks, name##_shutdown) {                                      \
    cell(k, A_SHUTDOWN);                                                       \
  }                                                                            \
  COAP_TEST(callbacks, name##_drop) {                                          \
    cell(k, A_DROP);                                                           \
  }                                                                            \
  COAP_TEST(callbacks, name##_new_request) {                                   \
    cell(k, A_NEW_REQUEST);                                                    \
  }                                                                            \
  COAP_TEST(callbacks, name##_free) {                                          \
    cell(k, A_FREE);                                                           \
  }

ROW(future, K_FUTURE)
ROW(monitor_enqueued, K_ENQUEUED)
ROW(monitor_sent, K_SENT)
ROW(monitor_retransmitted, K_RETRANSMITTED)
ROW(monitor_timeout, K_TIMEOUT)
ROW(monitor_rst, K_RST)
ROW(monitor_cancelled, K_CANCELLED)
ROW(monitor_response, K_RESPONSE)
ROW(observation_callback, K_OBS_CALLBACK)
ROW(observation_errback, K_OBS_ERRBACK)
ROW(observation_count, K_COUNT)
ROW(server_observation_cancel, K_SERVER_CANCEL)
ROW(render, K_RENDER)
ROW(add_observation, K_ADD_OBSERVATION)

/* The defects the rule closes, each as its reviewers described it. */

/* A callback never runs inside the call that caused it. */
COAP_TEST(callbacks, deregister_returns_before_its_callback) {
  world_start(K_SERVER_CANCEL, A_DROP);
  char uri[96];
  snprintf(uri, sizeof uri, "%s/own", w.base);
  w.k = K_RENDER; /* nothing on the way acts */
  start_request(uri, true);
  wait_first_response();
  cr_assert_not_null(w.server_obs);
  coap_server_observation *o = w.server_obs;
  coap_server_observation_deregister(o, COAP_ECANCELED);
  cr_assert_not_null(w.server_obs, "the cancellation callback has not run");
  uv_run(&w.loop, UV_RUN_NOWAIT);
  cr_assert_null(w.server_obs, "it ran from the loop");
  world_finish();
}

/* Once shutdown has begun, a new request fails at once. */
COAP_TEST(callbacks, request_after_shutdown_began_fails_at_once) {
  world_start(K_FUTURE, A_NEW_REQUEST);
  char uri[96];
  snprintf(uri, sizeof uri, "%s/r", w.base);
  w.client_down = true;
  coap_context_shutdown(w.client, on_shutdown_done, NULL);
  coap_request *req = NULL;
  cr_assert_eq(
      coap_context_request(w.client, message_to(uri, false), NULL, &req),
      COAP_ESHUTDOWN);
  cr_assert_null(req);
  world_finish();
}

/* An errback run because of shutdown still finds the context, and its new
 * request is refused with COAP_ESHUTDOWN rather than accepted and lost. */
static int errback_rc;
static void errback_requests(coap_observation *obs, int err,
                             const coap_message *resp, void *data) {
  (void)obs;
  (void)resp;
  (void)data;
  cr_assert_eq(err, COAP_ESHUTDOWN);
  char uri[96];
  snprintf(uri, sizeof uri, "%s/r", w.base);
  coap_request *req = NULL;
  errback_rc =
      coap_context_request(w.client, message_to(uri, false), NULL, &req);
  cr_assert_null(req);
}

COAP_TEST(callbacks, errback_during_shutdown_cannot_start_requests) {
  world_start(K_FUTURE, A_NEW_REQUEST);
  char uri[96];
  snprintf(uri, sizeof uri, "%s/obs", w.base);
  w.k = K_RENDER; /* nothing on the client side acts */
  start_request(uri, true);
  wait_first_response();
  cr_assert(coap_observation_active(w.obs));
  cr_assert_eq(coap_observation_register_errback(w.obs, errback_requests, NULL),
               0);
  errback_rc = 0;
  shutdown_ctx(w.client);
  RUN_UNTIL(w.client == NULL, 5000);
  cr_assert_eq(errback_rc, COAP_ESHUTDOWN);
  world_finish();
}

/* The reviewers' first program: the application keeps only the response
 * future, and the monitor's timeout callback shuts the context down. */
static coap_future *only_future;
static void timeout_shuts_down(void *data) {
  (void)data;
  w.fired++;
  shutdown_ctx(w.client);
}

COAP_TEST(callbacks, timeout_monitor_shuts_down_holding_only_the_future) {
  world_start(K_FUTURE, A_SHUTDOWN);
  w.k = K_RENDER;
  coap_exchange_monitor m = {.timeout = timeout_shuts_down};
  coap_request_params params;
  coap_request_params_default(&params);
  params.monitor = &m;
  coap_request *req;
  cr_assert_eq(coap_context_request(w.client, message_to(w.peer_uri, false),
                                    &params, &req),
               0);
  only_future = coap_future_ref(coap_request_response(req));
  coap_request_unref(req);
  run_until_fired(3000);
  cr_assert_eq(w.fired, 1);
  cr_assert_eq(coap_future_error(only_future), COAP_ETIMEDOUT);
  coap_future_unref(only_future);
  world_finish();
}

/* The second: a render future fails, the observation ends, and the count
 * callback (at 0) shuts the server down while the responder answers. */
static coap_future *slow_render;
static coap_message *slow_request;
static int failing_get(coap_resource *res, coap_message *req,
                       coap_message *resp, coap_future **later) {
  (void)res;
  (void)resp;
  slow_request = req;
  cr_assert_eq(coap_future_new(&w.loop, later), 0);
  slow_render = coap_future_ref(*later);
  return 0;
}

static void count_shuts_down(coap_resource *res, size_t n) {
  (void)res;
  if (n == 0) {
    w.fired++;
    shutdown_ctx(w.server);
  }
}

static const coap_resource_methods failing_methods = {.render_get =
                                                          failing_get};

COAP_TEST(callbacks, count_callback_shuts_down_after_render_fails) {
  world_start(K_FUTURE, A_SHUTDOWN);
  w.k = K_RENDER;
  coap_resource *res;
  cr_assert_eq(coap_observable_resource_new_methods(
                   &failing_methods, count_shuts_down, NULL, &res),
               0);
  cr_assert_eq(coap_site_add_resource_path(w.site, "failing", res), 0);
  coap_resource_unref(res);
  char uri[96];
  snprintf(uri, sizeof uri, "%s/failing", w.base);
  slow_render = NULL;
  start_request(uri, true);
  RUN_UNTIL(slow_render != NULL, 5000);
  coap_future_fail(slow_render, COAP_EINTERNAL_SERVER_ERROR, NULL, NULL);
  coap_future_unref(slow_render);
  run_until_fired(3000);
  cr_assert_eq(w.fired, 1);
  world_finish();
}

/* The fourth: an observer deregisters while its notification is still
 * being rendered; the request the render reads stays as it was until the
 * render's future completes (coap_render_fn). */
static int slow_renders;
static int slow_get(coap_resource *res, coap_message *req, coap_message *resp,
                    coap_future **later) {
  (void)res;
  uint32_t observe;
  if (slow_renders++ != 1) { /* all but the first notification at once */
    coap_message_set_payload_string(resp, "at once");
    return 0;
  }
  cr_assert_eq(coap_options_get_observe(&req->opt, &observe), 0);
  slow_request = req;
  cr_assert_eq(coap_future_new(&w.loop, later), 0);
  slow_render = coap_future_ref(*later);
  return 0;
}

static const coap_resource_methods slow_methods = {.render_get = slow_get};

static void request_still_intact(void) {
  char path[32];
  cr_assert_gt(coap_options_get_string(&slow_request->opt, COAP_OPT_URI_PATH,
                                       path, sizeof path),
               0);
  cr_assert_str_eq(path, "slow", "the render's request is intact");
}

static void deregister_during_render(bool shutdown) {
  world_start(K_FUTURE, A_SHUTDOWN);
  w.k = K_RENDER;
  coap_resource *res;
  cr_assert_eq(
      coap_observable_resource_new_methods(&slow_methods, NULL, NULL, &res), 0);
  cr_assert_eq(coap_site_add_resource_path(w.site, "slow", res), 0);
  char uri[96];
  snprintf(uri, sizeof uri, "%s/slow", w.base);
  slow_renders = 0;
  slow_render = NULL;
  start_request(uri, true);
  wait_first_response();
  cr_assert(coap_observation_active(w.obs));
  coap_observable_resource_updated_state(res, NULL);
  cr_assert_not_null(slow_render, "the notification is being rendered");
  if (shutdown) {
    shutdown_ctx(w.server);
  } else {
    coap_observation_cancel(w.obs);
    RUN_UNTIL(coap_observable_resource_observation_count(res) == 0, 5000);
  }
  /* Another registration would reuse a freed record: make one. */
  coap_request *other;
  if (!shutdown) {
    cr_assert_eq(
        coap_context_request(w.client, message_to(uri, true), NULL, &other), 0);
    for (int i = 0; i < 20; i++)
      uv_run(&w.loop, UV_RUN_NOWAIT);
  }
  request_still_intact();
  if (shutdown) {
    /* Shutdown cancels the render from the loop. */
    RUN_UNTIL(coap_future_done(slow_render), 5000);
    cr_assert(coap_future_cancelled(slow_render));
  } else {
    coap_message *done;
    cr_assert_eq(coap_message_new(&done), 0);
    coap_future_resolve(slow_render, done,
                        (coap_future_result_free_cb)coap_message_free);
    coap_request_unref(other);
  }
  coap_future_unref(slow_render);
  coap_resource_unref(res);
  world_finish();
}

COAP_TEST(callbacks, observer_deregisters_while_notification_renders) {
  deregister_during_render(false);
}

COAP_TEST(callbacks, shutdown_while_notification_renders) {
  deregister_during_render(true);
}
