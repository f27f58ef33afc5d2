/*
 * bench-observe: memory a server spends per observation (RFC 7641).
 *
 * Starts aiocoap-server as a separate process on a free loopback port (or
 * uses a running server: a URI and its PID), warms it up with plain GETs so
 * that its per-request state (deduplication cache, responder pool) has
 * reached its steady size, reads its VmRSS from /proc/PID/status, registers
 * N observations of /time from one client context (NSTART raised, at most
 * WINDOW registrations in flight), lets a couple of notification rounds go
 * out, reads VmRSS again and prints (after - before) / N.
 *
 * Usage: bench-observe PATH/TO/aiocoap-server [N [WARMUP]]
 *        bench-observe coap://[::1]:PORT/time PID [N [WARMUP]]
 * (a server started here allows N observers; one given by URI must have
 * been started with --max-observers N or more)
 * Defaults: N = 10000, WARMUP = 20000.  Prints figures; never fails a test.
 */
#include <aiocoap/aiocoap.h>

#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define WINDOW 256

typedef struct bench {
  uv_loop_t loop;
  coap_context *ctx;
  const char *uri;
  bool observe;
  long total, issued, completed, failed, observing;
  coap_request **requests; /* kept while observing */
} bench;

static long vm_rss_kib(pid_t pid) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return -1;
  long kib = -1;
  while (fgets(line, sizeof line, f) != NULL)
    if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
      break;
  fclose(f);
  return kib;
}

static uint16_t free_port(void) {
  int fd = socket(AF_INET6, SOCK_DGRAM, 0);
  struct sockaddr_in6 a = {.sin6_family = AF_INET6,
                           .sin6_addr = IN6ADDR_LOOPBACK_INIT};
  socklen_t len = sizeof a;
  bind(fd, (struct sockaddr *)&a, sizeof a);
  getsockname(fd, (struct sockaddr *)&a, &len);
  close(fd);
  return ntohs(a.sin6_port);
}

static void issue(bench *b);

static void on_response(coap_future *f, void *data) {
  bench *b = data;
  b->completed++;
  if (coap_future_error(f) != 0)
    b->failed++;
  coap_future_unref(f);
  issue(b);
}

/* Keeps WINDOW requests in flight until total have been issued. */
static void issue(bench *b) {
  while (b->issued < b->total && b->issued - b->completed < WINDOW) {
    coap_message *msg;
    if (coap_message_new(&msg) < 0)
      return;
    msg->code = COAP_CODE_GET;
    coap_message_set_request_uri(msg, b->uri, true);
    if (b->observe)
      coap_options_set_observe(&msg->opt, 0);
    coap_request *req;
    if (coap_context_request(b->ctx, msg, NULL, &req) < 0) {
      b->failed++;
      b->completed++;
      b->issued++;
      continue;
    }
    /* Our own reference: the request may go before the callback runs. */
    coap_future *f = coap_future_ref(coap_request_response(req));
    coap_future_add_done_callback(f, on_response, b);
    if (b->observe)
      b->requests[b->issued] = req;
    else
      coap_request_unref(req);
    b->issued++;
  }
}

static void run_batch(bench *b, long n, bool observe) {
  b->total = n;
  b->issued = b->completed = b->failed = 0;
  b->observe = observe;
  issue(b);
  while (b->completed < b->total)
    uv_run(&b->loop, UV_RUN_ONCE);
}

static void on_tick(uv_timer_t *t) {
  (void)t;
}

/* Runs the loop for ms of wall time (notifications keep arriving). */
static void run_for(bench *b, uint64_t ms) {
  uv_timer_t t;
  uv_timer_init(&b->loop, &t);
  uv_timer_start(&t, on_tick, ms, 0);
  while (uv_is_active((uv_handle_t *)&t))
    uv_run(&b->loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&b->loop, UV_RUN_NOWAIT);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr,
            "usage: %s PATH/TO/aiocoap-server [N [WARMUP]]\n"
            "       %s coap://HOST:PORT/time PID [N [WARMUP]]\n",
            argv[0], argv[0]);
    return 2;
  }
  char uri[256];
  pid_t pid;
  bool spawned = strncmp(argv[1], "coap://", 7) != 0;
  int arg = spawned ? 2 : 3;
  long n = argc > arg ? atol(argv[arg]) : 10000;
  long warmup = argc > arg + 1 ? atol(argv[arg + 1]) : 20000;
  if (spawned) {
    uint16_t port = free_port();
    char bind[64];
    snprintf(bind, sizeof bind, "[::1]:%u", port);
    snprintf(uri, sizeof uri, "coap://[::1]:%u/time", port);
    pid = fork();
    if (pid == 0) {
      freopen("/dev/null", "w", stderr);
      char limit[32];
      snprintf(limit, sizeof limit, "%ld", n);
      execl(argv[1], argv[1], "--bind", bind, "--max-observers", limit,
            (char *)NULL);
      _exit(127);
    }
  } else {
    if (argc < 3) {
      fprintf(stderr, "a URI needs the server's PID\n");
      return 2;
    }
    snprintf(uri, sizeof uri, "%s", argv[1]);
    pid = (pid_t)atol(argv[2]);
  }

  bench b = {.uri = uri};
  uv_loop_init(&b.loop);
  coap_context_config config;
  coap_context_config_default(&config);
  config.transmission.nstart = WINDOW; /* one peer, many at once */
  if (coap_context_create_client_context(&b.loop, &config, &b.ctx) < 0)
    return 1;
  b.requests = calloc((size_t)n, sizeof *b.requests);

  /* Wait for the server to answer. */
  for (int i = 0; i < 50; i++) {
    run_batch(&b, 1, false);
    if (b.failed == 0)
      break;
  }
  uint64_t warm_start = uv_hrtime();
  run_batch(&b, warmup, false);
  double warm_secs = (double)(uv_hrtime() - warm_start) / 1e9;
  run_for(&b, 200);
  long before = vm_rss_kib(pid);

  uint64_t start = uv_hrtime();
  run_batch(&b, n, true);
  double secs = (double)(uv_hrtime() - start) / 1e9;
  long observing = 0;
  for (long i = 0; i < n; i++) {
    coap_observation *obs = coap_request_observation(b.requests[i]);
    if (obs != NULL && coap_observation_active(obs))
      observing++;
  }
  /* /time notifies every second: let two rounds go out. */
  run_for(&b, 2500);
  long after = vm_rss_kib(pid);

  printf("server VmRSS before: %ld KiB (after %ld warm-up GETs in %.2f s)\n",
         before, warmup, warm_secs);
  printf("server VmRSS after %ld observations: %ld KiB (%ld active, %ld "
         "failed, registered in %.2f s)\n",
         n, after, observing, b.failed, secs);
  if (observing > 0)
    printf("memory per observation: %.0f bytes\n",
           (double)(after - before) * 1024.0 / (double)observing);

  for (long i = 0; i < n; i++)
    coap_request_unref(b.requests[i]);
  free(b.requests);
  coap_context_shutdown(b.ctx, NULL, NULL);
  uv_run(&b.loop, UV_RUN_DEFAULT);
  uv_loop_close(&b.loop);
  if (spawned) {
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
  }
  return 0;
}
