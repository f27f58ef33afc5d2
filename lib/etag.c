/*
 * aiocoap's hashing_etag: an ETag derived from the representation, so that a
 * client revalidating with it (RFC 7252 §5.10.6.2) gets 2.03 Valid without
 * the payload when nothing changed.
 */
#include "resource-internal.h"

#include <openssl/evp.h>
#include <string.h>

#define ETAG_LENGTH 8

/* aiocoap's hashing_etag: the first 8 bytes of the SHA-1 of the payload
 * (OpenSSL's, RFC 3174), so a server ported from aiocoap keeps its ETags.
 * Not a security token: any digest would do, this one is aiocoap's. */
static int payload_etag(const uint8_t *payload, size_t payload_len,
                        uint8_t etag[ETAG_LENGTH]) {
  static const uint8_t nothing = 0;
  uint8_t digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_Digest(payload_len > 0 ? payload : &nothing, payload_len, digest, &n,
                 EVP_sha1(), NULL) != 1 ||
      n < ETAG_LENGTH)
    return COAP_ENOMEM;
  memcpy(etag, digest, ETAG_LENGTH);
  return 0;
}

int coap_hashing_etag_compute(const void *payload, size_t payload_len,
                              uint8_t *etag, size_t *len) {
  if (etag == NULL || len == NULL || (payload == NULL && payload_len > 0))
    return COAP_EINVAL;
  if (*len < ETAG_LENGTH)
    return COAP_ENOSPC;
  int rc = payload_etag(payload, payload_len, etag);
  if (rc == 0)
    *len = ETAG_LENGTH;
  return rc;
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
  int r = payload_etag(response->payload, response->payload_len, etag);
  if (r < 0)
    return r;
  r = coap_options_set_etag(&response->opt, etag, sizeof etag);
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
