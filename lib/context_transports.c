/*
 * The context's endpoints (aiocoap's Context with several transports): the
 * scheme table, binding, opening a client endpoint for a scheme on demand,
 * and the credentials maps the secure transports read.
 */
#include "addr-internal.h"
#include "alloc-internal.h"
#include "context-internal.h"
#include "transports/dtls.h"
#include "transports/udp.h"
#include "transports/udp6.h"

#include <aiocoap/util.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>

static int open_coap(coap_context *ctx, const struct sockaddr_in6 *bind,
                     bool listen, coap__transport **out, char *err,
                     size_t cap) {
  (void)listen; /* a UDP socket always accepts */
  (void)err;
  (void)cap;
  return coap__udp_open(ctx->loop, bind, ctx->config.batch_size,
                        ctx->config.max_datagram_size,
                        coap__context_transport_callbacks(), ctx, out);
}

static int open_coaps(coap_context *ctx, const struct sockaddr_in6 *bind,
                      bool listen, coap__transport **out, char *err,
                      size_t cap) {
  coap__dtls_config dc;
  coap__dtls_config_default(&dc);
  dc.listen = listen;
  dc.server_credentials = listen ? ctx->server_credentials : NULL;
  dc.psk_hint = ctx->config.dtls_psk_hint;
  dc.psk_lookup = ctx->config.dtls_psk_lookup;
  dc.psk_lookup_data = ctx->config.dtls_psk_lookup_data;
  if (ctx->config.dtls_max_sessions > 0)
    dc.max_sessions = ctx->config.dtls_max_sessions;
  if (ctx->config.dtls_max_handshakes > 0)
    dc.max_handshakes = ctx->config.dtls_max_handshakes;
  if (ctx->config.dtls_idle_timeout_ms > 0)
    dc.idle_timeout_ms = ctx->config.dtls_idle_timeout_ms;
  if (ctx->config.dtls_handshake_timeout_ms > 0)
    dc.handshake_timeout_ms = ctx->config.dtls_handshake_timeout_ms;
  dc.batch = ctx->config.batch_size;
  dc.max_datagram = ctx->config.max_datagram_size;
  return coap__dtls_open(ctx->loop, bind, &dc,
                         coap__context_transport_callbacks(), ctx, out, err,
                         cap);
}

/* One row per scheme this build serves: the next transport is one row. */
typedef struct scheme_row {
  const char *scheme;
  uint16_t default_port;
  int (*open)(coap_context *ctx, const struct sockaddr_in6 *bind, bool listen,
              coap__transport **out, char *err, size_t cap);
} scheme_row;

static const scheme_row schemes[] = {
    {"coap", COAP_PORT, open_coap},
    {"coaps", COAPS_PORT, open_coaps},
};

static const scheme_row *find_scheme(const char *scheme, size_t len) {
  for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++)
    if (strlen(schemes[i].scheme) == len &&
        strncasecmp(schemes[i].scheme, scheme, len) == 0)
      return &schemes[i];
  return NULL;
}

static void say(char *err, size_t cap, const char *fmt, const char *arg) {
  if (err != NULL && cap > 0)
    snprintf(err, cap, fmt, arg);
}

/* "HOST:PORT" → an IPv6 socket address (IPv4 as v4-mapped), the port
 * default_port when the text has none. */
static int parse_hostport(const char *text, uint16_t default_port,
                          struct sockaddr_in6 *out) {
  char host[256];
  int port;
  int rc = coap_hostportsplit(text, host, sizeof host, &port);
  if (rc < 0)
    return rc;
  memset(out, 0, sizeof *out);
  out->sin6_family = AF_INET6;
  out->sin6_port = htons(port < 0 ? default_port : (uint16_t)port);
  if (host[0] == '\0' || strcmp(host, "::") == 0) {
    out->sin6_addr = in6addr_any;
    return 0;
  }
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM};
  struct addrinfo *res = NULL;
  if (getaddrinfo(host, NULL, &hints, &res) != 0 || res == NULL)
    return COAP_ERESOLVE;
  in_port_t wanted = out->sin6_port;
  bool usable = coap__sockaddr_to_in6(res->ai_addr, out);
  out->sin6_port = wanted;
  freeaddrinfo(res);
  return usable ? 0 : COAP_ERESOLVE;
}

int coap__context_parse_bind(const char *bind, const char **scheme,
                             struct sockaddr_in6 *out) {
  const scheme_row *row = &schemes[0];
  const char *sep = strstr(bind, "://");
  if (sep != NULL) {
    row = find_scheme(bind, (size_t)(sep - bind));
    if (row == NULL)
      return COAP_EURI_SCHEME;
    bind = sep + 3;
  }
  *scheme = row->scheme;
  /* "coaps://host:port/" names the same endpoint as without the slash. */
  char text[300];
  size_t n = strlen(bind);
  if (n > 0 && bind[n - 1] == '/')
    n--;
  if (n >= sizeof text)
    return COAP_EINVAL;
  memcpy(text, bind, n);
  text[n] = '\0';
  return parse_hostport(text, row->default_port, out);
}

int coap__context_open_endpoint(coap_context *ctx, const char *scheme,
                                const struct sockaddr_in6 *bind, bool listen,
                                coap__transport **out, char *err,
                                size_t cap) {
  if (ctx->shutting_down)
    return COAP_ESHUTDOWN;
  const scheme_row *row = find_scheme(scheme, strlen(scheme));
  if (row == NULL) {
    say(err, cap, "no transport for scheme %s", scheme);
    return COAP_EURI_SCHEME;
  }
  if (ctx->n_endpoints == COAP__ENDPOINTS_MAX) {
    say(err, cap, "%s", "too many endpoints");
    return COAP_ELIMIT;
  }
  coap__transport *t = NULL;
  int rc = row->open(ctx, bind, listen, &t, err, cap);
  if (rc < 0) {
    if (rc == COAP_ENOTSUP) {
      say(err, cap, "this build has no %s transport", scheme);
      rc = COAP_EURI_SCHEME;
    }
    return rc;
  }
  ctx->endpoints[ctx->n_endpoints++] = t;
  if (t->ops->socket != NULL && t->ops->socket(t) != NULL) {
    coap__context_set_socket_buffers(ctx, t->ops->socket(t));
    if (ctx->dump != NULL)
      coap__udp6_set_dump(t->ops->socket(t), ctx->dump);
  }
  if (out != NULL)
    *out = t;
  return 0;
}

int coap__context_endpoint_for(coap_context *ctx, const char *scheme,
                               coap__transport **out) {
  for (unsigned i = 0; i < ctx->n_endpoints; i++)
    if (strcasecmp(ctx->endpoints[i]->ops->scheme, scheme) == 0) {
      *out = ctx->endpoints[i];
      return 0;
    }
  /* A client endpoint of its own, on an ephemeral port, made with the
   * first request that needs it (aiocoap opens its client transports
   * lazily too). */
  struct sockaddr_in6 any = {.sin6_family = AF_INET6,
                             .sin6_addr = IN6ADDR_ANY_INIT};
  return coap__context_open_endpoint(ctx, scheme, &any, false, out, NULL, 0);
}

bool coap__context_owns_endpoint(const coap_context *ctx,
                                 const void *endpoint) {
  for (unsigned i = 0; i < ctx->n_endpoints; i++)
    if (ctx->endpoints[i] == endpoint)
      return true;
  return false;
}

int coap_context_bind(coap_context *ctx, const char *bind, char *err,
                      size_t cap) {
  if (err != NULL && cap > 0)
    err[0] = '\0';
  if (ctx == NULL || bind == NULL)
    return COAP_EINVAL;
  if (ctx->shutting_down)
    return COAP_ESHUTDOWN;
  const char *scheme;
  struct sockaddr_in6 addr;
  int rc = coap__context_parse_bind(bind, &scheme, &addr);
  if (rc < 0) {
    say(err, cap, rc == COAP_EURI_SCHEME ? "unknown scheme in %s"
                                         : "cannot bind to %s",
        bind);
    return rc;
  }
  return coap__context_open_endpoint(ctx, scheme, &addr, true, NULL, err,
                                     cap);
}

int coap_context_endpoint_address(const coap_context *ctx, const char *scheme,
                                  unsigned index, struct sockaddr_in6 *out) {
  if (ctx == NULL || scheme == NULL || out == NULL)
    return COAP_EINVAL;
  if (ctx->shutting_down)
    return COAP_ESHUTDOWN;
  for (unsigned i = 0; i < ctx->n_endpoints; i++) {
    const coap__transport *t = ctx->endpoints[i];
    if (strcasecmp(t->ops->scheme, scheme) == 0 && index-- == 0)
      return t->ops->local_address(t, out);
  }
  return COAP_ENOENT;
}

coap_credentials *coap_context_client_credentials(coap_context *ctx) {
  return ctx != NULL ? ctx->client_credentials : NULL;
}

coap_credentials *coap_context_server_credentials(coap_context *ctx) {
  return ctx != NULL ? ctx->server_credentials : NULL;
}

const char *coap_remote_scheme(const coap_remote *remote) {
  return coap__remote_scheme(remote);
}

int coap_remote_peer_identity(const coap_remote *remote, char *buf,
                              size_t cap) {
  if (remote == NULL || buf == NULL)
    return COAP_EINVAL;
  const coap__transport *t = remote->endpoint;
  if (t == NULL || t->ops->peer_identity == NULL)
    return COAP_ENOENT;
  return t->ops->peer_identity(t, remote, buf, cap);
}
