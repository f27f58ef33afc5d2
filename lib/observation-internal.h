/*
 * Observe (RFC 7641) inside the library: what observation_server.c and
 * observation_client.c share with each other and offer the context, the
 * responder and the request.  Never installed.
 */
#ifndef AIOCOAP_OBSERVATION_INTERNAL_H
#define AIOCOAP_OBSERVATION_INTERNAL_H

#include <aiocoap/observation.h>

#include "context-internal.h"
#include "hash-internal.h"

/* RFC 7641 §4.4: Observe values are 24 bits. */
#define COAP__OBSERVE_MODULUS (1u << 24)

/* A context's observations, made on first use (ctx->observations). */
typedef struct coap__observations {
  /* Server side: every observation by (remote, token), chained hash. */
  coap_server_observation **buckets;
  size_t nbuckets; /* power of two, or 0 */
  size_t count;    /* in the table, pending registrations included */
  size_t accepted; /* accepted ones, for max_observers */
  coap__hash_key hash_key; /* SipHash key of the observer table */
  /* The same observations by remote alone (nbuckets of them too), so that
   * a peer's observations are found in O(that peer's). */
  coap_server_observation **peer_buckets;
  /* Observers whose CON notification found no free outgoing slot (issue
   * 9): each gets the newest state when a notification's CON ends. */
  coap__queue starved;
  struct notification_render *spare_render; /* kept for the next one */
  /* Client side: every observation that holds a token. */
  coap__queue clients;
} coap__observations;

/* How often updated_state ran on resource (0 when not observable): what
 * it renders changes only with this. */
uint64_t coap__observable_generation(const coap_resource *resource);

/* The context's observation state, made when missing; NULL on COAP_ENOMEM
 * or once the context shuts down. */
coap__observations *coap__observations_get(coap_context *ctx);

/*
 * RFC 7641 §3.4: whether a notification (v2, received at t2 ms) is newer
 * than the newest one so far (v1, received at t1): V1 < V2 and V2 - V1 <
 * 2^23, or V1 > V2 and V1 - V2 > 2^23, or T2 > T1 + 128 s.
 */
bool coap__observe_is_fresh(uint32_t v1, uint64_t t1, uint32_t v2, uint64_t t2);

/* observation_server.c, from the responder: before dispatch, a request
 * that registers (Observe 0), deregisters (Observe 1) or reuses an
 * observer's token; before the response is sent, whether it carries
 * Observe (RFC 7641 §4.1). */
void coap__observation_server_request(coap_context *ctx,
                                      const coap_message *request,
                                      coap__mm_incoming in);
void coap__observation_server_respond(coap_context *ctx,
                                      const coap_message *request,
                                      coap__mm_incoming in,
                                      coap_message *response);
/* The message layer validated remote (amplification limit, RFC 7252
 * §11.3): its observations' held-back states are sent from the loop. */
void coap__observation_server_peer_validated(coap_context *ctx,
                                             const coap_remote *remote);
/* An event on a notification (owner is a coap_server_observation). */
void coap__observation_server_event(coap_context *ctx, void *owner,
                                    coap__mm_event event, int err);

/* observation_client.c, from the request: the observation of a new request
 * (0 when it is none, or COAP_ENOMEM), its first response (which may hand
 * the token over to the observation), the request's end, and its going. */
int coap__observation_client_attach(coap_request *req);
void coap__observation_client_first_response(coap_request *req,
                                             const coap_message *msg);
void coap__observation_client_request_done(coap_request *req, int err);
void coap__observation_client_detach(coap_request *req);
/* A response whose token belongs to an observation; true when taken. */
bool coap__observation_client_notification(coap_context *ctx,
                                           coap__token_entry *entry,
                                           coap_message *msg);
/* A notification that must be rejected (RFC 7252 §5.4.1): the observation
 * ends with err.  Returns false, so the message layer answers it with RST
 * (which ends the observation at the server too). */
bool coap__observation_client_reject(coap_context *ctx,
                                     coap__token_entry *entry,
                                     const coap_message *msg, int err);
void coap__observation_client_event(coap_context *ctx, void *owner,
                                    coap__mm_event event, int err);
/* Ends every client observation with err (shutdown). */
void coap__observation_clients_end_all(coap_context *ctx,
                                       const coap_remote *remote, int err);

/* Both sides: observations with remote end with err (ICMP error,
 * kill_transactions; remote NULL: all, for shutdown). */
void coap__observations_kill(coap_context *ctx, const coap_remote *remote,
                             int err);
/* Context shutdown: everything ends with COAP_ESHUTDOWN and the state is
 * freed.  Call before the message layer goes. */
void coap__observations_shutdown(coap_context *ctx);

#endif
