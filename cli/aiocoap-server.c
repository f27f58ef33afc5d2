/*
 * aiocoap-server: the example server, as aiocoap's server.py.
 * The resources are in example_site.c.
 *
 * Usage: aiocoap-server [--bind HOST:PORT] [--max-observers N]
 *   --bind           where to serve (default [::]:5683)
 *   --max-observers  observers per resource (default 1024)
 * Runs until SIGINT or SIGTERM, then shuts down cleanly.
 */
#include "example_site.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static coap_context *ctx;
static uv_signal_t sigint, sigterm;

static void on_shutdown(coap_context *c, void *data) {
  (void)c;
  (void)data;
  uv_close((uv_handle_t *)&sigint, NULL);
  uv_close((uv_handle_t *)&sigterm, NULL);
}

static void on_signal(uv_signal_t *handle, int signum) {
  (void)handle;
  fprintf(stderr, "aiocoap-server: signal %d, shutting down\n", signum);
  uv_signal_stop(&sigint);
  uv_signal_stop(&sigterm);
  coap_context_shutdown(ctx, on_shutdown, NULL);
}

static void on_log(coap_log_level level, const char *message, void *data) {
  (void)level;
  (void)data;
  fprintf(stderr, "aiocoap-server: %s\n", message);
}

int main(int argc, char **argv) {
  const char *bind = "[::]:5683";
  long max_observers = -1;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--bind") == 0 && i + 1 < argc) {
      bind = argv[++i];
    } else if (strcmp(argv[i], "--max-observers") == 0 && i + 1 < argc) {
      max_observers = strtol(argv[++i], NULL, 10);
    } else {
      fprintf(stderr, "usage: %s [--bind HOST:PORT] [--max-observers N]\n",
              argv[0]);
      return 2;
    }
  }
  uv_loop_t *loop = uv_default_loop();
  example_site *example;
  int rc = example_site_new(loop, &example);
  if (rc < 0) {
    fprintf(stderr, "aiocoap-server: %s\n", coap_strerror(rc));
    return 1;
  }
  coap_site *site = example_site_site(example);

  coap_context_config config;
  coap_context_config_default(&config);
  config.log = on_log;
  config.log_level = COAP_LOG_WARNING;
  if (max_observers >= 0) {
    config.max_observers_per_resource = (uint32_t)max_observers;
    if (config.max_observers < config.max_observers_per_resource)
      config.max_observers = config.max_observers_per_resource;
  }
  rc = coap_context_create_server_context(loop, site, bind, &config, &ctx);
  if (rc < 0) {
    fprintf(stderr, "aiocoap-server: cannot serve on %s: %s\n", bind,
            coap_strerror(rc));
    example_site_free(example);
    uv_run(loop, UV_RUN_DEFAULT);
    return 1;
  }
  uv_signal_init(loop, &sigint);
  uv_signal_init(loop, &sigterm);
  uv_signal_start(&sigint, on_signal, SIGINT);
  uv_signal_start(&sigterm, on_signal, SIGTERM);
  fprintf(stderr, "aiocoap-server: serving on %s\n", bind);
  uv_run(loop, UV_RUN_DEFAULT);
  example_site_free(example);
  uv_run(loop, UV_RUN_DEFAULT);
  rc = uv_loop_close(loop);
  return rc == 0 ? 0 : 1;
}
