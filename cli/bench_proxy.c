/*
 * bench-proxy: requests per second through the library's forward proxy
 * against the same GET sent directly, 64 outstanding (configurable), in
 * one run on one loop; then the memory a pooled observation costs.  A
 * program, not a test: it prints figures and their ratio.
 *
 * Usage: bench-proxy [-n OUTSTANDING] [-t SECONDS] [-o OBSERVERS]
 *
 * Everything runs in this process over loopback: an origin server, the
 * proxy (a server context and its outgoing context) and the client, so
 * the ratio is what the extra hop costs on one core.
 */
#include <aiocoap/aiocoap.h>

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Live bytes the library holds, through its allocator hook. */
static long long live_bytes;

static void *count_malloc(size_t n) {
  void *p = malloc(n);
  if (p != NULL)
    live_bytes += (long long)malloc_usable_size(p);
  return p;
}
static void *count_calloc(size_t c, size_t n) {
  void *p = calloc(c, n);
  if (p != NULL)
    live_bytes += (long long)malloc_usable_size(p);
  return p;
}
static void *count_realloc(void *old, size_t n) {
  long long before = old != NULL ? (long long)malloc_usable_size(old) : 0;
  void *p = realloc(old, n);
  if (p != NULL)
    live_bytes += (long long)malloc_usable_size(p) - before;
  return p;
}
static void count_free(void *p) {
  if (p != NULL)
    live_bytes -= (long long)malloc_usable_size(p);
  free(p);
}

typedef struct run {
  uv_loop_t *loop;
  coap_context *client;
  char uri[128];
  bool via_proxy;
  char proxy_base[96];
  uint64_t deadline_ns;
  uint64_t done, failed;
  unsigned outstanding;
} run;

static void issue(run *r);

typedef struct pending {
  run *r;
  coap_request *req;
} pending;

static void on_response(coap_future *f, void *data) {
  pending *p = data;
  run *r = p->r;
  coap_request_unref(p->req);
  free(p);
  const coap_message *m = coap_future_result(f);
  if (coap_future_error(f) == 0 && m != NULL && m->code == COAP_CODE_CONTENT)
    r->done++;
  else
    r->failed++;
  r->outstanding--;
  if (uv_hrtime() < r->deadline_ns)
    issue(r);
}

static void issue(run *r) {
  coap_message *msg;
  if (coap_message_new(&msg) < 0)
    abort();
  msg->code = COAP_CODE_GET;
  if (r->via_proxy) {
    coap_message_set_request_uri(msg, r->proxy_base, true);
    coap_options_set_string(&msg->opt, COAP_OPT_PROXY_URI, r->uri);
  } else {
    coap_message_set_request_uri(msg, r->uri, true);
  }
  pending *p = malloc(sizeof *p);
  if (p == NULL || coap_context_request(r->client, msg, NULL, &p->req) < 0)
    abort();
  p->r = r;
  r->outstanding++;
  /* The request is kept until its response came: its last reference
   * would take the callback with it. */
  coap_future_add_done_callback(coap_request_response(p->req), on_response, p);
}

static double measure(run *r, unsigned n, double seconds) {
  r->done = r->failed = 0;
  uint64_t start = uv_hrtime();
  r->deadline_ns = start + (uint64_t)(seconds * 1e9);
  for (unsigned i = 0; i < n; i++)
    issue(r);
  while (r->outstanding > 0)
    uv_run(r->loop, UV_RUN_ONCE);
  double elapsed = (double)(uv_hrtime() - start) / 1e9;
  return (double)r->done / elapsed;
}

static int render_hello(coap_resource *res, coap_message *req,
                        coap_message *resp, coap_future **later) {
  (void)res;
  (void)req;
  (void)later;
  return coap_message_set_payload_string(resp, "hello world");
}
static const coap_resource_methods hello = {.render_get = render_hello};

static void hostinfo(coap_context *ctx, char *buf, size_t cap) {
  struct sockaddr_in6 a;
  coap_context_local_address(ctx, &a);
  coap_remote r;
  memset(&r, 0, sizeof r);
  r.addr = a;
  coap_remote_hostinfo(&r, buf, cap);
}

static unsigned notified;
static void on_note(coap_observation *o, const coap_message *m, void *d) {
  (void)o;
  (void)m;
  (void)d;
  notified++;
}

/* Bytes per observation held by everything in the process, for n
 * observers of the origin's resource at uri (through the proxy or not). */
static double observe_cost(run *r, coap_resource *res, coap_proxy *proxy,
                           unsigned n, bool via_proxy) {
  coap_request **reqs = calloc(n, sizeof *reqs);
  long long before = live_bytes;
  for (unsigned i = 0; i < n; i++) {
    coap_message *msg;
    coap_message_new(&msg);
    msg->code = COAP_CODE_GET;
    if (via_proxy) {
      coap_message_set_request_uri(msg, r->proxy_base, true);
      coap_options_set_string(&msg->opt, COAP_OPT_PROXY_URI, r->uri);
    } else {
      coap_message_set_request_uri(msg, r->uri, true);
    }
    coap_options_set_observe(&msg->opt, 0);
    if (coap_context_request(r->client, msg, NULL, &reqs[i]) < 0)
      abort();
    coap_observation_register_callback(coap_request_observation(reqs[i]),
                                       on_note, NULL);
    while (!coap_future_done(coap_request_response(reqs[i])))
      uv_run(r->loop, UV_RUN_ONCE);
  }
  for (int spin = 0; spin < 20; spin++)
    uv_run(r->loop, UV_RUN_NOWAIT);
  double per = (double)(live_bytes - before) / n;
  notified = 0;
  coap_observable_resource_updated_state(res, NULL);
  uint64_t until = uv_hrtime() + 3000000000ull;
  while (notified < n && uv_hrtime() < until)
    uv_run(r->loop, UV_RUN_NOWAIT);
  printf("  %u observers %s: %.0f bytes each (client and server sides "
         "together), %u of %u notified, %zu upstream observation(s) at the "
         "proxy\n",
         n, via_proxy ? "through the pooled proxy" : "directly", per, notified,
         n, coap_proxy_pooled_observation_count(proxy));
  for (unsigned i = 0; i < n; i++) {
    coap_observation_cancel(coap_request_observation(reqs[i]));
    coap_request_unref(reqs[i]);
  }
  for (int spin = 0; spin < 200; spin++)
    uv_run(r->loop, UV_RUN_NOWAIT);
  free(reqs);
  return per;
}

static void on_closed(coap_context *c, void *d) {
  (void)c;
  (void)d;
}

int main(int argc, char **argv) {
  unsigned n = 64, observers = 1000;
  double seconds = 3;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
      n = (unsigned)atoi(argv[++i]);
    else if (strcmp(argv[i], "-t") == 0 && i + 1 < argc)
      seconds = atof(argv[++i]);
    else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
      observers = (unsigned)atoi(argv[++i]);
    else {
      fprintf(stderr, "usage: %s [-n OUTSTANDING] [-t SECONDS] [-o N]\n",
              argv[0]);
      return 2;
    }
  }
  if (n == 0 || observers == 0)
    return 2;
  coap_replace_allocator(count_malloc, count_realloc, count_calloc, count_free);
  run r = {.loop = uv_default_loop()};
  coap_context_config config;
  coap_context_config_default(&config);
  config.transmission.nstart = n + observers;
  config.max_outgoing_exchanges = (n + observers) * 4 + 64;
  config.max_outgoing_per_peer = 0;
  config.max_observers_per_peer = 0;
  config.mid_tracking = false; /* as bench-requests: one peer, many MIDs */
  coap_site *origin_site, *proxy_site;
  coap_context *origin, *pserver, *pout;
  coap_resource *res;
  coap_site_new(&origin_site);
  coap_observable_resource_new_methods(&hello, NULL, NULL, &res);
  coap_site_add_resource_path(origin_site, "hello", res);
  coap_site_new(&proxy_site);
  if (coap_context_create_server_context(r.loop, origin_site, "[::1]:0",
                                         &config, &origin) < 0 ||
      coap_context_create_server_context(r.loop, proxy_site, "[::1]:0", &config,
                                         &pserver) < 0 ||
      coap_context_create_client_context(r.loop, &config, &pout) < 0 ||
      coap_context_create_client_context(r.loop, &config, &r.client) < 0)
    return 1;
  coap_proxy *proxy;
  coap_forward_proxy_with_pooled_observations_new(pout, &proxy);
  coap_proxy_serve(proxy, proxy_site);
  /* The same forward proxy with the RFC 7252 §5.6 cache on, behind a
   * server context of its own: /hello's answers are fresh for the default
   * 60 s, so after the first GET the origin is not asked again. */
  coap_site *cached_site;
  coap_context *cserver;
  coap_proxy *cached;
  coap_proxy_config pc;
  coap_proxy_config_default(&pc);
  pc.kind = COAP_PROXY_FORWARD;
  pc.cache_entries = 1024;
  coap_site_new(&cached_site);
  if (coap_context_create_server_context(r.loop, cached_site, "[::1]:0",
                                         &config, &cserver) < 0 ||
      coap_proxy_new(pout, &pc, &cached) < 0 ||
      coap_proxy_serve(cached, cached_site) < 0)
    return 1;
  char where[80];
  hostinfo(origin, where, sizeof where);
  snprintf(r.uri, sizeof r.uri, "coap://%s/hello", where);
  hostinfo(pserver, where, sizeof where);
  snprintf(r.proxy_base, sizeof r.proxy_base, "coap://%s", where);

  r.via_proxy = false;
  double direct = measure(&r, n, seconds);
  uint64_t direct_failed = r.failed;
  r.via_proxy = true;
  double proxied = measure(&r, n, seconds);
  uint64_t proxied_failed = r.failed;
  char plain_base[96];
  memcpy(plain_base, r.proxy_base, sizeof plain_base);
  hostinfo(cserver, where, sizeof where);
  snprintf(r.proxy_base, sizeof r.proxy_base, "coap://%s", where);
  double cached_rate = measure(&r, n, seconds);
  uint64_t cached_failed = r.failed;
  memcpy(r.proxy_base, plain_base, sizeof plain_base);
  printf("bench-proxy: %u outstanding GETs, %.1f s each\n", n, seconds);
  printf("  direct:           %10.0f requests/s (%llu failed)\n", direct,
         (unsigned long long)direct_failed);
  printf("  through proxy, cache off: %10.0f requests/s (%llu failed)\n",
         proxied, (unsigned long long)proxied_failed);
  printf("  through proxy, cache on:  %10.0f requests/s (%llu failed; %zu "
         "cached)\n",
         cached_rate, (unsigned long long)cached_failed,
         coap_proxy_cached_response_count(cached));
  printf("  ratio proxy/direct: %.2f cache off, %.2f cache on\n",
         direct > 0 ? proxied / direct : 0,
         direct > 0 ? cached_rate / direct : 0);

  double d = observe_cost(&r, res, proxy, observers, false);
  double p = observe_cost(&r, res, proxy, observers, true);
  /* Directly: the client's observation and the origin's observer.
   * Pooled: the client's observation and the proxy's observer, plus the
   * proxy's one upstream observation shared by all. */
  printf("  per client observing through the pooled proxy: %.0f bytes, "
         "against %.0f directly (difference %+.0f)\n",
         p, d, p - d);

  coap_context_shutdown(r.client, on_closed, NULL);
  coap_context_shutdown(pserver, on_closed, NULL);
  coap_context_shutdown(cserver, on_closed, NULL);
  coap_context_shutdown(pout, on_closed, NULL);
  coap_context_shutdown(origin, on_closed, NULL);
  uv_run(r.loop, UV_RUN_DEFAULT);
  coap_proxy_unref(proxy);
  coap_proxy_unref(cached);
  coap_site_unref(cached_site);
  coap_resource_unref(res);
  coap_site_unref(origin_site);
  coap_site_unref(proxy_site);
  uv_run(r.loop, UV_RUN_DEFAULT);
  return 0;
}
