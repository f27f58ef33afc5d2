/*
 * aiocoap.proxy.server's Proxy, ForwardProxy and ReverseProxy: a resource
 * that forwards each request it renders through an outgoing context and
 * answers with what comes back (RFC 7252 §5.7, RFC 8768).
 *
 * One exchange per forwarded request ties the render future the server
 * context waits on to the upstream request: whichever ends first ends the
 * other (a response resolves the render future; a cancelled render future,
 * as at the server context's shutdown, cancels the upstream request).
 */
#include "alloc-internal.h"
#include "message-internal.h"
#include "proxy-internal.h"
#include "resource-internal.h"

#include <arpa/inet.h>

#include <aiocoap/util.h>

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* RFC 7252 §5.10.2: Proxy-Uri is 1..1034 bytes. */
#define PROXY_URI_MAX 1034

static int proxy_render(coap_resource *self, coap_message *request,
                        coap_message *response, coap_future **later);
static void proxy_destroy(coap_resource *self);
static void proxy_add_observation(coap_resource *self,
                                  const coap_message *request,
                                  coap_server_observation *observation);

static const coap_resource_vtable proxy_vtable = {
    .render = proxy_render,
    .destroy = proxy_destroy,
};

static const coap_resource_vtable pooled_vtable = {
    .render = proxy_render,
    .add_observation = proxy_add_observation,
    .destroy = proxy_destroy,
};

static coap_proxy *from_resource(coap_resource *resource) {
  return coap__container_of(resource, coap_proxy, resource);
}

void coap_proxy_config_default(coap_proxy_config *config) {
  if (config == NULL)
    return;
  memset(config, 0, sizeof *config);
  config->kind = COAP_PROXY_REVERSE;
  config->hop_limit = COAP_PROXY_HOP_LIMIT_DEFAULT;
}

int coap_proxy_new(coap_context *outgoing, const coap_proxy_config *config,
                   coap_proxy **out) {
  if (out == NULL)
    return COAP_EINVAL;
  *out = NULL;
  coap_proxy_config c;
  coap_proxy_config_default(&c);
  if (config != NULL)
    c = *config;
  if (outgoing == NULL || c.hop_limit == 0 ||
      (c.kind != COAP_PROXY_REVERSE && c.kind != COAP_PROXY_FORWARD))
    return COAP_EINVAL;
  coap_proxy *proxy = coap__calloc(1, sizeof *proxy);
  if (proxy == NULL)
    return COAP_ENOMEM;
  if ((c.pooled_observations && coap__proxy_pool_new(&proxy->pool) < 0) ||
      (c.cache_entries > 0 &&
       coap__proxy_cache_new(c.cache_entries, c.cache_bytes,
                             &proxy->cache) < 0)) {
    coap__proxy_pool_free(proxy->pool);
    coap__free(proxy);
    return COAP_ENOMEM;
  }
  proxy->loop = coap_context_loop(outgoing);
  coap__resource_init(&proxy->resource,
                      c.pooled_observations ? &pooled_vtable : &proxy_vtable,
                      NULL);
  coap_resource_set_path_capable(&proxy->resource, true);
  proxy->config = c;
  proxy->outgoing = outgoing;
  *out = proxy;
  return 0;
}

static int new_kind(coap_context *outgoing, coap_proxy_kind kind, bool pooled,
                    coap_proxy **out) {
  coap_proxy_config c;
  coap_proxy_config_default(&c);
  c.kind = kind;
  c.pooled_observations = pooled;
  return coap_proxy_new(outgoing, &c, out);
}

int coap_forward_proxy_new(coap_context *outgoing, coap_proxy **out) {
  return new_kind(outgoing, COAP_PROXY_FORWARD, false, out);
}
int coap_forward_proxy_with_pooled_observations_new(coap_context *outgoing,
                                                    coap_proxy **out) {
  return new_kind(outgoing, COAP_PROXY_FORWARD, true, out);
}
int coap_reverse_proxy_new(coap_context *outgoing, coap_proxy **out) {
  return new_kind(outgoing, COAP_PROXY_REVERSE, false, out);
}
int coap_reverse_proxy_with_pooled_observations_new(coap_context *outgoing,
                                                    coap_proxy **out) {
  return new_kind(outgoing, COAP_PROXY_REVERSE, true, out);
}

coap_proxy *coap_proxy_ref(coap_proxy *proxy) {
  if (proxy != NULL)
    coap_resource_ref(&proxy->resource);
  return proxy;
}

void coap_proxy_unref(coap_proxy *proxy) {
  if (proxy != NULL)
    coap_resource_unref(&proxy->resource);
}

coap_resource *coap_proxy_as_resource(coap_proxy *proxy) {
  return proxy != NULL ? &proxy->resource : NULL;
}

static void proxy_destroy(coap_resource *self) {
  coap_proxy *proxy = from_resource(self);
  for (size_t i = 0; i < proxy->n_redirectors; i++)
    coap_redirector_free(proxy->redirectors[i]);
  coap__free(proxy->redirectors);
  coap__proxy_pool_free(proxy->pool);
  coap__proxy_cache_free(proxy->cache);
}

int coap_proxy_add_redirector(coap_proxy *proxy, coap_redirector *redirector) {
  if (proxy == NULL || redirector == NULL) {
    coap_redirector_free(redirector);
    return COAP_EINVAL;
  }
  coap_redirector **grown =
      coap__realloc(proxy->redirectors,
                    (proxy->n_redirectors + 1) * sizeof proxy->redirectors[0]);
  if (grown == NULL) {
    coap_redirector_free(redirector);
    return COAP_ENOMEM;
  }
  proxy->redirectors = grown;
  proxy->redirectors[proxy->n_redirectors++] = redirector;
  return 0;
}

int coap_proxy_serve(coap_proxy *proxy, coap_site *site) {
  if (proxy == NULL || site == NULL)
    return COAP_EINVAL;
  int rc = coap_site_add_resource(site, NULL, 0, &proxy->resource);
  if (rc == 0 && proxy->config.kind == COAP_PROXY_FORWARD)
    rc = coap_site_set_proxy(site, &proxy->resource);
  return rc;
}

void coap_proxy_set_outgoing_context(coap_proxy *proxy,
                                     coap_context *outgoing) {
  if (proxy != NULL)
    proxy->outgoing = outgoing;
}

void coap__proxy_outgoing_gone(coap_proxy *proxy, coap_context *ctx) {
  if (proxy->outgoing == ctx)
    proxy->outgoing = NULL;
}

size_t coap_proxy_pooled_observation_count(const coap_proxy *proxy) {
  return proxy != NULL && proxy->pool != NULL
             ? coap__proxy_pool_observations(proxy->pool)
             : 0;
}

size_t coap_proxy_cached_response_count(const coap_proxy *proxy) {
  return proxy != NULL ? coap__proxy_cache_count(proxy->cache) : 0;
}

size_t coap_proxy_pooled_client_count(const coap_proxy *proxy) {
  return proxy != NULL && proxy->pool != NULL
             ? coap__proxy_pool_clients(proxy->pool)
             : 0;
}

/* ---- Requests ---- */

/*
 * The unsafe options (RFC 7252 §5.4.2) the proxy acts on: the URI it
 * builds the destination from, the hop-by-hop Observe and Block options
 * it leaves to the contexts (aiocoap's raise_unless_safe knows the same),
 * and Max-Age, which it passes on as §5.7.1 says.
 */
static const uint16_t unsafe_known[] = {
    COAP_OPT_URI_HOST,     COAP_OPT_OBSERVE, COAP_OPT_URI_PORT,
    COAP_OPT_URI_PATH,     COAP_OPT_MAX_AGE, COAP_OPT_URI_QUERY,
    COAP_OPT_BLOCK2,       COAP_OPT_BLOCK1,  COAP_OPT_PROXY_URI,
    COAP_OPT_PROXY_SCHEME,
};

/* The first unsafe option of opt the proxy does not know, or 0. */
static uint16_t unknown_unsafe(const coap_options *opt) {
  size_t n = coap_options_count(opt);
  for (size_t i = 0; i < n; i++) {
    uint16_t number = coap_options_at(opt, i)->number;
    if (!coap_option_is_unsafe(number))
      continue;
    bool known = false;
    for (size_t k = 0; k < sizeof unsafe_known / sizeof unsafe_known[0]; k++)
      known = known || unsafe_known[k] == number;
    if (!known)
      return number;
  }
  return 0;
}

static bool is_ip_literal(const char *host) {
  struct in6_addr a6;
  struct in_addr a4;
  return inet_pton(AF_INET6, host, &a6) == 1 ||
         inet_pton(AF_INET, host, &a4) == 1;
}

/* RFC 7252 §5.10.2 with Proxy-Uri: the URI gives every Uri-* option. */
static int destination_from_proxy_uri(coap_message *msg, const char **diag) {
  const uint8_t *value;
  size_t len;
  (void)coap_options_get_proxy_uri(&msg->opt, &value, &len);
  char uri[PROXY_URI_MAX + 1];
  if (len > PROXY_URI_MAX || memchr(value, '\0', len) != NULL) {
    *diag = "malformed Proxy-Uri";
    return COAP_EBAD_REQUEST;
  }
  memcpy(uri, value, len);
  uri[len] = '\0';
  coap_uri parsed;
  int rc = coap_uri_parse(uri, &parsed);
  if (rc == COAP_EURI_SCHEME || (rc == 0 && strcmp(parsed.scheme, "coap"))) {
    *diag = "this proxy reaches coap:// only";
    return COAP_EPROXYING_NOT_SUPPORTED;
  }
  coap_options_delete(&msg->opt, COAP_OPT_PROXY_URI);
  coap_options_delete(&msg->opt, COAP_OPT_URI_HOST);
  coap_options_delete(&msg->opt, COAP_OPT_URI_PORT);
  if (rc == 0)
    rc = coap_message_set_request_uri(msg, uri, true);
  if (rc == COAP_ENOMEM)
    return rc;
  if (rc < 0) {
    *diag = "malformed Proxy-Uri";
    return COAP_EBAD_REQUEST;
  }
  return 0;
}

/* RFC 7252 §5.10.2 with Proxy-Scheme: Uri-Host and Uri-Port name the
 * destination (§6.5). */
static int destination_from_proxy_scheme(coap_message *msg, const char **diag) {
  const uint8_t *value;
  size_t len;
  (void)coap_options_get_proxy_scheme(&msg->opt, &value, &len);
  if (len != 4 || strncasecmp((const char *)value, "coap", 4) != 0) {
    *diag = "this proxy reaches coap:// only";
    return COAP_EPROXYING_NOT_SUPPORTED;
  }
  char host[258];
  if (coap_options_get_string(&msg->opt, COAP_OPT_URI_HOST, host, sizeof host) <
          0 ||
      host[0] == '\0') {
    *diag = "Proxy-Scheme without Uri-Host";
    return COAP_EBAD_REQUEST;
  }
  /* An IPv6 literal may come bracketed, as the URI's host is written. */
  char bare[258];
  size_t hlen = strlen(host);
  if (host[0] == '[' && hlen > 2 && host[hlen - 1] == ']') {
    memcpy(bare, host + 1, hlen - 2);
    bare[hlen - 2] = '\0';
  } else {
    memcpy(bare, host, hlen + 1);
  }
  uint16_t port = COAP_PORT;
  (void)coap_options_get_uri_port(&msg->opt, &port);
  char hostinfo[COAP__PROXY_TARGET_MAX];
  if (coap_hostportjoin(bare, port, hostinfo, sizeof hostinfo) < 0) {
    *diag = "malformed Uri-Host";
    return COAP_EBAD_REQUEST;
  }
  char remote[COAP__PROXY_TARGET_MAX + 8];
  snprintf(remote, sizeof remote, "coap://%s", hostinfo);
  coap_uri check;
  if (coap_uri_parse(remote, &check) < 0) {
    *diag = "malformed Uri-Host";
    return COAP_EBAD_REQUEST;
  }
  coap_options_delete(&msg->opt, COAP_OPT_PROXY_SCHEME);
  coap_options_delete(&msg->opt, COAP_OPT_URI_PORT);
  /* RFC 7252 §6.4 step 5: an IP literal is not sent as Uri-Host. */
  if (is_ip_literal(bare))
    coap_options_delete(&msg->opt, COAP_OPT_URI_HOST);
  return coap_message_set_unresolved_remote(msg, remote);
}

/* RFC 8768 §3. */
static int hop_limit(const coap_proxy *proxy, coap_message *msg,
                     const char **diag) {
  uint32_t value;
  int rc = coap_options_get_uint(&msg->opt, COAP_OPT_HOP_LIMIT, &value);
  if (rc == COAP_ENOENT)
    return coap_options_set_uint(&msg->opt, COAP_OPT_HOP_LIMIT,
                                 proxy->config.hop_limit);
  if (rc < 0 || value == 0 || value > 255) {
    *diag = "Hop-Limit must be 1..255";
    return COAP_EBAD_REQUEST;
  }
  if (value == 1)
    return COAP__PROXY_HOP_LIMIT_REACHED;
  return coap_options_set_uint(&msg->opt, COAP_OPT_HOP_LIMIT, value - 1);
}

int coap__proxy_prepare(coap_proxy *proxy, coap_message *msg,
                        const char **diag) {
  *diag = "";
  msg->mtype = COAP_TYPE_UNSET;
  msg->mid = -1;
  msg->token_len = 0;
  memset(&msg->remote, 0, sizeof msg->remote);
  int rc = coap_message_set_unresolved_remote(msg, NULL);
  /* Hop-by-hop: the server context assembled the body and the client
   * context makes its own blocks; Observe is the pool's business. */
  coap_options_delete(&msg->opt, COAP_OPT_BLOCK1);
  coap_options_delete(&msg->opt, COAP_OPT_BLOCK2);
  coap_options_delete(&msg->opt, COAP_OPT_SIZE1);
  coap_options_delete(&msg->opt, COAP_OPT_SIZE2);
  coap_options_delete(&msg->opt, COAP_OPT_OBSERVE);
  if (rc == 0)
    rc = hop_limit(proxy, msg, diag);
  if (rc != 0)
    return rc;
  /* RFC 7252 §5.7.1. */
  if (unknown_unsafe(&msg->opt) != 0) {
    *diag = "unsafe option not understood by the proxy";
    return COAP_EBAD_OPTION;
  }
  bool has_uri = coap_options_has(&msg->opt, COAP_OPT_PROXY_URI);
  bool has_scheme = coap_options_has(&msg->opt, COAP_OPT_PROXY_SCHEME);
  if (has_uri || has_scheme) {
    if (proxy->config.kind != COAP_PROXY_FORWARD) {
      *diag = "this is a reverse proxy, not a forward one";
      return COAP_EPROXYING_NOT_SUPPORTED;
    }
    rc = has_uri ? destination_from_proxy_uri(msg, diag)
                 : destination_from_proxy_scheme(msg, diag);
    if (rc < 0)
      return rc;
    /* aiocoap's ForwardProxy: a redirector may still take the request. */
    rc = coap__proxy_redirect(proxy, msg);
    return rc < 0 ? rc : 0;
  }
  rc = coap__proxy_redirect(proxy, msg);
  if (rc == 0) {
    *diag = "no forwarding rule matches";
    return COAP_ENOT_FOUND;
  }
  return rc < 0 ? rc : 0;
}

/* ---- Responses ---- */

coap_message *coap__proxy_error_response(uint8_t code, const char *diagnostic) {
  coap_message *m;
  if (coap_message_new(&m) < 0)
    return NULL;
  m->code = code;
  if (coap_message_set_payload_string(m, diagnostic) < 0) {
    coap_message_free(m);
    return NULL;
  }
  return m;
}

static coap_message *from_error(int err) {
  char text[160];
  uint8_t code = COAP_CODE_BAD_GATEWAY;
  switch (err) {
  case COAP_ETIMEDOUT:
    code = COAP_CODE_GATEWAY_TIMEOUT;
    snprintf(text, sizeof text, "upstream did not answer");
    break;
  case COAP_EBAD_RESPONSE_OPTION:
    snprintf(text, sizeof text,
             "upstream response carried an unrecognised critical option");
    break;
  case COAP_ESHUTDOWN:
    snprintf(text, sizeof text, "proxy's outgoing context shut down");
    break;
  case COAP_ECONNREFUSED:
  case COAP_EHOSTUNREACH:
  case COAP_ENETUNREACH:
  case COAP_ERESET:
  case COAP_ERESOLVE:
    snprintf(text, sizeof text, "upstream unreachable: %s", coap_strerror(err));
    break;
  default:
    snprintf(text, sizeof text, "upstream request failed: %s",
             coap_strerror(err));
  }
  return coap__proxy_error_response(code, text);
}

coap_message *coap__proxy_translate(const coap_message *upstream, int err) {
  if (upstream == NULL || (err != 0 && err != COAP_ERESPONSE))
    return from_error(err != 0 ? err : COAP_EINTERNAL_SERVER_ERROR);
  /* RFC 7252 §5.7.2: a proxy must not pass on what it cannot vouch for. */
  if (unknown_unsafe(&upstream->opt) != 0)
    return coap__proxy_error_response(
        COAP_CODE_BAD_GATEWAY,
        "upstream response carried an unsafe option the proxy does not know");
  coap_message *m;
  if (coap_message_new(&m) < 0)
    return NULL;
  m->code = upstream->code;
  int rc = coap_options_copy(&m->opt, &upstream->opt);
  /* Hop-by-hop: the server context numbers its notifications and slices
   * the body for its own client. */
  coap_options_delete(&m->opt, COAP_OPT_OBSERVE);
  coap_options_delete(&m->opt, COAP_OPT_BLOCK1);
  coap_options_delete(&m->opt, COAP_OPT_BLOCK2);
  coap_options_delete(&m->opt, COAP_OPT_SIZE1);
  coap_options_delete(&m->opt, COAP_OPT_SIZE2);
  if (rc == 0)
    rc = coap_message_set_payload(m, upstream->payload, upstream->payload_len);
  if (rc < 0) {
    coap_message_free(m);
    return NULL;
  }
  return m;
}

/* ---- Forwarding ---- */

typedef struct exchange {
  unsigned refs;     /* one per done callback still to come */
  coap_proxy *proxy; /* a reference */
  coap_context *ctx; /* the outgoing context it went through */
  coap_request *upstream;
  coap_future *later;     /* what the server context waits on */
  coap_message *prepared; /* for the cache: the request as prepared */
  coap_message *stale;    /* the cache's copy being revalidated, or NULL */
} exchange;

static void exchange_unref(exchange *ex) {
  if (--ex->refs > 0)
    return;
  coap_request_unref(ex->upstream);
  coap_future_unref(ex->later);
  coap_message_free(ex->prepared);
  coap_message_free(ex->stale);
  coap_proxy_unref(ex->proxy);
  coap__free(ex);
}

static void on_upstream(coap_future *f, void *user_data) {
  exchange *ex = user_data;
  int err = coap_future_error(f);
  const coap_message *resp = coap_future_result(f);
  if (err == COAP_ESHUTDOWN)
    coap__proxy_outgoing_gone(ex->proxy, ex->ctx);
  coap_message *m = NULL;
  if (err == 0 && resp != NULL && ex->prepared != NULL)
    m = coap__proxy_cache_store(ex->proxy, ex->prepared, resp, ex->stale);
  if (!coap_future_done(ex->later)) {
    if (m == NULL)
      m = coap__proxy_translate(resp, err);
    if (m != NULL)
      coap_future_resolve(ex->later, m, coap_message_free_result);
    else
      coap_future_fail(ex->later, COAP_ENOMEM, NULL, NULL);
  } else {
    coap_message_free(m);
  }
  exchange_unref(ex);
}

static void on_later(coap_future *f, void *user_data) {
  exchange *ex = user_data;
  /* The server context gave up on it (its shutdown): stop upstream too. */
  if (coap_future_cancelled(f))
    coap_request_cancel(ex->upstream);
  exchange_unref(ex);
}

/* Answers at once into response. */
static int answer(coap_message *response, uint8_t code, const char *text) {
  response->code = code;
  return coap_message_set_payload_string(response, text);
}

/* Sends msg (taken) upstream; *later resolves with the response. */
static int forward(coap_proxy *proxy, coap_message *msg, coap_message *response,
                   coap_future **later) {
  coap_message *cached, *stale;
  if (coap__proxy_cache_lookup(proxy, msg, &cached, &stale) == 0) {
    coap_message_free(msg);
    coap__message_move(response, cached);
    coap_message_free(cached);
    return 0;
  }
  coap_context *ctx = proxy->outgoing;
  if (ctx == NULL) {
    coap_message_free(msg);
    coap_message_free(stale);
    return answer(response, COAP_CODE_BAD_GATEWAY,
                  "proxy has no outgoing context");
  }
  exchange *ex = coap__calloc(1, sizeof *ex);
  if (ex == NULL) {
    coap_message_free(msg);
    coap_message_free(stale);
    return COAP_ENOMEM;
  }
  ex->stale = stale;
  int rc = coap_future_new(coap_context_loop(ctx), &ex->later);
  if (rc < 0) {
    coap_message_free(ex->stale);
    coap__free(ex);
    coap_message_free(msg);
    return rc;
  }
  /* Without memory for it the response is only not stored. */
  if (proxy->cache != NULL && coap_message_new(&ex->prepared) == 0 &&
      coap_message_copy(ex->prepared, msg) < 0) {
    coap_message_free(ex->prepared);
    ex->prepared = NULL;
  }
  rc = coap_context_request(ctx, msg, NULL, &ex->upstream);
  if (rc < 0) {
    coap_future_unref(ex->later);
    coap_message_free(ex->prepared);
    coap_message_free(ex->stale);
    coap__free(ex);
    if (rc == COAP_ESHUTDOWN)
      coap__proxy_outgoing_gone(proxy, ctx);
    coap_message *m = from_error(rc);
    if (m == NULL)
      return COAP_ENOMEM;
    response->code = m->code;
    rc = coap_message_set_payload(response, m->payload, m->payload_len);
    coap_message_free(m);
    return rc;
  }
  ex->proxy = coap_proxy_ref(proxy);
  ex->ctx = ctx;
  ex->refs = 2;
  if (coap_future_add_done_callback(coap_request_response(ex->upstream),
                                    on_upstream, ex) < 0)
    ex->refs--;
  if (coap_future_add_done_callback(ex->later, on_later, ex) < 0)
    ex->refs--;
  if (ex->refs < 2) {
    /* Whichever callback was registered fires for these and drops its
     * reference; nobody else would ever complete the render future. */
    coap_request_cancel(ex->upstream);
    coap_future_cancel(ex->later);
    if (ex->refs == 0) {
      ex->refs = 1;
      exchange_unref(ex);
    }
    return COAP_ENOMEM;
  }
  *later = coap_future_ref(ex->later);
  return 0;
}

static int proxy_render(coap_resource *self, coap_message *request,
                        coap_message *response, coap_future **later) {
  coap_proxy *proxy = from_resource(self);
  uint32_t observe;
  if (proxy->pool != NULL &&
      coap_options_get_observe(&request->opt, &observe) == 0 && observe == 0 &&
      coap__proxy_pool_render(proxy, request, later) == 0)
    return 0;
  coap_message *msg = NULL;
  int rc = coap_message_new(&msg);
  if (rc == 0)
    rc = coap_message_copy(msg, request);
  if (rc < 0) {
    coap_message_free(msg);
    return rc;
  }
  const char *diag;
  rc = coap__proxy_prepare(proxy, msg, &diag);
  if (rc == COAP__PROXY_HOP_LIMIT_REACHED) {
    coap_message_free(msg);
    /* RFC 8768 §3: the diagnostic names the proxy that stopped it. */
    char text[128] = "Hop-Limit reached";
    struct sockaddr_in6 local;
    coap_context *in = coap_message_context(request);
    coap_remote me;
    memset(&me, 0, sizeof me);
    char where[80];
    if (in != NULL && coap_context_local_address(in, &local) == 0) {
      me.addr = local;
      if (coap_remote_hostinfo(&me, where, sizeof where) > 0)
        snprintf(text, sizeof text, "Hop-Limit reached at %s", where);
    }
    return answer(response, COAP_CODE_HOP_LIMIT_REACHED, text);
  }
  if (rc != 0) {
    coap_message_free(msg);
    if (rc == COAP_ENOMEM || !coap_error_is_renderable(rc))
      return rc;
    return answer(response, coap_error_to_code(rc), diag);
  }
  return forward(proxy, msg, response, later);
}

static void proxy_add_observation(coap_resource *self,
                                  const coap_message *request,
                                  coap_server_observation *observation) {
  coap__proxy_pool_add_observation(from_resource(self), request, observation);
}
