/*
 * aiocoap-c — Observe (RFC 7641) on both sides: aiocoap's
 * resource.ObservableResource and protocol.ServerObservation for servers,
 * protocol.ClientObservation for clients.
 *
 * Server: a resource made with coap_observable_resource_new_methods (or
 * with its own vtable whose add_observation calls
 * coap_observable_resource_add_observation) accepts every GET or FETCH with
 * Observe 0 (register) as long as the context's limits allow
 * (max_observers_per_resource, max_observers): the response carries an
 * Observe sequence number, and every coap_observable_resource_updated_state
 * sends each observer a notification, rendered by the resource's own render
 * function from a copy of that observer's request (so Accept, ETag and
 * Block2 preferences of the request apply to every notification).
 * Notifications are NON, with a CON at least every notification_con_interval
 * notifications (or the resource's own interval,
 * coap_observable_resource_set_con_interval) and every 24 hours (RFC 7641
 * §4.5); while a CON one awaits
 * its ACK, later changes wait and the newest state follows the ACK
 * (§4.5.2).  A notification larger than a block is sliced like a response
 * (first block, Block2, Size2 and an ETag; the client asks for the rest
 * with GET, RFC 7959 §2.6), for resources that want blockwise assembly.
 * An RST to any notification, a CON notification that times out, an ICMP
 * error from the observer, a GET with Observe 1 (deregister, §3.6) or any
 * other request with the observer's token (a later block of a notification
 * excepted) ends the observation, as does a notification whose code is not
 * 2.xx (sent without Observe); a registration with the token of an
 * existing one updates it (§4.1).
 *
 * Client: a GET or FETCH request with Observe 0 has a coap_observation.  The
 * request's response futures resolve with the first response as usual; when
 * that response carries Observe, the observation keeps the request's token
 * and receives the later notifications, which it orders (RFC 7641 §3.4:
 * older ones are dropped), completes (a notification with Block2 more=1 is
 * fetched to the end first, RFC 7959 §2.6), re-registers when Max-Age runs
 * out without a fresh one (§3.3.1), and hands out in order: through
 * coap_observation_next (aiocoap's `async for`) and through registered
 * callbacks.
 */
#ifndef AIOCOAP_OBSERVATION_H
#define AIOCOAP_OBSERVATION_H

#include "common.h"
#include "context.h"
#include "future.h"
#include "interfaces.h"
#include "message.h"
#include "request.h"
#include "resource.h"

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Server: ObservableResource ---- */

/*
 * aiocoap's ObservableResource.update_observation_count: fires whenever the
 * number of observers of resource changes (a registration accepted, an
 * observation ended), with the number right after that change, from the
 * loop (never inside the call that changed it; see aiocoap.h).  The
 * resource is alive for the call; the callback may call anything in the
 * library, including updated_state and coap_context_shutdown (an example:
 * /time starts its timer at 1 and stops it at 0).
 */
typedef void (*coap_observation_count_cb)(coap_resource *resource,
                                          size_t count);

/*
 * An observable resource from per-method render functions (aiocoap's
 * resource.ObservableResource).  methods is borrowed (usually static);
 * count_cb may be NULL.  One reference for the caller.  0, COAP_EINVAL or
 * COAP_ENOMEM.
 */
AIOCOAP_EXTERN int
coap_observable_resource_new_methods(const coap_resource_methods *methods,
                                     coap_observation_count_cb count_cb,
                                     void *user_data, coap_resource **out);

/*
 * An observable resource with its own vtable (borrowed; render is
 * required, and add_observation should be
 * coap_observable_resource_add_observation or a function that calls it for
 * the requests it wants observed).  0, COAP_EINVAL or COAP_ENOMEM.
 */
AIOCOAP_EXTERN int
coap_observable_resource_new(const coap_resource_vtable *vtable,
                             coap_observation_count_cb count_cb,
                             void *user_data, coap_resource **out);

/*
 * ObservableResource.add_observation: accepts observation for resource
 * (made by one of the two functions above), unless the resource already
 * has max_observers_per_resource observers, in which case the request is
 * served without Observe.  Fits the vtable's add_observation member.
 */
AIOCOAP_EXTERN void
coap_observable_resource_add_observation(coap_resource *resource,
                                         const coap_message *request,
                                         coap_server_observation *observation);

/*
 * ObservableResource.updated_state: sends every observer of resource a
 * notification.  With response NULL each one is rendered afresh from the
 * observer's request; otherwise response (borrowed, copied for each
 * observer; its code must be set) is sent as it is, with token, Observe and
 * type filled in.  Registrations still waiting for their response are
 * notified right after it.  Returns how many observers were notified, or
 * COAP_EINVAL (not an observable resource).
 */
AIOCOAP_EXTERN int
coap_observable_resource_updated_state(coap_resource *resource,
                                       const coap_message *response);

/*
 * The resource's own choice between CON and NON notifications (RFC 7641
 * §4.5), in place of the context's notification_con_interval: every
 * interval-th notification to an observer is CON (1: all of them, as a
 * resource whose changes must all be acknowledged wants; 0: only the CON
 * sent at least every 24 hours), the others NON.
 * COAP_NOTIFICATION_CON_INTERVAL_CONTEXT (the default) goes back to the
 * context's.  Takes effect with the next notification.  0 or COAP_EINVAL
 * (not an observable resource).
 */
#define COAP_NOTIFICATION_CON_INTERVAL_CONTEXT UINT32_MAX
AIOCOAP_EXTERN int
coap_observable_resource_set_con_interval(coap_resource *resource,
                                          uint32_t interval);

/* The number of observers of resource (0 for a resource that is not
 * observable). */
AIOCOAP_EXTERN size_t
coap_observable_resource_observation_count(const coap_resource *resource);

/* ---- Server: ServerObservation ---- */

/*
 * Fires once when an accepted observation ends, whatever ended it (the
 * client's RST, deregistration or new request with the token, a CON
 * notification timing out, a non-2.xx notification,
 * coap_server_observation_deregister, context shutdown), from the loop,
 * never inside the call that ended it.  observation is valid for the call
 * (the functions below treat it as ended) and freed right after it.
 */
typedef void (*coap_server_observation_cancel_cb)(
    coap_server_observation *observation, void *user_data);

/*
 * ServerObservation.accept, for add_observation implementations: the
 * registration succeeds if the response to it is 2.xx.  Call it from
 * add_observation or, for a resource that renders later, before its render
 * future completes; an observation not accepted when the response goes out
 * is dropped, and the pointer must not be kept.  cb (may be NULL) fires when
 * the observation ends.  0, COAP_EINVAL (already accepted or decided),
 * COAP_ELIMIT (the context has max_observers observations) or COAP_ENOMEM
 * (no memory to queue cb with later; not accepted).
 */
AIOCOAP_EXTERN int
coap_server_observation_accept(coap_server_observation *observation,
                               coap_server_observation_cancel_cb cb,
                               void *user_data);

/*
 * ServerObservation.trigger: sends this observer a notification, rendered
 * afresh (response NULL) or from response (borrowed, copied; its code must
 * be set).  A trigger while the registration is still being answered, a
 * notification is still being rendered through a future, or a CON
 * notification awaits its ACK, sends the newest state (rendered) once that
 * is over.  0, or COAP_EINVAL (ended); a notification that cannot be made
 * for lack of memory is logged and skipped.
 */
AIOCOAP_EXTERN int
coap_server_observation_trigger(coap_server_observation *observation,
                                const coap_message *response);

/*
 * ServerObservation.deregister: ends the observation now without telling
 * the client (which re-registers or gives up once Max-Age has passed; to
 * tell it, trigger a notification with a 4.xx or 5.xx code instead).
 * reason (an error code, for the log) is informational.  The cancellation
 * callback fires from the loop after this call.  Harmless on an ended
 * observation.
 */
AIOCOAP_EXTERN void
coap_server_observation_deregister(coap_server_observation *observation,
                                   int reason);

/* The observer's original request (borrowed, valid until the observation
 * ends): remote, token and options as registered. */
AIOCOAP_EXTERN int
coap_server_observation_request(const coap_server_observation *observation,
                                coap_message *out);

/* ---- Client: ClientObservation ---- */

/*
 * aiocoap's callback(response): fires for every notification, in order,
 * from the loop.  notification is borrowed for the call.  The callback may
 * call anything in the library, coap_observation_cancel and
 * coap_observation_unref included.
 */
typedef void (*coap_observation_cb)(coap_observation *observation,
                                    const coap_message *notification,
                                    void *user_data);

/*
 * aiocoap's errback(exception): fires once when the observation ends for
 * any reason but coap_observation_cancel and dropping the last reference,
 * from the loop.  err is the reason (as coap_observation_next reports it);
 * response is the unsuccessful response for COAP_ERESPONSE, else NULL
 * (borrowed for the call).  No callback fires after it.
 */
typedef void (*coap_observation_errback)(coap_observation *observation, int err,
                                         const coap_message *response,
                                         void *user_data);

/*
 * The observation of an observe request (one whose message was a GET or
 * FETCH with Observe 0); NULL for any other request.  Borrowed (aiocoap.h,
 * the lifetime rule): valid while the request is referenced; take a
 * reference with coap_observation_ref to keep it longer.
 */
AIOCOAP_EXTERN coap_observation *
coap_request_observation(coap_request *request);

/*
 * The next notification, as aiocoap's `async for`: a future with a reference
 * for the caller (coap_future_unref) that resolves with a coap_message owned
 * by the future (borrow with coap_future_result or take with
 * coap_future_take_result).  Notifications that arrived while nobody waited
 * are queued (max_queued_notifications, the oldest dropped first) and come
 * first; several pending futures are resolved in the order they were asked
 * for.  The first response is not a notification: it resolves the request's
 * response futures.  Once the queue is empty after the observation ended,
 * the future fails with the reason:
 *   COAP_ENOT_OBSERVABLE        the first response was 2.xx without Observe
 *   COAP_ERESPONSE              an unsuccessful first response or
 *                               notification (readable as the result)
 *   COAP_EOBSERVATION_CANCELLED the server ended it with a 2.xx
 *                               notification without Observe (delivered
 *                               before), or coap_observation_cancel
 *   COAP_ETIMEDOUT, COAP_ERESET, COAP_ECONNREFUSED, ... the request or a
 *                               re-registration failed
 *   COAP_ESHUTDOWN              the context was shut down
 * NULL on COAP_ENOMEM.
 */
AIOCOAP_EXTERN coap_future *coap_observation_next(coap_observation *obs);

/* ClientObservation.register_callback / register_errback: adds cb (called
 * with user_data).  0, COAP_EINVAL (ended) or COAP_ENOMEM. */
AIOCOAP_EXTERN int coap_observation_register_callback(coap_observation *obs,
                                                      coap_observation_cb cb,
                                                      void *user_data);
AIOCOAP_EXTERN int
coap_observation_register_errback(coap_observation *obs,
                                  coap_observation_errback cb, void *user_data);

/*
 * Active cancellation (RFC 7641 §3.6): sends a GET (or FETCH) with Observe
 * 1 and the observation's token, and ends the observation: pending and
 * later coap_observation_next futures fail with
 * COAP_EOBSERVATION_CANCELLED once queued notifications are taken; no
 * callback or errback fires any more.  Notifications still arriving and the
 * answer to the deregistration are consumed.  Before the first response it
 * cancels the request instead.  Harmless on an ended observation.
 */
AIOCOAP_EXTERN void coap_observation_cancel(coap_observation *obs);

/* True until the observation has ended. */
AIOCOAP_EXTERN bool coap_observation_active(const coap_observation *obs);

/*
 * References: the request holds one while it lives (coap_request_observation
 * lends it).  When the last one goes, an observation still running
 * ends without a message: the next notification is answered with RST
 * (RFC 7641 §3.6), which makes the server forget it.
 */
AIOCOAP_EXTERN coap_observation *coap_observation_ref(coap_observation *obs);
AIOCOAP_EXTERN void coap_observation_unref(coap_observation *obs);

#ifdef __cplusplus
}
#endif

#endif
