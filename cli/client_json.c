/*
 * JSON for aiocoap-client, with jansson: pretty printing (indented) and the
 * check that a JSON payload is JSON (RFC 8259).
 */
#include "client.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

const bool client_json_available = true;

char *client_json_pretty(const uint8_t *data, size_t len) {
  json_error_t error;
  json_t *value = json_loadb((const char *)data, len, JSON_DECODE_ANY, &error);
  if (value == NULL)
    return NULL;
  char *text =
      json_dumps(value, JSON_INDENT(2) | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
  json_decref(value);
  return text;
}

int client_json_validate(const char *text, char *err, size_t cap) {
  json_error_t error;
  json_t *value = json_loads(text, JSON_DECODE_ANY, &error);
  if (value == NULL) {
    snprintf(err, cap, "%s at character %d", error.text, error.position);
    return -1;
  }
  json_decref(value);
  return 0;
}
