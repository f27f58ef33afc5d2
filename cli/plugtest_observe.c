/*
 * TD_COAP_OBS resources: /obs (CON notifications), /obs-non (NON, with a
 * CON from time to time), /obs-large (larger than a block: notifications
 * carry Block2 block 0, RFC 7959 §2.6) and /obs-pumping (its size swings
 * between one message and blockwise).  Each changes every obs_period_ms.
 *
 * The library keeps the observers and the RFC 7641 rules: one CON
 * notification in flight per observer with the newest state replacing an
 * unacknowledged one (§4.5.2), an observer dropped when its CON times out
 * or it sends RST, deregistration with Observe 1 (§3.6), and a non-2.xx
 * notification ending the observation (§4.2).  Here: PUT stores a state
 * (the periodic changes pause) and notifies at once, with the new state
 * when the Content-Format stays and with 4.06 when it changes; DELETE
 * notifies 4.04 and goes back to the periodic changes.
 */
#include "plugtest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { OBS_CON, OBS_NON, OBS_LARGE, OBS_PUMPING, OBS_KINDS } obs_kind;

typedef struct observed {
  plugtest_site *site;
  coap_resource *res; /* the site's; borrowed */
  uv_timer_t timer;
  bool timer_open;
  obs_kind kind;
  unsigned long counter; /* the periodic state */
  plugtest_body put;     /* what a PUT stored, while has_put */
  bool has_put;
  /* Deferred to the next tick (from the loop, not from inside a render):
   * a notification of the new state, or one with this error code. */
  bool notify_now;
  uint8_t notify_code;
} observed;

struct plugtest_observe {
  observed obs[OBS_KINDS];
};

static const char *const names[OBS_KINDS] = {"obs", "obs-non", "obs-large",
                                             "obs-pumping"};

/* Whether the periodic state of kind at counter needs blockwise. */
static bool periodic_is_large(obs_kind kind, unsigned long counter) {
  return kind == OBS_LARGE || (kind == OBS_PUMPING && counter % 2 == 1);
}

static int periodic_answer(const observed *o, coap_message *resp) {
  char head[64];
  int n = snprintf(head, sizeof head, "/%s state %lu\n", names[o->kind],
                   o->counter);
  /* 1500 bytes: more than the 1024-byte blocks the server offers. */
  size_t len = periodic_is_large(o->kind, o->counter) ? 1500 : (size_t)n;
  uint8_t *p = coap_message_reserve_payload(resp, len);
  if (p == NULL)
    return COAP_ENOMEM;
  memcpy(p, head, (size_t)n);
  for (size_t i = (size_t)n; i < len; i++)
    p[i] = (i + 1) % 64 == 0 ? '\n' : (uint8_t)('a' + i % 26);
  coap_options_set_content_format(&resp->opt, COAP_CT_TEXT_PLAIN);
  return 0;
}

static int obs_get(coap_resource *res, coap_message *req, coap_message *resp,
                   coap_future **later) {
  (void)req;
  (void)later;
  observed *o = res->user_data;
  if (!o->has_put)
    return periodic_answer(o, resp);
  coap_options_set_content_format(&resp->opt, o->put.cf);
  return coap_message_set_payload(resp, o->put.data, o->put.len);
}

/* The next tick at once, then every period again. */
static void on_tick(uv_timer_t *timer);
static void tick_now(observed *o) {
  uv_timer_start(&o->timer, on_tick, 0, o->site->config.obs_period_ms);
}

static int obs_put(coap_resource *res, coap_message *req, coap_message *resp,
                   coap_future **later) {
  (void)later;
  observed *o = res->user_data;
  uint16_t now_cf = o->has_put ? o->put.cf : COAP_CT_TEXT_PLAIN;
  uint16_t cf = COAP_CT_TEXT_PLAIN;
  (void)coap_options_get_content_format(&req->opt, &cf);
  int rc = plugtest_body_set(&o->put, req);
  if (rc < 0)
    return rc;
  o->put.cf = cf;
  o->has_put = true;
  /* TD_COAP_OBS_08: observers cannot take the new format, so their
   * observation ends with 4.06 (RFC 7641 §4.2). */
  if (cf != now_cf)
    o->notify_code = COAP_CODE_NOT_ACCEPTABLE;
  else
    o->notify_now = true;
  tick_now(o);
  resp->code = COAP_CODE_CHANGED;
  return 0;
}

static int obs_delete(coap_resource *res, coap_message *req, coap_message *resp,
                      coap_future **later) {
  (void)req;
  (void)later;
  observed *o = res->user_data;
  plugtest_body_clear(&o->put);
  o->has_put = false;
  o->notify_code = COAP_CODE_NOT_FOUND; /* TD_COAP_OBS_09 */
  tick_now(o);
  resp->code = COAP_CODE_DELETED;
  return 0;
}

static void on_tick(uv_timer_t *timer) {
  observed *o = timer->data;
  if (o->notify_code != 0) {
    coap_message msg;
    coap_message_init(&msg);
    msg.code = o->notify_code;
    o->notify_code = 0;
    o->notify_now = false;
    coap_observable_resource_updated_state(o->res, &msg);
    coap_message_clear(&msg);
    return;
  }
  if (o->notify_now) {
    o->notify_now = false;
  } else if (o->has_put) {
    return; /* a PUT's state stands until DELETE */
  } else {
    o->counter++;
  }
  coap_observable_resource_updated_state(o->res, NULL);
}

static void on_timer_closed(uv_handle_t *handle) {
  observed *o = handle->data;
  plugtest_handle_closed(o->site);
}

int plugtest_observe_add(plugtest_site *s) {
  s->observe = calloc(1, sizeof *s->observe);
  if (s->observe == NULL)
    return COAP_ENOMEM;
  static const coap_resource_methods methods = {.render_get = obs_get,
                                                .render_put = obs_put,
                                                .render_delete = obs_delete};
  for (int k = 0; k < OBS_KINDS; k++) {
    observed *o = &s->observe->obs[k];
    o->site = s;
    o->kind = (obs_kind)k;
    const coap_link_attributes attrs = {
        .rt = "observe", .ct = "0", .sz = -1, .obs = true};
    int rc = plugtest_add(s, names[k], &methods, o, &attrs, true, &o->res);
    /* RFC 7641 §4.5: /obs sends every notification as CON; the others
     * keep the context's NONs with a CON now and then. */
    if (rc == 0 && k == OBS_CON)
      rc = coap_observable_resource_set_con_interval(o->res, 1);
    if (rc < 0)
      return rc;
    uv_timer_init(s->loop, &o->timer);
    o->timer.data = o;
    o->timer_open = true;
    s->closing++;
    uv_timer_start(&o->timer, on_tick, s->config.obs_period_ms,
                   s->config.obs_period_ms);
  }
  return 0;
}

void plugtest_observe_free(plugtest_site *s) {
  plugtest_observe *ob = s->observe;
  if (ob == NULL)
    return;
  for (int k = 0; k < OBS_KINDS; k++) {
    observed *o = &ob->obs[k];
    plugtest_body_clear(&o->put);
    if (o->timer_open)
      uv_close((uv_handle_t *)&o->timer, on_timer_closed);
  }
  /* The structs stay until the handles are closed: freed with the site
   * (plugtest_site.c frees s->observe after the last close). */
}
