/*
 * JSON for aiocoap-client when jansson was not found at build time: no
 * pretty printing, no validation (JSON payloads go as given).
 */
#include "client.h"

const bool client_json_available = false;

char *client_json_pretty(const uint8_t *data, size_t len) {
  (void)data;
  (void)len;
  return NULL;
}

int client_json_validate(const char *text, char *err, size_t cap) {
  (void)text;
  snprintf(err, cap, "JSON support not built in (jansson)");
  return -1;
}
