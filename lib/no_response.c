/*
 * No-Response (RFC 7967 §2): which response classes a request asks the
 * server to keep to itself.
 */
#include "no_response-internal.h"

#include <aiocoap/numbers.h>

uint8_t coap__no_response_mask(const coap_options *request_opt) {
  uint8_t v = 0;
  if (coap_options_get_no_response(request_opt, &v) < 0)
    return 0;
  return v & COAP_NO_RESPONSE_ALL;
}

bool coap__no_response_suppresses(const coap_options *request_opt,
                                  uint8_t code) {
  unsigned cls = code >> 5;
  /* §2.1: bit (class - 1); 2.xx, 4.xx and 5.xx are the only classes a
   * response has, and an empty code (0.00) is never a response. */
  if (cls != 2 && cls != 4 && cls != 5)
    return false;
  return (coap__no_response_mask(request_opt) & (1u << (cls - 1))) != 0;
}
