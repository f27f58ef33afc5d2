/*
 * The progress line of a long transfer: after a second, and only when
 * stderr is a terminal, "received 1.2 MiB of 2.0 MiB, 840.0 KiB/s" redrawn
 * four times a second and cleared at the end.
 */
#include "client.h"

#include <stdlib.h>

#define PROGRESS_DELAY_MS 1000
#define PROGRESS_INTERVAL_MS 250

struct client_progress {
  uv_timer_t timer;
  uint64_t started_ms;
  const char *what;
  uint64_t bytes;
  int64_t total;
  bool shown;
};

static void human(double n, char *buf, size_t cap) {
  static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  size_t u = 0;
  while (n >= 1024 && u + 1 < sizeof units / sizeof units[0]) {
    n /= 1024;
    u++;
  }
  snprintf(buf, cap, u == 0 ? "%.0f %s" : "%.1f %s", n, units[u]);
}

static void draw(uv_timer_t *timer) {
  client_progress *p = timer->data;
  uint64_t elapsed = uv_now(timer->loop) - p->started_ms;
  char done[32], total[32] = "", rate[32];
  human((double)p->bytes, done, sizeof done);
  if (p->total >= 0)
    human((double)p->total, total, sizeof total);
  human(elapsed ? (double)p->bytes * 1000.0 / (double)elapsed : 0, rate,
        sizeof rate);
  /* \r and erase-line: the line is redrawn in place. */
  fprintf(stderr, "\r\033[K%s %s%s%s, %s/s", p->what, done,
          p->total >= 0 ? " of " : "", total, rate);
  fflush(stderr);
  p->shown = true;
}

client_progress *client_progress_start(uv_loop_t *loop,
                                       const client_output *out) {
  if (!out->stderr_tty || out->verbosity < 0)
    return NULL;
  client_progress *p = calloc(1, sizeof *p);
  if (p == NULL)
    return NULL;
  p->total = -1;
  p->started_ms = uv_now(loop);
  uv_timer_init(loop, &p->timer);
  p->timer.data = p;
  uv_timer_start(&p->timer, draw, PROGRESS_DELAY_MS, PROGRESS_INTERVAL_MS);
  /* The progress line must not keep the loop alive. */
  uv_unref((uv_handle_t *)&p->timer);
  return p;
}

void client_progress_update(client_progress *p, const char *what,
                            uint64_t bytes, int64_t total) {
  if (p == NULL)
    return;
  p->what = what;
  p->bytes = bytes;
  if (total >= 0)
    p->total = total;
}

static void free_on_close(uv_handle_t *handle) {
  free(handle->data);
}

void client_progress_stop(client_progress *p) {
  if (p == NULL)
    return;
  if (p->shown) {
    fputs("\r\033[K", stderr);
    fflush(stderr);
  }
  uv_timer_stop(&p->timer);
  uv_close((uv_handle_t *)&p->timer, free_on_close);
}
