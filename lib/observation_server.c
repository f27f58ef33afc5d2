/*
 * Observe on the server side (RFC 7641 §4; aiocoap's ServerObservation and
 * resource.ObservableResource): registrations, the list of observers kept
 * by (client endpoint, token), and notifications.
 *
 * An observer keeps its registration request in wire form (a few dozen
 * bytes instead of a decoded message), decoded again for every rendered
 * notification, so that the resource sees the observer's own options
 * (Accept, ETag, Block2 size) each time, as aiocoap re-injects the request.
 * Notifications are NON, with a CON every notification_con_interval
 * notifications (the resource's own interval when it set one) and at least
 * once a day (§4.5); the message layer reports
 * an RST to either kind, or a CON timing out, and the observer goes.  While
 * a CON notification is unacknowledged, a new state takes its place
 * (§4.5.2, coap__mm_replace): it is sent as CON with a new MID when the old
 * one would have been retransmitted, and the stale state never goes again.
 * Only when the client's MIDs are used up does the newest state wait for
 * the ACK.
 *
 * A silent or greedy endpoint costs less and less (issue 9; RFC 7641 §4.5
 * asks for congestion control): it holds at most max_observers_per_peer
 * observations; once a CON notification to it has been retransmitted
 * unanswered, its other observers get no NONs, only the newest state when
 * it answers again; when that CON times out, every observation of the
 * endpoint ends; and when no CON slot is free, an observer that has shown
 * no sign of life for MAX_TRANSMIT_WAIT waits for one (the newest state
 * goes when a notification's CON ends) instead of being sent NONs.
 */
#include "alloc-internal.h"
#include "message-internal.h"
#include "observation-internal.h"
#include "no_response-internal.h"
#include "observation_server-internal.h"
#include "resource-internal.h"
#include "responder-internal.h"

#include <assert.h>
#include <string.h>

/* RFC 7641 §4.5: a CON notification at least every 24 hours. */
#define CON_AT_LEAST_EVERY_MS (24u * 3600u * 1000u)

/* A notification being made: a responder of its own, so that the
 * responder's blockwise handling (responder_blockwise.c) slices it, keeps
 * its representation for the block requests that follow and gives it an
 * ETag (RFC 7959 §2.4, §2.6), exactly as for a response.  The request is
 * the decoded registration, borrowing obs->request. */
typedef struct notification_render {
  coap__responder r;
  coap_server_observation *obs; /* a reference while a render is pending */
} notification_render;

struct coap__observable {
  coap__queue observers;
  size_t count;
  coap_observation_count_cb count_cb;
  /* The resource's own notification_con_interval, or
   * COAP_NOTIFICATION_CON_INTERVAL_CONTEXT for the context's. */
  uint32_t con_interval;
  /* Moves on with every updated_state: a representation kept for Block2
   * from an older one is stale (responder_blockwise.c). */
  uint64_t generation;
};

uint64_t coap__observable_generation(const coap_resource *resource) {
  return resource->observable != NULL ? resource->observable->generation : 0;
}

/* An observable resource and its observer list in one allocation, so that
 * coap_resource_unref frees both (observers hold references, so the list is
 * empty by then). */
typedef struct observable_resource {
  coap_resource resource;
  struct coap__observable observable;
} observable_resource;

static_assert(offsetof(observable_resource, resource) == 0,
              "coap_resource_unref frees the whole allocation");

static void end(coap_server_observation *obs, int reason, bool shutdown);
static void notify(coap_server_observation *obs);

/* Whether a new state of obs must wait (it is marked dirty and goes
 * later): no MID to replace its CON with, no outgoing slot for its CON, or
 * its peer leaves another CON notification unanswered (issue 9: a peer
 * that answers nothing gets no NONs meanwhile, only the CONs already
 * retransmitting, which its own CON's replacement rides on). */
static bool must_wait(const coap_server_observation *obs) {
  return obs->mid_blocked || obs->starved ||
         (obs->peer_silent && !obs->con_outstanding);
}
static void obs_unref(coap_server_observation *obs);

/* ---- callbacks into the application, from the loop (aiocoap.h) ---- */

static void run_count_cb(coap__call *call) {
  ((coap_observation_count_cb)call->fn)(call->object, (size_t)call->value);
}

static void release_resource(coap__call *call) {
  coap_resource_unref(call->object);
}

/* update_observation_count with the number as it is now; the call holds
 * the resource, so the callback finds it alive whatever happened since. */
static void count_changed(coap_context *ctx, coap_resource *resource) {
  struct coap__observable *observable = resource->observable;
  /* Unobserved, a resource need not call updated_state when it changes:
   * nothing kept while it had observers may be trusted after. */
  if (observable->count == 0)
    observable->generation++;
  if (observable->count_cb == NULL)
    return;
  coap__call call = {.run = run_count_cb,
                     .release = release_resource,
                     .object = coap_resource_ref(resource),
                     .fn = (void (*)(void))observable->count_cb,
                     .value = (intptr_t)observable->count};
  coap__scheduler_call_soon(ctx->scheduler, &call);
}

static void run_cancel_cb(coap__call *call) {
  ((coap_server_observation_cancel_cb)call->fn)(call->object, call->user_data);
}

static void release_observation(coap__call *call) {
  obs_unref(call->object);
}

/* ---- observations ---- */

static void obs_unref(coap_server_observation *obs) {
  if (--obs->refs > 0)
    return;
  coap__scheduler_unreserve(obs->cancel_record);
  coap__free(obs->request);
  coap__free(obs);
}

static void on_soon(coap__timer *timer);

/* Keeps request in wire form: its options and payload matter, its header
 * does not (it is decoded with whatever type and MID it had). */
static int store_request(coap_server_observation *obs,
                         const coap_message *request) {
  size_t len = coap_message_encoded_size(request);
  if (len > UINT16_MAX)
    return COAP_EMSGSIZE;
  uint8_t *buf = coap__malloc(len);
  if (buf == NULL)
    return COAP_ENOMEM;
  int n = coap_message_encode(request, buf, len);
  if (n < 0) {
    coap__free(buf);
    return n;
  }
  coap__free(obs->request);
  obs->request = buf;
  obs->request_len = (uint16_t)n;
  return 0;
}

/* Whether request asks for what obs was registered with: the same options
 * and payload (everything after the header and token). */
static bool same_target(const coap_server_observation *obs,
                        const coap_message *request) {
  uint8_t buf[512];
  int n = coap_message_encode(request, buf, sizeof buf);
  size_t skip = COAP_HEADER_LENGTH + obs->token_len;
  return n >= 0 && (size_t)n == obs->request_len &&
         memcmp(buf + skip, obs->request + skip, (size_t)n - skip) == 0;
}

static coap_server_observation *
obs_new(coap_context *ctx, const coap_message *request, coap__mm_incoming in) {
  coap_server_observation *obs = coap__calloc(1, sizeof *obs);
  if (obs == NULL)
    return NULL;
  obs->kind = COAP__OWNER_SERVER_OBSERVATION;
  obs->refs = 1;
  obs->ctx = ctx;
  obs->remote = request->remote;
  memcpy(obs->token, request->token, request->token_len);
  obs->token_len = request->token_len;
  obs->in = in;
  obs->answering = true;
  obs->state = OBS_PENDING;
  /* §4.4: any start will do; the value only needs to increase from here. */
  obs->seq = 1;
  obs->last_con_at = coap__context_now(ctx);
  obs->last_heard = obs->last_con_at;
  obs->soon.cb = on_soon;
  coap__heap_node_init(&obs->soon.node);
  coap__queue_init(&obs->resource_link);
  coap__queue_init(&obs->starved_link);
  if (store_request(obs, request) < 0) {
    coap__free(obs);
    return NULL;
  }
  obs->no_response = coap__no_response_mask(&request->opt);
  return obs;
}

/* Sends resp (owned by the caller) as the next notification of obs, and
 * ends obs when resp is unsuccessful (§4.2: the client is then removed). */
static void send_notification(coap_server_observation *obs,
                              coap_message *resp) {
  coap_context *ctx = obs->ctx;
  uint64_t now = coap__context_now(ctx);
  if (resp->code == 0)
    resp->code = COAP_CODE_CONTENT;
  /* §4.2: only a 2.xx notification keeps the observation going. */
  const bool keeps =
      coap_code_is_successful(resp->code) && resp->code != COAP_CODE_CONTINUE;
  if (coap__no_response_covers(obs->no_response, resp->code)) {
    /* RFC 7967 §2: a notification is a response to the registration, and
     * the client asked not to get this class; the observation goes on (a
     * 2.xx) or ends (an error, RFC 7641 §4.2) as if it had been sent. */
    if (!keeps)
      end(obs, COAP_ERESPONSE, false);
    return;
  }
  coap_message_set_token(resp, obs->token, obs->token_len);
  resp->remote = obs->remote;
  resp->mid = -1;
  bool con = !keeps || resp->mtype == COAP_TYPE_CON;
  uint32_t interval = ctx->config.notification_con_interval;
  if (obs->resource != NULL && obs->resource->observable != NULL &&
      obs->resource->observable->con_interval !=
          COAP_NOTIFICATION_CON_INTERVAL_CONTEXT)
    interval = obs->resource->observable->con_interval;
  if (interval > 0 && obs->since_con + 1 >= interval)
    con = true;
  if (now - obs->last_con_at >= CON_AT_LEAST_EVERY_MS)
    con = true;
  resp->mtype = con ? COAP_TYPE_CON : COAP_TYPE_NON;
  coap_options_delete(&resp->opt, COAP_OPT_OBSERVE);
  if (keeps) {
    obs->seq = (obs->seq + 1) % COAP__OBSERVE_MODULUS;
    coap_options_set_observe(&resp->opt, obs->seq);
  }
  void *owner = keeps ? obs : NULL;
  int rc;
  if (keeps && obs->con_outstanding) {
    /* §4.5.2: the new state goes in place of the unacknowledged one, which
     * is never retransmitted again. */
    resp->mtype = COAP_TYPE_CON;
    rc = coap__mm_replace(ctx->mm, obs, resp, now);
    if (rc != COAP_ENOENT) {
      if (rc == COAP_EAGAIN) {
        obs->mid_blocked = true;
        obs->dirty = true;
      } else if (rc < 0) {
        coap__context_log(ctx, COAP_LOG_WARNING, "notification not sent: %s",
                          coap_strerror(rc));
      } else {
        obs->since_con = 0;
        obs->last_con_at = now;
      }
      coap__context_rearm(ctx);
      return;
    }
    obs->con_outstanding = false;
  }
  rc = coap__mm_send(ctx->mm, resp, owner, now);
  if (rc == COAP_EAGAIN && keeps && !con) {
    /* Beyond an unvalidated peer's amplification budget a NON cannot go,
     * but a CON may, as its probe: acknowledging it validates the peer. */
    resp->mtype = COAP_TYPE_CON;
    con = true;
    rc = coap__mm_send(ctx->mm, resp, owner, now);
  }
  if (rc == COAP_EAGAIN && keeps) {
    /* RFC 7252 §11.3: beyond what an unvalidated peer's amplification
     * budget allows; the newest state goes once it is validated (an ACK
     * to an earlier CON unsilences its peer) or a later state fits. */
    obs->dirty = true;
    coap__context_rearm(ctx);
    return;
  }
  if (rc == COAP_ELIMIT && keeps && con &&
      now - obs->last_heard >=
          coap_max_transmit_wait_ms(&ctx->config.transmission)) {
    /* Issue 9, RFC 7641 §4.5 (congestion control): no room for another
     * CON, and this observer has shown no sign of life for as long as a
     * CON would have been retransmitted.  Rather than NONs it may never
     * read, it gets the newest state as CON when a notification's CON
     * ends and frees a slot. */
    coap__observations *o = ctx->observations;
    obs->dirty = true;
    obs->starved = true;
    coap__queue_insert_tail(&o->starved, &obs->starved_link);
    ctx->stats.notifications_deferred++;
    coap__context_rearm(ctx);
    return;
  }
  if (rc == COAP_ELIMIT && keeps) {
    /* No room for another CON in flight: a NON still tells the client. */
    resp->mtype = COAP_TYPE_NON;
    con = false;
    rc = coap__mm_send(ctx->mm, resp, owner, now);
  }
  if (rc < 0) {
    coap__context_log(ctx, COAP_LOG_WARNING, "notification not sent: %s",
                      coap_strerror(rc));
  } else if (keeps) {
    obs->used_mm = true;
    obs->since_con = con ? 0 : obs->since_con + 1;
    if (con) {
      obs->con_outstanding = true;
      obs->last_con_at = now;
    }
  }
  if (!keeps)
    end(obs, COAP_ERESPONSE, false);
  else
    coap__context_rearm(ctx);
}

/* Decodes the stored registration into msg (borrowing obs->request). */
static int decode_request(const coap_server_observation *obs,
                          coap_message *msg) {
  int rc = coap_message_decode(msg, obs->request, obs->request_len);
  if (rc < 0)
    return rc;
  msg->remote = obs->remote;
  return 0;
}

/* An error as the notification that ends the observation (§4.2). */
static void error_notification(coap_message *resp, int err) {
  coap__message_reset(resp);
  resp->code = coap_error_to_code(err);
  coap_message_set_payload_borrowed(resp, coap_strerror(err),
                                    strlen(coap_strerror(err)));
}

/* A render record with obs's registration decoded into it: the spare one
 * the context keeps, or a new one.  NULL on COAP_ENOMEM. */
static notification_render *render_get(coap_server_observation *obs) {
  coap__observations *o = obs->ctx->observations;
  notification_render *n = o->spare_render;
  if (n != NULL) {
    o->spare_render = NULL;
  } else {
    n = coap__malloc(sizeof *n);
    if (n == NULL)
      return NULL;
    coap_message_init(&n->r.request);
    coap_message_init(&n->r.response);
  }
  n->r.kind = COAP__OWNER_RESPONDER;
  n->r.ctx = obs->ctx;
  n->r.in = (coap__mm_incoming){0, 0};
  n->r.later = NULL;
  coap__queue_init(&n->r.link);
  n->obs = NULL;
  coap__responder_blockwise_init(&n->r);
  return n;
}

static void render_free(notification_render *n) {
  coap_resource_unref(n->r.bw.resource);
  coap_message_clear(&n->r.request);
  coap_message_clear(&n->r.response);
  coap__free(n);
}

/* Done with n: it becomes the context's spare (its buffers kept), or
 * goes. */
static void render_put(coap_context *ctx, notification_render *n) {
  coap__queue_remove(&n->r.link);
  coap__responder_blockwise_release(&n->r);
  if (n->r.later != NULL) {
    coap_future_unref(n->r.later);
    n->r.later = NULL;
  }
  coap__observations *o = ctx->observations;
  if (o == NULL || o->spare_render != NULL) {
    render_free(n);
    return;
  }
  coap__message_reset(&n->r.request);
  coap__message_reset(&n->r.response);
  o->spare_render = n;
}

/* The notification in n->r.response (or the error rc) is complete: slice,
 * send, and give n back. */
static void render_finish(coap_server_observation *obs, notification_render *n,
                          int rc) {
  coap_context *ctx = obs->ctx;
  coap__responder *r = &n->r;
  if (rc < 0)
    error_notification(&r->response, rc);
  if (r->response.code == 0)
    r->response.code = COAP_CODE_CONTENT;
  coap__responder_blockwise_response(r);
  send_notification(obs, &r->response);
  render_put(ctx, n);
}

static void on_render_done(coap_future *f, void *user_data) {
  notification_render *n = user_data;
  coap_server_observation *obs = n->obs;
  coap__responder *r = &n->r;
  if (r->ctx == NULL) {
    /* Detached when the context shut down (coap__responders_shutdown):
     * the context may be gone; only the record and the reference are
     * left to drop. */
    coap_future_unref(r->later);
    r->later = NULL;
    render_free(n);
    obs_unref(obs);
    return;
  }
  if (obs->state == OBS_ENDED) {
    /* The observer went while the render ran: the request it read stayed
     * valid until now (coap_render_fn); nothing is sent. */
    render_put(obs->ctx, n);
    obs_unref(obs);
    return;
  }
  obs->rendering = NULL;
  int err = coap_future_error(f);
  coap_message *result = coap_future_take_result(f);
  coap__message_reset(&r->response);
  int rc = 0;
  if (result != NULL && (err == 0 || err == COAP_ERESPONSE))
    coap__message_move(&r->response, result);
  else
    rc = err != 0 ? err : COAP_EINTERNAL_SERVER_ERROR;
  coap_message_free(result);
  coap_context *ctx = obs->ctx;
  render_finish(obs, n, rc);
  if (obs->state == OBS_ACTIVE && obs->dirty && !must_wait(obs)) {
    obs->dirty = false;
    notify(obs);
  }
  obs_unref(obs); /* the render's */
  if (!ctx->shutting_down) {
    coap__context_flush(ctx);
    coap__context_rearm(ctx);
  }
}

/* Makes and sends a notification: response (borrowed) as the application
 * gave it, or, when NULL, rendered afresh from the observer's request. */
static void notify_with(coap_server_observation *obs,
                        const coap_message *response) {
  coap_context *ctx = obs->ctx;
  notification_render *n = render_get(obs);
  if (n == NULL) {
    coap__context_log(ctx, COAP_LOG_WARNING, "notification not made: %s",
                      coap_strerror(COAP_ENOMEM));
    return;
  }
  coap__responder *r = &n->r;
  int rc = decode_request(obs, &r->request);
  if (rc == 0 && ctx->site == NULL)
    rc = COAP_ENOT_FOUND;
  if (rc == 0 && coap__responder_blockwise_request(r) == 0) {
    if (response != NULL)
      rc = coap_message_copy(&r->response, response);
    else
      rc = coap__responder_dispatch(r);
  }
  if (rc == 1) {
    /* The render request stays valid until the future completes
     * (coap_render_fn): it borrows obs->request, which the record's
     * reference keeps. */
    if (coap_future_add_done_callback(r->later, on_render_done, n) == 0) {
      n->obs = obs;
      obs->refs++;
      obs->rendering = n;
      /* With the responders waiting for a render, so that shutdown
       * detaches it as it does them. */
      coap__queue_insert_tail(&ctx->responders, &r->link);
      return;
    }
    coap_future_cancel(r->later);
    rc = COAP_ENOMEM;
  }
  render_finish(obs, n, rc);
}

static void notify(coap_server_observation *obs) {
  if (obs->rendering != NULL || must_wait(obs)) {
    if (must_wait(obs))
      obs->ctx->stats.notifications_deferred++;
    obs->dirty = true;
    return;
  }
  notify_with(obs, NULL);
}

static void on_soon(coap__timer *timer) {
  coap_server_observation *obs =
      coap__container_of(timer, coap_server_observation, soon);
  if (obs->state == OBS_ACTIVE && obs->dirty && !must_wait(obs)) {
    obs->dirty = false;
    notify(obs);
  }
}

/* Marks every observation of remote silent. */
static void peer_silence(coap__observations *o, const coap_remote *remote) {
  for (coap_server_observation *s = coap__obs_peer_first(o, remote); s != NULL;
       s = coap__obs_peer_next(s, remote))
    s->peer_silent = true;
}

/* The peer answered (or the CON it left unanswered is gone): its
 * observers may be notified again, and those that missed a state get the
 * newest from the loop (on_soon), never from inside this call. */
static void peer_unsilence(coap_context *ctx, const coap_remote *remote) {
  coap__observations *o = ctx->observations;
  uint64_t now = coap__context_now(ctx);
  for (coap_server_observation *s = coap__obs_peer_first(o, remote); s != NULL;
       s = coap__obs_peer_next(s, remote)) {
    s->peer_silent = false;
    if (s->state == OBS_ACTIVE && s->dirty)
      coap__context_schedule(ctx, &s->soon, now);
  }
}

/* Ends obs: it leaves the table and its resource, the message layer
 * forgets it, and whoever accepted it hears of it.  With shutdown the
 * message layer is about to go as a whole and is left alone. */
static void end(coap_server_observation *obs, int reason, bool shutdown) {
  if (obs->state == OBS_ENDED)
    return;
  coap_context *ctx = obs->ctx;
  coap__observations *o = ctx->observations;
  const bool was_accepted = obs->accepted;
  obs->state = OBS_ENDED;
  coap__obs_table_remove(o, obs);
  if (was_accepted)
    o->accepted--;
  coap__context_unschedule(ctx, &obs->soon);
  coap__queue_remove(&obs->starved_link);
  obs->starved = false;
  /* Whichever CON made the peer silent may have been this one's (an RST
   * ended it, or the application did): the others must not wait for an
   * ACK that will never come.  Another unanswered CON silences them again
   * at its next retransmission. */
  if (obs->peer_silent && !shutdown)
    peer_unsilence(ctx, &obs->remote);
  if (obs->used_mm && !shutdown)
    coap__mm_cancel(ctx->mm, obs);
  /* A render still running keeps its record and its reference on obs:
   * the request it reads stays valid until its future completes
   * (coap_render_fn), and on_render_done then sends nothing. */
  obs->rendering = NULL;
  coap__context_log(ctx, COAP_LOG_DEBUG, "observation ended: %s",
                    coap_strerror(reason));
  coap_resource *resource = obs->resource;
  obs->resource = NULL;
  if (resource != NULL) {
    coap__queue_remove(&obs->resource_link);
    resource->observable->count--;
    count_changed(ctx, resource);
  }
  if (was_accepted && obs->cancel_cb != NULL) {
    /* The call takes over the table's reference: obs stays readable for
     * the callback, and goes after it. */
    coap__call call = {.run = run_cancel_cb,
                       .release = release_observation,
                       .object = obs,
                       .fn = (void (*)(void))obs->cancel_cb,
                       .user_data = obs->cancel_data};
    coap_resource_unref(resource);
    void *record = obs->cancel_record;
    obs->cancel_record = NULL;
    coap__scheduler_call_reserved(ctx->scheduler, record, &call);
    return;
  }
  coap_resource_unref(resource);
  obs_unref(obs);
}

/* ---- from the responder ---- */

static bool is_block_continuation(const coap_message *request) {
  coap_block b;
  return coap_options_get_block(&request->opt, COAP_OPT_BLOCK2, &b) == 0 &&
         b.num > 0;
}

void coap__observation_server_request(coap_context *ctx,
                                      const coap_message *request,
                                      coap__mm_incoming in) {
  uint32_t observe = 0;
  const bool has_observe =
      coap_options_get_observe(&request->opt, &observe) == 0;
  coap__observations *o = ctx->observations;
  /* RFC 7959 §2.6: the rest of a blockwise notification is asked for with
   * the observer's token or another; either way it changes nothing. */
  if ((o == NULL || o->count == 0) && !has_observe)
    return;
  if (is_block_continuation(request))
    return;
  const bool registers =
      has_observe && observe == 0 &&
      (request->code == COAP_CODE_GET || request->code == COAP_CODE_FETCH);
  coap_server_observation *old =
      coap__obs_find(o, &request->remote, request->token, request->token_len);
  if (old != NULL) {
    /* §4.1: a registration with the token of an existing entry updates
     * it; anything else with that token (Observe 1 deregisters, §3.6; a
     * new request reuses the token) ends it. */
    if (registers && old->state == OBS_ACTIVE && !old->answering &&
        same_target(old, request)) {
      old->in = in;
      old->last_heard = coap__context_now(ctx);
      old->answering = true;
      return;
    }
    end(old, COAP_EOBSERVATION_CANCELLED, false);
  }
  if (!registers || ctx->site == NULL)
    return;
  o = coap__observations_get(ctx);
  if (o == NULL || o->accepted >= ctx->config.max_observers)
    return;
  coap_server_observation *obs = obs_new(ctx, request, in);
  if (obs == NULL)
    return;
  if (coap__obs_table_insert(o, obs) < 0) {
    obs_unref(obs);
    return;
  }
  /* A peer that sends requests but acknowledges no notification stays
   * silent for its new observers too. */
  coap_server_observation *sibling = coap__obs_peer_next(obs, &obs->remote);
  if (sibling != NULL)
    obs->peer_silent = sibling->peer_silent;
  /* aiocoap's Responder.handle_observe_request: the resource decides
   * before it renders. */
  coap_resource *root = coap_site_as_resource(ctx->site);
  if (root->vtable->add_observation != NULL) {
    /* Application code: it may shut the context down, which ends obs;
     * the reference keeps it readable (as ended) for the rest of the
     * call. */
    obs->refs++;
    root->vtable->add_observation(root, request, obs);
    obs_unref(obs);
  }
}

void coap__observation_server_respond(coap_context *ctx,
                                      const coap_message *request,
                                      coap__mm_incoming in,
                                      coap_message *response) {
  coap__observations *o = ctx->observations;
  if (o == NULL || o->count == 0)
    return;
  coap_server_observation *obs =
      coap__obs_find(o, &request->remote, request->token, request->token_len);
  if (obs == NULL || !obs->answering || obs->in.slot != in.slot ||
      obs->in.gen != in.gen)
    return;
  obs->answering = false;
  coap_options_delete(&response->opt, COAP_OPT_OBSERVE);
  /* §4.1: only a successful response registers; a resource that did not
   * accept is served without Observe. */
  if (!obs->accepted || !coap_code_is_successful(response->code) ||
      response->code == COAP_CODE_CONTINUE) {
    end(obs, COAP_ERESPONSE, false);
    return;
  }
  obs->seq = (obs->seq + 1) % COAP__OBSERVE_MODULUS;
  coap_options_set_observe(&response->opt, obs->seq);
  obs->state = OBS_ACTIVE;
  if (obs->dirty) {
    /* Changed while the registration was answered: notify right after the
     * response has gone. */
    coap__context_schedule(ctx, &obs->soon, coap__context_now(ctx));
  }
}

/* A notification's CON ended, so a slot is free: the observer that waited
 * longest for one gets its newest state. */
static void feed_starved(coap_context *ctx) {
  coap__observations *o = ctx->observations;
  if (o == NULL || coap__queue_empty(&o->starved))
    return;
  coap__queue *q = coap__queue_head(&o->starved);
  coap__queue_remove(q);
  coap_server_observation *obs =
      coap__queue_data(q, coap_server_observation, starved_link);
  obs->starved = false;
  if (obs->state == OBS_ACTIVE && obs->dirty && !must_wait(obs)) {
    obs->dirty = false;
    notify(obs);
  }
}

/* RFC 7641 §4.5: the server may remove an observer that does not
 * acknowledge a CON notification; the endpoint that did not acknowledge
 * this one acknowledges none of its others either (issue 9: 1,024 silent
 * observers used to go one MAX_TRANSMIT_WAIT at a time, about a day). */
static void end_peer(coap_context *ctx, const coap_remote *remote, int err) {
  coap__observations *o;
  coap_server_observation *s;
  /* Ending runs no application code (its callbacks are queued). */
  while ((o = ctx->observations) != NULL &&
         (s = coap__obs_peer_first(o, remote)) != NULL)
    end(s, err, false);
}

void coap__observation_server_peer_validated(coap_context *ctx,
                                             const coap_remote *remote) {
  /* RFC 7252 §11.3: what the amplification limit held back (dirty) goes
   * now, from the loop. */
  coap__observations *o = ctx->observations;
  if (o == NULL)
    return;
  uint64_t now = coap__context_now(ctx);
  for (coap_server_observation *s = coap__obs_peer_first(o, remote); s != NULL;
       s = coap__obs_peer_next(s, remote))
    if (s->state == OBS_ACTIVE && s->dirty)
      coap__context_schedule(ctx, &s->soon, now);
}

void coap__observation_server_event(coap_context *ctx, void *owner,
                                    coap__mm_event event, int err) {
  coap_server_observation *obs = owner;
  coap_remote remote = obs->remote;
  switch (event) {
  case COAP__MM_RETRANSMITTED:
    if (!obs->peer_silent && ctx->observations != NULL)
      peer_silence(ctx->observations, &remote);
    break;
  case COAP__MM_ACKED:
    obs->con_outstanding = false;
    obs->mid_blocked = false;
    obs->last_heard = coap__context_now(ctx);
    if (obs->peer_silent && ctx->observations != NULL) {
      peer_unsilence(ctx, &remote);
    } else if (obs->state == OBS_ACTIVE && obs->dirty && !must_wait(obs)) {
      obs->dirty = false;
      notify(obs);
    }
    feed_starved(ctx);
    break;
  case COAP__MM_TIMEOUT:
    obs->con_outstanding = false;
    end_peer(ctx, &remote, err);
    feed_starved(ctx);
    break;
  case COAP__MM_RST:
  case COAP__MM_FAILED:
    /* §3.6: an RST to a notification means the client lost interest. */
    obs->con_outstanding = false;
    end(obs, err, false);
    feed_starved(ctx);
    break;
  default:
    break;
  }
}

/* ---- the public API ---- */

int coap_server_observation_accept(coap_server_observation *obs,
                                   coap_server_observation_cancel_cb cb,
                                   void *user_data) {
  if (obs == NULL || obs->accepted || obs->state == OBS_ENDED ||
      !obs->answering)
    return COAP_EINVAL;
  coap_context *ctx = obs->ctx;
  coap__observations *o = ctx->observations;
  if (o->accepted >= ctx->config.max_observers)
    return COAP_ELIMIT;
  /* Issue 9: one endpoint must not hold every slot there is. */
  if (ctx->config.max_observers_per_peer > 0 &&
      coap__obs_peer_accepted(o, &obs->remote) >=
          ctx->config.max_observers_per_peer) {
    ctx->stats.peer_observers_refused++;
    return COAP_ELIMIT;
  }
  /* The callback is promised to fire: what queues it is taken now, when
   * failing can still be reported. */
  if (cb != NULL && obs->cancel_record == NULL) {
    obs->cancel_record = coap__scheduler_reserve(ctx->scheduler);
    if (obs->cancel_record == NULL)
      return COAP_ENOMEM;
  }
  obs->accepted = true;
  o->accepted++;
  obs->cancel_cb = cb;
  obs->cancel_data = user_data;
  return 0;
}

int coap_server_observation_trigger(coap_server_observation *obs,
                                    const coap_message *response) {
  if (obs == NULL || obs->state == OBS_ENDED)
    return COAP_EINVAL;
  if (obs->state == OBS_PENDING || obs->answering) {
    obs->dirty = true;
    return 0;
  }
  /* While a notification is being rendered, or a CON one awaits its ACK
   * with no MID free to replace it, the newest state goes out afterwards,
   * rendered (§4.5.2). */
  if (response == NULL || obs->rendering != NULL || must_wait(obs))
    notify(obs);
  else
    notify_with(obs, response);
  return 0;
}

void coap_server_observation_deregister(coap_server_observation *obs,
                                        int reason) {
  if (obs != NULL)
    end(obs, reason, false);
}

int coap_server_observation_request(const coap_server_observation *obs,
                                    coap_message *out) {
  /* Declared in observation.h (the observer's request, borrowing the
   * stored registration) but never defined: callers failed to link. */
  if (obs == NULL || out == NULL || obs->state == OBS_ENDED)
    return COAP_EINVAL;
  return decode_request(obs, out);
}

/* ---- ObservableResource ---- */

static const coap_resource_vtable observable_methods_vtable = {
    .add_observation = coap_observable_resource_add_observation,
};

static int observable_new(const coap_resource_vtable *vtable,
                          const coap_resource_methods *methods,
                          coap_observation_count_cb count_cb, void *user_data,
                          coap_resource **out) {
  observable_resource *r = coap__calloc(1, sizeof *r);
  if (r == NULL)
    return COAP_ENOMEM;
  coap__resource_init(&r->resource, vtable, user_data);
  r->resource.methods = methods;
  r->resource.observable = &r->observable;
  coap__queue_init(&r->observable.observers);
  r->observable.count_cb = count_cb;
  r->observable.con_interval = COAP_NOTIFICATION_CON_INTERVAL_CONTEXT;
  *out = &r->resource;
  return 0;
}

int coap_observable_resource_new_methods(const coap_resource_methods *methods,
                                         coap_observation_count_cb count_cb,
                                         void *user_data, coap_resource **out) {
  if (methods == NULL || out == NULL)
    return COAP_EINVAL;
  return observable_new(&observable_methods_vtable, methods, count_cb,
                        user_data, out);
}

int coap_observable_resource_new(const coap_resource_vtable *vtable,
                                 coap_observation_count_cb count_cb,
                                 void *user_data, coap_resource **out) {
  if (vtable == NULL || vtable->render == NULL || out == NULL)
    return COAP_EINVAL;
  return observable_new(vtable, NULL, count_cb, user_data, out);
}

void coap_observable_resource_add_observation(coap_resource *resource,
                                              const coap_message *request,
                                              coap_server_observation *obs) {
  (void)request;
  struct coap__observable *observable = resource->observable;
  if (observable == NULL ||
      observable->count >= obs->ctx->config.max_observers_per_resource)
    return;
  if (coap_server_observation_accept(obs, NULL, NULL) < 0)
    return;
  obs->resource = coap_resource_ref(resource);
  coap__queue_insert_tail(&observable->observers, &obs->resource_link);
  observable->count++;
  count_changed(obs->ctx, resource);
}

/* Moves every element of from to to (initialised here); from is left
 * empty. */
static void queue_move(coap__queue *from, coap__queue *to) {
  coap__queue_init(to);
  if (coap__queue_empty(from))
    return;
  to->next = from->next;
  to->prev = from->prev;
  to->next->prev = to;
  to->prev->next = to;
  coap__queue_init(from);
}

int coap_observable_resource_updated_state(coap_resource *resource,
                                           const coap_message *response) {
  if (resource == NULL || resource->observable == NULL)
    return COAP_EINVAL;
  struct coap__observable *observable = resource->observable;
  observable->generation++;
  /* Observers may end while being notified, and callbacks may add or end
   * others: take them off the list one at a time, putting each back before
   * its notification (libuv walks its handle queues the same way). */
  coap__queue todo;
  queue_move(&observable->observers, &todo);
  coap_resource_ref(resource);
  int n = 0;
  while (!coap__queue_empty(&todo)) {
    coap__queue *q = coap__queue_head(&todo);
    coap__queue_remove(q);
    coap__queue_insert_tail(&observable->observers, q);
    coap_server_observation *obs =
        coap__queue_data(q, coap_server_observation, resource_link);
    if (coap_server_observation_trigger(obs, response) == 0)
      n++;
  }
  coap_resource_unref(resource);
  return n;
}

int coap_observable_resource_set_con_interval(coap_resource *resource,
                                              uint32_t interval) {
  if (resource == NULL || resource->observable == NULL)
    return COAP_EINVAL;
  resource->observable->con_interval = interval;
  return 0;
}

size_t
coap_observable_resource_observation_count(const coap_resource *resource) {
  return resource != NULL && resource->observable != NULL
             ? resource->observable->count
             : 0;
}

/* ---- the context's view ---- */

static void end_server_matching(coap_context *ctx, const coap_remote *remote,
                                int err, bool shutdown) {
  if (remote != NULL) {
    end_peer(ctx, remote, err);
    return;
  }
  coap__observations *o = ctx->observations;
  for (size_t i = 0; o != NULL && i < o->nbuckets; i++) {
    coap_server_observation *obs = o->buckets[i];
    while (obs != NULL) {
      if (remote != NULL && !coap_remote_equal(&obs->remote, remote)) {
        obs = obs->hash_next;
        continue;
      }
      /* Ending runs no application code (its callbacks are queued), so
       * the chain holds still but for obs itself. */
      coap_server_observation *next = obs->hash_next;
      end(obs, err, shutdown);
      obs = next;
    }
  }
}

void coap__observations_kill(coap_context *ctx, const coap_remote *remote,
                             int err) {
  end_server_matching(ctx, remote, err, false);
  coap__observation_clients_end_all(ctx, remote, err);
}

void coap__observations_shutdown(coap_context *ctx) {
  coap__observations *o = ctx->observations;
  if (o == NULL)
    return;
  end_server_matching(ctx, NULL, COAP_ESHUTDOWN, true);
  coap__observation_clients_end_all(ctx, NULL, COAP_ESHUTDOWN);
  if (o->spare_render != NULL)
    render_free(o->spare_render);
  coap__free(o->buckets);
  coap__free(o->peer_buckets);
  coap__free(o);
  ctx->observations = NULL;
}
