/*
 * libFuzzer target for the credentials JSON loader: any text must load or
 * fail without touching memory outside it or leaking, a failure must leave
 * the map as it was and say why, and whatever loads must be found again by
 * the lookups the DTLS transport makes.
 */
#include "credentials-internal.h"

#include <aiocoap/error.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int condition) {
  if (!condition)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const coap_credential kept = {
      .psk = (const uint8_t *)"kept-key",
      .psk_len = 8,
      .client_identity = (const uint8_t *)"kept-id",
      .client_identity_len = 7,
  };
  coap_credentials *c;
  char err[128];
  char *text;
  int rc;

  if (size > 65536)
    return 0;
  text = malloc(size + 1);
  check(text != NULL);
  memcpy(text, data, size);
  text[size] = '\0';
  check(coap_credentials_new(&c) == 0);
  check(coap_credentials_add(c, "coaps://kept/*", &kept) == 0);

  rc = coap_credentials_load_json(c, text, err, sizeof err);
  check(memchr(err, '\0', sizeof err) != NULL);
  if (rc < 0) {
    check(rc == COAP_ECREDENTIALS || rc == COAP_ENOMEM);
    check(rc != COAP_ECREDENTIALS || err[0] != '\0');
    check(coap_credentials_count(c) == 1);
    const coap__credential *k = coap__credentials_for_uri(c, "coaps://kept/x");
    check(k != NULL && k->psk_len == 8 && memcmp(k->psk, "kept-key", 8) == 0);
  } else {
    check(err[0] == '\0');
    /* Every PSK entry is found by its identity (the first with it). */
    const coap__credential *cert = coap__credentials_certificate(c);
    check(cert == NULL || (cert->certfile != NULL && cert->keyfile != NULL));
    const coap__credential *byid =
        coap__credentials_for_identity(c, (const uint8_t *)"kept-id", 7);
    check(byid == NULL || byid->psk_len > 0);
    (void)coap__credentials_for_uri(c, text);
  }
  coap_credentials_unref(c);
  free(text);
  return 0;
}
