/*
 * bench-requests: keeps N requests outstanding against one URI for a fixed
 * time and prints requests per second and latency percentiles.  A program,
 * not a test: run it against aiocoap-server and coap-server-notls on the
 * same machine to compare them.
 *
 * Usage: bench-requests [-n OUTSTANDING] [-t SECONDS] [--non] [--raw]
 *                       [-k KEY -u IDENTITY] [--handshakes N] URI
 *   --raw   send each GET as it is, without blockwise handling: a large
 *           resource answers with its first block only (what one block
 *           costs the server)
 *   -k, -u  a DTLS PSK (as libcoap's coap-client takes it) for a coaps URI
 *   --handshakes N  first N times: a fresh context, one request, shut down
 *           (what a DTLS handshake plus one exchange takes), then the run
 *
 * The first response's latency is printed apart: for coaps it includes the
 * DTLS handshake.
 *
 * Message-ID tracking (RFC 7252 §4.4) is off here: it allows one peer
 * 65,536 messages per EXCHANGE_LIFETIME (about 265 a second), and a
 * benchmark sends that many in well under a second.  Servers that keep
 * their deduplication entries for the whole lifetime would take reused
 * MIDs for duplicates; aiocoap-server and coap-server-notls keep far
 * fewer.
 */
#include <aiocoap/aiocoap.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct slot {
  struct bench *bench;
  coap_request *request;
  uint64_t started_ns;
} slot;

typedef struct bench {
  uv_loop_t *loop;
  coap_context *ctx;
  const char *uri;
  bool non;
  bool raw;
  bool stopping;
  uint64_t deadline_ns;
  uint64_t completed, failed;
  uint64_t in_window; /* completed before the deadline: the rate's count */
  uint32_t *latency_us;
  size_t latency_len, latency_cap;
  int last_error;
  coap_credentials *credentials; /* -k/-u, or NULL */
  uint64_t first_response_ns;   /* 0 until the first response */
} bench;

static void issue(slot *s);

static void on_response(coap_future *f, void *data) {
  slot *s = data;
  bench *b = s->bench;
  uint64_t now = uv_hrtime();
  if (b->first_response_ns == 0)
    b->first_response_ns = now;
  if (coap_future_error(f) == 0) {
    b->completed++;
    if (now < b->deadline_ns)
      b->in_window++;
    if (b->latency_len < b->latency_cap)
      b->latency_us[b->latency_len++] =
          (uint32_t)((now - s->started_ns) / 1000);
  } else {
    b->failed++;
    b->last_error = coap_future_error(f);
  }
  coap_request_unref(s->request);
  s->request = NULL;
  if (now < b->deadline_ns && !b->stopping)
    issue(s);
}

static void issue(slot *s) {
  bench *b = s->bench;
  coap_message *msg;
  if (coap_message_new(&msg) < 0)
    abort();
  msg->code = COAP_CODE_GET;
  if (b->non)
    msg->mtype = COAP_TYPE_NON;
  if (coap_message_set_request_uri(msg, b->uri, true) < 0) {
    fprintf(stderr, "bad URI %s\n", b->uri);
    exit(2);
  }
  s->started_ns = uv_hrtime();
  coap_request_params params;
  coap_request_params_default(&params);
  params.handle_blockwise = !b->raw;
  int rc = coap_context_request(b->ctx, msg, &params, &s->request);
  if (rc < 0) {
    fprintf(stderr, "request: %s\n", coap_strerror(rc));
    exit(2);
  }
  coap_future_add_done_callback(coap_request_response(s->request), on_response,
                                s);
}

/* One fresh context, one GET, shut down: the time to the response, in
 * microseconds (a coaps URI's includes the DTLS handshake). */
static uint64_t one_shot(bench *b, const coap_context_config *config) {
  coap_context *ctx;
  if (coap_context_create_client_context(b->loop, config, &ctx) < 0)
    exit(1);
  coap_message *msg;
  if (coap_message_new(&msg) < 0 ||
      coap_message_set_request_uri(msg, b->uri, true) < 0)
    exit(2);
  msg->code = COAP_CODE_GET;
  uint64_t t0 = uv_hrtime();
  coap_request *req;
  if (coap_context_request(ctx, msg, NULL, &req) < 0)
    exit(2);
  coap_future *f = coap_request_response(req);
  while (!coap_future_done(f))
    uv_run(b->loop, UV_RUN_ONCE);
  uint64_t us = (uv_hrtime() - t0) / 1000;
  if (coap_future_error(f) != 0) {
    const char *detail = coap_request_error_detail(req);
    fprintf(stderr, "handshake run: %s%s%s\n",
            coap_strerror(coap_future_error(f)), detail ? ": " : "",
            detail ? detail : "");
    exit(1);
  }
  coap_request_unref(req);
  coap_context_shutdown(ctx, NULL, NULL);
  uv_run(b->loop, UV_RUN_DEFAULT);
  return us;
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  unsigned outstanding = 1;
  unsigned handshakes = 0;
  double seconds = 5;
  const char *psk = NULL, *identity = NULL;
  bench b = {0};
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
      outstanding = (unsigned)atoi(argv[++i]);
    else if (strcmp(argv[i], "-t") == 0 && i + 1 < argc)
      seconds = atof(argv[++i]);
    else if (strcmp(argv[i], "--non") == 0)
      b.non = true;
    else if (strcmp(argv[i], "--raw") == 0)
      b.raw = true;
    else if (strcmp(argv[i], "-k") == 0 && i + 1 < argc)
      psk = argv[++i];
    else if (strcmp(argv[i], "-u") == 0 && i + 1 < argc)
      identity = argv[++i];
    else if (strcmp(argv[i], "--handshakes") == 0 && i + 1 < argc)
      handshakes = (unsigned)atoi(argv[++i]);
    else if (argv[i][0] != '-' && b.uri == NULL)
      b.uri = argv[i];
    else {
      fprintf(stderr,
              "usage: %s [-n N] [-t SECONDS] [--non] [--raw] [-k KEY -u ID] "
              "[--handshakes N] URI\n",
              argv[0]);
      return 2;
    }
  }
  if (b.uri == NULL || outstanding == 0)
    return 2;
  b.loop = uv_default_loop();
  coap_context_config config;
  coap_context_config_default(&config);
  /* N requests in flight to one server need NSTART >= N (RFC 7252 §4.7
   * lets an application configure it). */
  config.transmission.nstart = outstanding;
  config.max_outgoing_exchanges = outstanding * 4 + 64;
  config.max_outgoing_per_peer = 0; /* one peer is the point here */
  config.mid_tracking = false;      /* see the top of this file */
  if (psk != NULL) {
    coap_credential cred = {.psk = (const uint8_t *)psk,
                            .psk_len = strlen(psk),
                            .client_identity = (const uint8_t *)(identity ? identity : ""),
                            .client_identity_len = identity ? strlen(identity) : 0};
    if (coap_credentials_new(&b.credentials) < 0 ||
        coap_credentials_add(b.credentials, "coaps://*", &cred) < 0) {
      fprintf(stderr, "bad -k/-u\n");
      return 2;
    }
    config.client_credentials = b.credentials;
  }
  if (handshakes > 0) {
    uint64_t total = 0, worst = 0;
    for (unsigned i = 0; i < handshakes; i++) {
      uint64_t us = one_shot(&b, &config);
      total += us;
      worst = us > worst ? us : worst;
    }
    printf("%s: fresh context + first response, mean %llu us, worst %llu us "
           "over %u\n",
           b.uri, (unsigned long long)(total / handshakes),
           (unsigned long long)worst, handshakes);
  }
  if (coap_context_create_client_context(b.loop, &config, &b.ctx) < 0)
    return 1;
  b.latency_cap = 20u * 1000 * 1000;
  b.latency_us = malloc(b.latency_cap * sizeof *b.latency_us);
  slot *slots = calloc(outstanding, sizeof *slots);
  uint64_t start = uv_hrtime();
  b.deadline_ns = start + (uint64_t)(seconds * 1e9);
  for (unsigned i = 0; i < outstanding; i++) {
    slots[i].bench = &b;
    issue(&slots[i]);
  }
  while (uv_run(b.loop, UV_RUN_ONCE) != 0) {
    bool any = false;
    for (unsigned i = 0; i < outstanding && !any; i++)
      any = slots[i].request != NULL;
    if (!any)
      break;
  }
  /* The rate counts responses within the timed window only: requests
   * still out at the deadline drain afterwards (a lost one after
   * retransmissions), which says nothing of the steady rate. */
  double elapsed = (double)(uv_hrtime() - start) / 1e9;
  double window = (double)(b.deadline_ns - start) / 1e9;
  coap_context_stats stats;
  coap_context_get_stats(b.ctx, &stats);
  qsort(b.latency_us, b.latency_len, sizeof *b.latency_us, cmp_u32);
  uint32_t p50 = b.latency_len ? b.latency_us[b.latency_len / 2] : 0;
  uint32_t p99 = b.latency_len ? b.latency_us[b.latency_len * 99 / 100] : 0;
  printf("%s N=%u%s: %.0f req/s, p50 %u us, p99 %u us (%llu ok, %llu "
         "failed%s%s, %llu retransmitted, %.1f s; client kernel_drops "
         "%llu)\n",
         b.uri, outstanding, b.non ? " NON" : "", (double)b.in_window / window,
         p50, p99, (unsigned long long)b.completed,
         (unsigned long long)b.failed, b.failed ? ": " : "",
         b.failed ? coap_strerror(b.last_error) : "",
         (unsigned long long)stats.retransmissions, elapsed,
         (unsigned long long)stats.kernel_drops);
  printf("first response after %llu us\n",
         (unsigned long long)((b.first_response_ns - start) / 1000));
  coap_context_shutdown(b.ctx, NULL, NULL);
  uv_run(b.loop, UV_RUN_DEFAULT);
  free(slots);
  free(b.latency_us);
  coap_credentials_unref(b.credentials);
  return b.failed ? 1 : 0;
}
