/*
 * What context.c, request.c, responder.c and tokenmanager.c share: the
 * context's insides.  Never installed.
 */
#ifndef AIOCOAP_CONTEXT_INTERNAL_H
#define AIOCOAP_CONTEXT_INTERNAL_H

#include <aiocoap/context.h>
#include <aiocoap/request.h>
#include <aiocoap/resource.h>

#include "future-internal.h"
#include "hash-internal.h"
#include "heap.h"
#include "messagemanager.h"
#include "queue.h"
#include "transports/transport.h"

#include <stdarg.h>

/* Token → outgoing request or client observation (tokenmanager.c):
 * chained hash, intrusive. */
enum {
  COAP__TOKEN_REQUEST = 0,
  COAP__TOKEN_OBSERVATION = 1,
  COAP__TOKEN_MULTICAST = 2 /* multicast_request.c */
};
typedef struct coap__token_entry {
  struct coap__token_entry *next;
  uint64_t hash;
  uint8_t token[COAP_TOKEN_MAX_LENGTH];
  uint8_t token_len;
  uint8_t kind; /* COAP__TOKEN_*: whose entry it is */
} coap__token_entry;

typedef struct coap__token_map {
  coap__token_entry **buckets;
  size_t nbuckets; /* power of two */
  size_t count;
  coap__hash_key key; /* random, made by coap__token_map_init */
} coap__token_map;

void coap__token_map_init(coap__token_map *map);
void coap__token_map_free(coap__token_map *map);
/* 0 or COAP_ENOMEM. The entry's token must be set and unique. */
int coap__token_map_insert(coap__token_map *map, coap__token_entry *entry);
void coap__token_map_remove(coap__token_map *map, coap__token_entry *entry);
coap__token_entry *coap__token_map_find(const coap__token_map *map,
                                        const uint8_t *token, size_t len);

/* A timer on the context's heap: fires cb(timer) from the context's
 * uv_timer. */
typedef struct coap__timer {
  coap__heap_node node;
  void (*cb)(struct coap__timer *timer);
} coap__timer;

/* Endpoints one context holds at most (each bind, plus a client endpoint
 * per scheme). */
#define COAP__ENDPOINTS_MAX 16

struct coap_context {
  uv_loop_t *loop;
  coap_context_config config;
  coap__scheduler *scheduler;
  /* Every endpoint (transport) the context holds, the first one made with
   * the context; requests are routed by scheme (context_transports.c). */
  coap__transport *endpoints[COAP__ENDPOINTS_MAX];
  unsigned n_endpoints;
  /* References (coap_context_config's, or maps of the context's own). */
  coap_credentials *client_credentials;
  coap_credentials *server_credentials;
  char *dtls_psk_hint; /* the config's, copied */
  struct coap__dump *dump; /* dump_to's file, or NULL; every socket's */
  coap__mm *mm;
  coap_site *site;
  uv_timer_t timer;
  uint64_t timer_due; /* what uv timer is armed for, UINT64_MAX if none */
  coap__heap timers;  /* upper-layer deadlines */
  coap__token_map tokens;
  coap__queue requests;   /* every live coap_request (request.c) */
  coap__queue multicast_requests; /* every live one (multicast_request.c) */
  coap__queue responders; /* every waiting responder (responder.c) */
  coap__queue responder_pool;
  size_t responder_pool_size;
  uint64_t rng;
  coap_context_stats stats;
  bool shutting_down;
  int closing; /* handles still closing */
  coap_context_shutdown_cb shutdown_cb;
  void *shutdown_data;
  unsigned busy; /* >0 while inside a callback from the transport */
  /* RFC 7959 server state: uploads and kept representations
   * (responder_blockwise.c); NULL until first needed. */
  struct coap__blockwise_server *blockwise;
  /* RFC 7641 state of both sides (observation_server.c); NULL until first
   * needed. */
  struct coap__observations *observations;
  /* coap__context_random's key; rng is the counter it encrypts. */
  coap__hash_key rng_key;
  /* Keys the Echo values of responder_echo.c (RFC 9175 §2.4). */
  coap__hash_key echo_key;
};

/* context_transports.c */
/* "coaps://HOST:PORT" or bare "HOST:PORT" (coap): its scheme (static
 * storage) and address, the port the scheme's default when none. */
int coap__context_parse_bind(const char *bind, const char **scheme,
                             struct sockaddr_in6 *out);
/* Opens an endpoint of scheme bound to bind (listen: accept sessions, for a
 * transport that has them) and adds it to ctx. */
int coap__context_open_endpoint(coap_context *ctx, const char *scheme,
                                const struct sockaddr_in6 *bind, bool listen,
                                coap__transport **out, char *err, size_t cap);
/* The first endpoint serving scheme, opening a client one when there is
 * none: 0, COAP_EURI_SCHEME or what opening returns. */
int coap__context_endpoint_for(coap_context *ctx, const char *scheme,
                               coap__transport **out);
bool coap__context_owns_endpoint(const coap_context *ctx,
                                 const void *endpoint);
/* Asks the kernel for config.socket_rcvbuf / sndbuf on socket (each
 * endpoint's, as it opens); the stats keep what the first was granted. */
struct coap__udp6;
void coap__context_set_socket_buffers(coap_context *ctx,
                                      struct coap__udp6 *socket);
/* Sends what every endpoint has queued. */
void coap__context_flush(coap_context *ctx);
/* context.c: what every transport of a context reports to. */
const coap__transport_callbacks *coap__context_transport_callbacks(void);

/* The message layer's configuration from a context's. */
void coap__context_mm_config(const coap_context_config *config,
                             coap__mm_config *out);

uint64_t coap__context_now(const coap_context *ctx);
uint64_t coap__context_random(coap_context *ctx);
/* Re-arms the uv timer for the earliest of the heap and the message layer. */
void coap__context_rearm(coap_context *ctx);
void coap__context_schedule(coap_context *ctx, coap__timer *timer,
                            uint64_t deadline);
void coap__context_unschedule(coap_context *ctx, coap__timer *timer);
void coap__context_log(coap_context *ctx, coap_log_level level, const char *fmt,
                       ...) __attribute__((format(printf, 3, 4)));

/* request.c */
/* From the message layer: a response for one of our requests.  True when
 * it matched. */
bool coap__request_handle_response(coap_context *ctx, coap_message *msg);
/* From the message layer: an event for the request that owns a CON. */
void coap__request_handle_event(coap_context *ctx, void *owner,
                                coap__mm_event event, int err);
/* Fails every live request with err (shutdown, kill); detail, when not
 * NULL, is what coap_request_error_detail then tells (copied). */
size_t coap__requests_fail_all(coap_context *ctx, const coap_remote *remote,
                               int err);
size_t coap__requests_fail_all_detail(coap_context *ctx,
                                      const coap_remote *remote, int err,
                                      const char *detail);

/* A token no outstanding request, observation or multicast request holds
 * (random, RFC 7252 §5.3.1): 0 or COAP_ELIMIT. */
int coap__token_pick(coap_context *ctx, coap__token_entry *t);
/* An IP literal ("::1", "127.0.0.1", "fe80::1%eth0") into out's address
 * and scope: 1, 0 when host is a name, COAP_ENODEV for a zone id that
 * names no interface. */
int coap__parse_ip_literal(const char *host, struct sockaddr_in6 *out);

/* multicast_request.c: an answer with a multicast request's token (true:
 * it was ours, even when dropped), the message layer's events on its NON,
 * and the end of them all at shutdown. */
bool coap__multicast_request_response(coap_context *ctx, coap__token_entry *e,
                                      coap_message *msg);
void coap__multicast_request_event(coap_context *ctx, void *owner,
                                   coap__mm_event event, int err);
void coap__multicast_requests_shutdown(coap_context *ctx);
/* The transport could not send to group at all: its requests end. */
void coap__multicast_requests_fail(coap_context *ctx, const coap_remote *group,
                                   int err);

/* responder.c */
void coap__responder_handle_request(coap_context *ctx, coap_message *msg,
                                    coap__mm_incoming in);
void coap__responder_handle_event(coap_context *ctx, void *owner,
                                  coap__mm_event event, int err);
void coap__responders_shutdown(coap_context *ctx);
/* responder_blockwise.c: frees ctx->blockwise (before the timer heap). */
void coap__blockwise_server_free(coap_context *ctx);

/* Owner tags: the message layer reports events with an owner pointer; the
 * first field of every owner says which kind it is. */
typedef enum coap__owner_kind {
  COAP__OWNER_REQUEST = 1,
  COAP__OWNER_RESPONDER = 2,
  COAP__OWNER_SERVER_OBSERVATION = 3, /* observation_server.c */
  COAP__OWNER_CLIENT_OBSERVATION = 4, /* observation_client.c */
  COAP__OWNER_MULTICAST = 5           /* multicast_request.c */
} coap__owner_kind;

#endif
