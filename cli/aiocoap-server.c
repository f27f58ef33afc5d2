/*
 * aiocoap-server: the example server, as aiocoap's server.py.
 * The resources are in example_site.c.
 *
 * Usage: aiocoap-server [--bind [coap[s]://]HOST:PORT]... [--max-observers N]
 *                       [--amplification-factor N] [--echo]
 *                       [--server-credentials FILE]
 *                       [--tls-server-certificate FILE --tls-server-key FILE]
 *                       [--dump FILE]
 *   --bind           where to serve (default [::]:5683); repeatable
 *   --server-credentials  aiocoap's JSON credentials for coaps clients
 *   --tls-server-certificate, --tls-server-key  the server's own
 *                    certificate for coaps (PEM)
 *   --max-observers  observers per resource (default 1024)
 *   --amplification-factor  RFC 7252 §11.3 limit (default 3, 0: off)
 *   --echo           RFC 9175 §2.4 Echo for large first responses
 *   --multicast GROUP[%IFACE]  join a group (repeatable); --no-multicast
 *                    keeps a wildcard bind from joining All CoAP Nodes
 *   --dump FILE      every datagram to FILE (pcap, for Wireshark)
 * Runs until SIGINT or SIGTERM, then shuts down cleanly.
 */
#include "cli_args.h"
#include "example_site.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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
    "usage: aiocoap-server [--bind [coap[s]://]HOST:PORT]... "
    "[--max-observers N]\n"
    "                      [--amplification-factor N] [--echo]\n"
    "                      [--server-credentials FILE]\n"
    "                      [--tls-server-certificate FILE "
    "--tls-server-key FILE]\n"
    "                      [--dump FILE]\n"
    "\n"
    "The example server (aiocoap's server.py): /.well-known/core, /time\n"
    "(observable), /other/block (GET and PUT, blockwise), /other/separate.\n"
    "\n"
    "  --bind [coap[s]://]HOST:PORT  where to serve (default [::]:5683);\n"
    "                       repeat it for more endpoints.  coaps:// serves\n"
    "                       DTLS (default port 5684) and needs credentials;\n"
    "                       a bare HOST:PORT is coap.  Port 0 picks one, and\n"
    "                       every address bound is printed\n"
    "  --server-credentials FILE  aiocoap's JSON credentials: the PSKs coaps\n"
    "                       clients may use (\":client\": {\"dtls\": ...})\n"
    "  --tls-server-certificate FILE, --tls-server-key FILE  the server's\n"
    "                       certificate and key (PEM) for coaps; both or\n"
    "                       neither\n"
    "  --max-observers N    observers per resource, 0..4294967295\n"
    "                       (default 1024; 0 serves /time without Observe)\n"
    "  --amplification-factor N  to a peer not yet validated, send at most\n"
    "                       N times its bytes beyond first responses\n"
    "                       (RFC 7252 §11.3; default 3, 0: no limit)\n"
    "  --echo               answer a large first response to an unvalidated\n"
    "                       peer with 4.01 and Echo (RFC 9175 §2.4)\n"
    "  --multicast GROUP[%IFACE]  join a multicast group (an IPv6 or IPv4\n"
    "                       group address) on IFACE, or on every multicast\n"
    "                       interface; repeatable\n"
    "  --no-multicast       a coap endpoint bound to a wildcard address\n"
    "                       joins the All CoAP Nodes groups (ff02::fd,\n"
    "                       ff05::fd, 224.0.1.187; RFC 7252 §12.8) on every\n"
    "                       multicast interface unless this is given\n"
    "  --multicast-leisure SECONDS  answer a request that came by multicast\n"
    "                       at a random point within this time (RFC 7252\n"
    "                       §8.2; default 5, 0: at once)\n"
    "  --dump FILE          write every datagram sent and received, on\n"
    "                       every endpoint, to FILE (pcap with IP and UDP\n"
    "                       headers, for Wireshark; coaps as DTLS records)\n"
    "  --version            print the version and exit\n"
    "  -h, --help           this text\n"
    "\n"
    "Runs until SIGINT or SIGTERM, then shuts down cleanly.  Exit status:\n"
    "0 after a clean shutdown, 1 when it cannot serve, 2 on a usage error.\n";

/* More than a handful of endpoints is no example server's job. */
#define MAX_BINDS 16
#define MAX_GROUPS 16

/* RFC 7252 §12.8 (IPv4 224.0.1.187, IPv6 link- and site-local ff0X::fd). */
static const char *const all_coap_nodes[] = {"ff02::fd", "ff05::fd",
                                             "224.0.1.187"};

/* "GROUP[%IFACE]" joined on IFACE or every multicast interface; a line on
 * stderr says how it went, and a failure is fatal (the user asked). */
static int join_asked(const char *spec) {
  char group[128];
  const char *iface = NULL;
  snprintf(group, sizeof group, "%s", spec);
  char *pct = strchr(group, '%');
  if (pct != NULL) {
    *pct = '\0';
    iface = pct + 1;
  }
  int rc = coap_context_join_group(ctx, group, iface);
  if (rc < 0) {
    fprintf(stderr, "aiocoap-server: cannot join %s: %s\n", spec,
            coap_strerror(rc));
    return rc;
  }
  fprintf(stderr, "aiocoap-server: joined %s (%d membership%s)\n", spec, rc,
          rc == 1 ? "" : "s");
  return 0;
}

/* Whether a coap endpoint is bound to the unspecified address. */
static bool wildcard_coap_endpoint(void) {
  struct sockaddr_in6 addr;
  for (unsigned i = 0; coap_context_endpoint_address(ctx, "coap", i, &addr) == 0;
       i++) {
    static const struct in6_addr v4any = {{{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff,
                                            0xff, 0, 0, 0, 0}}};
    if (IN6_IS_ADDR_UNSPECIFIED(&addr.sin6_addr) ||
        memcmp(&addr.sin6_addr, &v4any, sizeof v4any) == 0)
      return true;
  }
  return false;
}

static int usage_error(const char *fmt, const char *arg) {
  fprintf(stderr, "aiocoap-server: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n%s", usage_text);
  return 2;
}

static bool is_coaps(const char *bind) {
  return strncasecmp(bind, "coaps://", 8) == 0;
}

/* The server's credentials: the JSON file's entries and the certificate
 * (aiocoap's --tls-server-certificate) as ":server-certificate".  NULL
 * (and *failed false) when none are given; NULL with *failed on error,
 * said on stderr. */
static coap_credentials *load_credentials(const char *file,
                                          const char *certfile,
                                          const char *keyfile, bool *failed) {
  coap_credentials *creds = NULL;
  char err[256];
  int rc;

  *failed = false;
  if (file == NULL && certfile == NULL)
    return NULL;
  rc = coap_credentials_new(&creds);
  if (rc < 0) {
    fprintf(stderr, "aiocoap-server: %s\n", coap_strerror(rc));
    *failed = true;
    return NULL;
  }
  if (file != NULL) {
    rc = coap_credentials_load_json_file(creds, file, err, sizeof err);
    if (rc < 0)
      fprintf(stderr, "aiocoap-server: --server-credentials %s: %s\n", file,
              err[0] != '\0' ? err : coap_strerror(rc));
  }
  if (rc == 0 && certfile != NULL) {
    coap_credential cert = {.certfile = certfile, .keyfile = keyfile};
    rc =
        coap_credentials_add(creds, COAP_CREDENTIALS_SERVER_CERTIFICATE, &cert);
    if (rc < 0)
      fprintf(stderr, "aiocoap-server: --tls-server-certificate: %s\n",
              coap_strerror(rc));
  }
  if (rc < 0) {
    coap_credentials_unref(creds);
    *failed = true;
    return NULL;
  }
  return creds;
}

/* "serving on ..." for the index-th endpoint of scheme: coap ones as
 * HOST:PORT (as before several endpoints), coaps ones with the scheme. */
static void say_serving(const char *scheme, unsigned index, const char *bind) {
  struct sockaddr_in6 bound;
  char where[80];

  if (coap_context_endpoint_address(ctx, scheme, index, &bound) == 0) {
    coap_remote r = {.addr = bound};
    if (coap_remote_hostinfo(&r, where, sizeof where) < 0)
      snprintf(where, sizeof where, "%s", bind);
  } else {
    snprintf(where, sizeof where, "%s", bind);
  }
  if (strcmp(scheme, "coap") == 0)
    fprintf(stderr, "aiocoap-server: serving on %s\n", where);
  else
    fprintf(stderr, "aiocoap-server: serving on %s://%s\n", scheme, where);
}

/* After a failed creation with --dump: false (and said) when the dump file
 * was the reason, true when the bind must have been. */
static bool dump_writable(const char *path, int rc) {
  if (rc == COAP_ENOTSUP) {
    fprintf(stderr, "aiocoap-server: --dump: not built in (libpcap)\n");
    return false;
  }
  FILE *f = fopen(path, "ab");
  if (f == NULL) {
    fprintf(stderr, "aiocoap-server: --dump %s: %s\n", path, strerror(errno));
    return false;
  }
  fclose(f);
  return true;
}

int main(int argc, char **argv) {
  const char *binds[MAX_BINDS] = {"[::]:5683"};
  size_t n_binds = 0;
  const char *credentials_file = NULL;
  const char *certfile = NULL;
  const char *keyfile = NULL;
  const char *dump = NULL;
  long long max_observers = -1;
  long long amplification_factor = -1;
  bool echo = false;
  bool no_multicast = false;
  uint32_t leisure_ms = COAP_DEFAULT_LEISURE_MS;
  const char *groups[MAX_GROUPS];
  size_t n_groups = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      fputs(usage_text, stdout);
      return 0;
    } else if (strcmp(a, "--version") == 0) {
      printf("aiocoap-server (aiocoap-c) %s\n", coap_version_string());
      return 0;
    } else if (strcmp(a, "--no-multicast") == 0) {
      no_multicast = true;
    } else if (strcmp(a, "--multicast") == 0) {
      if (i + 1 >= argc)
        return usage_error("%s needs a value", a);
      if (n_groups == MAX_GROUPS)
        return usage_error("--multicast: at most 16 groups (%s)", argv[i + 1]);
      groups[n_groups++] = argv[++i];
    } else if (strcmp(a, "--multicast-leisure") == 0) {
      if (i + 1 >= argc)
        return usage_error("%s needs a value", a);
      if (!cli_parse_seconds_ms(argv[i + 1], 3600000u, &leisure_ms))
        return usage_error("--multicast-leisure: not a number of seconds in "
                           "0..3600: %s",
                           argv[i + 1]);
      i++;
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
    } else if (strcmp(a, "--bind") == 0 || strcmp(a, "--max-observers") == 0 ||
               strcmp(a, "--server-credentials") == 0 ||
               strcmp(a, "--tls-server-certificate") == 0 ||
               strcmp(a, "--tls-server-key") == 0 || strcmp(a, "--dump") == 0) {
      if (i + 1 >= argc)
        return usage_error("%s needs a value", a);
      const char *v = argv[++i];
      if (strcmp(a, "--bind") == 0) {
        if (n_binds == MAX_BINDS)
          return usage_error("--bind: at most 16 endpoints (%s)", v);
        if (v[0] == '\0')
          return usage_error("--bind needs an address%s", "");
        binds[n_binds++] = v;
      } else if (strcmp(a, "--dump") == 0) {
        if (v[0] == '\0')
          return usage_error("--dump needs a file name%s", "");
        dump = v;
      } else if (strcmp(a, "--server-credentials") == 0)
        credentials_file = v;
      else if (strcmp(a, "--tls-server-certificate") == 0)
        certfile = v;
      else if (strcmp(a, "--tls-server-key") == 0)
        keyfile = v;
      else if (!cli_parse_number(v, 0, UINT32_MAX, &max_observers))
        return usage_error("--max-observers: not a number in "
                           "0..4294967295: %s",
                           v);
    } else {
      return usage_error("unknown argument %s", a);
    }
  }
  if ((certfile == NULL) != (keyfile == NULL))
    return usage_error("%s", certfile == NULL
                                 ? "--tls-server-key needs "
                                   "--tls-server-certificate"
                                 : "--tls-server-certificate needs "
                                   "--tls-server-key");
  if (n_binds == 0)
    n_binds = 1;
  bool creds_failed;
  coap_credentials *creds =
      load_credentials(credentials_file, certfile, keyfile, &creds_failed);
  if (creds_failed)
    return 1;
  uv_loop_t *loop = uv_default_loop();
  example_site *example;
  int rc = example_site_new(loop, &example);
  if (rc < 0) {
    fprintf(stderr, "aiocoap-server: %s\n", coap_strerror(rc));
    coap_credentials_unref(creds);
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
  config.multicast_leisure_ms = leisure_ms;
  if (max_observers >= 0) {
    config.max_observers_per_resource = (uint32_t)max_observers;
    if (config.max_observers < config.max_observers_per_resource)
      config.max_observers = config.max_observers_per_resource;
  }
  /* The context takes its own reference. */
  config.server_credentials = creds;
  config.dump_to = dump;
  rc = coap_context_create_server_context(loop, site, binds[0], &config, &ctx);
  coap_credentials_unref(creds);
  if (rc < 0 && dump != NULL && !dump_writable(dump, rc)) {
    example_site_free(example);
    uv_run(loop, UV_RUN_DEFAULT);
    return 1;
  }
  if (rc < 0) {
    fprintf(stderr, "aiocoap-server: cannot serve on %s: %s\n", binds[0],
            coap_strerror(rc));
    example_site_free(example);
    uv_run(loop, UV_RUN_DEFAULT);
    return 1;
  }
  unsigned coaps_seen = 0;
  unsigned coap_seen = 0;
  for (size_t b = 0; b < n_binds; b++) {
    char err[256] = "";
    if (b > 0 && (rc = coap_context_bind(ctx, binds[b], err, sizeof err)) < 0) {
      fprintf(stderr, "aiocoap-server: cannot serve on %s: %s%s%s\n", binds[b],
              coap_strerror(rc), err[0] ? ": " : "", err);
      coap_context_shutdown(ctx, NULL, NULL);
      uv_run(loop, UV_RUN_DEFAULT);
      example_site_free(example);
      uv_run(loop, UV_RUN_DEFAULT);
      return 1;
    }
    if (is_coaps(binds[b]))
      say_serving("coaps", coaps_seen++, binds[b]);
    else
      say_serving("coap", coap_seen++, binds[b]);
  }
  /* All CoAP Nodes where the host's interfaces allow (none in a bare
   * namespace: nothing to say then). */
  if (!no_multicast && wildcard_coap_endpoint())
    for (size_t g = 0; g < sizeof all_coap_nodes / sizeof all_coap_nodes[0];
         g++)
      (void)coap_context_join_group(ctx, all_coap_nodes[g], NULL);
  for (size_t g = 0; g < n_groups; g++)
    if (join_asked(groups[g]) < 0) {
      coap_context_shutdown(ctx, NULL, NULL);
      uv_run(loop, UV_RUN_DEFAULT);
      example_site_free(example);
      uv_run(loop, UV_RUN_DEFAULT);
      return 1;
    }
  uv_signal_init(loop, &sigint);
  uv_signal_init(loop, &sigterm);
  uv_signal_start(&sigint, on_signal, SIGINT);
  uv_signal_start(&sigterm, on_signal, SIGTERM);
  uv_run(loop, UV_RUN_DEFAULT);
  example_site_free(example);
  uv_run(loop, UV_RUN_DEFAULT);
  rc = uv_loop_close(loop);
  return rc == 0 ? 0 : 1;
}
