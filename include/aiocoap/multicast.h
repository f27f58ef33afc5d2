/*
 * aiocoap-c — requests to a group (aiocoap's Context.multicast_request and
 * MulticastRequest.responses; RFC 7252 §8, RFC 7390, RFC 7959 §2.8).
 *
 * A multicast request goes out once, as NON (RFC 7252 §8.1), to a group
 * address: an IPv6 multicast address (ff02::fd, ff05::fd, any ff0X::)
 * or an IPv4 one (224.0.1.187), given as the message's remote or as the
 * host of its URI (coap_message_set_request_uri; a literal address, with
 * the interface as zone id: "coap://[ff02::fd%eth0]/.well-known/core").
 * Every server that answers is one response, handed out in arrival order
 * through coap_multicast_request_next, with the server's unicast address
 * as the response's remote and in its request URI (RFC 7252 §8.2: the
 * answer comes from a unicast address; further requests go there).
 *
 * - A server's answer with Block2 and more blocks to come is completed
 *   first: the later blocks are fetched from that server alone, by
 *   unicast, one after another (RFC 7959 §2.8), and its whole body is
 *   handed on as one response.  Servers are fetched from in parallel.
 * - Later answers from a server that answered already (retransmitted
 *   NONs, a server that answers twice) are dropped, unless the request
 *   registered an observation (Observe 0): then every notification of
 *   every server that accepted is handed on, each source ordered on its
 *   own (RFC 7641 §3.4) and completed blockwise the same way.  A server's
 *   answer without Observe, or unsuccessful, ends that server's part, as
 *   does its silence past the Max-Age of its newest notification plus the
 *   context's reregister_margin_ms (§3.3.1; a group observation is not
 *   re-registered with one server).
 * - The request ends at its timeout (default: the context's
 *   multicast_leisure_ms plus MAX_LATENCY, the latest a server's answer
 *   can come under RFC 7252 §8.2 and §4.8); an observing request goes on
 *   beyond it while at least one server is still observed.  Then, once
 *   the queued responses are taken, next fails with COAP_EDONE.
 * - With No-Response (RFC 7967) suppressing 2.xx, no answer is expected
 *   (servers of a group send no 4.xx or 5.xx, RFC 7252 §8.2): the request
 *   is over as soon as it is sent, and next fails with COAP_ENORESPONSE.
 * - Cancelling it, dropping its last reference or shutting the context
 *   down ends it and every server's state with it: fetches stop, the
 *   token is forgotten, and a server that notifies again is answered
 *   with RST (RFC 7641 §3.6), which ends its observation.
 */
#ifndef AIOCOAP_MULTICAST_H
#define AIOCOAP_MULTICAST_H

#include "common.h"
#include "context.h"
#include "future.h"
#include "message.h"

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct coap_multicast_request coap_multicast_request;

typedef struct coap_multicast_params {
  /* How long responses are waited for, from the send (0: the default,
   * multicast_leisure_ms + MAX_LATENCY of the context's config). */
  uint32_t timeout_ms;
  /* The interface the request leaves by (an index, if_nametoindex), when
   * the URI's zone id does not name one; 0 leaves it to the routing
   * table (an ff02:: group then needs a zone id). */
  uint32_t ifindex;
  /* Servers told apart at once (default 1024); answers from more are
   * dropped and counted (coap_multicast_request_stats). */
  uint32_t max_responders;
  /* Responses kept while nobody waits in coap_multicast_request_next
   * (default 1024); beyond, the oldest is dropped and counted. */
  uint32_t max_queued;
  /* Fetch the rest of Block2 answers by unicast (default true); false
   * hands each server's first block on as it came. */
  bool handle_blockwise;
} coap_multicast_params;

/* Fills params with the defaults above. */
AIOCOAP_EXTERN void coap_multicast_params_default(coap_multicast_params *p);

/*
 * aiocoap's Context.multicast_request: sends msg (taken over, also on
 * error) to its group and returns the request (one reference for the
 * caller) in *out.  msg's type must be NON or unset (made NON); params may
 * be NULL for the defaults.  Returns 0, COAP_EINVAL (not a request, a CON,
 * a destination that is not a literal group address, or an ff02:: group
 * with no interface), COAP_ENODEV (a zone id that names no interface),
 * COAP_EURI / COAP_EURI_SCHEME (a URI it cannot use: only coap), COAP_ELIMIT
 * (no free token), COAP_ESHUTDOWN or COAP_ENOMEM.  A failure to send later
 * (the kernel refusing the group) ends the iteration with that error.
 */
AIOCOAP_EXTERN int coap_context_multicast_request(
    coap_context *ctx, coap_message *msg, const coap_multicast_params *params,
    coap_multicast_request **out);

/*
 * The next response (aiocoap's `async for response in responses`): a future
 * (a reference for the caller) that resolves with a coap_message owned by
 * the future, whose remote is the server that sent it.  Responses that
 * came while nobody waited come first, in order; several pending futures
 * are resolved in the order they were asked for.  Once the request has
 * ended and nothing is queued, the future fails with COAP_EDONE (the time
 * is up), COAP_ENORESPONSE (No-Response asked for silence), COAP_ECANCELED (coap_multicast_request_cancel), COAP_ESHUTDOWN,
 * or the error that ended the send.  NULL on COAP_ENOMEM.
 */
AIOCOAP_EXTERN coap_future *
coap_multicast_request_next(coap_multicast_request *mr);

/* Ends the request now (see the top of this header): pending and later
 * next futures fail with COAP_ECANCELED once the queue is empty.
 * Harmless once ended. */
AIOCOAP_EXTERN void coap_multicast_request_cancel(coap_multicast_request *mr);

/* True until the request has ended. */
AIOCOAP_EXTERN bool
coap_multicast_request_active(const coap_multicast_request *mr);

typedef struct coap_multicast_request_stats {
  uint32_t responders;      /* servers that answered */
  uint32_t observing;       /* of them, still observed */
  uint64_t responses;       /* handed on (queued or resolved) */
  uint64_t duplicates;      /* later answers of a server, dropped */
  uint64_t stale;           /* notifications older than the newest (§3.4) */
  uint64_t over_limit;      /* answers from servers beyond max_responders */
  uint64_t late;            /* first answers after the timeout, dropped */
  uint64_t queue_dropped;   /* dropped from a full queue */
  uint64_t fetch_failures;  /* Block2 completions that failed */
  uint64_t expired;         /* observed servers silent past Max-Age */
} coap_multicast_request_stats;

/* Counters of the request so far. */
AIOCOAP_EXTERN void
coap_multicast_request_stats_get(const coap_multicast_request *mr,
                                 coap_multicast_request_stats *out);

/* The request message as sent (token and type filled in); borrowed while
 * the request is referenced. */
AIOCOAP_EXTERN const coap_message *
coap_multicast_request_message(const coap_multicast_request *mr);

/* References.  Dropping the last one ends a request still running, as
 * cancel does. */
AIOCOAP_EXTERN coap_multicast_request *
coap_multicast_request_ref(coap_multicast_request *mr);
AIOCOAP_EXTERN void coap_multicast_request_unref(coap_multicast_request *mr);

#ifdef __cplusplus
}
#endif

#endif
