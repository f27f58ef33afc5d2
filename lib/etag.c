/*
 * aiocoap's hashing_etag: an ETag derived from the representation, so that a
 * client revalidating with it (RFC 7252 §5.10.6.2) gets 2.03 Valid without
 * the payload when nothing changed.
 */
#include "hash-internal.h"
#include "resource-internal.h"

#include <string.h>

#define ETAG_LENGTH 8

/* Hashes the Content-Format (when has_cf, its option value of cf_len bytes)
 * with the payload: the same bytes in another format are another
 * representation (RFC 7252 §5.10.6). */
static void representation_etag(bool has_cf, const uint8_t *cf, size_t cf_len,
                                const uint8_t *payload, size_t payload_len,
                                uint8_t etag[ETAG_LENGTH]) {
  /* FNV-1a is enough to tell representations of one resource apart (an
   * ETag is not a security token). */
  uint64_t hash = COAP__FNV_OFFSET_BASIS;
  /* A marker byte keeps "no Content-Format" apart from an empty one. */
  uint8_t marker = has_cf;
  hash = coap__fnv1a(hash, &marker, 1);
  if (has_cf) {
    uint8_t len = (uint8_t)cf_len;
    hash = coap__fnv1a(hash, &len, 1);
    hash = coap__fnv1a(hash, cf, cf_len);
  }
  hash = coap__fnv1a(hash, payload, payload_len);
  for (size_t i = 0; i < ETAG_LENGTH; i++)
    etag[i] = (uint8_t)(hash >> (8 * (ETAG_LENGTH - 1 - i)));
}

int coap_hashing_etag_compute(const void *payload, size_t payload_len,
                              int content_format, uint8_t *etag, size_t *len) {
  if (etag == NULL || len == NULL || (payload == NULL && payload_len > 0) ||
      content_format > UINT16_MAX)
    return COAP_EINVAL;
  if (*len < ETAG_LENGTH)
    return COAP_ENOSPC;
  /* The Content-Format as its option carries it (RFC 7252 §3.2: no leading
   * zeros), so this agrees with coap_hashing_etag. */
  uint8_t cf[4];
  size_t cf_len = 0;
  if (content_format >= 0)
    cf_len = coap_option_uint_encode((uint32_t)content_format, cf);
  representation_etag(content_format >= 0, cf, cf_len, payload, payload_len,
                      etag);
  *len = ETAG_LENGTH;
  return 0;
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
  const coap_option *cf =
      coap_options_get(&response->opt, COAP_OPT_CONTENT_FORMAT);
  representation_etag(cf != NULL, cf != NULL ? cf->value : NULL,
                      cf != NULL ? cf->len : 0, response->payload,
                      response->payload_len, etag);
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
