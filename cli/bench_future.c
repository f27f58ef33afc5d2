/*
 * bench-future: what coap_future_new and coap_future_unref cost on a loop
 * with many other handles (finding the loop's scheduler must not walk
 * them).  A program that prints figures, not a test (STYLE.md, Tests).
 *
 * Usage: bench-future [handles] [futures]   (defaults 100000 and 1000000)
 */
#include <aiocoap/aiocoap.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv) {
  long handles = argc > 1 ? atol(argv[1]) : 100000;
  long futures = argc > 2 ? atol(argv[2]) : 1000000;
  if (handles < 0 || futures < 1) {
    fprintf(stderr, "usage: bench-future [handles] [futures]\n");
    return 2;
  }
  uv_loop_t loop;
  uv_loop_init(&loop);
  uv_timer_t *timers = calloc((size_t)handles, sizeof *timers);
  if (handles > 0 && timers == NULL)
    return 1;
  for (long i = 0; i < handles; i++)
    uv_timer_init(&loop, &timers[i]);
  /* One future held throughout, as a context's reference holds the
   * scheduler in a real program. */
  coap_future *held;
  if (coap_future_new(&loop, &held) < 0)
    return 1;
  uint64_t t0 = now_ns();
  for (long i = 0; i < futures; i++) {
    coap_future *f;
    if (coap_future_new(&loop, &f) < 0)
      return 1;
    coap_future_unref(f);
  }
  uint64_t t1 = now_ns();
  printf("coap_future_new + unref with %ld other handles: %.1f ns each "
         "(%ld futures)\n",
         handles, (double)(t1 - t0) / (double)futures, futures);
  coap_future_unref(held);
  for (long i = 0; i < handles; i++)
    uv_close((uv_handle_t *)&timers[i], NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  free(timers);
  return 0;
}
