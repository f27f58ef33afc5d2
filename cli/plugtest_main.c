/*
 * aiocoap-plugtest-server: the ETSI CoAP#4 plugtest resource set
 * (plugtest.h) on one endpoint, until SIGINT or SIGTERM.
 */
#include "cli_args.h"
#include "plugtest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static coap_context *ctx;
static plugtest_site *site;
static uv_signal_t sigint, sigterm;

static const char usage_text[] =
    "usage: aiocoap-plugtest-server [--bind HOST:PORT] [--obs-period SECONDS]"
    " [-v]\n"
    "\n"
    "Serves the ETSI CoAP#4 plugtest resources (TD_COAP_CORE, TD_COAP_LINK,\n"
    "TD_COAP_BLOCK, TD_COAP_OBS): /test, /separate, /seg1/seg2/seg3, /query,\n"
    "/location-query, /multi-format, /validate, /create1, /large,\n"
    "/large-update, /large-create, /large-post, /obs, /obs-non, /obs-large,\n"
    "/obs-pumping, /link1, /link2, /link3, /path and /.well-known/core.\n"
    "\n"
    "  --bind HOST:PORT     where to serve (default [::]:5683; port 0 picks\n"
    "                       one); the address bound is printed on stderr\n"
    "  --obs-period SECONDS how often the observable resources change,\n"
    "                       1..86400 (default 5)\n"
    "  -v, --verbose        log what the library reports (repeat for debug)\n"
    "  --version            print the version and exit\n"
    "  -h, --help           this text\n"
    "\n"
    "Runs until SIGINT or SIGTERM, then shuts down cleanly.  Exit status:\n"
    "0 after a clean shutdown, 1 when it cannot serve, 2 on a usage error.\n";

static int usage_error(const char *fmt, const char *arg) {
  fprintf(stderr, "aiocoap-plugtest-server: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n%s", usage_text);
  return 2;
}

static void on_log(coap_log_level level, const char *message, void *data) {
  (void)level;
  (void)data;
  fprintf(stderr, "aiocoap-plugtest-server: %s\n", message);
}

static void on_shutdown(coap_context *c, void *data) {
  (void)c;
  (void)data;
  /* The observable resources' timers would keep the loop running. */
  plugtest_site_free(site);
  site = NULL;
  uv_close((uv_handle_t *)&sigint, NULL);
  uv_close((uv_handle_t *)&sigterm, NULL);
}

static void on_signal(uv_signal_t *handle, int signum) {
  (void)handle;
  fprintf(stderr, "aiocoap-plugtest-server: signal %d, shutting down\n",
          signum);
  uv_signal_stop(&sigint);
  uv_signal_stop(&sigterm);
  coap_context_shutdown(ctx, on_shutdown, NULL);
}

int main(int argc, char **argv) {
  const char *bind = "[::]:5683";
  long long period_s = PLUGTEST_OBS_PERIOD_DEFAULT_MS / 1000;
  int verbose = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      fputs(usage_text, stdout);
      return 0;
    } else if (strcmp(a, "--version") == 0) {
      printf("aiocoap-plugtest-server (aiocoap-c) %s\n", coap_version_string());
      return 0;
    } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
      verbose++;
    } else if (strcmp(a, "--bind") == 0 || strcmp(a, "--obs-period") == 0) {
      if (i + 1 >= argc)
        return usage_error("%s needs a value", a);
      const char *v = argv[++i];
      if (strcmp(a, "--bind") == 0) {
        if (v[0] == '\0')
          return usage_error("--bind needs an address%s", "");
        bind = v;
      } else if (!cli_parse_number(v, 1, 86400, &period_s)) {
        return usage_error("--obs-period: not a number of seconds in "
                           "1..86400: %s",
                           v);
      }
    } else {
      return usage_error("unknown argument %s", a);
    }
  }

  uv_loop_t *loop = uv_default_loop();
  plugtest_config pconfig;
  plugtest_config_default(&pconfig);
  pconfig.obs_period_ms = (uint32_t)period_s * 1000u;
  int rc = plugtest_site_new(loop, &pconfig, &site);
  if (rc < 0) {
    fprintf(stderr, "aiocoap-plugtest-server: %s\n", coap_strerror(rc));
    return 1;
  }
  coap_context_config config;
  coap_context_config_default(&config);
  config.log = on_log;
  config.log_level = verbose >= 2   ? COAP_LOG_DEBUG
                     : verbose == 1 ? COAP_LOG_INFO
                                    : COAP_LOG_WARNING;
  rc = coap_context_create_server_context(loop, plugtest_site_site(site), bind,
                                          &config, &ctx);
  if (rc < 0) {
    fprintf(stderr, "aiocoap-plugtest-server: cannot serve on %s: %s\n", bind,
            coap_strerror(rc));
    plugtest_site_free(site);
    uv_run(loop, UV_RUN_DEFAULT);
    return 1;
  }
  struct sockaddr_in6 bound;
  char where[80];
  coap_remote r = {0};
  if (coap_context_local_address(ctx, &bound) == 0) {
    r.addr = bound;
    if (coap_remote_hostinfo(&r, where, sizeof where) < 0)
      snprintf(where, sizeof where, "%s", bind);
  } else {
    snprintf(where, sizeof where, "%s", bind);
  }
  fprintf(stderr, "aiocoap-plugtest-server: serving on %s\n", where);
  uv_signal_init(loop, &sigint);
  uv_signal_init(loop, &sigterm);
  uv_signal_start(&sigint, on_signal, SIGINT);
  uv_signal_start(&sigterm, on_signal, SIGTERM);
  uv_run(loop, UV_RUN_DEFAULT);
  rc = uv_loop_close(loop);
  return rc == 0 ? 0 : 1;
}
