/*
 * aiocoap-server: the example server, as aiocoap's server.py.
 *
 *   /.well-known/core   RFC 6690 resource discovery
 *   /time               the current time, observable: while it has
 *                       observers it notifies them once a second
 *   /other/block        a larger text that GET reads and PUT replaces
 *   /other/separate     answers after 3 seconds, as a separate response
 *
 * Usage: aiocoap-server [--bind HOST:PORT] [--max-observers N]
 *   --bind           where to serve (default [::]:5683)
 *   --max-observers  observers per resource (default 1024)
 * Runs until SIGINT or SIGTERM, then shuts down cleanly.
 */
#include <aiocoap/aiocoap.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uv_loop_t *loop;

/* /time, aiocoap's TimeResource: a timer runs only while somebody observes
 * (update_observation_count), and each tick notifies every observer. */
static uv_timer_t time_timer;

static void on_time_tick(uv_timer_t *timer) {
  coap_observable_resource_updated_state(timer->data, NULL);
}

static void time_observers(coap_resource *res, size_t count) {
  time_timer.data = res;
  if (count > 0 && !uv_is_active((uv_handle_t *)&time_timer))
    uv_timer_start(&time_timer, on_time_tick, 1000, 1000);
  else if (count == 0)
    uv_timer_stop(&time_timer);
}

static int time_get(coap_resource *res, coap_message *req, coap_message *resp,
                    coap_future **later) {
  (void)res;
  (void)req;
  (void)later;
  char text[32];
  time_t now = time(NULL);
  struct tm tm;
  localtime_r(&now, &tm);
  size_t n = strftime(text, sizeof text, "%Y-%m-%d %H:%M", &tm);
  coap_options_set_content_format(&resp->opt, COAP_CT_TEXT_PLAIN);
  return coap_message_set_payload(resp, text, n);
}

/* /other/block */
typedef struct {
  uint8_t *data;
  size_t len;
} block_content;

static int block_get(coap_resource *res, coap_message *req, coap_message *resp,
                     coap_future **later) {
  (void)req;
  (void)later;
  block_content *c = res->user_data;
  coap_options_set_content_format(&resp->opt, COAP_CT_TEXT_PLAIN);
  coap_message_set_payload_borrowed(resp, c->data, c->len);
  return 0;
}

static int block_put(coap_resource *res, coap_message *req, coap_message *resp,
                     coap_future **later) {
  (void)later;
  block_content *c = res->user_data;
  uint8_t *copy = malloc(req->payload_len ? req->payload_len : 1);
  if (copy == NULL)
    return COAP_ENOMEM;
  memcpy(copy, req->payload, req->payload_len);
  free(c->data);
  c->data = copy;
  c->len = req->payload_len;
  resp->code = COAP_CODE_CHANGED;
  return 0;
}

/* /other/separate: the answer waits for a timer. */
typedef struct {
  uv_timer_t timer;
  coap_future *future;
} pending_answer;

static const char poem[] =
    "Three rings for the elven kings under the sky,\n"
    "seven rings for dwarven lords in their halls of stone,\n"
    "nine rings for mortal men doomed to die,\n"
    "one ring for the dark lord on his dark throne.";

static void free_message(void *msg) {
  coap_message_free(msg);
}

static void on_timer_closed(uv_handle_t *handle) {
  pending_answer *p = handle->data;
  coap_future_unref(p->future);
  free(p);
}

static void on_separate_due(uv_timer_t *timer) {
  pending_answer *p = timer->data;
  coap_message *msg;
  if (!coap_future_done(p->future) && coap_message_new(&msg) == 0) {
    msg->code = COAP_CODE_CONTENT;
    coap_options_set_content_format(&msg->opt, COAP_CT_TEXT_PLAIN);
    coap_message_set_payload_string(msg, poem);
    coap_future_resolve(p->future, msg, free_message);
  }
  uv_close((uv_handle_t *)timer, on_timer_closed);
}

static int separate_get(coap_resource *res, coap_message *req,
                        coap_message *resp, coap_future **later) {
  (void)res;
  (void)req;
  (void)resp;
  pending_answer *p = malloc(sizeof *p);
  if (p == NULL)
    return COAP_ENOMEM;
  int rc = coap_future_new(loop, &p->future);
  if (rc < 0) {
    free(p);
    return rc;
  }
  uv_timer_init(loop, &p->timer);
  p->timer.data = p;
  uv_timer_start(&p->timer, on_separate_due, 3000, 0);
  *later = coap_future_ref(p->future);
  return 0;
}

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
  uv_close((uv_handle_t *)&time_timer, NULL);
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

/* Adds a resource at path; observable when count_cb is given. */
static int add(coap_site *site, const char *path,
               const coap_resource_methods *methods, void *data,
               const coap_link_attributes *attrs,
               coap_observation_count_cb count_cb, coap_resource **out) {
  coap_resource *res;
  int rc =
      count_cb != NULL
          ? coap_observable_resource_new_methods(methods, count_cb, data, &res)
          : coap_resource_new_methods(methods, data, &res);
  if (rc == 0 && attrs != NULL)
    rc = coap_resource_set_link_attributes(res, attrs);
  if (rc == 0)
    rc = coap_site_add_resource_path(site, path, res);
  if (out != NULL && rc == 0)
    *out = res;
  else
    coap_resource_unref(res);
  return rc;
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
  loop = uv_default_loop();
  uv_timer_init(loop, &time_timer);

  static block_content block;
  static const char intro[] =
      "This is the resource's default content. It is padded with numbers "
      "to be large enough to trigger blockwise transfer.\n";
  block.len = strlen(intro) + 11 * 200;
  block.data = malloc(block.len);
  memcpy(block.data, intro, strlen(intro));
  for (size_t i = strlen(intro); i < block.len; i += 11)
    memcpy(block.data + i, "0123456789\n", 11);

  coap_site *site;
  if (coap_site_new(&site) < 0)
    return 1;
  static const coap_resource_methods time_methods = {.render_get = time_get};
  static const coap_resource_methods block_methods = {.render_get = block_get,
                                                      .render_put = block_put};
  static const coap_resource_methods separate_methods = {.render_get =
                                                             separate_get};
  coap_link_attributes time_attrs = {.ct = "0", .sz = -1, .obs = true};
  coap_link_attributes plain = {.sz = -1};
  coap_resource *wkc;
  int rc = 0;
  rc |=
      add(site, "time", &time_methods, NULL, &time_attrs, time_observers, NULL);
  rc |= add(site, "other/block", &block_methods, &block, &plain, NULL, NULL);
  rc |=
      add(site, "other/separate", &separate_methods, NULL, &plain, NULL, NULL);
  if (rc == 0)
    rc = coap_wkc_resource_new(site, &wkc);
  if (rc == 0) {
    coap_link_attributes wkc_attrs = {.ct = "40", .sz = -1};
    coap_resource_set_link_attributes(wkc, &wkc_attrs);
    rc = coap_site_add_resource_path(site, ".well-known/core", wkc);
    coap_resource_unref(wkc);
  }
  if (rc < 0) {
    fprintf(stderr, "aiocoap-server: %s\n", coap_strerror(rc));
    return 1;
  }

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
    coap_site_free(site);
    return 1;
  }
  uv_signal_init(loop, &sigint);
  uv_signal_init(loop, &sigterm);
  uv_signal_start(&sigint, on_signal, SIGINT);
  uv_signal_start(&sigterm, on_signal, SIGTERM);
  fprintf(stderr, "aiocoap-server: serving on %s\n", bind);
  uv_run(loop, UV_RUN_DEFAULT);
  coap_site_free(site);
  free(block.data);
  rc = uv_loop_close(loop);
  return rc == 0 ? 0 : 1;
}
