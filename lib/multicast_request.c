/*
 * Requests to a group (aiocoap's MulticastRequest; include/aiocoap/
 * multicast.h): one NON to the group address, then every answer matched by
 * token alone, from whichever server sends it (RFC 7252 §8.2: a server
 * answers from its unicast address), each server tracked apart: its
 * Block2 completion by unicast (RFC 7959 §2.8) and, for an observation,
 * its notification order (RFC 7641 §3.4).
 */
#include "addr-internal.h"
#include "alloc-internal.h"
#include "block2_fetch-internal.h"
#include "context-internal.h"
#include "message_stream-internal.h"
#include "no_response-internal.h"
#include "observation-internal.h"

#include <aiocoap/multicast.h>
#include <aiocoap/util.h>

#include <stdio.h>
#include <string.h>

/* One server that answered. */
typedef struct mc_source {
  struct coap_multicast_request *mr;
  coap_remote remote;
  bool observing; /* it accepted the registration and has not ended it */
  uint32_t seq;   /* the newest Observe value handed on, and when */
  uint64_t seq_at;
  /* RFC 7641 §3.3.1: past Max-Age of its newest notification (and the
   * margin) with nothing fresher, the server is taken to have forgotten
   * the observation (there is no re-registering a group observation with
   * one server: its part ends instead). */
  uint64_t expires;
  coap__block2_fetch *fetch; /* completing its newest answer */
  char *uri; /* the request's URI with this server as host (source_uri) */
} mc_source;

struct coap_multicast_request {
  coap__owner_kind kind; /* first: the message layer's owner tag */
  unsigned refs;
  coap_context *ctx; /* NULL once ended */
  coap__scheduler *scheduler; /* a reference: the stream's futures */
  coap__queue link;           /* ctx->multicast_requests while live */
  coap_message *msg;          /* as sent */
  char *uri;                  /* the group's URI */
  coap__token_entry token;
  bool in_token_map;
  bool in_mm;
  bool observe;   /* a registration (Observe 0) */
  bool timed_out; /* the timeout passed; observed servers may go on */
  coap__timer timeout;
  coap_multicast_params params;
  mc_source **sources;
  size_t n_sources, cap_sources;
  coap__msg_stream stream;
  coap_multicast_request_stats stats;
};

void coap_multicast_params_default(coap_multicast_params *p) {
  memset(p, 0, sizeof *p);
  p->max_responders = 1024;
  p->max_queued = 1024;
  p->handle_blockwise = true;
}

static coap_multicast_request *
mr_from_token(coap__token_entry *e) {
  return coap__container_of(e, coap_multicast_request, token);
}

/* ---- ending ---- */

static void source_free(mc_source *s) {
  coap__block2_fetch_abandon(s->fetch);
  coap__free(s->uri);
  coap__free(s);
}

/* Ends the request: the token, the message layer's record of the NON and
 * every server's fetch are let go; the stream ends with err. */
static void end(coap_multicast_request *mr, int err) {
  coap_context *ctx = mr->ctx;
  if (ctx == NULL)
    return;
  if (mr->in_token_map) {
    coap__token_map_remove(&ctx->tokens, &mr->token);
    mr->in_token_map = false;
  }
  coap__context_unschedule(ctx, &mr->timeout);
  if (mr->in_mm && !ctx->shutting_down)
    coap__mm_cancel(ctx->mm, mr);
  mr->in_mm = false;
  for (size_t i = 0; i < mr->n_sources; i++) {
    coap__block2_fetch_abandon(mr->sources[i]->fetch);
    mr->sources[i]->fetch = NULL;
    mr->sources[i]->observing = false;
  }
  mr->stats.observing = 0;
  coap__queue_remove(&mr->link);
  mr->ctx = NULL;
  coap__msg_stream_end(&mr->stream, err);
  coap_multicast_request_unref(mr); /* the context's reference */
}

coap_multicast_request *coap_multicast_request_ref(coap_multicast_request *mr) {
  if (mr != NULL)
    mr->refs++;
  return mr;
}

void coap_multicast_request_unref(coap_multicast_request *mr) {
  if (mr == NULL)
    return;
  if (--mr->refs == 1 && mr->ctx != NULL) {
    /* Only the context's reference is left: the application let go, and
     * nothing can wait on it any more.  end drops that last one. */
    end(mr, COAP_ECANCELED);
    return;
  }
  if (mr->refs > 0)
    return;
  for (size_t i = 0; i < mr->n_sources; i++)
    source_free(mr->sources[i]);
  coap__free(mr->sources);
  coap__msg_stream_free(&mr->stream);
  coap_message_free(mr->msg);
  coap__free(mr->uri);
  coap__scheduler_release(mr->scheduler);
  coap__free(mr);
}

void coap_multicast_request_cancel(coap_multicast_request *mr) {
  if (mr == NULL || mr->ctx == NULL)
    return;
  coap_multicast_request_ref(mr);
  end(mr, COAP_ECANCELED);
  coap_multicast_request_unref(mr);
}

bool coap_multicast_request_active(const coap_multicast_request *mr) {
  return mr != NULL && mr->ctx != NULL;
}

void coap_multicast_request_stats_get(const coap_multicast_request *mr,
                                      coap_multicast_request_stats *out) {
  memset(out, 0, sizeof *out);
  if (mr == NULL)
    return;
  *out = mr->stats;
  out->queue_dropped = mr->stream.dropped;
}

const coap_message *
coap_multicast_request_message(const coap_multicast_request *mr) {
  return mr != NULL ? mr->msg : NULL;
}

coap_future *coap_multicast_request_next(coap_multicast_request *mr) {
  if (mr == NULL)
    return NULL;
  return coap__msg_stream_next(&mr->stream);
}

/* Whether a server still has something to come: an observation it keeps,
 * or blocks of its answer being fetched. */
static bool busy(const coap_multicast_request *mr) {
  if (mr->stats.observing > 0)
    return true;
  for (size_t i = 0; i < mr->n_sources; i++)
    if (mr->sources[i]->fetch != NULL)
      return true;
  return false;
}

/* Past the timeout, the request is over once no server has more to come;
 * while servers are observed, the timer watches the earliest Max-Age. */
static void end_if_over(coap_multicast_request *mr) {
  if (mr->ctx == NULL || !mr->timed_out)
    return;
  if (!busy(mr)) {
    end(mr, COAP_EDONE);
    return;
  }
  uint64_t next = UINT64_MAX;
  for (size_t i = 0; i < mr->n_sources; i++)
    if (mr->sources[i]->observing && mr->sources[i]->expires < next)
      next = mr->sources[i]->expires;
  if (next != UINT64_MAX)
    coap__context_schedule(mr->ctx, &mr->timeout, next);
}

/* The timeout: no new server is listened to; a plain request is over once
 * the answers being completed are, an observation while a server is still
 * observed.  Later the same timer ends the part of each server whose
 * Max-Age ran out. */
static void on_timeout(coap__timer *timer) {
  coap_multicast_request *mr =
      coap__container_of(timer, coap_multicast_request, timeout);
  mr->timed_out = true;
  uint64_t now = coap__context_now(mr->ctx);
  for (size_t i = 0; i < mr->n_sources; i++) {
    mc_source *s = mr->sources[i];
    if (s->observing && s->expires <= now) {
      s->observing = false;
      mr->stats.observing--;
      mr->stats.expired++;
    }
  }
  end_if_over(mr);
}

/* When a server's newest notification goes stale (Max-Age, default 60 s,
 * RFC 7252 §5.10.5, plus the re-registration margin). */
static void source_refresh(coap_multicast_request *mr, mc_source *s,
                           const coap_message *msg, uint64_t now) {
  uint32_t max_age = 60;
  (void)coap_options_get_max_age(&msg->opt, &max_age);
  s->expires =
      now + (uint64_t)max_age * 1000u + mr->ctx->config.reregister_margin_ms;
}

/* ---- answers ---- */

/* The request's URI with the server as its host, in the form the library
 * writes URIs in (an IPv4 server unmapped, the default port left out):
 * where further requests to that server go (RFC 7252 §8.2). */
static char *source_uri(const coap_multicast_request *mr,
                        const coap_remote *remote) {
  coap_message unicast;
  coap_message_init(&unicast);
  char uri[1024];
  char *out = NULL;
  if (coap_message_copy(&unicast, mr->msg) == 0 &&
      coap_message_set_unresolved_remote(&unicast, NULL) == 0) {
    coap_options_delete(&unicast.opt, COAP_OPT_URI_HOST);
    coap_options_delete(&unicast.opt, COAP_OPT_URI_PORT);
    unicast.remote = *remote;
    if (coap_message_get_request_uri(&unicast, uri, sizeof uri) >= 0)
      out = coap__strdup(uri);
  }
  coap_message_clear(&unicast);
  return out;
}

static void hand_on(coap_multicast_request *mr, coap_message *msg) {
  mr->stats.responses++;
  (void)coap__msg_stream_push(&mr->stream, msg);
}

/* A heap copy of msg labelled with its server's URI. */
static coap_message *copy_answer(const mc_source *s, const coap_message *msg) {
  coap_message *copy;
  if (coap_message_new(&copy) < 0)
    return NULL;
  if (coap_message_copy(copy, msg) < 0) {
    coap_message_free(copy);
    return NULL;
  }
  coap__free(copy->request_uri);
  copy->request_uri = s->uri != NULL ? coap__strdup(s->uri) : NULL;
  return copy;
}

static void source_stop_observing(coap_multicast_request *mr, mc_source *s) {
  if (!s->observing)
    return;
  s->observing = false;
  mr->stats.observing--;
  end_if_over(mr);
}

static void on_fetched(void *user_data, int err, coap_message *whole) {
  mc_source *s = user_data;
  coap_multicast_request *mr = s->mr;
  s->fetch = NULL;
  if (mr->ctx == NULL) {
    coap_message_free(whole);
    return;
  }
  if (err < 0) {
    mr->stats.fetch_failures++;
    coap__context_log(mr->ctx, COAP_LOG_INFO,
                      "multicast answer's blocks not fetched: %s",
                      coap_strerror(err));
    /* §2.6: for an observation the next notification brings the state;
     * a plain answer is lost for good. */
  } else {
    hand_on(mr, whole);
  }
  coap_multicast_request_ref(mr);
  end_if_over(mr);
  coap_multicast_request_unref(mr);
}

/* Hands msg on, after completing it by unicast when more blocks follow. */
static void deliver(coap_multicast_request *mr, mc_source *s,
                    const coap_message *msg) {
  coap_block b;
  if (mr->params.handle_blockwise && coap_code_is_successful(msg->code) &&
      coap_options_get_block(&msg->opt, COAP_OPT_BLOCK2, &b) == 0 && b.more) {
    /* A newer notification replaces one still being completed. */
    coap__block2_fetch_abandon(s->fetch);
    s->fetch = NULL;
    /* The later blocks go to the server alone (RFC 7959 §2.8), from the
     * request as sent but with the server as destination. */
    coap_remote unicast = msg->remote;
    int rc = coap__block2_fetch_start(mr->ctx, mr->msg, &unicast, msg, s->uri,
                                      on_fetched, s, &s->fetch);
    if (rc < 0) {
      mr->stats.fetch_failures++;
      coap__context_log(mr->ctx, COAP_LOG_INFO,
                        "multicast answer's blocks not fetched: %s",
                        coap_strerror(rc));
    }
    return;
  }
  coap_message *copy = copy_answer(s, msg);
  if (copy != NULL)
    hand_on(mr, copy);
}

static mc_source *source_find(coap_multicast_request *mr,
                              const coap_remote *remote) {
  for (size_t i = 0; i < mr->n_sources; i++)
    if (coap_remote_equal(&mr->sources[i]->remote, remote))
      return mr->sources[i];
  return NULL;
}

static mc_source *source_add(coap_multicast_request *mr,
                             const coap_remote *remote) {
  if (mr->n_sources >= mr->params.max_responders) {
    mr->stats.over_limit++;
    return NULL;
  }
  if (mr->n_sources == mr->cap_sources) {
    size_t cap = mr->cap_sources ? mr->cap_sources * 2 : 8;
    mc_source **grown = coap__realloc(mr->sources, cap * sizeof *grown);
    if (grown == NULL)
      return NULL;
    mr->sources = grown;
    mr->cap_sources = cap;
  }
  mc_source *s = coap__calloc(1, sizeof *s);
  if (s == NULL)
    return NULL;
  s->mr = mr;
  s->remote = *remote;
  /* Once per server, not per answer: it takes a copy of the request. */
  s->uri = source_uri(mr, remote);
  mr->sources[mr->n_sources++] = s;
  mr->stats.responders++;
  return s;
}

/* From request.c's matching: an answer with this request's token. */
bool coap__multicast_request_response(coap_context *ctx, coap__token_entry *e,
                                      coap_message *msg) {
  coap_multicast_request *mr = mr_from_token(e);
  (void)ctx;
  uint32_t seq = 0;
  bool has_observe =
      mr->observe && coap_options_get_observe(&msg->opt, &seq) == 0;
  mc_source *s = source_find(mr, &msg->remote);
  uint64_t now = coap__context_now(mr->ctx);
  if (s == NULL && mr->timed_out) {
    mr->stats.late++; /* after the timeout: nobody listens for new ones */
    return true;
  }
  if (s == NULL) {
    s = source_add(mr, &msg->remote);
    if (s == NULL)
      return true; /* ours, but beyond the limit: dropped, not rejected */
    if (has_observe && coap_code_is_successful(msg->code)) {
      s->observing = true;
      s->seq = seq;
      s->seq_at = now;
      source_refresh(mr, s, msg, now);
      mr->stats.observing++;
    }
    deliver(mr, s, msg);
    return true;
  }
  if (!s->observing) {
    /* A server answers a request once (a NON retransmitted, or sent to
     * two groups it is in); only an observation has more to say. */
    mr->stats.duplicates++;
    return true;
  }
  if (has_observe && coap_code_is_successful(msg->code)) {
    if (!coap__observe_is_fresh(s->seq, s->seq_at, seq, now)) {
      mr->stats.stale++;
      return true;
    }
    s->seq = seq;
    s->seq_at = now;
    source_refresh(mr, s, msg, now);
    if (mr->timed_out)
      end_if_over(mr); /* the timer follows the earliest Max-Age */
    deliver(mr, s, msg);
    return true;
  }
  /* RFC 7641 §3.2: without Observe, or unsuccessful, the server's last
   * word on it: handed on, and this server's part is over. */
  coap__block2_fetch_abandon(s->fetch);
  s->fetch = NULL;
  coap_multicast_request_ref(mr);
  deliver(mr, s, msg);
  source_stop_observing(mr, s);
  coap_multicast_request_unref(mr);
  return true;
}

/* From the message layer: the NON went out, or could not. */
void coap__multicast_request_event(coap_context *ctx, void *owner,
                                   coap__mm_event event, int err) {
  coap_multicast_request *mr = owner;
  switch (event) {
  case COAP__MM_SENT:
    /* The wait counts from the send (NSTART may have held it). */
    coap__context_schedule(ctx, &mr->timeout,
                           coap__context_now(ctx) + mr->params.timeout_ms);
    /* The layer's NSTART slot for the group is not wanted: answers come
     * from elsewhere, and a group is not a peer to pace. */
    coap__mm_cancel(ctx->mm, mr);
    mr->in_mm = false;
    /* RFC 7967 with RFC 7252 §8.2: servers of a group send no 4.xx or
     * 5.xx, so a request that suppresses 2.xx expects no answer at all
     * and is over once sent (not an observation: its notifications go
     * their own way). */
    if (!mr->observe &&
        (coap__no_response_mask(&mr->msg->opt) & COAP_NO_RESPONSE_2XX))
      end(mr, COAP_ENORESPONSE);
    break;
  case COAP__MM_FAILED:
    mr->in_mm = false;
    end(mr, err);
    break;
  case COAP__MM_RST:
  case COAP__MM_TIMEOUT:
    /* Nobody answers a group with RST (§8.1), and a NON has no timeout:
     * nothing to do with either. */
    mr->in_mm = false;
    break;
  default:
    break;
  }
}

void coap__multicast_requests_fail(coap_context *ctx, const coap_remote *group,
                                   int err) {
  coap__queue *q = coap__queue_head(&ctx->multicast_requests);
  while (q != &ctx->multicast_requests) {
    coap__queue *next = q->next;
    coap_multicast_request *mr =
        coap__queue_data(q, coap_multicast_request, link);
    const struct sockaddr_in6 *a = &mr->msg->remote.addr, *b = &group->addr;
    /* The kernel refused the send to the group (no route to it, say):
     * nobody will answer. */
    if (a->sin6_port == b->sin6_port &&
        memcmp(&a->sin6_addr, &b->sin6_addr, sizeof a->sin6_addr) == 0)
      end(mr, err);
    q = next;
  }
}

void coap__multicast_requests_shutdown(coap_context *ctx) {
  while (!coap__queue_empty(&ctx->multicast_requests)) {
    coap_multicast_request *mr = coap__queue_data(
        coap__queue_head(&ctx->multicast_requests), coap_multicast_request,
        link);
    end(mr, COAP_ESHUTDOWN);
  }
}

/* ---- sending ---- */

/* Where the request goes: its remote, or its URI's (or Uri-Host's)
 * literal group address and port; the endpoint is coap's. */
static int group_of(coap_multicast_request *mr, coap_message *msg,
                    coap_remote *out) {
  coap_context *ctx = mr->ctx;
  memset(out, 0, sizeof *out);
  if (coap_remote_is_set(&msg->remote)) {
    *out = msg->remote;
    out->has_local = false;
    if (out->endpoint != NULL) {
      if (!coap__context_owns_endpoint(ctx, out->endpoint))
        return COAP_EINVAL;
    } else {
      int rc = coap__context_endpoint_for(ctx, "coap",
                                          (coap__transport **)&out->endpoint);
      if (rc < 0)
        return rc;
    }
    return strcmp(((coap__transport *)out->endpoint)->ops->scheme, "coap") ==
                   0
               ? 0
               : COAP_EURI_SCHEME;
  }
  char host[256];
  int port = COAP_PORT;
  const char *given = coap_message_get_unresolved_remote(msg);
  if (given != NULL) {
    coap_uri uri;
    int rc = coap_uri_parse(given, &uri);
    if (rc < 0)
      return rc;
    /* Groups are reached over plain UDP: DTLS has no groups, and OSCORE
     * group communication is another matter. */
    if (strcmp(uri.scheme, "coap") != 0)
      return COAP_EURI_SCHEME;
    if (strlen(uri.host) >= sizeof host)
      return COAP_EINVAL;
    strcpy(host, uri.host);
    if (uri.port >= 0)
      port = uri.port;
  } else if (coap_options_get_string(&msg->opt, COAP_OPT_URI_HOST, host,
                                     sizeof host) < 0) {
    return COAP_EINVAL;
  } else {
    uint16_t p;
    if (coap_options_get_uri_port(&msg->opt, &p) == 0)
      port = p;
  }
  out->addr.sin6_family = AF_INET6;
  out->addr.sin6_port = htons((uint16_t)port);
  int literal = coap__parse_ip_literal(host, &out->addr);
  if (literal < 0)
    return literal;
  if (literal == 0)
    return COAP_EINVAL; /* a name: groups are given as addresses here */
  return coap__context_endpoint_for(ctx, "coap",
                                    (coap__transport **)&out->endpoint);
}

/* The interface the request leaves by: the zone id, else params.ifindex.
 * A link-local group (ff02::) needs one (RFC 4007 §6); for any other the
 * index goes as IPV6_PKTINFO with an unspecified source, which makes the
 * kernel send by that interface and pick the source there. */
static int choose_interface(coap_multicast_request *mr, coap_remote *group) {
  const struct in6_addr *a = &group->addr.sin6_addr;
  uint32_t ifindex = group->addr.sin6_scope_id;
  bool link_scope = IN6_IS_ADDR_MC_LINKLOCAL(a) || IN6_IS_ADDR_MC_NODELOCAL(a);
  if (ifindex == 0)
    ifindex = mr->params.ifindex;
  if (link_scope) {
    if (ifindex == 0)
      return COAP_EINVAL;
    group->addr.sin6_scope_id = ifindex;
    return 0;
  }
  if (ifindex != 0) {
    group->has_local = true;
    memset(&group->local_addr, 0, sizeof group->local_addr);
    if (IN6_IS_ADDR_V4MAPPED(a)) {
      /* Linux takes IPV6_PKTINFO for a v4-mapped destination only with a
       * v4-mapped source: ::ffff:0.0.0.0, any. */
      group->local_addr.s6_addr[10] = 0xff;
      group->local_addr.s6_addr[11] = 0xff;
    }
    group->local_ifindex = ifindex;
  }
  return 0;
}

static int start(coap_multicast_request *mr, coap_message *msg) {
  coap_context *ctx = mr->ctx;
  coap_remote group;
  int rc = group_of(mr, msg, &group);
  if (rc < 0)
    return rc;
  if (!coap__addr_is_multicast(&group.addr.sin6_addr))
    return COAP_EINVAL;
  rc = choose_interface(mr, &group);
  if (rc < 0)
    return rc;
  char uri[1024];
  msg->remote = group;
  if (coap_message_get_request_uri(msg, uri, sizeof uri) >= 0) {
    mr->uri = coap__strdup(uri);
    if (mr->uri == NULL)
      return COAP_ENOMEM;
  }
  rc = coap__token_pick(ctx, &mr->token);
  if (rc < 0)
    return rc;
  mr->token.kind = COAP__TOKEN_MULTICAST;
  rc = coap__token_map_insert(&ctx->tokens, &mr->token);
  if (rc < 0)
    return rc;
  mr->in_token_map = true;
  rc = coap_message_set_token(msg, mr->token.token, mr->token.token_len);
  if (rc < 0)
    return rc;
  msg->mid = -1;
  mr->in_mm = true;
  rc = coap__mm_send(ctx->mm, msg, mr, coap__context_now(ctx));
  if (rc < 0) {
    mr->in_mm = false;
    return rc;
  }
  coap__context_rearm(ctx);
  return 0;
}

int coap_context_multicast_request(coap_context *ctx, coap_message *msg,
                                   const coap_multicast_params *params,
                                   coap_multicast_request **out) {
  if (out != NULL)
    *out = NULL;
  if (ctx == NULL || msg == NULL || out == NULL ||
      !coap_code_is_request(msg->code) ||
      /* RFC 7252 §8.1: a request to a group is NON. */
      (msg->mtype != COAP_TYPE_UNSET && msg->mtype != COAP_TYPE_NON)) {
    coap_message_free(msg);
    return COAP_EINVAL;
  }
  if (ctx->shutting_down) {
    coap_message_free(msg);
    return COAP_ESHUTDOWN;
  }
  uv_update_time(ctx->loop);
  coap_multicast_request *mr = coap__calloc(1, sizeof *mr);
  if (mr == NULL) {
    coap_message_free(msg);
    return COAP_ENOMEM;
  }
  mr->kind = COAP__OWNER_MULTICAST;
  mr->refs = 2; /* the caller's, and the context's while it runs */
  mr->ctx = ctx;
  mr->scheduler = coap__scheduler_ref(ctx->scheduler);
  mr->msg = msg;
  msg->mtype = COAP_TYPE_NON;
  mr->timeout.cb = on_timeout;
  coap__heap_node_init(&mr->timeout.node);
  if (params != NULL)
    mr->params = *params;
  else
    coap_multicast_params_default(&mr->params);
  if (mr->params.timeout_ms == 0) {
    /* RFC 7252 §8.2: a server answers within its leisure; the answer may
     * then take up to MAX_LATENCY to arrive (§4.8.2). */
    uint64_t t = (uint64_t)ctx->config.multicast_leisure_ms +
                 ctx->config.transmission.max_latency_ms;
    mr->params.timeout_ms = t > UINT32_MAX ? UINT32_MAX : (uint32_t)t;
  }
  coap__msg_stream_init(&mr->stream, mr->scheduler, mr->params.max_queued);
  uint32_t observe;
  mr->observe = (msg->code == COAP_CODE_GET || msg->code == COAP_CODE_FETCH) &&
                coap_options_get_observe(&msg->opt, &observe) == 0 &&
                observe == 0;
  coap__queue_insert_tail(&ctx->multicast_requests, &mr->link);
  int rc = start(mr, msg);
  if (rc < 0) {
    end(mr, rc);
    coap_multicast_request_unref(mr);
    return rc;
  }
  *out = mr;
  return 0;
}
