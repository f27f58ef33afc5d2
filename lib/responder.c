/*
 * One incoming request (aiocoap.protocol.Responder): option checks, dispatch
 * to the site, and the response, piggybacked when the resource answers at
 * once or separate when its future takes longer.
 *
 * Responders come from a per-context pool and the request is moved (not
 * copied) into them, so answering at once allocates nothing; only a request
 * that waits for a future copies what it borrows from the datagram.
 */
#include "addr-internal.h"
#include "alloc-internal.h"
#include "context-internal.h"
#include "message-internal.h"
#include "no_response-internal.h"
#include "observation-internal.h"
#include "resource-internal.h"
#include "responder-internal.h"

#include <string.h>

/* Free responders kept for reuse. */
#define RESPONDER_POOL_MAX 256

static coap__responder *responder_get(coap_context *ctx) {
  coap__responder *r;
  if (!coap__queue_empty(&ctx->responder_pool)) {
    coap__queue *q = coap__queue_head(&ctx->responder_pool);
    coap__queue_remove(q);
    ctx->responder_pool_size--;
    r = coap__queue_data(q, coap__responder, link);
  } else {
    r = coap__malloc(sizeof *r);
    if (r == NULL)
      return NULL;
    coap_message_init(&r->request);
    coap_message_init(&r->response);
    coap__queue_init(&r->link);
  }
  r->kind = COAP__OWNER_RESPONDER;
  r->ctx = ctx;
  r->later = NULL;
  r->leisure.cb = NULL;
  coap__heap_node_init(&r->leisure.node);
  coap__responder_blockwise_init(r);
  return r;
}

static void responder_put(coap__responder *r) {
  coap_context *ctx = r->ctx;
  coap__responder_blockwise_release(r);
  coap__queue_remove(&r->link);
  if (r->later != NULL) {
    coap_future_unref(r->later);
    r->later = NULL;
  }
  if (ctx->responder_pool_size >= RESPONDER_POOL_MAX || ctx->shutting_down) {
    coap_message_clear(&r->request);
    coap_message_clear(&r->response);
    coap__free(r);
    return;
  }
  coap__message_reset(&r->request);
  coap__message_reset(&r->response);
  coap__queue_insert_tail(&ctx->responder_pool, &r->link);
  ctx->responder_pool_size++;
}

/*
 * The critical options this server acts on (RFC 7252 §5.4.1: "recognised"
 * means handled, not merely registered):
 *
 * - Uri-Host, Uri-Port: the server is one origin for every name and port it
 *   is reached by (§5.10.1 leaves the default to the server).
 * - Uri-Path, Uri-Query: routing (site.c) and the resource's own use;
 *   /.well-known/core filters by query (RFC 6690 §4.1).
 * - Accept: checked against the formats a resource declares (resource.c),
 *   otherwise read by the resource.
 * - If-Match, If-None-Match: evaluated for a resource that declares its
 *   ETag (resource.c, §5.10.8), otherwise handed to the resource.
 * - Block2, Block1: responder_blockwise.c, or the resource that asked for
 *   raw blocks (RFC 7959 §2).
 * - Proxy-Uri, Proxy-Scheme: for the site's proxy handler
 *   (coap_site_set_proxy), or answered 5.05 below (§5.7.2, §5.10.2).
 *
 * OSCORE (RFC 8613 §2) is registered but not implemented, so it is not
 * here: a protected request must not be answered in plaintext.  Observe,
 * Hop-Limit, Echo, No-Response, Request-Tag are elective.
 */
static const uint16_t recognised[] = {
    COAP_OPT_IF_MATCH,  COAP_OPT_URI_HOST,     COAP_OPT_IF_NONE_MATCH,
    COAP_OPT_URI_PORT,  COAP_OPT_URI_PATH,     COAP_OPT_URI_QUERY,
    COAP_OPT_ACCEPT,    COAP_OPT_BLOCK2,       COAP_OPT_BLOCK1,
    COAP_OPT_PROXY_URI, COAP_OPT_PROXY_SCHEME,
};

static bool is_recognised(uint16_t number) {
  for (size_t i = 0; i < sizeof recognised / sizeof recognised[0]; i++)
    if (recognised[i] == number)
      return true;
  return false;
}

/* RFC 7252 §5.4.1, §5.4.3, §5.4.5: a critical option that is not
 * recognised, has a length outside its bounds or occurs more often than
 * allowed makes the request fail.  Returns the first such option number,
 * or 0. */
static uint16_t bad_critical_option(const coap_message *req) {
  size_t n = coap_options_count(&req->opt);
  uint16_t prev = 0;
  for (size_t i = 0; i < n; i++) {
    const coap_option *o = coap_options_at(&req->opt, i);
    bool repeated = i > 0 && o->number == prev;
    prev = o->number;
    if (!coap_option_is_critical(o->number))
      continue;
    const coap_option_info *info = coap_option_info_get(o->number);
    if (info == NULL || !is_recognised(o->number) || o->len < info->min_len ||
        o->len > info->max_len || (repeated && !info->repeatable))
      return o->number;
  }
  return 0;
}

static uint8_t default_code(uint8_t method) {
  switch (method) {
  case COAP_CODE_GET:
  case COAP_CODE_FETCH:
    return COAP_CODE_CONTENT;
  case COAP_CODE_DELETE:
    return COAP_CODE_DELETED;
  default:
    return COAP_CODE_CHANGED;
  }
}

/* An error response with a diagnostic payload (RFC 7252 §5.5.2). */
static void error_response(coap_message *resp, uint8_t code,
                           const char *diagnostic) {
  coap__message_reset(resp);
  resp->code = code;
  coap_message_set_payload_borrowed(resp, diagnostic, strlen(diagnostic));
}

/*
 * RFC 7967 §2: the request was processed; a response of a class it asked
 * to suppress is not sent.  What is still due (the empty ACK of a CON not
 * yet acknowledged, §2.1) the message layer sends, and a duplicate of the
 * request gets it again rather than a second render.  A separate response
 * (the CON already acknowledged) is simply not sent.  The same holds for
 * the answer to an observation registration; its later notifications are
 * observation_server.c's.
 */
static int send_or_suppress(coap__responder *r) {
  coap_context *ctx = r->ctx;
  /* RFC 7252 §8.2: a server does not answer a request that came by
   * multicast with a 4.xx or 5.xx (RFC 7967 §2.1 reads it as No-Response
   * 24 by default): among many servers the one that has nothing to say
   * stays silent. */
  bool multicast_error = coap__remote_via_multicast(&r->request.remote) &&
                         (r->response.code >> 5) >= 4;
  if (!multicast_error &&
      !coap__no_response_suppresses(&r->request.opt, r->response.code))
    return coap__responder_send(r);
  coap__context_log(ctx, COAP_LOG_DEBUG, "%s response suppressed (%s)",
                    coap_code_name(r->response.code),
                    multicast_error ? "multicast" : "No-Response");
  (void)coap__mm_suppress(ctx->mm, r->in); /* answered already: nothing due */
  return 0;
}

/* RFC 7252 §8.2: how long a server waits before it answers a request that
 * came by multicast: a random point in its leisure, which is S * G / R
 * when the group's size and the rate are configured (S the answer's
 * size), else the configured leisure. */
static uint64_t leisure_delay(coap__responder *r) {
  coap_context *ctx = r->ctx;
  const coap_context_config *c = &ctx->config;
  if (!coap__remote_via_multicast(&r->request.remote))
    return 0;
  uint64_t leisure = c->multicast_leisure_ms;
  if (c->multicast_group_size > 0 && c->multicast_data_rate > 0)
    leisure = (uint64_t)coap_message_encoded_size(&r->response) *
              c->multicast_group_size * 1000u / c->multicast_data_rate;
  if (leisure == 0)
    return 0;
  return coap__context_random(ctx) % (leisure + 1);
}

static void on_leisure_over(coap__timer *timer) {
  coap__responder *r = coap__container_of(timer, coap__responder, leisure);
  coap_context *ctx = r->ctx;
  int rc = send_or_suppress(r);
  if (rc < 0)
    coap__context_log(ctx, COAP_LOG_WARNING, "response not sent: %s",
                      coap_strerror(rc));
  responder_put(r);
  coap__context_flush(ctx);
}

/* Holds the response back for the leisure: r is kept, and what it borrows
 * (the datagram, a cached representation) becomes its own.  False when it
 * cannot be: then it is answered at once. */
static bool hold_for_leisure(coap__responder *r, uint64_t delay) {
  coap_context *ctx = r->ctx;
  if (coap_message_own(&r->request) < 0 || coap_message_own(&r->response) < 0)
    return false;
  r->leisure.cb = on_leisure_over;
  coap__context_schedule(ctx, &r->leisure, coap__context_now(ctx) + delay);
  coap__queue_remove(&r->link);
  coap__queue_insert_tail(&ctx->responders, &r->link);
  ctx->stats.leisure_delayed++;
  return true;
}

/* Sends r->response for the request behind r->in.  Returns true when r
 * is kept to send it later (the leisure of a multicast request), false
 * when the caller puts r back. */
static bool respond(coap__responder *r) {
  coap_context *ctx = r->ctx;
  coap_message *resp = &r->response;
  if (resp->code == 0)
    resp->code = default_code(r->request.code);
  coap__responder_blockwise_response(r);
  (void)coap__responder_echo(r);
  /* RFC 7641 §4.1: Observe on the answer to an accepted registration. */
  coap__observation_server_respond(ctx, &r->request, r->in, resp);
  coap_message_set_token(resp, r->request.token, r->request.token_len);
  ctx->stats.requests_handled++;
  uint64_t delay = leisure_delay(r);
  if (delay > 0 && hold_for_leisure(r, delay))
    return true;
  int rc = send_or_suppress(r);
  if (rc == COAP_EMSGSIZE) {
    error_response(resp, COAP_CODE_INTERNAL_SERVER_ERROR, "response too large");
    coap_message_set_token(resp, r->request.token, r->request.token_len);
    rc = send_or_suppress(r);
  }
  if (rc < 0)
    coap__context_log(ctx, COAP_LOG_WARNING, "response not sent: %s",
                      coap_strerror(rc));
  return false;
}

int coap__responder_send(coap__responder *r) {
  coap_context *ctx = r->ctx;
  /* RFC 7252 §5.2.2: a request whose dedup entry is gone (evicted, or past
   * EXCHANGE_LIFETIME) was acknowledged and still awaits a separate
   * response; the message layer can only send it to a remote we name. */
  if (!coap_remote_is_set(&r->response.remote))
    r->response.remote = r->request.remote;
  return coap__mm_respond(ctx->mm, r->in, &r->response, NULL,
                          coap__context_now(ctx));
}

/* A responder the context let go of at shutdown (r->ctx NULL). */
static void responder_free_detached(coap__responder *r) {
  coap_resource_unref(r->bw.resource);
  coap_future_unref(r->later);
  coap_message_clear(&r->request);
  coap_message_clear(&r->response);
  coap__free(r);
}

static void on_render_done(coap_future *f, void *user_data) {
  coap__responder *r = user_data;
  coap_context *ctx = r->ctx;
  if (ctx == NULL) {
    responder_free_detached(r);
    return;
  }
  int err = coap_future_error(f);
  coap_message *result = coap_future_take_result(f);
  coap__message_reset(&r->response);
  if (result != NULL && (err == 0 || err == COAP_ERESPONSE)) {
    coap__message_move(&r->response, result);
    coap_message_free(result);
  } else {
    coap_message_free(result);
    if (err == 0)
      err = COAP_EINTERNAL_SERVER_ERROR; /* resolved without a message */
    error_response(&r->response, coap_error_to_code(err), coap_strerror(err));
  }
  if (!respond(r))
    responder_put(r);
  coap__context_flush(ctx);
  coap__context_rearm(ctx);
}

/* Issue 9: a peer that already holds max_outgoing_per_peer (outgoing
 * messages plus CON requests not yet answered, this one included) is
 * told to come back later, RFC 7252 §5.9.3.4, rather than given work whose
 * answers would take other peers' outgoing slots.  Max-Age: by then every
 * CON now outstanding to it has been acknowledged or given up. */
static bool refused_busy(coap__responder *r) {
  coap_context *ctx = r->ctx;
  const uint32_t limit = ctx->config.max_outgoing_per_peer;
  if (limit == 0 || r->request.mtype != COAP_TYPE_CON ||
      coap__mm_peer_outgoing(ctx->mm, &r->request.remote) <= limit)
    return false;
  error_response(&r->response, COAP_CODE_SERVICE_UNAVAILABLE,
                 "too many requests in progress");
  uint64_t wait = coap_max_transmit_wait_ms(&ctx->config.transmission);
  coap_options_set_max_age(&r->response.opt, (uint32_t)((wait + 999) / 1000));
  ctx->stats.peer_busy_refusals++;
  return true;
}

void coap__responder_handle_request(coap_context *ctx, coap_message *msg,
                                    coap__mm_incoming in) {
  coap__responder *r = responder_get(ctx);
  if (r == NULL)
    return; /* no memory: stay silent, the client retransmits */
  r->in = in;
  coap__message_move(&r->request, msg);
  coap_message *req = &r->request;
  coap_message *resp = &r->response;
  if (refused_busy(r)) {
    if (!respond(r))
      responder_put(r);
    return;
  }

  uint16_t bad = bad_critical_option(req);
  if (bad != 0 && req->mtype == COAP_TYPE_NON) {
    /* RFC 7252 §5.4.1: a NON with an unrecognised critical option is
     * rejected (§4.3: with an RST); only a CON gets 4.02. */
    (void)coap__mm_reject(ctx->mm, in); /* fails only when it is gone */
    responder_put(r);
    return;
  }
  if (bad != 0) {
    error_response(resp, COAP_CODE_BAD_OPTION, "unrecognised critical option");
  } else if ((coap_options_has(&req->opt, COAP_OPT_PROXY_URI) ||
              coap_options_has(&req->opt, COAP_OPT_PROXY_SCHEME)) &&
             coap__site_proxy(ctx->site) == NULL) {
    /* RFC 7252 §5.7.2: not a proxy. */
    error_response(resp, COAP_CODE_PROXYING_NOT_SUPPORTED,
                   "proxying not supported");
  } else if (ctx->site == NULL) {
    error_response(resp, COAP_CODE_NOT_FOUND, "no resources here");
  } else if (coap__responder_blockwise_request(r) == 0) {
    /* RFC 7641 §4.1: the resource decides on observing before rendering. */
    coap__observation_server_request(ctx, req, r->in);
    int rc = coap__responder_dispatch(r);
    if (rc == 1) {
      /* The resource answers later: keep what the request borrows. */
      if (coap_message_own(req) < 0 ||
          coap_future_add_done_callback(r->later, on_render_done, r) < 0) {
        coap_future_cancel(r->later);
        error_response(resp, COAP_CODE_INTERNAL_SERVER_ERROR, "out of memory");
      } else {
        coap__queue_insert_tail(&ctx->responders, &r->link);
        return;
      }
    } else if (rc < 0) {
      error_response(resp, coap_error_to_code(rc), coap_strerror(rc));
    }
  }
  if (!respond(r))
    responder_put(r);
}

/* Renders through the site.  Returns 0 when r->response is ready, 1 when
 * r->later will deliver it, or a negative error. */
int coap__responder_dispatch(coap__responder *r) {
  coap_resource *root = coap_site_as_resource(r->ctx->site);
  coap_future *later = NULL;
  int rc = coap_resource_render(root, &r->request, &r->response, &later);
  if (rc < 0) {
    if (later != NULL)
      coap_future_unref(later);
    return rc;
  }
  if (later == NULL)
    return 0;
  if (coap_future_done(later)) {
    /* Already settled: answer now, piggybacked, without a loop turn. */
    int err = coap_future_error(later);
    coap_message *result = coap_future_take_result(later);
    coap_future_unref(later);
    if (result == NULL || (err != 0 && err != COAP_ERESPONSE)) {
      coap_message_free(result);
      return err != 0 ? err : COAP_EINTERNAL_SERVER_ERROR;
    }
    coap__message_move(&r->response, result);
    coap_message_free(result);
    return 0;
  }
  r->later = later;
  return 1;
}

void coap__responder_handle_event(coap_context *ctx, void *owner,
                                  coap__mm_event event, int err) {
  (void)ctx;
  (void)owner;
  (void)event;
  (void)err;
}

void coap__responders_shutdown(coap_context *ctx) {
  /* A render still running reads its request until its future completes
   * (coap_render_fn): the responder (or notification record) stays, let go
   * of by the context, and its future is cancelled from the loop; the done
   * callback then frees it without touching the context. */
  while (!coap__queue_empty(&ctx->responders)) {
    coap__queue *q = coap__queue_head(&ctx->responders);
    coap__responder *r = coap__queue_data(q, coap__responder, link);
    coap__queue_remove(q);
    if (r->later == NULL) {
      /* Waiting out its leisure (§8.2): the answer is not sent. */
      coap__context_unschedule(ctx, &r->leisure);
      coap__queue_init(&r->link);
      responder_put(r); /* freed: the context is shutting down */
      continue;
    }
    r->ctx = NULL;
    if (coap__future_cancel_soon(ctx->scheduler, r->later) < 0)
      coap_future_cancel(r->later);
  }
  while (!coap__queue_empty(&ctx->responder_pool)) {
    coap__queue *q = coap__queue_head(&ctx->responder_pool);
    coap__responder *r = coap__queue_data(q, coap__responder, link);
    coap__queue_remove(q);
    coap_message_clear(&r->request);
    coap_message_clear(&r->response);
    coap__free(r);
  }
  ctx->responder_pool_size = 0;
}
