/*
 * aiocoap-c — one outgoing request (aiocoap.protocol.Request).
 */
#ifndef AIOCOAP_REQUEST_H
#define AIOCOAP_REQUEST_H

#include "common.h"
#include "context.h"
#include "future.h"
#include "message.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The client side of an observation (RFC 7641): coap_request_observation
 * and the rest of its functions are in observation.h. */
typedef struct coap_observation coap_observation;

/*
 * aiocoap's Request.response: resolves with the final response, a
 * coap_message owned by the future (borrow it with coap_future_result, or
 * take it with coap_future_take_result and coap_message_free it), whatever
 * its code.  Each of the three futures has a message of its own: editing or
 * taking one changes nothing the others hold.  Fails with COAP_ETIMEDOUT,
 * COAP_ERESET, COAP_ECONNREFUSED (ICMP port unreachable), COAP_ERESOLVE,
 * COAP_ESHUTDOWN, COAP_EKILLED, COAP_ECANCELED, COAP_ELIMIT (no free
 * token), COAP_EBAD_RESPONSE_OPTION (the response carried a critical option
 * this library does not implement, RFC 7252 §5.4.1; it was rejected) or a
 * blockwise error.  The response's get_request_uri gives
 * the request's URI.  Borrowed: valid while the request is referenced.
 * Cancelling it cancels the request.
 *
 * No-Response (RFC 7967, COAP_OPT_NO_RESPONSE on the request, not an
 * observation): when it suppresses every class (COAP_NO_RESPONSE_ALL), no
 * answer is coming, so the future fails with COAP_ENORESPONSE as soon as a
 * NON has been sent, or a CON's empty ACK has arrived, not after a timeout
 * (a CON never acknowledged still fails with COAP_ETIMEDOUT).  With some
 * classes suppressed, a response of another class is awaited as usual, and
 * when none comes the wait ends with COAP_ENORESPONSE rather than
 * COAP_ETIMEDOUT.  A response that comes anyway (a server that ignores the
 * option) while the request is still open is the result as usual; a NON's
 * late one, after the request ended, is not.
 */
AIOCOAP_EXTERN coap_future *coap_request_response(coap_request *request);

/*
 * aiocoap's response_raising: as coap_request_response, but an unsuccessful
 * response (4.xx, 5.xx) fails the future with COAP_ERESPONSE and the
 * response stays readable as its result (ResponseWrappingError).
 */
AIOCOAP_EXTERN coap_future *coap_request_response_raising(coap_request *req);

/*
 * aiocoap's response_nonraising: never fails; an error becomes a response
 * message instead: COAP_ETIMEDOUT a 5.04 Gateway Timeout, a renderable error
 * its code, anything else 5.00, each with coap_strerror as payload.
 */
AIOCOAP_EXTERN coap_future *coap_request_response_nonraising(coap_request *req);

/* Cancels the request: retransmission stops and the futures are cancelled.
 * Harmless once done. */
AIOCOAP_EXTERN void coap_request_cancel(coap_request *request);

/* Why the request failed, beyond its COAP_E* code, when the transport said
 * (a DTLS alert's name, the certificate check that failed, "no
 * credentials for coaps://host/"); NULL otherwise.  NUL-terminated,
 * borrowed while the request lives. */
AIOCOAP_EXTERN const char *
coap_request_error_detail(const coap_request *request);

/* References: coap_context_request hands out one. */
AIOCOAP_EXTERN coap_request *coap_request_ref(coap_request *request);
AIOCOAP_EXTERN void coap_request_unref(coap_request *request);

/* The request message as sent (borrowed; managed fields filled in). */
AIOCOAP_EXTERN const coap_message *
coap_request_message(const coap_request *request);

#ifdef __cplusplus
}
#endif

#endif
