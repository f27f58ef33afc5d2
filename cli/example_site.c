/*
 * The example server's resources: aiocoap's server.py (example_site.h).
 */
#include "example_site.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* /other/block */
typedef struct {
  uint8_t *data;
  size_t len;
  uint32_t version; /* its ETag: moves on with every PUT */
} block_content;

struct example_site {
  uv_loop_t *loop;
  coap_site *site;
  uv_timer_t time_timer;
  coap_resource *time; /* the site's; borrowed */
  block_content block;
};

/* /time, aiocoap's TimeResource: a timer runs only while somebody observes
 * (update_observation_count), and each tick notifies every observer. */
static void on_time_tick(uv_timer_t *timer) {
  example_site *s = timer->data;
  coap_observable_resource_updated_state(s->time, NULL);
}

static void time_observers(coap_resource *res, size_t count) {
  example_site *s = res->user_data;
  if (count > 0 && !uv_is_active((uv_handle_t *)&s->time_timer))
    uv_timer_start(&s->time_timer, on_time_tick, 1000, 1000);
  else if (count == 0)
    uv_timer_stop(&s->time_timer);
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

static int block_get(coap_resource *res, coap_message *req, coap_message *resp,
                     coap_future **later) {
  (void)req;
  (void)later;
  block_content *c = res->user_data;
  coap_options_set_content_format(&resp->opt, COAP_CT_TEXT_PLAIN);
  coap_message_set_payload_borrowed(resp, c->data, c->len);
  return 0;
}

/* The ETag of /other/block: the library checks If-Match and If-None-Match
 * with it, answers 2.03 to a GET that names it, and serves new GETs from
 * the blocks it already sliced while it holds. */
static int block_etag(coap_resource *res, const coap_message *req,
                      uint8_t *etag, size_t *len) {
  (void)req;
  const block_content *c = res->user_data;
  memcpy(etag, &c->version, sizeof c->version);
  *len = sizeof c->version;
  return 0;
}

static int block_put(coap_resource *res, coap_message *req, coap_message *resp,
                     coap_future **later) {
  (void)later;
  block_content *c = res->user_data;
  uint8_t *copy = malloc(req->payload_len ? req->payload_len : 1);
  if (copy == NULL)
    return COAP_ENOMEM;
  /* An empty PUT has no payload pointer at all: memcpy from NULL is
   * undefined even for 0 bytes. */
  if (req->payload_len > 0)
    memcpy(copy, req->payload, req->payload_len);
  free(c->data);
  c->data = copy;
  c->len = req->payload_len;
  c->version++;
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
  (void)req;
  (void)resp;
  uv_loop_t *loop = ((example_site *)res->user_data)->loop;
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

int example_site_new(uv_loop_t *loop, example_site **out) {
  example_site *s = calloc(1, sizeof *s);
  if (s == NULL)
    return COAP_ENOMEM;
  s->loop = loop;
  static const char intro[] =
      "This is the resource's default content. It is padded with numbers "
      "to be large enough to trigger blockwise transfer.\n";
  s->block.len = strlen(intro) + 11 * 200;
  s->block.data = malloc(s->block.len);
  if (s->block.data == NULL) {
    free(s);
    return COAP_ENOMEM;
  }
  memcpy(s->block.data, intro, strlen(intro));
  for (size_t i = strlen(intro); i < s->block.len; i += 11)
    memcpy(s->block.data + i, "0123456789\n", 11);
  int rc = coap_site_new(&s->site);
  if (rc < 0) {
    free(s->block.data);
    free(s);
    return rc;
  }
  uv_timer_init(loop, &s->time_timer);
  s->time_timer.data = s;
  static const coap_resource_methods time_methods = {.render_get = time_get};
  static const coap_resource_methods block_methods = {
      .render_get = block_get, .render_put = block_put, .get_etag = block_etag};
  static const coap_resource_methods separate_methods = {.render_get =
                                                             separate_get};
  coap_link_attributes time_attrs = {.ct = "0", .sz = -1, .obs = true};
  coap_link_attributes plain = {.sz = -1};
  coap_site *site = s->site;
  coap_resource *wkc;
  rc = add(site, "time", &time_methods, s, &time_attrs, time_observers,
           &s->time);
  if (rc == 0) {
    coap_resource_unref(s->time); /* the site holds it */
    rc =
        add(site, "other/block", &block_methods, &s->block, &plain, NULL, NULL);
  }
  if (rc == 0)
    rc = add(site, "other/separate", &separate_methods, s, &plain, NULL, NULL);
  if (rc == 0)
    rc = coap_wkc_resource_new(site, &wkc);
  if (rc == 0) {
    coap_link_attributes wkc_attrs = {.ct = "40", .sz = -1};
    coap_resource_set_link_attributes(wkc, &wkc_attrs);
    rc = coap_site_add_resource_path(site, ".well-known/core", wkc);
    coap_resource_unref(wkc);
  }
  if (rc < 0) {
    example_site_free(s);
    return rc;
  }
  *out = s;
  return 0;
}

coap_site *example_site_site(example_site *s) {
  return s->site;
}

static void on_site_timer_closed(uv_handle_t *handle) {
  example_site *s = handle->data;
  free(s->block.data);
  free(s);
}

void example_site_free(example_site *s) {
  if (s == NULL)
    return;
  coap_site_unref(s->site);
  s->site = NULL;
  uv_close((uv_handle_t *)&s->time_timer, on_site_timer_closed);
}
