/*
 * aiocoap-server: the example server, as aiocoap's server.py.
 * The resources are in example_site.c.
 *
 * Usage: aiocoap-server [--bind HOST:PORT] [--max-observers N]
 *                       [--amplification-factor N] [--echo]
 *   --bind           where to serve (default [::]:5683)
 *   --max-observers  observers per resource (default 1024)
 *   --amplification-factor  RFC 7252 §11.3 limit (default 3, 0: off)
 *   --echo           RFC 9175 §2.4 Echo for large first responses
 * Runs until SIGINT or SIGTERM, then shuts down cleanly.
 */
#include "cli_args.h"
#include "example_site.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static coap_context *ctx;
static uv_signal_t sigint, sigterm;

static void on_shutdown(coap_context *c, void *data) {
  (void)data;
  /* What the kernel did to the socket, for cli/bench-servers.sh. */
  coap_context_stats stats;
  coap_context_get_stats(c, &stats);
  fprintf(stderr,
          "aiocoap-server: %llu datagrams received, kernel_drops %llu, "
          "socket buffers granted: receive %llu, send %llu bytes\n",
          (unsigned long long)stats.datagrams_received,
          (unsigned long long)stats.kernel_drops,
          (unsigned long long)stats.socket_rcvbuf,
          (unsigned long long)stats.socket_sndbuf);
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

static const char usage_text[] =
    "usage: aiocoap-server [--bind HOST:PORT] [--max-observers N]\n"
    "                      [--amplification-factor N] [--echo]\n"
    "\n"
    "The example server (aiocoap's server.py): /.well-known/core, /time\n"
    "(observable), /other/block (GET and PUT, blockwise), /other/separate.\n"
    "\n"
    "  --bind HOST:PORT     where to serve (default [::]:5683; port 0 picks\n"
    "                       one, and the port bound is printed)\n"
    "  --max-observers N    observers per resource, 0..4294967295\n"
    "                       (default 1024; 0 serves /time without Observe)\n"
    "  --amplification-factor N  to a peer not yet validated, send at most\n"
    "                       N times its bytes beyond first responses\n"
    "                       (RFC 7252 §11.3; default 3, 0: no limit)\n"
    "  --echo               answer a large first response to an unvalidated\n"
    "                       peer with 4.01 and Echo (RFC 9175 §2.4)\n"
    "  --version            print the version and exit\n"
    "  -h, --help           this text\n"
    "\n"
    "Runs until SIGINT or SIGTERM, then shuts down cleanly.  Exit status:\n"
    "0 after a clean shutdown, 1 when it cannot serve, 2 on a usage error.\n";

static int usage_error(const char *fmt, const char *arg) {
  fprintf(stderr, "aiocoap-server: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n%s", usage_text);
  return 2;
}

int main(int argc, char **argv) {
  const char *bind = "[::]:5683";
  long long max_observers = -1;
  long long amplification_factor = -1;
  bool echo = false;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      fputs(usage_text, stdout);
      return 0;
    } else if (strcmp(a, "--version") == 0) {
      printf("aiocoap-server (aiocoap-c) %s\n", coap_version_string());
      return 0;
    } else if (strcmp(a, "--echo") == 0) {
      echo = true;
    } else if (strcmp(a, "--amplification-factor") == 0) {
      if (i + 1 >= argc)
        return usage_error("%s needs a value", a);
      const char *v = argv[++i];
      if (!cli_parse_number(v, 0, UINT32_MAX, &amplification_factor))
        return usage_error("--amplification-factor: not a number in "
                           "0..4294967295: %s",
                           v);
    } else if (strcmp(a, "--bind") == 0 || strcmp(a, "--max-observers") == 0) {
      if (i + 1 >= argc)
        return usage_error("%s needs a value", a);
      const char *v = argv[++i];
      if (strcmp(a, "--bind") == 0)
        bind = v;
      else if (!cli_parse_number(v, 0, UINT32_MAX, &max_observers))
        return usage_error("--max-observers: not a number in "
                           "0..4294967295: %s",
                           v);
    } else {
      return usage_error("unknown argument %s", a);
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
  if (amplification_factor >= 0)
    config.amplification_factor = (uint32_t)amplification_factor;
  config.echo_first_response = echo;
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
  struct sockaddr_in6 bound;
  char where[80];
  if (coap_context_local_address(ctx, &bound) == 0) {
    coap_remote r = {.addr = bound};
    if (coap_remote_hostinfo(&r, where, sizeof where) < 0)
      snprintf(where, sizeof where, "%s", bind);
  } else {
    snprintf(where, sizeof where, "%s", bind);
  }
  fprintf(stderr, "aiocoap-server: serving on %s\n", where);
  uv_run(loop, UV_RUN_DEFAULT);
  example_site_free(example);
  uv_run(loop, UV_RUN_DEFAULT);
  rc = uv_loop_close(loop);
  return rc == 0 ? 0 : 1;
}
