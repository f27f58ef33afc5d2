/*
 * Shared between the files of the proxy module: proxy_server.c (the proxy
 * resource and forwarding), proxy_redirect.c (redirectors and
 * destinations) and proxy_pool.c (pooled observations).
 */
#ifndef AIOCOAP_PROXY_INTERNAL_H
#define AIOCOAP_PROXY_INTERNAL_H

#include <aiocoap/observation.h>
#include <aiocoap/proxy.h>

#include <stddef.h>

/* "coap://" + a bracketed host of up to 255 bytes + ":65535". */
#define COAP__PROXY_TARGET_MAX 280

typedef struct coap__proxy_pool coap__proxy_pool;
typedef struct coap__proxy_cache coap__proxy_cache;

struct coap_proxy {
  coap_resource resource; /* first: its last unref frees the proxy */
  coap_proxy_config config;
  coap_context *outgoing; /* borrowed; NULL once it shut down */
  coap_redirector **redirectors;
  size_t n_redirectors;
  coap__proxy_pool *pool;   /* NULL unless pooled_observations */
  coap__proxy_cache *cache; /* NULL unless cache_entries */
  uv_loop_t *loop;          /* the outgoing context's, for the cache clock */
};

/* What identifies an upstream resource's representation: the outgoing
 * request's destination, a NUL, and its cache key (RFC 7252 §5.6, Observe,
 * Hop-Limit and the Block and Size options left out).  The caller frees
 * *key.  0 or COAP_ENOMEM. */
int coap__proxy_key(const coap_message *msg, uint8_t **key, size_t *len);

/*
 * Turns a copy of an incoming request into the request to send upstream:
 * Hop-Limit, the unsafe-option check, the destination (Proxy-Uri,
 * Proxy-Scheme, redirectors; the message's unresolved remote), and the
 * hop-by-hop options removed.  0, or the error to answer with (a
 * renderable COAP_E*, or COAP_EHOP_LIMIT for 5.08); *diagnostic is then a
 * static text for the payload.
 */
int coap__proxy_prepare(coap_proxy *proxy, coap_message *msg,
                        const char **diagnostic);

/* What coap__proxy_prepare returns for RFC 8768's 5.08. */
#define COAP__PROXY_HOP_LIMIT_REACHED 1

/*
 * The response to send back for an upstream response or error (err < 0,
 * upstream NULL or the response an error came with): a heap message, or
 * NULL without memory.  Applies RFC 7252 §5.7's rules to the options.
 */
coap_message *coap__proxy_translate(const coap_message *upstream, int err);

/* An error response with a diagnostic payload (copied); NULL without
 * memory. */
coap_message *coap__proxy_error_response(uint8_t code, const char *diagnostic);

/* The outgoing context was found shut down: forget it. */
void coap__proxy_outgoing_gone(coap_proxy *proxy, coap_context *ctx);

/*
 * The RFC 7252 §5.6 cache (proxy_cache.c over response_cache.c).  lookup
 * is asked before a request goes upstream: 0 with a fresh heap response
 * in *fresh (Max-Age set to what is left of its freshness), or
 * COAP_ENOENT: forward outgoing; when a stale copy can be revalidated,
 * outgoing has been given its ETag and *stale is that copy (heap; the
 * caller keeps it until the answer and frees it).  store is told every
 * upstream response as it comes back, with the request as forwarded
 * (borrowed) and the stale copy if any; it returns a heap message to send
 * back instead of the translated response (the refreshed representation
 * for a 2.03 the proxy asked for), or NULL.  All do nothing without a
 * cache.
 */
int coap__proxy_cache_new(size_t entries, size_t bytes,
                          coap__proxy_cache **out);
void coap__proxy_cache_free(coap__proxy_cache *cache);
int coap__proxy_cache_lookup(coap_proxy *proxy, coap_message *outgoing,
                             coap_message **fresh, coap_message **stale);
coap_message *coap__proxy_cache_store(coap_proxy *proxy,
                                      const coap_message *outgoing,
                                      const coap_message *response,
                                      const coap_message *stale);
size_t coap__proxy_cache_count(const coap__proxy_cache *cache);

/* Redirectors (proxy_redirect.c). */
int coap__proxy_redirect(const coap_proxy *proxy, coap_message *msg);

/* Pooled observations (proxy_pool.c). */
int coap__proxy_pool_new(coap__proxy_pool **out);
/* The proxy is going away: its upstream observations are cancelled and
 * what the clients still hold is detached from it. */
void coap__proxy_pool_free(coap__proxy_pool *pool);
void coap__proxy_pool_add_observation(coap_proxy *proxy,
                                      const coap_message *request,
                                      coap_server_observation *observation);
/* For a registration whose upstream observation is pooled: 0 with *later
 * set to a future of its first response (copied), or COAP_ENOENT. */
int coap__proxy_pool_render(coap_proxy *proxy, const coap_message *request,
                            coap_future **later);
size_t coap__proxy_pool_observations(const coap__proxy_pool *pool);
size_t coap__proxy_pool_clients(const coap__proxy_pool *pool);

#endif
