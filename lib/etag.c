/*
 * aiocoap's hashing_etag: an ETag derived from the representation, so that a
 * client revalidating with it (RFC 7252 §5.10.6.2) gets 2.03 Valid without
 * the payload when nothing changed.
 */
#include "hash-internal.h"
#include "resource-internal.h"

#include <string.h>

#define ETAG_LENGTH 8

/* Hashes the Content-Format with the payload: the same bytes in another
 * format are another representation (RFC 7252 §5.10.6). */
static void representation_etag(const coap_message *response,
                                uint8_t etag[ETAG_LENGTH]) {
  /* FNV-1a is enough to tell representations of one resource apart (an
   * ETag is not a security token). */
  uint64_t hash = COAP__FNV_OFFSET_BASIS;
  const coap_option *cf =
      coap_options_get(&response->opt, COAP_OPT_CONTENT_FORMAT);
  /* A marker byte keeps "no Content-Format" apart from an empty one. */
  uint8_t marker = cf != NULL;
  hash = coap__fnv1a(hash, &marker, 1);
  if (cf != NULL) {
    uint8_t len = (uint8_t)cf->len;
    hash = coap__fnv1a(hash, &len, 1);
    hash = coap__fnv1a(hash, cf->value, cf->len);
  }
  hash = coap__fnv1a(hash, response->payload, response->payload_len);
  for (size_t i = 0; i < ETAG_LENGTH; i++)
    etag[i] = (uint8_t)(hash >> (8 * (ETAG_LENGTH - 1 - i)));
}

static bool request_has_etag(const coap_message *request,
                             const uint8_t etag[ETAG_LENGTH]) {
  for (size_t i = 0;; i++) {
    const coap_option *o =
        coap_options_get_nth(&request->opt, COAP_OPT_ETAG, i);
    if (o == NULL)
      return false;
    if (o->len == ETAG_LENGTH && memcmp(o->value, etag, ETAG_LENGTH) == 0)
      return true;
  }
}

int coap_hashing_etag(const coap_message *request, coap_message *response) {
  if (response == NULL)
    return COAP_EINVAL;
  /* As aiocoap: only a 2.05 Content (or a code still unset, which becomes
   * 2.05 for a GET) is a representation worth tagging. */
  if (response->code != 0 && response->code != COAP_CODE_CONTENT)
    return 0;
  uint8_t etag[ETAG_LENGTH];
  representation_etag(response, etag);
  int r = coap_options_set_etag(&response->opt, etag, sizeof etag);
  if (r < 0)
    return r;
  /* RFC 7252 §5.10.6.2: a request may list several ETags; when the current
   * one is among them the answer is 2.03 Valid carrying that ETag and no
   * payload (§5.9.1.3). */
  if (request != NULL && request_has_etag(request, etag)) {
    response->code = COAP_CODE_VALID;
    coap_message_set_payload_borrowed(response, NULL, 0);
  }
  return 0;
}
