/*
 * No-Response (RFC 7967), read the same way by the server (which answers
 * it, responder.c) and the client (which knows from it what will not come,
 * request.c).
 */
#ifndef AIOCOAP_NO_RESPONSE_INTERNAL_H
#define AIOCOAP_NO_RESPONSE_INTERNAL_H

#include <aiocoap/options.h>

#include <stdbool.h>
#include <stdint.h>

/* The classes a request's No-Response suppresses, as COAP_NO_RESPONSE_*
 * bits: 0 without the option, with value 0, or with a value longer than
 * its 1 byte (RFC 7252 §5.4.3: an elective option of a bad length is
 * ignored).  Bits for classes other than 2, 4 and 5 mean nothing (RFC
 * 7967 §2.1) and are dropped. */
uint8_t coap__no_response_mask(const coap_options *request_opt);

/* Whether mask (from coap__no_response_mask) names the class of code. */
bool coap__no_response_covers(uint8_t mask, uint8_t code);

/* Whether a response with code to a request with request_opt is not to be
 * sent (RFC 7967 §2). */
bool coap__no_response_suppresses(const coap_options *request_opt,
                                  uint8_t code);

#endif
