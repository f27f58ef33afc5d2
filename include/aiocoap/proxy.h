/*
 * aiocoap-c — CoAP-to-CoAP proxying (aiocoap.proxy): the client side that
 * sends requests through a forward proxy (aiocoap.proxy.client), and proxy
 * resources with their redirectors (aiocoap.proxy.server).
 *
 * How a server context serves a proxy.  A proxy is a coap_resource
 * (coap_proxy_as_resource) and reaches requests through a coap_site in one
 * of two ways, which coap_proxy_serve sets up for its kind:
 *
 * - Forward (RFC 7252 §5.7): coap_site_set_proxy makes the proxy the site's
 *   proxy handler.  Every request that carries Proxy-Uri or Proxy-Scheme
 *   goes there, whatever its Uri-Path; without a proxy handler such a
 *   request is answered 5.05 Proxying Not Supported (§5.7.2) as before.
 * - Reverse: the proxy is mounted path-capable at the site's root (or at
 *   any path), so that it receives every request below it like any other
 *   resource; the redirectors decide where each goes.
 *
 * A forward proxy is also mounted at the root by coap_proxy_serve, so that
 * requests without proxy options reach its redirectors (aiocoap's
 * ForwardProxy falls back to them too).
 *
 * What the proxy does with a request, in this order:
 *
 * 1. RFC 8768 §3: a Hop-Limit of 1 is answered 5.08 Hop Limit Reached and
 *    0 4.00; otherwise the option is decremented, or added with
 *    coap_proxy_config.hop_limit when absent.
 * 2. RFC 7252 §5.7.1: an unsafe option the proxy does not act on (anything
 *    but Uri-*, Proxy-*, Observe, Block1/Block2 and Max-Age) is answered
 *    4.02 Bad Option.  Critical ones never get this far (the context
 *    answers 4.02, or rejects a NON).  Safe-to-forward options, known or
 *    not, are passed on unchanged.
 * 3. The destination: Proxy-Uri (split as RFC 7252 §6.4 says), or
 *    Proxy-Scheme with Uri-Host and Uri-Port (forward proxies only; a
 *    reverse proxy answers these 5.05).  A scheme other than coap is
 *    answered 5.05.  Then the redirectors, in the order added; a request
 *    none of them takes, and that named no destination itself, is answered
 *    4.04.
 * 4. The request goes out through the outgoing context with the library's
 *    client blockwise (Block2 assembled, Block1 sent in blocks of that
 *    context's size); the incoming side was assembled by the server
 *    context.  Both are bounded by the contexts' max_body_size (4.13 to
 *    the client for too large a request, 5.02 for too large a response).
 * 5. The response: its code and payload come back as the upstream sent
 *    them (an error response too, with its diagnostic payload); Max-Age,
 *    ETag, Location-*, Content-Format and every safe-to-forward option
 *    pass back unchanged (§5.7.1); Observe, Block1, Block2 and Size2 are
 *    hop-by-hop and made afresh by the server context.  An unsafe option
 *    the proxy does not know in the response (§5.7.2), or a critical one
 *    the outgoing context rejected, gives 5.02 Bad Gateway; no answer
 *    gives 5.04 Gateway Timeout; an unreachable upstream (ICMP, RST, a name
 *    that does not resolve) 5.02.  Each of these carries a diagnostic
 *    payload.
 *
 * With coap_proxy_config.cache_entries, fresh responses are served from
 * an RFC 7252 §5.6 cache (see there) instead of going upstream.
 *
 * Pooled observations (the "WithPooledObservations" forms): observe
 * registrations that lead to the same upstream request (destination and
 * cache key, RFC 7252 §5.6, Observe ignored) share one upstream
 * observation; each notification goes to every client, a client joining
 * later gets the latest one at once, and the upstream observation is
 * cancelled (RFC 7641 §3.6) when the last client leaves.  Without pooling,
 * a registration is forwarded as a plain request and served without
 * Observe.
 *
 * Callbacks and lifetimes.  The proxy's own work happens in future and
 * observation callbacks, from the loop (aiocoap.h).  The outgoing context
 * is borrowed: it must stay alive while the proxy can receive requests.
 * Shutting the server context down first is always safe; shutting the
 * outgoing context down first answers the requests in flight 5.02 and
 * ends the pooled observations, and the proxy then answers 5.02 until
 * coap_proxy_set_outgoing_context gives it another (it notices the
 * shutdown through those requests; a proxy with nothing in flight must be
 * told, with coap_proxy_set_outgoing_context(proxy, NULL), before the
 * context is freed).
 */
#ifndef AIOCOAP_PROXY_H
#define AIOCOAP_PROXY_H

#include "common.h"
#include "context.h"
#include "message.h"
#include "request.h"
#include "resource.h"

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Client: aiocoap.proxy.client.ProxyForwarder ---- */

typedef struct coap_proxy_forwarder coap_proxy_forwarder;

/*
 * A request provider that sends every request through the forward proxy
 * at proxy_address ("coap://host[:port]", or "host[:port]" as aiocoap's
 * older form), using ctx (borrowed; it must outlive the forwarder) for the
 * requests.  By default the destination goes as Proxy-Scheme with
 * Uri-Host and Uri-Port (RFC 7252 §6.4, as aiocoap does);
 * coap_proxy_forwarder_set_use_proxy_uri switches to one Proxy-Uri.
 * 0, COAP_EINVAL (NULL argument, malformed address), COAP_EURI_SCHEME (not
 * coap: the only scheme the library sends) or COAP_ENOMEM.
 */
AIOCOAP_EXTERN int coap_proxy_forwarder_new(coap_context *ctx,
                                            const char *proxy_address,
                                            coap_proxy_forwarder **out);
AIOCOAP_EXTERN void coap_proxy_forwarder_free(coap_proxy_forwarder *fw);
AIOCOAP_EXTERN void
coap_proxy_forwarder_set_use_proxy_uri(coap_proxy_forwarder *fw, bool on);

/*
 * ProxyForwarder.request: as coap_context_request (same ownership of msg,
 * params, *out and the same errors), for a message whose destination was
 * set with coap_message_set_request_uri (an unresolved remote; the remote
 * address left unset).  The message is rewritten to go to the proxy; the
 * responses, their get_request_uri and an observation look as they would
 * without the proxy.  COAP_EINVAL also when msg has no unresolved remote
 * or names a scheme other than coap.
 */
AIOCOAP_EXTERN int
coap_proxy_forwarder_request(coap_proxy_forwarder *fw, coap_message *msg,
                             const coap_request_params *params,
                             coap_request **out);

/* ---- Server: redirectors ---- */

typedef struct coap_redirector coap_redirector;

/*
 * The redirectors of aiocoap.proxy.server.  target is "host[:port]" or
 * "coap://host[:port]" (copied); the request then goes there.
 *
 * - NameBasedVirtualHost: a request whose Uri-Host is match_name.  With
 *   rewrite_uri_host the Uri-Host becomes the target's host (aiocoap's '!'
 *   prefix); otherwise it stays.
 * - SubdomainVirtualHost: a request whose Uri-Host ends in "." match_name.
 * - SubresourceVirtualHost: a request whose Uri-Path starts with path
 *   ("a/b"; one leading '/' ignored); those segments are removed.
 * - UnconditionalRedirector: every request.
 *
 * With use_as_proxy (aiocoap's '@' prefix) the target is a forward proxy:
 * the request keeps its Uri-Host and gets Proxy-Scheme coap.
 *
 * 0, COAP_EINVAL (NULL or empty argument, a malformed target, port out of
 * range, a path segment over 255 bytes) or COAP_ENOMEM.  The caller owns
 * *out until coap_proxy_add_redirector takes it.
 */
AIOCOAP_EXTERN int coap_name_based_virtual_host_new(const char *match_name,
                                                    const char *target,
                                                    bool rewrite_uri_host,
                                                    bool use_as_proxy,
                                                    coap_redirector **out);
AIOCOAP_EXTERN int coap_subdomain_virtual_host_new(const char *match_name,
                                                   const char *target,
                                                   bool use_as_proxy,
                                                   coap_redirector **out);
AIOCOAP_EXTERN int coap_subresource_virtual_host_new(const char *path,
                                                     const char *target,
                                                     coap_redirector **out);
AIOCOAP_EXTERN int coap_unconditional_redirector_new(const char *target,
                                                     bool use_as_proxy,
                                                     coap_redirector **out);
AIOCOAP_EXTERN void coap_redirector_free(coap_redirector *redirector);

/*
 * Redirector.apply_redirection: when redirector takes request, rewrites
 * it (destination as its unresolved remote, Uri-Host, Uri-Path,
 * Proxy-Scheme) and returns 1; 0 when it does not match; COAP_ENOMEM.
 */
AIOCOAP_EXTERN int coap_redirector_apply(const coap_redirector *redirector,
                                         coap_message *request);

/*
 * aiocoap-proxy's destination syntax: dest is "[!][@]host[:port]" or the
 * same with coap://.  Writes the target without the flags into target and
 * the flags into *rewrite_uri_host ('!') and *use_as_proxy ('@').
 * 0, COAP_EINVAL (empty or malformed) or COAP_ENOSPC.
 */
AIOCOAP_EXTERN int coap_proxy_parse_destination(const char *dest, char *target,
                                                size_t cap,
                                                bool *rewrite_uri_host,
                                                bool *use_as_proxy);

/* ---- Server: proxies ---- */

typedef struct coap_proxy coap_proxy;

typedef enum coap_proxy_kind {
  /* aiocoap's ReverseProxy (and its plain Proxy, which it has become):
   * redirectors only; Proxy-Uri and Proxy-Scheme are answered 5.05. */
  COAP_PROXY_REVERSE,
  /* ForwardProxy: Proxy-Uri and Proxy-Scheme, then the redirectors. */
  COAP_PROXY_FORWARD,
} coap_proxy_kind;

/* RFC 8768 §3: the Hop-Limit a proxy adds when a request has none. */
#define COAP_PROXY_HOP_LIMIT_DEFAULT 16

typedef struct coap_proxy_config {
  coap_proxy_kind kind;
  /* Share upstream observations (the "WithPooledObservations" forms;
   * default false). */
  bool pooled_observations;
  /* Hop-Limit added to requests that carry none, 1..255 (default 16). */
  uint8_t hop_limit;
  /* RFC 7252 §5.6 response cache: how many responses are kept (default 0,
   * none, as aiocoap's proxy keeps none).  Fresh responses to GET and
   * FETCH (2.05, and 4.xx and 5.xx, which cannot be validated) are served
   * again with Max-Age set to what is left of their freshness; a stale
   * 2.05 with an ETag is revalidated upstream with it, and a 2.03 Valid
   * refreshes it; a 2.02, 2.04 or any success of an unsafe request for a
   * URI makes its entries stale; requests with Observe or with their own
   * ETag go upstream.  The least recently used goes first when all
   * entries or cache_bytes are taken.  See docs/limits.md. */
  size_t cache_entries;
  /* Bytes the cache may hold (responses, options, keys; 0: 4 MiB). */
  size_t cache_bytes;
} coap_proxy_config;

/* Fills config with the defaults: reverse, not pooled, hop_limit 16. */
AIOCOAP_EXTERN void coap_proxy_config_default(coap_proxy_config *config);

/*
 * A proxy sending its requests through outgoing (borrowed; see the
 * lifetime note above).  config is copied (NULL for defaults).  One
 * reference for the caller (coap_proxy_unref).  0, COAP_EINVAL (outgoing
 * NULL, hop_limit 0, an unknown kind) or COAP_ENOMEM.
 */
AIOCOAP_EXTERN int coap_proxy_new(coap_context *outgoing,
                                  const coap_proxy_config *config,
                                  coap_proxy **out);
/* The aiocoap classes by name: coap_proxy_new with that kind and
 * pooling. */
AIOCOAP_EXTERN int coap_forward_proxy_new(coap_context *outgoing,
                                          coap_proxy **out);
AIOCOAP_EXTERN int
coap_forward_proxy_with_pooled_observations_new(coap_context *outgoing,
                                                coap_proxy **out);
AIOCOAP_EXTERN int coap_reverse_proxy_new(coap_context *outgoing,
                                          coap_proxy **out);
AIOCOAP_EXTERN int
coap_reverse_proxy_with_pooled_observations_new(coap_context *outgoing,
                                                coap_proxy **out);

/* References.  The proxy is one object with its resource: a site holding
 * the resource keeps the proxy alive.  NULL is ignored. */
AIOCOAP_EXTERN coap_proxy *coap_proxy_ref(coap_proxy *proxy);
AIOCOAP_EXTERN void coap_proxy_unref(coap_proxy *proxy);

/* The proxy as a path-capable resource (borrowed; take a reference with
 * coap_resource_ref to keep it). */
AIOCOAP_EXTERN coap_resource *coap_proxy_as_resource(coap_proxy *proxy);

/* Proxy.add_redirector: takes ownership of redirector (also on error);
 * redirectors are tried in the order added.  0, COAP_EINVAL or
 * COAP_ENOMEM. */
AIOCOAP_EXTERN int coap_proxy_add_redirector(coap_proxy *proxy,
                                             coap_redirector *redirector);

/*
 * Mounts the proxy on site as its kind wants (see the top of this
 * header): a reverse proxy at the root, a forward proxy at the root and as
 * the site's proxy handler.  What was at the root is replaced.
 * 0, COAP_EINVAL or COAP_ENOMEM.
 */
AIOCOAP_EXTERN int coap_proxy_serve(coap_proxy *proxy, coap_site *site);

/*
 * Replaces the outgoing context (borrowed; NULL: none, every request is
 * answered 5.02 until one is set).  Requests in flight stay with the old
 * one.  NULL proxy is ignored.
 */
AIOCOAP_EXTERN void coap_proxy_set_outgoing_context(coap_proxy *proxy,
                                                    coap_context *outgoing);

/* Responses in the cache (coap_proxy_config.cache_entries). */
AIOCOAP_EXTERN size_t coap_proxy_cached_response_count(const coap_proxy *proxy);

/* Upstream observations the proxy holds for pooled clients, and the
 * clients they serve (for tests and tools). */
AIOCOAP_EXTERN size_t
coap_proxy_pooled_observation_count(const coap_proxy *proxy);
AIOCOAP_EXTERN size_t coap_proxy_pooled_client_count(const coap_proxy *proxy);

#ifdef __cplusplus
}
#endif

#endif
