/*
 * One outgoing request (aiocoap.protocol.Request): destination resolution,
 * token, hand-over to the message layer, matching the response, and the
 * three response futures.
 */
#include "addr-internal.h"
#include "alloc-internal.h"
#include "context-internal.h"
#include "credentials-internal.h"
#include "message-internal.h"
#include "no_response-internal.h"
#include "observation-internal.h"
#include "request-internal.h"

#include <aiocoap/util.h>

#include <arpa/inet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void request_release(coap_request *req);

/* Exchange monitor callbacks run from the loop (the rule in aiocoap.h),
 * with nothing of the request on the stack: they may shut the context
 * down, cancel or drop the request, or start others. */
typedef void (*monitor_fn)(void *user_data);

static void run_monitor(coap__call *call) {
  ((monitor_fn)call->fn)(call->user_data);
}

static void monitor_soon(coap_request *req, monitor_fn fn) {
  if (fn == NULL)
    return;
  coap__call call = {.run = run_monitor,
                     .fn = (void (*)(void))fn,
                     .user_data = req->monitor.user_data};
  coap__scheduler_call_soon(req->scheduler, &call);
}

typedef void (*monitor_response_fn)(const coap_message *response,
                                    void *user_data);

static void run_monitor_response(coap__call *call) {
  ((monitor_response_fn)call->fn)(call->arg, call->user_data);
}

static void release_message(coap__call *call) {
  coap_message_free(call->arg);
}

/* The monitor's response callback gets a copy of its own: the datagram the
 * response borrows from is gone by the time the callback runs. */
static void monitor_response_soon(coap_request *req, const coap_message *msg) {
  coap_message *copy;
  if (coap_message_new(&copy) < 0)
    return;
  if (coap_message_copy(copy, msg) < 0) {
    coap_message_free(copy);
    return;
  }
  coap__call call = {.run = run_monitor_response,
                     .release = release_message,
                     .arg = copy,
                     .fn = (void (*)(void))req->monitor.response,
                     .user_data = req->monitor.user_data};
  coap__scheduler_call_soon(req->scheduler, &call);
}

coap_request *coap_request_ref(coap_request *req) {
  if (req != NULL)
    req->refs++;
  return req;
}

void coap_request_unref(coap_request *req) {
  if (req == NULL)
    return;
  if (--req->refs > 0)
    return;
  coap_future_unref(req->response);
  coap_future_unref(req->raising);
  coap_future_unref(req->nonraising);
  coap_message_free(req->final_msg);
  coap_message_free(req->msg);
  coap__request_blockwise_free(req);
  coap__observation_client_detach(req);
  coap__free(req->uri);
  coap__free(req->host);
  coap__free(req->error_detail);
  coap__scheduler_release(req->scheduler);
  coap__free(req);
}

const coap_message *coap_request_message(const coap_request *req) {
  return req->msg;
}

/* Turns an error into the message response_nonraising hands out. */
static coap_message *error_message(int err) {
  coap_message *msg;
  if (coap_message_new(&msg) < 0)
    return NULL;
  msg->code = err == COAP_ETIMEDOUT ? COAP_CODE_GATEWAY_TIMEOUT
                                    : coap_error_to_code(err);
  coap_message_set_payload_string(msg, coap_strerror(err));
  return msg;
}

static void free_message(void *msg) {
  coap_message_free(msg);
}

/* The final response for one more future: the first gets the message
 * itself, every other one a copy of its own, so that a caller who edits
 * or takes the result of one future changes nothing the others return. */
static coap_message *own_result(coap_request *req) {
  coap_message *msg = req->final_msg;
  if (!req->final_msg_handed_out) {
    req->final_msg_handed_out = true;
    return coap__message_ref(msg);
  }
  coap_message *copy;
  if (coap_message_new(&copy) < 0)
    return NULL;
  if (coap_message_copy(copy, msg) < 0) {
    coap_message_free(copy);
    return NULL;
  }
  return copy;
}

/* Settles one of the futures from the request's final outcome. */
static void settle(coap_request *req, coap_future *f, int which) {
  if (f == NULL || coap_future_done(f))
    return;
  int err = req->final_err;
  if (err != 0 && which != 2) {
    coap_future_fail(f, err, NULL, NULL);
    return;
  }
  coap_message *out = err == 0 ? own_result(req) : error_message(err);
  if (out == NULL)
    coap_future_fail(f, COAP_ENOMEM, NULL, NULL);
  else if (which == 1 && !coap_code_is_successful(out->code))
    /* response_raising: ResponseWrappingError, the response readable. */
    coap_future_fail(f, COAP_ERESPONSE, out, free_message);
  else
    coap_future_resolve(f, out, free_message);
}

static void settle_all(coap_request *req) {
  settle(req, req->response, 0);
  settle(req, req->raising, 1);
  settle(req, req->nonraising, 2);
}

/* Ends the request: the message layer and the context forget it, the
 * futures settle.  msg (owned, may be NULL) is the final response. */
void coap__request_complete(coap_request *req, int err, coap_message *msg) {
  if (req->state == COAP__REQ_DONE) {
    coap_message_free(msg);
    return;
  }
  coap_context *ctx = req->ctx;
  req->state = COAP__REQ_DONE;
  req->final_err = err;
  req->final_msg = msg;
  if (req->in_token_map) {
    coap__token_map_remove(&ctx->tokens, &req->token);
    req->in_token_map = false;
  }
  coap__context_unschedule(ctx, &req->timeout);
  if (req->in_mm && !ctx->shutting_down) {
    /* A CON queued behind ours (NSTART) may go now: re-arm for it. */
    coap__mm_cancel(ctx->mm, req);
    coap__context_rearm(ctx);
  }
  req->in_mm = false;
  coap__queue_remove(&req->link);
  req->ctx = NULL;
  if (err == COAP_ECANCELED)
    monitor_soon(req, req->monitor.cancelled);
  coap__observation_client_request_done(req, err);
  settle_all(req);
  request_release(req);
}

/* The context's reference, held while the request is live. */
static void request_release(coap_request *req) {
  coap_request_unref(req);
}

static coap_future *make_future(coap_request *req, coap_future **slot);

coap_future *coap_request_response(coap_request *req) {
  return make_future(req, &req->response);
}
coap_future *coap_request_response_raising(coap_request *req) {
  return make_future(req, &req->raising);
}
coap_future *coap_request_response_nonraising(coap_request *req) {
  return make_future(req, &req->nonraising);
}

static void on_future_cancelled(coap_future *f, void *user_data) {
  (void)f;
  coap_request_cancel(user_data);
}

static coap_future *make_future(coap_request *req, coap_future **slot) {
  if (*slot != NULL)
    return *slot;
  if (coap__future_new_on(req->scheduler, slot) < 0)
    return NULL;
  if (req->state == COAP__REQ_DONE)
    settle_all(req);
  else
    coap_future_set_cancel_hook(*slot, on_future_cancelled, req);
  return *slot;
}

void coap_request_cancel(coap_request *req) {
  if (req->state == COAP__REQ_DONE)
    return;
  coap__request_complete(req, COAP_ECANCELED, NULL);
}

/* The classes the request's No-Response (RFC 7967) suppresses; none for
 * an observation, whose registration and notifications go their own way
 * (observation_client.c). */
static uint8_t suppressed(const coap_request *req) {
  if (req->observation != NULL)
    return 0;
  return coap__no_response_mask(&req->msg->opt);
}

/* With No-Response, the silence the client asked for is the outcome
 * rather than a timeout: whatever the server would have sent may have been
 * suppressed.  A CON never acknowledged still times out (COAP__MM_TIMEOUT),
 * since then the request may not have arrived at all. */
static void on_timeout(coap__timer *timer) {
  coap_request *req = coap__container_of(timer, coap_request, timeout);
  coap__request_complete(
      req, suppressed(req) != 0 ? COAP_ENORESPONSE : COAP_ETIMEDOUT, NULL);
}

/* Every class suppressed: no response is coming.  Ends the request on the
 * next loop turn (the timeout at now), so that a response that does come
 * in the same datagram, a piggybacked one from a server that ignores the
 * option, unschedules it and is handed on as usual. */
static bool nothing_expected(coap_context *ctx, coap_request *req) {
  if (suppressed(req) != COAP_NO_RESPONSE_ALL)
    return false;
  coap__context_schedule(ctx, &req->timeout, coap__context_now(ctx));
  return true;
}

/* Random tries before a token is given up on; a short token space is
 * searched whole instead. */
#define TOKEN_TRIES 64

static bool token_taken(const coap_context *ctx, const coap__token_entry *t) {
  return coap__token_map_find(&ctx->tokens, t->token, t->token_len) != NULL;
}

/* A token no outstanding request or observation holds.  Random (RFC 7252
 * §5.3.1: tokens should be hard to guess), but bounded: with one-byte
 * tokens the 257th outstanding request would otherwise search for ever.
 * Spaces of one or two bytes are walked whole from a random start; longer
 * ones are tried TOKEN_TRIES times, far beyond any plausible collision.
 * 0 or COAP_ELIMIT. */
int coap__token_pick(coap_context *ctx, coap__token_entry *t) {
  const uint8_t len = ctx->config.token_length;
  t->token_len = len;
  for (int i = 0; i < TOKEN_TRIES; i++) {
    uint64_t r = coap__context_random(ctx);
    memcpy(t->token, &r, sizeof r);
    if (!token_taken(ctx, t))
      return 0;
  }
  if (len > 2)
    return COAP_ELIMIT;
  const uint32_t space = 1u << (8 * len);
  const uint32_t start = (uint32_t)coap__context_random(ctx) % space;
  for (uint32_t i = 0; i < space; i++) {
    uint32_t v = (start + i) % space;
    t->token[0] = (uint8_t)v;
    t->token[1] = (uint8_t)(v >> 8);
    if (!token_taken(ctx, t))
      return 0;
  }
  return COAP_ELIMIT;
}

/* Hands msg to the message layer with a fresh token. */
int coap__request_send(coap_request *req, coap_message *msg) {
  coap_context *ctx = req->ctx;
  if (req->in_token_map) {
    coap__token_map_remove(&ctx->tokens, &req->token);
    req->in_token_map = false;
  }
  int rc = coap__token_pick(ctx, &req->token);
  if (rc < 0)
    return rc;
  rc = coap__token_map_insert(&ctx->tokens, &req->token);
  if (rc < 0)
    return rc;
  req->in_token_map = true;
  coap_message_set_token(msg, req->token.token, req->token.token_len);
  req->sent = msg;
  msg->remote.addr = req->remote;
  msg->remote.endpoint = req->endpoint;
  msg->mid = -1;
  if (req->in_mm)
    coap__mm_cancel(ctx->mm, req);
  monitor_soon(req, req->monitor.enqueued);
  /* A NON is remembered too, so that an RST can fail the request (RFC 7252
   * §4.3); either way the layer must forget us when we are done. */
  req->in_mm = true;
  req->state = COAP__REQ_WAITING;
  rc = coap__mm_send(ctx->mm, msg, req, coap__context_now(ctx));
  if (rc < 0) {
    req->in_mm = false;
    return rc;
  }
  /* A NON's wait for its response starts when it goes out (the SENT
   * event), which may be later when NSTART holds it back. */
  coap__context_rearm(ctx);
  return 0;
}

static void fail_with_detail(coap_request *req, int err, const char *detail) {
  if (detail != NULL && req->error_detail == NULL)
    req->error_detail = coap__strdup(detail);
  coap__request_complete(req, err, NULL);
}

/* A secure transport sets up its session with the credential the request's
 * URI finds in the client credentials (RFC 7252 §9.1: coaps).  A request to
 * a remote named by an earlier exchange may ride on a session that exists
 * already, so it goes on without one. */
static int prepare_transport(coap_request *req) {
  coap__transport *t = req->endpoint;
  if (t == NULL || t->ops->prepare == NULL)
    return 0;
  const coap__credential *cred =
      coap__credentials_for_uri(req->ctx->client_credentials, req->uri);
  if (cred == NULL && req->remote_given)
    return 0;
  if (cred == NULL) {
    char detail[300];
    snprintf(detail, sizeof detail, "no credentials for %s",
             req->uri != NULL ? req->uri : "the request");
    fail_with_detail(req, COAP_ECREDENTIALS, detail);
    return COAP_ECREDENTIALS;
  }
  coap_remote remote = {.addr = req->remote, .endpoint = t};
  int rc = t->ops->prepare(t, &remote, cred, req->host);
  if (rc < 0)
    coap__request_complete(req, rc, NULL);
  return rc;
}

static void start(coap_request *req) {
  if (prepare_transport(req) < 0)
    return;
  /* A body source's read runs in here and may drop the request. */
  coap_request_ref(req);
  int rc = coap__request_blockwise_start(req);
  if (rc < 0)
    coap__request_complete(req, rc, NULL);
  coap_request_unref(req);
}

static void on_resolved(uv_getaddrinfo_t *gai, int status,
                        struct addrinfo *res) {
  coap_request *req = gai->data;
  coap__free(gai);
  req->resolving = NULL;
  if (req->state != COAP__REQ_DONE) {
    const struct addrinfo *ai = res;
    while (ai != NULL && ai->ai_family != AF_INET6 && ai->ai_family != AF_INET)
      ai = ai->ai_next;
    if ((status < 0 || ai == NULL) && req->localhost) {
      /* RFC 6761 §6.3: localhost is the loopback address, whatever the
       * resolver (a minimal root has no /etc/hosts) says. */
      req->remote.sin6_addr = in6addr_loopback;
      start(req);
    } else if (status < 0 || ai == NULL) {
      coap__request_complete(req, COAP_ERESOLVE, NULL);
    } else {
      /* The lookup gives addresses only; the port is the URI's. */
      in_port_t port = req->remote.sin6_port;
      coap__sockaddr_to_in6(ai->ai_addr, &req->remote);
      req->remote.sin6_port = port;
      start(req);
    }
  }
  uv_freeaddrinfo(res);
  coap_request_unref(req); /* the resolver's reference */
}

/* An IP literal ("::1", "127.0.0.1", "fe80::1%eth0") into out: 1, or 0
 * when host is a name, or COAP_ENODEV when its zone id names no interface
 * here (RFC 6874: a zone id is an interface; taking an unknown one as
 * scope 0 would send the datagram somewhere else). */
int coap__parse_ip_literal(const char *host, struct sockaddr_in6 *out) {
  struct in_addr v4;
  if (inet_pton(AF_INET, host, &v4) == 1) {
    coap__v4_mapped(&out->sin6_addr, &v4);
    return 1;
  }
  char addr[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
  size_t n = strcspn(host, "%");
  if (n >= INET6_ADDRSTRLEN)
    return 0;
  memcpy(addr, host, n);
  addr[n] = '\0';
  if (inet_pton(AF_INET6, addr, &out->sin6_addr) != 1)
    return 0;
  if (host[n] == '%') {
    const char *zone = host + n + 1;
    unsigned idx = if_nametoindex(zone);
    if (idx == 0) {
      /* A number names an interface too, if one has that index. */
      char *end;
      char name[IF_NAMESIZE];
      unsigned long v = strtoul(zone, &end, 10);
      if (*zone != '\0' && *end == '\0' && v > 0 && v <= UINT32_MAX &&
          if_indextoname((unsigned)v, name) != NULL)
        idx = (unsigned)v;
    }
    if (idx == 0)
      return COAP_ENODEV;
    out->sin6_scope_id = idx;
  }
  return 1;
}

/* Works out where msg goes: its remote, else its unresolved remote, else
 * Uri-Host and Uri-Port.  *host is set when a name must be looked up. */
static int destination(coap_request *req, coap_message *msg, char *host,
                       size_t host_cap, bool *needs_lookup) {
  *needs_lookup = false;
  memset(&req->remote, 0, sizeof req->remote);
  req->remote.sin6_family = AF_INET6;
  if (coap_remote_is_set(&msg->remote)) {
    req->remote = msg->remote.addr;
    req->remote_given = true;
    /* The remote's own transport, so that a peer known over coaps is
     * asked over coaps; one of another context's cannot be used here. */
    if (msg->remote.endpoint != NULL) {
      if (!coap__context_owns_endpoint(req->ctx, msg->remote.endpoint))
        return COAP_EINVAL;
      req->endpoint = msg->remote.endpoint;
      return 0;
    }
    /* An address the application set names no transport: the URI's
     * scheme still does (a coaps URI never goes out in the clear). */
    coap_uri uri;
    const char *scheme = "coap";
    const char *given = coap_message_get_unresolved_remote(msg);
    if (given != NULL && coap_uri_parse(given, &uri) == 0)
      scheme = uri.scheme;
    return coap__context_endpoint_for(req->ctx, scheme, &req->endpoint);
  }
  int port = COAP_PORT;
  const char *unresolved = coap_message_get_unresolved_remote(msg);
  if (unresolved != NULL) {
    coap_uri uri;
    int rc = coap_uri_parse(unresolved, &uri);
    if (rc < 0)
      return rc;
    /* The scheme picks the transport (context_transports.c). */
    rc = coap__context_endpoint_for(req->ctx, uri.scheme, &req->endpoint);
    if (rc < 0)
      return rc;
    if (strlen(uri.host) >= host_cap)
      return COAP_EINVAL;
    strcpy(host, uri.host);
    port = uri.port >= 0 ? uri.port : coap_uri_default_port(uri.scheme);
  } else {
    int rc = coap__context_endpoint_for(req->ctx, "coap", &req->endpoint);
    if (rc < 0)
      return rc;
    rc = coap_options_get_string(&msg->opt, COAP_OPT_URI_HOST, host, host_cap);
    if (rc < 0)
      return COAP_EINVAL;
    uint16_t p;
    if (coap_options_get_uri_port(&msg->opt, &p) == 0)
      port = p;
  }
  req->remote.sin6_port = htons((uint16_t)port);
  int literal = coap__parse_ip_literal(host, &req->remote);
  if (literal < 0)
    return literal;
  *needs_lookup = literal == 0;
  /* RFC 6761 §6.3: "localhost" and names under ".localhost." */
  size_t n = strlen(host);
  if (n > 0 && host[n - 1] == '.')
    n--;
  req->localhost =
      *needs_lookup &&
      ((n == 9 && strncasecmp(host, "localhost", 9) == 0) ||
       (n > 10 && strncasecmp(host + n - 10, ".localhost", 10) == 0));
  return 0;
}

/* The streaming parameters need the library's blockwise handling, and a
 * body source is the only body: no payload, and no Block1 of the
 * application's own. */
static bool streaming_fits(const coap_request_params *params,
                           const coap_message *msg) {
  const coap_body_sink *sink = params->body_sink;
  const coap_body_source *source = params->body_source;
  if ((sink != NULL || source != NULL) && !params->handle_blockwise)
    return false;
  if (sink != NULL && sink->write == NULL)
    return false;
  if (source == NULL)
    return true;
  return source->read != NULL && msg->payload_len == 0 &&
         !coap_options_has(&msg->opt, COAP_OPT_BLOCK1);
}

int coap_context_request(coap_context *ctx, coap_message *msg,
                         const coap_request_params *params,
                         coap_request **out) {
  if (out != NULL)
    *out = NULL;
  if (ctx == NULL || msg == NULL || out == NULL) {
    coap_message_free(msg);
    return COAP_EINVAL;
  }
  if (ctx->shutting_down) {
    coap_message_free(msg);
    return COAP_ESHUTDOWN;
  }
  /* Called from application code, maybe long after the loop last looked
   * at the clock: the request's deadlines (RFC 7252 §4.2: the first
   * retransmission ACK_TIMEOUT after the send) count from now. */
  uv_update_time(ctx->loop);
  coap_request_params defaults;
  if (params == NULL) {
    coap_request_params_default(&defaults);
    params = &defaults;
  }
  if (!coap_code_is_request(msg->code) ||
      (msg->mtype != COAP_TYPE_UNSET && msg->mtype != COAP_TYPE_CON &&
       msg->mtype != COAP_TYPE_NON) ||
      !streaming_fits(params, msg)) {
    coap_message_free(msg);
    return COAP_EINVAL;
  }
  coap_request *req = coap__calloc(1, sizeof *req);
  if (req == NULL) {
    coap_message_free(msg);
    return COAP_ENOMEM;
  }
  req->kind = COAP__OWNER_REQUEST;
  req->refs = 2; /* the caller's, and the context's until it completes */
  req->ctx = ctx;
  req->loop = ctx->loop;
  req->scheduler = coap__scheduler_ref(ctx->scheduler);
  req->msg = msg;
  req->state = COAP__REQ_RESOLVING;
  req->timeout.cb = on_timeout;
  coap__heap_node_init(&req->timeout.node);
  req->handle_blockwise = params->handle_blockwise;
  if (params->monitor != NULL)
    req->monitor = *params->monitor;
  if (params->body_sink != NULL)
    req->sink = *params->body_sink;
  if (params->body_source != NULL)
    req->source = *params->body_source;
  if (msg->mtype == COAP_TYPE_UNSET)
    msg->mtype = COAP_TYPE_CON;
  if (coap__observation_client_attach(req) < 0) {
    req->refs = 1;
    coap_request_unref(req);
    return COAP_ENOMEM;
  }

  char host[256];
  bool needs_lookup;
  int rc = destination(req, msg, host, sizeof host, &needs_lookup);
  char uri[1024];
  if (rc == 0 && coap_message_get_request_uri(msg, uri, sizeof uri) >= 0) {
    req->uri = coap__strdup(uri);
    if (req->uri == NULL)
      rc = COAP_ENOMEM;
  }
  if (rc == 0 && req->endpoint->ops->secure) {
    req->host = coap__strdup(host);
    if (req->host == NULL)
      rc = COAP_ENOMEM;
  }
  if (rc < 0) {
    req->refs = 1;
    coap_request_unref(req);
    return rc;
  }
  coap__queue_insert_tail(&ctx->requests, &req->link);
  *out = req;

  if (!needs_lookup) {
    start(req);
    return 0;
  }
  req->resolving = coap__malloc(sizeof *req->resolving);
  if (req->resolving == NULL) {
    coap__request_complete(req, COAP_ENOMEM, NULL);
    return 0;
  }
  req->resolving->data = coap_request_ref(req);
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM};
  rc = uv_getaddrinfo(ctx->loop, req->resolving, on_resolved, host, NULL,
                      &hints);
  if (rc < 0) {
    coap__free(req->resolving);
    req->resolving = NULL;
    coap_request_unref(req);
    coap__request_complete(req, COAP_ERESOLVE, NULL);
  }
  return 0;
}

/* RFC 7252 §5.4.1: the critical options a client acts on in a response
 * are Block1 and Block2 (RFC 7959); any other critical option is
 * unrecognised, and so is a Block option of a length outside its bounds
 * (§5.4.3). */
static bool unrecognised_critical(const coap_message *msg) {
  size_t n = coap_options_count(&msg->opt);
  for (size_t i = 0; i < n; i++) {
    const coap_option *o = coap_options_at(&msg->opt, i);
    if (!coap_option_is_critical(o->number))
      continue;
    if ((o->number != COAP_OPT_BLOCK1 && o->number != COAP_OPT_BLOCK2) ||
        o->len > 3)
      return true;
  }
  return false;
}

/* RFC 9175 §2.3: a 4.01 with an Echo option asks for the request again
 * with that Echo (a server checking that we receive at our address, §2.4).
 * Done once per request, out of the application's sight: the request goes
 * again with a fresh token and MID, carrying the Echo from then on.
 * Returns whether it was (then msg is taken care of). */
static bool repeat_with_echo(coap_request *req, const coap_message *msg) {
  const uint8_t *echo;
  size_t len;
  if (msg->code != COAP_CODE_UNAUTHORIZED || req->echo_retried ||
      req->sent == NULL ||
      coap_options_get_opaque(&msg->opt, COAP_OPT_ECHO, &echo, &len) < 0 ||
      len < 1 || len > 40)
    return false;
  req->echo_retried = true;
  coap_message *out = req->sent;
  coap_options_delete(&out->opt, COAP_OPT_ECHO);
  int rc = coap_options_add(&out->opt, COAP_OPT_ECHO, echo, len);
  if (rc == 0) {
    coap__context_unschedule(req->ctx, &req->timeout);
    rc = coap__request_send(req, out);
  }
  if (rc < 0)
    coap__request_complete(req, rc, NULL);
  return true;
}

bool coap__request_handle_response(coap_context *ctx, coap_message *msg) {
  coap__token_entry *e =
      coap__token_map_find(&ctx->tokens, msg->token, msg->token_len);
  if (e == NULL)
    return false;
  if (e->kind == COAP__TOKEN_MULTICAST)
    return coap__multicast_request_response(ctx, e, msg);
  if (e->kind == COAP__TOKEN_OBSERVATION) {
    if (unrecognised_critical(msg))
      return coap__observation_client_reject(ctx, e, msg,
                                             COAP_EBAD_RESPONSE_OPTION);
    return coap__observation_client_notification(ctx, e, msg);
  }
  coap_request *req = coap__container_of(e, coap_request, token);
  if (!coap_remote_equal(&msg->remote, &req->msg->remote))
    return false;
  if (unrecognised_critical(msg)) {
    /* Rejected (§4.2, §4.3): reported as unmatched, a CON or NON response
     * is answered with RST by the message layer, a piggybacked one is
     * dropped; the exchange fails with the reason. */
    coap__request_complete(req, COAP_EBAD_RESPONSE_OPTION, NULL);
    return false;
  }
  if (repeat_with_echo(req, msg))
    return true;
  if (req->monitor.response != NULL)
    monitor_response_soon(req, msg);
  /* A response also acknowledges the request (RFC 7252 §5.2.2: the ACK may
   * have been lost), so stop retransmitting it. */
  if (req->in_mm) {
    coap__mm_cancel(ctx->mm, req);
    req->in_mm = false;
  }
  coap__context_unschedule(ctx, &req->timeout);
  coap__observation_client_first_response(req, msg);
  /* A body sink's write runs in here and may drop the request. */
  coap_request_ref(req);
  coap__request_blockwise_response(req, msg);
  coap_request_unref(req);
  return true;
}

int coap__request_copy_response(const coap_request *req,
                                const coap_message *msg, bool with_payload,
                                coap_message **out) {
  coap_message *resp = NULL;
  int rc = coap_message_new(&resp);
  if (rc == 0 && with_payload) {
    rc = coap_message_copy(resp, msg);
  } else if (rc == 0) {
    resp->mtype = msg->mtype;
    resp->mid = msg->mid;
    resp->code = msg->code;
    resp->remote = msg->remote;
    rc = coap_message_set_token(resp, msg->token, msg->token_len);
    if (rc == 0)
      rc = coap_options_copy(&resp->opt, &msg->opt);
  }
  if (rc == 0 && req->uri != NULL) {
    coap__free(resp->request_uri);
    resp->request_uri = coap__strdup(req->uri);
    if (resp->request_uri == NULL)
      rc = COAP_ENOMEM;
  }
  if (rc < 0) {
    coap_message_free(resp);
    return rc;
  }
  *out = resp;
  return 0;
}

/* The final response of the exchange: copied off the datagram, labelled
 * with the request's URI, and handed to the futures. */
void coap__request_finish_with(coap_request *req, const coap_message *msg) {
  coap_message *resp = NULL;
  int rc =
      coap__request_copy_response(req, msg, req->sink.write == NULL, &resp);
  coap__request_complete(req, rc, rc == 0 ? resp : NULL);
}

void coap__request_handle_event(coap_context *ctx, void *owner,
                                coap__mm_event event, int err) {
  coap_request *req = owner;
  const coap_exchange_monitor *m = &req->monitor;
  switch (event) {
  case COAP__MM_SENT:
    monitor_soon(req, m->sent);
    if (req->state == COAP__REQ_WAITING && req->msg->mtype == COAP_TYPE_NON &&
        !nothing_expected(ctx, req))
      /* No ACK will come: wait NON_LIFETIME for the response (RFC 7252
       * §4.8.2). */
      coap__context_schedule(
          ctx, &req->timeout,
          coap__context_now(ctx) +
              coap_non_lifetime_ms(&ctx->config.transmission));
    break;
  case COAP__MM_RETRANSMITTED:
    monitor_soon(req, m->retransmitted);
    break;
  case COAP__MM_ACKED:
    req->in_mm = false;
    /* An empty ACK: the response comes separately; RFC 7252 §5.2.2 leaves
     * the wait open (config.separate_response_timeout_ms). */
    if (req->state == COAP__REQ_WAITING && !nothing_expected(ctx, req))
      coap__context_schedule(ctx, &req->timeout,
                             coap__context_now(ctx) +
                                 ctx->config.separate_response_timeout_ms);
    break;
  case COAP__MM_RST:
    req->in_mm = false;
    monitor_soon(req, m->rst);
    coap__request_complete(req, COAP_ERESET, NULL);
    break;
  case COAP__MM_TIMEOUT:
    req->in_mm = false;
    monitor_soon(req, m->timeout);
    coap__request_complete(req, COAP_ETIMEDOUT, NULL);
    break;
  case COAP__MM_FAILED:
    req->in_mm = false;
    coap__request_complete(req, err, NULL);
    break;
  }
}

static bool fails_with(const coap_request *req, const coap_remote *remote) {
  if (remote == NULL)
    return true;
  coap_remote r = {.addr = req->remote, .endpoint = req->endpoint};
  return req->state != COAP__REQ_RESOLVING && coap_remote_equal(&r, remote);
}

size_t coap__requests_fail_all(coap_context *ctx, const coap_remote *remote,
                               int err) {
  return coap__requests_fail_all_detail(ctx, remote, err, NULL);
}

const char *coap_request_error_detail(const coap_request *req) {
  return req != NULL ? req->error_detail : NULL;
}

size_t coap__requests_fail_all_detail(coap_context *ctx,
                                      const coap_remote *remote, int err,
                                      const char *detail) {
  /* One pass moves the requests that fail onto a list of their own; then
   * each is completed from its head.  Completing one runs no application
   * code (that is queued), but may complete another (a notification's
   * block fetch), which then leaves this list by itself: linear either
   * way. */
  coap__queue doomed;
  coap__queue_init(&doomed);
  coap__queue *q = coap__queue_head(&ctx->requests);
  while (q != &ctx->requests) {
    coap__queue *next = q->next;
    if (fails_with(coap__queue_data(q, coap_request, link), remote)) {
      coap__queue_remove(q);
      coap__queue_insert_tail(&doomed, q);
    }
    q = next;
  }
  size_t n = 0;
  while (!coap__queue_empty(&doomed)) {
    coap_request *req =
        coap__queue_data(coap__queue_head(&doomed), coap_request, link);
    if (req->resolving != NULL)
      uv_cancel((uv_req_t *)req->resolving);
    fail_with_detail(req, err, detail);
    n++;
  }
  return n;
}
