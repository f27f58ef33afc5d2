/*
 * aiocoap-proxy: a plain CoAP proxy, forward or reverse, as aiocoap's
 * cli/proxy.py.  The forwarding is the library's (proxy.h); this file reads
 * the command line and runs the loop.
 *
 * Runs until SIGINT or SIGTERM, then shuts down cleanly.
 */
#include <aiocoap/aiocoap.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static coap_context *server_ctx, *outgoing_ctx;
static uv_signal_t sigint, sigterm;
static int contexts_open;

/* Responses the tool's cache keeps (--no-cache: none). */
#define PROXY_CACHE_ENTRIES 1024

static const char usage_text[] =
    "usage: aiocoap-proxy (--forward | --reverse) [--bind HOST:PORT]\n"
    "                     [--namebased NAME:DEST] [--subdomainbased "
    "NAME:DEST]\n"
    "                     [--pathbased PATH:DEST] [--unconditional DEST]\n"
    "                     [--no-cache] [-v]\n"
    "\n"
    "A plain CoAP proxy that works as forward or as reverse proxy\n"
    "(aiocoap-proxy of Python aiocoap).\n"
    "\n"
    "mode (one is required):\n"
    "  --forward            run as forward proxy: requests with Proxy-Uri or\n"
    "                       Proxy-Scheme are sent where they say; the rules\n"
    "                       below still apply to them and to other requests\n"
    "  --reverse            run as reverse proxy: only the rules below decide\n"
    "\n"
    "details:\n"
    "  --bind HOST:PORT     where to serve (default [::]:5683; port 0 picks\n"
    "                       one, and the port bound is printed)\n"
    "  --no-cache           forward every request: keep no responses (by\n"
    "                       default up to 1024 are served again while\n"
    "                       fresh, RFC 7252 §5.6)\n"
    "  -v, --verbose        log what the library reports (more with -vv)\n"
    "  -h, --help           this text\n"
    "  --version            the library version\n"
    "\n"
    "rules, tried in the order given; the first that matches a request\n"
    "decides where it goes:\n"
    "  --namebased NAME:DEST       if Uri-Host is NAME, route to DEST\n"
    "  --subdomainbased NAME:DEST  if Uri-Host is anything.NAME, route to "
    "DEST\n"
    "  --pathbased PATH:DEST       if the path starts with PATH, split that\n"
    "                              part off and route to DEST\n"
    "  --unconditional DEST        route every request not matched before to\n"
    "                              DEST\n"
    "\n"
    "DEST is host[:port] or coap://host[:port].  Prefixed with '@' it is a\n"
    "forward proxy the request is sent through; prefixed with '!' (before\n"
    "any '@') it is also set as the request's Uri-Host (--namebased and\n"
    "--pathbased only).  Observations are pooled: clients observing the same\n"
    "resource share one upstream observation.\n"
    "\n"
    "Exit status: 0 after a clean shutdown (SIGINT, SIGTERM), 1 when it\n"
    "cannot serve, 2 on a usage error.\n";

static int usage_error(const char *fmt, const char *arg) {
  fprintf(stderr, "aiocoap-proxy: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n%s", usage_text);
  return 2;
}

static void on_closed(coap_context *ctx, void *data) {
  (void)ctx;
  (void)data;
  if (--contexts_open == 0) {
    uv_close((uv_handle_t *)&sigint, NULL);
    uv_close((uv_handle_t *)&sigterm, NULL);
  }
}

static void on_signal(uv_signal_t *handle, int signum) {
  (void)handle;
  fprintf(stderr, "aiocoap-proxy: signal %d, shutting down\n", signum);
  uv_signal_stop(&sigint);
  uv_signal_stop(&sigterm);
  /* The server first: nothing new reaches the proxy while its outgoing
   * requests end (proxy.h, lifetimes). */
  coap_context_shutdown(server_ctx, on_closed, NULL);
  coap_context_shutdown(outgoing_ctx, on_closed, NULL);
}

static void on_log(coap_log_level level, const char *message, void *data) {
  (void)level;
  (void)data;
  fprintf(stderr, "aiocoap-proxy: %s\n", message);
}

/* One rule from the command line into a redirector; a usage message and
 * NULL when it is malformed. */
static coap_redirector *rule(const char *flag, const char *arg, int *status) {
  char target[300];
  bool rewrite = false, as_proxy = false;
  const char *dest = arg;
  char name[300] = "";
  bool named = strcmp(flag, "--unconditional") != 0;
  int ok = *status;
  *status = 2; /* until the rule is known to be good */
  if (named) {
    const char *colon = strchr(arg, ':');
    if (colon == NULL || colon == arg || colon[1] == '\0' ||
        (size_t)(colon - arg) >= sizeof name) {
      fprintf(stderr, "aiocoap-proxy: %s needs %s:DEST, got \"%s\"\n%s", flag,
              strcmp(flag, "--pathbased") == 0 ? "PATH" : "NAME", arg,
              usage_text);
      return NULL;
    }
    memcpy(name, arg, (size_t)(colon - arg));
    name[colon - arg] = '\0';
    dest = colon + 1;
  }
  if (coap_proxy_parse_destination(dest, target, sizeof target, &rewrite,
                                   &as_proxy) < 0) {
    fprintf(stderr,
            "aiocoap-proxy: %s: not a destination (host[:port] or "
            "coap://host[:port]): \"%s\"\n%s",
            flag, dest, usage_text);
    return NULL;
  }
  if (rewrite && (strcmp(flag, "--subdomainbased") == 0 ||
                  strcmp(flag, "--unconditional") == 0)) {
    fprintf(stderr,
            "aiocoap-proxy: %s: the flag '!' makes no sense here, "
            "the host name would be lost\n%s",
            flag, usage_text);
    return NULL;
  }
  coap_redirector *r = NULL;
  int rc;
  if (strcmp(flag, "--namebased") == 0)
    rc = coap_name_based_virtual_host_new(name, target, rewrite, as_proxy, &r);
  else if (strcmp(flag, "--subdomainbased") == 0)
    rc = coap_subdomain_virtual_host_new(name, target, as_proxy, &r);
  else if (strcmp(flag, "--pathbased") == 0)
    rc = rewrite || as_proxy
             ? COAP_EINVAL
             : coap_subresource_virtual_host_new(name, target, &r);
  else
    rc = coap_unconditional_redirector_new(target, as_proxy, &r);
  if (rc == COAP_ENOMEM) {
    fprintf(stderr, "aiocoap-proxy: %s\n", coap_strerror(rc));
    *status = 1;
    return NULL;
  }
  if (rc < 0) {
    fprintf(stderr, "aiocoap-proxy: %s: cannot use \"%s\"%s\n%s", flag, arg,
            strcmp(flag, "--pathbased") == 0 && (rewrite || as_proxy)
                ? " ('!' and '@' are for --namebased and --unconditional)"
                : "",
            usage_text);
    return NULL;
  }
  *status = ok;
  return r;
}

static bool is_rule(const char *a) {
  return strcmp(a, "--namebased") == 0 || strcmp(a, "--subdomainbased") == 0 ||
         strcmp(a, "--pathbased") == 0 || strcmp(a, "--unconditional") == 0;
}

int main(int argc, char **argv) {
  bool forward = false, reverse = false;
  const char *bind = "[::]:5683";
  int verbose = 0;
  bool cache = true;
  /* Rules are parsed once the whole command line is known to be usable. */
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      fputs(usage_text, stdout);
      return 0;
    } else if (strcmp(a, "--version") == 0) {
      printf("aiocoap-proxy (aiocoap-c) %s\n", coap_version_string());
      return 0;
    } else if (strcmp(a, "--forward") == 0) {
      forward = true;
    } else if (strcmp(a, "--reverse") == 0) {
      reverse = true;
    } else if (strcmp(a, "--no-cache") == 0) {
      cache = false;
    } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
      verbose++;
    } else if (strcmp(a, "-vv") == 0) {
      verbose += 2;
    } else if (strcmp(a, "--bind") == 0 || is_rule(a)) {
      if (i + 1 >= argc)
        return usage_error("%s needs a value", a);
      if (strcmp(a, "--bind") == 0) {
        char host[256];
        int port;
        bind = argv[i + 1];
        if (coap_hostportsplit(bind, host, sizeof host, &port) < 0 || port < 0)
          return usage_error("--bind needs HOST:PORT, got \"%s\"", bind);
      }
      i++;
    } else {
      return usage_error("unknown argument %s", a);
    }
  }
  if (!forward && !reverse)
    return usage_error("%s", "one of --forward and --reverse must be given");

  uv_loop_t *loop = uv_default_loop();
  coap_context_config config;
  coap_context_config_default(&config);
  config.log = on_log;
  config.log_level = verbose >= 2   ? COAP_LOG_DEBUG
                     : verbose == 1 ? COAP_LOG_INFO
                                    : COAP_LOG_WARNING;
  int rc = coap_context_create_client_context(loop, &config, &outgoing_ctx);
  if (rc < 0) {
    fprintf(stderr, "aiocoap-proxy: no outgoing context: %s\n",
            coap_strerror(rc));
    return 1;
  }
  coap_proxy *proxy = NULL;
  coap_proxy_config pc;
  coap_proxy_config_default(&pc);
  pc.kind = forward ? COAP_PROXY_FORWARD : COAP_PROXY_REVERSE;
  pc.pooled_observations = true;
  /* Unlike the library's default (aiocoap's proxy keeps nothing), the tool
   * caches: that is what a user puts a proxy in front of a device for. */
  pc.cache_entries = cache ? PROXY_CACHE_ENTRIES : 0;
  rc = coap_proxy_new(outgoing_ctx, &pc, &proxy);
  int status = 0;
  for (int i = 1; rc == 0 && i < argc; i++) {
    if (strcmp(argv[i], "--bind") == 0) {
      i++;
    } else if (is_rule(argv[i])) {
      coap_redirector *r = rule(argv[i], argv[i + 1], &status);
      if (r == NULL)
        break;
      rc = coap_proxy_add_redirector(proxy, r);
      i++;
    }
  }
  coap_site *site = NULL;
  if (rc == 0 && status == 0)
    rc = coap_site_new(&site);
  if (rc == 0 && status == 0)
    rc = coap_proxy_serve(proxy, site);
  if (rc == 0 && status == 0) {
    rc = coap_context_create_server_context(loop, site, bind, &config,
                                            &server_ctx);
    if (rc < 0) {
      fprintf(stderr, "aiocoap-proxy: cannot serve on %s: %s\n", bind,
              coap_strerror(rc));
      status = rc == COAP_EINVAL ? 2 : 1;
    }
  } else if (rc < 0) {
    fprintf(stderr, "aiocoap-proxy: %s\n", coap_strerror(rc));
    status = 1;
  }
  coap_site_unref(site);
  coap_proxy_unref(proxy);
  if (status != 0) {
    coap_context_shutdown(outgoing_ctx, NULL, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    return status;
  }
  contexts_open = 2;
  uv_signal_init(loop, &sigint);
  uv_signal_init(loop, &sigterm);
  uv_signal_start(&sigint, on_signal, SIGINT);
  uv_signal_start(&sigterm, on_signal, SIGTERM);
  struct sockaddr_in6 bound;
  char where[80];
  coap_remote r;
  memset(&r, 0, sizeof r);
  if (coap_context_local_address(server_ctx, &bound) == 0) {
    r.addr = bound;
    if (coap_remote_hostinfo(&r, where, sizeof where) < 0)
      snprintf(where, sizeof where, "%s", bind);
  } else {
    snprintf(where, sizeof where, "%s", bind);
  }
  fprintf(stderr, "aiocoap-proxy: %s proxy serving on %s\n",
          forward ? "forward" : "reverse", where);
  uv_run(loop, UV_RUN_DEFAULT);
  return uv_loop_close(loop) == 0 ? 0 : 1;
}
