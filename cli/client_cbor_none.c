/*
 * CBOR for aiocoap-client when libcbor or jansson was not found at build
 * time: no diagnostic notation either way.
 */
#include "client.h"

const bool client_cbor_available = false;

char *client_cbor_diagnostic(const uint8_t *data, size_t len) {
  (void)data;
  (void)len;
  return NULL;
}

int client_cbor_from_json(const char *text, uint8_t **out, size_t *len,
                          char *err, size_t cap) {
  (void)text;
  (void)out;
  (void)len;
  snprintf(err, cap, "CBOR support not built in (libcbor, jansson)");
  return -1;
}
