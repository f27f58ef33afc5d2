/*
 * The credentials JSON loader when the library is built without jansson:
 * the map itself works, loading says it was left out.
 */
#include <aiocoap/credentials.h>
#include <aiocoap/error.h>

#include <stdio.h>

static int not_built(char *err, size_t cap) {
  if (err != NULL && cap > 0)
    snprintf(err, cap, "built without jansson: JSON credentials unsupported");
  return COAP_ENOTSUP;
}

int coap_credentials_load_json(coap_credentials *c, const char *json, char *err,
                               size_t cap) {
  (void)c;
  (void)json;
  return not_built(err, cap);
}

int coap_credentials_load_json_file(coap_credentials *c, const char *path,
                                    char *err, size_t cap) {
  (void)c;
  (void)path;
  return not_built(err, cap);
}
