/*
 * No-Response (RFC 7967 §2): which response classes a request asks the
 * server to keep to itself.
 */
#include "no_response-internal.h"

#include <aiocoap/numbers.h>

uint8_t coap__no_response_mask(const coap_options *request_opt) {
  const uint8_t *v;
  size_t len;
  /* A uint of the right value padded with zero bytes still has a length
   * outside 0..1: unrecognised (RFC 7252 §5.4.3), so no suppression. */
  if (coap_options_get_opaque(request_opt, COAP_OPT_NO_RESPONSE, &v, &len) <
          0 ||
      len != 1)
    return 0;
  return v[0] & COAP_NO_RESPONSE_ALL;
}

bool coap__no_response_covers(uint8_t mask, uint8_t code) {
  unsigned cls = code >> 5;
  /* §2.1: bit (class - 1); 2.xx, 4.xx and 5.xx are the only classes a
   * response has, and an empty code (0.00) is never a response. */
  if (cls != 2 && cls != 4 && cls != 5)
    return false;
  return (mask & (1u << (cls - 1))) != 0;
}

bool coap__no_response_suppresses(const coap_options *request_opt,
                                  uint8_t code) {
  return coap__no_response_covers(coap__no_response_mask(request_opt), code);
}
