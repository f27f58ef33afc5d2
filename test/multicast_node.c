/*
 * multicast-node: one server of a group, for test/interop/multicast_bridge.sh
 * and cli/bench-multicast.sh (issue 14).  Each node of a test has its own
 * name, so that its answers can be told apart from its neighbours':
 *
 *   /name              text: the name; rt=TYPE in /.well-known/core, so
 *                      that a discovery filter ?rt=TYPE picks one node
 *   /big               BYTES of text whose every line is "NAME NNNNNN\n"
 *                      (the line's number, from 0), cut at BYTES; sliced
 *                      into Block2 by the library
 *   /obs               observable: "NAME COUNT", COUNT moving on every
 *                      300 ms
 *   /.well-known/core  all of them
 *
 * Usage: multicast-node --name N [--port P] [--leisure SECONDS]
 *                       [--big BYTES] [--rt TYPE] [--dump FILE]
 * Serves on [::]:P (default 5683) joined to ff02::fd and 224.0.1.187 on
 * every multicast interface, says "multicast-node N: serving" on stderr
 * when ready, and shuts down cleanly on SIGTERM or SIGINT.  Exit status 0
 * after a clean shutdown, 1 when it cannot serve, 2 on a usage error.
 */
#include <aiocoap/aiocoap.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A test node, not a file server: 1 MiB is plenty and bounds the malloc. */
#define BIG_MAX (1024 * 1024)
#define OBS_PERIOD_MS 300

typedef struct {
  const char *name;
  char *big;
  size_t big_len;
  unsigned long count;
  coap_resource *obs; /* the site's; borrowed */
  uv_timer_t tick;
} node;

static coap_context *ctx;
static uv_signal_t sigint, sigterm;

static int name_get(coap_resource *res, coap_message *req, coap_message *resp,
                    coap_future **later) {
  (void)req;
  (void)later;
  node *n = res->user_data;
  coap_options_set_content_format(&resp->opt, COAP_CT_TEXT_PLAIN);
  return coap_message_set_payload_string(resp, n->name);
}

static int big_get(coap_resource *res, coap_message *req, coap_message *resp,
                   coap_future **later) {
  (void)req;
  (void)later;
  node *n = res->user_data;
  coap_options_set_content_format(&resp->opt, COAP_CT_TEXT_PLAIN);
  coap_message_set_payload_borrowed(resp, n->big, n->big_len);
  return 0;
}

static int obs_get(coap_resource *res, coap_message *req, coap_message *resp,
                   coap_future **later) {
  (void)req;
  (void)later;
  node *n = res->user_data;
  char text[160];
  snprintf(text, sizeof text, "%s %lu", n->name, n->count);
  coap_options_set_content_format(&resp->opt, COAP_CT_TEXT_PLAIN);
  return coap_message_set_payload_string(resp, text);
}

static void on_tick(uv_timer_t *timer) {
  node *n = timer->data;
  n->count++;
  (void)coap_observable_resource_updated_state(n->obs, NULL);
}

static int add(coap_site *site, const char *path,
               const coap_resource_methods *methods, node *n,
               const coap_link_attributes *attrs, bool observable,
               coap_resource **out) {
  coap_resource *res;
  int rc = observable
               ? coap_observable_resource_new_methods(methods, NULL, n, &res)
               : coap_resource_new_methods(methods, n, &res);
  if (rc < 0)
    return rc;
  rc = coap_resource_set_link_attributes(res, attrs);
  if (rc == 0)
    rc = coap_site_add_resource_path(site, path, res);
  if (rc == 0 && out != NULL)
    *out = res; /* the site holds it */
  coap_resource_unref(res);
  return rc;
}

static int build_site(node *n, const char *rt, coap_site **out) {
  static const coap_resource_methods name_m = {.render_get = name_get};
  static const coap_resource_methods big_m = {.render_get = big_get};
  static const coap_resource_methods obs_m = {.render_get = obs_get};
  coap_link_attributes name_a = {.rt = rt, .ct = "0", .sz = -1};
  coap_link_attributes big_a = {.ct = "0", .sz = (long)n->big_len};
  coap_link_attributes obs_a = {.ct = "0", .sz = -1, .obs = true};
  coap_link_attributes wkc_a = {.ct = "40", .sz = -1};
  coap_site *site;
  coap_resource *wkc;
  int rc = coap_site_new(&site);
  if (rc < 0)
    return rc;
  rc = add(site, "name", &name_m, n, &name_a, false, NULL);
  if (rc == 0)
    rc = add(site, "big", &big_m, n, &big_a, false, NULL);
  if (rc == 0)
    rc = add(site, "obs", &obs_m, n, &obs_a, true, &n->obs);
  if (rc == 0)
    rc = coap_wkc_resource_new(site, &wkc);
  if (rc == 0) {
    rc = coap_resource_set_link_attributes(wkc, &wkc_a);
    if (rc == 0)
      rc = coap_site_add_resource_path(site, ".well-known/core", wkc);
    coap_resource_unref(wkc);
  }
  if (rc < 0) {
    coap_site_unref(site);
    return rc;
  }
  *out = site;
  return 0;
}

static void on_shutdown(coap_context *c, void *data) {
  (void)c;
  node *n = data;
  uv_close((uv_handle_t *)&n->tick, NULL);
  uv_close((uv_handle_t *)&sigint, NULL);
  uv_close((uv_handle_t *)&sigterm, NULL);
}

static void on_signal(uv_signal_t *handle, int signum) {
  (void)signum;
  uv_signal_stop(&sigint);
  uv_signal_stop(&sigterm);
  uv_timer_stop(&((node *)handle->data)->tick);
  coap_context_shutdown(ctx, on_shutdown, handle->data);
}

static void on_log(coap_log_level level, const char *message, void *data) {
  (void)level;
  node *n = data;
  fprintf(stderr, "multicast-node %s: %s\n", n->name, message);
}

static int usage(const char *why) {
  fprintf(stderr,
          "multicast-node: %s\n"
          "usage: multicast-node --name N [--port P] [--leisure SECONDS]\n"
          "                      [--big BYTES] [--rt TYPE] [--dump FILE]\n",
          why);
  return 2;
}

/* A whole number in min..max, or -1. */
static long number(const char *s, long min, long max) {
  char *end;
  long v = strtol(s, &end, 10);
  return (*s == '\0' || *end != '\0' || v < min || v > max) ? -1 : v;
}

int main(int argc, char **argv) {
  node n = {.name = NULL};
  const char *rt = NULL, *dump = NULL;
  long port = 5683, big = 4096;
  double leisure = COAP_DEFAULT_LEISURE_MS / 1000.0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (i + 1 >= argc)
      return usage("every flag needs a value");
    const char *v = argv[++i];
    if (strcmp(a, "--name") == 0)
      n.name = v;
    else if (strcmp(a, "--rt") == 0)
      rt = v;
    else if (strcmp(a, "--dump") == 0)
      dump = v;
    else if (strcmp(a, "--port") == 0) {
      if ((port = number(v, 1, 65535)) < 0)
        return usage("--port: not a port number");
    } else if (strcmp(a, "--big") == 0) {
      if ((big = number(v, 0, BIG_MAX)) < 0)
        return usage("--big: not a size in 0..1048576");
    } else if (strcmp(a, "--leisure") == 0) {
      char *end;
      leisure = strtod(v, &end);
      if (*v == '\0' || *end != '\0' || !(leisure >= 0 && leisure <= 3600))
        return usage("--leisure: not a number of seconds in 0..3600");
    } else {
      return usage("unknown argument");
    }
  }
  if (n.name == NULL || n.name[0] == '\0' || strlen(n.name) > 100)
    return usage("--name is needed (1..100 characters)");

  n.big_len = (size_t)big;
  n.big = malloc(n.big_len + 1);
  if (n.big == NULL)
    return 1;
  /* Line by line: each line says whose body and where in it it is, so a
   * block out of place or from another node shows. */
  char line[128];
  for (size_t off = 0, i = 0; off < n.big_len; i++) {
    int len = snprintf(line, sizeof line, "%s %06zu\n", n.name, i);
    size_t take = (size_t)len < n.big_len - off ? (size_t)len : n.big_len - off;
    memcpy(n.big + off, line, take);
    off += take;
  }

  uv_loop_t *loop = uv_default_loop();
  coap_site *site;
  int rc = build_site(&n, rt, &site);
  if (rc < 0) {
    fprintf(stderr, "multicast-node %s: %s\n", n.name, coap_strerror(rc));
    free(n.big);
    return 1;
  }
  coap_context_config config;
  coap_context_config_default(&config);
  config.log = on_log;
  config.log_user_data = &n;
  config.log_level = COAP_LOG_WARNING;
  config.multicast_leisure_ms = (uint32_t)(leisure * 1000.0 + 0.5);
  config.dump_to = dump;
  char bind[32];
  snprintf(bind, sizeof bind, "[::]:%ld", port);
  rc = coap_context_create_server_context(loop, site, bind, &config, &ctx);
  coap_site_unref(site);
  if (rc < 0) {
    fprintf(stderr, "multicast-node %s: cannot serve on %s: %s\n", n.name,
            bind, coap_strerror(rc));
    uv_run(loop, UV_RUN_DEFAULT);
    free(n.big);
    return 1;
  }
  /* RFC 7252 §12.8: All CoAP Nodes, link-local and IPv4. */
  static const char *const groups[] = {"ff02::fd", "224.0.1.187"};
  for (size_t g = 0; g < 2; g++) {
    rc = coap_context_join_group(ctx, groups[g], NULL);
    if (rc < 0)
      fprintf(stderr, "multicast-node %s: cannot join %s: %s\n", n.name,
              groups[g], coap_strerror(rc));
  }
  uv_timer_init(loop, &n.tick);
  n.tick.data = &n;
  uv_timer_start(&n.tick, on_tick, OBS_PERIOD_MS, OBS_PERIOD_MS);
  uv_signal_init(loop, &sigint);
  uv_signal_init(loop, &sigterm);
  sigint.data = sigterm.data = &n;
  uv_signal_start(&sigint, on_signal, SIGINT);
  uv_signal_start(&sigterm, on_signal, SIGTERM);
  fprintf(stderr, "multicast-node %s: serving on %s\n", n.name, bind);
  uv_run(loop, UV_RUN_DEFAULT);
  rc = uv_loop_close(loop);
  free(n.big);
  return rc == 0 ? 0 : 1;
}
