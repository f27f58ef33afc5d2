/*
 * /separate (TD_COAP_CORE_09..12): answered after separate_delay_ms
 * through a render future.  The library does the rest: past
 * empty_ack_delay_ms a CON request gets an empty ACK and the answer comes
 * as a CON of its own, retransmitted until ACKed (RFC 7252 §5.2.2, §4.2);
 * a NON request gets a NON answer; a retransmitted request meanwhile is
 * acknowledged again and not rendered twice (§4.5).
 */
#include "plugtest.h"

#include <stdlib.h>
#include <string.h>

/* One answer on its way. */
typedef struct pending {
  uv_timer_t timer;
  coap_future *future;
  plugtest_site *site;
  struct pending *prev, *next;
} pending;

struct plugtest_separate {
  pending *head; /* answers still on their way */
};

static void unlink_pending(plugtest_separate *sep, pending *p) {
  if (p->prev != NULL)
    p->prev->next = p->next;
  else if (sep != NULL && sep->head == p)
    sep->head = p->next;
  if (p->next != NULL)
    p->next->prev = p->prev;
  p->prev = p->next = NULL;
}

static void on_closed(uv_handle_t *handle) {
  pending *p = handle->data;
  plugtest_site *s = p->site;
  coap_future_unref(p->future);
  free(p);
  plugtest_handle_closed(s);
}

static void on_due(uv_timer_t *timer) {
  pending *p = timer->data;
  coap_message *msg;
  /* The future is cancelled when the request went away (the context shut
   * down): nothing to answer then. */
  if (!coap_future_done(p->future) && coap_message_new(&msg) == 0) {
    static const char text[] = "This is the delayed answer of /separate.";
    msg->code = COAP_CODE_CONTENT;
    coap_options_set_content_format(&msg->opt, COAP_CT_TEXT_PLAIN);
    if (coap_message_set_payload_string(msg, text) < 0 ||
        coap_future_resolve(p->future, msg, coap_message_free_result) < 0)
      coap_message_free(msg);
  }
  unlink_pending(p->site->separate, p);
  uv_close((uv_handle_t *)timer, on_closed);
}

static int separate_get(coap_resource *res, coap_message *req,
                        coap_message *resp, coap_future **later) {
  (void)req;
  (void)resp;
  plugtest_site *s = res->user_data;
  if (s->separate == NULL)
    return COAP_ESERVICE_UNAVAILABLE;
  pending *p = calloc(1, sizeof *p);
  if (p == NULL)
    return COAP_ENOMEM;
  int rc = coap_future_new(s->loop, &p->future);
  if (rc < 0) {
    free(p);
    return rc;
  }
  p->site = s;
  uv_timer_init(s->loop, &p->timer);
  p->timer.data = p;
  s->closing++;
  uv_timer_start(&p->timer, on_due, s->config.separate_delay_ms, 0);
  p->next = s->separate->head;
  if (p->next != NULL)
    p->next->prev = p;
  s->separate->head = p;
  *later = coap_future_ref(p->future);
  return 0;
}

int plugtest_separate_add(plugtest_site *s) {
  s->separate = calloc(1, sizeof *s->separate);
  if (s->separate == NULL)
    return COAP_ENOMEM;
  static const coap_resource_methods methods = {.render_get = separate_get};
  const coap_link_attributes attrs = {.ct = "0", .sz = -1};
  return plugtest_add(s, "separate", &methods, s, &attrs, false, NULL);
}

void plugtest_separate_free(plugtest_site *s) {
  plugtest_separate *sep = s->separate;
  if (sep == NULL)
    return;
  while (sep->head != NULL) {
    pending *p = sep->head;
    unlink_pending(sep, p);
    uv_timer_stop(&p->timer);
    uv_close((uv_handle_t *)&p->timer, on_closed);
  }
  free(sep);
  s->separate = NULL;
}
