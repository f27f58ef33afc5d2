/*
 * aiocoap-fileserver: serves a directory over CoAP, as aiocoap's
 * contrib/fileserver (aiocoap/cli/fileserver.py).  This file reads the
 * command line, makes the context and handles the signals; the rest is in
 * the files fileserver.h lists.
 */
#include "cli_args.h"
#include "fileserver.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage_text[] =
    "usage: aiocoap-fileserver [--bind HOST:PORT] [--write] [--etag-length N]\n"
    "                          [--max-uploads N] [--upload-timeout SECONDS]\n"
    "                          [-v] [PATH]\n"
    "\n"
    "Serves the directory PATH (default: the current directory) over CoAP:\n"
    "GET reads files (blockwise, observable) and lists directories (a path\n"
    "with a trailing slash); with --write, PUT replaces files atomically and\n"
    "DELETE removes them.  Nothing outside PATH is ever served.\n"
    "\n"
    "  --bind HOST:PORT     where to serve (default [::]:5683; port 0 picks\n"
    "                       one, and the port bound is printed)\n"
    "  --write              allow PUT and DELETE (by anybody who can reach\n"
    "                       the server)\n"
    "  --etag-length N      ETag length in bytes, 0..8 (default 8; 0: none)\n"
    "  --max-uploads N      blockwise uploads in progress at once, 1..1024\n"
    "                       (default 16)\n"
    "  --upload-timeout SECONDS  abandon an upload idle this long, 1..3600\n"
    "                       (default 30)\n"
    "  -v, --verbose        log requests to standard error (twice: more)\n"
    "  --version            print the version and exit\n"
    "  -h, --help           this text\n"
    "\n"
    "Runs until SIGINT or SIGTERM, then shuts down cleanly.  Exit status:\n"
    "0 after a clean shutdown, 1 when it cannot serve, 2 on a usage error.\n";

static int usage_error(const char *fmt, const char *arg) {
  fprintf(stderr, "aiocoap-fileserver: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n%s", usage_text);
  return 2;
}

typedef struct {
  const char *bind;
  const char *path;
  bool write;
  long long etag_length;
  long long max_uploads;
  long long upload_timeout_s;
  int verbosity;
} options;

/* 0 to go on, or the exit status. */
static int parse_args(int argc, char **argv, options *o, bool *done) {
  *done = false;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      fputs(usage_text, stdout);
      *done = true;
      return 0;
    } else if (strcmp(a, "--version") == 0) {
      printf("aiocoap-fileserver (aiocoap-c) %s\n", coap_version_string());
      *done = true;
      return 0;
    } else if (strcmp(a, "--write") == 0) {
      o->write = true;
    } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
      o->verbosity++;
    } else if (strcmp(a, "-vv") == 0) {
      o->verbosity += 2;
    } else if (strcmp(a, "--bind") == 0 || strcmp(a, "--etag-length") == 0 ||
               strcmp(a, "--max-uploads") == 0 ||
               strcmp(a, "--upload-timeout") == 0) {
      if (i + 1 >= argc)
        return usage_error("%s needs a value", a);
      const char *v = argv[++i];
      if (strcmp(a, "--bind") == 0) {
        char host[256];
        int port;
        if (coap_hostportsplit(v, host, sizeof host, &port) < 0)
          return usage_error("--bind: not HOST:PORT: %s", v);
        o->bind = v;
      } else if (strcmp(a, "--etag-length") == 0) {
        if (!cli_parse_number(v, 0, COAP_ETAG_MAX_LENGTH, &o->etag_length))
          return usage_error("--etag-length: not a number in 0..8: %s", v);
      } else if (strcmp(a, "--max-uploads") == 0) {
        if (!cli_parse_number(v, 1, 1024, &o->max_uploads))
          return usage_error("--max-uploads: not a number in 1..1024: %s", v);
      } else if (!cli_parse_number(v, 1, 3600, &o->upload_timeout_s)) {
        return usage_error("--upload-timeout: not a number in 1..3600: %s", v);
      }
    } else if (a[0] == '-' && a[1] != '\0') {
      return usage_error("unknown option %s", a);
    } else if (o->path != NULL) {
      return usage_error("only one PATH may be given: %s", a);
    } else {
      o->path = a;
    }
  }
  return 0;
}

static coap_context *ctx;
static uv_signal_t sigint, sigterm;
static fileserver server;

static void on_shutdown(coap_context *c, void *data) {
  (void)c;
  (void)data;
  uv_close((uv_handle_t *)&sigint, NULL);
  uv_close((uv_handle_t *)&sigterm, NULL);
  fs_uploads_close(server.uploads);
  server.uploads = NULL;
  fs_watches_close(server.watches);
  server.watches = NULL;
}

static void on_signal(uv_signal_t *handle, int signum) {
  (void)handle;
  fs_log(&server, 1, "signal %d, shutting down", signum);
  uv_signal_stop(&sigint);
  uv_signal_stop(&sigterm);
  coap_context_shutdown(ctx, on_shutdown, NULL);
}

static void on_log(coap_log_level level, const char *message, void *data) {
  (void)level;
  (void)data;
  fprintf(stderr, "aiocoap-fileserver: %s\n", message);
}

/* The site: the tree at "/", and /.well-known/core listing only that
 * (aiocoap's fileserver registers the one link). */
static int make_site(fileserver *fs, coap_site **out) {
  coap_site *site;
  coap_resource *root = NULL, *wkc = NULL;
  int rc = coap_site_new(&site);
  if (rc < 0)
    return rc;
  rc = fs_resource_new(fs, &root);
  if (rc == 0)
    rc = coap_site_add_resource_path(site, "", root);
  if (rc == 0)
    rc = coap_wkc_resource_new(site, &wkc);
  if (rc == 0) {
    coap_link_attributes hidden = {.sz = -1, .hidden = true};
    rc = coap_resource_set_link_attributes(wkc, &hidden);
  }
  if (rc == 0)
    rc = coap_site_add_resource_path(site, ".well-known/core", wkc);
  if (root != NULL)
    coap_resource_unref(root);
  if (wkc != NULL)
    coap_resource_unref(wkc);
  if (rc < 0) {
    coap_site_unref(site);
    return rc;
  }
  *out = site;
  return 0;
}

static void print_bound(const char *bind) {
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
  fprintf(stderr, "aiocoap-fileserver: serving %s on %s\n", server.root_path,
          where);
}

int main(int argc, char **argv) {
  options o = {.bind = "[::]:5683",
               .etag_length = 8,
               .max_uploads = FS_DEFAULT_MAX_UPLOADS,
               .upload_timeout_s = FS_DEFAULT_UPLOAD_TIMEOUT_MS / 1000};
  bool done;
  int status = parse_args(argc, argv, &o, &done);
  if (status != 0 || done)
    return status;
  const char *path = o.path != NULL ? o.path : ".";
  server.root_path = realpath(path, NULL);
  server.root_fd =
      server.root_path == NULL
          ? -1
          : open(server.root_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (server.root_fd < 0) {
    fprintf(stderr, "aiocoap-fileserver: cannot serve %s: %s\n", path,
            strerror(errno));
    free(server.root_path);
    return 1;
  }
  uv_loop_t *loop = uv_default_loop();
  server.loop = loop;
  server.write = o.write;
  server.etag_length = (size_t)o.etag_length;
  server.verbosity = o.verbosity;
  coap_site *site = NULL;
  int rc =
      fs_uploads_new(&server, (size_t)o.max_uploads,
                     (uint32_t)(o.upload_timeout_s * 1000), &server.uploads);
  if (rc == 0)
    rc = fs_watches_new(&server, &server.watches);
  if (rc == 0)
    rc = make_site(&server, &site);
  coap_context_config config;
  coap_context_config_default(&config);
  config.log = on_log;
  config.log_level = o.verbosity >= 3   ? COAP_LOG_DEBUG
                     : o.verbosity >= 2 ? COAP_LOG_INFO
                                        : COAP_LOG_WARNING;
  if (rc == 0)
    rc = coap_context_create_server_context(loop, site, o.bind, &config, &ctx);
  if (rc < 0) {
    fprintf(stderr, "aiocoap-fileserver: cannot serve on %s: %s\n", o.bind,
            coap_strerror(rc));
    fs_uploads_close(server.uploads);
    fs_watches_close(server.watches);
    coap_site_unref(site);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    close(server.root_fd);
    free(server.root_path);
    return 1;
  }
  uv_signal_init(loop, &sigint);
  uv_signal_init(loop, &sigterm);
  uv_signal_start(&sigint, on_signal, SIGINT);
  uv_signal_start(&sigterm, on_signal, SIGTERM);
  print_bound(o.bind);
  uv_run(loop, UV_RUN_DEFAULT);
  coap_site_unref(site);
  uv_run(loop, UV_RUN_DEFAULT);
  rc = uv_loop_close(loop);
  close(server.root_fd);
  free(server.root_path);
  return rc == 0 ? 0 : 1;
}
